"""What the object storage tests share: the `verdict` binary, the fixture's rows and XGBoost's
own predictions for them."""

import io
import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[4]
CASE = ROOT / "tests" / "fixtures" / "xgboost" / "binary_logistic"
MODEL = CASE / "model.json"
# The parity tests' bound for probabilities (crates/model/tests/xgboost_parity.rs).
TOLERANCE = 1e-6


def verdict_bin():
    if os.environ.get("VERDICT_BIN"):
        return os.environ["VERDICT_BIN"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return str(target / "debug" / "verdict")


def server_location(variable, what, script):
    """The value of `variable`, which says where the test server of `what` is (`script`
    starts it). Without it, a test fails under CI (CI=true) and is skipped, loudly, elsewhere."""
    value = os.environ.get(variable)
    if not value:
        how = f"start one with `{script} start` and export what `{script} env` prints"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the {what} tests, but {variable} is not set: {how}")
        pytest.skip(f"!!!!!!!! SKIPPED: no {what} test server: {how} !!!!!!!!")
    return value


def run_verdict(env, *args):
    """`verdict predict` with the fixture's model and `args`, in the environment `env`."""
    return subprocess.run(
        [verdict_bin(), "predict", "--model", str(MODEL), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def fixture_rows():
    """The fixture's rows as a table: `id`, then the 30 features (missing values as nulls),
    and XGBoost's own probability of class 1 for each row."""
    data = json.loads((CASE / "data.json").read_text())
    names = data["feature_names"]
    columns = {"id": pa.array(range(len(data["inputs"])), pa.int64())}
    for j, name in enumerate(names):
        columns[name] = pa.array([row[j] for row in data["inputs"]], pa.float64())
    expected = [row[0] for row in data["outputs"]["predict"]]
    return pa.table(columns), expected


def write_rows(rows, path):
    """Writes a table in the format its path's extension names: Parquet (row groups of 32
    rows, so that a reader asks for several), CSV or NDJSON."""
    if path.suffix == ".parquet":
        pq.write_table(rows, path, row_group_size=32)
    elif path.suffix == ".csv":
        pa_csv.write_csv(rows, path)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows.to_pylist()))


def assert_close_to_xgboost(scored, expected_by_id):
    ids = scored.column("id").to_pylist()
    got = scored.column("proba_1").to_pylist()
    worst = max(abs(g - expected_by_id[i]) for i, g in zip(ids, got))
    assert worst <= TOLERANCE, f"proba_1 differs from XGBoost's by {worst}"


def assert_scored_all_rows(run, output_url, written, expected):
    """That `run` scored the fixture's 150 rows, `id` passed through, into the Parquet object
    at `output_url` whose bytes are `written`, as XGBoost does; returns the table."""
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("scored 150 rows in "), run.stdout
    assert run.stdout.rstrip().endswith(f"into {output_url}"), run.stdout
    scored = pq.read_table(io.BytesIO(written))
    assert scored.column_names == ["id", "label", "proba_0", "proba_1"]
    assert scored.column("id").to_pylist() == list(range(150))
    assert_close_to_xgboost(scored, expected)
    return scored
