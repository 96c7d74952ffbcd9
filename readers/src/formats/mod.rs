//! The built-in [`FormatReader`]s, one module each, all registered in [`builtin`].
//!
//! Each module is a thin adapter: identification from [`crate::detect()`]'s magic table (the one
//! place that tells the built-in formats apart, e.g. a torch zip from an npz), and `open` calling
//! the format's own source type.

mod gguf;
mod imatrix;
mod index;
mod numpy;
mod onnx;
mod pickle;
mod pytorch;
mod safetensors;

use std::path::Path;

use weightlens_core::{FormatReader, Identify};

use crate::detect::{detect, Format};

/// The built-in readers, in the order `weightlens formats` lists them. Adding a built-in format
/// is one module above plus one line here.
pub fn builtin() -> Vec<Box<dyn FormatReader>> {
    vec![
        Box::new(safetensors::SafetensorsReader),
        Box::new(index::ShardIndexReader),
        Box::new(pytorch::PyTorchReader),
        Box::new(pickle::PickleReader),
        Box::new(gguf::GgufReader),
        Box::new(numpy::NpyReader),
        Box::new(numpy::NpzReader),
        Box::new(onnx::OnnxReader),
        Box::new(imatrix::ImatrixDatReader),
    ]
}

/// The identifier of the sharded-checkpoint index reader (its members are the shards).
pub const SHARD_INDEX_ID: &str = "shard-index";

/// `Yes` when the built-in magic table recognises `head` as one of `formats`. A zip archive is
/// told apart by its central directory (as torch and numpy read it), not by its first member:
/// only then is the file at `path` mapped, and only by readers of a zip-based format (a zip is
/// never one of the others, so they answer `No` without reading its directory again).
fn identify_as(head: &[u8], path: &Path, formats: &[Format]) -> Identify {
    if head.starts_with(b"PK\x03\x04") {
        const ZIP_FORMATS: [Format; 3] = [Format::TorchZip, Format::TorchScript, Format::Npz];
        if !formats.iter().any(|f| ZIP_FORMATS.contains(f)) {
            return Identify::No;
        }
        return match crate::detect::detect_file(path) {
            Ok(found) if formats.contains(&found) => Identify::Yes,
            _ => Identify::No,
        };
    }
    match detect(head) {
        Ok(found) if formats.contains(&found) => Identify::Yes,
        _ => Identify::No,
    }
}

/// The file's length, or `None` when it cannot be read (identification then stays cautious).
fn file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}
