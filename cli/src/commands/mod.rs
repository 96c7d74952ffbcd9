//! One module per subcommand: its arguments and its `run`, which returns `Ok(false)` when
//! something failed but the command went on (exit code 1).
#![allow(clippy::print_stdout, clippy::print_stderr)] // commands own the terminal
#![allow(missing_docs)]

pub mod analyze;
pub mod diff;
pub mod download;
pub mod dump;
pub mod ls;
pub mod merge;
pub mod plugins;
pub mod report;
