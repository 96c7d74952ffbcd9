//! Errors of the hub client. Each Display is a complete one-line message naming the model, file or
//! URL involved, so the CLI can print it as is; callers that need to react to a kind (tests, the
//! analyze pipeline) match on [`HubError`].

use std::path::PathBuf;

/// What went wrong while talking to the hub or writing the cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The model id or revision is not something we will put in a URL or a path.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidInput {
        /// "model id", "revision", "file name", "glob", "endpoint".
        what: &'static str,
        /// The offending value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The server asked for credentials (gated or private repository).
    #[error("{url}: HTTP {status}: authentication required (gated or private repository); set HF_TOKEN to a token that has access")]
    Unauthorized {
        /// The URL requested.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// The repository, revision or file does not exist on the server.
    #[error("{url}: HTTP 404: not found (check the model id, the revision and the file name)")]
    NotFound {
        /// The URL requested.
        url: String,
    },
    /// Any other HTTP status that is not success.
    #[error("{url}: HTTP {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// A network-level failure (connection refused or reset, timeout, TLS).
    #[error("{url}: {message}")]
    Network {
        /// The URL requested.
        url: String,
        /// The transport error.
        message: String,
    },
    /// The server answered something we cannot use (bad JSON, missing header, wrong range).
    #[error("{url}: unexpected response: {message}")]
    Protocol {
        /// The URL requested.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// A downloaded file does not have the sha256 the hub published; the file was deleted.
    #[error("{file}: sha256 mismatch: expected {expected}, got {actual}; the partial file was deleted")]
    ChecksumMismatch {
        /// The repository file name.
        file: String,
        /// The published sha256.
        expected: String,
        /// The sha256 of what was received.
        actual: String,
    },
    /// A downloaded file does not have the size the hub published; the file was deleted.
    #[error("{file}: size mismatch: expected {expected} bytes, got {actual}; the partial file was deleted")]
    SizeMismatch {
        /// The repository file name.
        file: String,
        /// The published size.
        expected: u64,
        /// What was received.
        actual: u64,
    },
    /// Offline mode (HF_HUB_OFFLINE=1) and the cache cannot answer.
    #[error("offline mode (HF_HUB_OFFLINE=1): {message}")]
    Offline {
        /// What is missing from the cache.
        message: String,
    },
    /// The glob filters select no file of the repository.
    #[error("{model_id}@{revision}: no file matches the include/exclude patterns ({count} files in the repository)")]
    NothingSelected {
        /// The model id.
        model_id: String,
        /// The commit hash.
        revision: String,
        /// How many files the repository has.
        count: usize,
    },
    /// Every endpoint (HF_ENDPOINT, then each --mirror) failed; the errors are listed in order.
    #[error("all endpoints failed: {}", .errors.join("; "))]
    AllEndpointsFailed {
        /// One message per endpoint tried.
        errors: Vec<String>,
    },
    /// A local file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl HubError {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// True for failures that may go away when the same request is tried again (server errors,
    /// dropped connections, timeouts); false for answers that will not change (401, 404, bad data).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}
