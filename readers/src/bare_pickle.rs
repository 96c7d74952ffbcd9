//! Bare pickle files (`pickle.dump` of dicts and lists of numpy arrays; `.pkl`, `.pickle`, or a
//! `.pt`/`.bin`/`.sav` holding a plain pickle), recognised by content.
//!
//! The pickle is read by the same non-executing machine as torch checkpoints; numpy arrays
//! (`_reconstruct` + `BUILD`, protocol 5's `_frombuffer`) become tensors named by their key
//! path, their data served from the memory map where the pickle holds it as bytes; torch
//! tensors pickled by `pickle.dumps` (storages in `torch.storage._load_from_bytes` bytes, legacy
//! torch files) are located inside those bytes and served like torch checkpoints. A pickle
//! referencing a dangerous global is refused unless the caller opens it on purpose; nothing is
//! executed either way.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use weightlens_core::{ByteOrder, Error, Framework, Result, TensorInfo, TensorSource, TensorView};

use crate::mmap::MappedFile;
use crate::numpy::header::{parse_descr, Element, NpyHeader};
use crate::numpy::{array_view, non_numeric, tensor_info, unsupported};
use crate::pytorch::pickle::{self, ArrayData, ArrayRef};
use crate::pytorch::{walk, Checkpoint, TorchSource};

/// One array: its header-like description and where its bytes are.
#[derive(Debug)]
struct Slot {
    header: NpyHeader,
    data: ArrayData,
}

/// A bare pickle file.
#[derive(Debug)]
pub struct PickleSource {
    path: PathBuf,
    file: MappedFile,
    /// Torch tensors (listed first in `tensors`).
    torch: Option<TorchSource>,
    tensors: Vec<TensorInfo>,
    /// The numpy arrays, after the torch tensors.
    slots: Vec<Slot>,
    metadata: serde_json::Value,
    warnings: Vec<String>,
    limit: u64,
}

/// The element type of a pickled numpy dtype, or why it is none weightlens reads.
fn element_of(array: &ArrayRef) -> std::result::Result<Element, String> {
    let Some(dtype) = &array.dtype else {
        return Err("array without a dtype".into());
    };
    if dtype.structured {
        return Ok(Element::Unsupported { name: "structured".into(), item_size: None });
    }
    parse_descr(&format!("{}{}", dtype.order, dtype.code)).map_err(|e| e.to_string())
}

impl PickleSource {
    /// Opens `path`. With `allow_unsafe`, a pickle referencing dangerous globals is read like
    /// any other (still never executed); otherwise it is refused.
    pub fn open(path: &Path, max_tensor_bytes: u64, allow_unsafe: bool) -> Result<Self> {
        let file = MappedFile::open(path)?;
        let parsed = pickle::parse_with(file.bytes(), path, 0, allow_unsafe)?;
        let root_name = path.file_stem().map_or_else(|| "array".to_string(), |s| s.to_string_lossy().into_owned());
        let contents = walk::walk(&parsed, &root_name, path)?;
        let mut warnings = Vec::new();
        let mut tensors = Vec::new();
        let mut slots = Vec::new();
        for found in contents.arrays {
            let element = match element_of(&found.array) {
                Ok(element) => element,
                Err(why) => {
                    warnings.push(format!("{}: array {}: {why}; skipped", path.display(), found.name));
                    continue;
                }
            };
            let numel = found.array.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
            let item = match &element {
                Element::Plain(dtype, _) => dtype.size().map(|s| s as u64),
                Element::Unsupported { item_size, .. } => *item_size,
                Element::Object => None,
            };
            if let Some(dtype) = non_numeric(&element) {
                warnings.push(format!(
                    "{}: array {} has the non-numeric dtype {dtype}; skipped",
                    path.display(),
                    found.name
                ));
                continue;
            }
            let data_len = numel.zip(item).and_then(|(n, s)| n.checked_mul(s));
            let (offset, len) = match &found.array.data {
                ArrayData::Span(span) => (span.start, span.len),
                ArrayData::Owned(bytes) => (0, bytes.len() as u64),
                ArrayData::Missing | ArrayData::Objects => (0, 0),
            };
            if data_len.is_some_and(|n| n != len) {
                warnings.push(format!(
                    "{}: array {}: {len} bytes of data, its shape and dtype describe {}; skipped",
                    path.display(),
                    found.name,
                    data_len.unwrap_or_default()
                ));
                continue;
            }
            let header = NpyHeader {
                version: (0, 0),
                element,
                fortran_order: found.array.fortran,
                shape: found.array.shape.clone(),
                data_offset: 0,
                data_len,
            };
            tensors.push(tensor_info(found.name, &header, Framework::PICKLE, &file, offset, len));
            slots.push(Slot { header, data: found.array.data });
        }
        // Torch tensors pickled by pickle.dumps: their storages are legacy torch files inside
        // bytes values, located by the reader; served by the torch reader's views.
        let torch = if contents.tensors.is_empty() {
            None
        } else {
            let checkpoint = Checkpoint {
                contents: walk::Contents { tensors: contents.tensors, ..walk::Contents::default() },
                order: ByteOrder::Little,
                storages: parsed.embedded.clone(),
                metadata: serde_json::Value::Null,
                warnings: Vec::new(),
            };
            Some(TorchSource::from_checkpoint(MappedFile::open(path)?, checkpoint, max_tensor_bytes))
        };
        if let Some(torch) = &torch {
            let mut all = torch.tensors().to_vec();
            all.extend(tensors);
            tensors = all;
        }
        if tensors.is_empty() && warnings.is_empty() {
            warnings.push(format!("{}: the pickle holds no numeric arrays", path.display()));
        }
        for w in &warnings {
            tracing::warn!("{w}");
        }
        let metadata = serde_json::json!({
            "format": "pickle",
            "values": contents.values,
            "opaque_classes": parsed.opaque_classes,
        });
        Ok(PickleSource {
            path: path.to_path_buf(),
            file,
            torch,
            tensors,
            slots,
            metadata,
            warnings,
            limit: max_tensor_bytes,
        })
    }
}

impl TensorSource for PickleSource {
    fn framework(&self) -> Framework {
        Framework::PICKLE
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    fn view(&self, index: usize) -> Result<TensorView<'_>> {
        let torch_count = self.torch.as_ref().map_or(0, |t| t.tensors().len());
        if let Some(torch) = self.torch.as_ref().filter(|_| index < torch_count) {
            return torch.view(index);
        }
        let array = index - torch_count;
        let (Some(info), Some(slot)) = (self.tensors.get(index), self.slots.get(array)) else {
            return Err(Error::malformed(&self.path, None, format!("no tensor #{index}")));
        };
        if let Some(why) = unsupported(&slot.header) {
            return Err(Error::tensor(info.file.as_ref(), &info.name, why));
        }
        let data = match &slot.data {
            ArrayData::Span(span) => Cow::Borrowed(self.file.slice(span.start, span.len, &info.name)?),
            ArrayData::Owned(bytes) => Cow::Borrowed(bytes.as_slice()),
            ArrayData::Missing | ArrayData::Objects => {
                return Err(Error::tensor(info.file.as_ref(), &info.name, "array has no data"))
            }
        };
        array_view(info, &slot.header, data, self.limit)
    }

    fn metadata(&self) -> serde_json::Value {
        self.metadata.clone()
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}
