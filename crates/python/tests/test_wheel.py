"""The wheel a user ships: `maturin build --release` makes one, and it installs and scores in a
clean virtual environment that has nothing of the test environment's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fixture_cases import FIXTURES

CRATE = Path(__file__).resolve().parents[1]


def run(command, **kwargs):
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_a_release_wheel_installs_and_scores_in_a_clean_venv(tmp_path):
    maturin = shutil.which("maturin", path=os.path.dirname(sys.executable))
    if maturin is None:
        pytest.fail("maturin is not installed next to this Python (tools/requirements-test.txt pins it)")
    wheels = tmp_path / "wheels"
    run([maturin, "build", "--release", "--quiet", "-m", str(CRATE / "Cargo.toml"), "--out", str(wheels)])
    (wheel,) = wheels.glob("verdict-*.whl")
    assert "abi3" in wheel.name, f"{wheel.name} is not a stable-ABI wheel"

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    # The one dependency comes from the index (or pip's cache), as for a user.
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)])
    case = FIXTURES / "xgboost" / "binary_logistic"
    script = textwrap.dedent(
        """
        import json, sys
        import pyarrow as pa
        import verdict

        case = sys.argv[1]
        data = json.load(open(case + "/data.json"))
        model = verdict.load(case + "/model.json")
        columns = {name: [row[j] for row in data["inputs"]] for j, name in enumerate(data["feature_names"])}
        table = pa.table({name: pa.array(values, pa.float64()) for name, values in columns.items()})
        scored = model.predict(table, outputs="predict_proba")
        expected = [row[0] for row in data["outputs"]["predict"]]
        worst = max(abs(a - b) for a, b in zip(scored.column("proba_1").to_pylist(), expected))
        assert worst <= 1e-6, worst
        print(verdict.__file__, len(expected), worst)
        """
    )
    out = run([str(python), "-c", script, str(case)], cwd=tmp_path)
    location, rows, _ = out.split()
    assert location.startswith(str(venv)), f"verdict was imported from {location}, not the clean venv"
    assert int(rows) > 0
