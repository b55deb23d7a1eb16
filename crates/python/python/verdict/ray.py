"""Score Ray Data datasets with a Verdict model, loaded once per actor.

:class:`Predictor` is a callable class for ``Dataset.map_batches`` with
``batch_format="pyarrow"``: Ray runs it as a pool of stateful actors, each loads the model once
in its constructor and then scores every batch it is given, Arrow in and Arrow out, on the CPUs
Ray assigned to it. :func:`predict` wires it up for the common case::

    import ray, verdict.ray

    ds = ray.data.read_parquet("s3://bucket/rows/")
    scored = verdict.ray.predict(ds, "model.json", passthrough=["id"], concurrency=4)
    scored.write_parquet("s3://bucket/scores/")

A model file that only the driver can read works: :func:`predict` reads it on the driver and
Ray carries its bytes to the actors. Used directly, :class:`Predictor` reads its ``model``
argument on the actor, so pass the file's contents (``bytes``) for a driver-only file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import pyarrow as pa

from verdict._distributed import ModelSource, Names, Shipped, names, plain_text

if TYPE_CHECKING:
    from ray.data import Dataset

__all__ = ["Predictor", "predict"]


class Predictor:
    """Scores ``pyarrow.Table`` batches: ``passthrough`` columns, then the predictions.

    Args:
        model: a model file's path, its contents (``bytes``), or a loaded
            :class:`verdict.Model`.
        outputs: ``"predict"``, ``"predict_proba"``, ``"raw"`` or a list of them; by default
            ``predict``, plus ``predict_proba`` for classifiers.
        passthrough: columns of each batch copied into the result, or ``"*"`` for all.
        threads: scoring threads; by default the CPUs Ray assigned to this actor (the
            ``num_cpus`` of ``map_batches``), so actors do not oversubscribe their node.

    Example::

        ds.map_batches(verdict.ray.Predictor, fn_constructor_args=(model_bytes,),
                       batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=2))
    """

    def __init__(
        self,
        model: ModelSource,
        outputs: Optional[Names] = None,
        passthrough: Optional[Names] = None,
        threads: Optional[int] = None,
    ) -> None:
        self._model = Shipped.of(model).load()
        self._outputs = names(outputs) or None
        self._passthrough = passthrough if passthrough == "*" else names(passthrough)
        self._threads = threads or _assigned_cpus()

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Scores one batch; the result has one row per input row."""
        scored = self._model.predict(batch, outputs=self._outputs, threads=self._threads)
        kept = batch.column_names if self._passthrough == "*" else self._passthrough
        clashes = [name for name in kept if name in scored.column_names]
        if clashes:
            raise ValueError(
                f"passthrough column {clashes[0]!r} has the name of a prediction column: "
                "rename it before scoring"
            )
        predictions = [column.cast(plain_text(column.type)) for column in scored.columns]
        columns = [batch.column(name) for name in kept] + predictions
        return pa.Table.from_arrays(columns, names=[*kept, *scored.column_names])


def predict(
    ds: "Dataset",
    model: ModelSource,
    outputs: Optional[Names] = None,
    passthrough: Optional[Names] = None,
    *,
    concurrency: int = 1,
    num_cpus: float = 1,
    threads: Optional[int] = None,
    batch_size: Optional[int] = None,
) -> "Dataset":
    """Scores ``ds`` with ``concurrency`` :class:`Predictor` actors of ``num_cpus`` CPUs each.

    The model is read here, on the driver, and its bytes go to the actors with their
    constructor arguments. Returns a lazy dataset, like ``map_batches``.
    """
    from ray.data import ActorPoolStrategy

    shipped = Shipped.of(model)
    return ds.map_batches(
        Predictor,
        fn_constructor_args=(shipped,),
        fn_constructor_kwargs={
            "outputs": outputs,
            "passthrough": passthrough,
            "threads": threads,
        },
        batch_format="pyarrow",
        batch_size=batch_size,
        compute=ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus,
    )


def _assigned_cpus() -> int:
    import ray

    if not ray.is_initialized():
        # Outside Ray (a Predictor tried out on a laptop): one thread, as in an actor of one CPU.
        return 1
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    return max(1, int(cpus))
