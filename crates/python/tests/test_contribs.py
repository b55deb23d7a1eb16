"""`outputs="contribs"` from the package: per-feature contributions (TreeSHAP) and the bias,
against the libraries' own `pred_contribs` (XGBoost) and `pred_contrib` (LightGBM) stored in
tests/fixtures/contribs/ by tools/fixtures/gen_contribs.py.

XGBoost computes its contributions in float32, so they are matched to 1e-5 (as in the Rust
parity test); LightGBM's in float64, to 1e-6.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from fixture_cases import FIXTURES

import verdict

CASES = ["xgboost_binary", "xgboost_multiclass", "xgboost_regression",
         "lightgbm_binary", "lightgbm_multiclass", "lightgbm_regression"]


def load(case):
    directory = FIXTURES / "contribs" / case
    data = json.loads((directory / "data.json").read_text())
    model_file = next(p for p in directory.iterdir() if p.name.startswith("model."))
    rows = np.array([[np.nan if v is None else v for v in row] for row in data["inputs"]], dtype=np.float64)
    return verdict.load(model_file), rows, np.array(data["contribs"], dtype=np.float64)


@pytest.mark.parametrize("case", CASES)
def test_contributions_match_the_library(case):
    model, rows, expected = load(case)
    tolerance = 1e-5 if case.startswith("xgboost") else 1e-6
    columns = model.output_columns("contribs")
    assert columns[-1].endswith("bias")
    assert len(columns) == expected.shape[1]
    # By position (numpy) and by name (Arrow): the same values, in the libraries' order
    # (class by class, each class's features then its bias).
    from_numpy = model.predict(rows, outputs="contribs")
    ours = np.column_stack([from_numpy[c] for c in columns])
    np.testing.assert_allclose(ours, expected, rtol=0, atol=tolerance)
    table = pa.table({name: rows[:, j] for j, name in enumerate(model.feature_names)})
    from_arrow = model.predict(table, outputs=["contribs", "raw"])
    assert from_arrow.column_names[: len(columns)] == columns
    np.testing.assert_allclose(np.column_stack([from_arrow[c].to_numpy() for c in columns]), ours, rtol=0, atol=0)


def test_contributions_sum_to_the_margin():
    model, rows, _ = load("lightgbm_multiclass")
    scored = model.predict(rows, outputs=["contribs", "raw"])
    classes = len(model.output_columns("raw"))
    width = len(model.feature_names) + 1
    contribs = np.column_stack([scored[c] for c in model.output_columns("contribs")])
    for k, raw in enumerate(model.output_columns("raw")):
        np.testing.assert_allclose(contribs[:, k * width:(k + 1) * width].sum(axis=1), scored[raw], rtol=0, atol=1e-9)
    assert classes > 2
