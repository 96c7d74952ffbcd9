//! PyTorch checkpoints (zip and legacy; sharded ones go through [`super::index`]).

use std::path::Path;

use weightlens_core::{FormatReader, Identify, OpenOptions, Result, TensorSource};

use crate::detect::Format;
use crate::pytorch::TorchSource;

/// Reads `torch.save` checkpoints.
#[derive(Debug)]
pub struct PyTorchReader;

impl FormatReader for PyTorchReader {
    fn id(&self) -> &str {
        "pt"
    }
    fn name(&self) -> &str {
        "PyTorch (zip, legacy pickle, TorchScript)"
    }
    fn extensions(&self) -> &[&str] {
        &["bin", "pt", "pth", "ckpt", "pts"]
    }
    fn magic(&self) -> &str {
        "zip whose central directory holds <prefix>/data.pkl (TorchScript: beside constants.pkl or code/), or pickle protocol 2 with torch's magic number"
    }
    fn identify(&self, head: &[u8], _path: &Path) -> Identify {
        super::identify_as(head, &[Format::TorchZip, Format::TorchLegacy, Format::TorchScript])
    }
    fn open(&self, path: &Path, options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
        Ok(Box::new(TorchSource::open_with(path, options)?))
    }
}
