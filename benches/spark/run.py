"""Spark batch scoring, three ways, on the same Parquet file with local[N]:

- ``floor``: the job with no model at all: the same read, Arrow round trip through
  ``mapInArrow`` and Parquet write, with columns of zeros where the predictions go. Spark's own
  cost; nothing that scores can be faster.
- ``verdict``: ``verdict.spark.predict(df, "model.json", outputs="predict_proba",
  passthrough="id")``.
- ``pandas_udf``: what MLflow's ``spark_udf`` does: an iterator pandas UDF that unpickles the
  XGBoost ``XGBClassifier`` once per Python worker and calls ``predict_proba`` on every batch.

Every job reads the same file and writes ``id`` plus the probabilities to Parquet. Both
scorers use one thread per task slot (the XGBClassifier is trained with ``n_jobs=1``), so the
comparison is at equal threads. The data (``--rows`` rows of ``--features`` float64 columns)
and the model (``--trees`` trees of depth ``--depth``, trained on the first 100,000 rows) are
made once under ``--work`` and reused.

    python -m venv /work/venvs/spark && /work/venvs/spark/bin/pip install \\
        -r benches/spark/requirements.txt ./crates/python
    /work/venvs/spark/bin/python benches/spark/run.py --repeat 2

Prints one line per run and a summary table (Markdown) of the best time of each job.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=28)
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--cores", type=int, default=2, help="local[N]")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each job")
    parser.add_argument("--work", type=Path, default=Path("target/bench-spark"))
    parser.add_argument(
        "--jobs", default="floor,verdict,pandas_udf", help="comma-separated, in run order"
    )
    parser.add_argument(
        "--arrow-batch",
        type=int,
        default=10_000,
        help="rows per Arrow batch between the JVM and Python "
        "(spark.sql.execution.arrow.maxRecordsPerBatch; Spark's default is 10,000)",
    )
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    data = make_data(args.work, args.rows, args.features)
    model_json, model_pickle = train_model(args.work, data, args.trees, args.depth)

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{args.cores}]")
        .appName("verdict-bench")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.arrow_batch))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    known: Dict[str, Callable] = {
        "floor": lambda df: floor(df),
        "verdict": lambda df: with_verdict(df, model_json),
        "pandas_udf": lambda df: with_pandas_udf(df, model_pickle),
    }
    jobs = {name: known[name] for name in args.jobs.split(",")}
    source = str(data)
    # A first, untimed pass of every job warms the JVM and starts the Python workers.
    for name, job in jobs.items():
        run(spark, job, source, args.work / f"out-{name}")
    times: Dict[str, List[float]] = {name: [] for name in jobs}
    for attempt in range(args.repeat):
        for name, job in jobs.items():
            seconds = run(spark, job, source, args.work / f"out-{name}")
            times[name].append(seconds)
            print(f"run {attempt + 1}: {name:<11} {seconds:6.2f} s", flush=True)
    if {"verdict", "pandas_udf"} <= jobs.keys():
        check_agreement(spark, args.work)
    spark.stop()

    best = {name: min(values) for name, values in times.items()}
    print()
    print(
        f"| job (local[{args.cores}], {args.rows:,} rows x {args.features}) | best of "
        f"{args.repeat} | all runs | vs floor |"
    )
    print("|---|---:|---|---:|")
    floor_time = best.get("floor", float("nan"))
    for name, values in times.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {name} | {best[name]:.2f} s | {runs} | {best[name] / floor_time:.2f}x |")
    if {"verdict", "pandas_udf", "floor"} <= best.keys():
        print()
        print(
            f"verdict vs pandas_udf: {best['pandas_udf'] / best['verdict']:.2f}x faster; "
            f"verdict over the floor: {100 * (best['verdict'] / floor_time - 1):.0f}%"
        )


def make_data(work: Path, rows: int, features: int) -> Path:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = work / f"rows-{rows}x{features}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(7)
    x = rng.standard_normal((rows, features))
    weights = rng.standard_normal(features)
    logit = x @ weights + 0.5 * np.sin(3 * x[:, 0]) * x[:, 1]
    y = (logit + rng.standard_normal(rows) > 0).astype(np.int64)
    columns = {"id": pa.array(np.arange(rows, dtype=np.int64))}
    columns.update({f"f{j}": pa.array(x[:, j]) for j in range(features)})
    columns["y"] = pa.array(y)
    # Row groups of 128k rows: Spark splits the file into that many tasks.
    pq.write_table(pa.table(columns), path, row_group_size=131_072)
    return path


def train_model(work: Path, data: Path, trees: int, depth: int):
    import pyarrow.parquet as pq
    import xgboost

    model_json = work / f"xgb-{trees}x{depth}.json"
    model_pickle = work / f"xgb-{trees}x{depth}.pkl"
    if model_json.exists() and model_pickle.exists():
        return model_json, model_pickle
    table = pq.read_table(data).slice(0, 100_000)
    features = [n for n in table.column_names if n.startswith("f")]
    x = table.select(features).to_pandas()
    y = table.column("y").to_numpy()
    model = xgboost.XGBClassifier(
        n_estimators=trees, max_depth=depth, learning_rate=0.1, tree_method="hist", n_jobs=1
    )
    model.fit(x, y)
    model.save_model(model_json)
    model_pickle.write_bytes(pickle.dumps(model))
    return model_json, model_pickle


def run(spark, job, source: str, output: Path) -> float:
    start = time.perf_counter()
    job(spark.read.parquet(source)).write.mode("overwrite").parquet(str(output))
    return time.perf_counter() - start


def floor(df):
    import pyarrow as pa
    from pyspark.sql.types import DoubleType, LongType, StructField, StructType

    schema = StructType(
        [
            StructField("id", LongType()),
            StructField("proba_0", DoubleType()),
            StructField("proba_1", DoubleType()),
        ]
    )

    def no_model(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            zeros = pa.nulls(batch.num_rows, pa.float64()).fill_null(0.0)
            yield pa.RecordBatch.from_arrays(
                [batch.column("id"), zeros, zeros], names=["id", "proba_0", "proba_1"]
            )

    features = [c for c in df.columns if c.startswith("f")]
    return df.select("id", *features).mapInArrow(no_model, schema)


def with_verdict(df, model_json: Path):
    import verdict.spark

    features = [c for c in df.columns if c.startswith("f")]
    return verdict.spark.predict(
        df.select("id", *features), model_json, outputs="predict_proba", passthrough="id"
    )


_udf_model = None


def _pickled_model(path: str):
    """The unpickled model, once per Python worker, as MLflow's spark_udf keeps it."""
    global _udf_model
    if _udf_model is None:
        with open(path, "rb") as file:
            _udf_model = pickle.load(file)
    return _udf_model


def with_pandas_udf(df, model_pickle: Path):
    from pyspark.sql.functions import pandas_udf

    features = [c for c in df.columns if c.startswith("f")]
    path = str(model_pickle)

    @pandas_udf("proba_0 double, proba_1 double")
    def predict_proba(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.DataFrame]:
        model = _pickled_model(path)
        for columns in batches:
            x = pd.concat(columns, axis=1, keys=features)
            proba = model.predict_proba(x)
            yield pd.DataFrame({"proba_0": proba[:, 0], "proba_1": proba[:, 1]})

    scored = df.select("id", predict_proba(*features).alias("p"))
    return scored.select("id", "p.proba_0", "p.proba_1")


def check_agreement(spark, work: Path) -> None:
    """Both scorers must agree on every row, or the timing means nothing."""
    from pyspark.sql import functions as F

    ours = spark.read.parquet(str(work / "out-verdict")).withColumnRenamed("proba_1", "ours")
    theirs = spark.read.parquet(str(work / "out-pandas_udf")).withColumnRenamed("proba_1", "xgb")
    joined = ours.join(theirs, "id")
    rows, worst = joined.agg(F.count("*"), F.max(F.abs(F.col("ours") - F.col("xgb")))).first()
    print(f"agreement: {rows:,} rows, max |verdict - xgboost| on proba_1 = {worst:.2e}")
    if worst > 1e-6:
        raise SystemExit("verdict and xgboost disagree: the timings are not comparable")


if __name__ == "__main__":
    main()
