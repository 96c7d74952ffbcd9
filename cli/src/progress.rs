//! The `analyze` progress bar on stderr: tensors, bytes, rate and ETA over the files of the run.
//! Drawn only when stderr is a terminal and the run is not `--quiet`; hidden bars cost nothing.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use weightlens_engine::pipeline::Progress;

/// Where a bar draws: stderr when `wanted` and stderr is a terminal, else nowhere (hidden bars
/// cost nothing, and logs and pipes stay clean).
pub fn stderr_target(wanted: bool) -> ProgressDrawTarget {
    if wanted && std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// An indicatif bar over the bytes of the selected tensors.
#[derive(Debug)]
pub struct AnalyzeProgress {
    bar: ProgressBar,
    done: AtomicUsize,
    tensors: AtomicUsize,
    files: AtomicUsize,
}

impl AnalyzeProgress {
    /// A spinner until the models are open, then a bar; hidden unless `wanted` and stderr is a
    /// terminal.
    pub fn new(wanted: bool) -> Self {
        let bar = ProgressBar::with_draw_target(None, stderr_target(wanted));
        bar.set_message("opening models");
        if !bar.is_hidden() {
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
        }
        Self { bar, done: AtomicUsize::new(0), tensors: AtomicUsize::new(0), files: AtomicUsize::new(0) }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn set_message(&self, done: usize) {
        let tensors = self.tensors.load(Ordering::Relaxed);
        let files = self.files.load(Ordering::Relaxed);
        self.bar.set_message(format!("{done}/{tensors} tensors in {files} files"));
    }
}

impl Progress for AnalyzeProgress {
    fn opened(&self, files: usize, tensors: usize, bytes: u64) {
        let template = "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}";
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.tensors.store(tensors, Ordering::Relaxed);
        self.files.store(files, Ordering::Relaxed);
        self.bar.set_length(bytes);
        self.bar.set_position(0);
        self.set_message(0);
    }

    fn tensor_done(&self, bytes: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.inc(bytes);
        self.set_message(done);
    }
}
