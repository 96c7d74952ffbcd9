//! The weightlens command-line tool as a library: the analysis pipeline, the output sinks,
//! `run_meta.json`, and the terminal summary. The binary (`main.rs`) parses arguments and
//! calls into here.

pub mod commands;
pub mod diff;
pub mod export;
pub mod hub;
pub mod listing;
pub mod merge;
pub mod meta;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod runlog;
pub mod shard;
pub mod signals;
pub mod summary;
