//! [`ReaderRegistry`]: every [`FormatReader`] weightlens knows, built-in and plugin, and format
//! detection by asking each of them.

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use weightlens_core::{Error, FormatReader, Identify, OpenOptions, Result, TensorSource};

use crate::detect::{detect, ensure_regular_file, HEAD_LEN};

/// The readers, in registration order (built-ins first).
#[derive(Debug, Clone)]
pub struct ReaderRegistry {
    readers: Vec<Arc<dyn FormatReader>>,
}

impl ReaderRegistry {
    /// A registry of the built-in readers only.
    pub fn with_builtin() -> Self {
        ReaderRegistry { readers: crate::formats::builtin().into_iter().map(Arc::from).collect() }
    }

    /// The shared registry of built-in readers (what [`crate::discover()`] and
    /// [`crate::open_path`] use).
    pub fn builtin() -> &'static ReaderRegistry {
        static BUILTIN: OnceLock<ReaderRegistry> = OnceLock::new();
        BUILTIN.get_or_init(ReaderRegistry::with_builtin)
    }

    /// Adds a reader (e.g. one loaded from a plugin). A reader whose id is already taken is
    /// refused, so that the `framework` column stays unambiguous.
    pub fn register(&mut self, reader: Arc<dyn FormatReader>) -> std::result::Result<(), RegistryError> {
        if self.get(reader.id()).is_some() {
            return Err(RegistryError::DuplicateId(reader.id().to_string()));
        }
        self.readers.push(reader);
        Ok(())
    }

    /// Every reader, in registration order.
    pub fn readers(&self) -> &[Arc<dyn FormatReader>] {
        &self.readers
    }

    /// The reader with id `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn FormatReader>> {
        self.readers.iter().find(|r| r.id() == id)
    }

    /// True when some reader expects files with `path`'s extension (such a file that nobody
    /// recognises is an error rather than something to skip).
    pub fn claims_extension(&self, path: &Path) -> bool {
        let Some(ext) = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase) else {
            return false;
        };
        self.readers.iter().any(|r| r.extensions().contains(&ext.as_str()))
    }

    /// Picks the reader for the file at `path`: the one most confident of `Yes`/`Maybe`. A tie
    /// at the top is an error naming the contenders; a lone `Maybe` is opened, with a warning.
    pub fn detect_file(&self, path: &Path) -> Result<Arc<dyn FormatReader>> {
        ensure_regular_file(path)?;
        let mut head = Vec::with_capacity(HEAD_LEN);
        std::fs::File::open(path)
            .and_then(|f| f.take(HEAD_LEN as u64).read_to_end(&mut head))
            .map_err(|e| Error::io(path, e))?;
        self.detect(&head, path)
    }

    /// [`ReaderRegistry::detect_file`] for a head already read.
    pub fn detect(&self, head: &[u8], path: &Path) -> Result<Arc<dyn FormatReader>> {
        let answers: Vec<(Identify, &Arc<dyn FormatReader>)> =
            self.readers.iter().map(|r| (r.identify(head, path), r)).collect();
        let best = answers.iter().map(|(a, _)| *a).max().unwrap_or(Identify::No);
        let top: Vec<&Arc<dyn FormatReader>> = answers.iter().filter(|(a, _)| *a == best).map(|(_, r)| *r).collect();
        match (best, top.as_slice()) {
            (Identify::No, _) | (_, []) => {
                // The built-in magic table knows why nothing matched ("empty file", "a zip whose
                // first member is ...").
                if head.starts_with(b"PK\x03\x04") {
                    // A zip is judged by its central directory, which names what it holds.
                    crate::detect::detect_file(path)?;
                }
                let reason = detect(head).err().map_or_else(|| "no reader recognises it".into(), |e| e.to_string());
                Err(Error::UnknownFormat { path: path.to_path_buf(), reason })
            }
            (_, [one]) => {
                if best == Identify::Maybe {
                    tracing::info!(path = %path.display(), reader = one.id(), "only a weak signature matched; opening as {}", one.name());
                }
                Ok(Arc::clone(one))
            }
            (_, several) => {
                let names: Vec<String> = several.iter().map(|r| format!("{} ({})", r.id(), r.name())).collect();
                let how = if best == Identify::Yes { "claimed by" } else { "only possibly" };
                Err(Error::UnknownFormat {
                    path: path.to_path_buf(),
                    reason: format!("ambiguous: {how} several readers: {}", names.join(", ")),
                })
            }
        }
    }

    /// Detects the format of `path` and opens it.
    pub fn open(&self, path: &Path, options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
        let reader = self.detect_file(path)?;
        tracing::debug!(path = %path.display(), reader = reader.id(), "opening");
        reader.open(path, options)
    }
}

/// Why a reader could not be registered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Another reader already has this id.
    #[error("a reader with id {0:?} is already registered")]
    DuplicateId(String),
}
