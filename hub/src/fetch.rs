//! Downloading files: resumable (HTTP Range from the `.incomplete` file), verified (size, and
//! sha256 for LFS files), atomic (renamed to the final name only when verified), parallel.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::api::{self, Client};
use super::error::HubError;
use super::progress::DownloadProgress;
use super::url::{self, Origin};

/// Read buffer for streaming bodies and hashing.
const CHUNK: usize = 1 << 20;

/// One file to fetch.
#[derive(Debug, Clone)]
pub struct Job {
    /// Repository file name.
    pub file: String,
    /// `/{id}/resolve/{commit}/{file}`.
    pub resolve_path: String,
    /// Published size, if known.
    pub size: Option<u64>,
    /// Published sha256 (LFS files).
    pub sha256: Option<String>,
    /// The partial file appended to.
    pub incomplete: PathBuf,
    /// The final name.
    pub dest: PathBuf,
}

/// Downloads every job with up to `parallel` threads. All jobs are attempted; the first error (in
/// job order) is returned after the others finish, so good files are kept.
pub fn fetch_all(client: &Client, jobs: &[Job], progress: &dyn DownloadProgress) -> Result<Vec<u64>, HubError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<u64, HubError>>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    let workers = client.config().parallel.clamp(1, jobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(index) else { break };
                let result = fetch_one(client, job, progress);
                if let Ok(mut slots) = results.lock() {
                    if let Some(slot) = slots.get_mut(index) {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    let slots = results.into_inner().unwrap_or_default();
    let mut sizes = Vec::with_capacity(jobs.len());
    for (job, slot) in jobs.iter().zip(slots) {
        match slot {
            Some(Ok(bytes)) => sizes.push(bytes),
            Some(Err(e)) => return Err(e),
            None => return Err(api::protocol(&job.resolve_path, "download did not run".to_owned())),
        }
    }
    Ok(sizes)
}

/// Fetches one file through the endpoints in order, with retries (each one resuming), and returns
/// the number of bytes received over the network.
pub fn fetch_one(client: &Client, job: &Job, progress: &dyn DownloadProgress) -> Result<u64, HubError> {
    let received = client.on_endpoints(|endpoint| {
        let mut received = 0;
        client.with_retries(&job.file, || attempt(client, endpoint, job, progress, &mut received)).map(|()| received)
    })?;
    let parent = job.dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
    fs::rename(&job.incomplete, &job.dest).map_err(|e| HubError::io(&job.dest, e))?;
    tracing::info!(file = %job.file, bytes = received, "downloaded");
    Ok(received)
}

/// One attempt: continue the partial file from its current length, then verify it. On a
/// transient failure the partial file stays for the next attempt.
fn attempt(
    client: &Client,
    endpoint: &Origin,
    job: &Job,
    progress: &dyn DownloadProgress,
    received: &mut u64,
) -> Result<(), HubError> {
    let address = endpoint.join(&job.resolve_path);
    let mut part = open_partial(&job.incomplete)?;
    let mut have = part.metadata().map_err(|e| HubError::io(&job.incomplete, e))?.len();
    if job.size.is_some_and(|size| have > size) {
        progress.rewind(have);
        have = truncate(&part, &job.incomplete)?;
    }
    // Hash while receiving; only the bytes of an earlier attempt are read back from disk.
    let mut hasher = hash_prefix(&job.incomplete, have)?;
    let mut expected_sha = job.sha256.clone();
    let mut expected_size = job.size;
    if job.size.is_none_or(|size| have < size) || have == 0 {
        let range = (have > 0).then_some(have);
        let (response, headers) = client.send(false, &address, range)?;
        // The hub's own hash of this file must agree with the model info, else someone is lying.
        if let (Some(etag), Some(sha)) = (&headers.etag, &expected_sha) {
            if url::is_sha256(etag) && etag != sha {
                return Err(api::protocol(
                    &address,
                    format!("x-linked-etag {etag} differs from the listed sha256 {sha}"),
                ));
            }
        }
        expected_sha = expected_sha.or(headers.etag.filter(|e| url::is_sha256(e)));
        expected_size = expected_size.or(headers.size);
        if response.status().as_u16() == 206 {
            let start = content_range_start(&response);
            if start != Some(have) {
                return Err(api::protocol(&address, format!("asked for bytes from {have}, got range {start:?}")));
            }
        } else if have > 0 {
            // The server ignored the range and sends everything: start over.
            progress.rewind(have);
            have = truncate(&part, &job.incomplete)?;
            hasher = Sha256::new();
        }
        let mut reader = response.into_body().into_reader();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    return Err(HubError::Network {
                        url: address.clone(),
                        message: format!("connection lost after {have} bytes: {e}"),
                    })
                }
            };
            let chunk = buf.get(..n).unwrap_or_default();
            part.write_all(chunk).map_err(|e| HubError::io(&job.incomplete, e))?;
            hasher.update(chunk);
            have = have.saturating_add(n as u64);
            *received = received.saturating_add(n as u64);
            progress.add(n as u64);
            if expected_size.is_some_and(|size| have > size) {
                break;
            }
        }
        part.flush().map_err(|e| HubError::io(&job.incomplete, e))?;
    }
    drop(part);
    let actual = hex(&hasher.finalize());
    verify(&address, job, expected_size, expected_sha.as_deref(), have, actual)
}

/// Checks size then sha256; a file that cannot become right by resuming is deleted.
fn verify(
    address: &str,
    job: &Job,
    size: Option<u64>,
    sha: Option<&str>,
    have: u64,
    actual: String,
) -> Result<(), HubError> {
    if let Some(size) = size {
        if have < size {
            // A body that ended early without an error: resumable, so transient.
            return Err(HubError::Network {
                url: address.to_owned(),
                message: format!("connection closed after {have} of {size} bytes"),
            });
        }
        if have > size {
            remove(&job.incomplete);
            return Err(HubError::SizeMismatch { file: job.file.clone(), expected: size, actual: have });
        }
    }
    if let Some(expected) = sha {
        if actual != expected {
            remove(&job.incomplete);
            return Err(HubError::ChecksumMismatch { file: job.file.clone(), expected: expected.to_owned(), actual });
        }
    }
    Ok(())
}

fn open_partial(path: &Path) -> Result<File, HubError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
    OpenOptions::new().create(true).append(true).open(path).map_err(|e| HubError::io(path, e))
}

fn truncate(file: &File, path: &Path) -> Result<u64, HubError> {
    file.set_len(0).map_err(|e| HubError::io(path, e))?;
    Ok(0)
}

fn remove(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "could not delete a bad download");
    }
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let value = response.headers().get("content-range")?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

/// A sha256 state fed with the first `len` bytes of `path` (the part an earlier attempt wrote).
fn hash_prefix(path: &Path, len: u64) -> Result<Sha256, HubError> {
    let mut hasher = Sha256::new();
    if len == 0 {
        return Ok(hasher);
    }
    let mut file = File::open(path).map_err(|e| HubError::io(path, e))?.take(len);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).map_err(|e| HubError::io(path, e))?;
        if n == 0 {
            return Ok(hasher);
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
