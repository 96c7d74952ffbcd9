//! NumPy `.npy` files and `.npz` archives.

use std::path::Path;

use weightlens_core::{FormatReader, Identify, OpenOptions, Result, TensorSource};

use crate::detect::Format;
use crate::numpy::{NpySource, NpzSource};

/// Reads `.npy` files.
#[derive(Debug)]
pub struct NpyReader;

impl FormatReader for NpyReader {
    fn id(&self) -> &str {
        "npy"
    }
    fn name(&self) -> &str {
        "NumPy .npy"
    }
    fn extensions(&self) -> &[&str] {
        &["npy"]
    }
    fn magic(&self) -> &str {
        "\\x93NUMPY"
    }
    fn identify(&self, head: &[u8], _path: &Path) -> Identify {
        super::identify_as(head, &[Format::Npy])
    }
    fn open(&self, path: &Path, options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
        Ok(Box::new(NpySource::open_with_limit(path, options.max_tensor_bytes)?))
    }
}

/// Reads `.npz` archives (zips of `.npy` members).
#[derive(Debug)]
pub struct NpzReader;

impl FormatReader for NpzReader {
    fn id(&self) -> &str {
        "npz"
    }
    fn name(&self) -> &str {
        "NumPy .npz"
    }
    fn extensions(&self) -> &[&str] {
        &["npz"]
    }
    fn magic(&self) -> &str {
        "zip whose first member is <name>.npy"
    }
    fn identify(&self, head: &[u8], _path: &Path) -> Identify {
        super::identify_as(head, &[Format::Npz])
    }
    fn open(&self, path: &Path, options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
        Ok(Box::new(NpzSource::open_with_limit(path, options.max_tensor_bytes)?))
    }
}
