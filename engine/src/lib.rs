//! The weightlens run engine: discover models, analyze every tensor, write the table (CSV, JSONL,
//! Parquet) and `run_meta.json`, read tables back, merge shards, compute the summary and
//! anomalies, and render the HTML report. The `weightlens` binary is a thin layer of argument
//! parsing and terminal output over this crate; `docs/architecture.md` shows the data flow and
//! `docs/output-spec.md` defines every number.
//!
//! Analyzing a directory into Parquet:
//!
//! ```
//! # fn main() -> Result<(), weightlens_engine::Error> {
//! use weightlens_engine::{analyze, now_rfc3339, write_table, AnalyzeConfig, OutputFormat};
//!
//! let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/llama-tiny");
//! let analysis = analyze(&AnalyzeConfig::new([model]), &now_rfc3339());
//! for e in &analysis.errors {
//!     eprintln!("{}", e.message); // a bad tensor costs its row, not the run
//! }
//! let out = std::env::temp_dir().join(format!("llama-tiny-{}.parquet", std::process::id()));
//! let validation = write_table(&analysis, &out, OutputFormat::Parquet)?;
//! assert!(validation.ok);
//! assert_eq!(analysis.rows.len(), 21);
//! # std::fs::remove_file(&out).ok();
//! # Ok(())
//! # }
//! ```
//!
//! Progress is reported through [`Progress`] ([`analyze_with_progress`]); `run_meta.json` is
//! [`meta::RunMeta`], written with [`meta::write_meta`].

pub mod anomalies;
pub mod copies;
pub mod diff;
pub mod dump;
mod duplicates;
mod error;
pub mod export;
pub mod listing;
pub mod merge;
pub mod meta;
pub mod pipeline;
pub mod plugins;
pub mod report;
pub mod shard;
pub mod summary;

use std::path::Path;

pub use error::{Error, Result};
pub use export::{read_table, OutputFormat, Table};
pub use meta::{now_rfc3339, Validation};
pub use pipeline::{analyze, analyze_with_progress, Analysis, AnalyzeConfig, NoProgress, Progress};

/// Writes the rows of `analysis` to `path` as `format` (atomically: the file appears only when
/// complete), then reads it back and checks it (rows, columns, names and shapes present).
pub fn write_table(analysis: &Analysis, path: &Path, format: OutputFormat) -> Result<Validation> {
    export::write_rows(export::open_sink(path, format)?, &analysis.schema, &analysis.rows)?;
    Ok(meta::validate_output(path, analysis))
}
