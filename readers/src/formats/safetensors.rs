//! safetensors (single files; sharded checkpoints go through [`super::index`]).

use std::path::Path;

use weightlens_core::{FormatReader, Identify, OpenOptions, Result, TensorSource};

use crate::detect::Format;
use crate::safetensors::SafetensorsSource;

/// Reads `.safetensors` files.
#[derive(Debug)]
pub struct SafetensorsReader;

impl FormatReader for SafetensorsReader {
    fn id(&self) -> &str {
        "safetensors"
    }
    fn name(&self) -> &str {
        "safetensors"
    }
    fn extensions(&self) -> &[&str] {
        &["safetensors"]
    }
    fn magic(&self) -> &str {
        "u64 LE header length, then a JSON object ('{' at byte 8)"
    }
    /// `{` at byte 8 is a weak signature: it is only a `Yes` when the header length before it
    /// fits in the file, so that a format with a real signature wins over it.
    fn identify(&self, head: &[u8], path: &Path) -> Identify {
        if super::identify_as(head, &[Format::Safetensors]) == Identify::No {
            return Identify::No;
        }
        let declared = head.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
        match (declared, super::file_len(path)) {
            (Some(n), Some(len)) if n <= len.saturating_sub(8) => Identify::Yes,
            _ => Identify::Maybe,
        }
    }
    fn open(&self, path: &Path, _options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
        Ok(Box::new(SafetensorsSource::open(path)?))
    }
}
