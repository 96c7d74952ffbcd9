//! The run log: every `analyze` writes its `tracing` events to `<out>.log` beside the table
//! (timestamp, level, module, operation, durations, errors, versions). The subscriber is set up
//! once in `main` with a file layer whose writer goes to the file opened here, or nowhere.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

/// The target of events meant for the log file only (not repeated on stderr, where the command
/// prints its own one-line messages).
pub const FILE_ONLY: &str = "weightlens::run_log";

static LOG: Mutex<Option<File>> = Mutex::new(None);

fn slot() -> MutexGuard<'static, Option<File>> {
    LOG.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `<out>.log`: the table's path with `.log` appended (so `params.csv` and `params.parquet` in
/// one directory keep separate logs).
pub fn log_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_os_string();
    name.push(".log");
    PathBuf::from(name)
}

/// Starts writing the log to `path` (truncated), creating its directory.
pub fn open(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    *slot() = Some(File::create(path)?);
    Ok(())
}

/// Flushes and closes the log; later events go nowhere.
pub fn close() {
    if let Some(mut f) = slot().take() {
        let _ = f.flush();
    }
}

/// The `MakeWriter` of the file layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunLogWriter;

impl Write for RunLogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match slot().as_mut() {
            Some(f) => f.write_all(buf).map(|()| buf.len()),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        slot().as_mut().map_or(Ok(()), Write::flush)
    }
}

impl<'a> MakeWriter<'a> for RunLogWriter {
    type Writer = RunLogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RunLogWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_path_appends() {
        assert_eq!(log_path(Path::new("out/params.csv")), PathBuf::from("out/params.csv.log"));
    }
}
