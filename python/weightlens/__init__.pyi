"""weightlens: per-tensor statistics, ranks and spectra of model weight files (safetensors,
PyTorch, GGUF, NumPy, ONNX, quantized safetensors), as Arrow tables.

Every number is defined in docs/output-spec.md of the repository.
"""

import os
from types import TracebackType
from typing import Any, Callable, Iterable, Literal, Optional, Sequence, Union

import numpy
import pyarrow

__version__: str

PathLike = Union[str, os.PathLike[str]]
ProgressCallback = Callable[[int, int, int, int], Any]
"""Called as ``callback(tensors_done, tensors_total, bytes_done, bytes_total)``."""

RUN_META_KEY: str
"""The schema metadata key of an :func:`analyze` table holding ``run_meta.json`` (JSON text)."""
DIFF_META_KEY: str
"""The schema metadata key of a :func:`diff` table holding its metadata (JSON text)."""

def analyze(
    paths: Union[PathLike, Iterable[PathLike]],
    *,
    rank: Literal["exact", "approx", "auto", "none"] = "exact",
    spectral: Union[bool, Literal["full"]] = False,
    conv: Literal["reshape", "ww"] = "reshape",
    filter: Optional[str] = None,
    zero_eps: float = 1e-8,
    threads: Optional[int] = None,
    split_experts: bool = False,
    shard: Optional[tuple[int, int]] = None,
    plugins: Sequence[PathLike] = (),
    model_id: Optional[str] = None,
    revision: Optional[str] = None,
    progress: Union[None, bool, ProgressCallback] = None,
    max_memory: Optional[int] = None,
    max_tensor_bytes: Optional[int] = None,
    allow_unsafe_pickle: bool = False,
) -> pyarrow.Table:
    """Analyze every tensor of the models under ``paths`` (files or directories, searched
    recursively), as ``weightlens analyze`` does.

    Returns a ``pyarrow.Table`` with the columns, types and order of the Parquet output, handed
    over through the Arrow C data interface without a copy; ``.to_pandas()`` gives a DataFrame.
    The run metadata (``run_meta.json``) is in the schema metadata under :data:`RUN_META_KEY`:
    read it with :func:`run_meta`, and what failed with :func:`errors`. A tensor or file that
    fails costs its rows, not the run; only when no row at all could be made is the first error
    raised (a :class:`WeightlensError` subclass).

    - ``rank``: ``exact`` (f64 singular values), ``approx``, ``auto`` or ``none``.
    - ``spectral``: add the spectral columns (``--spectral``: sigma_max, stable_rank, alpha and
      the rest of WeightWatcher's metrics, docs/output-spec.md); ``"full"`` also adds the seeded
      ``rand_distance`` (``--spectral=full``).
    - ``conv``: with ``spectral``, 4-D convolution weights as the reshaped matrix
      (``"reshape"``) or as WeightWatcher's pooled per-position slices (``"ww"``, ``--conv ww``).
    - ``filter``: only tensors whose name matches this regular expression.
    - ``zero_eps``: ``abs(x) <= zero_eps`` counts as zero for ``sparsity``.
    - ``threads``: worker threads (default: all cores).
    - ``split_experts``: one row per expert of fused 3-D expert tensors, and ``expert_index``.
    - ``shard``: ``(k, n)`` analyzes shard k (0-based) of n; concatenating the n tables gives
      the rows of one run (sort them as docs/output-spec.md says, or use ``weightlens merge``).
    - ``plugins``: analyzer or reader plugin libraries (``WEIGHTLENS_PLUGIN_PATH`` is read too).
    - ``model_id`` / ``revision``: the values of those columns.
    - ``progress``: ``True`` shows a tqdm bar when tqdm is installed; a callable is called as
      ``progress(tensors_done, tensors_total, bytes_done, bytes_total)`` about ten times a second.
    - ``max_memory``: bytes of working memory for ranks and spectra (default: half the RAM).
    - ``max_tensor_bytes``: largest tensor copied into memory to be read.
    - ``allow_unsafe_pickle``: read pickles that reference dangerous globals (nothing is run).

    The GIL is released while the models are read and analyzed; Ctrl-C (``KeyboardInterrupt``)
    stops the run.
    """

def run_meta(table: pyarrow.Table) -> dict[str, Any]:
    """The run metadata of a table from :func:`analyze` (``run_meta.json``) or :func:`diff`."""

def errors(table: pyarrow.Table) -> list[dict[str, Any]]:
    """What failed in the run of ``table``: one dict (``file``, ``tensor``, ``message``) per
    error, as ``run_meta.json`` lists them."""

def diff(
    a: PathLike,
    b: PathLike,
    *,
    rank: Literal["exact", "approx", "auto", "none"] = "exact",
    filter: Optional[str] = None,
    map: Optional[PathLike] = None,
    imatrix: Optional[PathLike] = None,
    threads: Optional[int] = None,
    max_memory: Optional[int] = None,
    max_tensor_bytes: Optional[int] = None,
    progress: Union[None, bool, ProgressCallback] = None,
) -> pyarrow.Table:
    """Compare the tensors of model ``a`` with those of model ``b`` (``weightlens diff``): a
    ``pyarrow.Table`` with one row per matched pair or unmatched tensor, its metadata under
    :data:`DIFF_META_KEY` (see :func:`run_meta`). ``map`` is a file of extra name pairs;
    ``imatrix`` a llama.cpp importance matrix (GGUF or legacy ``.dat``) that fills
    ``imatrix_rel_l2`` and ``imatrix_snr_db``."""

def ls(
    path: Union[PathLike, Iterable[PathLike]], *, raw: bool = False, plugins: Sequence[PathLike] = ()
) -> list[dict[str, Any]]:
    """The tensors of every model under ``path`` from their headers only (no tensor data is
    read): one dict per tensor with ``name``, ``dtype``, ``shape``, ``bytes``, ``file``,
    ``model``, ``framework`` (and ``quant_scheme``, ``components`` for quantized weights;
    ``raw=True`` lists the stored components instead)."""

def scan(path: Union[PathLike, Iterable[PathLike]]) -> list[dict[str, Any]]:
    """Is each file under ``path`` safe to hand to ``torch.load`` / ``pickle.load``? One dict
    per file (``path``, ``format``, ``verdict``: safe, unknown, malformed or dangerous, and the
    ``findings`` that decided it), as ``weightlens scan --format json``. Nothing is executed."""

def download(
    repo_id: str,
    *,
    revision: Optional[str] = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    local_dir: Optional[PathLike] = None,
    mirrors: Sequence[str] = (),
) -> str:
    """Download a Hugging Face model (by default its weights, their index files and
    config.json; ``include`` / ``exclude`` are globs) into the hub cache, or ``local_dir``,
    verifying each file; returns the folder holding the files. Reads ``HF_ENDPOINT``,
    ``HF_TOKEN``, ``HF_HOME`` and ``HF_HUB_OFFLINE``."""

def open(
    path: PathLike,
    *,
    max_tensor_bytes: Optional[int] = None,
    allow_unsafe_pickle: bool = False,
    plugins: Sequence[PathLike] = (),
) -> Model:
    """Open one model lazily (like ``safetensors.safe_open``): headers are parsed, tensor data
    is read only by :meth:`Model.get`. Usable as a context manager."""

class Model:
    """A model opened by :func:`open`."""

    @property
    def path(self) -> str:
        """The path naming the model."""
    @property
    def framework(self) -> str:
        """The container format (``safetensors``, ``gguf``, ``pytorch``, ``numpy``, ``onnx``...)."""
    def keys(self) -> list[str]:
        """The tensor names, in the order of the file."""
    def info(self, name: str) -> dict[str, Any]:
        """What the header says about tensor ``name``: ``dtype``, ``shape``, ``bytes``, ``file``."""
    def get(self, name: str) -> numpy.ndarray:
        """Tensor ``name`` as a numpy array, with the values ``weightlens dump`` writes: float32
        for float and quantized types, float64 for F64, integers and bool as stored. Where the
        stored bytes already are that (little-endian, not compressed), the array is a read-only
        view of the memory map (no copy); otherwise it is decoded into a new array."""
    def metadata(self) -> dict[str, Any]:
        """Format metadata (architecture, counts...)."""
    def close(self) -> None:
        """Release the model; arrays already returned stay valid."""
    def __enter__(self) -> Model: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str) -> bool: ...

class WeightlensError(Exception):
    """Base class of every error weightlens raises."""

class UnknownFormatError(WeightlensError):
    """A file whose format weightlens does not recognise."""

class MalformedError(WeightlensError):
    """A file that is not valid in its format (truncated, inconsistent header...)."""

class RefusedPickleError(WeightlensError):
    """A file weightlens refuses to read: a pickle referencing dangerous globals (``os.system``,
    ``eval``...) or a NumPy object array. ``allow_unsafe_pickle=True`` reads such pickles."""

class TensorError(WeightlensError):
    """One tensor could not be read, decoded or analyzed."""

class WeightlensIOError(WeightlensError):
    """A file could not be read or written (OS error)."""

class NoSuchTensorError(WeightlensError):
    """No tensor of that name in the model."""

class HubError(WeightlensError):
    """The Hugging Face hub (or its cache) could not provide the model."""
