//! Atomic file output: write to a hidden temporary file in the destination's directory, rename
//! it over the destination on commit. Dropping without commit removes the temporary file.
//!
//! Temporary files not yet committed are also listed in a process-wide registry, so that the
//! signal handler ([`crate::signals`]) can remove them before the process exits: destructors do
//! not run on `exit`, and an interrupted run must leave either the previous output or nothing.

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tempfile::NamedTempFile;
use weightlens_core::{Error, Result};

/// Temporary files created and not yet committed or dropped.
static PENDING: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn pending() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    // A panic while the lock was held leaves a set that is still usable.
    PENDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes every temporary file not yet committed and keeps the registry locked for good, so
/// that no commit (rename) can start afterwards: for a process that is about to exit. A commit
/// in progress finishes first (it holds the lock), leaving the complete new output.
pub fn remove_pending_for_exit() -> usize {
    let guard = pending();
    for path in guard.iter() {
        let _ = std::fs::remove_file(path);
    }
    let removed = guard.len();
    std::mem::forget(guard);
    removed
}

/// A file that appears under its final name only when committed.
#[derive(Debug)]
pub struct AtomicFile {
    dest: PathBuf,
    /// `None` once committed.
    tmp: Option<NamedTempFile>,
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
        let mut registry = pending();
        let tmp = builder.tempfile_in(&dir).map_err(|e| Error::io(&dir, e))?;
        registry.insert(tmp.path().to_path_buf());
        Ok(AtomicFile { dest: dest.to_path_buf(), tmp: Some(tmp) })
    }

    fn tmp(&self) -> Result<&NamedTempFile> {
        self.tmp.as_ref().ok_or_else(|| Error::Output { path: self.dest.clone(), message: "already committed".into() })
    }

    /// The final path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// A buffered writer over the temporary file.
    pub fn writer(&self) -> Result<BufWriter<std::fs::File>> {
        let tmp = self.tmp()?;
        let f = tmp.as_file().try_clone().map_err(|e| Error::io(tmp.path(), e))?;
        Ok(BufWriter::with_capacity(1 << 16, f))
    }

    /// Flushes to disk and renames into place.
    pub fn commit(mut self) -> Result<()> {
        let tmp = self.tmp()?;
        tmp.as_file().sync_all().map_err(|e| Error::io(tmp.path(), e))?;
        // The rename happens under the registry lock: a signal arriving now waits for it.
        let mut registry = pending();
        let Some(tmp) = self.tmp.take() else {
            return Err(Error::Output { path: self.dest.clone(), message: "already committed".into() });
        };
        registry.remove(tmp.path());
        tmp.persist(&self.dest).map_err(|e| Error::io(&self.dest, e.error))?;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // NamedTempFile removes the file itself; only the registry entry is left to forget.
        if let Some(tmp) = &self.tmp {
            pending().remove(tmp.path());
        }
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
