//! SIGINT/SIGTERM: an interrupted run removes its uncommitted temporary files and exits with
//! 128 + the signal number, so that it leaves either the complete previous output or none.
//!
//! The signals are received on a thread of their own (`signal-hook`'s iterator), where the
//! cleanup can lock and delete files, which a signal handler may not do. A second signal while
//! the cleanup runs is ignored; the cleanup only deletes a few files.
#![allow(clippy::print_stderr)] // the binary owns the terminal

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use weightlens_engine::export::remove_pending_for_exit;

/// Installs the handler for the rest of the process.
pub fn install() -> Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("installing the SIGINT/SIGTERM handler")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let removed = remove_pending_for_exit();
                let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
                eprintln!("error: interrupted by {name}; {removed} unfinished output file(s) removed");
                std::process::exit(128 + signal);
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}
