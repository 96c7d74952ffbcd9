//! Tensor names across the HF -> GGUF conversion: the name map itself lives in
//! `weightlens_core::naming` (one table, from gguf-py's `TensorNameMap`); this module adds only
//! what `diff` needs around it: per-expert names and the merged names the converter stacks
//! experts under.

/// The GGUF name of the HF tensor `hf_name` in a model of GGUF architecture `arch`: gguf-py's
/// map, also after the `language_model.` prefix that multimodal converter classes (Gemma3,
/// Llava, Mistral3) strip before mapping.
pub fn hf_to_gguf(arch: &str, hf_name: &str) -> Option<String> {
    weightlens_core::naming::hf_to_gguf(arch, hf_name).or_else(|| {
        let stripped = hf_name.replacen("language_model.", "", 1);
        (stripped != hf_name).then(|| weightlens_core::naming::hf_to_gguf(arch, &stripped)).flatten()
    })
}

/// `(name without the expert number, expert number)` of a per-expert tensor
/// (`model.layers.0.block_sparse_moe.experts.3.w1.weight` ->
/// `model.layers.0.block_sparse_moe.experts.w1.weight`, 3).
pub fn split_expert(name: &str) -> Option<(String, u64)> {
    let segs: Vec<&str> = name.split('.').collect();
    let at = segs.windows(2).position(|w| w[0] == "experts" && w[1].parse::<u64>().is_ok())? + 1;
    let expert = segs.get(at)?.parse().ok()?;
    let group: Vec<&str> = segs.iter().enumerate().filter(|&(i, _)| i != at).map(|(_, s)| *s).collect();
    Some((group.join("."), expert))
}

/// GGUF names a group of per-expert tensors may be stacked under: the map's name of the group
/// (`mlp.experts.gate_proj` for Qwen2MoE and others), and for Mixtral's
/// `block_sparse_moe.experts.wN` the name `LlamaModel.modify_tensors` gives the stacked tensor
/// before mapping it (`layers.N.feed_forward.experts.wN.weight`).
pub fn stacked_gguf_names(arch: &str, group: &str) -> Vec<String> {
    let mut out: Vec<String> = hf_to_gguf(arch, group).into_iter().collect();
    if let Some((prefix, rest)) = group.split_once(".block_sparse_moe.experts.") {
        if let Some(bid) = prefix.rsplit('.').next() {
            out.extend(hf_to_gguf(arch, &format!("layers.{bid}.feed_forward.experts.{rest}")));
        }
    }
    out
}

/// The name of a group of `count` experts as the `name` column shows it:
/// `model.layers.0.block_sparse_moe.experts.{0-7}.w1.weight`.
pub fn expert_range_name(group: &str, count: u64) -> String {
    let last = count.saturating_sub(1);
    match group.split_once(".experts.") {
        Some((head, tail)) => format!("{head}.experts.{{0-{last}}}.{tail}"),
        None => group.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixtral_and_qwen_moe_expert_groups_find_their_stacked_names() {
        let (group, _) = split_expert("model.layers.2.block_sparse_moe.experts.0.w1.weight").unwrap();
        assert!(stacked_gguf_names("llama", &group).contains(&"blk.2.ffn_gate_exps.weight".to_string()));
        let (group, _) = split_expert("model.layers.2.block_sparse_moe.experts.5.w2.weight").unwrap();
        assert!(stacked_gguf_names("llama", &group).contains(&"blk.2.ffn_down_exps.weight".to_string()));
        let (group, _) = split_expert("model.layers.0.mlp.experts.1.up_proj.weight").unwrap();
        assert!(stacked_gguf_names("qwen2moe", &group).contains(&"blk.0.ffn_up_exps.weight".to_string()));
    }

    #[test]
    fn the_name_map_comes_from_core() {
        assert_eq!(
            hf_to_gguf("llama", "model.layers.7.self_attn.q_proj.weight").as_deref(),
            Some("blk.7.attn_q.weight")
        );
        assert_eq!(
            hf_to_gguf("gemma3", "model.language_model.layers.0.post_feedforward_layernorm.weight").as_deref(),
            Some("blk.0.post_ffw_norm.weight")
        );
    }

    #[test]
    fn expert_names_split_and_rejoin() {
        let (group, e) = split_expert("model.layers.1.block_sparse_moe.experts.3.w2.weight").unwrap();
        assert_eq!((group.as_str(), e), ("model.layers.1.block_sparse_moe.experts.w2.weight", 3));
        assert_eq!(expert_range_name(&group, 8), "model.layers.1.block_sparse_moe.experts.{0-7}.w2.weight");
        assert_eq!(split_expert("model.layers.1.mlp.gate_proj.weight"), None);
        assert_eq!(split_expert("model.layers.1.mlp.experts.gate_up_proj"), None);
    }
}
