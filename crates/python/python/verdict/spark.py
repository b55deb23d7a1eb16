"""Score Spark DataFrames with a Verdict model, inside Spark's own Python workers.

Two entry points:

- :func:`predict` scores a whole DataFrame through ``DataFrame.mapInArrow``: Arrow record
  batches go to the model and come back with the predictions, with no pandas in between.
  It returns the ``passthrough`` columns followed by the prediction columns, named and typed
  as ``verdict predict`` writes them. Use it for batch jobs (table in, table out).
- :func:`udf` makes a column expression for ``select``/``withColumn`` and SQL
  (``spark.udf.register``), through an Arrow UDF. Use it where scoring is one expression
  among others.

Either way the model file's bytes travel with the job (Spark broadcasts a task's function
once it is larger than ``spark.broadcast.UDFCompressionThreshold``), so a model that only the
driver can read works on any cluster, and each Python worker loads the model once and keeps
it for every later task. Each task scores on ``threads`` threads, by default
``spark.task.cpus`` (1 unless configured): Spark already runs one Python worker per task
slot, so more would oversubscribe the executor's cores.

Example::

    import verdict.spark

    scored = verdict.spark.predict(spark.read.parquet("s3://bucket/rows/"),
                                   "model.json", passthrough=["id"])
    scored.write.parquet("s3://bucket/scores/")
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Iterable, Iterator, List, Optional, Union

import pyarrow as pa

from verdict._distributed import ModelSource, Names, Shipped, names, plain_text

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

__all__ = ["predict", "udf"]


def predict(
    df: "DataFrame",
    model: ModelSource,
    outputs: Optional[Names] = None,
    passthrough: Optional[Names] = None,
    *,
    threads: Optional[int] = None,
) -> "DataFrame":
    """Scores every row of ``df``; returns ``passthrough`` columns, then the predictions.

    Args:
        df: the rows. The model's features are found by name (any column order, other
            columns ignored); numeric, boolean and string columns are read as
            ``verdict predict`` reads them, and nulls are missing values.
        model: a model file's path (any format :func:`verdict.load` reads; a path the
            driver can read is enough), its contents (``bytes``), or a loaded
            :class:`verdict.Model`.
        outputs: ``"predict"``, ``"predict_proba"``, ``"raw"`` or a list of them; by default
            ``predict``, plus ``predict_proba`` for classifiers.
        passthrough: columns of ``df`` copied into the result before the predictions, or
            ``"*"`` for all of them.
        threads: scoring threads per task; by default ``spark.task.cpus``.

    Returns:
        A DataFrame (lazy, like any other) with one row per input row.

    Raises:
        pyspark.errors.AnalysisException: a feature or passthrough column is missing; raised
            here on the driver, before any task runs.
        verdict.ModelError: the model file cannot be read.
        ValueError: a passthrough column has the name of a prediction column, or a feature
            column has a type the model cannot read.
    """
    shipped = Shipped.of(model)
    loaded = shipped.load()
    features = list(loaded.feature_names)
    kept = df.columns if passthrough == "*" else list(dict.fromkeys(names(passthrough)))
    # Resolving the columns here makes Spark raise its own AnalysisException for a missing
    # one now, not in a task. Features get names of their own, since a passthrough column may
    # also be a feature; the workers name them as the model does, by position.
    selected = df.select(
        *[_column(name) for name in kept],
        *[_column(name).alias(f"_verdict_feature_{i}") for i, name in enumerate(features)],
    )
    input_schema = selected.schema
    chosen = names(outputs) or None
    feature_types = _to_arrow(input_schema[len(kept) :])
    probe = pa.schema([f.with_name(name) for f, name in zip(feature_types, features)])
    predictions = _prediction_schema(loaded, chosen, probe)
    clashes = sorted(set(kept) & set(predictions.names))
    if clashes:
        raise ValueError(
            f"passthrough column {clashes[0]!r} has the name of a prediction column: "
            "rename it (DataFrame.withColumnRenamed) before scoring"
        )
    kept_arrow = _to_arrow(input_schema[: len(kept)])
    result = pa.schema([*kept_arrow, *predictions])
    scorer = _ScoreBatches(
        model=shipped,
        features=features,
        kept=len(kept),
        outputs=chosen,
        threads=threads or _task_cpus(df),
        schema=result,
    )
    return selected.mapInArrow(scorer, _from_arrow(result))


def udf(
    model: ModelSource,
    outputs: Optional[Names] = None,
    *,
    threads: Optional[int] = None,
):
    """A Spark UDF that scores its arguments: ``df.withColumn("score", f(*columns))``.

    Its arguments are the model's features, as columns in the model's feature order
    (:attr:`verdict.Model.feature_names`); ``f(*[df[name] for name in model.feature_names])``
    passes the columns of those names. Its value is the one prediction column when ``outputs``
    makes one (a regressor's ``prediction``, a classifier's ``label``), otherwise a struct of
    the prediction columns (``score.proba_1``). It is an Arrow UDF (Arrow arrays in and out,
    no pandas) and can be registered for SQL: ``spark.udf.register("score", f)``.

    Prefer :func:`predict` for whole-table jobs: it matches columns by name, checks them on
    the driver and keeps passthrough columns without a join.

    Args:
        model: a model file's path, its contents or a loaded :class:`verdict.Model`, as for
            :func:`predict`.
        outputs: as for :func:`predict`.
        threads: scoring threads per task; 1 unless given, one per task slot.
    """
    from pyspark.sql.functions import ArrowUDFType, arrow_udf

    shipped = Shipped.of(model)
    loaded = shipped.load()
    chosen = names(outputs) or None
    predictions = _prediction_schema(loaded, chosen, None)
    single = len(predictions) == 1
    value_type = predictions[0].type if single else pa.struct(list(predictions))
    scorer = _ScoreColumns(
        model=shipped,
        features=list(loaded.feature_names),
        outputs=chosen,
        threads=threads or 1,
        single=single,
    )
    with warnings.catch_warnings():
        # Spark would rather infer the UDF type from type hints, which a callable object
        # cannot give it as reliably as the explicit type.
        warnings.simplefilter("ignore", UserWarning)
        return arrow_udf(scorer, _from_arrow_type(value_type), ArrowUDFType.SCALAR_ITER)


class _ScoreBatches:
    """The function ``mapInArrow`` runs in each task: batches of rows in, scored batches out.

    A class rather than a closure so that it pickles as a reference to this module plus its
    fields (the model's bytes, the column layout), which is all a worker needs.
    """

    def __init__(self, model, features, kept, outputs, threads, schema):
        self.model = model
        self.features = features
        self.kept = kept
        self.outputs = outputs
        self.threads = threads
        self.schema = schema

    def __call__(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        loaded = None
        predictions = pa.schema(list(self.schema)[self.kept :])
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if loaded is None:
                loaded = self.model.load()
            # The batch holds the passthrough columns, then the features: split by position,
            # since a passthrough column may also be a feature.
            columns = batch.columns
            features = pa.RecordBatch.from_arrays(columns[self.kept :], names=self.features)
            scored = loaded.predict(features, outputs=self.outputs, threads=self.threads)
            scored = _conform(scored, predictions)
            table = pa.Table.from_arrays(
                [*columns[: self.kept], *scored.columns], schema=self.schema
            )
            yield from table.to_batches()


class _ScoreColumns:
    """The function behind :func:`udf`: tuples of feature arrays in, prediction arrays out."""

    def __init__(self, model, features, outputs, threads, single):
        self.model = model
        self.features = features
        self.outputs = outputs
        self.threads = threads
        self.single = single

    def __call__(self, batches: Iterator[Union[pa.Array, tuple]]) -> Iterator[pa.Array]:
        loaded = self.model.load()
        for arrays in batches:
            # One argument comes as an array, several as a tuple of arrays.
            arrays = list(arrays) if isinstance(arrays, tuple) else [arrays]
            if len(arrays) != len(self.features):
                raise TypeError(
                    f"the model has {len(self.features)} features "
                    f"({_preview(self.features)}) but the UDF was given {len(arrays)} "
                    "columns: pass every feature, in the order of Model.feature_names"
                )
            features = pa.RecordBatch.from_arrays(arrays, names=self.features)
            scored = loaded.predict(features, outputs=self.outputs, threads=self.threads)
            if self.single:
                yield scored.column(0).combine_chunks()
            else:
                yield pa.StructArray.from_arrays(
                    [c.combine_chunks() for c in scored.columns], names=scored.column_names
                )


def _prediction_schema(model, outputs, features: Optional[pa.Schema]) -> pa.Schema:
    """The prediction columns' names and types, as the model itself makes them.

    A zero-row predict on the driver gives them exactly, and checks on the way that the model
    reads the feature columns' types, before any task runs. Without the input's types (a
    UDF's arguments are not known yet) every feature is probed as a column of nulls, which
    every feature kind accepts.
    """
    if features is None:
        probe = pa.table({name: pa.nulls(0) for name in model.feature_names})
    else:
        probe = features.empty_table()
    scored = model.predict(probe, outputs=outputs, threads=1)
    return pa.schema([pa.field(f.name, plain_text(f.type), nullable=True) for f in scored.schema])


def _conform(scored: pa.Table, schema: pa.Schema) -> pa.Table:
    return scored if scored.schema == schema else scored.cast(schema)


def _quoted(name: str) -> str:
    """A column name as Spark reads it literally (dots and spaces included)."""
    return "`" + name.replace("`", "``") + "`"


def _column(name: str) -> "Column":
    from pyspark.sql.functions import col

    return col(_quoted(name))


def _preview(names: List[str]) -> str:
    shown = ", ".join(names[:5])
    return shown + (", ..." if len(names) > 5 else "")


def _task_cpus(df: "DataFrame") -> int:
    return int(df.sparkSession.conf.get("spark.task.cpus", "1") or "1")


def _to_arrow(schema) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import StructType

    return to_arrow_schema(StructType(list(schema)))


def _from_arrow(schema: pa.Schema) -> "StructType":
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _from_arrow_type(arrow_type: pa.DataType):
    from pyspark.sql.pandas.types import from_arrow_type

    return from_arrow_type(arrow_type)
