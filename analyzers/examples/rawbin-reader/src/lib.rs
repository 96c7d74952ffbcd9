//! Example reader plugin: the layout many C/C++ projects dump weights in, one raw binary file
//! plus a JSON sidecar describing it:
//!
//! ```json
//! { "format": "raw-tensors", "data": "weights.raw",
//!   "tensors": [ { "name": "fc.weight", "dtype": "F32", "shape": [4, 8], "offset": 0,
//!                  "byte_order": "little" } ] }
//! ```
//!
//! `data` is relative to the sidecar and may not leave its directory. Little-endian tensors are
//! lent to weightlens (zero-copy); `"byte_order": "big"` ones are byte-swapped into a copy.

use std::path::{Component, Path};

use weightlens_plugin_sdk::export_reader;
use weightlens_plugin_sdk::reader::{Identify, Reader, TensorBytes, TensorEntry};

/// The sidecar's `format` value.
const FORMAT: &str = "raw-tensors";

/// Largest sidecar read (a sidecar lists names and offsets only).
const MAX_SIDECAR: u64 = 16 << 20;

/// An opened raw binary + sidecar model.
#[derive(Debug)]
pub struct RawBin {
    data: Vec<u8>,
    tensors: Vec<TensorEntry>,
    /// (offset, element size, big endian) per tensor.
    layout: Vec<(usize, usize, bool)>,
}

fn element_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
        _ => return None,
    })
}

impl Reader for RawBin {
    fn id() -> &'static str {
        "rawbin"
    }
    fn name() -> &'static str {
        "raw binary + JSON sidecar (example plugin)"
    }
    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
    fn extensions() -> &'static [&'static str] {
        &[]
    }
    fn magic() -> &'static str {
        "a JSON object with \"format\": \"raw-tensors\""
    }
    fn identify(head: &[u8], _path: &Path) -> Identify {
        let text = head.iter().position(|b| !b.is_ascii_whitespace()).map_or(&[][..], |i| &head[i..]);
        let marker = format!("\"{FORMAT}\"");
        if text.starts_with(b"{") && text.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            Identify::Yes
        } else {
            Identify::No
        }
    }
    fn open(path: &Path) -> Result<Self, String> {
        let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
        if len > MAX_SIDECAR {
            return Err(format!("sidecar is {len} bytes, more than {MAX_SIDECAR}"));
        }
        let text = std::fs::read(path).map_err(|e| e.to_string())?;
        let json: serde_json::Value = serde_json::from_slice(&text).map_err(|e| format!("sidecar is not JSON: {e}"))?;
        if json["format"] != FORMAT {
            return Err(format!("sidecar format is not {FORMAT:?}"));
        }
        let data_name = json["data"].as_str().ok_or("sidecar has no \"data\" file name")?;
        if !Path::new(data_name).components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(format!("data file {data_name:?} leaves the sidecar's directory"));
        }
        let data_path = path.parent().unwrap_or(Path::new(".")).join(data_name);
        let data = std::fs::read(&data_path).map_err(|e| format!("{}: {e}", data_path.display()))?;
        let mut tensors = Vec::new();
        let mut layout = Vec::new();
        for t in json["tensors"].as_array().ok_or("sidecar has no \"tensors\" list")? {
            let name = t["name"].as_str().ok_or("a tensor without a name")?.to_string();
            let dtype = t["dtype"].as_str().ok_or_else(|| format!("{name}: no dtype"))?.to_string();
            let size = element_size(&dtype).ok_or_else(|| format!("{name}: unknown dtype {dtype}"))?;
            let shape: Vec<u64> = t["shape"]
                .as_array()
                .ok_or_else(|| format!("{name}: no shape"))?
                .iter()
                .map(|d| d.as_u64().ok_or_else(|| format!("{name}: bad dimension {d}")))
                .collect::<Result<_, _>>()?;
            let offset = t["offset"].as_u64().ok_or_else(|| format!("{name}: no offset"))?;
            let byte_len = shape
                .iter()
                .try_fold(size, |a, &d| a.checked_mul(d))
                .ok_or_else(|| format!("{name}: size overflows"))?;
            let end = offset.checked_add(byte_len).filter(|&e| e <= data.len() as u64);
            if end.is_none() {
                return Err(format!("{name}: bytes {offset}+{byte_len} lie outside {data_name}"));
            }
            let big = t["byte_order"] == "big";
            layout.push((offset as usize, size as usize, big));
            let metadata_json = Some(
                serde_json::json!({ "offset": offset, "byte_order": if big { "big" } else { "little" } }).to_string(),
            );
            tensors.push(TensorEntry { name, shape, dtype, byte_len, metadata_json });
        }
        Ok(RawBin { data, tensors, layout })
    }
    fn tensors(&self) -> &[TensorEntry] {
        &self.tensors
    }
    fn data(&self, index: usize) -> Result<TensorBytes<'_>, String> {
        let (t, &(offset, size, big)) = self.tensors.get(index).zip(self.layout.get(index)).ok_or("no such tensor")?;
        let bytes = self.data.get(offset..offset + t.byte_len as usize).ok_or("range checked at open")?;
        if !big {
            return Ok(TensorBytes::Borrowed(bytes));
        }
        Ok(TensorBytes::Owned(bytes.chunks_exact(size).flat_map(|e| e.iter().rev().copied()).collect()))
    }
}

export_reader!(RawBin);
