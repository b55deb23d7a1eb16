"""The committed parity fixtures (tests/fixtures/<library>/<case>/) as Arrow tables, and the
checks of scored tables against the outputs the libraries themselves computed.

Shared by the Spark and Ray tests. Tolerances are those of the Rust parity tests: XGBoost
margins identical as f32 and its probabilities within 1e-6; LightGBM and scikit-learn within
1e-9, relative to the value's magnitude past 1.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import pyarrow as pa

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures"


@dataclass
class Case:
    """One fixture: the model file, its inputs (with an ``id`` column first) and outputs.

    ``library`` is the fixture directory: ``xgboost``, ``lightgbm`` or ``sklearn``.
    """

    name: str
    library: str
    model: Path
    feature_names: List[str]
    inputs: pa.Table
    outputs: Dict[str, list]

    @classmethod
    def load(cls, name: str) -> "Case":
        directory = FIXTURES / name
        data = json.loads((directory / "data.json").read_text())
        model = next(directory / f for f in ("model.json", "model.txt") if (directory / f).exists())
        rows = data["inputs"]
        columns = {"id": pa.array(range(len(rows)), pa.int64())}
        for j, feature in enumerate(data["feature_names"]):
            values = [row[j] for row in rows]
            text = any(isinstance(v, str) for v in values)
            # null stands for a missing value: Arrow nulls, as Spark and Ray pass them on.
            columns[feature] = pa.array(values, pa.string() if text else pa.float64())
        return cls(
            name=name,
            library=name.split("/")[0],
            model=model,
            feature_names=data["feature_names"],
            inputs=pa.table(columns),
            outputs=data["outputs"],
        )


def close(ours: float, theirs: float, tolerance: float) -> bool:
    return math.isclose(ours, theirs, rel_tol=tolerance, abs_tol=tolerance)


def check_against_library(case: Case, scored: pa.Table) -> None:
    """Asserts that ``scored`` (rows in ``id`` order) holds the library's own predictions."""
    assert scored.num_rows == case.inputs.num_rows
    columns = scored.to_pydict()
    expected = case.outputs
    problems = []
    tolerance = 1e-6 if case.library == "xgboost" else 1e-9

    def compare(column: str, want: List[float], exact_f32: bool = False) -> None:
        for i, (ours, theirs) in enumerate(zip(columns[column], want)):
            same = _f32(ours) == _f32(theirs) if exact_f32 else close(ours, theirs, tolerance)
            if not same:
                problems.append(f"{column}[{i}]: ours {ours}, {case.library} {theirs}")

    raw = [k for k in columns if k == "raw" or k.startswith("raw_")]
    for k, column in enumerate(raw):
        compare(column, [row[k] for row in expected["raw"]], exact_f32=case.library == "xgboost")
    proba = [k for k in columns if k.startswith("proba_")]
    if "prediction" in columns:
        compare("prediction", [row[0] for row in expected["predict"]])
    elif case.library == "sklearn":
        if columns["label"] != [row[0] for row in expected["predict"]]:
            problems.append("labels differ from scikit-learn's predict")
        for k, column in enumerate(proba):
            compare(column, [row[k] for row in expected["predict_proba"]])
    elif len(expected["predict"][0]) == 1:
        # Binary XGBoost/LightGBM: predict is P(class 1).
        p = [row[0] for row in expected["predict"]]
        compare(proba[1], p)
        if columns["label"] != [int(v > 0.5) for v in p]:
            problems.append("labels differ from P(class 1) > 0.5")
    else:
        # Multiclass: predict is one probability per class.
        for k, column in enumerate(proba):
            compare(column, [row[k] for row in expected["predict"]])
        argmax = [max(range(len(row)), key=row.__getitem__) for row in expected["predict"]]
        if columns["label"] != argmax:
            problems.append("labels differ from the most probable class")
    assert not problems, f"{case.name}: {len(problems)} differences, first: {problems[:5]}"


def _f32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]
