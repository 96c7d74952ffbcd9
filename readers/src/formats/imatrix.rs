//! llama.cpp's legacy `.dat` importance matrix (the GGUF one is a GGUF: [`super::gguf`]).

use std::path::Path;

use weightlens_core::{FormatReader, Identify, OpenOptions, Result, TensorSource};

use crate::imatrix::{could_be_dat, parse_dat, ImatrixSource};
use crate::mmap::MappedFile;

/// Reads legacy `.dat` imatrix files. They have no magic: a file is one only when the whole
/// structure parses exactly to its end (checked in `identify`, after a look at the first bytes).
#[derive(Debug)]
pub struct ImatrixDatReader;

impl FormatReader for ImatrixDatReader {
    fn id(&self) -> &str {
        "imatrix-dat"
    }
    fn name(&self) -> &str {
        "llama.cpp imatrix (legacy .dat)"
    }
    fn extensions(&self) -> &[&str] {
        &["dat"]
    }
    fn magic(&self) -> &str {
        "none: the whole file parses as n_entries, entries, optional trailer"
    }
    fn identify(&self, head: &[u8], path: &Path) -> Identify {
        if !could_be_dat(head) {
            return Identify::No;
        }
        match MappedFile::open(path).and_then(|f| parse_dat(f.bytes(), path).map(|_| ())) {
            Ok(()) => Identify::Yes,
            Err(_) => Identify::No,
        }
    }
    fn open(&self, path: &Path, _options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
        let file = MappedFile::open(path)?;
        Ok(Box::new(ImatrixSource::new(parse_dat(file.bytes(), path)?, None)))
    }
}
