//! URL building and the validation of every name that goes into a URL or a cache path. Model ids,
//! revisions and file names come from the user or from the server; both are treated as hostile
//! (a file name like `../../.bashrc` in a server answer must not escape the cache).

use ureq::http::Uri;

use super::error::HubError;

/// Longest model id, revision or file name accepted (the hub's own limits are far lower).
const MAX_NAME_LEN: usize = 1024;

/// `scheme://host[:port]` of an endpoint, without a trailing slash, plus an optional path prefix
/// (some mirrors serve the hub API under a sub-path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    base: String,
    authority: String,
}

impl Origin {
    /// Parses an endpoint URL such as `https://huggingface.co` or `http://127.0.0.1:8080/hub/`.
    pub fn parse(url: &str) -> Result<Self, HubError> {
        let invalid = |reason: &str| HubError::InvalidInput {
            what: "endpoint",
            value: url.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = url.trim().trim_end_matches('/');
        let uri: Uri = trimmed.parse().map_err(|_| invalid("not a URL"))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => return Err(invalid("the scheme must be http or https")),
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if uri.query().is_some() {
            return Err(invalid("an endpoint has no query string"));
        }
        Ok(Self { base: trimmed.to_owned(), authority: authority.as_str().to_ascii_lowercase() })
    }

    /// The endpoint URL without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// `base` + `path` (which starts with `/`).
    pub(crate) fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// True when `url` is on this endpoint's scheme, host and port: only then may it carry the
    /// token. A redirect to a CDN host (or to another port) does not.
    pub(crate) fn same_origin(&self, url: &str) -> bool {
        let Ok(uri) = url.parse::<Uri>() else { return false };
        let Ok(own) = self.base.parse::<Uri>() else { return false };
        uri.scheme_str() == own.scheme_str()
            && uri.authority().is_some_and(|a| a.as_str().eq_ignore_ascii_case(&self.authority))
    }
}

/// Resolves a `Location` header against the URL that returned it (absolute or path-absolute).
pub(crate) fn resolve_location(current: &str, location: &str) -> Option<String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_owned());
    }
    if !location.starts_with('/') || location.starts_with("//") {
        return None;
    }
    let uri: Uri = current.parse().ok()?;
    Some(format!("{}://{}{location}", uri.scheme_str()?, uri.authority()?.as_str()))
}

/// Checks a model id: `name` or `org/name`, each part of letters, digits, `-`, `_`, `.`.
pub fn validate_model_id(id: &str) -> Result<(), HubError> {
    let invalid =
        |reason: &str| HubError::InvalidInput { what: "model id", value: id.to_owned(), reason: reason.to_owned() };
    if id.is_empty() || id.len() > 256 {
        return Err(invalid("must be 1 to 256 characters"));
    }
    let parts: Vec<&str> = id.split('/').collect();
    if parts.len() > 2 {
        return Err(invalid("expected NAME or ORG/NAME"));
    }
    for part in parts {
        let ok_chars = part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if part.is_empty() || !ok_chars || part.starts_with('.') || part.contains("..") {
            return Err(invalid("each part is letters, digits, '-', '_' or '.', not starting with '.'"));
        }
    }
    Ok(())
}

/// Checks a revision (branch, tag, `refs/pr/N` or commit hash): it becomes a file under `refs/`.
pub fn validate_revision(rev: &str) -> Result<(), HubError> {
    check_relative_path("revision", rev)
}

/// Checks a repository file name from the server: a relative path that stays inside its folder.
pub fn validate_file_name(name: &str) -> Result<(), HubError> {
    check_relative_path("file name", name)
}

fn check_relative_path(what: &'static str, value: &str) -> Result<(), HubError> {
    let invalid = |reason: &str| HubError::InvalidInput { what, value: value.to_owned(), reason: reason.to_owned() };
    if value.is_empty() || value.len() > MAX_NAME_LEN {
        return Err(invalid("must be 1 to 1024 bytes"));
    }
    if value.chars().any(|c| c.is_control() || c == '\\' || c == ':') {
        return Err(invalid("contains a control character, '\\' or ':'"));
    }
    if value.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(invalid("must be a relative path without empty, '.' or '..' components"));
    }
    Ok(())
}

/// True for a full 40-hex git commit hash.
pub fn is_commit_hash(value: &str) -> bool {
    value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// True for a 64-hex sha256 (the etag of an LFS file).
pub(crate) fn is_sha256(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Percent-encodes a path, keeping `/` when `keep_slash` (file names) and encoding it otherwise
/// (a revision such as `refs/pr/1` is one path segment in the API URL).
pub(crate) fn encode_path(value: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        let plain = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~');
        if plain || (keep_slash && byte == b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The `resolve` path of a file: `/{id}/resolve/{rev}/{file}`.
pub(crate) fn resolve_path(model_id: &str, revision: &str, file: &str) -> String {
    format!("/{model_id}/resolve/{}/{}", encode_path(revision, false), encode_path(file, true))
}

/// The model-info path: `/api/models/{id}/revision/{rev}`.
pub(crate) fn model_info_path(model_id: &str, revision: &str) -> String {
    format!("/api/models/{model_id}/revision/{}?blobs=true", encode_path(revision, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_parse_and_same_origin() {
        let o = Origin::parse("https://Hub.Example:8443/").unwrap();
        assert_eq!(o.as_str(), "https://Hub.Example:8443");
        assert!(o.same_origin("https://hub.example:8443/a/b"));
        assert!(!o.same_origin("https://hub.example/a"));
        assert!(!o.same_origin("http://hub.example:8443/a"));
        assert!(!o.same_origin("https://cdn.example:8443/a"));
        assert!(!o.same_origin("not a url"));
        assert!(Origin::parse("ftp://x").is_err());
        assert!(Origin::parse("huggingface.co").is_err());
        assert!(Origin::parse("http://x/?q=1").is_err());
    }

    #[test]
    fn locations() {
        let cur = "http://127.0.0.1:9/a/resolve/main/f";
        assert_eq!(resolve_location(cur, "/cdn/x").as_deref(), Some("http://127.0.0.1:9/cdn/x"));
        assert_eq!(resolve_location(cur, "https://cdn/x").as_deref(), Some("https://cdn/x"));
        assert_eq!(resolve_location(cur, "//evil/x"), None);
        assert_eq!(resolve_location(cur, "relative"), None);
    }

    #[test]
    fn hostile_names_are_rejected() {
        for bad in ["", "../x", "a/../../x", "/etc/passwd", "a//b", "a\\b", "c:x", "a/./b", "x\n"] {
            assert!(validate_file_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_file_name("onnx/model.onnx").is_ok());
        assert!(validate_revision("refs/pr/1").is_ok());
        assert!(validate_file_name(&"a".repeat(2000)).is_err());
    }

    #[test]
    fn model_ids() {
        for ok in ["gpt2", "org/name", "sentence-transformers/all-MiniLM-L6-v2", "a/b.c_d"] {
            assert!(validate_model_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b/c", "../x", "a/..", "a b", "/x", "x/", ".x/y", "a/b?c"] {
            assert!(validate_model_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn encoding() {
        assert_eq!(encode_path("refs/pr/1", false), "refs%2Fpr%2F1");
        assert_eq!(encode_path("sub dir/a+b.bin", true), "sub%20dir/a%2Bb.bin");
        assert_eq!(resolve_path("o/n", "main", "x y"), "/o/n/resolve/main/x%20y");
        assert!(is_commit_hash(&"a".repeat(40)));
        assert!(!is_commit_hash("main"));
    }
}
