//! Bare pickle files (`pickle.dump` of numpy arrays or torch tensors in dicts and lists).

use std::path::Path;

use weightlens_core::{FormatReader, Identify, OpenOptions, Result, TensorSource};

use crate::bare_pickle::PickleSource;
use crate::detect::Format;

/// Reads plain pickle streams, never executing them.
#[derive(Debug)]
pub struct PickleReader;

impl FormatReader for PickleReader {
    fn id(&self) -> &str {
        "pkl"
    }
    fn name(&self) -> &str {
        "bare pickle (numpy arrays, torch tensors)"
    }
    fn extensions(&self) -> &[&str] {
        &["pkl", "pickle", "sav", "joblib"]
    }
    fn magic(&self) -> &str {
        "a pickle opcode stream that parses (protocols 0-5)"
    }
    fn identify(&self, head: &[u8], _path: &Path) -> Identify {
        super::identify_as(head, &[Format::Pickle])
    }
    fn open(&self, path: &Path, options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
        Ok(Box::new(PickleSource::open(path, options.max_tensor_bytes, options.allow_unsafe_pickle)?))
    }
}
