//! The verdict of one file: every pickle in it, found by format (detected by content), scanned
//! without reading tensor data.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{push, scan_pickle, worst, Finding, Place, Verdict};
use crate::detect::{self, Format};
use crate::mmap::MappedFile;
use crate::numpy::header::{self, Element};
use crate::numpy::npz;
use crate::pytorch::zip::MAX_PICKLE_BYTES;
use crate::zipdir;

/// The verdict of one file and what decided it.
#[derive(Clone, Debug, Serialize)]
pub struct FileScan {
    /// The file.
    pub path: PathBuf,
    /// The detected format (`pickle`, `PyTorch zip`, `safetensors`...), or `unrecognised`.
    pub format: String,
    /// The file's verdict: the worst of its findings.
    pub verdict: Verdict,
    /// What decided it (empty for a safe file).
    pub findings: Vec<Finding>,
    /// How many pickle streams were scanned.
    pub pickles: usize,
    /// A remark for the user (`no pickle: safe by construction`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl FileScan {
    fn new(path: &Path, format: &str) -> Self {
        FileScan {
            path: path.to_path_buf(),
            format: format.to_string(),
            verdict: Verdict::Safe,
            findings: Vec::new(),
            pickles: 0,
            note: None,
        }
    }

    fn add(&mut self, findings: Vec<Finding>) {
        self.pickles += 1;
        for f in findings {
            push(&mut self.findings, f);
        }
    }

    fn fail(&mut self, verdict: Verdict, what: String, member: Option<String>, offset: Option<u64>) {
        push(&mut self.findings, Finding { verdict, what, member, offset, nested: 0 });
    }

    fn finish(mut self) -> Self {
        self.verdict = worst(&self.findings);
        self
    }
}

/// The files to scan under `inputs` (files and directories, searched recursively): every file
/// in a format weightlens reads (the shards of an index each on their own) and every file with
/// a model extension that is in none (those scan as `unknown`, never skipped), in path order.
pub fn files_to_scan(inputs: &[PathBuf]) -> (Vec<PathBuf>, Vec<weightlens_core::Error>) {
    let discovery = crate::discover(inputs);
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for model in discovery.models {
        // The shards of an index each get a verdict of their own (other members, such as ONNX
        // external data, hold no pickle).
        if model.reader.id() == crate::formats::SHARD_INDEX_ID {
            files.extend(model.reader.members(&model.path));
        }
        files.push(model.path);
    }
    for e in discovery.errors {
        match e {
            weightlens_core::Error::UnknownFormat { path, .. } => files.push(path),
            other => errors.push(other),
        }
    }
    files.sort();
    files.dedup();
    (files, errors)
}

/// Scans every file of the model at `path` (a file, or a shard index and its shards).
pub fn scan_model(path: &Path) -> Vec<FileScan> {
    files_to_scan(&[path.to_path_buf()]).0.iter().map(|p| scan_file(p)).collect()
}

/// Scans the file at `path`. Never fails: a file that cannot be read is `malformed`, one in no
/// format weightlens knows is `unknown`; both say why.
pub fn scan_file(path: &Path) -> FileScan {
    let format = match detect::detect_file(path) {
        Ok(format) => format,
        Err(weightlens_core::Error::UnknownFormat { reason, .. }) => {
            // Formats outside the magic table (ONNX: protobuf, no magic) hold no pickle.
            if let Ok(reader) = crate::ReaderRegistry::builtin().detect_file(path) {
                let mut scan = FileScan::new(path, reader.name());
                scan.note = Some(format!("no pickle ({}): safe by construction", reader.id()));
                return scan.finish();
            }
            let mut scan = FileScan::new(path, "unrecognised");
            scan.fail(Verdict::Unknown, format!("not a format weightlens reads ({reason})"), None, None);
            return scan.finish();
        }
        Err(e) => {
            let mut scan = FileScan::new(path, "unreadable");
            scan.fail(Verdict::Malformed, e.to_string(), None, None);
            return scan.finish();
        }
    };
    let mut scan = FileScan::new(path, format.name());
    let map = match MappedFile::open(path) {
        Ok(map) => map,
        Err(e) => {
            scan.fail(Verdict::Malformed, e.to_string(), None, None);
            return scan.finish();
        }
    };
    let bytes = map.bytes();
    match format {
        Format::Safetensors | Format::Gguf | Format::ShardIndex => {
            scan.note = Some(format!("no pickle ({}): safe by construction", format.name()));
        }
        Format::Pickle => scan.add(scan_pickle(bytes, 0, &Place::default(), true).0),
        Format::TorchLegacy => {
            let (findings, n) = super::scan_legacy(bytes, &Place::default());
            for f in findings {
                push(&mut scan.findings, f);
            }
            scan.pickles += n;
        }
        Format::TorchZip | Format::TorchScript => scan_zip(&mut scan, bytes),
        Format::Npy => scan_npy(&mut scan, bytes, 0, None),
        Format::Npz => scan_npz(&mut scan, bytes, path),
    }
    if scan.note.is_none() && scan.pickles == 0 && scan.findings.is_empty() {
        scan.note = Some("no pickle in the file: safe by construction".into());
    }
    scan.finish()
}

/// Every `.pkl` member of a zip (`data.pkl`, TorchScript's `constants.pkl`...), read through
/// the central directory; local headers that disagree with it are dangerous.
fn scan_zip(scan: &mut FileScan, bytes: &[u8]) {
    let dir = match zipdir::read(bytes) {
        Ok(dir) => dir,
        Err(e) => return scan.fail(Verdict::Malformed, e.to_string(), None, None),
    };
    flag_mismatches(scan, &dir);
    for e in dir.entries.iter().filter(|e| e.name.ends_with(".pkl")) {
        match zipdir::member_bytes(bytes, e, MAX_PICKLE_BYTES) {
            Ok(data) => {
                // Offsets are in the file for a stored member, in the member otherwise.
                let base = if matches!(data, std::borrow::Cow::Borrowed(_)) { e.data_start } else { 0 };
                scan.add(scan_pickle(&data, base, &Place { member: Some(e.name.clone()) }, true).0);
            }
            Err(err) => scan.fail(Verdict::Malformed, err.to_string(), Some(e.name.clone()), Some(e.header_start)),
        }
    }
}

/// Local headers that disagree with the central directory: the archive shows scanners that
/// walk local headers another file than the one torch or numpy loads.
fn flag_mismatches(scan: &mut FileScan, dir: &zipdir::Directory) {
    for m in &dir.mismatches {
        scan.fail(
            Verdict::Dangerous,
            format!("zip local header disagrees with the central directory: {}", m.what),
            Some(m.name.clone()),
            Some(m.offset),
        );
    }
}

/// An `.npy` (at `base` in the file, or a member): only object arrays hold a pickle.
fn scan_npy(scan: &mut FileScan, bytes: &[u8], base: u64, member: Option<String>) {
    let header = match header::parse_header(bytes) {
        Ok(header) => header,
        Err(e) => return scan.fail(Verdict::Malformed, e.message, member, Some(base.saturating_add(e.offset))),
    };
    if header.element != Element::Object {
        return;
    }
    let start = usize::try_from(header.data_offset).unwrap_or(usize::MAX);
    let data = bytes.get(start..).unwrap_or_default();
    scan.add(scan_pickle(data, base.saturating_add(header.data_offset), &Place { member }, true).0);
}

/// An `.npz`: the object-array members.
fn scan_npz(scan: &mut FileScan, bytes: &[u8], path: &Path) {
    let archive = match npz::parse_archive(bytes, path) {
        Ok(archive) => archive,
        Err(e) => return scan.fail(Verdict::Malformed, e.to_string(), None, None),
    };
    let dir = match zipdir::read(bytes) {
        Ok(dir) => dir,
        Err(e) => return scan.fail(Verdict::Malformed, e.to_string(), None, None),
    };
    flag_mismatches(scan, &dir);
    for m in archive.members.iter().filter(|m| m.header.element == Element::Object) {
        let name = format!("{}.npy", m.name);
        let Some(entry) = dir.entries.iter().find(|e| e.name == name) else { continue };
        match zipdir::member_bytes(bytes, entry, MAX_PICKLE_BYTES) {
            Ok(data) => {
                let base = if matches!(data, std::borrow::Cow::Borrowed(_)) { entry.data_start } else { 0 };
                scan_npy(scan, &data, base, Some(name));
            }
            Err(e) => scan.fail(Verdict::Malformed, e.to_string(), Some(name), Some(entry.header_start)),
        }
    }
}
