"""weightlens: per-tensor analysis of model weight files, as Arrow tables.

See ``__init__.pyi`` for the documented API and python/README.md for examples.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

from . import _native
from ._native import (
    DIFF_META_KEY,
    RUN_META_KEY,
    HubError,
    MalformedError,
    Model,
    NoSuchTensorError,
    RefusedPickleError,
    TensorError,
    UnknownFormatError,
    WeightlensError,
    WeightlensIOError,
    __version__,
    download,
    ls,
    open,
    scan,
)

__all__ = [
    "analyze",
    "diff",
    "ls",
    "open",
    "scan",
    "download",
    "run_meta",
    "errors",
    "Model",
    "WeightlensError",
    "UnknownFormatError",
    "MalformedError",
    "RefusedPickleError",
    "TensorError",
    "WeightlensIOError",
    "NoSuchTensorError",
    "HubError",
    "RUN_META_KEY",
    "DIFF_META_KEY",
    "__version__",
]


class _Bar:
    """A tqdm bar over the bytes of the run, fed by the native progress callback."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=0, unit="B", unit_scale=True, unit_divisor=1024, desc="tensors")

    def __call__(self, done: int, total: int, done_bytes: int, total_bytes: int) -> None:
        if self._bar.total != total_bytes:
            self._bar.total = total_bytes
        self._bar.set_postfix_str(f"{done}/{total} tensors", refresh=False)
        self._bar.update(done_bytes - self._bar.n)

    def close(self) -> None:
        self._bar.close()


def _progress_callback(progress: Any) -> tuple[Optional[Callable[..., Any]], Callable[[], None]]:
    """The callable the native code calls, and what to do when the run ends."""
    if progress is None or progress is False:
        return None, lambda: None
    if progress is True:
        try:
            bar = _Bar()
        except ImportError:
            return None, lambda: None
        return bar, bar.close
    if callable(progress):
        return progress, lambda: None
    raise TypeError("progress must be None, True, False or a callable")


def analyze(paths: Any, *, progress: Any = None, **options: Any) -> Any:
    callback, close = _progress_callback(progress)
    try:
        return _native.analyze(paths, progress=callback, **options)
    finally:
        close()


def diff(a: Any, b: Any, *, progress: Any = None, **options: Any) -> Any:
    callback, close = _progress_callback(progress)
    try:
        return _native.diff(a, b, progress=callback, **options)
    finally:
        close()


def run_meta(table: Any) -> dict:
    """The run metadata (``run_meta.json``) of a table returned by :func:`analyze` or :func:`diff`."""
    metadata = table.schema.metadata or {}
    for key in (RUN_META_KEY, DIFF_META_KEY):
        raw = metadata.get(key.encode())
        if raw is not None:
            return json.loads(raw)
    raise ValueError("this table carries no weightlens run metadata")


def errors(table: Any) -> list:
    """What failed in the run of ``table`` (one dict per error: file, tensor, message), as ``run_meta.json`` lists it."""
    return list(run_meta(table).get("errors", []))


analyze.__doc__ = _native.analyze.__doc__
diff.__doc__ = _native.diff.__doc__
