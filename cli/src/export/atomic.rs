//! Atomic file output: write to a hidden temporary file in the destination's directory, rename
//! it over the destination on commit. Dropping without commit removes the temporary file.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;
use weightlens_core::{Error, Result};

/// A file that appears under its final name only when committed.
#[derive(Debug)]
pub struct AtomicFile {
    dest: PathBuf,
    tmp: NamedTempFile,
}

impl AtomicFile {
    /// Prepares `dest` (creating its directory).
    pub fn create(dest: &Path) -> Result<Self> {
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // Tables are ordinary output files: readable by others like any file the user writes
        // (tempfile's default of 0600 is meant for secrets).
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        let tmp = builder.tempfile_in(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(AtomicFile { dest: dest.to_path_buf(), tmp })
    }

    /// The final path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// A buffered writer over the temporary file.
    pub fn writer(&self) -> Result<BufWriter<std::fs::File>> {
        let f = self.tmp.as_file().try_clone().map_err(|e| Error::io(self.tmp.path(), e))?;
        Ok(BufWriter::with_capacity(1 << 16, f))
    }

    /// Flushes to disk and renames into place.
    pub fn commit(self) -> Result<()> {
        self.tmp.as_file().sync_all().map_err(|e| Error::io(self.tmp.path(), e))?;
        self.tmp.persist(&self.dest).map_err(|e| Error::io(&self.dest, e.error))?;
        Ok(())
    }
}

/// Writes `bytes` to `dest` atomically.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let file = AtomicFile::create(dest)?;
    let mut w = file.writer()?;
    w.write_all(bytes).and_then(|_| w.flush()).map_err(|e| Error::io(dest, e))?;
    drop(w);
    file.commit()
}
