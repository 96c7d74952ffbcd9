//! ONNX (`.onnx`), through [`crate::onnx`].

use std::path::{Path, PathBuf};

use weightlens_core::{FormatReader, Identify, OpenOptions, Result, TensorSource};

use crate::onnx::{external_files, looks_like_model, OnnxSource};

/// Reads ONNX models and their external data.
#[derive(Debug)]
pub struct OnnxReader;

impl FormatReader for OnnxReader {
    fn id(&self) -> &str {
        "onnx"
    }
    fn name(&self) -> &str {
        "ONNX (initializers, Constant nodes, subgraphs, external data)"
    }
    fn extensions(&self) -> &[&str] {
        &["onnx"]
    }
    fn magic(&self) -> &str {
        "none (protobuf): ir_version (field 1) first, then another ModelProto field"
    }
    /// Protobuf has no magic: the start of a `ModelProto` is only a `Yes` with the `.onnx`
    /// extension.
    fn identify(&self, head: &[u8], path: &Path) -> Identify {
        if !looks_like_model(head) {
            return Identify::No;
        }
        let onnx_ext = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
        if onnx_ext {
            Identify::Yes
        } else {
            Identify::Maybe
        }
    }
    fn open(&self, path: &Path, options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
        Ok(Box::new(OnnxSource::open_with(path, options)?))
    }
    fn members(&self, path: &Path) -> Vec<PathBuf> {
        external_files(path)
    }
}
