//! The weightlens run engine: discover models, analyze every tensor, write the table (CSV, JSONL,
//! Parquet) and `run_meta.json`, read tables back, merge shards, compute the summary and
//! anomalies, and render the HTML report. The `weightlens` binary is a thin layer of argument
//! parsing and terminal output over this crate.

mod error;
pub mod export;
pub mod listing;
pub mod merge;
pub mod meta;
pub mod pipeline;
pub mod report;
pub mod shard;
pub mod summary;

pub use error::{Error, Result};
