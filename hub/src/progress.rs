//! Download progress: hooks the download threads call as bytes arrive, which a caller
//! implements to draw a bar (the `weightlens` binary draws one with indicatif on a terminal).

/// Progress of one download run; every method defaults to nothing. Called from the download
/// threads.
pub trait DownloadProgress: Sync {
    /// The run starts: `total` bytes to fetch for `label` (the model id), `already` of them on
    /// disk from an earlier, interrupted run.
    fn start(&self, label: &str, total: u64, already: u64) {
        let _ = (label, total, already);
    }
    /// `n` more bytes arrived.
    fn add(&self, n: u64) {
        let _ = n;
    }
    /// `n` bytes counted before were thrown away (the download restarted from zero).
    fn rewind(&self, n: u64) {
        let _ = n;
    }
    /// The run is over (done or failed).
    fn finish(&self) {}
}

/// A [`DownloadProgress`] that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl DownloadProgress for NoProgress {}
