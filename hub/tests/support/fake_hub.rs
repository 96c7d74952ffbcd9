//! A hub-like HTTP/1.1 server on 127.0.0.1 for the download tests: model info, `resolve` with the
//! hub's headers, HEAD, ranges, 302 redirects to a "CDN" server, 401 for gated repositories,
//! and injected faults (corrupted bytes, dropped connections, 5xx). One request per connection
//! (`Connection: close`), every socket with a timeout, so no test can hang.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub const COMMIT: &str = "4fb3a2c9d1e0f5a6b7c8d9e0f1a2b3c4d5e6f7a8";
pub const MODEL_ID: &str = "tiny-org/llama-tiny";
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One file of the fake repository.
#[derive(Clone)]
pub struct RepoFile {
    pub name: String,
    pub bytes: Vec<u8>,
    pub lfs: bool,
}

impl RepoFile {
    pub fn sha256(&self) -> String {
        hex(&Sha256::digest(&self.bytes))
    }

    /// A stand-in for the git blob id of a regular file (any hex string names the blob).
    pub fn blob_id(&self) -> String {
        self.sha256().chars().take(40).collect()
    }
}

/// A logged request.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub range: Option<String>,
}

/// What the server serves and how it misbehaves.
#[derive(Default)]
pub struct State {
    pub files: Vec<RepoFile>,
    /// Require `Authorization: Bearer <token>`.
    pub gated_token: Option<String>,
    /// Redirect LFS files to this base URL (`{cdn}/cdn/{sha256}`).
    pub cdn: Mutex<Option<String>>,
    /// Serve these files with one byte flipped (the listed sha256 stays the true one).
    pub corrupt: Mutex<HashSet<String>>,
    /// Drop the connection after this many body bytes, once per file.
    pub drop_after: Mutex<HashMap<String, usize>>,
    /// Answer ranged requests with a Content-Range that starts one byte early.
    pub wrong_range: AtomicBool,
    /// Answer the next N requests with 503.
    pub fail_next: AtomicUsize,
    /// Answer every request with 500.
    pub always_fail: AtomicBool,
    pub log: Mutex<Vec<Request>>,
}

impl State {
    pub fn llama_tiny() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/llama-tiny");
        let mut files = Vec::new();
        for (name, lfs) in [
            ("config.json", false),
            ("model-00001-of-00002.safetensors", true),
            ("model-00002-of-00002.safetensors", true),
            ("model.safetensors.index.json", false),
        ] {
            let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
            files.push(RepoFile { name: name.to_owned(), bytes, lfs });
        }
        files.push(RepoFile { name: "README.md".to_owned(), bytes: b"# llama-tiny\n".to_vec(), lfs: false });
        Self { files, ..Self::default() }
    }

    pub fn file(&self, name: &str) -> &RepoFile {
        self.files.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no file {name}"))
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// GETs of file content (resolve or CDN), not HEADs or the API.
    pub fn content_gets(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && (r.path.contains("/resolve/") || r.path.starts_with("/cdn/")))
            .collect()
    }

    fn tree_json(&self) -> String {
        let entries: Vec<String> = self
            .files
            .iter()
            .map(|f| {
                let lfs = if f.lfs {
                    format!(r#","lfs":{{"oid":"{}","size":{},"pointerSize":134}}"#, f.sha256(), f.bytes.len())
                } else {
                    String::new()
                };
                format!(
                    r#"{{"type":"file","path":"{}","size":{},"oid":"{}"{lfs}}}"#,
                    f.name,
                    f.bytes.len(),
                    f.blob_id()
                )
            })
            .collect();
        format!("[{}]", entries.join(","))
    }

    fn info_json(&self) -> String {
        let siblings: Vec<String> = self
            .files
            .iter()
            .map(|f| {
                if f.lfs {
                    format!(
                        r#"{{"rfilename":"{}","size":{},"blobId":"{}","lfs":{{"sha256":"{}","size":{},"pointerSize":134}}}}"#,
                        f.name,
                        f.bytes.len(),
                        f.blob_id(),
                        f.sha256(),
                        f.bytes.len()
                    )
                } else {
                    format!(r#"{{"rfilename":"{}","size":{},"blobId":"{}"}}"#, f.name, f.bytes.len(), f.blob_id())
                }
            })
            .collect();
        format!(r#"{{"id":"{MODEL_ID}","sha":"{COMMIT}","siblings":[{}]}}"#, siblings.join(","))
    }
}

/// A running server; stops when dropped.
pub struct FakeHub {
    pub url: String,
    pub state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeHub {
    pub fn start(state: State) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(state);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = state.clone();
                    std::thread::spawn(move || handle(stream, &state));
                }
            })
        };
        Self { url, state, stop, thread: Some(thread) }
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.url.trim_start_matches("http://").parse().unwrap(), IO_TIMEOUT);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A port on 127.0.0.1 where nothing listens (connections are refused).
pub fn dead_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

fn handle(mut stream: TcpStream, state: &State) {
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok();
    stream.set_write_timeout(Some(IO_TIMEOUT)).ok();
    let Some(request) = read_request(&stream) else { return };
    state.log.lock().unwrap().push(request.clone());
    respond(&mut stream, state, &request);
    stream.flush().ok();
    stream.shutdown(Shutdown::Both).ok();
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?).take(16 * 1024);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut request = Request { method, path, authorization: None, range: None };
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "authorization" => request.authorization = Some(value.trim().to_owned()),
            "range" => request.range = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    Some(request)
}

fn respond(stream: &mut TcpStream, state: &State, req: &Request) {
    if state.always_fail.load(Ordering::SeqCst) {
        return simple(stream, 500, "server error");
    }
    if state.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        return simple(stream, 503, "try again");
    }
    if let Some(sha) = req.path.strip_prefix("/cdn/") {
        return match state.files.iter().find(|f| f.sha256() == sha) {
            Some(file) => serve(stream, state, req, file, &[]),
            None => simple(stream, 404, "no such blob"),
        };
    }
    if let Some(token) = &state.gated_token {
        if req.authorization.as_deref() != Some(format!("Bearer {token}").as_str()) {
            return simple(stream, 401, "Access to model is restricted");
        }
    }
    // Python's huggingface_hub lists files with the tree endpoint (used by the interop check).
    let tree_prefix = format!("/api/models/{MODEL_ID}/tree/");
    if req.path.starts_with(&tree_prefix) {
        let body = state.tree_json();
        return write_response(stream, 200, &[("Content-Type", "application/json".into())], body.as_bytes(), None);
    }
    let api_prefix = format!("/api/models/{MODEL_ID}/revision/");
    if let Some(rest) = req.path.strip_prefix(&api_prefix) {
        let rev = rest.split('?').next().unwrap_or_default();
        return if rev == "main" || rev == COMMIT {
            let body = state.info_json();
            write_response(stream, 200, &[("Content-Type", "application/json".into())], body.as_bytes(), None)
        } else {
            simple(stream, 404, "Revision Not Found")
        };
    }
    let resolve_prefix = format!("/{MODEL_ID}/resolve/");
    let Some(rest) = req.path.strip_prefix(&resolve_prefix) else { return simple(stream, 404, "Repository Not Found") };
    let Some((rev, name)) = rest.split_once('/') else { return simple(stream, 404, "no file") };
    if rev != "main" && rev != COMMIT {
        return simple(stream, 404, "Revision Not Found");
    }
    let Some(file) = state.files.iter().find(|f| f.name == name) else { return simple(stream, 404, "Entry Not Found") };
    let mut headers = vec![("X-Repo-Commit", COMMIT.to_owned())];
    if file.lfs {
        headers.push(("X-Linked-Etag", format!("\"{}\"", file.sha256())));
        headers.push(("X-Linked-Size", file.bytes.len().to_string()));
        headers.push(("ETag", format!("\"{}\"", file.blob_id())));
        if let Some(cdn) = state.cdn.lock().unwrap().clone() {
            headers.push(("Location", format!("{cdn}/cdn/{}", file.sha256())));
            return write_response(stream, 302, &headers, b"", None);
        }
    } else {
        headers.push(("ETag", format!("\"{}\"", file.blob_id())));
    }
    serve(stream, state, req, file, &headers);
}

/// Serves a file body, honouring `Range: bytes=N-` and the injected faults.
fn serve(stream: &mut TcpStream, state: &State, req: &Request, file: &RepoFile, headers: &[(&str, String)]) {
    let mut body = file.bytes.clone();
    if state.corrupt.lock().unwrap().contains(&file.name) {
        let mid = body.len() / 2;
        body[mid] ^= 0x55;
    }
    let start = req
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let mut headers = headers.to_vec();
    let (status, slice) = match start {
        Some(s) if s < body.len() => {
            let shown = if state.wrong_range.load(Ordering::SeqCst) { s.saturating_sub(1) } else { s };
            headers.push(("Content-Range", format!("bytes {shown}-{}/{}", body.len() - 1, body.len())));
            (206, &body[s..])
        }
        Some(_) => return simple(stream, 416, "range not satisfiable"),
        None => (200, &body[..]),
    };
    if req.method == "HEAD" {
        return write_response(stream, status, &headers, &[], Some(slice.len()));
    }
    let cut = state.drop_after.lock().unwrap().remove(&file.name);
    match cut {
        Some(n) if n < slice.len() => write_truncated(stream, status, &headers, slice, n),
        _ => write_response(stream, status, &headers, slice, None),
    }
}

fn simple(stream: &mut TcpStream, status: u16, message: &str) {
    write_response(stream, status, &[], message.as_bytes(), None);
}

fn head_bytes(status: u16, headers: &[(&str, String)], length: usize) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {length}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn write_response(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8], length: Option<usize>) {
    let _ = stream.write_all(&head_bytes(status, headers, length.unwrap_or(body.len())));
    let _ = stream.write_all(body);
}

/// Announces the full length, sends `n` bytes, then closes: a connection dropped half-way.
fn write_truncated(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8], n: usize) {
    let _ = stream.write_all(&head_bytes(status, headers, body.len()));
    let _ = stream.write_all(&body[..n]);
    let _ = stream.flush();
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
