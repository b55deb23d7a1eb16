"""What the Spark and Ray adapters share: a model file carried from the driver to the
worker processes and loaded once in each, and their way of naming columns.

Spark executors and Ray actors run in processes, often on machines, that cannot read the
driver's files. So the driver reads the model file's bytes once and sends them along
(:class:`Shipped`); the receiving process loads them the first time it needs the model and
keeps the loaded model in a module-level cache keyed by the bytes' SHA-256. Every later task or
batch in that process reuses it: one load per Python worker, whatever the number of tasks.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import pyarrow as pa

import verdict

ModelSource = Union[str, "os.PathLike[str]", bytes, "verdict.Model"]
Names = Union[str, Sequence[str]]

_loaded: Dict[str, "verdict.Model"] = {}
_loading = threading.Lock()


@dataclass(frozen=True)
class Shipped:
    """A model file's bytes, with the name and digest they are known by."""

    name: str
    """The file's name on the driver, kept for error messages."""
    digest: str
    """The SHA-256 of :attr:`data`, in hex: the key of the per-process cache."""
    data: bytes = field(repr=False)
    """The file's bytes."""

    @classmethod
    def of(cls, model: ModelSource) -> "Shipped":
        """Reads a model file (a path), takes a model file's contents (``bytes``), or the file
        a loaded model came from.

        Raises :class:`verdict.ModelError` when the bytes are not a model :func:`verdict.load`
        reads, here on the driver rather than later on every worker.
        """
        if isinstance(model, Shipped):
            return model
        if isinstance(model, verdict.Model):
            # The workers load the same file the model came from, so they need its path.
            path = getattr(model, "path", None)
            if path is None:
                raise TypeError(
                    f"{model!r} does not say which file it was loaded from: "
                    "pass the model file's path or its contents (bytes) instead"
                )
            return cls.of(path)
        if isinstance(model, (bytes, bytearray, memoryview)):
            name, data = "model", bytes(model)
        else:
            path = Path(os.fspath(model))
            name, data = path.name, path.read_bytes()
        shipped = cls(name=name, digest=hashlib.sha256(data).hexdigest(), data=data)
        shipped.load()
        return shipped

    def load(self) -> "verdict.Model":
        """The model, loaded from :attr:`data` the first time this process asks for it."""
        model = _loaded.get(self.digest)
        if model is not None:
            return model
        with _loading:
            model = _loaded.get(self.digest)
            if model is None:
                model = _load_bytes(self.name, self.data)
                _loaded[self.digest] = model
            return model


def _load_bytes(name: str, data: bytes) -> "verdict.Model":
    # The model file is read whole when it is loaded, so it only lives on disk for the call.
    with tempfile.TemporaryDirectory(prefix="verdict-model-") as directory:
        path = Path(directory) / name
        path.write_bytes(data)
        return verdict.load(str(path))


def names(value: Optional[Names]) -> List[str]:
    """``outputs=``/``passthrough=`` as a list: one name, several, or none."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def plain_text(arrow_type: pa.DataType) -> pa.DataType:
    """``arrow_type``, with text as plain ``string``: neither Spark nor Ray's serializer takes
    ``string_view``, and Spark takes ``large_string`` only when configured to."""
    if pa.types.is_string_view(arrow_type) or pa.types.is_large_string(arrow_type):
        return pa.string()
    return arrow_type
