//! weightlens readers: open model files of every supported format as [`TensorSource`]s.
//!
//! - [`detect()`] recognises a format from the first bytes of a file, never from its name;
//! - [`discover()`] walks the user's paths and groups sharded/split checkpoints into one model each;
//! - [`open_model`] opens one discovered model.
//!
//! Every parser takes the file's bytes as hostile: lengths and counts are validated against the
//! bytes that are actually there before anything is allocated, and malformed input is an
//! [`Error`], never a panic.

pub mod detect;
pub mod discover;
pub mod gguf;
pub mod index;
pub mod limits;
pub mod mmap;
pub mod numpy;
pub mod pytorch;
pub mod safetensors;

use std::path::Path;

pub use detect::{detect, detect_file, DetectError, Format};
pub use discover::{discover, Discovery, ModelRef};
pub use limits::OpenOptions;
pub use weightlens_core::{Error, Result, TensorSource};

/// Opens the model `model` found by [`discover()`] with the default [`OpenOptions`].
pub fn open_model(model: &ModelRef) -> Result<Box<dyn TensorSource>> {
    open_as(&model.path, model.format, &OpenOptions::default())
}

/// Opens the model `model` found by [`discover()`] with `options`.
pub fn open_model_with(model: &ModelRef, options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
    open_as(&model.path, model.format, options)
}

/// Opens `path`, detecting its format from its content.
pub fn open_path(path: &Path) -> Result<Box<dyn TensorSource>> {
    let format = detect_file(path)?;
    open_as(path, format, &OpenOptions::default())
}

fn open_as(path: &Path, format: Format, options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
    tracing::debug!(path = %path.display(), ?format, "opening");
    let limit = options.max_tensor_bytes;
    match format {
        Format::Safetensors => Ok(Box::new(safetensors::SafetensorsSource::open(path)?)),
        Format::TorchZip | Format::TorchLegacy => Ok(Box::new(pytorch::TorchSource::open_with_limit(path, limit)?)),
        Format::ShardIndex => open_index(path, limit),
        Format::Gguf => Ok(Box::new(gguf::GgufSource::open(path)?)),
        Format::Npy => Ok(Box::new(numpy::NpySource::open_with_limit(path, limit)?)),
        Format::Npz => Ok(Box::new(numpy::NpzSource::open_with_limit(path, limit)?)),
    }
}

/// Opens a sharded checkpoint through its index, in the format of its shards.
fn open_index(path: &Path, max_tensor_bytes: u64) -> Result<Box<dyn TensorSource>> {
    let index = index::ShardIndex::open(path)?;
    let Some(first) = index.shards.first() else {
        return Err(Error::malformed(path, None, "index lists no shards"));
    };
    match detect_file(first)? {
        Format::Safetensors => Ok(Box::new(safetensors::SafetensorsSource::open_index(path)?)),
        Format::TorchZip | Format::TorchLegacy => {
            Ok(Box::new(pytorch::TorchSource::open_index_with_limit(path, max_tensor_bytes)?))
        }
        other => Err(Error::UnknownFormat {
            path: path.to_path_buf(),
            reason: format!("shards of the {} format are not supported yet", other.name()),
        }),
    }
}
