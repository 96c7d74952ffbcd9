//! The [`TensorSource`] trait: one model (a file, or a sharded/split set of files).

use std::path::Path;

use crate::error::Result;
use crate::tensor::{TensorInfo, TensorView};

/// Which vocabulary a framework names dtypes in (SPEC.md: "the storage type as the file names it").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DtypeNames {
    /// safetensors' spelling (`F32`, `BF16`, `F8_E4M3`), shared by GGUF.
    Safetensors,
    /// torch's spelling, which is also numpy's (`float32`, `bfloat16`).
    Torch,
    /// ONNX `TensorProto.DataType` names (`FLOAT`, `FLOAT16`, `BFLOAT16`, `INT8`).
    Onnx,
}

/// The container format a tensor came from (the `framework` column): an open identifier that
/// each reader declares, plus the vocabulary its dtype names follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Framework {
    id: &'static str,
    dtype_names: DtypeNames,
}

impl Framework {
    /// safetensors, single or sharded.
    pub const SAFETENSORS: Framework = Framework::new("safetensors", DtypeNames::Safetensors);
    /// PyTorch pickle checkpoints (zip or legacy).
    pub const PYTORCH: Framework = Framework::new("pt", DtypeNames::Torch);
    /// GGUF (llama.cpp), single or split.
    pub const GGUF: Framework = Framework::new("gguf", DtypeNames::Safetensors);
    /// A numpy `.npz` archive.
    pub const NPZ: Framework = Framework::new("npz", DtypeNames::Torch);
    /// A bare numpy `.npy` file.
    pub const NPY: Framework = Framework::new("npy", DtypeNames::Torch);
    /// An ONNX model (`.onnx`).
    pub const ONNX: Framework = Framework::new("onnx", DtypeNames::Onnx);
    /// A bare pickle file (numpy arrays or torch tensors in dicts and lists).
    pub const PICKLE: Framework = Framework::new("pkl", DtypeNames::Torch);

    /// A framework named `id` (the `framework` column value) whose dtypes are named in `dtype_names`.
    pub const fn new(id: &'static str, dtype_names: DtypeNames) -> Self {
        Framework { id, dtype_names }
    }

    /// The value of the `framework` column (`safetensors`, `pt`, `gguf`, `npz`, `npy`, `onnx`, ...).
    pub fn as_str(self) -> &'static str {
        self.id
    }

    /// The vocabulary of its dtype names.
    pub fn dtype_names(self) -> DtypeNames {
        self.dtype_names
    }
}

impl std::fmt::Display for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

/// How a logical tensor of a quantized checkpoint is stored (the `quant_scheme` ... columns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantFacts {
    /// The scheme (`gptq`, `awq-gemm`, `bnb-nf4`, `fp8-block`, `mxfp4`, ...); for a tensor
    /// whose packing is not recognised, the guess that made it look packed.
    pub scheme: String,
    /// Bits per stored code, when the scheme has one width.
    pub bits: Option<u32>,
    /// Elements sharing one scale, when the scheme groups them.
    pub group_size: Option<u64>,
    /// Bytes of all stored components.
    pub stored_bytes: u64,
    /// The stored tensors making up this one, the packed one first.
    pub components: Vec<String>,
    /// Why the tensor cannot be dequantized (it gets no statistics), if so.
    pub problem: Option<String>,
}

/// One model opened for reading.
///
/// Opening parses headers only; [`TensorSource::tensors`] is cheap. Tensor data is touched only
/// by [`TensorSource::view`], which borrows from the source (zero-copy from a memory map where the
/// bytes are plain and contiguous).
pub trait TensorSource: Send + Sync + std::fmt::Debug {
    /// The container format.
    fn framework(&self) -> Framework;

    /// The path that names the model: the file, or the index file / first part of a sharded model.
    fn path(&self) -> &Path;

    /// Every tensor of the model, each once, in the order of the source.
    fn tensors(&self) -> &[TensorInfo];

    /// A view of the tensor at `index` in [`TensorSource::tensors`]. Errors concern that tensor
    /// only ([`crate::Error::Tensor`]), unless the whole file became unreadable.
    fn view(&self, index: usize) -> Result<TensorView<'_>>;

    /// Tells the source that `bytes`, taken from a view of the tensor at `index`, will not be
    /// read again soon: a memory-mapped source drops their pages from the process's resident
    /// memory (they are faulted in again if read). Does nothing by default and for bytes the
    /// source does not map.
    fn release(&self, index: usize, bytes: &[u8]) {
        let _ = (index, bytes);
    }

    /// The stored tensors when [`TensorSource::tensors`] lists logical ones (components of a
    /// quantized weight grouped into one); the same list otherwise.
    fn raw_tensors(&self) -> &[TensorInfo] {
        self.tensors()
    }

    /// How the tensor at `index` is quantized, if it is (or looks) quantized.
    fn quant(&self, index: usize) -> Option<&QuantFacts> {
        let _ = index;
        None
    }

    /// Format metadata worth showing (`ls --json`, `run_meta.json`): architecture, counts, ...
    fn metadata(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Non-fatal findings made while opening (e.g. unknown pickle classes treated as opaque).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}
