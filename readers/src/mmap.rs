//! [`MappedFile`]: the one type that owns a memory map of a model file.
//!
//! # Risk
//! A memory map is only as stable as the file under it. If another process truncates the file
//! while it is mapped, touching a page past the new end raises `SIGBUS` and kills the process;
//! no Rust code can catch that. Model files are normally immutable while analyzed, so weightlens
//! maps them (the alternative, reading multi-GB files into memory, is worse), and narrows the
//! window: [`MappedFile::slice`] re-checks the file's current length before it hands out the
//! bytes of a tensor, so a file that shrank before a tensor is read gives an error for that
//! tensor instead of a crash. A truncation during the read of one tensor cannot be guarded.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;
use weightlens_core::{Error, Result};

/// A read-only memory map of a whole file.
#[derive(Debug)]
pub struct MappedFile {
    path: Arc<Path>,
    file: File,
    map: Option<Mmap>,
}

impl MappedFile {
    /// Maps `path` read-only. An empty file maps to an empty slice.
    pub fn open(path: &Path) -> Result<Self> {
        crate::detect::ensure_regular_file(path)?;
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the map is read-only and private to this type; see the module docs for
            // the truncation risk and how `slice` narrows it.
            Some(unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?)
        };
        Ok(MappedFile { path: Arc::from(path), file, map })
    }

    /// The file's path.
    pub fn path(&self) -> &Arc<Path> {
        &self.path
    }

    /// The whole mapped file (as long as it was when mapped).
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// The length of the mapping.
    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// The bytes `offset .. offset + len`, after checking the range against the mapping and
    /// against the file's current length (a file truncated since it was mapped is an error here,
    /// not a `SIGBUS` later). `tensor` names the tensor in error messages.
    pub fn slice(&self, offset: u64, len: u64, tensor: &str) -> Result<&[u8]> {
        let end = offset.checked_add(len);
        let range = end
            .filter(|&e| e <= self.len())
            .and_then(|e| Some(usize::try_from(offset).ok()?..usize::try_from(e).ok()?));
        let Some(range) = range else {
            return Err(Error::tensor(
                self.path.as_ref(),
                tensor,
                format!("data range {offset}+{len} lies outside the file ({} bytes)", self.len()),
            ));
        };
        let now = self.file.metadata().map_err(|e| Error::io(self.path.as_ref(), e))?.len();
        if now < self.len() {
            return Err(Error::tensor(
                self.path.as_ref(),
                tensor,
                format!("file shrank from {} to {now} bytes while it was being read", self.len()),
            ));
        }
        Ok(&self.bytes()[range])
    }

    /// Drops the pages under `bytes` from this process's resident memory when `bytes` lies
    /// inside this mapping (returns whether it did); other slices are left alone. The file
    /// stays in the page cache: a later read of the same bytes faults the pages in again, with
    /// the same content. For a finished tensor, so that a run's resident memory is the tensors
    /// in flight, not every tensor read so far. Pages shared with a neighbouring tensor are
    /// dropped too and simply read again if that tensor still needs them.
    pub fn release(&self, bytes: &[u8]) -> bool {
        let Some(map) = &self.map else { return false };
        let start = (bytes.as_ptr() as usize).wrapping_sub(map.as_ptr() as usize);
        let inside = bytes.as_ptr() >= map.as_ptr() && start.checked_add(bytes.len()).is_some_and(|e| e <= map.len());
        if !inside || bytes.is_empty() {
            return false;
        }
        #[cfg(unix)]
        {
            // SAFETY: the map is a read-only mapping of a file nobody writes (module docs), so
            // MADV_DONTNEED only unmaps clean pages: any access, also through slices borrowed
            // now, faults them in again from the file with identical bytes. The range lies
            // inside the map (checked above).
            let done = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, bytes.len()) };
            if let Err(e) = done {
                tracing::debug!("{}: madvise(DONTNEED) failed: {e}", self.path.display());
                return false;
            }
            true
        }
        #[cfg(not(unix))]
        false
    }
}

/// A shared [`MappedFile`] as the owner of a `bytes::Bytes` (`Bytes::from_owner`), so that a
/// decoder producing `Bytes` fields (prost) slices the map instead of copying it.
#[derive(Debug, Clone)]
pub struct SharedMap(pub std::sync::Arc<MappedFile>);

impl AsRef<[u8]> for SharedMap {
    fn as_ref(&self) -> &[u8] {
        self.0.bytes()
    }
}
