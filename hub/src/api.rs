//! The HTTP side: one blocking `ureq` agent, redirects followed by hand (so the token never leaves
//! the endpoint's origin and the hub's `x-*` headers of the first answer are kept), retries with
//! exponential backoff for transient failures, endpoint fallback, and the model-info call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;
use ureq::http::Response;
use ureq::Body;

use super::config::HubConfig;
use super::error::HubError;
use super::url::{self, Origin};

/// Redirect hops followed before giving up.
const MAX_REDIRECTS: usize = 10;
/// Largest model-info answer read (a repository with tens of thousands of files stays well below).
const MAX_INFO_BYTES: u64 = 64 << 20;
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One file of a repository as the model-info call lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    /// Path inside the repository (validated: relative, no `..`).
    pub name: String,
    /// Size in bytes, when the server says.
    pub size: Option<u64>,
    /// sha256 of an LFS file (its content hash and its etag on the hub).
    pub sha256: Option<String>,
    /// Git blob id of a regular file (its etag on the hub).
    pub blob_id: Option<String>,
}

impl RepoFile {
    /// The name of the blob in the cache, as `huggingface_hub` names it: the LFS sha256, else the
    /// git blob id.
    pub fn etag(&self) -> Option<&str> {
        self.sha256.as_deref().or(self.blob_id.as_deref())
    }
}

/// A repository at one commit.
#[derive(Debug, Clone)]
pub struct RepoInfo {
    /// The commit hash the revision resolved to.
    pub commit: String,
    /// Every file of the repository at that commit.
    pub files: Vec<RepoFile>,
}

/// The hub headers of a `resolve` answer (taken from the first hop, before any CDN redirect).
#[derive(Debug, Clone, Default)]
pub struct FileHeaders {
    /// `x-repo-commit`.
    pub commit: Option<String>,
    /// `x-linked-etag` (LFS sha256), else `etag`, without quotes or `W/`.
    pub etag: Option<String>,
    /// `x-linked-size`, else `content-length` of a full answer.
    pub size: Option<u64>,
}

/// A blocking client bound to one configuration.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    config: HubConfig,
    /// Index (in [`HubConfig::endpoints`] order) of the endpoint that answered last.
    preferred: AtomicUsize,
}

impl Client {
    /// Builds the agent: redirects and status errors are handled here, not by ureq.
    pub fn new(config: &HubConfig) -> Self {
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(config.timeout))
            .timeout_recv_response(Some(config.timeout))
            .timeout_per_read(Some(config.timeout))
            .user_agent(concat!("weightlens/", env!("CARGO_PKG_VERSION")));
        if !config.use_env_proxy {
            builder = builder.proxy(None);
        }
        Self { agent: builder.build().new_agent(), config: config.clone(), preferred: AtomicUsize::new(0) }
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Sends one request and follows redirects by hand. `range_from` asks for the bytes from that
    /// offset on. The `Authorization` header goes only to the endpoint's own origin.
    pub fn send(
        &self,
        head: bool,
        url: &str,
        range_from: Option<u64>,
    ) -> Result<(Response<Body>, FileHeaders), HubError> {
        let mut current = url.to_owned();
        let mut first: Option<FileHeaders> = None;
        for _ in 0..=MAX_REDIRECTS {
            let response = self.send_once(head, &current, range_from)?;
            let headers = read_file_headers(&response);
            let hub_headers = first.get_or_insert(headers);
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = header(&response, "location")
                    .ok_or_else(|| protocol(&current, format!("HTTP {status} without Location")))?;
                current = url::resolve_location(&current, &location)
                    .ok_or_else(|| protocol(&current, format!("unusable redirect Location {location:?}")))?;
                tracing::debug!(to = %current, "redirect");
                continue;
            }
            check_status(&current, status)?;
            // The first hop has the hub's x-* headers; later hops (the CDN) may still fill gaps.
            let mut merged = hub_headers.clone();
            let last = read_file_headers(&response);
            merged.commit = merged.commit.or(last.commit);
            merged.etag = merged.etag.or(last.etag);
            merged.size = merged.size.or(last.size);
            return Ok((response, merged));
        }
        Err(protocol(url, format!("more than {MAX_REDIRECTS} redirects")))
    }

    fn send_once(&self, head: bool, url: &str, range_from: Option<u64>) -> Result<Response<Body>, HubError> {
        let mut request = if head { self.agent.head(url) } else { self.agent.get(url) };
        if let Some(token) = &self.config.token {
            if self.config.endpoint.same_origin(url) {
                request = request.header("Authorization", format!("Bearer {token}"));
            }
        }
        if let Some(start) = range_from {
            request = request.header("Range", format!("bytes={start}-"));
        }
        request.call().map_err(|e| network(url, &e))
    }

    /// Runs `op` until it succeeds, fails for good, or the attempts are used up; waits
    /// `backoff * 2^n` (capped) between attempts of a transient failure.
    pub fn with_retries<T>(&self, what: &str, mut op: impl FnMut() -> Result<T, HubError>) -> Result<T, HubError> {
        let attempts = self.config.attempts.max(1);
        let mut wait = self.config.backoff;
        let mut attempt = 1;
        loop {
            match op() {
                Err(e) if e.is_transient() && attempt < attempts => {
                    tracing::warn!(%what, attempt, error = %e, "transient failure, retrying in {wait:?}");
                    std::thread::sleep(wait);
                    wait = wait.saturating_mul(2).min(MAX_BACKOFF);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Tries `op` on the endpoint, then on each mirror in order, until one succeeds. The endpoint
    /// that last succeeded is tried first by later calls, so a dead endpoint costs its retries
    /// once per run, not once per file. A local failure (disk, bad input) is not the endpoint's
    /// fault and is returned at once. With a single endpoint its own error is returned unchanged.
    pub fn on_endpoints<T>(&self, mut op: impl FnMut(&Origin) -> Result<T, HubError>) -> Result<T, HubError> {
        let endpoints: Vec<&Origin> = self.config.endpoints().collect();
        let first = self.preferred.load(Ordering::Relaxed).min(endpoints.len().saturating_sub(1));
        let order = (first..endpoints.len()).chain(0..first);
        let mut errors = Vec::new();
        let mut last = None;
        for index in order {
            let Some(endpoint) = endpoints.get(index) else { continue };
            match op(endpoint) {
                Ok(value) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(e @ (HubError::Io { .. } | HubError::InvalidInput { .. })) => return Err(e),
                Err(e) => {
                    tracing::warn!(endpoint = endpoint.as_str(), error = %e, "endpoint failed");
                    errors.push(format!("{}: {e}", endpoint.as_str()));
                    last = Some(e);
                }
            }
        }
        match last {
            Some(e) if errors.len() == 1 => Err(e),
            _ => Err(HubError::AllEndpointsFailed { errors }),
        }
    }

    /// Resolves `revision` to a commit and lists the files with their sizes and hashes.
    pub fn model_info(&self, model_id: &str, revision: &str) -> Result<RepoInfo, HubError> {
        let path = url::model_info_path(model_id, revision);
        self.on_endpoints(|endpoint| {
            let address = endpoint.join(&path);
            self.with_retries(&address, || {
                let (response, _) = self.send(false, &address, None)?;
                let bytes = response
                    .into_body()
                    .with_config()
                    .limit(MAX_INFO_BYTES)
                    .read_to_vec()
                    .map_err(|e| network(&address, &e))?;
                parse_model_info(&address, &bytes)
            })
        })
    }

    /// HEAD on a file's `resolve` URL: the etag (sha256 for LFS files) and size, for servers whose
    /// model info leaves them out.
    pub fn file_headers(&self, endpoint: &Origin, resolve_path: &str) -> Result<FileHeaders, HubError> {
        let address = endpoint.join(resolve_path);
        self.with_retries(&address, || self.send(true, &address, None).map(|(_, headers)| headers))
    }
}

#[derive(Deserialize)]
struct InfoJson {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<SiblingJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SiblingJson {
    rfilename: String,
    size: Option<u64>,
    blob_id: Option<String>,
    lfs: Option<LfsJson>,
}

#[derive(Deserialize)]
struct LfsJson {
    sha256: Option<String>,
    size: Option<u64>,
}

/// Parses and validates the model-info JSON: a 40-hex commit and safe, unique file names.
pub(crate) fn parse_model_info(address: &str, bytes: &[u8]) -> Result<RepoInfo, HubError> {
    let info: InfoJson =
        serde_json::from_slice(bytes).map_err(|e| protocol(address, format!("model info is not valid JSON: {e}")))?;
    let commit = info.sha.ok_or_else(|| protocol(address, "model info has no commit hash (\"sha\")".to_owned()))?;
    if !url::is_commit_hash(&commit) {
        return Err(protocol(address, format!("commit hash {commit:?} is not 40 hex digits")));
    }
    let mut files = Vec::with_capacity(info.siblings.len());
    let mut seen = std::collections::HashSet::new();
    for sibling in info.siblings {
        url::validate_file_name(&sibling.rfilename)?;
        if !seen.insert(sibling.rfilename.clone()) {
            return Err(protocol(address, format!("file {:?} is listed twice", sibling.rfilename)));
        }
        let (sha256, lfs_size) = match sibling.lfs {
            Some(lfs) => (lfs.sha256, lfs.size),
            None => (None, None),
        };
        if let Some(sha) = &sha256 {
            if !url::is_sha256(sha) {
                return Err(protocol(
                    address,
                    format!("{}: LFS sha256 {sha:?} is not 64 hex digits", sibling.rfilename),
                ));
            }
        }
        // A blob id names a cache file: accept only plain hex.
        let blob_id =
            sibling.blob_id.filter(|b| !b.is_empty() && b.len() <= 128 && b.bytes().all(|c| c.is_ascii_hexdigit()));
        files.push(RepoFile {
            name: sibling.rfilename,
            size: lfs_size.or(sibling.size),
            sha256: sha256.map(|s| s.to_ascii_lowercase()),
            blob_id,
        });
    }
    Ok(RepoInfo { commit: commit.to_ascii_lowercase(), files })
}

fn header(response: &Response<Body>, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Reads the hub headers; an etag loses its `W/` prefix and quotes, as `huggingface_hub` does.
fn read_file_headers(response: &Response<Body>) -> FileHeaders {
    let etag = header(response, "x-linked-etag")
        .or_else(|| header(response, "etag"))
        .map(|e| e.trim().trim_start_matches("W/").trim_matches('"').to_ascii_lowercase())
        .filter(|e| !e.is_empty());
    let full_length = if response.status().as_u16() == 200 { header(response, "content-length") } else { None };
    let size = header(response, "x-linked-size").or(full_length).and_then(|s| s.trim().parse().ok());
    FileHeaders { commit: header(response, "x-repo-commit").filter(|c| url::is_commit_hash(c)), etag, size }
}

fn check_status(address: &str, status: u16) -> Result<(), HubError> {
    let url = address.to_owned();
    match status {
        200..=299 => Ok(()),
        401 | 403 => Err(HubError::Unauthorized { url, status }),
        404 => Err(HubError::NotFound { url }),
        _ => Err(HubError::Status { url, status }),
    }
}

pub(crate) fn network(address: &str, error: &ureq::Error) -> HubError {
    HubError::Network { url: address.to_owned(), message: error.to_string() }
}

pub(crate) fn protocol(address: &str, message: String) -> HubError {
    HubError::Protocol { url: address.to_owned(), message }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn parses_siblings() {
        let json = format!(
            r#"{{"sha":"{SHA}","siblings":[{{"rfilename":"config.json","size":10,"blobId":"ab12"}},
            {{"rfilename":"m.safetensors","size":5,"lfs":{{"sha256":"{}","size":500,"pointerSize":130}}}}]}}"#,
            "A".repeat(64)
        );
        let info = parse_model_info("u", json.as_bytes()).unwrap();
        assert_eq!(info.commit, SHA);
        assert_eq!(info.files[0].etag(), Some("ab12"));
        assert_eq!(info.files[1].size, Some(500));
        assert_eq!(info.files[1].etag(), Some("a".repeat(64).as_str()));
    }

    #[test]
    fn rejects_malformed_info() {
        let bad = [
            "not json".to_owned(),
            r#"{"siblings":[]}"#.to_owned(),
            r#"{"sha":"main","siblings":[]}"#.to_owned(),
            format!(r#"{{"sha":"{SHA}","siblings":[{{"rfilename":"../../etc/passwd"}}]}}"#),
            format!(r#"{{"sha":"{SHA}","siblings":[{{"rfilename":"a"}},{{"rfilename":"a"}}]}}"#),
            format!(r#"{{"sha":"{SHA}","siblings":[{{"rfilename":"a","lfs":{{"sha256":"zz"}}}}]}}"#),
            format!(r#"{{"sha":"{SHA}","siblings":[{{"rfilename":"a","size":-1}}]}}"#),
        ];
        for json in bad {
            assert!(parse_model_info("u", json.as_bytes()).is_err(), "{json}");
        }
    }

    #[test]
    fn bad_blob_ids_are_dropped() {
        let json = format!(r#"{{"sha":"{SHA}","siblings":[{{"rfilename":"a","blobId":"../x"}}]}}"#);
        assert_eq!(parse_model_info("u", json.as_bytes()).unwrap().files[0].blob_id, None);
    }
}
