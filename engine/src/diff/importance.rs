//! `diff --imatrix`: which importance-matrix entry weighs which matched pair, and the weights of
//! each of its slices.
//!
//! An imatrix names weights by their GGUF names (`blk.0.attn_q.weight`, `blk.0.ffn_up_exps.weight`).
//! The entry of a pair is looked up by the GGUF side's name; without a GGUF side by either name
//! as it is, then through the HF -> GGUF name map of the HF architecture. An entry must hold
//! exactly `ne0` values per matrix of the tensor (llama-quant.cpp refuses any other size, and
//! uses the values of expert `e` for slice `e`); anything else leaves the cells empty with a note.

use weightlens_core::naming::ArchInfo;
use weightlens_core::TensorInfo;
use weightlens_readers::imatrix::Imatrix;

use super::matching::{PairPlan, Side};
use super::names;

/// The weights of one pair.
#[derive(Clone, Debug, PartialEq)]
pub enum PairWeights {
    /// No `--imatrix`.
    Off,
    /// No usable entry: why (the `note` column).
    Missing(String),
    /// `ne0` weights per matrix of each slice, in the pair's slice order.
    Slices(Vec<Vec<f64>>),
}

impl PairWeights {
    /// The weights of slice `i`, if there are weights.
    pub fn slice(&self, i: usize) -> Option<&[f64]> {
        match self {
            PairWeights::Slices(s) => s.get(i).map(Vec::as_slice),
            _ => None,
        }
    }
}

/// What the lookup needs besides the pair.
#[derive(Debug)]
pub struct Importance<'a> {
    /// The importance matrix.
    pub imatrix: &'a Imatrix,
    /// The GGUF side, when exactly one side is a GGUF.
    pub gguf_side: Option<Side>,
    /// The gguf-py architecture for HF names (`general.architecture`, or the HF config's).
    pub arch: Option<String>,
}

/// `(ne0, matrices)` of a tensor, or of one slice of it: `ne0` the innermost dimension (HF's
/// last), a matrix `ne0 * ne1` elements.
fn matrices(shape: &[u64]) -> Option<(u64, u64)> {
    let ne0 = shape.last().copied().unwrap_or(1);
    let ne1 = if shape.len() >= 2 { shape[shape.len() - 2] } else { 1 };
    let numel = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
    let plane = ne0.checked_mul(ne1)?;
    Some((ne0, numel.checked_div(plane).unwrap_or(0)))
}

impl Importance<'_> {
    fn candidates(&self, pair: &PairPlan, a: &[TensorInfo], b: &[TensorInfo]) -> Vec<String> {
        let tensor_name = |list: &[TensorInfo], side: &[super::matching::Slice]| {
            side.first().and_then(|s| list.get(s.tensor)).map(|t| t.name.clone())
        };
        match self.gguf_side {
            Some(Side::A) => tensor_name(a, &pair.a).into_iter().collect(),
            Some(Side::B) => tensor_name(b, &pair.b).into_iter().collect(),
            None => {
                let mut out = vec![pair.name_a.clone(), pair.name_b.clone()];
                if let Some(arch) = &self.arch {
                    out.extend(names::hf_to_gguf(arch, &pair.name_a));
                    out.extend(names::hf_to_gguf(arch, &pair.name_b));
                }
                out
            }
        }
    }

    /// The weights of `pair` (`a`, `b`: the two models' tensor lists).
    pub fn weights(&self, pair: &PairPlan, a: &[TensorInfo], b: &[TensorInfo]) -> PairWeights {
        let candidates = self.candidates(pair, a, b);
        let Some(entry) = candidates.iter().find_map(|n| self.imatrix.get(n)) else {
            let name = candidates.first().map_or("the tensor", String::as_str);
            return PairWeights::Missing(format!("no imatrix entry for {name}"));
        };
        let mut sizes = Vec::with_capacity(pair.a.len());
        for s in &pair.a {
            let Some(info) = a.get(s.tensor) else { return PairWeights::Missing("no tensor".into()) };
            let rest = info.shape.get(1..).unwrap_or_default();
            // A fused HF expert is compared in the GGUF layout it is cut into.
            let shape = match (s.expert, s.fused) {
                (Some(_), Some(part)) => part.out_shape(rest).unwrap_or_default(),
                (Some(_), None) => rest.to_vec(),
                (None, _) => info.shape.clone(),
            };
            match matrices(&shape) {
                Some(m) => sizes.push(m),
                None => return PairWeights::Missing("shape overflows".into()),
            }
        }
        let (ne0, n_mat) = (sizes.first().map_or(1, |s| s.0), sizes.iter().map(|s| s.1).sum::<u64>());
        let needed = sizes.iter().try_fold(0u64, |acc, &(ne0, m)| acc.checked_add(ne0.checked_mul(m)?));
        if needed != Some(entry.values.len() as u64) {
            return PairWeights::Missing(format!(
                "imatrix entry {} has {} values, the tensor needs {ne0} per matrix x {n_mat}",
                entry.name,
                entry.values.len()
            ));
        }
        let mut rest = entry.values.as_slice();
        let mut slices = Vec::with_capacity(sizes.len());
        for (ne0, m) in sizes {
            let (mine, tail) = rest.split_at((ne0 * m) as usize);
            slices.push(mine.iter().map(|&v| f64::from(v)).collect());
            rest = tail;
        }
        PairWeights::Slices(slices)
    }
}

/// The gguf-py architecture of a HF model from its `architectures[0]` (or `model_type`).
pub fn hf_gguf_arch(config: Option<&serde_json::Value>) -> Option<String> {
    let config = config?;
    let arch = config.get("architectures").and_then(|a| a.get(0)).and_then(|v| v.as_str());
    let model_type = config.get("model_type").and_then(|v| v.as_str());
    [arch, model_type].into_iter().flatten().find_map(|a| ArchInfo::new(Some(a)).gguf).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use weightlens_core::{Dtype, Framework};
    use weightlens_readers::imatrix::{ImatrixEntry, ImatrixFormat};

    use super::super::matching::Slice;
    use super::*;

    fn info(name: &str, shape: &[u64]) -> TensorInfo {
        let file: Arc<Path> = Arc::from(Path::new("m"));
        TensorInfo::new(name, Dtype::F32, Framework::GGUF, shape.to_vec(), file, 0, 0)
    }

    fn imatrix(entries: &[(&str, Vec<f32>)]) -> Imatrix {
        Imatrix {
            path: PathBuf::from("i.dat"),
            format: ImatrixFormat::Dat,
            entries: entries
                .iter()
                .map(|(n, v)| ImatrixEntry { name: n.to_string(), n_mat: None, values: v.clone(), offset: 0 })
                .collect(),
            last_call: None,
            dataset: None,
        }
    }

    fn pair(a: Vec<Slice>, b: Vec<Slice>, name_a: &str, name_b: &str) -> PairPlan {
        PairPlan {
            stacked: a.len() > 1,
            a,
            b,
            name_a: name_a.into(),
            name_b: name_b.into(),
            transform: weightlens_analyzers::delta::Transform::None,
            transform_on: Side::B,
        }
    }

    #[test]
    fn the_gguf_name_finds_the_entry_and_experts_get_their_rows() {
        let hf: Vec<TensorInfo> =
            (0..2).map(|e| info(&format!("model.layers.0.mlp.experts.{e}.up_proj.weight"), &[4, 3])).collect();
        let g = [info("blk.0.ffn_up_exps.weight", &[2, 4, 3])];
        let m = imatrix(&[("blk.0.ffn_up_exps.weight", vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])]);
        let imp = Importance { imatrix: &m, gguf_side: Some(Side::B), arch: None };
        let p = pair(
            (0..2).map(|tensor| Slice { tensor, expert: None, fused: None }).collect(),
            (0..2).map(|e| Slice { tensor: 0, expert: Some(e), fused: None }).collect(),
            "model.layers.0.mlp.experts.{0-1}.up_proj.weight",
            "blk.0.ffn_up_exps.weight",
        );
        assert_eq!(imp.weights(&p, &hf, &g), PairWeights::Slices(vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]));
    }

    #[test]
    fn a_missing_or_misfit_entry_is_a_note_not_a_guess() {
        let a = [info("model.layers.0.self_attn.q_proj.weight", &[4, 3])];
        let b = [info("model.layers.0.self_attn.q_proj.weight", &[4, 3])];
        let one = vec![Slice { tensor: 0, expert: None, fused: None }];
        let p = pair(one.clone(), one, &a[0].name, &b[0].name);
        let m = imatrix(&[("blk.0.attn_q.weight", vec![1.0; 4])]);
        let imp = Importance { imatrix: &m, gguf_side: None, arch: Some("llama".into()) };
        let PairWeights::Missing(note) = imp.weights(&p, &a, &b) else { panic!("a misfit entry was used") };
        assert!(note.contains("has 4 values") && note.contains("needs 3"), "{note}");
        let imp = Importance { imatrix: &m, gguf_side: None, arch: None };
        assert_eq!(
            imp.weights(&p, &a, &b),
            PairWeights::Missing("no imatrix entry for model.layers.0.self_attn.q_proj.weight".into())
        );
        let fits = imatrix(&[("blk.0.attn_q.weight", vec![1.0, 2.0, 3.0])]);
        let imp = Importance { imatrix: &fits, gguf_side: None, arch: Some("llama".into()) };
        assert_eq!(imp.weights(&p, &a, &b), PairWeights::Slices(vec![vec![1.0, 2.0, 3.0]]));
    }

    #[test]
    fn hf_configs_name_their_gguf_architecture() {
        let c = serde_json::json!({ "architectures": ["MistralForCausalLM"], "model_type": "mistral" });
        assert_eq!(hf_gguf_arch(Some(&c)).as_deref(), Some("llama"));
        assert_eq!(hf_gguf_arch(None), None);
    }
}
