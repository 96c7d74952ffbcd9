//! llama.cpp importance matrices (`llama-imatrix` output), in both of its formats:
//!
//! - GGUF (`general.type = imatrix`): per weight `W`, the tensors `W.in_sum2` (`ne = [n_per_row,
//!   n_mat]`, the sums of squared activations of every input column, one row per expert) and
//!   `W.counts` (`ne = [1, n_mat]`, the activations counted per expert); `W.in_sum` (plain sums)
//!   may follow and is not needed. Written by imatrix.cpp `IMatrixCollector::save_imatrix`.
//! - the legacy `.dat` (`save_imatrix_legacy` / `load_imatrix_legacy`): `int32 n_entries`, then
//!   per entry `int32 name_len`, the name, `int32 ncall`, `int32 nval` and `nval` f32 values
//!   (already divided by the count and multiplied by `ncall`); then optionally `int32 last_call`
//!   and `int32 len` + the dataset name. All little-endian. The format has no magic: a file is
//!   taken for one only when that structure parses exactly to its last byte.
//!
//! The importance of input column `j` of matrix `m` is what llama-quantize hands to the
//! quantizer as `quant_weights` (tools/quantize `load_imatrix`): `in_sum2 / counts[m]` (1 where
//! the count is 0) for the GGUF, `value / ncall` (the stored value where `ncall` is 0) for the
//! `.dat`; computed in f32 as there.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weightlens_core::{ByteOrder, Dtype, DtypeNames, Error, Framework, Result, TensorInfo, TensorSource, TensorView};

use crate::gguf::GgufSource;
use crate::mmap::MappedFile;

/// The `framework` column of an importance matrix's rows.
pub const FRAMEWORK: Framework = Framework::new("imatrix", DtypeNames::Safetensors);

/// Most entries a `.dat` may declare.
pub const MAX_ENTRIES: u64 = 1 << 20;
/// Longest entry or dataset name in a `.dat` (bytes).
pub const MAX_NAME_LEN: u64 = 1 << 16;

/// Which of llama.cpp's two imatrix formats a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImatrixFormat {
    /// GGUF with `general.type = imatrix`.
    Gguf,
    /// The legacy binary `.dat`.
    Dat,
}

impl ImatrixFormat {
    /// `gguf` or `dat`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImatrixFormat::Gguf => "gguf",
            ImatrixFormat::Dat => "dat",
        }
    }
}

/// The importance of the input columns of one weight.
#[derive(Clone, Debug, PartialEq)]
pub struct ImatrixEntry {
    /// The GGUF tensor name of the weight (`blk.0.attn_q.weight`).
    pub name: String,
    /// Matrices (experts) the values cover: `counts`' length in a GGUF; `None` in a `.dat`,
    /// which does not say.
    pub n_mat: Option<u64>,
    /// The importance of every input column, matrix after matrix (`n_mat * n_per_row`).
    pub values: Vec<f32>,
    /// Where the entry's sums start in the file (the `offset` of its row).
    pub offset: u64,
}

/// An importance matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Imatrix {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: ImatrixFormat,
    /// The entries in file order.
    pub entries: Vec<ImatrixEntry>,
    /// `.dat` only: the trailing `last_call` (chunks processed), if present.
    pub last_call: Option<i64>,
    /// `.dat` only: the trailing dataset name, if present.
    pub dataset: Option<String>,
}

impl Imatrix {
    /// Reads the importance matrix at `path`, GGUF or `.dat` (told apart by the GGUF magic).
    pub fn open(path: &Path) -> Result<Imatrix> {
        let file = MappedFile::open(path)?;
        if file.bytes().starts_with(b"GGUF") {
            drop(file);
            let source = GgufSource::open(path)?;
            if !is_imatrix_gguf(&source) {
                return Err(Error::malformed(path, None, "a GGUF file without general.type = imatrix"));
            }
            return from_gguf(&source);
        }
        parse_dat(file.bytes(), path)
    }

    /// The entry of the weight `name`.
    pub fn get(&self, name: &str) -> Option<&ImatrixEntry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// True when the GGUF's `general.type` is `imatrix`.
pub fn is_imatrix_gguf(source: &GgufSource) -> bool {
    source.metadata().get("metadata").and_then(|m| m.get("general.type")).and_then(|v| v.as_str()) == Some("imatrix")
}

/// The entries of an imatrix GGUF: every `W.in_sum2` with its `W.counts`, in file order.
pub fn from_gguf(source: &GgufSource) -> Result<Imatrix> {
    let path = source.path();
    let tensors = source.tensors();
    let mut pairs: BTreeMap<&str, (Option<usize>, Option<usize>)> = BTreeMap::new();
    let mut order = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        let (stem, is_sums) = match (t.name.strip_suffix(".in_sum2"), t.name.strip_suffix(".counts")) {
            (Some(s), _) => (s, true),
            (_, Some(s)) => (s, false),
            _ => continue,
        };
        let slot = pairs.entry(stem).or_insert_with(|| {
            order.push(stem);
            (None, None)
        });
        if is_sums {
            slot.0 = Some(i);
        } else {
            slot.1 = Some(i);
        }
    }
    let mut entries = Vec::with_capacity(order.len());
    for stem in order {
        let (Some(si), Some(ci)) = pairs[stem] else {
            let msg = format!("{stem} has in_sum2 without counts or counts without in_sum2");
            return Err(Error::tensor(path, stem, msg));
        };
        let fail = |m: String| Error::tensor(path, stem, m);
        let read = |i: usize| -> Result<Vec<f32>> {
            let view = source.view(i)?;
            if view.info().dtype != Dtype::F32 {
                return Err(fail(format!("{} is {}, not F32", view.info().name, view.info().dtype_name)));
            }
            view.to_f32_vec()
        };
        let (sums, counts) = (read(si)?, read(ci)?);
        let n_mat = counts.len();
        if n_mat == 0 || sums.is_empty() || sums.len() % n_mat != 0 {
            return Err(fail(format!("{} sums do not divide into {n_mat} counts", sums.len())));
        }
        let per_row = sums.len() / n_mat;
        let mut values = Vec::with_capacity(sums.len());
        for (row, &count) in sums.chunks_exact(per_row).zip(&counts) {
            if !(count.is_finite() && count >= 0.0) {
                return Err(fail(format!("count {count} is not a non-negative number")));
            }
            if let Some(bad) = row.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
                return Err(fail(format!("sum of squares {bad} is not a non-negative number")));
            }
            // llama-quantize's load_imatrix: in_sum2 / count, 1 for an expert never counted.
            if count > 0.0 {
                values.extend(row.iter().map(|v| v / count));
            } else {
                values.extend(std::iter::repeat_n(1.0f32, per_row));
            }
        }
        entries.push(ImatrixEntry {
            name: stem.to_string(),
            n_mat: Some(n_mat as u64),
            values,
            offset: tensors[si].offset,
        });
    }
    if entries.is_empty() {
        return Err(Error::malformed(path, None, "an imatrix GGUF without any in_sum2/counts pair"));
    }
    Ok(Imatrix { path: path.to_path_buf(), format: ImatrixFormat::Gguf, entries, last_call: None, dataset: None })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl Reader<'_> {
    fn fail(&self, message: String) -> Error {
        Error::malformed(self.path, Some(self.pos as u64), message)
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8]> {
        if n > self.remaining() {
            return Err(self.fail(format!("{what}: needs {n} bytes, {} left", self.remaining())));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        let b = self.take(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length that must be in `1..=cap` (or `0..=cap` when `zero_ok`).
    fn len(&mut self, what: &str, cap: u64, zero_ok: bool) -> Result<usize> {
        let at = self.pos;
        let v = self.i32(what)?;
        let ok = u64::try_from(v).is_ok_and(|v| v <= cap && (zero_ok || v > 0));
        if !ok {
            return Err(Error::malformed(self.path, Some(at as u64), format!("{what} {v} is outside 1..={cap}")));
        }
        Ok(v as usize)
    }
}

/// Parses a legacy `.dat` imatrix (see the module docs); every length is checked against the
/// bytes that exist before anything is allocated, and the structure must end exactly at the
/// end of `bytes`.
pub fn parse_dat(bytes: &[u8], path: &Path) -> Result<Imatrix> {
    let mut r = Reader { bytes, pos: 0, path };
    let n_entries = r.len("n_entries", MAX_ENTRIES, false)?;
    // Each entry takes at least 4 + 1 + 4 + 4 + 4 bytes.
    if n_entries > bytes.len() / 17 {
        return Err(r.fail(format!("{n_entries} entries cannot fit in {} bytes", bytes.len())));
    }
    let mut entries = Vec::with_capacity(n_entries);
    for i in 0..n_entries {
        let name_len = r.len("name length", MAX_NAME_LEN, false)?;
        let name = String::from_utf8_lossy(r.take(name_len, "entry name")?).into_owned();
        let ncall = r.i32("ncall")?;
        if ncall < 0 {
            return Err(r.fail(format!("entry {i} ({name}): ncall {ncall} is negative")));
        }
        let nval = r.len("nval", (r.remaining() / 4) as u64, false)?;
        let offset = r.pos as u64;
        let raw = r.take(nval * 4, "values")?;
        let mut values = Vec::with_capacity(nval);
        for c in raw.chunks_exact(4) {
            let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::tensor(path, name, format!("value {v} is not a non-negative number")));
            }
            // llama-quantize's legacy reader: value / ncall, the value itself when ncall is 0.
            values.push(if ncall > 0 { v / ncall as f32 } else { v });
        }
        entries.push(ImatrixEntry { name, n_mat: None, values, offset });
    }
    let (mut last_call, mut dataset) = (None, None);
    if r.remaining() > 0 {
        last_call = Some(i64::from(r.i32("last_call")?));
    }
    if r.remaining() > 0 {
        let len = r.len("dataset name length", MAX_NAME_LEN, true)?;
        dataset = Some(String::from_utf8_lossy(r.take(len, "dataset name")?).into_owned());
    }
    if r.remaining() > 0 {
        return Err(r.fail(format!("{} bytes after the imatrix data", r.remaining())));
    }
    Ok(Imatrix { path: path.to_path_buf(), format: ImatrixFormat::Dat, entries, last_call, dataset })
}

/// A cheap look at the first bytes: could this be a `.dat` imatrix? (`n_entries` and the first
/// name length in range, the name printable ASCII as far as `head` holds it.)
pub fn could_be_dat(head: &[u8]) -> bool {
    let word = |at: usize| head.get(at..at + 4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let (Some(n), Some(len)) = (word(0), word(4)) else { return false };
    let in_range = |v: i32, cap: u64| u64::try_from(v).is_ok_and(|v| v > 0 && v <= cap);
    if !in_range(n, MAX_ENTRIES) || !in_range(len, MAX_NAME_LEN) {
        return false;
    }
    let name = &head[8..head.len().min(8 + len as usize)];
    !name.is_empty() && name.iter().all(|c| c.is_ascii_graphic())
}

/// An importance matrix as a model: one tensor per entry holding its importance values (F32,
/// `[n_mat, n_per_row]`, or `[nval]` when the format does not say how many matrices).
#[derive(Debug)]
pub struct ImatrixSource {
    path: PathBuf,
    tensors: Vec<TensorInfo>,
    data: Vec<Vec<u8>>,
    metadata: serde_json::Value,
}

impl ImatrixSource {
    /// The source of `imatrix`; `gguf_metadata` is the GGUF's key-value metadata, if any.
    pub fn new(imatrix: Imatrix, gguf_metadata: Option<serde_json::Value>) -> Self {
        let file: Arc<Path> = Arc::from(imatrix.path.as_path());
        let mut tensors = Vec::with_capacity(imatrix.entries.len());
        let mut data = Vec::with_capacity(imatrix.entries.len());
        for e in &imatrix.entries {
            let n = e.values.len() as u64;
            let shape = match e.n_mat {
                Some(m) if m > 1 => vec![m, n / m],
                _ => vec![n],
            };
            tensors.push(TensorInfo::new(
                e.name.clone(),
                Dtype::F32,
                FRAMEWORK,
                shape,
                Arc::clone(&file),
                e.offset,
                n * 4,
            ));
            data.push(e.values.iter().flat_map(|v| v.to_le_bytes()).collect());
        }
        let metadata = serde_json::json!({
            "imatrix_format": imatrix.format.as_str(),
            "entries": imatrix.entries.len(),
            "last_call": imatrix.last_call,
            "dataset": imatrix.dataset,
            "values": "importance per input column: in_sum2 / counts (GGUF) or value / ncall (.dat), as llama-quantize reads them",
            "metadata": gguf_metadata,
        });
        ImatrixSource { path: imatrix.path, tensors, data, metadata }
    }
}

impl TensorSource for ImatrixSource {
    fn framework(&self) -> Framework {
        FRAMEWORK
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn view(&self, index: usize) -> Result<TensorView<'_>> {
        let (Some(info), Some(bytes)) = (self.tensors.get(index), self.data.get(index)) else {
            return Err(Error::malformed(&self.path, None, format!("no tensor {index}")));
        };
        TensorView::plain(info, Cow::Borrowed(bytes.as_slice()), Dtype::F32, ByteOrder::Little)
    }
    fn metadata(&self) -> serde_json::Value {
        self.metadata.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dat(entries: &[(&str, i32, &[f32])], trailer: bool) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend((entries.len() as i32).to_le_bytes());
        for (name, ncall, values) in entries {
            out.extend((name.len() as i32).to_le_bytes());
            out.extend(name.as_bytes());
            out.extend(ncall.to_le_bytes());
            out.extend((values.len() as i32).to_le_bytes());
            values.iter().for_each(|v| out.extend(v.to_le_bytes()));
        }
        if trailer {
            out.extend(7i32.to_le_bytes());
            out.extend(4i32.to_le_bytes());
            out.extend(b"wiki");
        }
        out
    }

    #[test]
    fn a_dat_parses_to_the_end_and_divides_by_ncall() {
        let bytes = dat(&[("blk.0.attn_q.weight", 4, &[8.0, 2.0]), ("output.weight", 0, &[3.0])], true);
        let m = parse_dat(&bytes, Path::new("x.dat")).unwrap();
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.entries[0].values, [2.0, 0.5]);
        assert_eq!(m.entries[1].values, [3.0]);
        assert_eq!((m.last_call, m.dataset.as_deref()), (Some(7), Some("wiki")));
        let bare = dat(&[("a", 1, &[1.0])], false);
        assert_eq!(parse_dat(&bare, Path::new("x")).unwrap().last_call, None);
        assert!(could_be_dat(&bytes));
    }

    #[test]
    fn malformed_dat_files_are_errors_not_panics() {
        let good = dat(&[("blk.0.ffn_up.weight", 2, &[1.0, 2.0, 3.0])], true);
        let p = Path::new("bad.dat");
        // Every truncation but the ones that end on an optional trailer boundary fails.
        for cut in 0..good.len() {
            let r = parse_dat(&good[..cut], p);
            let entry_end = good.len() - 12;
            if cut == entry_end || cut == entry_end + 4 {
                assert!(r.is_ok(), "cut {cut}");
            } else {
                assert!(r.is_err(), "cut {cut}");
            }
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(parse_dat(&extra, p).unwrap_err().to_string().contains("after the imatrix data"));
        let mut huge = good.clone();
        huge[0..4].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(parse_dat(&huge, p).is_err());
        let mut neg_name = good.clone();
        neg_name[4..8].copy_from_slice(&(-5i32).to_le_bytes());
        assert!(parse_dat(&neg_name, p).is_err());
        let name_len = "blk.0.ffn_up.weight".len();
        let mut big_nval = good.clone();
        big_nval[12 + name_len..16 + name_len].copy_from_slice(&1_000_000i32.to_le_bytes());
        assert!(parse_dat(&big_nval, p).is_err());
        let mut neg_call = good.clone();
        neg_call[8 + name_len..12 + name_len].copy_from_slice(&(-1i32).to_le_bytes());
        assert!(parse_dat(&neg_call, p).unwrap_err().to_string().contains("negative"));
        let nan = dat(&[("w", 1, &[f32::NAN])], false);
        assert!(parse_dat(&nan, p).is_err());
        let neg = dat(&[("w", 1, &[-1.0])], false);
        assert!(parse_dat(&neg, p).is_err());
        assert!(!could_be_dat(b"GGUF\x03\x00\x00\x00"));
        assert!(!could_be_dat(&[1, 0, 0, 0]));
    }
}
