//! One progress bar for a download run (bytes, rate, ETA) on stderr, drawn only when stderr is a
//! terminal; otherwise every call is a no-op, so logs and pipes stay clean.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Byte counter shared by the download threads.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar of `total` bytes, `already` of which are on disk from an earlier run; hidden unless
    /// `wanted` and stderr is a terminal.
    pub fn new(wanted: bool, total: u64, already: u64, label: &str) -> Self {
        let target = if wanted && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        if let Ok(style) =
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_owned());
        bar.set_position(already);
        Self { bar }
    }

    /// A bar that never draws.
    pub fn hidden() -> Self {
        Self::new(false, 0, 0, "")
    }

    /// `n` more bytes arrived.
    pub fn add(&self, n: u64) {
        self.bar.inc(n);
    }

    /// `n` bytes counted before were thrown away (the download restarted from zero).
    pub fn rewind(&self, n: u64) {
        self.bar.set_position(self.bar.position().saturating_sub(n));
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
