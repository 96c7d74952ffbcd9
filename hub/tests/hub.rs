//! Download tests against a fake hub on loopback (support/fake_hub.rs).

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used)]

mod support {
    pub mod fake_hub;
}

use std::fs;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use support::fake_hub::{dead_endpoint, FakeHub, State, COMMIT, MODEL_ID};
use weightlens_hub::config::HubConfig;
use weightlens_hub::url::Origin;
use weightlens_hub::{self as hub, DownloadRequest, HubError, ResolveOptions};

const SHARD1: &str = "model-00001-of-00002.safetensors";
const SHARD2: &str = "model-00002-of-00002.safetensors";
/// What the analysis default selects from the fake repository (README.md is left out).
const SELECTED: [&str; 4] = ["config.json", SHARD1, SHARD2, "model.safetensors.index.json"];

fn config(endpoint: &str, cache: &Path) -> HubConfig {
    HubConfig {
        endpoint: Origin::parse(endpoint).unwrap(),
        mirrors: Vec::new(),
        token: None,
        offline: false,
        cache_dir: cache.to_path_buf(),
        attempts: 3,
        backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
        parallel: 2,
        use_env_proxy: false,
    }
}

fn args() -> DownloadRequest {
    DownloadRequest { model_id: MODEL_ID.to_owned(), ..DownloadRequest::default() }
}

/// Every selected file is at `root/<name>` with the served bytes.
fn assert_files(state: &State, root: &Path) {
    for name in SELECTED {
        let got = fs::read(root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, state.file(name).bytes, "{name} content");
    }
    assert!(!root.join("README.md").exists(), "README.md is not a weight file");
}

#[test]
fn clean_download_into_the_cache_uses_the_python_layout() {
    let server = FakeHub::start(State::llama_tiny());
    let cache = tempfile::tempdir().unwrap();
    let report = hub::download(&args(), &config(&server.url, cache.path())).unwrap();

    let repo = cache.path().join("models--tiny-org--llama-tiny");
    let snapshot = repo.join("snapshots").join(COMMIT);
    assert_eq!(report.revision, COMMIT);
    assert_eq!(report.path, snapshot);
    assert_eq!(report.files.len(), 4);
    assert!(report.files.iter().all(|f| f.downloaded));
    let total: u64 = SELECTED.iter().map(|n| server.state.file(n).bytes.len() as u64).sum();
    assert_eq!(report.bytes, total);
    assert_eq!(report.bytes_downloaded, total);
    assert_files(&server.state, &snapshot);
    assert_eq!(fs::read_to_string(repo.join("refs/main")).unwrap(), COMMIT);

    // LFS files are stored once under their sha256; snapshot entries are relative symlinks.
    let shard = server.state.file(SHARD1);
    assert_eq!(fs::read(repo.join("blobs").join(shard.sha256())).unwrap(), shard.bytes);
    #[cfg(unix)]
    assert_eq!(fs::read_link(snapshot.join(SHARD1)).unwrap(), Path::new("../../blobs").join(shard.sha256()));
    let config_json = server.state.file("config.json");
    assert!(repo.join("blobs").join(config_json.blob_id()).is_file(), "regular files are named by blob id");
    let leftovers: Vec<_> = fs::read_dir(repo.join("blobs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".incomplete"))
        .collect();
    assert!(leftovers.is_empty(), "no partial file is left behind");
}

#[test]
fn include_exclude_select_files() {
    let server = FakeHub::start(State::llama_tiny());
    let cache = tempfile::tempdir().unwrap();
    let a = DownloadRequest { include: vec!["*".into()], exclude: vec![format!("*{SHARD2}")], ..args() };
    let report = hub::download(&a, &config(&server.url, cache.path())).unwrap();
    let mut names: Vec<_> = report.files.iter().map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["README.md", "config.json", SHARD1, "model.safetensors.index.json"]);

    let none = DownloadRequest { include: vec!["*.gguf".into()], ..args() };
    let err = hub::download(&none, &config(&server.url, cache.path())).unwrap_err();
    assert!(matches!(&err, HubError::NothingSelected { .. }), "{err}");
}

#[test]
fn download_into_out_dir_and_reuse() {
    let server = FakeHub::start(State::llama_tiny());
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let a = DownloadRequest { out: Some(out.path().join("tiny-org/llama-tiny")), ..args() };
    let report = hub::download(&a, &config(&server.url, cache.path())).unwrap();
    let root = out.path().join("tiny-org/llama-tiny");
    assert_eq!(report.path, root);
    assert_files(&server.state, &root);
    assert!(!root.join(SHARD1).is_symlink(), "a plain directory holds real files");
    let meta = fs::read_to_string(root.join(format!(".cache/huggingface/download/{SHARD1}.metadata"))).unwrap();
    let mut lines = meta.lines();
    assert_eq!(lines.next(), Some(COMMIT));
    assert_eq!(lines.next(), Some(server.state.file(SHARD1).sha256().as_str()));
    let log = fs::read_to_string(report.log.as_ref().unwrap()).unwrap();
    assert!(log.contains(&format!("commit: {COMMIT}")) && log.contains(SHARD1), "{log}");
    assert!(!cache.path().join("models--tiny-org--llama-tiny").exists(), "--out does not touch the cache");

    let gets = server.state.content_gets().len();
    assert_eq!(gets, 4);
    let again = hub::download(&a, &config(&server.url, cache.path())).unwrap();
    assert_eq!(server.state.content_gets().len(), gets, "nothing is downloaded twice");
    assert!(again.files.iter().all(|f| !f.downloaded));
    assert_eq!(again.bytes_downloaded, 0);
}

#[test]
fn cached_files_are_reused_without_requests() {
    let server = FakeHub::start(State::llama_tiny());
    let cache = tempfile::tempdir().unwrap();
    hub::download(&args(), &config(&server.url, cache.path())).unwrap();
    let before = server.state.requests().len();
    let report = hub::download(&args(), &config(&server.url, cache.path())).unwrap();
    let new: Vec<_> = server.state.requests().into_iter().skip(before).collect();
    assert_eq!(new.len(), 1, "only the model info is asked again: {new:?}");
    assert!(new[0].path.starts_with("/api/models/"));
    assert!(report.files.iter().all(|f| !f.downloaded));
    assert_files(&server.state, &report.path);
}

#[test]
fn corrupted_byte_is_detected_and_the_file_deleted() {
    let state = State::llama_tiny();
    state.corrupt.lock().unwrap().insert(SHARD2.to_owned());
    let server = FakeHub::start(state);
    let cache = tempfile::tempdir().unwrap();
    let err = hub::download(&args(), &config(&server.url, cache.path())).unwrap_err();
    match &err {
        HubError::ChecksumMismatch { file, expected, actual } => {
            assert_eq!(file, SHARD2);
            assert_eq!(*expected, server.state.file(SHARD2).sha256());
            assert_ne!(actual, expected);
        }
        other => panic!("expected a checksum mismatch, got {other}"),
    }
    assert!(err.to_string().contains("sha256 mismatch"), "{err}");
    let blobs = cache.path().join("models--tiny-org--llama-tiny/blobs");
    let sha = server.state.file(SHARD2).sha256();
    assert!(!blobs.join(&sha).exists(), "no bad file under the final name");
    assert!(!blobs.join(format!("{sha}.incomplete")).exists(), "the bad partial file is deleted");
    assert!(!cache.path().join("models--tiny-org--llama-tiny/snapshots").join(COMMIT).join(SHARD2).exists());
    // The good shard was kept.
    assert!(blobs.join(server.state.file(SHARD1).sha256()).is_file());
}

#[test]
fn dropped_connection_is_resumed_with_a_range_request() {
    let state = State::llama_tiny();
    let half = state.file(SHARD1).bytes.len() / 2;
    state.drop_after.lock().unwrap().insert(SHARD1.to_owned(), half);
    let server = FakeHub::start(state);
    let cache = tempfile::tempdir().unwrap();
    let report = hub::download(&args(), &config(&server.url, cache.path())).unwrap();
    assert_files(&server.state, &report.path);
    let shard_gets: Vec<_> = server.state.content_gets().into_iter().filter(|r| r.path.ends_with(SHARD1)).collect();
    assert_eq!(shard_gets.len(), 2, "{shard_gets:?}");
    assert_eq!(shard_gets[0].range, None);
    assert_eq!(shard_gets[1].range.as_deref(), Some(format!("bytes={half}-").as_str()));
    let total: u64 = SELECTED.iter().map(|n| server.state.file(n).bytes.len() as u64).sum();
    assert_eq!(report.bytes_downloaded, total, "the resumed half is not fetched again");
}

#[test]
fn partial_file_from_an_interrupted_run_is_resumed() {
    let server = FakeHub::start(State::llama_tiny());
    let cache = tempfile::tempdir().unwrap();
    let shard = server.state.file(SHARD2);
    let blobs = cache.path().join("models--tiny-org--llama-tiny/blobs");
    fs::create_dir_all(&blobs).unwrap();
    let keep = 1000;
    fs::write(blobs.join(format!("{}.incomplete", shard.sha256())), &shard.bytes[..keep]).unwrap();
    let report = hub::download(&args(), &config(&server.url, cache.path())).unwrap();
    assert_files(&server.state, &report.path);
    let get = server.state.content_gets().into_iter().find(|r| r.path.ends_with(SHARD2)).unwrap();
    assert_eq!(get.range.as_deref(), Some(format!("bytes={keep}-").as_str()));
}

#[test]
fn transient_server_errors_are_retried() {
    let state = State::llama_tiny();
    state.fail_next.store(2, Ordering::SeqCst);
    let server = FakeHub::start(state);
    let cache = tempfile::tempdir().unwrap();
    let report = hub::download(&args(), &config(&server.url, cache.path())).unwrap();
    assert_files(&server.state, &report.path);
}

#[test]
fn gated_repo_needs_the_token() {
    let state = State { gated_token: Some("secret-token".into()), ..State::llama_tiny() };
    let server = FakeHub::start(state);
    let cache = tempfile::tempdir().unwrap();
    let err = hub::download(&args(), &config(&server.url, cache.path())).unwrap_err();
    assert!(matches!(&err, HubError::Unauthorized { status: 401, .. }), "{err}");
    assert!(err.to_string().contains("HF_TOKEN"), "the message says what to do: {err}");

    let with_token = HubConfig { token: Some("secret-token".into()), ..config(&server.url, cache.path()) };
    let report = hub::download(&args(), &with_token).unwrap();
    assert_files(&server.state, &report.path);
}

#[test]
fn token_is_never_sent_to_the_redirect_host() {
    let cdn = FakeHub::start(State::llama_tiny());
    let state = State { gated_token: Some("secret-token".into()), ..State::llama_tiny() };
    *state.cdn.lock().unwrap() = Some(cdn.url.clone());
    let server = FakeHub::start(state);
    let cache = tempfile::tempdir().unwrap();
    let with_token = HubConfig { token: Some("secret-token".into()), ..config(&server.url, cache.path()) };
    let report = hub::download(&args(), &with_token).unwrap();
    assert_files(&server.state, &report.path);

    let cdn_requests = cdn.state.requests();
    assert_eq!(cdn_requests.len(), 2, "both LFS shards came from the CDN: {cdn_requests:?}");
    assert!(cdn_requests.iter().all(|r| r.authorization.is_none()), "token leaked: {cdn_requests:?}");
    assert!(server.state.requests().iter().all(|r| r.authorization.as_deref() == Some("Bearer secret-token")));
}

#[test]
fn offline_mode_uses_the_cache_or_fails_clearly() {
    let server = FakeHub::start(State::llama_tiny());
    let cache = tempfile::tempdir().unwrap();
    let offline = HubConfig { offline: true, ..config(&server.url, cache.path()) };

    let err = hub::download(&args(), &offline).unwrap_err();
    assert!(matches!(&err, HubError::Offline { .. }), "{err}");
    assert!(err.to_string().contains("HF_HUB_OFFLINE"), "{err}");
    assert!(server.state.requests().is_empty(), "offline means no request");

    let online = hub::download(&args(), &config(&server.url, cache.path())).unwrap();
    let before = server.state.requests().len();
    let report = hub::download(&args(), &offline).unwrap();
    assert_eq!(server.state.requests().len(), before, "offline means no request");
    assert_eq!(report.revision, COMMIT);
    assert_eq!(report.path, online.path);
    let mut names: Vec<_> = report.files.iter().map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, SELECTED);

    // A revision never resolved online is not guessed.
    let other = DownloadRequest { revision: Some("v2".into()), ..args() };
    assert!(matches!(&hub::download(&other, &offline).unwrap_err(), HubError::Offline { .. }));
    // The commit hash itself works.
    let pinned = DownloadRequest { revision: Some(COMMIT.into()), ..args() };
    assert_eq!(hub::download(&pinned, &offline).unwrap().files.len(), 4);
}

#[test]
fn offline_mode_with_an_out_dir() {
    let server = FakeHub::start(State::llama_tiny());
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let a = DownloadRequest { out: Some(out.path().to_path_buf()), ..args() };
    hub::download(&a, &config(&server.url, cache.path())).unwrap();
    let before = server.state.requests().len();
    let offline = HubConfig { offline: true, ..config(&server.url, cache.path()) };
    let report = hub::download(&a, &offline).unwrap();
    assert_eq!(server.state.requests().len(), before);
    assert_eq!(report.revision, COMMIT);
    assert_eq!(report.files.len(), 4);
}

#[test]
fn mirrors_are_tried_in_order() {
    let broken = FakeHub::start(State::llama_tiny());
    broken.state.always_fail.store(true, Ordering::SeqCst);
    let mirror = FakeHub::start(State::llama_tiny());
    let cache = tempfile::tempdir().unwrap();
    let cfg = HubConfig {
        token: Some("secret-token".into()),
        ..config(&dead_endpoint(), cache.path()).with_mirrors(&[broken.url.clone(), mirror.url.clone()]).unwrap()
    };
    let report = hub::download(&args(), &cfg).unwrap();
    assert_files(&mirror.state, &report.path);
    assert_eq!(broken.state.requests().len(), 3, "the failing mirror got its retries, then was skipped");
    assert!(mirror.state.requests().iter().all(|r| r.authorization.is_none()), "the token stays with HF_ENDPOINT");

    // When every endpoint fails, each one's error is reported.
    let cfg = config(&dead_endpoint(), cache.path()).with_mirrors(std::slice::from_ref(&broken.url)).unwrap();
    let err = hub::download(&DownloadRequest { revision: Some("v9".into()), ..args() }, &cfg).unwrap_err();
    match &err {
        HubError::AllEndpointsFailed { errors } => assert_eq!(errors.len(), 2, "{errors:?}"),
        other => panic!("{other}"),
    }
}

#[test]
fn unknown_revision_is_a_clear_404() {
    let server = FakeHub::start(State::llama_tiny());
    let cache = tempfile::tempdir().unwrap();
    let a = DownloadRequest { revision: Some("no-such-branch".into()), ..args() };
    let err = hub::download(&a, &config(&server.url, cache.path())).unwrap_err();
    assert!(matches!(&err, HubError::NotFound { .. }), "{err}");
}

#[test]
fn resolve_model_downloads_weights_and_config() {
    let server = FakeHub::start(State::llama_tiny());
    let cache = tempfile::tempdir().unwrap();
    let opts = ResolveOptions { config: Some(config(&server.url, cache.path())), ..ResolveOptions::default() };
    let resolved = hub::resolve_model(&format!("hf://{MODEL_ID}@main"), &opts, &hub::NoProgress).unwrap();
    assert_eq!(resolved.model_id, MODEL_ID);
    assert_eq!(resolved.revision, COMMIT);
    assert_files(&server.state, &resolved.path);
    // The resolved folder is what the readers expect: the shard index names files beside it.
    let index = fs::read_to_string(resolved.path.join("model.safetensors.index.json")).unwrap();
    assert!(index.contains(SHARD1) && index.contains(SHARD2));

    assert!(hub::resolve_model("not a model", &opts, &hub::NoProgress).is_err());
}

#[test]
fn identical_files_share_one_blob_and_one_download() {
    let mut state = State::llama_tiny();
    let mut copy = state.file(SHARD1).clone();
    copy.name = format!("copy/{SHARD1}");
    state.files.push(copy);
    let server = FakeHub::start(state);
    let cache = tempfile::tempdir().unwrap();
    let report = hub::download(&args(), &config(&server.url, cache.path())).unwrap();
    assert_eq!(report.files.len(), 5);
    let shard = &server.state.file(SHARD1).bytes;
    assert_eq!(&fs::read(report.path.join("copy").join(SHARD1)).unwrap(), shard);
    assert_eq!(&fs::read(report.path.join(SHARD1)).unwrap(), shard);
    let shard_gets = server.state.content_gets().into_iter().filter(|r| r.path.ends_with(SHARD1)).count();
    assert_eq!(shard_gets, 1, "one blob, one download");
    assert!(report.to_string().contains("5 files"), "{report}");
}

#[test]
fn a_wrong_content_range_is_refused_and_the_partial_file_kept() {
    let state = State::llama_tiny();
    state.wrong_range.store(true, Ordering::SeqCst);
    let server = FakeHub::start(state);
    let cache = tempfile::tempdir().unwrap();
    let shard = server.state.file(SHARD2);
    let partial = cache.path().join(format!("models--tiny-org--llama-tiny/blobs/{}.incomplete", shard.sha256()));
    fs::create_dir_all(partial.parent().unwrap()).unwrap();
    fs::write(&partial, &shard.bytes[..500]).unwrap();
    let err = hub::download(&args(), &config(&server.url, cache.path())).unwrap_err();
    assert!(matches!(&err, HubError::Protocol { .. }), "{err}");
    assert!(err.to_string().contains("asked for bytes from 500"), "{err}");
    assert_eq!(fs::read(&partial).unwrap(), &shard.bytes[..500], "nothing appended at the wrong offset");
}
