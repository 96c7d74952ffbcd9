//! GGUF (llama.cpp), single files and `gguf-split` parts.

use std::path::{Path, PathBuf};

use weightlens_core::{FormatReader, Identify, OpenOptions, Result, TensorSource};

use crate::detect::Format;
use crate::gguf::GgufSource;

/// Reads `.gguf` files; part 1 of a split model reads all parts.
#[derive(Debug)]
pub struct GgufReader;

impl FormatReader for GgufReader {
    fn id(&self) -> &str {
        "gguf"
    }
    fn name(&self) -> &str {
        "GGUF (llama.cpp)"
    }
    fn extensions(&self) -> &[&str] {
        &["gguf"]
    }
    fn magic(&self) -> &str {
        "GGUF"
    }
    fn identify(&self, head: &[u8], _path: &Path) -> Identify {
        super::identify_as(head, &[Format::Gguf])
    }
    fn open(&self, path: &Path, _options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
        Ok(Box::new(GgufSource::open(path)?))
    }
    fn lead_file(&self, path: &Path) -> Option<PathBuf> {
        crate::discover::split_part(path).filter(|(_, k)| *k > 1).map(|(first, _)| first)
    }
}
