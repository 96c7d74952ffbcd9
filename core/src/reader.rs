//! The [`FormatReader`] trait: one container format, as the reader registry sees it.
//!
//! Modelled on GDAL's driver registry: every reader says what it reads (extensions, magic),
//! answers a three-way [`Identify`] for a file's first bytes, and opens the file as a
//! [`TensorSource`]. Built-in readers live in `weightlens-readers`, plugin readers are loaded at
//! run time; both are asked the same questions.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::source::TensorSource;

/// The largest tensor (in bytes) that is copied, inflated or reordered into memory by default:
/// 4 GiB, above the largest single tensor of common checkpoints stored that way, and far below
/// what a decompression bomb claims. Memory-mapped tensors are not subject to it.
pub const DEFAULT_MAX_TENSOR_BYTES: u64 = 4 << 30;

/// Options for opening a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// Tensors needing more than this many bytes of memory (to inflate or reorder) are errors.
    pub max_tensor_bytes: u64,
    /// Read tensors out of pickles that reference dangerous globals (nothing is executed;
    /// off by default: such files are refused).
    pub allow_unsafe_pickle: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { max_tensor_bytes: DEFAULT_MAX_TENSOR_BYTES, allow_unsafe_pickle: false }
    }
}

/// How sure a reader is that it reads a file. Ordered: `No < Maybe < Yes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Identify {
    /// Not this format.
    No,
    /// Could be this format (a weak signature, e.g. a generic container or a matching extension
    /// only); opened when no reader is sure.
    Maybe,
    /// A signature only this format has.
    Yes,
}

/// A reader of one container format.
pub trait FormatReader: Send + Sync {
    /// The stable identifier, which is also the `framework` column value of what it opens
    /// (`safetensors`, `pt`, `gguf`, `onnx`, ...).
    fn id(&self) -> &str;

    /// A human name (`GGUF (llama.cpp)`).
    fn name(&self) -> &str;

    /// File extensions (lower case, no dot) of files that are expected to be this format: such a
    /// file that no reader recognises is reported as an error instead of being skipped.
    fn extensions(&self) -> &[&str];

    /// What the reader looks for at the start of a file, for `weightlens formats`.
    fn magic(&self) -> &str;

    /// Whether the file at `path`, whose first bytes are `head` (up to 4096), is this format.
    /// Must not panic on any bytes; may read the file only when `head` is not enough.
    fn identify(&self, head: &[u8], path: &Path) -> Identify;

    /// Opens the file as a model. Parses headers only; tensor data is read by the source.
    fn open(&self, path: &Path, options: &OpenOptions) -> Result<Box<dyn TensorSource>>;

    /// Other files read as part of the model named by `path` (the shards listed by an index,
    /// external data files): a directory walk does not report them as models of their own.
    fn members(&self, _path: &Path) -> Vec<PathBuf> {
        Vec::new()
    }

    /// For a file that is a later part of a split model, the file that names the model (part 1);
    /// a directory walk drops the part when that file is present.
    fn lead_file(&self, _path: &Path) -> Option<PathBuf> {
        None
    }
}

impl std::fmt::Debug for dyn FormatReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormatReader").field("id", &self.id()).finish()
    }
}
