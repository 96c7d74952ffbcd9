//! GGUF (llama.cpp / ggml): single files and split models.
//!
//! - [`header`] parses the header (metadata and tensor infos) without decoding large arrays;
//! - [`split`] finds the parts of a split model;
//! - [`quants`] knows every ggml tensor type and dequantizes the block-quantized ones.
//!
//! Plain types (F32, F16, BF16, F64, I8..I64) are served zero-copy from the memory map in the
//! file's byte order. Quantized tensors are views of whole blocks decoded on demand by
//! [`quants::GgmlDecoder`], block by block into the caller's buffer. A tensor that cannot be read
//! (removed or unknown type id, data past the end of a truncated file, a row that is not whole
//! blocks) is still listed; its `view` fails with an error naming the reason, and the other
//! tensors are unaffected.

pub mod header;
pub mod quants;
pub mod split;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use weightlens_core::{ByteOrder, Dtype, Error, Framework, Result, TensorInfo, TensorSource, TensorView};

use crate::mmap::MappedFile;
use header::{parse_header, Header, RawTensor};
use quants::{GgmlDecoder, GgmlType};

/// The decoder every quantized view borrows.
static DECODER: GgmlDecoder = GgmlDecoder;

/// Where a tensor's bytes are and whether they can be read.
#[derive(Debug)]
struct Entry {
    /// Index into `GgufSource::files`.
    file: usize,
    /// Byte order of the file holding the tensor.
    order: ByteOrder,
    /// Why the tensor cannot be read, if it cannot.
    problem: Option<String>,
}

/// A GGUF model: one file or all parts of a split model.
#[derive(Debug)]
pub struct GgufSource {
    path: PathBuf,
    files: Vec<MappedFile>,
    tensors: Vec<TensorInfo>,
    entries: Vec<Entry>,
    metadata: serde_json::Value,
    warnings: Vec<String>,
}

impl GgufSource {
    /// Opens a GGUF file. If it is part 1 of a split model (`split.count` > 1), every part is
    /// opened and the tensors of all parts form one model.
    pub fn open(path: &Path) -> Result<Self> {
        let first = MappedFile::open(path)?;
        let header = parse_header(first.bytes(), path)?;
        let count = split::split_count(&header, path)?;
        let mut warnings = Vec::new();
        let mut parts = vec![(first, header)];
        match split::split_no(&parts[0].1) {
            Some(0) if count > 1 => {
                for (k, part) in split::part_paths(path, count)?.iter().enumerate().skip(1) {
                    let file = MappedFile::open(part)?;
                    let h = parse_header(file.bytes(), part)?;
                    if split::split_no(&h) != Some(k as u64) || split::split_count(&h, part)? != count {
                        return Err(Error::malformed(
                            part,
                            None,
                            format!(
                                "expected split part {} of {count}, but its split.no/split.count say otherwise",
                                k + 1
                            ),
                        ));
                    }
                    parts.push((file, h));
                }
            }
            Some(0) => {}
            no => warnings.push(format!(
                "{}: part {} of a {count}-part split model opened alone; open part 1 to read the whole model",
                path.display(),
                no.map_or("?".to_string(), |n| (n + 1).to_string())
            )),
        }

        let mut tensors = Vec::new();
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        for (i, (file, header)) in parts.iter().enumerate() {
            for raw in &header.tensors {
                if !seen.insert(raw.name.as_str()) {
                    return Err(Error::malformed(
                        file.path().as_ref(),
                        None,
                        format!("duplicate tensor name {}", raw.name),
                    ));
                }
                let (info, problem) = tensor_info(raw, header, file);
                if let Some(p) = &problem {
                    tracing::debug!(tensor = %info.name, "unreadable tensor: {p}");
                }
                tensors.push(info);
                entries.push(Entry { file: i, order: header.order, problem });
            }
        }
        if let Some(expected) = parts[0].1.get("split.tensors.count").and_then(|v| v.as_u64()) {
            if count > 1 && expected != tensors.len() as u64 {
                warnings.push(format!(
                    "{}: split.tensors.count says {expected} tensors, the parts hold {}",
                    path.display(),
                    tensors.len()
                ));
            }
        }
        let metadata = metadata_json(&parts[0].1, parts.len(), &tensors);
        let files = parts.into_iter().map(|(f, _)| f).collect();
        Ok(GgufSource { path: path.to_path_buf(), files, tensors, entries, metadata, warnings })
    }
}

/// The [`TensorInfo`] of one tensor info, and why it cannot be read if it cannot.
fn tensor_info(raw: &RawTensor, header: &Header, file: &MappedFile) -> (TensorInfo, Option<String>) {
    let ty = GgmlType::from_id(raw.type_id);
    let dtype = match ty {
        GgmlType::Plain(d) => d,
        GgmlType::Quant(q) => Dtype::Quant(q),
        _ => Dtype::Unsupported,
    };
    let shape: Vec<u64> = raw.ne.iter().rev().copied().collect();
    let numel = raw.ne.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let mut problem = ty.unsupported_reason(raw.type_id);
    let mut len = None;
    if problem.is_none() {
        len = match (numel, ty) {
            (None, _) => {
                problem = Some(format!("shape {shape:?} overflows the element count"));
                None
            }
            (Some(_), GgmlType::Quant(q)) if raw.ne.first().is_some_and(|&n| n % u64::from(q.block_elems) != 0) => {
                problem = Some(format!(
                    "row length {} is not a whole number of {} blocks of {}",
                    raw.ne.first().copied().unwrap_or(0),
                    q.name,
                    q.block_elems
                ));
                None
            }
            (Some(n), _) => dtype.byte_len(n),
        };
        if problem.is_none() && len.is_none() {
            problem = Some(format!("shape {shape:?} of {} overflows the byte count", ty.name(raw.type_id)));
        }
    }
    let offset = header.data_start.checked_add(raw.offset);
    match (offset, len) {
        (Some(o), Some(l)) if problem.is_none() => {
            if o.checked_add(l).is_none_or(|end| end > file.len()) {
                problem = Some(format!(
                    "data at bytes {o}..{} lies past the end of the file ({} bytes): the file is truncated",
                    o.saturating_add(l),
                    file.len()
                ));
            } else if header.order == ByteOrder::Big && matches!(ty, GgmlType::Quant(_)) {
                problem = Some("quantized blocks in big-endian GGUF files are not supported".into());
            }
        }
        (None, _) if problem.is_none() => problem = Some(format!("data offset {} overflows", raw.offset)),
        _ => {}
    }
    let mut info = TensorInfo::new(
        raw.name.clone(),
        dtype,
        Framework::GGUF,
        shape,
        file.path().clone(),
        offset.unwrap_or(0),
        len.unwrap_or(0),
    );
    if dtype == Dtype::Unsupported {
        info.dtype_name = Cow::Owned(ty.name(raw.type_id));
    }
    (info, problem)
}

/// llama.cpp's `llama_ftype` names for `general.file_type`.
fn file_type_name(ft: u64) -> Option<&'static str> {
    Some(match ft {
        0 => "ALL_F32",
        1 => "MOSTLY_F16",
        2 => "MOSTLY_Q4_0",
        3 => "MOSTLY_Q4_1",
        7 => "MOSTLY_Q8_0",
        8 => "MOSTLY_Q5_0",
        9 => "MOSTLY_Q5_1",
        10 => "MOSTLY_Q2_K",
        11 => "MOSTLY_Q3_K_S",
        12 => "MOSTLY_Q3_K_M",
        13 => "MOSTLY_Q3_K_L",
        14 => "MOSTLY_Q4_K_S",
        15 => "MOSTLY_Q4_K_M",
        16 => "MOSTLY_Q5_K_S",
        17 => "MOSTLY_Q5_K_M",
        18 => "MOSTLY_Q6_K",
        19 => "MOSTLY_IQ2_XXS",
        20 => "MOSTLY_IQ2_XS",
        21 => "MOSTLY_Q2_K_S",
        22 => "MOSTLY_IQ3_XS",
        23 => "MOSTLY_IQ3_XXS",
        24 => "MOSTLY_IQ1_S",
        25 => "MOSTLY_IQ4_NL",
        26 => "MOSTLY_IQ3_S",
        27 => "MOSTLY_IQ3_M",
        28 => "MOSTLY_IQ2_S",
        29 => "MOSTLY_IQ2_M",
        30 => "MOSTLY_IQ4_XS",
        31 => "MOSTLY_IQ1_M",
        32 => "MOSTLY_BF16",
        36 => "MOSTLY_TQ1_0",
        37 => "MOSTLY_TQ2_0",
        38 => "MOSTLY_MXFP4_MOE",
        _ => return None,
    })
}

/// The metadata shown by `ls --json` and written to `run_meta.json`.
fn metadata_json(header: &Header, parts: usize, tensors: &[TensorInfo]) -> serde_json::Value {
    let arch = header.get("general.architecture").and_then(|v| v.as_str()).unwrap_or_default();
    let arch_key = |k: &str| header.get(&format!("{arch}.{k}")).map(|v| v.to_json());
    let file_type = header.get("general.file_type").and_then(|v| v.as_u64());
    let mut types: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for t in tensors {
        let e = types.entry(t.dtype_name.to_string()).or_default();
        e.0 += 1;
        e.1 += t.len;
    }
    let types: serde_json::Map<String, serde_json::Value> = types
        .into_iter()
        .map(|(k, (count, bytes))| (k, serde_json::json!({ "count": count, "bytes": bytes })))
        .collect();
    let all: serde_json::Map<String, serde_json::Value> =
        header.metadata.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
    serde_json::json!({
        "gguf_version": header.version,
        "byte_order": if header.order == ByteOrder::Big { "big" } else { "little" },
        "alignment": header.alignment,
        "parts": parts,
        "architecture": (!arch.is_empty()).then_some(arch),
        "name": header.get("general.name").map(|v| v.to_json()),
        "block_count": arch_key("block_count"),
        "context_length": arch_key("context_length"),
        "file_type": file_type,
        "file_type_name": file_type.and_then(file_type_name),
        "tensor_types": types,
        "metadata": all,
    })
}

impl TensorSource for GgufSource {
    fn framework(&self) -> Framework {
        Framework::GGUF
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    fn view(&self, index: usize) -> Result<TensorView<'_>> {
        let (Some(info), Some(entry)) = (self.tensors.get(index), self.entries.get(index)) else {
            return Err(Error::malformed(&self.path, None, format!("no tensor #{index}")));
        };
        if let Some(problem) = &entry.problem {
            return Err(Error::tensor(info.file.as_ref(), &info.name, problem.clone()));
        }
        let Some(file) = self.files.get(entry.file) else {
            return Err(Error::malformed(&self.path, None, format!("no file for tensor #{index}")));
        };
        let bytes = Cow::Borrowed(file.slice(info.offset, info.len, &info.name)?);
        match info.dtype {
            Dtype::Quant(q) => TensorView::blocks(info, bytes, q, &DECODER),
            plain => TensorView::plain(info, bytes, plain, entry.order),
        }
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
    use super::header::tests::Writer;
    use super::*;

    fn open_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<GgufSource>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.gguf");
        std::fs::write(&path, bytes).unwrap();
        let src = GgufSource::open(&path);
        (dir, src)
    }

    #[test]
    fn plain_tensors_are_row_major_in_the_file_byte_order() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let mut w = Writer::new(order, 3, 1, 0);
            w.tensor("m", &[3, 2], 0, 0).pad_to(32);
            for v in [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0] {
                w.u32(v.to_bits());
            }
            let (_d, src) = open_bytes(&w.out);
            let src = src.unwrap();
            assert_eq!(src.tensors()[0].shape, vec![2, 3]);
            assert_eq!(src.view(0).unwrap().to_f32_vec().unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        }
    }

    #[test]
    fn bad_tensors_fail_alone() {
        let mut w = Writer::new(ByteOrder::Little, 3, 5, 0);
        w.tensor("ok", &[2], 0, 0)
            .tensor("removed", &[32], 4, 0)
            .tensor("unknown", &[32], 200, 0)
            .tensor("ragged", &[33], 2, 0)
            .tensor("past_end", &[1024], 0, 0)
            .pad_to(32);
        w.out.extend(1.5f32.to_le_bytes());
        w.out.extend(2.5f32.to_le_bytes());
        let (_d, src) = open_bytes(&w.out);
        let src = src.unwrap();
        assert_eq!(src.view(0).unwrap().to_f32_vec().unwrap(), vec![1.5, 2.5]);
        let msg = |i: usize| src.view(i).unwrap_err().to_string();
        assert!(msg(1).contains("ggml type 4 (Q4_2) was removed"), "{}", msg(1));
        assert!(msg(2).contains("unknown ggml type id 200"));
        assert!(msg(3).contains("not a whole number of Q4_0 blocks"));
        assert!(msg(4).contains("truncated"));
        assert_eq!(src.tensors()[1].dtype, Dtype::Unsupported);
        assert_eq!(src.tensors()[2].dtype_name, "type 200");
        assert_eq!(src.metadata()["tensor_types"]["F32"]["count"], 2);
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let mut w = Writer::new(ByteOrder::Little, 3, 2, 0);
        w.tensor("a", &[1], 0, 0).tensor("a", &[1], 0, 0).pad_to(32);
        w.out.extend([0u8; 8]);
        let (_d, src) = open_bytes(&w.out);
        assert!(src.unwrap_err().to_string().contains("duplicate tensor name a"));
    }
}
