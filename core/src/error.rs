//! The error type shared by the pipeline traits.
//!
//! Every error names the file it concerns and, where it applies, the tensor and byte offset, so
//! that its `Display` is a complete one-line message for the user.

use std::path::PathBuf;

/// Result alias for weightlens operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with the file (and tensor) it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the file failed at the OS level.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not in any format this project reads.
    #[error("{}: unknown format ({reason})", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// Why detection failed (e.g. "magic does not match").
        reason: String,
    },
    /// The file's structure is invalid; nothing of it is analyzed.
    #[error("{}: {message}{}", path.display(), fmt_offset(*offset))]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The byte offset the problem was found at, when known.
        offset: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// The file asks for something this project refuses to do (e.g. a pickle calling `os.system`).
    #[error("{}: refused: {message}", path.display())]
    Refused {
        /// The file.
        path: PathBuf,
        /// What was refused.
        message: String,
    },
    /// One tensor cannot be read or analyzed; the file's other tensors are unaffected.
    #[error("{}: tensor {tensor}: {message}", path.display())]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
        /// What is wrong.
        message: String,
    },
    /// An analyzer failed on a tensor.
    #[error("{}: tensor {tensor}: analyzer {analyzer}: {message}", path.display())]
    Analyzer {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
        /// The analyzer name.
        analyzer: String,
        /// What is wrong.
        message: String,
    },
    /// Writing or reading an output table failed.
    #[error("{}: {message}", path.display())]
    Output {
        /// The output file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The kind of an [`Error`], without its details: what a program maps errors onto (the Python
/// package's exception classes) after they were collected into a run's error list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Io`].
    Io,
    /// [`Error::UnknownFormat`].
    UnknownFormat,
    /// [`Error::Malformed`].
    Malformed,
    /// [`Error::Refused`].
    Refused,
    /// [`Error::Tensor`].
    Tensor,
    /// [`Error::Analyzer`].
    Analyzer,
    /// [`Error::Output`].
    Output,
}

fn fmt_offset(offset: Option<u64>) -> String {
    offset.map(|o| format!(" (at byte {o})")).unwrap_or_default()
}

impl Error {
    /// Shorthand for [`Error::Malformed`].
    pub fn malformed(path: impl Into<PathBuf>, offset: Option<u64>, message: impl Into<String>) -> Self {
        Error::Malformed { path: path.into(), offset, message: message.into() }
    }

    /// Shorthand for [`Error::Tensor`].
    pub fn tensor(path: impl Into<PathBuf>, tensor: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Tensor { path: path.into(), tensor: tensor.into(), message: message.into() }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// The file this error concerns.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Error::Io { path, .. }
            | Error::UnknownFormat { path, .. }
            | Error::Malformed { path, .. }
            | Error::Refused { path, .. }
            | Error::Tensor { path, .. }
            | Error::Analyzer { path, .. }
            | Error::Output { path, .. } => path,
        }
    }

    /// Its kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
            Error::UnknownFormat { .. } => ErrorKind::UnknownFormat,
            Error::Malformed { .. } => ErrorKind::Malformed,
            Error::Refused { .. } => ErrorKind::Refused,
            Error::Tensor { .. } => ErrorKind::Tensor,
            Error::Analyzer { .. } => ErrorKind::Analyzer,
            Error::Output { .. } => ErrorKind::Output,
        }
    }

    /// The tensor this error concerns, if it concerns one tensor only.
    pub fn tensor_name(&self) -> Option<&str> {
        match self {
            Error::Tensor { tensor, .. } | Error::Analyzer { tensor, .. } => Some(tensor),
            _ => None,
        }
    }
}
