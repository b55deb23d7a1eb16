"""What the object storage tests share: the `verdict` binary, the fixture's rows and XGBoost's
own predictions for them."""

import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa

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


def assert_close_to_xgboost(scored, expected_by_id):
    ids = scored.column("id").to_pylist()
    got = scored.column("proba_1").to_pylist()
    worst = max(abs(g - expected_by_id[i]) for i, g in zip(ids, got))
    assert worst <= TOLERANCE, f"proba_1 differs from XGBoost's by {worst}"
