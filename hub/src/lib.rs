//! Downloading model repositories from the Hugging Face hub (or a mirror) into the cache layout
//! Python's `huggingface_hub` uses, or into a plain directory: verified, cached, resumable.
//!
//! Entry points: [`run_download`] for `weightlens download`, [`resolve_model`] for
//! `weightlens analyze hf://ORG/NAME[@REV]`; errors are [`HubError`]. Both read `HF_ENDPOINT`, `HF_TOKEN`,
//! `HF_HUB_OFFLINE`, `HF_HUB_CACHE`/`HF_HOME` through [`HubConfig::from_env`]; [`download`] takes an
//! explicit [`HubConfig`] instead.

pub mod api;
pub mod cache;
pub mod config;
pub mod error;
pub mod fetch;
pub mod filter;
pub mod progress;
pub mod url;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use config::HubConfig;
pub use error::HubError;

use api::{Client, RepoFile};
use cache::{HubCache, Layout, LocalDir};
use fetch::Job;
use filter::FileFilter;
pub use progress::{DownloadProgress, NoProgress};

/// Revision used when none is given.
pub const DEFAULT_REVISION: &str = "main";

/// What to download: a model repository, which of its files, and where to.
#[derive(Debug, Clone, Default)]
pub struct DownloadRequest {
    /// Model repository id, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
    pub model_id: String,
    /// Branch, tag or commit hash [default: main].
    pub revision: Option<String>,
    /// Only files matching these globs. Empty: weight files, their index files and config.json
    /// (`*` fetches everything).
    pub include: Vec<String>,
    /// Skip files matching these globs.
    pub exclude: Vec<String>,
    /// Write a plain directory here instead of the Hugging Face cache.
    pub out: Option<PathBuf>,
    /// Fallback endpoints tried when the one before fails, in order.
    pub mirror: Vec<String>,
}

/// One file of a finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedFile {
    /// Repository file name.
    pub name: String,
    /// Where it is on disk (a snapshot path in the cache, or under `--out`).
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// sha256 published for it (LFS files), verified when it was downloaded.
    pub sha256: Option<String>,
    /// True when it came over the network in this run; false when it was reused.
    pub downloaded: bool,
}

/// What [`run_download`] did.
#[derive(Debug, Clone)]
pub struct DownloadReport {
    /// The model id.
    pub model_id: String,
    /// The commit hash the revision resolved to.
    pub revision: String,
    /// The folder holding the files under their repository names.
    pub path: PathBuf,
    /// The selected files.
    pub files: Vec<DownloadedFile>,
    /// Total size of the selected files.
    pub bytes: u64,
    /// Bytes received over the network in this run.
    pub bytes_downloaded: u64,
    /// The `download_<timestamp>.log` written (with `--out`).
    pub log: Option<PathBuf>,
}

impl std::fmt::Display for DownloadReport {
    /// One line for the terminal: what was fetched, how much, and where it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fetched = self.files.iter().filter(|file| file.downloaded).count();
        write!(
            f,
            "{}@{}: {} files ({} bytes), {fetched} downloaded ({} bytes), {} reused -> {}",
            self.model_id,
            self.revision,
            self.files.len(),
            self.bytes,
            self.bytes_downloaded,
            self.files.len() - fetched,
            self.path.display()
        )
    }
}

/// How [`resolve_model`] fetches what is missing.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// Globs to fetch; empty means the analysis default (weights, index files, config.json).
    pub include: Vec<String>,
    /// Globs to skip.
    pub exclude: Vec<String>,
    /// A plain directory instead of the hub cache.
    pub out: Option<PathBuf>,
    /// Fallback endpoints.
    pub mirrors: Vec<String>,
    /// Explicit settings; `None` reads the environment.
    pub config: Option<HubConfig>,
}

/// A model resolved to files on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The folder to analyze.
    pub path: PathBuf,
    /// The model id.
    pub model_id: String,
    /// The commit hash.
    pub revision: String,
}

/// A model reference parsed from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// `ORG/NAME` or `NAME`.
    pub model_id: String,
    /// The part after `@`, if any.
    pub revision: Option<String>,
}

/// Recognises `hf://ORG/NAME[@REV]` always, and a bare `ORG/NAME[@REV]` only when no such local
/// path exists (a local folder always wins). Returns `None` for anything else.
pub fn parse_model_spec(spec: &str) -> Option<ModelSpec> {
    let (body, explicit) = match spec.strip_prefix("hf://") {
        Some(rest) => (rest, true),
        None => (spec, false),
    };
    if !explicit && (Path::new(spec).exists() || !spec.contains('/')) {
        return None;
    }
    let (id, revision) = match body.split_once('@') {
        Some((id, rev)) => (id, Some(rev.to_owned())),
        None => (body, None),
    };
    let id = id.trim_end_matches('/');
    if !explicit && url::validate_model_id(id).is_err() {
        return None;
    }
    Some(ModelSpec { model_id: id.to_owned(), revision })
}

/// `weightlens download`: settings from the environment plus the request's mirrors.
pub fn run_download(args: &DownloadRequest, progress: &dyn DownloadProgress) -> Result<DownloadReport, HubError> {
    let config = HubConfig::from_env()?.with_mirrors(&args.mirror)?;
    download_with_progress(args, &config, progress)
}

/// Resolves `hf://ORG/NAME[@REV]` (or a bare model id) to a local folder, downloading the missing
/// files (by default the weights, their index files and config.json).
pub fn resolve_model(
    spec: &str,
    opts: &ResolveOptions,
    progress: &dyn DownloadProgress,
) -> Result<ResolvedModel, HubError> {
    let parsed = parse_model_spec(spec).ok_or_else(|| HubError::InvalidInput {
        what: "model id",
        value: spec.to_owned(),
        reason: "not a model id (ORG/NAME[@REV])".to_owned(),
    })?;
    let config = match &opts.config {
        Some(config) => config.clone(),
        None => HubConfig::from_env()?,
    }
    .with_mirrors(&opts.mirrors)?;
    let args = DownloadRequest {
        model_id: parsed.model_id,
        revision: parsed.revision,
        include: opts.include.clone(),
        exclude: opts.exclude.clone(),
        out: opts.out.clone(),
        mirror: Vec::new(),
    };
    let report = download_with_progress(&args, &config, progress)?;
    Ok(ResolvedModel { path: report.path, model_id: report.model_id, revision: report.revision })
}

/// Downloads (or, offline, finds in the cache) the selected files of `args.model_id`.
pub fn download(args: &DownloadRequest, config: &HubConfig) -> Result<DownloadReport, HubError> {
    download_with_progress(args, config, &NoProgress)
}

/// [`download`], reporting the bytes received to `progress`.
pub fn download_with_progress(
    args: &DownloadRequest,
    config: &HubConfig,
    progress: &dyn DownloadProgress,
) -> Result<DownloadReport, HubError> {
    let model_id = args.model_id.trim();
    url::validate_model_id(model_id)?;
    let revision = args.revision.as_deref().unwrap_or(DEFAULT_REVISION);
    url::validate_revision(revision)?;
    let filter = if args.include.is_empty() {
        FileFilter::analysis(&args.exclude)?
    } else {
        FileFilter::new(&args.include, &args.exclude)?
    };
    let cache = HubCache::new(&config.cache_dir, model_id);
    let layout = match &args.out {
        Some(dir) => Layout::Dir(LocalDir::new(dir.clone())),
        None => Layout::Cache(cache.clone()),
    };
    if config.offline {
        return offline(model_id, revision, &filter, &layout);
    }
    let client = Client::new(config);
    let info = client.model_info(model_id, revision)?;
    let commit = info.commit.clone();
    let names: Vec<&str> = info.files.iter().map(|f| f.name.as_str()).collect();
    let selected = filter.select(names.iter().copied());
    if selected.is_empty() {
        return Err(HubError::NothingSelected { model_id: model_id.to_owned(), revision: commit, count: names.len() });
    }

    let mut planned = Vec::with_capacity(selected.len());
    for file in info.files.iter().filter(|f| selected.contains(&f.name.as_str())) {
        planned.push(plan(&client, model_id, &commit, file, &layout)?);
    }
    // Two names with the same content share one blob in the cache: fetch it once.
    let mut seen = std::collections::HashSet::new();
    let jobs: Vec<Job> = planned.iter().filter_map(|p| p.job.clone()).filter(|j| seen.insert(j.dest.clone())).collect();
    let total: u64 = jobs.iter().filter_map(|j| j.size).sum();
    let partial: u64 = jobs.iter().filter_map(|j| std::fs::metadata(&j.incomplete).ok()).map(|m| m.len()).sum();
    progress.start(model_id, total, partial.min(total));
    let fetched = fetch::fetch_all(&client, &jobs, progress);
    progress.finish();
    let received = fetched?;

    let mut files = Vec::with_capacity(planned.len());
    for p in &planned {
        layout.record(&commit, &p.file.name, &p.etag)?;
        let path = layout.root(&commit).join(&p.file.name);
        let size = std::fs::metadata(&path).map_err(|e| HubError::io(&path, e))?.len();
        files.push(DownloadedFile {
            name: p.file.name.clone(),
            path,
            size,
            sha256: p.file.sha256.clone(),
            downloaded: p.job.is_some(),
        });
    }
    if args.out.is_none() {
        cache.write_ref(revision, &commit)?;
    }
    let mut report = DownloadReport {
        model_id: model_id.to_owned(),
        revision: commit.clone(),
        path: layout.root(&commit),
        bytes: files.iter().map(|f| f.size).sum(),
        bytes_downloaded: received.iter().sum(),
        files,
        log: None,
    };
    if let Some(dir) = &args.out {
        report.log = write_log(dir, revision, config, &report)
            .map_err(|e| tracing::warn!(error = %e, "could not write the download log"))
            .ok();
    }
    tracing::info!(
        model = model_id,
        commit,
        files = report.files.len(),
        bytes = report.bytes_downloaded,
        "download done"
    );
    Ok(report)
}

/// A selected file: reused as it is, or to be fetched by `job`.
struct Planned<'a> {
    file: &'a RepoFile,
    etag: String,
    job: Option<Job>,
}

fn plan<'a>(
    client: &Client,
    model_id: &str,
    commit: &str,
    file: &'a RepoFile,
    layout: &Layout,
) -> Result<Planned<'a>, HubError> {
    let resolve_path = url::resolve_path(model_id, commit, &file.name);
    let etag = match file.etag() {
        Some(etag) => etag.to_owned(),
        // A server whose model info has no hashes: ask the file itself.
        None => client
            .on_endpoints(|endpoint| client.file_headers(endpoint, &resolve_path))?
            .etag
            .filter(|e| !e.is_empty() && e.len() <= 128 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
            .ok_or_else(|| api::protocol(&resolve_path, format!("{}: no usable etag", file.name)))?,
    };
    if layout.existing(commit, &file.name, &etag, file.size).is_some() {
        return Ok(Planned { file, etag, job: None });
    }
    let job = Job {
        file: file.name.clone(),
        resolve_path,
        size: file.size,
        sha256: file.sha256.clone().or_else(|| url::is_sha256(&etag).then(|| etag.clone())),
        incomplete: layout.incomplete_path(&file.name, &etag),
        dest: layout.final_path(&file.name, &etag),
    };
    Ok(Planned { file, etag, job: Some(job) })
}

/// HF_HUB_OFFLINE=1: the files already on disk for the revision, or a clear error.
fn offline(model_id: &str, revision: &str, filter: &FileFilter, layout: &Layout) -> Result<DownloadReport, HubError> {
    let (commit, names) = match layout {
        Layout::Cache(cache) => {
            let commit = cache.read_ref(revision).ok_or_else(|| HubError::Offline {
                message: format!(
                    "{model_id}@{revision} is not in the cache {} (download it once online)",
                    cache.repo_dir().display()
                ),
            })?;
            (commit.clone(), cache.snapshot_files(&commit))
        }
        Layout::Dir(dir) => {
            let recorded = dir.recorded_files();
            let wanted = url::is_commit_hash(revision).then(|| revision.to_ascii_lowercase());
            let commit = wanted.or_else(|| recorded.first().map(|(_, c)| c.clone())).unwrap_or_default();
            let names = recorded.into_iter().filter(|(_, c)| *c == commit).map(|(n, _)| n).collect();
            (commit, names)
        }
    };
    let selected = filter.select(names.iter().map(String::as_str));
    if selected.is_empty() {
        return Err(HubError::Offline {
            message: format!("no cached file of {model_id}@{revision} matches the include/exclude patterns"),
        });
    }
    let root = layout.root(&commit);
    let mut files = Vec::with_capacity(selected.len());
    for name in selected {
        let path = root.join(name);
        let size = std::fs::metadata(&path).map_err(|e| HubError::io(&path, e))?.len();
        files.push(DownloadedFile { name: name.to_owned(), path, size, sha256: None, downloaded: false });
    }
    Ok(DownloadReport {
        model_id: model_id.to_owned(),
        revision: commit,
        path: root,
        bytes: files.iter().map(|f| f.size).sum(),
        bytes_downloaded: 0,
        files,
        log: None,
    })
}

/// `DIR/download_<UTC timestamp>.log`: what was fetched from where, for the record.
fn write_log(dir: &Path, revision: &str, config: &HubConfig, report: &DownloadReport) -> Result<PathBuf, HubError> {
    let now = time::OffsetDateTime::now_utc();
    // Formatting a UTC time into a String cannot fail in practice; if it does, say so as I/O.
    let format_err = |e: time::error::Format| HubError::io(dir, std::io::Error::other(e));
    let stamp = now
        .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
        .map_err(format_err)?;
    let rfc = now.format(&time::format_description::well_known::Rfc3339).map_err(format_err)?;
    let mut text = String::new();
    let _ = writeln!(text, "time: {rfc}");
    let _ = writeln!(text, "model_id: {}", report.model_id);
    let _ = writeln!(text, "revision: {revision}");
    let _ = writeln!(text, "commit: {}", report.revision);
    let endpoints: Vec<&str> = config.endpoints().map(|e| e.as_str()).collect();
    let _ = writeln!(text, "endpoints: {}", endpoints.join(" "));
    let _ = writeln!(text, "bytes_downloaded: {}", report.bytes_downloaded);
    for f in &report.files {
        let how = if f.downloaded { "downloaded" } else { "reused" };
        let _ = writeln!(text, "file: {} size={} sha256={} {how}", f.name, f.size, f.sha256.as_deref().unwrap_or("-"));
    }
    let path = dir.join(format!("download_{stamp}.log"));
    std::fs::write(&path, text).map_err(|e| HubError::io(&path, e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_specs() {
        let spec = parse_model_spec("hf://org/name@v1.0").unwrap();
        assert_eq!(spec, ModelSpec { model_id: "org/name".into(), revision: Some("v1.0".into()) });
        assert_eq!(parse_model_spec("hf://gpt2").unwrap().model_id, "gpt2");
        assert_eq!(parse_model_spec("org/name").unwrap().revision, None);
        assert_eq!(parse_model_spec("gpt2"), None, "a bare name without org could be a file");
        assert_eq!(parse_model_spec("./some/file.safetensors"), None);
        assert_eq!(parse_model_spec("/abs/path"), None);
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("org");
        std::fs::create_dir_all(local.join("name")).unwrap();
        let existing = local.join("name");
        assert_eq!(parse_model_spec(existing.to_str().unwrap()), None);
    }
}
