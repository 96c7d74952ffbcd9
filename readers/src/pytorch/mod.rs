//! PyTorch checkpoints (`.bin`, `.pt`, `.pth`, `.ckpt`; detected by content): torch >= 1.6 zip
//! archives ([`zip`]), legacy files ([`legacy`]) and sharded checkpoints with a
//! `pytorch_model.bin.index.json`.
//!
//! The pickled object is read by [`pickle`], which never executes anything, and searched for
//! tensors by [`walk`]. Listing tensors reads the pickle (and the zip directory or the legacy
//! storage headers) only; tensor data is touched by [`TensorSource::view`]. A tensor is a strided
//! view of a storage: contiguous views borrow from the memory map, others (transposed, sliced)
//! are gathered into an owned buffer in row-major order, so they decode to the values torch shows.

pub mod globals;
pub mod legacy;
pub mod pickle;
pub mod walk;
pub mod zip;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weightlens_core::{ByteOrder, Dtype, Error, Framework, Result, TensorInfo, TensorSource, TensorView};

use crate::detect::{self, Format};
use crate::index::ShardIndex;
use crate::limits::{check_limit, DEFAULT_MAX_TENSOR_BYTES};
use crate::mmap::MappedFile;
use pickle::TensorRef;

/// How a storage's bytes are kept in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packing {
    /// Plain bytes (served zero-copy).
    Stored,
    /// A deflated zip member (its index in the archive).
    Deflated {
        /// The member's index in the zip directory.
        index: usize,
    },
    /// Something this reader cannot unpack (the reason).
    Unsupported(String),
}

/// Where a storage's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Absolute offset of the (possibly compressed) bytes in the file.
    pub offset: u64,
    /// Uncompressed length in bytes.
    pub len: u64,
    /// How the bytes are kept.
    pub packing: Packing,
}

#[derive(Debug)]
struct TorchFile {
    map: MappedFile,
    order: ByteOrder,
    storages: HashMap<String, Member>,
}

/// One tensor: the file it lives in and its view of a storage.
#[derive(Debug)]
struct Slot {
    file: usize,
    tensor: TensorRef,
}

/// A PyTorch checkpoint: one file, or the shards of a sharded checkpoint.
#[derive(Debug)]
pub struct TorchSource {
    path: PathBuf,
    files: Vec<TorchFile>,
    tensors: Vec<TensorInfo>,
    slots: Vec<Slot>,
    metadata: serde_json::Value,
    warnings: Vec<String>,
    limit: u64,
}

/// What a checkpoint's bytes say, up to its tensor list (no tensor data read).
#[derive(Debug)]
pub struct Checkpoint {
    /// The tensors and simple values of the pickled object.
    pub contents: walk::Contents,
    /// Byte order of the storages.
    pub order: ByteOrder,
    /// Where each storage's bytes are, by key.
    pub storages: HashMap<String, Member>,
    /// `format`, `byteorder`, `values` (simple values by key path), `opaque_classes`.
    pub metadata: serde_json::Value,
    /// Non-fatal findings (opaque classes, duplicate names, storages past the end).
    pub warnings: Vec<String>,
}

/// Reads the checkpoint (zip or legacy, detected by content) held in `bytes`. `path` names the
/// file in errors, and its stem names a tensor that is the whole pickled object.
pub fn read_checkpoint(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    read_checkpoint_with(bytes, path, false)
}

/// [`read_checkpoint`]; with `allow_unsafe`, a pickle referencing dangerous globals is read
/// (never executed) rather than refused.
pub fn read_checkpoint_with(bytes: &[u8], path: &Path, allow_unsafe: bool) -> Result<Checkpoint> {
    let format = detect::detect_bytes(bytes)
        .map_err(|e| Error::UnknownFormat { path: path.to_path_buf(), reason: e.to_string() })?;
    let root_name = path.file_stem().map_or_else(|| "tensor".to_string(), |s| s.to_string_lossy().into_owned());
    let (parsed, order, storages, mut warnings, format_name) = match format {
        Format::TorchZip | Format::TorchScript => {
            let layout = zip::read(bytes, path)?;
            let parsed = pickle::parse_with(&layout.pickle, path, layout.pickle_offset, allow_unsafe)?;
            let name = if layout.torchscript { "torchscript" } else { "zip" };
            (parsed, layout.order, layout.storages, layout.warnings, name)
        }
        Format::TorchLegacy => {
            let layout = legacy::read(bytes, path, allow_unsafe)?;
            (layout.object, layout.order, layout.storages, layout.warnings, "legacy")
        }
        other => {
            return Err(Error::UnknownFormat {
                path: path.to_path_buf(),
                reason: format!("a {} file, not a PyTorch checkpoint", other.name()),
            })
        }
    };
    let contents = walk::walk(&parsed, &root_name, path)?;
    if !parsed.opaque_classes.is_empty() {
        let classes: Vec<&str> = parsed.opaque_classes.iter().map(String::as_str).collect();
        warnings.push(format!(
            "{}: pickle uses globals outside the allow-list, read as opaque data and never called: {}",
            path.display(),
            classes.join(", ")
        ));
    }
    for name in &contents.duplicates {
        warnings.push(format!(
            "{}: tensor name {name} is reached by more than one path; the first is kept",
            path.display()
        ));
    }
    let metadata = serde_json::json!({
        "format": format_name,
        "byteorder": if order == ByteOrder::Big { "big" } else { "little" },
        "values": contents.values,
        "opaque_classes": parsed.opaque_classes,
    });
    tracing::debug!(path = %path.display(), tensors = contents.tensors.len(), "read torch pickle");
    Ok(Checkpoint { contents, order, storages, metadata, warnings })
}

/// The storage's element size and its dtype, or why the tensor cannot be decoded.
fn decodable(tensor: &TensorRef) -> std::result::Result<(Dtype, u64), String> {
    let Some(storage) = &tensor.storage else {
        return Err(format!("unsupported tensor layout {}", tensor.unsupported.as_deref().unwrap_or("?")));
    };
    if let Some(layout) = &tensor.unsupported {
        return Err(format!("unsupported tensor layout {layout}"));
    }
    match (storage.kind.dtype, storage.kind.dtype.size()) {
        (Dtype::Unsupported, _) | (_, None) => Err(format!("unsupported dtype {}", storage.kind.name)),
        (dtype, Some(size)) => Ok((dtype, size as u64)),
    }
}

/// One past the largest storage index a strided view touches, relative to its offset; 0 for an
/// empty view. `None` on overflow.
fn view_span(shape: &[u64], stride: &[u64]) -> Option<u64> {
    if shape.contains(&0) {
        return Some(0);
    }
    shape.iter().zip(stride).try_fold(1u64, |acc, (&n, &s)| acc.checked_add((n - 1).checked_mul(s)?))
}

/// True if the view's elements are consecutive in row-major order (dimensions of size 1 may
/// have any stride).
fn is_contiguous(shape: &[u64], stride: &[u64]) -> bool {
    if shape.contains(&0) {
        return true;
    }
    let mut expected = 1u64;
    for (&n, &s) in shape.iter().zip(stride).rev() {
        if n != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(n);
    }
    true
}

/// Copies the elements of a strided view (`offset` and `stride` in elements, `size` bytes each)
/// out of `storage` into row-major order. `None` if an element lies outside `storage` (the
/// caller has checked that the view fits, so this is a safeguard).
fn gather(storage: &[u8], size: usize, offset: u64, shape: &[u64], stride: &[u64], numel: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(numel.checked_mul(size)?);
    if numel == 0 {
        return Some(out);
    }
    // Rows along the last dimension are copied in one loop (one run when its stride is 1);
    // an odometer walks the outer dimensions.
    let (&inner_len, outer_shape) = shape.split_last().unwrap_or((&1, &[]));
    let inner_stride = stride.last().copied().unwrap_or(0);
    let outer_stride = stride.get(..outer_shape.len())?;
    let inner_len = usize::try_from(inner_len).ok()?;
    let mut index = vec![0u64; outer_shape.len()];
    for _ in 0..numel / inner_len {
        let base =
            index.iter().zip(outer_stride).try_fold(offset, |acc, (&i, &s)| acc.checked_add(i.checked_mul(s)?))?;
        let base = usize::try_from(base).ok()?;
        if inner_stride == 1 {
            let start = base.checked_mul(size)?;
            out.extend_from_slice(storage.get(start..start.checked_add(inner_len.checked_mul(size)?)?)?);
        } else {
            let step = usize::try_from(inner_stride).ok()?;
            for j in 0..inner_len {
                let start = base.checked_add(j.checked_mul(step)?)?.checked_mul(size)?;
                out.extend_from_slice(storage.get(start..start.checked_add(size)?)?);
            }
        }
        for (i, &n) in index.iter_mut().zip(outer_shape).rev() {
            *i += 1;
            if *i < n {
                break;
            }
            *i = 0;
        }
    }
    Some(out)
}

impl TorchSource {
    /// Opens one checkpoint file (zip or legacy, detected by content) with the default
    /// [`DEFAULT_MAX_TENSOR_BYTES`] limit.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_limit(path, DEFAULT_MAX_TENSOR_BYTES)
    }

    /// Opens one checkpoint file; tensors in deflated members that would need more than
    /// `max_tensor_bytes` to inflate are listed, but viewing them is an error.
    pub fn open_with_limit(path: &Path, max_tensor_bytes: u64) -> Result<Self> {
        Self::open_with(path, &crate::OpenOptions { max_tensor_bytes, ..crate::OpenOptions::default() })
    }

    /// Opens one checkpoint file with `options` (the tensor-size limit, and whether pickles
    /// referencing dangerous globals are read rather than refused).
    pub fn open_with(path: &Path, options: &crate::OpenOptions) -> Result<Self> {
        let map = MappedFile::open(path)?;
        let checkpoint = read_checkpoint_with(map.bytes(), path, options.allow_unsafe_pickle)?;
        let mut source = TorchSource::empty(path, checkpoint.metadata.clone(), options.max_tensor_bytes);
        source.add(map, checkpoint, |_| true);
        Ok(source)
    }

    /// Opens a sharded checkpoint through its `pytorch_model.bin.index.json` with the default
    /// limit: every tensor once, from the shard the index assigns it to.
    pub fn open_index(path: &Path) -> Result<Self> {
        Self::open_index_with_limit(path, DEFAULT_MAX_TENSOR_BYTES)
    }

    /// [`TorchSource::open_index`] with a `max_tensor_bytes` limit (see [`TorchSource::open_with_limit`]).
    pub fn open_index_with_limit(path: &Path, max_tensor_bytes: u64) -> Result<Self> {
        let index = ShardIndex::open(path)?;
        let mut filter = index.filter();
        let metadata = serde_json::json!({ "index": index.metadata, "shards": index.shards.len() });
        let mut source = TorchSource::empty(path, metadata, max_tensor_bytes);
        for (i, shard) in index.shards.iter().enumerate() {
            let map = MappedFile::open(shard)?;
            let checkpoint = read_checkpoint(map.bytes(), shard)?;
            source.add(map, checkpoint, |name| filter.keep(i, name));
        }
        let warnings = filter.finish()?;
        source.warnings.extend(warnings);
        Ok(source)
    }

    /// A source of the tensors of `checkpoint`, read from `map` (storages at file offsets).
    pub(crate) fn from_checkpoint(map: MappedFile, checkpoint: Checkpoint, limit: u64) -> Self {
        let path = map.path().to_path_buf();
        let mut source = TorchSource::empty(&path, checkpoint.metadata.clone(), limit);
        source.add(map, checkpoint, |_| true);
        source
    }

    fn empty(path: &Path, metadata: serde_json::Value, limit: u64) -> Self {
        TorchSource {
            path: path.to_path_buf(),
            files: Vec::new(),
            tensors: Vec::new(),
            slots: Vec::new(),
            metadata,
            warnings: Vec::new(),
            limit,
        }
    }

    /// Adds the tensors of one checkpoint file that `keep` accepts.
    fn add(&mut self, map: MappedFile, checkpoint: Checkpoint, mut keep: impl FnMut(&str) -> bool) {
        let index = self.files.len();
        let path = map.path().clone();
        let file = TorchFile { map, order: checkpoint.order, storages: checkpoint.storages };
        for found in checkpoint.contents.tensors {
            if !keep(&found.name) {
                continue;
            }
            let info = info_of(&found, &file, &path);
            self.tensors.push(info);
            self.slots.push(Slot { file: index, tensor: found.tensor });
        }
        self.warnings.extend(checkpoint.warnings);
        self.files.push(file);
    }
}

/// The header-level description of a tensor: the byte range is the view's own bytes when
/// they are contiguous and stored, the whole storage member otherwise.
fn info_of(found: &walk::Found, file: &TorchFile, path: &Arc<Path>) -> TensorInfo {
    let t = &found.tensor;
    let (dtype, dtype_name) = match (&t.storage, decodable(t)) {
        (Some(s), Ok((dtype, _))) => (dtype, Cow::Owned(s.kind.name.clone())),
        (Some(s), Err(_)) if t.unsupported.is_none() => (Dtype::Unsupported, Cow::Owned(s.kind.name.clone())),
        _ => (Dtype::Unsupported, Cow::Owned(t.unsupported.clone().unwrap_or_default())),
    };
    let member = t.storage.as_ref().and_then(|s| file.storages.get(&s.key).map(|m| (s, m)));
    let (offset, len) = match (member, decodable(t)) {
        (Some((s, m)), Ok((_, size))) if m.packing == Packing::Stored && is_contiguous(&t.shape, &t.stride) => {
            let numel = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
            let start = s.view_offset.checked_add(t.offset).and_then(|o| o.checked_mul(size));
            let range = start.zip(numel.and_then(|n| n.checked_mul(size)));
            range.and_then(|(start, len)| Some((m.offset.checked_add(start)?, len))).unwrap_or((m.offset, m.len))
        }
        (Some((_, m)), _) => (m.offset, m.len),
        (None, _) => (0, 0),
    };
    let mut info =
        TensorInfo::new(found.name.clone(), dtype, Framework::PYTORCH, t.shape.clone(), path.clone(), offset, len);
    info.dtype_name = dtype_name;
    info
}

impl TensorSource for TorchSource {
    fn framework(&self) -> Framework {
        Framework::PYTORCH
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    fn view(&self, index: usize) -> Result<TensorView<'_>> {
        let (Some(info), Some(slot)) = (self.tensors.get(index), self.slots.get(index)) else {
            return Err(Error::malformed(&self.path, None, format!("no tensor #{index}")));
        };
        let Some(file) = self.files.get(slot.file) else {
            return Err(Error::malformed(&self.path, None, format!("no file for tensor #{index}")));
        };
        let fail = |message: String| Error::tensor(info.file.as_ref(), &info.name, message);
        let t = &slot.tensor;
        let (dtype, size) = decodable(t).map_err(fail)?;
        let Some(storage) = &t.storage else {
            return Err(fail("tensor has no storage".into()));
        };
        let Some(member) = file.storages.get(&storage.key) else {
            return Err(fail(format!("storage {} has no data in the file", storage.key)));
        };
        let numel = info.numel().and_then(|n| usize::try_from(n).ok());
        let span = view_span(&t.shape, &t.stride);
        let Some((numel, span)) = numel.zip(span) else {
            return Err(fail(format!("shape {} with stride {:?} overflows", info.shape_string(), t.stride)));
        };
        // The view must fit in the storage the pickle declares and in the bytes the file holds.
        let view_end = t.offset.checked_add(span);
        let start = storage.view_offset.checked_add(t.offset);
        let data_end = start.zip(Some(span)).and_then(|(s, n)| s.checked_add(n)?.checked_mul(size));
        let (Some(view_end), Some(start), Some(data_end)) = (view_end, start, data_end) else {
            return Err(fail("storage offset overflows".into()));
        };
        let fits = span == 0 || (view_end <= storage.numel && data_end <= member.len);
        if !fits {
            return Err(fail(format!(
                "view needs elements {}..{} of storage {}, which holds {} ({} bytes of {} in the file)",
                t.offset, view_end, storage.key, storage.numel, member.len, storage.kind.name
            )));
        }
        if span == 0 {
            return TensorView::plain(info, Cow::Borrowed(&[]), dtype, file.order);
        }
        let bytes = match member.packing {
            Packing::Stored => Cow::Borrowed(file.map.slice(member.offset, data_end, &info.name)?),
            _ => {
                check_limit(info, data_end, self.limit)?;
                zip::member_bytes(file.map.bytes(), member, data_end).map_err(|e| fail(e.to_string()))?
            }
        };
        let size = size as usize;
        if is_contiguous(&t.shape, &t.stride) {
            let range = usize::try_from(start).ok().and_then(|s| Some(s.checked_mul(size)?..data_end as usize));
            let range = range.filter(|r| r.end.checked_sub(r.start) == numel.checked_mul(size));
            let Some(range) = range else {
                return Err(fail("contiguous view does not match its byte range".into()));
            };
            let bytes = match bytes {
                Cow::Borrowed(b) => Cow::Borrowed(b.get(range).unwrap_or_default()),
                Cow::Owned(mut v) => {
                    v.truncate(range.end);
                    v.drain(..range.start);
                    Cow::Owned(v)
                }
            };
            return TensorView::plain(info, bytes, dtype, file.order);
        }
        let gathered = gather(&bytes, size, start, &t.shape, &t.stride, numel)
            .ok_or_else(|| fail("strided view lies outside its storage".into()))?;
        TensorView::plain(info, Cow::Owned(gathered), dtype, file.order)
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

    #[test]
    fn strided_views_gather_in_row_major_order() {
        let storage: Vec<u8> = (0..30).collect();
        // A [2, 3, 4] block at offset 3, permuted to [4, 2, 3] (strides 1, 12, 4).
        let (shape, stride) = ([4u64, 2, 3], [1u64, 12, 4]);
        assert!(!is_contiguous(&shape, &stride));
        assert_eq!(view_span(&shape, &stride), Some(24));
        let got = gather(&storage, 1, 3, &shape, &stride, 24).unwrap();
        let mut want = Vec::new();
        for a in 0..4u8 {
            for b in 0..2u8 {
                for c in 0..3u8 {
                    want.push(3 + a + 12 * b + 4 * c);
                }
            }
        }
        assert_eq!(got, want);
        // Two-byte elements, a column slice with a unit inner stride.
        let got = gather(&storage, 2, 1, &[2, 2], &[5, 1], 4).unwrap();
        assert_eq!(got, [2, 3, 4, 5, 12, 13, 14, 15]);
        assert_eq!(gather(&storage, 1, 29, &[2], &[1], 2), None, "past the storage");
    }

    #[test]
    fn contiguity_ignores_unit_dimensions() {
        assert!(is_contiguous(&[1, 12], &[99, 1]));
        assert!(is_contiguous(&[], &[]));
        assert!(is_contiguous(&[0, 8], &[1, 1]));
        assert!(!is_contiguous(&[24, 16], &[1, 24]));
        assert_eq!(view_span(&[0, 8], &[8, 1]), Some(0));
        assert_eq!(view_span(&[u64::MAX, 2], &[u64::MAX, 1]), None);
    }
}
