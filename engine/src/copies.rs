//! One checkpoint directory is one model: where the same weights are stored twice in one
//! directory (`model.safetensors` beside `pytorch_model.bin`, sharded or not, as many Hugging
//! Face repositories ship them), only the copy `transformers` would load is analyzed
//! (`weightlens_readers::discover::load_preference`); the others are listed as skipped.
//!
//! Two files are copies of one checkpoint when they are both safetensors or PyTorch models in
//! the same directory and hold the same tensors by name and shape. One copy may have more
//! tensors than the other only where each extra one has the shape of a tensor they share: that
//! is how tied weights look (safetensors' `save_pretrained` drops the second name of a shared
//! storage such as `lm_head.weight`, `torch.save` keeps it). Anything else (a GGUF made from the
//! safetensors, an ONNX export, an optimizer state) is a different model and stays one.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use weightlens_core::{TensorInfo, TensorSource};
use weightlens_readers::discover::load_preference;

/// A model file not analyzed because another copy of the same weights was (run_meta.json
/// `skipped_files`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SkippedFile {
    /// The file left out (a shard index for a sharded copy).
    pub path: String,
    /// Why, in one line.
    pub reason: String,
    /// The file analyzed instead.
    pub kept_instead: String,
}

/// One opened model as the choice needs it.
pub(crate) struct Candidate<'a> {
    /// The file naming the model.
    pub path: &'a Path,
    /// Whether that file is a shard index.
    pub is_index: bool,
    /// The opened model.
    pub source: &'a dyn TensorSource,
}

/// Which of `models` to analyze (`true`) and the files skipped, with the reason.
pub(crate) fn choose(models: &[Candidate<'_>]) -> (Vec<bool>, Vec<SkippedFile>) {
    let mut keep = vec![true; models.len()];
    let mut skipped = Vec::new();
    // Candidates grouped by directory, each with its place in transformers' order.
    let mut by_dir: BTreeMap<&Path, Vec<(u8, usize)>> = BTreeMap::new();
    for (i, m) in models.iter().enumerate() {
        if let Some(rank) = load_preference(m.path, m.source.framework(), m.is_index) {
            by_dir.entry(m.path.parent().unwrap_or(Path::new(""))).or_default().push((rank, i));
        }
    }
    for mut group in by_dir.into_values() {
        // Preferred first; equal ranks in discovery (path) order.
        group.sort();
        for (pos, &(_, i)) in group.iter().enumerate() {
            if !keep[i] {
                continue;
            }
            for &(_, j) in &group[pos + 1..] {
                if keep[j] && same_weights(models[i].source.tensors(), models[j].source.tensors()) {
                    keep[j] = false;
                    let (kept, dropped) = (&models[i], &models[j]);
                    tracing::info!(skipped = %dropped.path.display(), kept = %kept.path.display(), "same weights stored twice");
                    skipped.push(SkippedFile {
                        path: dropped.path.display().to_string(),
                        reason: format!(
                            "same tensors (names and shapes) as {}, which transformers loads first ({} before {}); --all-files analyzes both",
                            file_name(kept.path),
                            kind(kept),
                            kind(dropped),
                        ),
                        kept_instead: kept.path.display().to_string(),
                    });
                }
            }
        }
    }
    (keep, skipped)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// "sharded safetensors", "PyTorch" ... for the reason text.
fn kind(m: &Candidate<'_>) -> String {
    let format =
        if m.source.framework() == weightlens_core::Framework::SAFETENSORS { "safetensors" } else { "PyTorch" };
    if m.is_index {
        format!("sharded {format}")
    } else {
        format.to_string()
    }
}

/// The same tensors by name and shape, up to tied copies (see the module comment).
fn same_weights(a: &[TensorInfo], b: &[TensorInfo]) -> bool {
    let set = |ts: &'_ [TensorInfo]| -> HashSet<(String, Vec<u64>)> {
        ts.iter().map(|t| (t.name.clone(), t.shape.clone())).collect()
    };
    let (a, b) = (set(a), set(b));
    let (small, large) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    if small.is_empty() || !small.is_subset(large) {
        return false;
    }
    let shapes: HashSet<&Vec<u64>> = small.iter().map(|(_, s)| s).collect();
    large.difference(small).all(|(_, shape)| shapes.contains(shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use weightlens_core::{Dtype, Framework};

    fn infos(names: &[(&str, &[u64])]) -> Vec<TensorInfo> {
        let file: Arc<Path> = Arc::from(Path::new("m"));
        names
            .iter()
            .map(|(n, s)| TensorInfo::new(*n, Dtype::F32, Framework::SAFETENSORS, s.to_vec(), file.clone(), 0, 0))
            .collect()
    }

    #[test]
    fn copies_are_the_same_tensors_up_to_tied_ones() {
        let st = infos(&[("embed.weight", &[8, 4]), ("layers.0.q.weight", &[4, 4])]);
        let pt_tied = infos(&[("embed.weight", &[8, 4]), ("layers.0.q.weight", &[4, 4]), ("lm_head.weight", &[8, 4])]);
        assert!(same_weights(&st, &st));
        assert!(same_weights(&st, &pt_tied));
        // An extra tensor of a shape the other copy lacks is another model's.
        let other = infos(&[("embed.weight", &[8, 4]), ("layers.0.q.weight", &[4, 4]), ("head.weight", &[3, 4])]);
        assert!(!same_weights(&st, &other));
        // A different shape under the same name is a different model.
        assert!(!same_weights(&st, &infos(&[("embed.weight", &[8, 4]), ("layers.0.q.weight", &[4, 8])])));
        assert!(!same_weights(&st, &[]));
    }
}
