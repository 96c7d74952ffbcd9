//! Shard indexes of sharded checkpoints (`model.safetensors.index.json`,
//! `pytorch_model.bin.index.json`): the model is opened in the format of its shards.

use std::path::{Path, PathBuf};

use weightlens_core::{Error, FormatReader, Identify, OpenOptions, Result, TensorSource};

use crate::detect::{detect_file, Format};
use crate::index::ShardIndex;
use crate::pytorch::TorchSource;
use crate::safetensors::SafetensorsSource;

/// Reads a sharded checkpoint through its JSON index.
#[derive(Debug)]
pub struct ShardIndexReader;

impl FormatReader for ShardIndexReader {
    /// Not a `framework` value itself: the opened model reports its shards' framework.
    fn id(&self) -> &str {
        super::SHARD_INDEX_ID
    }
    fn name(&self) -> &str {
        "sharded checkpoint index (safetensors or PyTorch shards)"
    }
    fn extensions(&self) -> &[&str] {
        &[]
    }
    fn magic(&self) -> &str {
        "a JSON object with a \"weight_map\" key"
    }
    fn identify(&self, head: &[u8], _path: &Path) -> Identify {
        super::identify_as(head, &[Format::ShardIndex])
    }
    fn open(&self, path: &Path, options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
        let index = ShardIndex::open(path)?;
        let Some(first) = index.shards.first() else {
            return Err(Error::malformed(path, None, "index lists no shards"));
        };
        match detect_file(first)? {
            Format::Safetensors => Ok(Box::new(SafetensorsSource::open_index(path)?)),
            Format::TorchZip | Format::TorchLegacy => {
                Ok(Box::new(TorchSource::open_index_with_limit(path, options.max_tensor_bytes)?))
            }
            other => Err(Error::UnknownFormat {
                path: path.to_path_buf(),
                reason: format!("shards of the {} format are not supported yet", other.name()),
            }),
        }
    }
    /// The shard files the index lists (resolved against its directory). An unreadable index
    /// lists nothing here; opening it reports the problem.
    fn members(&self, path: &Path) -> Vec<PathBuf> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let Ok(text) = std::fs::read(path) else { return Vec::new() };
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&text) else { return Vec::new() };
        let Some(map) = json.get("weight_map").and_then(|m| m.as_object()) else { return Vec::new() };
        map.values().filter_map(|v| v.as_str()).map(|f| dir.join(f)).collect()
    }
}
