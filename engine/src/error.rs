//! The engine's error type: core errors (reading models, writing tables) plus what the engine
//! itself refuses (parts that do not merge, a bad `--shard`, report inputs). Each `Display` is
//! one complete line naming the file concerned.

use std::path::PathBuf;

/// What went wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a model or tensor, or writing a table, failed.
    #[error(transparent)]
    Core(#[from] weightlens_core::Error),
    /// A table given to the report could not be read.
    #[error("cannot read the table {}: {source}", path.display())]
    ReadTable {
        /// The table file.
        path: PathBuf,
        /// Why.
        source: weightlens_core::Error,
    },
    /// An output file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: weightlens_core::Error,
    },
    /// A directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `run_meta.json` could not be encoded.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file being written.
        path: PathBuf,
        /// The encoder's error.
        source: serde_json::Error,
    },
    /// Parts that cannot be merged into one table (different columns, thresholds, runs).
    #[error("{message}")]
    Merge {
        /// Why, naming the parts.
        message: String,
    },
    /// A shard specification that is not `K/N` with `0 <= K < N`.
    #[error(transparent)]
    Shard(#[from] crate::shard::ShardError),
    /// `dump`: no tensor of that name in the model.
    #[error("{}: no tensor named {tensor:?} (see `weightlens ls`)", path.display())]
    NoSuchTensor {
        /// The model path given.
        path: PathBuf,
        /// The name asked for.
        tensor: String,
    },
    /// `dump`: the decoded tensor would need more memory than allowed.
    #[error("{}: tensor {tensor:?} would need up to {needed} bytes to dump, more than --max-tensor-bytes {limit}", path.display())]
    DumpTooLarge {
        /// The model.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Bytes needed.
        needed: u64,
        /// The limit.
        limit: u64,
    },
    /// `dump`: the values could not be encoded as `.npy`.
    #[error("{}: tensor {tensor:?}: encoding .npy: {source}", path.display())]
    Npy {
        /// The model.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The encoder's error.
        source: std::io::Error,
    },
    /// A report that cannot be made from the inputs given.
    #[error("{message}")]
    Report {
        /// Why.
        message: String,
    },
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
