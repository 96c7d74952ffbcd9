//! Where downloaded files live. Two layouts, both shared with Python's `huggingface_hub`:
//!
//! - the hub cache (`HF_HUB_CACHE`): `models--ORG--NAME/blobs/<etag>` holds the content once,
//!   `snapshots/<commit>/<file>` are relative symlinks to the blobs, `refs/<revision>` holds the
//!   commit a branch or tag resolved to; partial downloads are `blobs/<etag>.incomplete`;
//! - a plain directory (`--out DIR`): `DIR/<file>`, with `DIR/.cache/huggingface/download/<file>.metadata`
//!   (commit, etag, timestamp: one per line) telling which version the file is, and partial
//!   downloads beside the metadata.
//!
//! A file appears under its final name only by a rename of a complete, verified file.

use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use super::error::HubError;
use super::url;

/// Where one download run puts its files.
#[derive(Debug, Clone)]
pub enum Layout {
    /// The shared hub cache.
    Cache(HubCache),
    /// A plain directory (`--out`).
    Dir(LocalDir),
}

impl Layout {
    /// The final path of `file` when it is present and of the right version and size (so it can be
    /// reused without a request), else `None`.
    pub fn existing(&self, commit: &str, file: &str, etag: &str, size: Option<u64>) -> Option<PathBuf> {
        let path = match self {
            Self::Cache(cache) => {
                let blob = cache.blob_path(etag);
                has_size(&blob, size).then_some(blob)?
            }
            Self::Dir(dir) => {
                let path = dir.file_path(file);
                let (_, recorded_etag) = dir.read_metadata(file)?;
                (recorded_etag == etag && has_size(&path, size)).then_some(path)?
            }
        };
        tracing::debug!(file, commit, path = %path.display(), "reusing");
        Some(path)
    }

    /// The partial file a download of `file` appends to (stable across runs, so it resumes).
    pub fn incomplete_path(&self, file: &str, etag: &str) -> PathBuf {
        match self {
            Self::Cache(cache) => cache.blob_dir().join(format!("{etag}.incomplete")),
            Self::Dir(dir) => dir.meta_dir().join(format!("{file}.{etag}.incomplete")),
        }
    }

    /// Where the complete file is renamed to.
    pub fn final_path(&self, file: &str, etag: &str) -> PathBuf {
        match self {
            Self::Cache(cache) => cache.blob_path(etag),
            Self::Dir(dir) => dir.file_path(file),
        }
    }

    /// Records that `file` at `commit` is the content `etag` (a snapshot link, or a metadata file).
    pub fn record(&self, commit: &str, file: &str, etag: &str) -> Result<(), HubError> {
        match self {
            Self::Cache(cache) => cache.link_snapshot(commit, file, etag),
            Self::Dir(dir) => dir.write_metadata(commit, file, etag),
        }
    }

    /// The folder that holds the files of `commit` under their repository names.
    pub fn root(&self, commit: &str) -> PathBuf {
        match self {
            Self::Cache(cache) => cache.snapshot_dir(commit),
            Self::Dir(dir) => dir.root.clone(),
        }
    }
}

/// One repository's folder in the hub cache.
#[derive(Debug, Clone)]
pub struct HubCache {
    repo_dir: PathBuf,
}

impl HubCache {
    /// The cache folder of `model_id` (validated by the caller) under the cache root.
    pub fn new(cache_root: &Path, model_id: &str) -> Self {
        Self { repo_dir: cache_root.join(repo_folder_name(model_id)) }
    }

    /// `<root>/models--ORG--NAME`.
    pub fn repo_dir(&self) -> &Path {
        &self.repo_dir
    }

    fn blob_dir(&self) -> PathBuf {
        self.repo_dir.join("blobs")
    }

    fn blob_path(&self, etag: &str) -> PathBuf {
        self.blob_dir().join(etag)
    }

    /// `snapshots/<commit>`.
    pub fn snapshot_dir(&self, commit: &str) -> PathBuf {
        self.repo_dir.join("snapshots").join(commit)
    }

    /// The commit a revision resolved to last time, from `refs/<revision>`; a commit hash is its
    /// own answer.
    pub fn read_ref(&self, revision: &str) -> Option<String> {
        if url::is_commit_hash(revision) {
            return Some(revision.to_ascii_lowercase());
        }
        let text = fs::read_to_string(self.repo_dir.join("refs").join(revision)).ok()?;
        let commit = text.trim();
        url::is_commit_hash(commit).then(|| commit.to_owned())
    }

    /// Writes `refs/<revision>` (not for a revision that is itself the commit hash, like Python).
    pub fn write_ref(&self, revision: &str, commit: &str) -> Result<(), HubError> {
        if revision == commit {
            return Ok(());
        }
        let path = self.repo_dir.join("refs").join(revision);
        if fs::read_to_string(&path).is_ok_and(|old| old.trim() == commit) {
            return Ok(());
        }
        write_atomic(&path, commit.as_bytes())
    }

    /// Points `snapshots/<commit>/<file>` at `blobs/<etag>` with a relative symlink (a copy where
    /// symlinks are not available).
    fn link_snapshot(&self, commit: &str, file: &str, etag: &str) -> Result<(), HubError> {
        let link = self.snapshot_dir(commit).join(file);
        let parent = link.parent().unwrap_or(&self.repo_dir);
        fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
        // `snapshots/<commit>/a/b/f` -> `../../../../blobs/<etag>`: one `..` per folder level.
        let depth = file.split('/').count() + 1;
        let target = PathBuf::from("../".repeat(depth)).join("blobs").join(etag);
        if fs::read_link(&link).is_ok_and(|old| old == target) {
            return Ok(());
        }
        match fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(HubError::io(&link, e)),
        }
        make_link(&target, &self.blob_path(etag), &link).map_err(|e| HubError::io(&link, e))
    }

    /// The files of a snapshot (relative names), for offline mode.
    pub fn snapshot_files(&self, commit: &str) -> Vec<String> {
        let root = self.snapshot_dir(commit);
        let mut out = Vec::new();
        walk_files(&root, &root, &mut out);
        out.sort();
        out
    }
}

#[cfg(unix)]
fn make_link(target: &Path, _blob: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn make_link(_target: &Path, blob: &Path, link: &Path) -> io::Result<()> {
    fs::copy(blob, link).map(|_| ())
}

/// Lists regular files (following symlinks) under `dir`, relative to `root`, `/`-separated.
fn walk_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk_files(root, &path, out);
        } else if path.is_file() {
            let Ok(rel) = path.strip_prefix(root) else { continue };
            let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            out.push(parts.join("/"));
        }
    }
}

/// A plain output directory (`--out`).
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// Files go directly under `root`.
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn file_path(&self, file: &str) -> PathBuf {
        self.root.join(file)
    }

    fn meta_dir(&self) -> PathBuf {
        self.root.join(".cache").join("huggingface").join("download")
    }

    fn metadata_path(&self, file: &str) -> PathBuf {
        self.meta_dir().join(format!("{file}.metadata"))
    }

    /// `(commit, etag)` recorded for `file`, if any.
    pub fn read_metadata(&self, file: &str) -> Option<(String, String)> {
        let text = fs::read_to_string(self.metadata_path(file)).ok()?;
        let mut lines = text.lines();
        let commit = lines.next()?.trim().to_owned();
        let etag = lines.next()?.trim().to_owned();
        url::is_commit_hash(&commit).then_some((commit, etag))
    }

    fn write_metadata(&self, commit: &str, file: &str, etag: &str) -> Result<(), HubError> {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        write_atomic(&self.metadata_path(file), format!("{commit}\n{etag}\n{now}\n").as_bytes())
    }

    /// Files that have metadata, with the commit recorded for them, for offline mode.
    pub fn recorded_files(&self) -> Vec<(String, String)> {
        let meta = self.meta_dir();
        let mut names = Vec::new();
        walk_files(&meta, &meta, &mut names);
        names
            .iter()
            .filter_map(|n| n.strip_suffix(".metadata"))
            .filter_map(|file| {
                let (commit, _) = self.read_metadata(file)?;
                self.file_path(file).is_file().then(|| (file.to_owned(), commit))
            })
            .collect()
    }
}

/// `models--ORG--NAME`, the folder name `huggingface_hub` uses for a model repository.
pub fn repo_folder_name(model_id: &str) -> String {
    format!("models--{}", model_id.replace('/', "--"))
}

fn has_size(path: &Path, size: Option<u64>) -> bool {
    match fs::metadata(path) {
        Ok(meta) => meta.is_file() && size.is_none_or(|s| meta.len() == s),
        Err(_) => false,
    }
}

/// Writes a small file through a temporary sibling and a rename, so readers never see half of it.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HubError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes).map_err(|e| HubError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| HubError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn python_layout_names() {
        assert_eq!(repo_folder_name("org/name"), "models--org--name");
        assert_eq!(repo_folder_name("gpt2"), "models--gpt2");
    }

    #[cfg(unix)]
    #[test]
    fn snapshot_links_are_relative_and_resolve() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = HubCache::new(tmp.path(), "o/n");
        let layout = Layout::Cache(cache.clone());
        let blob = layout.final_path("sub/f.bin", "abc");
        fs::create_dir_all(blob.parent().unwrap()).unwrap();
        fs::write(&blob, b"xyz").unwrap();
        layout.record(COMMIT, "sub/f.bin", "abc").unwrap();
        let link = cache.snapshot_dir(COMMIT).join("sub/f.bin");
        assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from("../../../blobs/abc"));
        assert_eq!(fs::read(&link).unwrap(), b"xyz");
        assert_eq!(cache.snapshot_files(COMMIT), vec!["sub/f.bin".to_owned()]);
        // Recording again is a no-op; a different etag replaces the link.
        layout.record(COMMIT, "sub/f.bin", "abc").unwrap();
        layout.record(COMMIT, "sub/f.bin", "def").unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from("../../../blobs/def"));
    }

    #[test]
    fn refs_round_trip_and_reject_garbage() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = HubCache::new(tmp.path(), "o/n");
        assert_eq!(cache.read_ref("main"), None);
        cache.write_ref("main", COMMIT).unwrap();
        assert_eq!(cache.read_ref("main").as_deref(), Some(COMMIT));
        assert_eq!(cache.read_ref(COMMIT).as_deref(), Some(COMMIT));
        fs::write(cache.repo_dir().join("refs/bad"), "not a hash").unwrap();
        assert_eq!(cache.read_ref("bad"), None);
    }

    #[test]
    fn local_dir_metadata() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::Dir(LocalDir::new(tmp.path().to_path_buf()));
        assert!(layout.existing(COMMIT, "a.json", "e1", Some(2)).is_none());
        fs::write(tmp.path().join("a.json"), b"{}").unwrap();
        layout.record(COMMIT, "a.json", "e1").unwrap();
        assert!(layout.existing(COMMIT, "a.json", "e1", Some(2)).is_some());
        assert!(layout.existing(COMMIT, "a.json", "e2", Some(2)).is_none(), "other version");
        assert!(layout.existing(COMMIT, "a.json", "e1", Some(3)).is_none(), "wrong size");
        let Layout::Dir(dir) = &layout else { unreachable!() };
        assert_eq!(dir.recorded_files(), vec![("a.json".to_owned(), COMMIT.to_owned())]);
    }
}
