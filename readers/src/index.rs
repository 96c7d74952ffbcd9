//! Shard indexes (`model.safetensors.index.json`, `pytorch_model.bin.index.json`): which shard
//! file holds which tensor of a sharded checkpoint.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use weightlens_core::{Error, Result};

/// Indexes larger than this are refused (a 1T-parameter model's index is a few MB).
const MAX_INDEX_BYTES: u64 = 64 << 20;

/// A parsed shard index.
#[derive(Debug)]
pub struct ShardIndex {
    /// The index file.
    pub path: PathBuf,
    /// Shard files in name order (resolved against the index's directory).
    pub shards: Vec<PathBuf>,
    /// Tensor name -> position in `shards`.
    pub weight_map: BTreeMap<String, usize>,
    /// The index's `metadata` object (e.g. `total_size`).
    pub metadata: serde_json::Value,
}

impl ShardIndex {
    /// Reads and validates the index at `path`. Shard names must be plain relative paths that
    /// stay inside the index's directory.
    pub fn open(path: &Path) -> Result<Self> {
        let bad = |msg: String| Error::malformed(path, None, msg);
        let len = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
        if len > MAX_INDEX_BYTES {
            return Err(bad(format!("index is {len} bytes, more than the {MAX_INDEX_BYTES}-byte limit")));
        }
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let json: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| bad(format!("index is not valid JSON: {e}")))?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad("index has no \"weight_map\" object".into()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut files = BTreeMap::new();
        for (tensor, file) in map {
            let file = file.as_str().ok_or_else(|| bad(format!("weight_map entry {tensor} is not a file name")))?;
            let rel = Path::new(file);
            if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
                return Err(bad(format!("shard name {file:?} leaves the index's directory")));
            }
            files.entry(file.to_string()).or_insert_with(Vec::new).push(tensor.clone());
        }
        let mut shards = Vec::new();
        let mut weight_map = BTreeMap::new();
        for (i, (file, tensors)) in files.into_iter().enumerate() {
            shards.push(dir.join(file));
            weight_map.extend(tensors.into_iter().map(|t| (t, i)));
        }
        let metadata = json.get("metadata").cloned().unwrap_or(serde_json::Value::Null);
        Ok(ShardIndex { path: path.to_path_buf(), shards, weight_map, metadata })
    }

    /// The shard the index assigns `tensor` to.
    pub fn shard_of(&self, tensor: &str) -> Option<usize> {
        self.weight_map.get(tensor).copied()
    }

    /// A filter that keeps every tensor of the model once, from the shard the index assigns it to.
    pub fn filter(&self) -> ShardFilter<'_> {
        ShardFilter { index: self, seen: HashSet::new(), warnings: Vec::new() }
    }
}

/// Decides, tensor by tensor while the shards are read in order, which copy of a tensor the
/// model keeps: the one in the shard the index names. A tensor the index does not list is kept
/// (once), with a warning.
#[derive(Debug)]
pub struct ShardFilter<'a> {
    index: &'a ShardIndex,
    seen: HashSet<String>,
    warnings: Vec<String>,
}

impl ShardFilter<'_> {
    /// True if tensor `name` found in shard number `shard` belongs to the model.
    pub fn keep(&mut self, shard: usize, name: &str) -> bool {
        match self.index.shard_of(name) {
            Some(s) if s != shard => return false,
            None => self.warnings.push(format!(
                "{}: tensor {name} is not listed in the index",
                self.index.shards.get(shard).map_or_else(String::new, |p| p.display().to_string())
            )),
            Some(_) => {}
        }
        self.seen.insert(name.to_string())
    }

    /// Checks that every tensor the index lists was found in its shard; returns the warnings.
    pub fn finish(self) -> Result<Vec<String>> {
        let index = self.index;
        if let Some(missing) = index.weight_map.keys().find(|t| !self.seen.contains(t.as_str())) {
            let shard = index.shard_of(missing).and_then(|s| index.shards.get(s));
            return Err(Error::malformed(
                &index.path,
                None,
                format!(
                    "index lists tensor {missing} in {}, which does not hold it",
                    shard.map_or_else(String::new, |p| p.display().to_string())
                ),
            ));
        }
        Ok(self.warnings)
    }
}
