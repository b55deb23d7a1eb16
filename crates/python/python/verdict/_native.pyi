"""Type stubs of ``verdict._native``, the extension module behind :mod:`verdict`."""

from os import PathLike
from typing import Any, Dict, List, Optional, Union

__version__: str

class ModelError(ValueError):
    """The file is not a model Verdict can read; the message is the importer's."""

class InputError(ValueError):
    """The data cannot feed the model: a missing column, a type or value that is not a
    number, or the wrong shape."""

class PredictError(ValueError):
    """The model refuses the input or has no such output."""

class ArrowStream:
    """Result columns, read through the Arrow PyCapsule stream protocol (once)."""

    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...

class Model:
    """A loaded model (wrapped by :class:`verdict.Model`)."""

    @property
    def feature_names(self) -> List[str]: ...
    @property
    def task(self) -> str: ...
    @property
    def classes(self) -> Optional[List[Union[int, str]]]: ...
    @property
    def outputs(self) -> List[str]: ...
    @property
    def default_outputs(self) -> List[str]: ...
    @property
    def engine(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def info(self) -> Dict[str, str]: ...
    def output_columns(self, output: str) -> List[str]: ...
    def save(self, path: Union[str, PathLike[str]]) -> None: ...
    def predict_arrow(
        self,
        data: Any,
        outputs: Optional[List[str]] = None,
        threads: Optional[int] = None,
        strict: bool = False,
    ) -> ArrowStream: ...
    def predict_array(
        self,
        array: Any,
        outputs: Optional[List[str]] = None,
        threads: Optional[int] = None,
    ) -> ArrowStream: ...
    def _feature_addresses(self, data: Any) -> List[Optional[int]]: ...

def load(path: Union[str, PathLike[str]], format: Optional[str] = None) -> Model: ...
