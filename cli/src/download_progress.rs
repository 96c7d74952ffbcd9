//! The `download` progress bar on stderr (bytes, rate, ETA), drawn only when stderr is a
//! terminal; otherwise every call is a no-op, so logs and pipes stay clean.

use indicatif::{ProgressBar, ProgressStyle};
use weightlens_hub::progress::DownloadProgress;

use crate::progress::stderr_target;

/// An indicatif bar over the bytes of a download run.
#[derive(Debug)]
pub struct DownloadBar {
    bar: ProgressBar,
}

impl DownloadBar {
    /// A bar, hidden unless `wanted` and stderr is a terminal.
    pub fn new(wanted: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), stderr_target(wanted));
        if let Ok(style) =
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Self { bar }
    }
}

impl DownloadProgress for DownloadBar {
    fn start(&self, label: &str, total: u64, already: u64) {
        self.bar.set_length(total);
        self.bar.set_message(label.to_owned());
        self.bar.set_position(already);
    }

    fn add(&self, n: u64) {
        self.bar.inc(n);
    }

    fn rewind(&self, n: u64) {
        self.bar.set_position(self.bar.position().saturating_sub(n));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
