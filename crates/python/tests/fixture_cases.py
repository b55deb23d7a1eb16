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

    ``library`` is the fixture directory: ``xgboost``, ``lightgbm``, ``sklearn`` or
    ``catboost``.
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
        # XGBoost models from 3.1 on carry their training categories, so a frame gives the
        # names; older ones know only the codes, which the frame then gives as numbers.
        categories = data.get("categories") or {}
        if not _knows_category_names(data):
            categories = {}
        for j, feature in enumerate(data["feature_names"]):
            values = [row[j] for row in rows]
            if feature in categories:
                # The library was given category codes; a frame holds the names. A code the
                # model never saw becomes a name it never saw.
                names = categories[feature]
                values = [_category_name(names, v) for v in values]
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


def _knows_category_names(data: dict) -> bool:
    if data.get("library") != "xgboost":
        return True
    version = tuple(int(part) for part in data["library_version"].split(".")[:2])
    return version >= (3, 1)


def _category_name(names: List[str], code):
    if code is None or (isinstance(code, float) and math.isnan(code)):
        return None
    if float(code).is_integer() and 0 <= int(code) < len(names):
        return names[int(code)]
    return f"unseen category {code}"


def close(ours: float, theirs: float, tolerance: float) -> bool:
    return math.isclose(ours, theirs, rel_tol=tolerance, abs_tol=tolerance)


def check_against_library(case: Case, scored: pa.Table) -> None:
    """Asserts that ``scored`` (rows in ``id`` order) holds the library's own predictions:
    every output the fixture has and ``scored`` has a column for.

    - ``raw``: the margins, as raw or raw_<k>;
    - ``predict_proba``: the class probabilities;
    - ``predict``: the prediction of a regressor (all its targets); for classifiers, the label
      (scikit-learn, CatBoost), or what XGBoost and LightGBM predict: the class
      probabilities, P(class 1) for binary models, the class index for ``multi:softmax``,
      and the margin itself for ``binary:logitraw`` (then checked as ``raw``).
    """
    import verdict

    model = verdict.load(case.model)
    assert scored.num_rows == case.inputs.num_rows
    columns = scored.to_pydict()
    expected = case.outputs
    problems: List[str] = []
    checked: List[str] = []
    tolerance = 1e-6 if case.library == "xgboost" else 1e-9

    def present(output: str) -> List[str]:
        if output not in model.outputs:
            return []
        names = model.output_columns(output)
        return names if all(n in columns for n in names) else []

    def compare(column: str, want: List[float], exact_f32: bool = False) -> None:
        checked.append(column)
        for i, (ours, theirs) in enumerate(zip(columns[column], want)):
            same = _f32(ours) == _f32(theirs) if exact_f32 else close(ours, theirs, tolerance)
            if not same:
                problems.append(f"{column}[{i}]: ours {ours}, {case.library} {theirs}")

    def compare_all(names: List[str], rows: List[list], exact_f32: bool = False) -> None:
        for k, column in enumerate(names):
            compare(column, [row[k] for row in rows], exact_f32)

    raw, proba = present("raw"), present("predict_proba")
    if "raw" in expected and raw:
        compare_all(raw, expected["raw"], exact_f32=case.library == "xgboost")
    if "predict_proba" in expected and proba:
        compare_all(proba, expected["predict_proba"])
    predicted = present("predict")
    if "predict" in expected and predicted:
        rows = expected["predict"]
        classes = model.classes
        if classes is None:
            compare_all(predicted, rows)
        elif case.library in ("sklearn", "catboost"):
            checked.append("label")
            if columns["label"] != [row[0] for row in rows]:
                problems.append(f"labels differ from {case.library}'s predict")
        elif len(rows[0]) == len(classes) > 1 and proba:
            compare_all(proba, rows)
        elif len(classes) > 2:
            checked.append("label")
            if columns["label"] != [classes[int(row[0])] for row in rows]:
                problems.append(f"labels differ from {case.library}'s class indices")
        elif expected.get("raw") != rows and proba:
            compare(proba[1], [row[0] for row in rows])
    assert checked, f"{case.name}: no output of the fixture was in {scored.column_names}"
    assert not problems, f"{case.name}: {len(problems)} differences, first: {problems[:5]}"


def _f32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]
