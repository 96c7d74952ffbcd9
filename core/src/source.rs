//! The [`TensorSource`] trait: one model (a file, or a sharded/split set of files).

use std::path::Path;

use crate::error::Result;
use crate::tensor::{TensorInfo, TensorView};

/// The container format a tensor came from (the `framework` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Framework {
    /// safetensors, single or sharded.
    Safetensors,
    /// PyTorch pickle checkpoints (zip or legacy).
    PyTorch,
    /// GGUF (llama.cpp), single or split.
    Gguf,
    /// A numpy `.npz` archive.
    Npz,
    /// A bare numpy `.npy` file.
    Npy,
    /// A bare pickle file (numpy arrays in dicts and lists).
    Pickle,
}

impl Framework {
    /// The value of the `framework` column (`safetensors`, `pt`, `gguf`, `npz`, `npy`, `pkl`).
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Safetensors => "safetensors",
            Framework::PyTorch => "pt",
            Framework::Gguf => "gguf",
            Framework::Npz => "npz",
            Framework::Npy => "npy",
            Framework::Pickle => "pkl",
        }
    }
}

impl std::fmt::Display for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
