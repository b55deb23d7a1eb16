"""verdict.load and Model.predict against the committed fixtures: the predictions the
libraries themselves made (tests/fixtures/<library>/<case>/data.json), through every kind of
input the package takes, and the shape of what comes back.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from fixture_cases import FIXTURES, Case, check_against_library

import verdict

# Cases whose outputs the shared check cannot read, each with the reason; every other case
# with a data.json is checked through every kind of input.
NOT_CHECKED_HERE = {
    # data.json holds the NaN rows the model must refuse; tests below check the refusal.
    "catboost/forbidden": "scores only rows the model refuses",
    # A model Verdict must refuse; crates/model/tests/catboost_parity.rs checks the refusal.
    "catboost/text_refused": "a model with a text feature, which Verdict refuses",
}


def all_cases():
    names = []
    for library in ("xgboost", "lightgbm", "sklearn", "catboost"):
        for directory in sorted((FIXTURES / library).iterdir()):
            name = f"{library}/{directory.name}"
            if (directory / "data.json").exists() and name not in NOT_CHECKED_HERE:
                names.append(name)
    return names


CASES = all_cases()


def numeric(case: Case) -> bool:
    return all(pa.types.is_floating(case.inputs.column(f).type) for f in case.feature_names)


def outputs_of(model: verdict.Model):
    return [o for o in model.outputs if o != "contribs"]


def as_table(result, ids) -> pa.Table:
    """Any kind of result as a pyarrow Table with the input's `id` column."""
    if isinstance(result, pd.DataFrame):
        table = pa.Table.from_pandas(result, preserve_index=False)
    elif isinstance(result, pl.DataFrame):
        table = result.to_arrow()
    elif isinstance(result, dict):
        table = pa.table(result)
    else:
        table = result
    return table.append_column("id", ids)


def features(case: Case) -> pa.Table:
    """The case's feature columns: models without feature names take every column given, by
    position, so the `id` column stays out."""
    return case.inputs.select(case.feature_names)


def test_every_library_has_cases():
    libraries = {name.split("/")[0] for name in CASES}
    assert libraries == {"xgboost", "lightgbm", "sklearn", "catboost"}
    assert len(CASES) > 100


CATBOOST_BINARY = [n for n in CASES if n.startswith("catboost/")]


@pytest.mark.parametrize("name", CATBOOST_BINARY)
def test_a_catboost_binary_file_matches_the_library(name):
    # The shared cases read CatBoost's JSON export; the .cbm file save_model writes by
    # default must load and score the same.
    case = Case.load(name)
    model = verdict.load(case.model.with_name("model.cbm"))
    scored = model.predict(features(case), outputs=outputs_of(model))
    check_against_library(case, as_table(scored, case.inputs.column("id")))


@pytest.mark.parametrize("name", CASES)
def test_pyarrow_matches_the_library(name):
    case = Case.load(name)
    model = verdict.load(case.model)
    scored = model.predict(features(case), outputs=outputs_of(model))
    assert isinstance(scored, pa.Table)
    check_against_library(case, as_table(scored, case.inputs.column("id")))


@pytest.mark.parametrize("name", CASES)
def test_pandas_matches_the_library(name):
    case = Case.load(name)
    model = verdict.load(case.model)
    frame = features(case).to_pandas()
    scored = model.predict(frame, outputs=outputs_of(model))
    assert isinstance(scored, pd.DataFrame)
    check_against_library(case, as_table(scored, case.inputs.column("id")))


@pytest.mark.parametrize("name", CASES)
def test_polars_matches_the_library(name):
    case = Case.load(name)
    model = verdict.load(case.model)
    frame = pl.from_arrow(features(case))
    scored = model.predict(frame, outputs=outputs_of(model))
    assert isinstance(scored, pl.DataFrame)
    check_against_library(case, as_table(scored, case.inputs.column("id")))


NUMERIC = [n for n in CASES if numeric(Case.load(n))]


def matrix_of(case: Case, dtype, order: str) -> np.ndarray:
    """The case's features by position, in the model's order, nulls as NaN."""
    columns = [case.inputs.column(f).to_numpy(zero_copy_only=False) for f in case.feature_names]
    return np.asarray(np.column_stack(columns).astype(np.float64), dtype=dtype, order=order)


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("order", ["C", "F"])
def test_numpy_matches_the_library(name, order):
    case = Case.load(name)
    model = verdict.load(case.model)
    scored = model.predict(matrix_of(case, np.float64, order), outputs=outputs_of(model))
    assert isinstance(scored, dict)
    assert all(isinstance(v, np.ndarray) for v in scored.values())
    check_against_library(case, as_table(scored, case.inputs.column("id")))


# XGBoost reads its input as float32, so float32 arrays must score exactly as it did.
@pytest.mark.parametrize("name", [n for n in NUMERIC if n.startswith("xgboost/")])
def test_float32_numpy_matches_xgboost(name):
    case = Case.load(name)
    model = verdict.load(case.model)
    scored = model.predict(matrix_of(case, np.float32, "C"), outputs=outputs_of(model))
    check_against_library(case, as_table(scored, case.inputs.column("id")))


def test_xgboost_ubjson_and_vdm_score_as_the_json(tmp_path):
    case = Case.load("xgboost/binary_logistic")
    json_model = verdict.load(case.model)
    expected = json_model.predict(case.inputs, outputs=outputs_of(json_model))
    ubj = verdict.load(case.model.with_suffix(".ubj"))
    assert ubj.predict(case.inputs, outputs=outputs_of(ubj)).equals(expected)
    json_model.save(tmp_path / "m.vdm")
    vdm = verdict.load(tmp_path / "m.vdm", format="vdm")
    assert vdm.predict(case.inputs, outputs=outputs_of(vdm)).equals(expected)


def test_columns_match_by_name_whatever_their_order():
    case = Case.load("lightgbm/multiclass_wine")
    model = verdict.load(case.model)
    shuffled = case.inputs.select(list(reversed(case.inputs.column_names)))
    assert model.predict(shuffled).equals(model.predict(case.inputs))


def test_the_result_has_the_cli_column_names_and_types():
    case = Case.load("lightgbm/multiclass_wine")
    model = verdict.load(case.model)
    scored = model.predict(case.inputs, outputs=["predict", "predict_proba", "raw"])
    assert scored.column_names == ["label", "proba_0", "proba_1", "proba_2", "raw_0", "raw_1", "raw_2"]
    assert scored.schema.field("label").type == pa.int64()
    assert scored.schema.field("proba_0").type == pa.float64()

    regressor = verdict.load(Case.load("lightgbm/regression_diabetes").model)
    assert regressor.default_outputs == ["predict"]
    scored = regressor.predict(Case.load("lightgbm/regression_diabetes").inputs)
    assert scored.column_names == ["prediction"]

    labels = Case.load("sklearn/logistic_multinomial_wine_str_labels")
    model = verdict.load(labels.model)
    scored = model.predict(features(labels), outputs="predict")
    assert scored.schema.field("label").type == pa.string()
    assert scored.column_names == model.output_columns("predict")


def test_default_outputs_are_the_label_and_probabilities():
    case = Case.load("xgboost/binary_logistic")
    model = verdict.load(case.model)
    assert model.default_outputs == ["predict", "predict_proba"]
    assert model.predict(case.inputs).column_names == ["label", "proba_0", "proba_1"]


def test_pandas_results_keep_the_index():
    case = Case.load("xgboost/binary_logistic")
    model = verdict.load(case.model)
    frame = case.inputs.to_pandas()
    frame.index = pd.Index([f"row-{i}" for i in range(len(frame))])
    scored = model.predict(frame.iloc[::-1])
    assert list(scored.index) == list(frame.index[::-1])
    forward = model.predict(frame)
    assert scored.loc["row-3", "proba_1"] == forward.loc["row-3", "proba_1"]


def test_record_batches_and_arrow_streams_are_read():
    case = Case.load("xgboost/binary_logistic")
    model = verdict.load(case.model)
    expected = model.predict(case.inputs)
    batch = case.inputs.to_batches()[0]
    assert model.predict(batch).equals(expected)
    # Several batches, so rows cross batch (and block) boundaries.
    chunked = pa.Table.from_batches(case.inputs.to_batches(max_chunksize=7))
    assert model.predict(chunked).equals(expected)


def test_many_rows_on_several_threads_equal_one_thread():
    case = Case.load("lightgbm/multiclass_wine")
    model = verdict.load(case.model)
    big = pa.concat_tables([case.inputs] * 200)  # 35,600 rows: many tasks and blocks
    one = model.predict(big, outputs=["predict_proba", "raw"], threads=1)
    assert model.predict(big, outputs=["predict_proba", "raw"]).equals(one)
    assert model.predict(big, outputs=["predict_proba", "raw"], threads=2).equals(one)
    # And each copy of the rows scores as the rows themselves.
    small = model.predict(case.inputs, outputs=["raw"])
    assert one.select(["raw_0"]).slice(len(case.inputs) * 57, len(case.inputs)).equals(
        small.select(["raw_0"])
    )


def test_zero_rows_give_zero_rows_with_the_columns():
    case = Case.load("xgboost/binary_logistic")
    model = verdict.load(case.model)
    scored = model.predict(case.inputs.slice(0, 0))
    assert scored.num_rows == 0
    assert scored.column_names == ["label", "proba_0", "proba_1"]
    empty = model.predict(np.zeros((0, len(model.feature_names))))
    assert {k: len(v) for k, v in empty.items()} == {"label": 0, "proba_0": 0, "proba_1": 0}


def test_the_model_describes_itself():
    case = Case.load("sklearn/logistic_multinomial_wine_str_labels")
    model = verdict.load(case.model)
    assert model.task == "multiclass"
    assert all(isinstance(c, str) for c in model.classes)
    # Trained on a numpy array: the features are named by position, as scikit-learn would.
    assert model.feature_names == [f"f{i}" for i in range(len(case.feature_names))]
    assert "predict_proba" in model.outputs
    assert model.path == str(case.model)
    assert model.info["library"] == "scikit-learn"
    # A linear model has no compiled form.
    assert model.engine == "reference evaluator"
    text = repr(model)
    assert "multiclass" in text and f"{len(case.feature_names)} features" in text

    regressor = verdict.load(Case.load("xgboost/reg_gamma").model)
    assert regressor.engine.startswith("compiled trees: ")
    assert "reference" not in regressor.engine
    assert regressor.task == "regression"
    assert regressor.classes is None
    assert "predict_proba" not in regressor.outputs


def test_text_numbers_and_categoricals_read_as_the_cli_reads_them():
    case = Case.load("sklearn/hist_gradient_boosting_classifier_categorical_pandas")
    model = verdict.load(case.model)
    expected = model.predict(case.inputs)
    # Numbers given as text, and category names as pandas and polars categoricals.
    columns = {}
    for name in case.inputs.column_names:
        column = case.inputs.column(name)
        if pa.types.is_floating(column.type):
            column = pa.array([None if v is None else repr(v) for v in column.to_pylist()], pa.string())
        elif pa.types.is_string(column.type):
            column = column.dictionary_encode()
        columns[name] = column
    assert model.predict(pa.table(columns)).equals(expected)
    frame = case.inputs.to_pandas()
    for name in frame.columns:
        if frame[name].dtype == object or str(frame[name].dtype) in ("str", "string"):
            frame[name] = frame[name].astype("category")
    assert model.predict(frame).equals(expected.to_pandas())
    polars_frame = pl.from_arrow(case.inputs).with_columns(pl.col(pl.String).cast(pl.Categorical))
    assert model.predict(polars_frame).equals(pl.from_arrow(expected))


def test_integer_and_boolean_columns_are_numbers():
    case = Case.load("xgboost/binary_logistic")
    model = verdict.load(case.model)
    # Integers cannot hold a missing value: fill them first.
    rounded = case.inputs.to_pandas().fillna(1.0).round()
    expected = model.predict(rounded)
    as_ints = rounded.astype({f: "int64" for f in case.feature_names})
    assert model.predict(as_ints).equals(expected)
    as_int32 = pa.Table.from_pandas(rounded.astype({f: "int32" for f in case.feature_names}))
    assert model.predict(as_int32).to_pandas().equals(expected)
    # Booleans are 0 and 1.
    first = case.feature_names[0]
    flags = rounded.assign(**{first: rounded[first] > 15})
    as_numbers = rounded.assign(**{first: (rounded[first] > 15).astype("float64")})
    assert flags[first].dtype == bool and 0 < flags[first].sum() < len(flags)
    assert model.predict(flags).equals(model.predict(as_numbers))


def test_the_sklearn_exporter_ships_in_the_package(tmp_path):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression

    del sklearn
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    y = np.array([0, 0, 1, 1])
    estimator = LogisticRegression().fit(X, y)
    document = verdict.export_sklearn(estimator, tmp_path / "m.json", feature_names=["a", "b"])
    assert json.loads((tmp_path / "m.json").read_text()) == document
    model = verdict.load(tmp_path / "m.json")
    scored = model.predict(pd.DataFrame(X, columns=["a", "b"]), outputs="predict_proba")
    np.testing.assert_allclose(scored.to_numpy(), estimator.predict_proba(X), rtol=1e-12)
