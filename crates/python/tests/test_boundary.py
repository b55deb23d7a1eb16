"""What crosses the boundary between Python and Rust, and how: frames without a copy, the GIL
released while the rows are scored, and bad input as a typed exception that names the problem.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fixture_cases import Case

import verdict


@pytest.fixture(scope="module")
def binary():
    case = Case.load("xgboost/binary_logistic")
    return case, verdict.load(case.model)


def without_nulls(case: Case) -> pa.Table:
    """The case's features with every missing value filled: float64 columns with no nulls,
    which the scorer reads where they lie."""
    return pa.table({name: pc.fill_null(case.inputs.column(name), 0.5) for name in case.feature_names})


def first_value_address(column: pa.ChunkedArray) -> int:
    """The address of the first value of a float64 column, as pyarrow holds it."""
    chunk = column.chunks[0]
    values = chunk.buffers()[1]
    return values.address + chunk.offset * 8


# --- no copy ----------------------------------------------------------------------------


def test_a_pyarrow_table_is_read_where_it_lies(binary):
    case, model = binary
    table = without_nulls(case)
    seen = model._native._feature_addresses(table)
    assert seen == [first_value_address(table.column(name)) for name in model.feature_names]


def test_a_pandas_frame_is_read_where_it_lies_missing_values_included(binary):
    case, model = binary
    # Column by column, as read_csv and read_parquet build a frame; NaN where values are missing.
    frame = case.inputs.select(case.feature_names).to_pandas()
    assert frame.isna().any().any()
    seen = model._native._feature_addresses(verdict._arrow_from_pandas(pa, frame))
    assert seen == [frame[name].to_numpy().ctypes.data for name in model.feature_names]


def test_a_polars_frame_is_read_where_it_lies(binary):
    case, model = binary
    frame = pl.from_arrow(without_nulls(case)).rechunk()
    seen = model._native._feature_addresses(frame)
    # polars hands over its own buffers: the addresses are those of its Arrow export, which
    # is itself a view of the frame's memory (the same address on every export).
    exported = pa.table(frame)
    assert seen == [first_value_address(exported.column(name)) for name in model.feature_names]
    assert seen == model._native._feature_addresses(frame)


def test_a_numpy_array_is_read_where_it_lies(binary):
    case, model = binary
    for order in ("C", "F"):
        array = np.asarray(without_nulls(case).to_pandas(), order=order)
        assert model._native._feature_addresses(array) == [array.ctypes.data]


def test_a_column_that_needs_converting_is_copied_and_says_so(binary):
    case, model = binary
    table = without_nulls(case)
    first = model.feature_names[0]
    as_f32 = table.set_column(0, first, table.column(first).cast(pa.float32()))
    addresses = model._native._feature_addresses(as_f32)
    assert addresses[0] is None
    assert all(a is not None for a in addresses[1:])


def test_a_pandas_frame_with_missing_values_is_read_where_it_lies(binary):
    case, model = binary
    frame = case.inputs.select(case.feature_names).to_pandas()
    assert frame.isna().any().any()
    # pyarrow makes each NaN a null but keeps the NaN beneath it, in pandas' own buffer.
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    assert arrow.column(1).null_count > 0
    addresses = model._native._feature_addresses(arrow)
    assert addresses == [first_value_address(arrow.column(name)) for name in model.feature_names]
    assert addresses[0] == frame[model.feature_names[0]].to_numpy().ctypes.data
    # Sliced at an offset that is not a whole byte of the validity bitmap, still in place.
    sliced = arrow.slice(3)
    assert model._native._feature_addresses(sliced) == [
        first_value_address(sliced.column(name)) for name in model.feature_names
    ]
    assert model.predict(sliced).equals(model.predict(arrow).slice(3))


def test_nulls_over_other_values_are_copied_and_read_as_missing(binary):
    case, model = binary
    table = without_nulls(case)
    name = model.feature_names[1]
    values = table.column(name).to_pylist()
    # pyarrow builds nulls over zeros; the scorer must not read those zeros.
    holes = pa.array([None if i % 7 == 0 else v for i, v in enumerate(values)], pa.float64())
    with_nulls = table.set_column(1, name, holes)
    nans = pa.array([float("nan") if i % 7 == 0 else v for i, v in enumerate(values)], pa.float64(), from_pandas=False)
    with_nans = table.set_column(1, name, nans)
    assert with_nans.column(name).null_count == 0
    assert model._native._feature_addresses(with_nulls)[1] is None
    assert model.predict(with_nulls).equals(model.predict(with_nans))
    with pytest.raises(verdict.InputError, match=rf"column `{name}`, row 0: the value is missing"):
        model.predict(with_nulls, strict=True)
    # A NaN is as missing as a null, whichever way the frame holds it.
    with pytest.raises(verdict.InputError, match=rf"column `{name}`, row 0: the value is missing"):
        model.predict(with_nans, strict=True)
    with pytest.raises(verdict.InputError, match=rf"column `{name}`, row 0: the value is missing"):
        model.predict(with_nans.to_pandas(), strict=True)


# --- the GIL ------------------------------------------------------------------------------


def test_python_threads_run_while_rows_are_scored():
    case = Case.load("lightgbm/large_ensemble")
    model = verdict.load(case.model)
    rows = pa.concat_tables([case.inputs.select(case.feature_names)] * 2000)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    result = {}

    def score():
        started = time.perf_counter()
        result["scored"] = model.predict(rows, outputs="raw", threads=1)
        result["span"] = (started, time.perf_counter())

    ticker = threading.Thread(target=tick)
    ticker.start()
    scorer = threading.Thread(target=score)
    scorer.start()
    scorer.join()
    stop.set()
    ticker.join()
    start, end = result["span"]
    during = [t for t in ticks if start < t < end]
    # Holding the GIL for the whole call would leave the ticker at most one tick inside it.
    assert end - start > 0.05, "too few rows to tell: the predict call was too quick"
    assert len(during) >= 10, f"{len(during)} ticks in a {end - start:.3f} s predict call"
    assert result["scored"].num_rows == rows.num_rows


# --- bad input --------------------------------------------------------------------------


def test_a_missing_column_is_named_with_the_close_names(binary):
    case, model = binary
    missing = model.feature_names[3]
    frame = case.inputs.to_pandas().rename(columns={missing: missing.upper() + "x"})
    with pytest.raises(verdict.InputError) as error:
        model.predict(frame)
    assert f"`{missing}`" in str(error.value)
    assert isinstance(error.value, ValueError)
    with pytest.raises(verdict.InputError, match=missing):
        model.predict(pl.from_pandas(frame))
    with pytest.raises(verdict.InputError, match=missing):
        model.predict(pa.Table.from_pandas(frame))


def test_text_that_is_not_a_number_names_the_column_and_row(binary):
    case, model = binary
    name = model.feature_names[2]
    frame = case.inputs.to_pandas()
    frame[name] = frame[name].astype(str)
    frame.loc[5, name] = "twelve"
    with pytest.raises(verdict.InputError, match=rf"column `{name}`, row 5: `twelve` is not a number"):
        model.predict(frame)


def test_a_column_of_the_wrong_type_is_named(binary):
    case, model = binary
    name = model.feature_names[0]
    table = case.inputs.select(case.feature_names)
    dates = pa.array([0] * table.num_rows, pa.date32())
    table = table.set_column(0, name, dates)
    with pytest.raises(verdict.InputError, match=rf"column `{name}` has type"):
        model.predict(table)


def test_an_array_of_the_wrong_shape_says_the_expected_shape(binary):
    _, model = binary
    width = len(model.feature_names)
    with pytest.raises(verdict.InputError, match=rf"rows x {width} features.*shape \(3, {width + 1}\)"):
        model.predict(np.zeros((3, width + 1)))
    with pytest.raises(verdict.InputError, match=rf"2-D.*shape \({width},\)"):
        model.predict(np.zeros(width))
    with pytest.raises(verdict.InputError, match="dtype"):
        model.predict(np.full((2, width), "a"))


def test_an_unknown_output_and_zero_threads_are_refused(binary):
    case, model = binary
    with pytest.raises(verdict.InputError, match="probabilities"):
        model.predict(case.inputs, outputs="probabilities")
    with pytest.raises(verdict.InputError, match="threads must be at least 1"):
        model.predict(case.inputs, threads=0)
    regressor = verdict.load(Case.load("xgboost/reg_gamma").model)
    with pytest.raises(verdict.PredictError, match="predict_proba"):
        regressor.predict(Case.load("xgboost/reg_gamma").inputs, outputs="predict_proba")


def test_a_bad_model_file_is_a_model_error_with_the_importers_message(tmp_path):
    broken = tmp_path / "model.json"
    broken.write_text('{"learner": {"gradient_booster": {"name": "gbtree"}}')
    with pytest.raises(verdict.ModelError) as error:
        verdict.load(broken)
    assert isinstance(error.value, ValueError)
    assert str(error.value)
    with pytest.raises(verdict.ModelError):
        verdict.load(tmp_path / "no-such-file.json")
    with pytest.raises(ValueError, match="format"):
        verdict.load(broken, format="onnx")


def test_other_objects_are_refused_with_what_is_taken(binary):
    _, model = binary
    with pytest.raises(verdict.InputError, match="pandas or polars DataFrame"):
        model.predict([[1.0, 2.0]])
    with pytest.raises(verdict.InputError, match="LazyFrame"):
        model.predict(pl.LazyFrame({"a": [1.0]}))
    with pytest.raises(verdict.InputError, match="Series"):
        model.predict(pd.Series([1.0]))
