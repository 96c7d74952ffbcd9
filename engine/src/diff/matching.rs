//! Which tensor of A is compared with which of B, in this order, never guessing:
//! identical names; the HF <-> GGUF name map (with the converter's transformation and expert
//! stacking undone); the user's map file. Everything else is listed as only in A, only in B,
//! or a shape mismatch.

use std::collections::{BTreeMap, HashMap};

use weightlens_analyzers::delta::Transform;
use weightlens_core::TensorInfo;

use super::convert::{Conversion, MissingHeads};
use super::fused::{self, FusedPart};
use super::mapfile::UserMap;
use super::names;

/// One of the two models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The first model (the reference: `rel_l2` divides by its norm).
    A,
    /// The second model.
    B,
}

/// A tensor, or one expert slice of a 3-D tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    /// Index in its model's tensor list.
    pub tensor: usize,
    /// Slice of the leading dimension, for stacked experts.
    pub expert: Option<u64>,
    /// For an expert of a fused HF tensor: how the GGUF tensor is cut from it.
    pub fused: Option<FusedPart>,
}

/// A matched pair: `a[i]` is compared with `b[i]` (one element, or one per expert).
#[derive(Clone, Debug, PartialEq)]
pub struct PairPlan {
    /// A's slices.
    pub a: Vec<Slice>,
    /// B's slices.
    pub b: Vec<Slice>,
    /// A's name (stacked experts: the names with the expert index written `{0-E}`).
    pub name_a: String,
    /// B's name.
    pub name_b: String,
    /// What the converter did, undone on `transform_on` before comparing.
    pub transform: Transform,
    /// The side that holds the converted tensor.
    pub transform_on: Side,
    /// True when per-expert tensors were matched with a stacked 3-D tensor.
    pub stacked: bool,
}

/// Tensors of the two models that could not be compared.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Mismatch {
    /// Name in A.
    pub name_a: String,
    /// Name in B.
    pub name_b: String,
    /// Shape in A.
    pub shape_a: String,
    /// Shape in B.
    pub shape_b: String,
    /// Why they were not compared.
    pub reason: String,
}

/// The whole matching.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MatchPlan {
    /// Compared pairs, in A's order.
    pub pairs: Vec<PairPlan>,
    /// Tensors of A with no counterpart (indices).
    pub only_a: Vec<usize>,
    /// Tensors of B with no counterpart (indices).
    pub only_b: Vec<usize>,
    /// Counterparts that cannot be compared (different shapes, a transform that does not fit).
    pub mismatched: Vec<Mismatch>,
}

/// The two models' tensor lists and what is known about their relation.
#[derive(Debug)]
pub struct MatchInput<'a> {
    /// A's tensors.
    pub a: &'a [TensorInfo],
    /// B's tensors.
    pub b: &'a [TensorInfo],
    /// When exactly one side is a GGUF: that side, and what its conversion did.
    pub gguf: Option<(Side, Conversion)>,
    /// The user's map.
    pub user: &'a UserMap,
}

struct Matcher<'a> {
    input: &'a MatchInput<'a>,
    used_a: Vec<bool>,
    used_b: Vec<bool>,
    plan: MatchPlan,
}

/// Matches the tensors of A and B.
pub fn match_tensors(input: &MatchInput<'_>) -> MatchPlan {
    let mut m = Matcher {
        input,
        used_a: vec![false; input.a.len()],
        used_b: vec![false; input.b.len()],
        plan: MatchPlan::default(),
    };
    m.identical_names();
    if let Some((gguf_side, conversion)) = &input.gguf {
        m.converted(*gguf_side, conversion);
    }
    m.user_map();
    m.plan.only_a = (0..input.a.len()).filter(|&i| !m.used_a[i]).collect();
    m.plan.only_b = (0..input.b.len()).filter(|&i| !m.used_b[i]).collect();
    m.plan
}

fn single(tensor: usize) -> Vec<Slice> {
    vec![Slice { tensor, expert: None, fused: None }]
}

impl<'a> Matcher<'a> {
    fn tensors(&self, side: Side) -> &'a [TensorInfo] {
        match side {
            Side::A => self.input.a,
            Side::B => self.input.b,
        }
    }

    fn mark(&mut self, side: Side, i: usize) {
        let used = match side {
            Side::A => &mut self.used_a,
            Side::B => &mut self.used_b,
        };
        if let Some(u) = used.get_mut(i) {
            *u = true;
        }
    }

    fn is_used(&self, side: Side, i: usize) -> bool {
        let used = match side {
            Side::A => &self.used_a,
            Side::B => &self.used_b,
        };
        used.get(i).copied().unwrap_or(true)
    }

    fn index(&self, side: Side) -> HashMap<&'a str, usize> {
        let list = self.tensors(side);
        list.iter().enumerate().filter(|(i, _)| !self.is_used(side, *i)).map(|(i, t)| (t.name.as_str(), i)).collect()
    }

    /// Records a single-tensor pair after checking shapes and the transform.
    fn pair(&mut self, ia: usize, ib: usize, transform: Transform, transform_on: Side) {
        self.mark(Side::A, ia);
        self.mark(Side::B, ib);
        let (ta, tb) = (&self.input.a[ia], &self.input.b[ib]);
        let mismatch = |reason: String| Mismatch {
            name_a: ta.name.clone(),
            name_b: tb.name.clone(),
            shape_a: ta.shape_string(),
            shape_b: tb.shape_string(),
            reason,
        };
        if ta.shape != tb.shape {
            self.plan.mismatched.push(mismatch("different shapes".into()));
            return;
        }
        let rows = ta.shape.first().copied().unwrap_or(1);
        if let Err(e) = transform.row_group(rows) {
            self.plan.mismatched.push(mismatch(format!("cannot undo {}: {e}", transform.label())));
            return;
        }
        self.plan.pairs.push(PairPlan {
            a: single(ia),
            b: single(ib),
            name_a: ta.name.clone(),
            name_b: tb.name.clone(),
            transform,
            transform_on,
            stacked: false,
        });
    }

    fn identical_names(&mut self) {
        let b = self.index(Side::B);
        let found: Vec<(usize, usize)> =
            self.input.a.iter().enumerate().filter_map(|(ia, t)| Some((ia, *b.get(t.name.as_str())?))).collect();
        for (ia, ib) in found {
            self.pair(ia, ib, Transform::None, Side::B);
        }
    }

    /// HF names looked up in the GGUF through the name map, with the converter's transform.
    fn converted(&mut self, gguf_side: Side, conversion: &Conversion) {
        let hf_side = if gguf_side == Side::A { Side::B } else { Side::A };
        let gguf_index: HashMap<String, usize> =
            self.index(gguf_side).into_iter().map(|(n, i)| (n.to_string(), i)).collect();
        let hf: Vec<(usize, String)> = self
            .tensors(hf_side)
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.is_used(hf_side, *i))
            .map(|(i, t)| (i, t.name.clone()))
            .collect();
        // Per-expert HF tensors, grouped by their name without the expert number.
        let mut experts: BTreeMap<String, BTreeMap<u64, usize>> = BTreeMap::new();
        for (i, name) in &hf {
            if let Some(gname) = names::hf_to_gguf(&conversion.gguf_architecture, name) {
                if let Some(&g) = gguf_index.get(&gname) {
                    if !self.is_used(gguf_side, g) {
                        let transform = conversion.transform_for(name);
                        self.pair_converted(hf_side, *i, g, transform);
                        continue;
                    }
                }
            }
            if let Some((group, e)) = names::split_expert(name) {
                experts.entry(group).or_default().insert(e, *i);
            }
        }
        for (group, members) in experts {
            self.stack(hf_side, gguf_side, conversion, &group, &members, &gguf_index);
        }
        let left: Vec<usize> = (0..self.tensors(hf_side).len()).filter(|&i| !self.is_used(hf_side, i)).collect();
        for i in left {
            self.unfuse(hf_side, gguf_side, conversion, i, &gguf_index);
        }
    }

    /// A fused HF expert tensor (`mlp.experts.gate_up_proj`, ...) against the GGUF tensors the
    /// converter cut from it ([`fused`]), expert by expert.
    fn unfuse(
        &mut self,
        hf_side: Side,
        gguf_side: Side,
        conversion: &Conversion,
        hf: usize,
        gguf_index: &HashMap<String, usize>,
    ) {
        let ht = &self.tensors(hf_side)[hf];
        let targets: Vec<(usize, FusedPart)> = fused::split(&conversion.gguf_architecture, &ht.name)
            .into_iter()
            .filter_map(|(name, part)| {
                let g = *gguf_index.get(&names::hf_to_gguf(&conversion.gguf_architecture, &name)?)?;
                (!self.is_used(gguf_side, g)).then_some((g, part))
            })
            .collect();
        if targets.is_empty() {
            return;
        }
        self.mark(hf_side, hf);
        for (g, part) in targets {
            self.mark(gguf_side, g);
            let (ht, gt) = (&self.tensors(hf_side)[hf], &self.tensors(gguf_side)[g]);
            let n_expert = ht.shape.first().copied().unwrap_or(0);
            let fits = ht.shape.split_first().zip(gt.shape.split_first()).is_some_and(|((&e, hrest), (&eg, grest))| {
                e == eg && part.out_shape(hrest).is_some_and(|s| s == grest)
            });
            let hf_slices: Vec<Slice> =
                (0..n_expert).map(|e| Slice { tensor: hf, expert: Some(e), fused: Some(part) }).collect();
            let g_slices: Vec<Slice> =
                (0..n_expert).map(|e| Slice { tensor: g, expert: Some(e), fused: None }).collect();
            let (name_h, name_g) = (ht.name.clone(), gt.name.clone());
            let (shape_h, shape_g) = (ht.shape_string(), gt.shape_string());
            let (a, b, name_a, name_b, shape_a, shape_b, on) = if hf_side == Side::A {
                (hf_slices, g_slices, name_h, name_g, shape_h, shape_g, Side::B)
            } else {
                (g_slices, hf_slices, name_g, name_h, shape_g, shape_h, Side::A)
            };
            if fits {
                self.plan.pairs.push(PairPlan {
                    a,
                    b,
                    name_a,
                    name_b,
                    transform: Transform::None,
                    transform_on: on,
                    stacked: true,
                });
            } else {
                let reason = format!(
                    "the converter's {} of the fused experts does not give the GGUF shape",
                    part.label(n_expert)
                );
                self.plan.mismatched.push(Mismatch { name_a, name_b, shape_a, shape_b, reason });
            }
        }
    }

    fn pair_converted(&mut self, hf_side: Side, hf: usize, gguf: usize, transform: Result<Transform, MissingHeads>) {
        let (ia, ib, on) = if hf_side == Side::A { (hf, gguf, Side::B) } else { (gguf, hf, Side::A) };
        match transform {
            Ok(t) => self.pair(ia, ib, t, on),
            Err(reason) => {
                self.mark(Side::A, ia);
                self.mark(Side::B, ib);
                let (ta, tb) = (&self.input.a[ia], &self.input.b[ib]);
                self.plan.mismatched.push(Mismatch {
                    name_a: ta.name.clone(),
                    name_b: tb.name.clone(),
                    shape_a: ta.shape_string(),
                    shape_b: tb.shape_string(),
                    reason: reason.to_string(),
                });
            }
        }
    }

    /// Per-expert HF tensors `...experts.{e}...` against the GGUF's stacked `[E, ...]` tensor.
    fn stack(
        &mut self,
        hf_side: Side,
        gguf_side: Side,
        conversion: &Conversion,
        group: &str,
        members: &BTreeMap<u64, usize>,
        gguf_index: &HashMap<String, usize>,
    ) {
        let Some(&g) = names::stacked_gguf_names(&conversion.gguf_architecture, group)
            .iter()
            .find_map(|n| gguf_index.get(n))
            .filter(|&&g| !self.is_used(gguf_side, g))
        else {
            return;
        };
        let count = members.len() as u64;
        let hf_list = self.tensors(hf_side);
        let gt = &self.tensors(gguf_side)[g];
        let first = members.values().next().map(|&i| &hf_list[i]);
        let contiguous = members.keys().copied().eq(0..count);
        let same_shape = members.values().all(|&i| Some(&hf_list[i].shape) == first.map(|f| &f.shape));
        let fits =
            gt.shape.split_first().is_some_and(|(&e, rest)| e == count && first.is_some_and(|f| f.shape == rest));
        let name = names::expert_range_name(group, count);
        let transform = first.map_or(Ok(Transform::None), |f| conversion.transform_for(&f.name));
        for &i in members.values() {
            self.mark(hf_side, i);
        }
        self.mark(gguf_side, g);
        let (shape_hf, shape_g) =
            (first.map(|f| format!("{count} x {}", f.shape_string())).unwrap_or_default(), gt.shape_string());
        let (name_g, problem) = (
            gt.name.clone(),
            match (&transform, contiguous && same_shape && fits) {
                (Err(e), _) => Some(e.to_string()),
                (Ok(_), false) => Some(format!("experts {{0..{count}}} of one shape do not stack to the GGUF shape")),
                (Ok(_), true) => None,
            },
        );
        let hf_slices: Vec<Slice> =
            members.values().map(|&tensor| Slice { tensor, expert: None, fused: None }).collect();
        let g_slices: Vec<Slice> = (0..count).map(|e| Slice { tensor: g, expert: Some(e), fused: None }).collect();
        let (a, b, name_a, name_b, shape_a, shape_b, on) = if hf_side == Side::A {
            (hf_slices, g_slices, name, name_g, shape_hf, shape_g, Side::B)
        } else {
            (g_slices, hf_slices, name_g, name, shape_g, shape_hf, Side::A)
        };
        match (problem, transform) {
            (None, Ok(transform)) => {
                self.plan.pairs.push(PairPlan { a, b, name_a, name_b, transform, transform_on: on, stacked: true })
            }
            (problem, _) => self.plan.mismatched.push(Mismatch {
                name_a,
                name_b,
                shape_a,
                shape_b,
                reason: problem.unwrap_or_default(),
            }),
        }
    }

    fn user_map(&mut self) {
        let (a, b) = (self.index(Side::A), self.index(Side::B));
        let found: Vec<(usize, usize, Transform)> = self
            .input
            .user
            .pairs
            .iter()
            .filter_map(|(na, nb, t)| Some((*a.get(na.as_str())?, *b.get(nb.as_str())?, *t)))
            .collect();
        for (ia, ib, t) in found {
            if !self.is_used(Side::A, ia) && !self.is_used(Side::B, ib) {
                self.pair(ia, ib, t, Side::B);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use weightlens_core::{Dtype, Framework};

    use super::*;

    fn info(name: &str, shape: &[u64]) -> TensorInfo {
        let file: Arc<Path> = Arc::from(Path::new("m"));
        TensorInfo::new(name, Dtype::F32, Framework::SAFETENSORS, shape.to_vec(), file, 0, 0)
    }

    #[test]
    fn identical_names_match_and_shape_differences_are_listed() {
        let a = [info("w", &[4, 2]), info("emb", &[10, 2]), info("gone", &[1])];
        let b = [info("emb", &[12, 2]), info("w", &[4, 2]), info("extra", &[3])];
        let user = UserMap::default();
        let plan = match_tensors(&MatchInput { a: &a, b: &b, gguf: None, user: &user });
        assert_eq!(plan.pairs.len(), 1);
        assert_eq!((plan.pairs[0].a[0].tensor, plan.pairs[0].b[0].tensor), (0, 1));
        assert_eq!(plan.mismatched.len(), 1);
        assert_eq!(plan.mismatched[0].name_a, "emb");
        assert_eq!((plan.only_a.clone(), plan.only_b.clone()), (vec![2], vec![2]));
    }

    fn gguf(name: &str, shape: &[u64]) -> TensorInfo {
        let file: Arc<Path> = Arc::from(Path::new("m.gguf"));
        TensorInfo::new(name, Dtype::F32, Framework::GGUF, shape.to_vec(), file, 0, 0)
    }

    fn mixtral() -> Conversion {
        let meta = serde_json::json!({ "architecture": "llama", "metadata": {
            "llama.attention.head_count": 4, "llama.attention.head_count_kv": 2 } });
        Conversion::new(&meta, Some(&serde_json::json!({ "architectures": ["MixtralForCausalLM"] })))
    }

    #[test]
    fn mixtral_experts_match_the_stacked_gguf_tensor_and_q_k_are_permuted() {
        let mut a = vec![
            info("model.layers.0.self_attn.q_proj.weight", &[8, 8]),
            info("model.layers.0.self_attn.k_proj.weight", &[4, 8]),
            info("model.layers.0.block_sparse_moe.gate.weight", &[3, 8]),
        ];
        for e in 0..3 {
            a.push(info(&format!("model.layers.0.block_sparse_moe.experts.{e}.w1.weight"), &[16, 8]));
        }
        let b = [
            gguf("blk.0.attn_q.weight", &[8, 8]),
            gguf("blk.0.attn_k.weight", &[4, 8]),
            gguf("blk.0.ffn_gate_inp.weight", &[3, 8]),
            gguf("blk.0.ffn_gate_exps.weight", &[3, 16, 8]),
        ];
        let user = UserMap::default();
        let plan = match_tensors(&MatchInput { a: &a, b: &b, gguf: Some((Side::B, mixtral())), user: &user });
        assert!(plan.only_a.is_empty() && plan.only_b.is_empty() && plan.mismatched.is_empty(), "{plan:?}");
        let by_b = |n: &str| plan.pairs.iter().find(|p| p.name_b == n).unwrap();
        assert_eq!(by_b("blk.0.attn_q.weight").transform, Transform::Permute { n_head: 4 });
        assert_eq!(by_b("blk.0.attn_k.weight").transform, Transform::Permute { n_head: 2 });
        assert_eq!(by_b("blk.0.ffn_gate_inp.weight").transform, Transform::None);
        let stack = by_b("blk.0.ffn_gate_exps.weight");
        assert!(stack.stacked);
        assert_eq!(stack.name_a, "model.layers.0.block_sparse_moe.experts.{0-2}.w1.weight");
        assert_eq!(stack.a.iter().map(|s| s.tensor).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(stack.b.iter().map(|s| s.expert).collect::<Vec<_>>(), [Some(0), Some(1), Some(2)]);
    }

    #[test]
    fn experts_that_do_not_stack_to_the_gguf_shape_are_a_mismatch() {
        let a: Vec<TensorInfo> =
            (0..2).map(|e| info(&format!("model.layers.0.block_sparse_moe.experts.{e}.w2.weight"), &[8, 16])).collect();
        let b = [gguf("blk.0.ffn_down_exps.weight", &[3, 8, 16])];
        let user = UserMap::default();
        let plan = match_tensors(&MatchInput { a: &a, b: &b, gguf: Some((Side::B, mixtral())), user: &user });
        assert!(plan.pairs.is_empty());
        assert_eq!(plan.mismatched.len(), 1);
        assert_eq!(plan.mismatched[0].shape_b, "[3, 8, 16]");
    }

    fn conversion_of(arch: &str, hf: &str) -> Conversion {
        let meta = serde_json::json!({ "architecture": arch, "metadata": {} });
        Conversion::new(&meta, Some(&serde_json::json!({ "architectures": [hf] })))
    }

    #[test]
    fn fused_hf_experts_match_the_gguf_tensors_the_converter_cut_from_them() {
        // Qwen3-MoE (transformers' fused layout): gate_up [E, 2*n_ff, n_embd], down [E, n_embd, n_ff].
        let a = [
            info("model.layers.0.mlp.experts.gate_up_proj", &[4, 12, 8]),
            info("model.layers.0.mlp.experts.down_proj", &[4, 8, 6]),
        ];
        let b = [
            gguf("blk.0.ffn_gate_exps.weight", &[4, 6, 8]),
            gguf("blk.0.ffn_up_exps.weight", &[4, 6, 8]),
            gguf("blk.0.ffn_down_exps.weight", &[4, 8, 6]),
        ];
        let user = UserMap::default();
        let conv = conversion_of("qwen3moe", "Qwen3MoeForCausalLM");
        let plan = match_tensors(&MatchInput { a: &a, b: &b, gguf: Some((Side::B, conv)), user: &user });
        assert!(plan.only_a.is_empty() && plan.only_b.is_empty() && plan.mismatched.is_empty(), "{plan:?}");
        assert_eq!(plan.pairs.len(), 3);
        let by_b = |n: &str| plan.pairs.iter().find(|p| p.name_b == n).unwrap();
        let up = by_b("blk.0.ffn_up_exps.weight");
        assert_eq!(up.name_a, "model.layers.0.mlp.experts.gate_up_proj");
        assert_eq!(up.a.len(), 4);
        assert_eq!(
            up.a[3],
            Slice {
                tensor: 0,
                expert: Some(3),
                fused: Some(FusedPart { transpose: false, select: fused::Select::Half(1) })
            }
        );
        assert_eq!(up.b[3], Slice { tensor: 1, expert: Some(3), fused: None });
        assert_eq!(
            by_b("blk.0.ffn_down_exps.weight").a[0].fused,
            Some(FusedPart { transpose: false, select: fused::Select::All })
        );

        // gpt-oss: gate_up [E, n_embd, 2*n_ff] is transposed; a GGUF of the wrong shape is listed.
        let a = [info("model.layers.0.mlp.experts.gate_up_proj", &[2, 8, 12])];
        let b = [gguf("blk.0.ffn_gate_exps.weight", &[2, 6, 8]), gguf("blk.0.ffn_up_exps.weight", &[2, 8, 6])];
        let conv = conversion_of("gpt-oss", "GptOssForCausalLM");
        let plan = match_tensors(&MatchInput { a: &a, b: &b, gguf: Some((Side::B, conv)), user: &user });
        assert_eq!(plan.pairs.len(), 1, "{plan:?}");
        assert_eq!(
            plan.pairs[0].a[0].fused,
            Some(FusedPart { transpose: true, select: fused::Select::Interleaved(0) })
        );
        assert_eq!(plan.mismatched.len(), 1);
        assert_eq!(plan.mismatched[0].name_b, "blk.0.ffn_up_exps.weight");

        // An architecture whose converter does not split fused experts: nothing is guessed.
        let a = [info("model.layers.0.mlp.experts.gate_up_proj", &[2, 12, 8])];
        let b = [gguf("blk.0.ffn_gate_exps.weight", &[2, 6, 8])];
        let plan = match_tensors(&MatchInput { a: &a, b: &b, gguf: Some((Side::B, mixtral())), user: &user });
        assert!(plan.pairs.is_empty());
        assert_eq!((plan.only_a.len(), plan.only_b.len()), (1, 1));
    }

    #[test]
    fn the_user_map_pairs_what_is_left() {
        let a = [info("x", &[4]), info("y", &[2, 4])];
        let b = [info("x2", &[4]), info("y2", &[2, 4])];
        let user = UserMap {
            pairs: vec![
                ("x".into(), "x2".into(), Transform::NormShift { shift: 1.0 }),
                ("y".into(), "y2".into(), Transform::Permute { n_head: 2 }),
            ],
        };
        let plan = match_tensors(&MatchInput { a: &a, b: &b, gguf: None, user: &user });
        assert_eq!(plan.pairs.len(), 1);
        assert_eq!(plan.pairs[0].transform, Transform::NormShift { shift: 1.0 });
        // Two rows cannot be split into two heads of an even number of rows.
        assert_eq!(plan.mismatched.len(), 1);
        assert!(plan.mismatched[0].reason.contains("permute"), "{:?}", plan.mismatched);
    }
}
