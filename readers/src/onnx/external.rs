//! ONNX external data (`data_location = EXTERNAL`): `location` / `offset` / `length` entries,
//! resolved against the model's directory and memory-mapped. A location may not leave that
//! directory: absolute paths, `..` and symlinks pointing out of it are refused.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::mmap::MappedFile;

use super::proto::StringStringEntryProto;

/// Where one tensor's bytes lie in an external file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalRef {
    /// The `location` as written in the model.
    pub location: String,
    /// `offset` (0 when absent).
    pub offset: u64,
    /// `length` (`None`: to the end of the file).
    pub length: Option<u64>,
}

/// Reads the `external_data` entries of a tensor.
pub(crate) fn parse(entries: &[StringStringEntryProto]) -> Result<ExternalRef, String> {
    let get = |key: &str| entries.iter().rev().find(|e| e.key == key).map(|e| e.value.as_str());
    let number = |key: &str| -> Result<Option<u64>, String> {
        get(key)
            .map(|v| v.trim().parse::<u64>().map_err(|_| format!("external data {key} {v:?} is not a byte count")))
            .transpose()
    };
    let location = get("location").ok_or("external data without a location")?.to_string();
    Ok(ExternalRef { location, offset: number("offset")?.unwrap_or(0), length: number("length")? })
}

/// `location` resolved inside `dir` (the model's directory), or why it is refused.
pub(crate) fn resolve(dir: &Path, location: &str) -> Result<PathBuf, String> {
    let rel = Path::new(location);
    if location.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(format!(
            "refused: external data location {location:?} is not a plain relative path inside the model's directory"
        ));
    }
    let joined = dir.join(rel);
    let canonical_dir = dir.canonicalize().map_err(|e| format!("model directory: {e}"))?;
    let canonical = joined.canonicalize().map_err(|e| format!("external data {location:?}: {e}"))?;
    if !canonical.starts_with(&canonical_dir) {
        return Err(format!(
            "refused: external data location {location:?} resolves outside the model's directory (a symlink)"
        ));
    }
    Ok(canonical)
}

/// The external files of one model, each mapped once.
#[derive(Debug, Default)]
pub struct ExternalFiles {
    maps: HashMap<PathBuf, Arc<MappedFile>>,
}

impl ExternalFiles {
    /// The map of the (resolved, checked) file `path`.
    pub fn map(&mut self, path: &Path) -> Result<Arc<MappedFile>, String> {
        if let Some(m) = self.maps.get(path) {
            return Ok(Arc::clone(m));
        }
        let m = Arc::new(MappedFile::open(path).map_err(|e| e.to_string())?);
        self.maps.insert(path.to_path_buf(), Arc::clone(&m));
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_locations_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.bin"), [0u8; 8]).unwrap();
        assert!(resolve(dir.path(), "w.bin").is_ok());
        assert!(resolve(dir.path(), "./w.bin").is_ok());
        for bad in ["../w.bin", "/etc/passwd", "a/../../w.bin", ""] {
            assert!(resolve(dir.path(), bad).unwrap_err().contains("refused"), "{bad}");
        }
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), [1u8; 8]).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link.bin")).unwrap();
            assert!(resolve(dir.path(), "link.bin").unwrap_err().contains("outside"));
        }
        assert!(resolve(dir.path(), "missing.bin").unwrap_err().contains("missing.bin"));
    }

    #[test]
    fn entries_parse() {
        let e = |k: &str, v: &str| StringStringEntryProto { key: k.into(), value: v.into() };
        let r = parse(&[e("location", "w.bin"), e("offset", "4096"), e("length", "16")]).unwrap();
        assert_eq!(r, ExternalRef { location: "w.bin".into(), offset: 4096, length: Some(16) });
        assert!(parse(&[e("offset", "1")]).is_err());
        assert!(parse(&[e("location", "w"), e("length", "-1")]).is_err());
    }
}
