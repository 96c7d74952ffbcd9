//! Settings of the hub client, read from the same environment variables as Python's
//! `huggingface_hub` so both tools agree on where the cache is and which server to ask.

use std::path::PathBuf;
use std::time::Duration;

use super::error::HubError;
use super::url::Origin;

/// The public hub, used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Everything the client needs besides the request itself. Build it with [`HubConfig::from_env`]
/// for normal use; tests build it field by field so they never touch the process environment.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// The main endpoint (`HF_ENDPOINT`); the only host that ever receives the token.
    pub endpoint: Origin,
    /// Fallback endpoints (`--mirror`), tried in order when the one before fails.
    pub mirrors: Vec<Origin>,
    /// `HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`), sent as a bearer token to `endpoint` only.
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE=1`: answer from the cache, never touch the network.
    pub offline: bool,
    /// The hub cache root (`HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`).
    pub cache_dir: PathBuf,
    /// Attempts per request for transient failures (5xx, dropped connections, timeouts).
    pub attempts: u32,
    /// First wait between attempts; doubled each time, capped at 30 s.
    pub backoff: Duration,
    /// Connect timeout and the longest silence allowed while reading a response.
    pub timeout: Duration,
    /// Files downloaded at the same time.
    pub parallel: usize,
    /// Honour `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY` (off in tests so loopback stays loopback).
    pub use_env_proxy: bool,
}

impl HubConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, HubError> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    }

    /// Reads the configuration through `lookup` (an environment stand-in), so the precedence
    /// rules can be tested without mutating the real environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, HubError> {
        let endpoint = match lookup("HF_ENDPOINT") {
            Some(url) => Origin::parse(&url)?,
            None => Origin::parse(DEFAULT_ENDPOINT)?,
        };
        // Like huggingface_hub: the variable first, then the file `huggingface-cli login` wrote.
        let token = lookup("HF_TOKEN")
            .or_else(|| lookup("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| std::fs::read_to_string(token_path(&lookup)).ok())
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let offline = lookup("HF_HUB_OFFLINE").is_some_and(|v| is_truthy(&v));
        Ok(Self {
            endpoint,
            mirrors: Vec::new(),
            token,
            offline,
            cache_dir: cache_dir(&lookup),
            attempts: 5,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(30),
            parallel: 4,
            use_env_proxy: true,
        })
    }

    /// Adds `--mirror` URLs as fallbacks after the main endpoint.
    pub fn with_mirrors(mut self, mirrors: &[String]) -> Result<Self, HubError> {
        for mirror in mirrors {
            self.mirrors.push(Origin::parse(mirror)?);
        }
        Ok(self)
    }

    /// The endpoints in the order they are tried.
    pub(crate) fn endpoints(&self) -> impl Iterator<Item = &Origin> {
        std::iter::once(&self.endpoint).chain(self.mirrors.iter())
    }
}

/// The values `huggingface_hub` accepts as "true" for its boolean variables.
fn is_truthy(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

/// `HF_TOKEN_PATH`, else `HF_HOME/token`.
fn token_path(lookup: &impl Fn(&str) -> Option<String>) -> PathBuf {
    lookup("HF_TOKEN_PATH").map(PathBuf::from).unwrap_or_else(|| hf_home(lookup).join("token"))
}

/// `HF_HOME`, else `XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
fn hf_home(lookup: &impl Fn(&str) -> Option<String>) -> PathBuf {
    lookup("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
        let cache = lookup("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let home = lookup("HOME").or_else(|| lookup("USERPROFILE")).unwrap_or_else(|| ".".into());
            PathBuf::from(home).join(".cache")
        });
        cache.join("huggingface")
    })
}

/// Same precedence as `huggingface_hub.constants`: HF_HUB_CACHE, the legacy HUGGINGFACE_HUB_CACHE,
/// HF_HOME/hub, XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub.
fn cache_dir(lookup: &impl Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(dir) = lookup("HF_HUB_CACHE").or_else(|| lookup("HUGGINGFACE_HUB_CACHE")) {
        return PathBuf::from(dir);
    }
    hf_home(lookup).join("hub")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> HubConfig {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        HubConfig::from_lookup(|k| map.get(k).cloned()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn cache_dir_precedence() {
        assert_eq!(config(&[("HOME", "/h")]).cache_dir, PathBuf::from("/h/.cache/huggingface/hub"));
        assert_eq!(config(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]).cache_dir, PathBuf::from("/x/huggingface/hub"));
        assert_eq!(config(&[("HOME", "/h"), ("HF_HOME", "/hf")]).cache_dir, PathBuf::from("/hf/hub"));
        assert_eq!(config(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/c")]).cache_dir, PathBuf::from("/c"));
    }

    #[test]
    fn endpoint_token_offline() {
        let c = config(&[("HF_ENDPOINT", "https://hf-mirror.example/"), ("HF_TOKEN", " t \n")]);
        assert_eq!(c.endpoint.as_str(), "https://hf-mirror.example");
        assert_eq!(c.token.as_deref(), Some("t"));
        assert!(!c.offline);
        assert!(config(&[("HF_HUB_OFFLINE", "1")]).offline);
        assert!(config(&[("HF_HUB_OFFLINE", "TRUE")]).offline);
        assert!(!config(&[("HF_HUB_OFFLINE", "0")]).offline);
        assert_eq!(config(&[]).endpoint.as_str(), DEFAULT_ENDPOINT);
    }

    #[test]
    fn token_file_is_the_fallback() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("token"), "file-token\n").unwrap();
        let home = home.path().to_str().unwrap();
        assert_eq!(config(&[("HF_HOME", home)]).token.as_deref(), Some("file-token"));
        assert_eq!(config(&[("HF_HOME", home), ("HF_TOKEN", "env")]).token.as_deref(), Some("env"));
        assert_eq!(config(&[("HF_HOME", "/nonexistent")]).token, None);
    }

    #[test]
    fn bad_endpoint_is_an_error() {
        let r = HubConfig::from_lookup(|k| (k == "HF_ENDPOINT").then(|| "ftp://x".to_owned()));
        assert!(r.is_err());
    }
}
