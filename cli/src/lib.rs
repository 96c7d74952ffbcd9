//! The weightlens command-line tool: argument parsing, progress bars, terminal output, exit codes
//! and signal handling over the run engine ([`weightlens_engine`]) and the hub client
//! ([`weightlens_hub`]). The binary (`main.rs`) parses arguments and calls into here.

pub mod commands;
pub mod download_progress;
pub mod progress;
pub mod render;
pub mod runlog;
pub mod signals;
