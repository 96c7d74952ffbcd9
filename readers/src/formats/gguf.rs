//! GGUF (llama.cpp), single files and `gguf-split` parts.

use std::path::{Path, PathBuf};

use weightlens_core::{FormatReader, Identify, OpenOptions, Result, TensorSource};

use crate::detect::Format;
use crate::gguf::GgufSource;
use crate::imatrix;

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
    fn identify(&self, head: &[u8], path: &Path) -> Identify {
        super::identify_as(head, path, &[Format::Gguf])
    }
    fn open(&self, path: &Path, _options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
        let source = GgufSource::open(path)?;
        // llama-imatrix's output is a GGUF too: served as its importance values, one row per
        // weight, rather than as the raw in_sum2/counts tensors.
        if imatrix::is_imatrix_gguf(&source) {
            let matrix = imatrix::from_gguf(&source)?;
            let meta = source.metadata().get("metadata").cloned();
            return Ok(Box::new(imatrix::ImatrixSource::new(matrix, meta)));
        }
        Ok(Box::new(source))
    }
    fn lead_file(&self, path: &Path) -> Option<PathBuf> {
        crate::discover::split_part(path).filter(|(_, k)| *k > 1).map(|(first, _)| first)
    }
}
