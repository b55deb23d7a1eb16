"""verdict.spark on a real Spark session in local[2] mode: two executor threads, each with its
own Python worker process, so rows cross the JVM/Python boundary as they do on a cluster.

Needs a Java 17+ runtime (pyspark 4 requires it); without one the session fixture fails with
a message saying so, never skips.
"""

from __future__ import annotations

import os
import shutil
import sys

import pyarrow as pa
import pytest
from fixture_cases import Case, check_against_library
from pyspark.errors import AnalysisException, PythonException
from pyspark.sql import SparkSession
from pyspark.sql.functions import spark_partition_id

import verdict
import verdict.spark
from verdict._distributed import Shipped

ALL_OUTPUTS = ["predict", "predict_proba", "raw"]

# (fixture, outputs): every family the importers read, a regressor, a multiclass model,
# string categories, and a case where a third of the values are missing (nulls here).
PARITY = [
    ("xgboost/binary_logistic", ALL_OUTPUTS),
    ("xgboost/nan_heavy", ALL_OUTPUTS),
    ("lightgbm/multiclass_wine", ALL_OUTPUTS),
    ("lightgbm/regression_diabetes", ["predict", "raw"]),
    ("sklearn/hist_gradient_boosting_classifier_categorical_pandas", ALL_OUTPUTS),
]


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.fail(
            "the Spark tests need a Java 17 (or later) runtime, and none was found: "
            "install one (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    # The Python workers must run this interpreter, which has verdict and pyarrow.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    # Everything stays on loopback.
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    session = (
        SparkSession.builder.master("local[2]")
        .appName("verdict-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        # Small Arrow batches, so that every task scores several of them.
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "16")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def frame(spark, case: Case, partitions: int = 2):
    return spark.createDataFrame(case.inputs).repartition(partitions)


def collected(df) -> pa.Table:
    return df.toArrow().sort_by("id")


def in_process(case: Case, outputs) -> pa.Table:
    return verdict.load(str(case.model)).predict(case.inputs, outputs=outputs)


@pytest.mark.parametrize(("name", "outputs"), PARITY, ids=[n for n, _ in PARITY])
def test_scores_as_the_library_does(spark, name, outputs):
    case = Case.load(name)
    scored = collected(
        verdict.spark.predict(frame(spark, case), case.model, outputs=outputs, passthrough="id")
    )
    check_against_library(case, scored)
    # Through Spark or in process, the same columns and values (text may change its Arrow
    # layout on the way: Spark has one string type).
    assert scored.drop_columns(["id"]).to_pydict() == in_process(case, outputs).to_pydict()


def test_default_outputs_and_types_are_the_clis(spark):
    case = Case.load("xgboost/binary_logistic")
    scored = verdict.spark.predict(frame(spark, case), case.model)
    assert [(f.name, f.dataType.simpleString()) for f in scored.schema.fields] == [
        ("label", "bigint"),
        ("proba_0", "double"),
        ("proba_1", "double"),
    ]
    assert scored.count() == case.inputs.num_rows


def test_passthrough_columns_are_kept_before_the_predictions(spark):
    case = Case.load("sklearn/hist_gradient_boosting_classifier_categorical_pandas")
    df = frame(spark, case)
    scored = verdict.spark.predict(df, case.model, outputs="predict", passthrough=["id", "color"])
    assert scored.columns == ["id", "color", "label"]
    table = collected(scored)
    assert table.column("color") == case.inputs.column("color")
    check_against_library(case, table)

    everything = verdict.spark.predict(df, case.model, outputs="predict", passthrough="*")
    assert everything.columns == [*df.columns, "label"]


def test_partitions_of_uneven_sizes_and_an_empty_one(spark):
    case = Case.load("xgboost/binary_logistic")
    rows = [tuple(r.values()) for r in case.inputs.to_pylist()]
    sizes = [0, 1, 37, len(rows) - 38]
    bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    rdd = spark.sparkContext.parallelize(range(len(sizes)), len(sizes)).flatMap(
        lambda i: rows[bounds[i] : bounds[i + 1]]
    )
    df = spark.createDataFrame(rdd, case.inputs.schema.names)
    counts = df.groupBy(spark_partition_id().alias("p")).count().toArrow().sort_by("p")
    assert counts.column("count").to_pylist() == [s for s in sizes if s]

    scored = verdict.spark.predict(df, case.model, outputs=ALL_OUTPUTS, passthrough="id")
    check_against_library(case, collected(scored))


def test_a_missing_column_is_sparks_own_error_before_any_task(spark):
    case = Case.load("xgboost/binary_logistic")
    df = frame(spark, case).drop("worst area")
    tracker = spark.sparkContext.statusTracker()
    spark.sparkContext.setJobGroup("missing-column", "scoring without a feature")
    try:
        with pytest.raises(AnalysisException, match="`worst area`"):
            verdict.spark.predict(df, case.model)
        with pytest.raises(AnalysisException, match="`no such column`"):
            verdict.spark.predict(frame(spark, case), case.model, passthrough="no such column")
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert tracker.getJobIdsForGroup("missing-column") == []


def test_a_passthrough_column_named_like_a_prediction_is_refused(spark):
    case = Case.load("xgboost/binary_logistic")
    df = frame(spark, case).withColumnRenamed("id", "label")
    with pytest.raises(ValueError, match="'label'"):
        verdict.spark.predict(df, case.model, passthrough="label")


def test_a_bad_model_file_fails_on_the_driver(spark, tmp_path):
    case = Case.load("xgboost/binary_logistic")
    bad = tmp_path / "model.json"
    bad.write_text('{"learner": ')
    with pytest.raises(verdict.ModelError):
        verdict.spark.predict(frame(spark, case), bad)


# The small model travels inside each task's function; the large one (1.1 MB) is over
# spark.broadcast.UDFCompressionThreshold (1 MiB), so PySpark ships it as a broadcast.
@pytest.mark.parametrize("name", ["lightgbm/multiclass_wine", "xgboost/deep_ensemble"])
def test_a_model_only_the_driver_has(spark, tmp_path, name):
    case = Case.load(name)
    private = tmp_path / "driver-only"
    private.mkdir()
    path = private / case.model.name
    shutil.copyfile(case.model, path)
    outputs = ALL_OUTPUTS if "multiclass" in name else ["predict", "raw"]
    scored = verdict.spark.predict(frame(spark, case, 3), path, outputs=outputs, passthrough="id")
    # Spark is lazy: the tasks run below, after the file is gone.
    shutil.rmtree(private)
    check_against_library(case, collected(scored))


def test_a_loaded_model(spark):
    case = Case.load("lightgbm/regression_diabetes")
    model = verdict.load(str(case.model))
    scored = verdict.spark.predict(
        frame(spark, case), model, outputs=["predict", "raw"], passthrough="id"
    )
    check_against_library(case, collected(scored))


def test_udf_in_a_select_and_in_sql(spark):
    case = Case.load("xgboost/binary_logistic")
    df = frame(spark, case)
    proba = verdict.spark.udf(case.model, outputs=["predict_proba", "raw"])
    label = verdict.spark.udf(case.model, outputs="predict")
    features = [df[name] for name in case.feature_names]
    scored = df.select("id", proba(*features).alias("score"), label(*features).alias("label"))
    table = collected(scored.select("id", "label", "score.proba_0", "score.proba_1", "score.raw"))
    check_against_library(case, table)

    spark.udf.register("churn_label", label)
    df.createOrReplaceTempView("patients")
    arguments = ", ".join(f"`{name}`" for name in case.feature_names)
    from_sql = spark.sql(f"SELECT id, churn_label({arguments}) AS label FROM patients")
    assert collected(from_sql).column("label") == table.column("label")


def test_udf_with_the_wrong_number_of_columns_says_so(spark):
    case = Case.load("xgboost/binary_logistic")
    df = frame(spark, case)
    label = verdict.spark.udf(case.model, outputs="predict")
    with pytest.raises(PythonException, match="the model has 30 features"):
        df.select(label(df["mean radius"])).collect()


def test_a_worker_loads_each_model_once():
    case = Case.load("xgboost/binary_logistic")
    first = Shipped.of(case.model)
    again = Shipped.of(case.model.read_bytes())
    assert first.digest == again.digest
    assert first.load() is again.load()
