//! Name classification: the `layer_index` and `block_type` of a tensor from its name alone.
//!
//! Covers the naming schemes of HF Llama/Qwen/Mistral, BERT, GPT-2, GPT-NeoX, T5,
//! Mixtral / Qwen-MoE / DeepSeek MoE and GGUF. Names are split into segments on `.` and `/`;
//! rules look at whole segments, never substrings of the full name, so `attention.output.dense`
//! is not mistaken for the model's `output` head.

/// The kind of block a tensor belongs to (the `block_type` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockType {
    /// Token / position / type embeddings.
    Embedding,
    /// Attention query projection.
    QProj,
    /// Attention key projection.
    KProj,
    /// Attention value projection.
    VProj,
    /// Attention output projection.
    OProj,
    /// Fused query/key/value projection.
    QkvProj,
    /// Dense MLP gate projection (`gate_proj`, `w1`, `ffn_gate`).
    MlpGate,
    /// Dense MLP up projection (`up_proj`, `c_fc`, `intermediate.dense`).
    MlpUp,
    /// Dense MLP down projection (`down_proj`, `mlp.c_proj`, `output.dense`).
    MlpDown,
    /// Mixture-of-experts tensor not further identified.
    Moe,
    /// MoE router / gate (`mlp.gate` beside `experts`, `ffn_gate_inp`).
    MoeRouter,
    /// MoE expert weights (`experts.N.*`, `ffn_*_exps`, shared experts).
    MoeExpert,
    /// Normalization weights and biases.
    Norm,
    /// A bias vector outside normalization and MoE blocks.
    Bias,
    /// The output head (`lm_head`, GGUF `output`).
    Output,
    /// Anything else.
    Other,
}

impl BlockType {
    /// The `block_type` column value.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockType::Embedding => "embedding",
            BlockType::QProj => "q_proj",
            BlockType::KProj => "k_proj",
            BlockType::VProj => "v_proj",
            BlockType::OProj => "o_proj",
            BlockType::QkvProj => "qkv_proj",
            BlockType::MlpGate => "mlp_gate",
            BlockType::MlpUp => "mlp_up",
            BlockType::MlpDown => "mlp_down",
            BlockType::Moe => "moe",
            BlockType::MoeRouter => "moe_router",
            BlockType::MoeExpert => "moe_expert",
            BlockType::Norm => "norm",
            BlockType::Bias => "bias",
            BlockType::Output => "output",
            BlockType::Other => "other",
        }
    }
}

impl std::fmt::Display for BlockType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a tensor's name says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification {
    /// The block/layer number (`model.layers.7.` -> 7), if the name has one.
    pub layer_index: Option<u32>,
    /// The block type.
    pub block_type: BlockType,
    /// The expert number of per-expert MoE tensors (`experts.3.` -> 3).
    pub expert_index: Option<u32>,
}

/// Segments that are followed by a layer number.
const LAYER_CONTAINERS: &[&str] = &["layers", "layer", "h", "blk", "block", "blocks"];

/// Classifies a tensor name.
pub fn classify(name: &str) -> Classification {
    let lower = name.to_ascii_lowercase();
    let segs: Vec<&str> = lower.split(['.', '/']).filter(|s| !s.is_empty()).collect();
    Classification {
        layer_index: number_after(&segs, LAYER_CONTAINERS),
        block_type: block_type(&segs),
        expert_index: number_after(&segs, &["experts"]),
    }
}

fn number_after(segs: &[&str], containers: &[&str]) -> Option<u32> {
    segs.windows(2).find_map(|w| if containers.contains(&w[0]) { w[1].parse().ok() } else { None })
}

fn any(segs: &[&str], pred: impl Fn(&str) -> bool) -> bool {
    segs.iter().any(|s| pred(s))
}

fn has(segs: &[&str], names: &[&str]) -> bool {
    segs.iter().any(|s| names.contains(s))
}

fn block_type(segs: &[&str]) -> BlockType {
    let is_bias = segs.last() == Some(&"bias");
    let in_attention = any(segs, |s| s.contains("attn") || s.contains("attention"));

    if any(segs, |s| s.contains("norm") || s.starts_with("ln_") || s == "ln") {
        return BlockType::Norm;
    }
    if let Some(moe) = moe_type(segs) {
        return moe;
    }
    if is_bias {
        return BlockType::Bias;
    }
    if has(segs, &["lm_head", "embed_out", "classifier", "score"]) || segs.first() == Some(&"output") {
        return BlockType::Output;
    }
    if any(segs, |s| s.contains("embed")) || has(segs, &["wte", "wpe", "shared", "token_embd"]) {
        return BlockType::Embedding;
    }
    if has(segs, &["qkv_proj", "c_attn", "query_key_value", "attn_qkv", "wqkv", "qkv", "in_proj"]) {
        return BlockType::QkvProj;
    }
    if has(segs, &["q_proj", "query", "q", "wq", "attn_q"]) {
        return BlockType::QProj;
    }
    if has(segs, &["k_proj", "key", "k", "wk", "attn_k"]) {
        return BlockType::KProj;
    }
    if has(segs, &["v_proj", "value", "v", "wv", "attn_v"]) {
        return BlockType::VProj;
    }
    if has(segs, &["o_proj", "out_proj", "o", "attn_output"])
        || (in_attention && has(segs, &["wo", "c_proj", "dense", "output"]))
    {
        return BlockType::OProj;
    }
    if has(segs, &["gate_proj", "w1", "ffn_gate", "wi_0"]) {
        return BlockType::MlpGate;
    }
    if has(segs, &["up_proj", "w3", "ffn_up", "c_fc", "dense_h_to_4h", "fc1", "wi", "wi_1", "intermediate"]) {
        return BlockType::MlpUp;
    }
    if has(segs, &["down_proj", "w2", "ffn_down", "dense_4h_to_h", "fc2", "wo", "c_proj"])
        || (has(segs, &["output"]) && has(segs, &["dense"]))
    {
        return BlockType::MlpDown;
    }
    BlockType::Other
}

fn moe_type(segs: &[&str]) -> Option<BlockType> {
    let expert = any(segs, |s| {
        s.starts_with("expert")
            || s.starts_with("shared_expert") && s != "shared_expert_gate"
            || s.ends_with("_exps")
            || s.ends_with("_shexp")
    });
    if expert {
        return Some(BlockType::MoeExpert);
    }
    let router = has(segs, &["gate", "router", "ffn_gate_inp", "shared_expert_gate", "e_score_correction_bias"])
        || any(segs, |s| s.starts_with("ffn_gate_inp"));
    if router {
        return Some(BlockType::MoeRouter);
    }
    if any(segs, |s| s.contains("moe")) {
        return Some(BlockType::Moe);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use BlockType::*;

    fn check(cases: &[(&str, Option<u32>, BlockType)]) {
        for &(name, layer, bt) in cases {
            let c = classify(name);
            assert_eq!((c.layer_index, c.block_type), (layer, bt), "{name}");
        }
    }

    #[test]
    fn llama_qwen_mistral() {
        check(&[
            ("model.embed_tokens.weight", None, Embedding),
            ("model.layers.0.self_attn.q_proj.weight", Some(0), QProj),
            ("model.layers.12.self_attn.k_proj.weight", Some(12), KProj),
            ("model.layers.12.self_attn.v_proj.weight", Some(12), VProj),
            ("model.layers.3.self_attn.o_proj.weight", Some(3), OProj),
            ("model.layers.3.self_attn.q_proj.bias", Some(3), Bias),
            ("model.layers.3.self_attn.q_norm.weight", Some(3), Norm),
            ("model.layers.3.mlp.gate_proj.weight", Some(3), MlpGate),
            ("model.layers.3.mlp.up_proj.weight", Some(3), MlpUp),
            ("model.layers.3.mlp.down_proj.weight", Some(3), MlpDown),
            ("model.layers.3.input_layernorm.weight", Some(3), Norm),
            ("model.layers.3.post_attention_layernorm.weight", Some(3), Norm),
            ("model.norm.weight", None, Norm),
            ("lm_head.weight", None, Output),
            ("model.rotary_emb.inv_freq", None, Other),
        ]);
    }

    #[test]
    fn bert() {
        check(&[
            ("embeddings.word_embeddings.weight", None, Embedding),
            ("bert.embeddings.position_embeddings.weight", None, Embedding),
            ("embeddings.token_type_embeddings.weight", None, Embedding),
            ("embeddings.LayerNorm.weight", None, Norm),
            ("encoder.layer.0.attention.self.query.weight", Some(0), QProj),
            ("encoder.layer.0.attention.self.key.bias", Some(0), Bias),
            ("encoder.layer.5.attention.self.value.weight", Some(5), VProj),
            ("encoder.layer.5.attention.output.dense.weight", Some(5), OProj),
            ("encoder.layer.5.attention.output.LayerNorm.bias", Some(5), Norm),
            ("encoder.layer.5.intermediate.dense.weight", Some(5), MlpUp),
            ("encoder.layer.5.output.dense.weight", Some(5), MlpDown),
            ("encoder.layer.5.output.LayerNorm.weight", Some(5), Norm),
            ("pooler.dense.weight", None, Other),
        ]);
    }

    #[test]
    fn gpt2() {
        check(&[
            ("transformer.wte.weight", None, Embedding),
            ("transformer.wpe.weight", None, Embedding),
            ("transformer.h.0.attn.c_attn.weight", Some(0), QkvProj),
            ("transformer.h.1.attn.c_proj.weight", Some(1), OProj),
            ("transformer.h.1.mlp.c_fc.weight", Some(1), MlpUp),
            ("transformer.h.1.mlp.c_proj.weight", Some(1), MlpDown),
            ("transformer.h.1.ln_1.weight", Some(1), Norm),
            ("transformer.h.1.ln_1.bias", Some(1), Norm),
            ("transformer.ln_f.weight", None, Norm),
            ("lm_head.weight", None, Output),
        ]);
    }

    #[test]
    fn gpt_neox() {
        check(&[
            ("gpt_neox.embed_in.weight", None, Embedding),
            ("gpt_neox.layers.4.attention.query_key_value.weight", Some(4), QkvProj),
            ("gpt_neox.layers.4.attention.dense.weight", Some(4), OProj),
            ("gpt_neox.layers.4.mlp.dense_h_to_4h.weight", Some(4), MlpUp),
            ("gpt_neox.layers.4.mlp.dense_4h_to_h.weight", Some(4), MlpDown),
            ("gpt_neox.layers.4.input_layernorm.weight", Some(4), Norm),
            ("gpt_neox.final_layer_norm.weight", None, Norm),
            ("embed_out.weight", None, Output),
        ]);
    }

    #[test]
    fn t5() {
        check(&[
            ("shared.weight", None, Embedding),
            ("encoder.block.0.layer.0.SelfAttention.q.weight", Some(0), QProj),
            ("encoder.block.0.layer.0.SelfAttention.k.weight", Some(0), KProj),
            ("encoder.block.0.layer.0.SelfAttention.v.weight", Some(0), VProj),
            ("encoder.block.0.layer.0.SelfAttention.o.weight", Some(0), OProj),
            ("encoder.block.2.layer.1.DenseReluDense.wi.weight", Some(2), MlpUp),
            ("encoder.block.2.layer.1.DenseReluDense.wi_0.weight", Some(2), MlpGate),
            ("encoder.block.2.layer.1.DenseReluDense.wo.weight", Some(2), MlpDown),
            ("decoder.block.3.layer.1.EncDecAttention.o.weight", Some(3), OProj),
            ("encoder.block.0.layer.0.layer_norm.weight", Some(0), Norm),
            ("encoder.final_layer_norm.weight", None, Norm),
            ("lm_head.weight", None, Output),
        ]);
    }

    #[test]
    fn mixture_of_experts() {
        check(&[
            ("model.layers.1.block_sparse_moe.gate.weight", Some(1), MoeRouter),
            ("model.layers.1.block_sparse_moe.experts.7.w1.weight", Some(1), MoeExpert),
            ("model.layers.1.block_sparse_moe.experts.7.w2.weight", Some(1), MoeExpert),
            ("model.layers.0.mlp.gate.weight", Some(0), MoeRouter),
            ("model.layers.0.mlp.experts.3.gate_proj.weight", Some(0), MoeExpert),
            ("model.layers.0.mlp.experts.3.down_proj.weight", Some(0), MoeExpert),
            ("model.layers.0.mlp.shared_expert.up_proj.weight", Some(0), MoeExpert),
            ("model.layers.0.mlp.shared_expert_gate.weight", Some(0), MoeRouter),
            ("model.layers.2.mlp.shared_experts.down_proj.weight", Some(2), MoeExpert),
            ("model.layers.2.mlp.gate.e_score_correction_bias", Some(2), MoeRouter),
            ("model.layers.2.mlp.experts.gate_up_proj", Some(2), MoeExpert),
        ]);
        assert_eq!(classify("model.layers.0.mlp.experts.3.gate_proj.weight").expert_index, Some(3));
        assert_eq!(classify("model.layers.0.mlp.gate_proj.weight").expert_index, None);
    }

    #[test]
    fn gguf() {
        check(&[
            ("token_embd.weight", None, Embedding),
            ("blk.0.attn_q.weight", Some(0), QProj),
            ("blk.0.attn_k.weight", Some(0), KProj),
            ("blk.0.attn_v.weight", Some(0), VProj),
            ("blk.0.attn_output.weight", Some(0), OProj),
            ("blk.0.attn_qkv.weight", Some(0), QkvProj),
            ("blk.11.attn_norm.weight", Some(11), Norm),
            ("blk.11.attn_q_norm.weight", Some(11), Norm),
            ("blk.11.post_ffw_norm.weight", Some(11), Norm),
            ("blk.11.ffn_gate.weight", Some(11), MlpGate),
            ("blk.11.ffn_up.weight", Some(11), MlpUp),
            ("blk.11.ffn_down.weight", Some(11), MlpDown),
            ("blk.11.ffn_gate_inp.weight", Some(11), MoeRouter),
            ("blk.11.ffn_gate_exps.weight", Some(11), MoeExpert),
            ("blk.11.ffn_down_exps.weight", Some(11), MoeExpert),
            ("blk.11.ffn_up_shexp.weight", Some(11), MoeExpert),
            ("output_norm.weight", None, Norm),
            ("output.weight", None, Output),
            ("rope_freqs.weight", None, Other),
        ]);
    }

    #[test]
    fn other_schemes_have_no_layer() {
        check(&[
            ("params/Dense_0/kernel", None, Other),
            ("model.encoder.conv1.weight", None, Other),
            ("lowrank", None, Other),
        ]);
    }
}
