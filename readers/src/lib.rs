//! weightlens readers: open model files of every supported format as [`TensorSource`]s.
//!
//! - [`ReaderRegistry`] holds every [`FormatReader`] (built-in, and plugins added at run time)
//!   and detects a file's format by asking each reader about its first bytes;
//! - [`detect()`] is the built-in readers' magic table;
//! - [`discover()`] walks the user's paths and groups sharded/split checkpoints into one model each;
//! - [`open_model`] opens one discovered model.
//!
//! Every parser takes the file's bytes as hostile: lengths and counts are validated against the
//! bytes that are actually there before anything is allocated, and malformed input is an
//! [`Error`], never a panic.

pub mod bare_pickle;
pub mod config;
pub mod detect;
pub mod discover;
mod formats;
pub mod gguf;
pub mod imatrix;
pub mod index;
pub mod limits;
pub mod mmap;
pub mod numpy;
pub mod onnx;
pub mod pytorch;
pub mod registry;
pub mod safetensors;
pub mod safety;
pub mod zipdir;

use std::path::Path;

pub use detect::{detect, detect_file, DetectError, Format};
pub use discover::{discover, discover_with, Discovery, ModelRef};
pub use formats::SHARD_INDEX_ID;
pub use limits::OpenOptions;
pub use registry::{ReaderRegistry, RegistryError};
pub use weightlens_core::{Error, FormatReader, Identify, Result, TensorSource};

/// Opens the model `model` found by [`discover()`] with the default [`OpenOptions`].
pub fn open_model(model: &ModelRef) -> Result<Box<dyn TensorSource>> {
    open_model_with(model, &OpenOptions::default())
}

/// Opens the model `model` found by [`discover()`] with `options`.
pub fn open_model_with(model: &ModelRef, options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
    tracing::debug!(path = %model.path.display(), reader = model.reader.id(), "opening");
    model.reader.open(&model.path, options)
}

/// Opens `path` with a built-in reader, detecting its format from its content.
pub fn open_path(path: &Path) -> Result<Box<dyn TensorSource>> {
    ReaderRegistry::builtin().open(path, &OpenOptions::default())
}
