//! safetensors: single files and sharded checkpoints (through their index).
//!
//! The header parser works on the file's bytes and performs the checks huggingface/safetensors
//! does: header size limit and bounds, UTF-8 JSON object, per-tensor byte size equal to
//! `numel * dtype size` (checked arithmetic), offsets contiguous from 0 without gaps or overlaps,
//! and the data section exactly covered. Tensor data is served zero-copy from the memory map.
//!
//! Quantized checkpoints ([`quant`]) list logical tensors: the components of each quantized
//! weight grouped into one, whose view computes the effective weight.

pub mod quant;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use weightlens_core::{ByteOrder, Dtype, Error, Framework, QuantFacts, Result, TensorInfo, TensorSource, TensorView};

use self::quant::{Logical, Parts, Plan};

use crate::index::ShardIndex;
use crate::mmap::MappedFile;

/// Headers larger than this are refused (huggingface/safetensors uses the same limit).
pub const MAX_HEADER_SIZE: u64 = 100_000_000;

/// One tensor entry of a safetensors header, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Tensor name.
    pub name: String,
    /// Element type (`Dtype::Unsupported` for dtypes this project does not decode).
    pub dtype: Dtype,
    /// The dtype as the header spells it.
    pub dtype_name: String,
    /// Shape.
    pub shape: Vec<u64>,
    /// Absolute byte range of the data in the file.
    pub start: u64,
    /// End of the byte range (exclusive).
    pub end: u64,
}

/// A parsed safetensors header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Tensors in data order.
    pub entries: Vec<Entry>,
    /// The `__metadata__` string map.
    pub metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

fn parse_dtype(name: &str) -> Dtype {
    Dtype::from_safetensors_name(name).unwrap_or(Dtype::Unsupported)
}

/// Parses and validates the header of a safetensors file held in `bytes`. `path` is used in
/// error messages only.
pub fn parse_header(bytes: &[u8], path: &Path) -> Result<Header> {
    let bad = |offset: Option<u64>, msg: String| Error::malformed(path, offset, msg);
    let file_len = bytes.len() as u64;
    let Some(len_bytes) = bytes.get(..8) else {
        return Err(bad(None, format!("truncated: {file_len} bytes, shorter than the 8-byte header length")));
    };
    let header_len = u64::from_le_bytes(len_bytes.try_into().unwrap_or_default());
    let data_start = match header_len.checked_add(8) {
        Some(start) if start <= file_len => start,
        _ => return Err(bad(Some(0), format!("header length {header_len} exceeds file size ({file_len} bytes)"))),
    };
    if header_len > MAX_HEADER_SIZE {
        return Err(bad(Some(0), format!("header length {header_len} exceeds the {MAX_HEADER_SIZE}-byte limit")));
    }
    let header = &bytes[8..data_start as usize];
    let text = std::str::from_utf8(header).map_err(|e| bad(Some(8), format!("header is not UTF-8: {e}")))?;
    if !text.starts_with('{') {
        return Err(bad(Some(8), "header does not start with '{'".into()));
    }
    let raw: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| bad(Some(8), format!("header is not a valid JSON object: {e}")))?;

    let mut metadata = BTreeMap::new();
    let mut entries = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        if name == "__metadata__" {
            metadata = serde_json::from_value(value)
                .map_err(|e| bad(Some(8), format!("__metadata__ is not a map of strings: {e}")))?;
            continue;
        }
        let e: RawEntry = serde_json::from_value(value)
            .map_err(|e| bad(Some(8), format!("tensor {name}: invalid header entry: {e}")))?;
        let (begin, end) = e.data_offsets;
        let (start, stop) = match (data_start.checked_add(begin), data_start.checked_add(end)) {
            (Some(s), Some(t)) if begin <= end => (s, t),
            _ => return Err(bad(Some(8), format!("tensor {name}: invalid data_offsets [{begin}, {end}]"))),
        };
        let dtype = parse_dtype(&e.dtype);
        if dtype != Dtype::Unsupported {
            let numel = e.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
            let needed = numel.and_then(|n| dtype.byte_len(n));
            if needed != Some(end - begin) {
                return Err(bad(
                    Some(8),
                    format!(
                        "tensor {name}: data_offsets span {} bytes but shape {:?} of {} needs {}",
                        end - begin,
                        e.shape,
                        e.dtype,
                        needed.map_or("more than 2^64".to_string(), |n| n.to_string())
                    ),
                ));
            }
        }
        entries.push(Entry { name, dtype, dtype_name: e.dtype, shape: e.shape, start, end: stop });
    }

    // Data must be covered exactly: contiguous from the start of the data section, no overlaps,
    // no gaps, nothing past the end of the file, nothing left over.
    entries.sort_by(|a, b| (a.start, a.end, &a.name).cmp(&(b.start, b.end, &b.name)));
    let mut expected = data_start;
    for e in &entries {
        if e.end > file_len {
            return Err(bad(
                Some(e.start),
                format!(
                    "truncated or corrupt: tensor {} data range [{}, {}) lies outside the file ({file_len} bytes)",
                    e.name,
                    e.start - data_start,
                    e.end - data_start
                ),
            ));
        }
        if e.start != expected {
            let what = if e.start < expected {
                "overlaps the previous tensor"
            } else {
                "leaves a gap after the previous tensor"
            };
            return Err(bad(Some(e.start), format!("tensor {}: data range {what}", e.name)));
        }
        expected = e.end;
    }
    if expected != file_len {
        return Err(bad(
            Some(expected),
            format!(
                "header describes {} bytes of data but the file holds {}",
                expected - data_start,
                file_len - data_start
            ),
        ));
    }
    Ok(Header { entries, metadata })
}

/// A safetensors model: one file, or the shards of a sharded checkpoint.
#[derive(Debug)]
pub struct SafetensorsSource {
    path: PathBuf,
    files: Vec<MappedFile>,
    /// The stored tensors.
    raw: Vec<TensorInfo>,
    /// The file of each stored tensor.
    file_of: Vec<usize>,
    /// The logical tensors (the stored ones, with quantized components grouped).
    tensors: Vec<TensorInfo>,
    plans: Vec<Plan>,
    facts: Vec<Option<QuantFacts>>,
    metadata: serde_json::Value,
    warnings: Vec<String>,
}

fn info_of(entry: Entry, file: &Arc<Path>) -> TensorInfo {
    let mut info = TensorInfo::new(
        entry.name,
        entry.dtype,
        Framework::SAFETENSORS,
        entry.shape,
        file.clone(),
        entry.start,
        entry.end - entry.start,
    );
    if entry.dtype == Dtype::Unsupported {
        info.dtype_name = Cow::Owned(entry.dtype_name);
    }
    info
}

impl SafetensorsSource {
    /// Opens a single safetensors file.
    pub fn open(path: &Path) -> Result<Self> {
        let file = MappedFile::open(path)?;
        let header = parse_header(file.bytes(), path)?;
        let raw: Vec<TensorInfo> = header.entries.into_iter().map(|e| info_of(e, file.path())).collect();
        let file_of = vec![0; raw.len()];
        let metadata = serde_json::json!({ "metadata": header.metadata });
        Ok(Self::grouped(path, vec![file], raw, file_of, metadata, Vec::new()))
    }

    /// The source with quantized components grouped under the checkpoint's `config.json`.
    fn grouped(
        path: &Path,
        files: Vec<MappedFile>,
        raw: Vec<TensorInfo>,
        file_of: Vec<usize>,
        mut metadata: serde_json::Value,
        mut warnings: Vec<String>,
    ) -> Self {
        let config = quant::config::read(path).unwrap_or_else(|e| {
            warnings.push(format!("{e}; quantized tensors are not grouped"));
            quant::config::QuantConfig::Unknown(e.to_string())
        });
        let small = |i: usize| -> Option<&[u8]> {
            let info = raw.get(i)?;
            let file = files.get(*file_of.get(i)?)?;
            (info.len <= quant::bnb::MAX_STATE_BYTES)
                .then(|| file.slice(info.offset, info.len, &info.name).ok())
                .flatten()
        };
        let grouped = quant::group(&raw, &config, &small);
        warnings.extend(grouped.warnings);
        let quantized = grouped.tensors.iter().filter(|t| matches!(t.plan, Plan::Quant { .. })).count();
        if quantized > 0 {
            if let Some(obj) = metadata.as_object_mut() {
                obj.insert("quantized_tensors".into(), quantized.into());
            }
        }
        let (mut tensors, mut plans, mut facts) = (Vec::new(), Vec::new(), Vec::new());
        for Logical { info, plan, facts: f } in grouped.tensors {
            tensors.push(info);
            plans.push(plan);
            facts.push(f);
        }
        SafetensorsSource { path: path.to_path_buf(), files, raw, file_of, tensors, plans, facts, metadata, warnings }
    }

    fn stored_bytes(&self, index: usize) -> Result<&[u8]> {
        let (Some(info), Some(&f)) = (self.raw.get(index), self.file_of.get(index)) else {
            return Err(Error::malformed(&self.path, None, format!("no stored tensor #{index}")));
        };
        self.files[f].slice(info.offset, info.len, &info.name)
    }

    /// Opens a sharded checkpoint through its index: every tensor once, from the shard the
    /// index assigns it to. A tensor the index lists but its shard lacks is an error for the
    /// model; a tensor in a shard that the index does not list is kept, with a warning.
    pub fn open_index(path: &Path) -> Result<Self> {
        let index = ShardIndex::open(path)?;
        let mut filter = index.filter();
        let mut files = Vec::new();
        let mut tensors = Vec::new();
        let mut file_of = Vec::new();
        for (i, shard) in index.shards.iter().enumerate() {
            let file = MappedFile::open(shard)?;
            let header = parse_header(file.bytes(), shard)?;
            for entry in header.entries {
                if filter.keep(i, &entry.name) {
                    tensors.push(info_of(entry, file.path()));
                    file_of.push(i);
                }
            }
            files.push(file);
        }
        let warnings = filter.finish()?;
        let metadata = serde_json::json!({ "index": index.metadata, "shards": index.shards.len() });
        Ok(Self::grouped(path, files, tensors, file_of, metadata, warnings))
    }
}

impl TensorSource for SafetensorsSource {
    fn framework(&self) -> Framework {
        Framework::SAFETENSORS
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    fn raw_tensors(&self) -> &[TensorInfo] {
        &self.raw
    }

    fn quant(&self, index: usize) -> Option<&QuantFacts> {
        self.facts.get(index)?.as_ref()
    }

    fn view(&self, index: usize) -> Result<TensorView<'_>> {
        let (Some(info), Some(plan)) = (self.tensors.get(index), self.plans.get(index)) else {
            return Err(Error::malformed(&self.path, None, format!("no tensor #{index}")));
        };
        let raw_index = match plan {
            Plan::Plain(i) => *i,
            Plan::Quant { scheme, parts } => {
                let infos = parts.iter().filter_map(|&p| self.raw.get(p)).collect();
                let bytes = parts.iter().map(|&p| self.stored_bytes(p)).collect::<Result<Vec<_>>>()?;
                let decoder = scheme
                    .decoder(&Parts::new(infos, bytes), &info.shape)
                    .map_err(|m| Error::tensor(info.file.as_ref(), &info.name, m.to_string()))?;
                return TensorView::computed(info, decoder);
            }
            Plan::Unreadable => {
                let reason = self.quant(index).and_then(|f| f.problem.clone()).unwrap_or_default();
                return Err(Error::tensor(info.file.as_ref(), &info.name, format!("not dequantized: {reason}")));
            }
        };
        if info.dtype == Dtype::Unsupported {
            return Err(Error::tensor(
                info.file.as_ref(),
                &info.name,
                format!("unsupported dtype {}", info.dtype_name),
            ));
        }
        let bytes = self.stored_bytes(raw_index)?;
        TensorView::plain(info, Cow::Borrowed(bytes), info.dtype, ByteOrder::Little)
    }

    fn release(&self, _index: usize, bytes: &[u8]) {
        // At most one file maps the bytes.
        let _ = self.files.iter().any(|f| f.release(bytes));
    }

    fn metadata(&self) -> serde_json::Value {
        self.metadata.clone()
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    fn err(bytes: &[u8]) -> String {
        parse_header(bytes, Path::new("x.safetensors")).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_valid_header_in_data_order() {
        let h = r#"{"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"__metadata__":{"format":"pt"}}"#;
        let parsed = parse_header(&file(h, &[0; 12]), Path::new("x")).unwrap();
        let names: Vec<&str> = parsed.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(parsed.metadata["format"], "pt");
    }

    #[test]
    fn rejects_malformed_headers() {
        assert!(err(&[1, 2, 3]).contains("truncated"));
        assert!(err(&(1u64 << 40).to_le_bytes()).contains("exceeds file size"));
        assert!(err(&u64::MAX.to_le_bytes()).contains("exceeds file size"));
        assert!(err(&file("{}", &[])[..9]).contains("exceeds file size"));
        assert!(err(&file("[1]", &[])).contains("start with"));
        assert!(err(&file("{\"a\":", &[])).contains("JSON"));
        let overlap = r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#;
        assert!(err(&file(overlap, &[0; 6])).contains("overlaps"));
        let gap = r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#;
        assert!(err(&file(gap, &[0; 6])).contains("gap"));
        let size = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,4]}}"#;
        assert!(err(&file(size, &[0; 4])).contains("needs 16"));
        let overflow = r#"{"a":{"dtype":"F32","shape":[18446744073709551615,4],"data_offsets":[0,4]}}"#;
        assert!(err(&file(overflow, &[0; 4])).contains("more than 2^64"));
        let past = r#"{"w":{"dtype":"U8","shape":[100],"data_offsets":[0,100]}}"#;
        assert!(err(&file(past, &[0; 4])).contains("tensor w data range"));
        let trailing = r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#;
        assert!(err(&file(trailing, &[0; 4])).contains("holds 4"));
        let reversed = r#"{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}}"#;
        assert!(err(&file(reversed, &[0; 4])).contains("invalid data_offsets"));
    }

    #[test]
    fn unknown_dtypes_are_per_tensor() {
        let h = r#"{"c":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#;
        let parsed = parse_header(&file(h, &[0; 8]), Path::new("x")).unwrap();
        assert_eq!(parsed.entries[0].dtype, Dtype::Unsupported);
    }
}
