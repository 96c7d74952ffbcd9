//! One module per subcommand: its arguments and its `run`, which returns `Ok(false)` when
//! something failed but the command went on (exit code 1).
#![allow(clippy::print_stdout, clippy::print_stderr)] // commands own the terminal
#![allow(missing_docs)]

pub mod analyze;
pub mod diff;
pub mod download;
pub mod dump;
pub mod formats;
pub mod ls;
pub mod merge;
pub mod plugins;
pub mod report;
pub mod scan;

use clap::ValueEnum;
use weightlens_engine::export::OutputFormat;

/// `--format`: the engine's [`OutputFormat`] as a command-line value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet.
    Parquet,
}

impl From<FormatArg> for OutputFormat {
    fn from(arg: FormatArg) -> Self {
        match arg {
            FormatArg::Csv => OutputFormat::Csv,
            FormatArg::Jsonl => OutputFormat::Jsonl,
            FormatArg::Parquet => OutputFormat::Parquet,
        }
    }
}
