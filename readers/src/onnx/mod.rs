//! ONNX models (`.onnx`): every initializer, every tensor of a `Constant` node, in the main graph,
//! in subgraphs (`If`/`Loop`/`Scan` bodies) and in model-local functions.
//!
//! The protobuf is decoded with `prost` from a `bytes::Bytes` over the memory map, so `raw_data`
//! is a slice of the map (its offset is recorded and the bytes are served from the map, never
//! copied). Values stored in the typed fields (`float_data`, `int32_data`, ...) are converted to
//! little-endian bytes once, at open. External data is memory-mapped (see `onnx/external.rs`).
//! Protobuf limits a message to 2 GiB, so a larger `.onnx` file is malformed; prost checks
//! every length prefix against the bytes that exist and bounds nesting (recursion limit 100).

mod dtype;
mod external;
mod proto;
mod quant;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use prost::Message;
use weightlens_core::{
    ByteOrder, Error, Framework, OpenOptions, QuantFacts, Result, TensorInfo, TensorSource, TensorView,
};

use crate::limits::check_limit;
use crate::mmap::MappedFile;
use dtype::{onnx_type, Field, OnnxType, Storage};
use proto::{GraphProto, ModelProto, NodeProto, TensorProto};

/// The largest serialized protobuf message (2 GiB - 1); protobuf cannot encode larger ones.
const MAX_PROTOBUF_BYTES: u64 = (2 << 30) - 1;

/// How deep subgraphs are followed (prost's own recursion limit is 100 messages).
const MAX_GRAPH_DEPTH: usize = 32;

/// Where a tensor's stored bytes are.
#[derive(Debug)]
enum Data {
    /// A range of a mapped file (`raw_data` in the model, or external data).
    Mapped { file: Arc<MappedFile>, offset: u64, len: u64 },
    /// Converted from a typed field at open.
    Owned(Vec<u8>),
    /// The tensor is listed but cannot be read (the message says why).
    Bad(String),
}

#[derive(Debug)]
struct Entry {
    kind: OnnxType,
    numel: usize,
    data: Data,
}

/// An opened ONNX model.
#[derive(Debug)]
pub struct OnnxSource {
    path: PathBuf,
    tensors: Vec<TensorInfo>,
    entries: Vec<Entry>,
    /// The quantization columns of tensors consumed by quantization operators.
    facts: Vec<Option<QuantFacts>>,
    metadata: serde_json::Value,
    warnings: Vec<String>,
    limit: u64,
}

/// One tensor found in the model, before it is resolved.
struct Found<'m> {
    name: String,
    tensor: &'m TensorProto,
}

impl OnnxSource {
    /// Opens `path` with the default options.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, &OpenOptions::default())
    }

    /// Opens `path`; tensors converted in memory (sub-byte and exotic float types) are limited
    /// to `options.max_tensor_bytes`.
    pub fn open_with(path: &Path, options: &OpenOptions) -> Result<Self> {
        let file = Arc::new(MappedFile::open(path)?);
        let model = decode(&file)?;
        let mut found = Vec::new();
        let mut schemes = HashMap::new();
        if let Some(graph) = &model.graph {
            walk_graph(path, graph, 0, &mut found, &mut schemes)?;
        }
        for function in &model.functions {
            walk_nodes(path, &function.node, 1, &mut found, &mut schemes)?;
        }
        let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let base = file.bytes().as_ptr() as usize;
        let mut externals = external::ExternalFiles::default();
        let mut tensors = Vec::with_capacity(found.len());
        let mut entries = Vec::with_capacity(found.len());
        let mut warnings = Vec::new();
        let mut facts = Vec::with_capacity(found.len());
        for f in &found {
            let (info, entry) = resolve(path, &dir, &file, base, &mut externals, f)?;
            if let Data::Bad(why) = &entry.data {
                warnings.push(format!("{}: tensor {}: {why}", path.display(), info.name));
            }
            facts.push(quant::facts(&schemes, &info, f.tensor.data_type));
            tensors.push(info);
            entries.push(entry);
        }
        let quant: serde_json::Map<String, serde_json::Value> = tensors
            .iter()
            .filter_map(|t| schemes.get(&t.name).map(|s| (t.name.clone(), serde_json::Value::from(s.scheme))))
            .collect();
        let metadata = serde_json::json!({
            "ir_version": model.ir_version,
            "producer_name": model.producer_name,
            "producer_version": model.producer_version,
            "domain": model.domain,
            "model_version": model.model_version,
            "graph_name": model.graph.as_ref().map(|g| g.name.clone()),
            "opset_import": model.opset_import.iter().map(|o| serde_json::json!({"domain": o.domain, "version": o.version})).collect::<Vec<_>>(),
            "quant_scheme": quant,
        });
        Ok(OnnxSource {
            path: path.to_path_buf(),
            tensors,
            entries,
            facts,
            metadata,
            warnings,
            limit: options.max_tensor_bytes,
        })
    }

    /// The quantization scheme of tensor `name` (`onnx-qdq`, `onnx-qlinear`,
    /// `onnx-dynamic-int8`, `onnx-matmulnbits`), if a quantization operator consumes it.
    pub fn quant_scheme(&self, name: &str) -> Option<&str> {
        self.metadata.get("quant_scheme")?.get(name)?.as_str()
    }
}

/// Decodes the model from the map without copying `raw_data`.
fn decode(file: &Arc<MappedFile>) -> Result<ModelProto> {
    let path = file.path().as_ref();
    if file.len() > MAX_PROTOBUF_BYTES {
        return Err(Error::malformed(
            path,
            None,
            format!(
                "{} bytes: a protobuf message cannot exceed 2 GiB (larger models keep their weights in external data)",
                file.len()
            ),
        ));
    }
    let buf = Bytes::from_owner(crate::mmap::SharedMap(Arc::clone(file)));
    ModelProto::decode(buf).map_err(|e| Error::malformed(path, None, format!("not a valid ONNX protobuf: {e}")))
}

fn walk_graph<'m>(
    path: &Path,
    graph: &'m GraphProto,
    depth: usize,
    found: &mut Vec<Found<'m>>,
    schemes: &mut quant::Schemes,
) -> Result<()> {
    if depth > MAX_GRAPH_DEPTH {
        return Err(Error::malformed(path, None, format!("subgraphs nested deeper than {MAX_GRAPH_DEPTH}")));
    }
    found.extend(graph.initializer.iter().map(|t| Found { name: t.name.clone(), tensor: t }));
    walk_nodes(path, &graph.node, depth, found, schemes)
}

/// The tensors of `Constant` nodes, and the subgraphs of every node.
fn walk_nodes<'m>(
    path: &Path,
    nodes: &'m [NodeProto],
    depth: usize,
    found: &mut Vec<Found<'m>>,
    schemes: &mut quant::Schemes,
) -> Result<()> {
    quant::collect(nodes, schemes);
    for node in nodes {
        if node.op_type == "Constant" && (node.domain.is_empty() || node.domain == "ai.onnx") {
            // The value is named by the node's output (the name the graph refers to it by).
            let name = node.output.first().filter(|o| !o.is_empty()).unwrap_or(&node.name);
            for attr in node.attribute.iter().filter(|a| a.name == "value") {
                if let Some(t) = &attr.t {
                    found.push(Found { name: name.clone(), tensor: t });
                }
            }
        }
        for attr in &node.attribute {
            for graph in attr.g.iter().chain(&attr.graphs) {
                walk_graph(path, graph, depth + 1, found, schemes)?;
            }
        }
    }
    Ok(())
}

/// The [`TensorInfo`] and stored data of one tensor. Errors here are structural (a shape that
/// cannot exist) and fail the file; problems with the data itself fail that tensor only.
fn resolve(
    path: &Path,
    dir: &Path,
    file: &Arc<MappedFile>,
    base: usize,
    externals: &mut external::ExternalFiles,
    f: &Found<'_>,
) -> Result<(TensorInfo, Entry)> {
    let t = f.tensor;
    let bad = |msg: String| Error::malformed(path, None, format!("tensor {}: {msg}", f.name));
    let shape: Vec<u64> = t
        .dims
        .iter()
        .map(|&d| u64::try_from(d).map_err(|_| bad(format!("negative dimension {d}"))))
        .collect::<Result<_>>()?;
    let numel =
        shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).ok_or_else(|| bad("element count overflows".into()))?;
    let numel_usize = usize::try_from(numel).map_err(|_| bad("element count exceeds the address space".into()))?;
    let kind = onnx_type(t.data_type).unwrap_or(OnnxType {
        name: "UNDEFINED",
        storage: Storage::Unsupported,
        field: Field::String,
    });
    let unknown_name = (onnx_type(t.data_type).is_none()).then(|| format!("data_type {}", t.data_type));
    let model_file: Arc<Path> = Arc::clone(file.path());
    let mut info = TensorInfo::new(f.name.clone(), kind.served(), Framework::ONNX, shape, model_file, 0, 0);
    info.dtype_name = match unknown_name {
        Some(n) => Cow::Owned(n),
        None => Cow::Borrowed(kind.name),
    };
    if matches!(kind.storage, Storage::Unsupported) {
        info.dtype = weightlens_core::Dtype::Unsupported;
    }
    let data = stored_data(dir, file, base, externals, t, kind, numel, &mut info);
    Ok((info, Entry { kind, numel: numel_usize, data }))
}

/// Locates (raw, external) or converts (typed fields) the stored bytes of `t`, and records
/// their file, offset and length in `info`.
#[allow(clippy::too_many_arguments)]
fn stored_data(
    dir: &Path,
    file: &Arc<MappedFile>,
    base: usize,
    externals: &mut external::ExternalFiles,
    t: &TensorProto,
    kind: OnnxType,
    numel: u64,
    info: &mut TensorInfo,
) -> Data {
    if t.segment.is_some() {
        return Data::Bad("tensor segments are not supported (as in onnx.numpy_helper)".into());
    }
    if matches!(kind.storage, Storage::Unsupported) {
        return Data::Bad(format!("unsupported dtype {}", info.dtype_name));
    }
    let Some(expected) = kind.stored_len(numel) else {
        return Data::Bad("byte size overflows".into());
    };
    if t.data_location == 1 {
        return external_data(dir, externals, t, expected, info);
    }
    if let Some(raw) = &t.raw_data {
        let offset = (raw.as_ptr() as usize).wrapping_sub(base) as u64;
        if raw.len() as u64 != expected || raw.is_empty() && expected != 0 {
            return Data::Bad(format!(
                "raw_data holds {} bytes, shape {} of {} needs {expected}",
                raw.len(),
                info.shape_string(),
                info.dtype_name
            ));
        }
        // Empty bytes need not point into the map; nothing is read from them.
        let offset = if raw.is_empty() { 0 } else { offset };
        info.offset = offset;
        info.len = expected;
        return Data::Mapped { file: Arc::clone(file), offset, len: expected };
    }
    match typed_bytes(t, kind, numel) {
        Ok(bytes) => {
            info.len = bytes.len() as u64;
            Data::Owned(bytes)
        }
        Err(why) => Data::Bad(why),
    }
}

fn external_data(
    dir: &Path,
    externals: &mut external::ExternalFiles,
    t: &TensorProto,
    expected: u64,
    info: &mut TensorInfo,
) -> Data {
    let found = external::parse(&t.external_data).and_then(|r| {
        let path = external::resolve(dir, &r.location)?;
        let map = externals.map(&path)?;
        let len = r.length.unwrap_or_else(|| map.len().saturating_sub(r.offset));
        Ok((map, r, len))
    });
    let (map, r, len) = match found {
        Ok(x) => x,
        Err(why) => return Data::Bad(why),
    };
    if len != expected {
        return Data::Bad(format!(
            "external data {:?} holds {len} bytes, shape {} of {} needs {expected}",
            r.location,
            info.shape_string(),
            info.dtype_name
        ));
    }
    info.file = Arc::clone(map.path());
    info.offset = r.offset;
    info.len = len;
    Data::Mapped { file: map, offset: r.offset, len }
}

/// The little-endian stored bytes of a tensor whose values are in a typed field, following
/// `onnx.numpy_helper.to_array`: integers narrower than the field keep their low bits.
fn typed_bytes(t: &TensorProto, kind: OnnxType, numel: u64) -> std::result::Result<Vec<u8>, String> {
    let bits = kind.bits().ok_or("unsupported dtype")?;
    // Sub-byte types pack 8/bits elements per int32_data entry (its low byte).
    let per_entry = if bits < 8 { 8 / bits } else { 1 };
    let count = match kind.field {
        Field::Float => t.float_data.len(),
        Field::Int32 => t.int32_data.len(),
        Field::Int64 => t.int64_data.len(),
        Field::Double => t.double_data.len(),
        Field::Uint64 => t.uint64_data.len(),
        Field::String => t.string_data.len(),
    } as u64;
    let entries_needed = numel.div_ceil(per_entry);
    if count != entries_needed {
        return Err(format!("{} values stored, shape needs {entries_needed}", count));
    }
    let width = (bits / 8).max(1) as usize;
    let mut out = Vec::with_capacity(count as usize * width);
    match kind.field {
        Field::Float => t.float_data.iter().for_each(|v| out.extend(v.to_le_bytes())),
        Field::Double => t.double_data.iter().for_each(|v| out.extend(v.to_le_bytes())),
        Field::Int64 => t.int64_data.iter().for_each(|v| out.extend(v.to_le_bytes())),
        Field::Uint64 => t.uint64_data.iter().for_each(|v| out.extend(&v.to_le_bytes()[..width])),
        Field::Int32 => t.int32_data.iter().for_each(|v| out.extend(&v.to_le_bytes()[..width])),
        Field::String => return Err("strings are not analyzed".into()),
    }
    Ok(out)
}

impl TensorSource for OnnxSource {
    fn framework(&self) -> Framework {
        Framework::ONNX
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
        let stored: &[u8] = match &entry.data {
            Data::Mapped { file, offset, len } => file.slice(*offset, *len, &info.name)?,
            Data::Owned(bytes) => bytes,
            Data::Bad(why) => return Err(Error::tensor(info.file.as_ref(), &info.name, why.clone())),
        };
        let served = entry.kind.served();
        let bytes = if let Storage::Plain(_) = entry.kind.storage {
            Cow::Borrowed(stored)
        } else {
            let need = served.byte_len(entry.numel as u64).unwrap_or(u64::MAX);
            check_limit(info, need, self.limit)?;
            match entry.kind.convert(stored, entry.numel) {
                Some(v) => Cow::Owned(v),
                None => Cow::Borrowed(stored),
            }
        };
        TensorView::plain(info, bytes, served, ByteOrder::Little)
    }

    fn quant(&self, index: usize) -> Option<&QuantFacts> {
        self.facts.get(index)?.as_ref()
    }

    fn metadata(&self) -> serde_json::Value {
        self.metadata.clone()
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

/// The external data files `path` refers to (for discovery: they are part of this model, not
/// models of their own). An unreadable model lists nothing; opening it reports the problem.
pub fn external_files(path: &Path) -> Vec<PathBuf> {
    let Ok(file) = MappedFile::open(path).map(Arc::new) else { return Vec::new() };
    let Ok(model) = decode(&file) else { return Vec::new() };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut found = Vec::new();
    let mut schemes = HashMap::new();
    if let Some(graph) = &model.graph {
        if walk_graph(path, graph, 0, &mut found, &mut schemes).is_err() {
            return Vec::new();
        }
    }
    let mut files: Vec<PathBuf> = found
        .iter()
        .filter(|f| f.tensor.data_location == 1)
        .filter_map(|f| external::parse(&f.tensor.external_data).ok())
        .map(|r| dir.join(r.location))
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Whether `head` starts like a serialized `ModelProto`: exporters write `ir_version` (field 1,
/// a small varint) first, then another `ModelProto` field.
pub fn looks_like_model(head: &[u8]) -> bool {
    let [0x08, ir, next, ..] = head else { return false };
    // ir_version 1..=15 fits one varint byte; the next tag is field 2..=8 or 14/20/25/26 of ModelProto.
    (1..=15).contains(ir) && matches!(next, 0x12 | 0x1a | 0x22 | 0x28 | 0x32 | 0x3a | 0x42 | 0x72 | 0xa2 | 0xca | 0xd2)
}
