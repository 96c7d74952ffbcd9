//! Name rules for tensors gguf-py's table does not list (per-expert tensors, quantization
//! companions, architectures llama.cpp does not convert): the layer number and block type from
//! the name's segments. Rules look at whole segments, never substrings of the full name, so
//! `attention.output.dense` is not mistaken for the model's `output` head.

use super::BlockType;

/// Segments that are followed by a block number. Sub-module lists (`experts`, `mlp.0` of a
/// projector, `posnet.2`, `convnext.3`) are not among them.
const LAYER_CONTAINERS: &[&str] = &[
    "layers",
    "layer",
    "h",
    "blk",
    "block",
    "blocks",
    "resblocks",
    "proj_blk",
    "decoder_layer",
    "decoder_layers",
    "encoder_layer",
    "encoder_layers",
    "transformer_encoder",
    "transformer_decoder",
];

/// The block number of a name: the number after the first layer container (also after any
/// segment ending in `_layers`/`_blocks`, e.g. `mtp_layers`, `text_layers`).
pub(super) fn layer_number(segs: &[&str]) -> Option<u32> {
    segs.windows(2).find_map(|w| {
        let container = LAYER_CONTAINERS.contains(&w[0]) || w[0].ends_with("_layers") || w[0].ends_with("_blocks");
        if container {
            w[1].parse().ok()
        } else {
            None
        }
    })
}

/// The number after `experts` (`experts.3.` -> 3).
pub(super) fn expert_number(segs: &[&str]) -> Option<u32> {
    segs.windows(2).find_map(|w| if w[0] == "experts" { w[1].parse().ok() } else { None })
}

fn any(segs: &[&str], pred: impl Fn(&str) -> bool) -> bool {
    segs.iter().any(|s| pred(s))
}

fn has(segs: &[&str], names: &[&str]) -> bool {
    segs.iter().any(|s| names.contains(s))
}

/// The block type from the lower-case segments, before the `.bias` rule.
pub(super) fn block_type(segs: &[&str]) -> BlockType {
    let in_attention = any(segs, |s| s.contains("attn") || s.contains("attention"));

    if any(segs, |s| s.contains("norm") || s.starts_with("ln_") || s == "ln" || s.starts_with("layernorm")) {
        return BlockType::Norm;
    }
    if has(segs, &["rotary_emb", "inv_freq", "rope_freqs", "rotary_pos_emb"]) {
        return BlockType::Rope;
    }
    if let Some(moe) = moe_type(segs) {
        return moe;
    }
    if let Some(t) = mixer_type(segs) {
        return t;
    }
    if has(segs, &["lm_head", "embed_out", "classifier", "score", "qa_outputs"]) || segs.first() == Some(&"output") {
        return BlockType::Output;
    }
    if any(segs, |s| s.contains("position_embedding") || s.starts_with("pos_emb") || s.starts_with("pos_embed"))
        || has(segs, &["wpe", "relative_attention_bias", "rel_pos", "rel_pos_h", "rel_pos_w", "position_embd"])
    {
        return BlockType::PosEmbedding;
    }
    if any(segs, |s| s.contains("embed")) || has(segs, &["wte", "shared", "token_embd"]) {
        return BlockType::Embedding;
    }
    if let Some(t) = mla_type(segs) {
        return t;
    }
    if has(segs, &["sinks", "attn_sinks"]) {
        return BlockType::AttnSink;
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
    if has(segs, &["gate_up_proj", "w12", "ffn_gate_up"]) {
        return BlockType::MlpGateUp;
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
    if any(segs, |s| s.starts_with("conv")) {
        return BlockType::Conv;
    }
    if any(segs, |s| s.starts_with("layer_scale") || s == "ls1" || s == "ls2" || s == "gamma") {
        return BlockType::Scale;
    }
    BlockType::Other
}

fn moe_type(segs: &[&str]) -> Option<BlockType> {
    let shared = any(segs, |s| {
        (s.starts_with("shared_expert") && s != "shared_expert_gate") || s.ends_with("_shexp") || s.ends_with("_shexps")
    });
    if shared {
        return Some(BlockType::MoeSharedExpert);
    }
    let expert = any(segs, |s| s.starts_with("expert") || s.ends_with("_exps") || s.ends_with("_chexps"));
    if expert {
        return Some(BlockType::MoeExpert);
    }
    let router = has(segs, &["gate", "router", "ffn_gate_inp", "shared_expert_gate", "e_score_correction_bias"])
        || any(segs, |s| s.starts_with("ffn_gate_inp") || s == "exp_probs_b");
    if router {
        return Some(BlockType::MoeRouter);
    }
    if any(segs, |s| s.contains("moe")) {
        return Some(BlockType::Moe);
    }
    None
}

/// Multi-head latent attention (DeepSeek-V2/V3, MiniCPM3, Kimi).
fn mla_type(segs: &[&str]) -> Option<BlockType> {
    let t = match segs.iter().rev().find(|s| s.contains("_a_") || s.contains("_b_") || s.ends_with("_b"))? {
        s if s.starts_with("q_a_proj") || *s == "attn_q_a" => BlockType::QAProj,
        s if s.starts_with("q_b_proj") || *s == "attn_q_b" || *s == "wq_b" => BlockType::QBProj,
        s if s.starts_with("kv_a_proj") || s.starts_with("attn_kv_a") => BlockType::KvAProj,
        s if s.starts_with("kv_b_proj") || *s == "attn_kv_b" || *s == "attn_k_b" || *s == "attn_v_b" => {
            BlockType::KvBProj
        }
        _ => return None,
    };
    Some(t)
}

/// Mamba / SSM mixers and RWKV time / channel mixing.
fn mixer_type(segs: &[&str]) -> Option<BlockType> {
    let ssm = any(segs, |s| s == "mixer" || s == "mamba" || s == "ssm" || s == "linear_attn" || s.starts_with("ssm_"));
    let last = segs.iter().rev().find(|s| **s != "weight" && **s != "bias").copied().unwrap_or("");
    if ssm {
        let t = match last {
            "in_proj" | "ssm_in" => BlockType::SsmIn,
            "out_proj" | "ssm_out" => BlockType::SsmOut,
            "conv1d" | "ssm_conv1d" => BlockType::SsmConv,
            "dt_proj" | "dt_bias" | "ssm_dt" => BlockType::SsmDt,
            "a_log" | "a" | "ssm_a" => BlockType::SsmA,
            "d" | "ssm_d" => BlockType::SsmD,
            "x_proj" | "bcdt_proj" | "ssm_x" => BlockType::Ssm,
            // An attention or MLP layer of a hybrid model (`mixer.q_proj`): the other rules.
            _ => return None,
        };
        return Some(t);
    }
    if any(segs, |s| s.starts_with("time_mix") || s.starts_with("time_") && s != "time_embedding") {
        return Some(BlockType::RwkvTimeMix);
    }
    if any(segs, |s| s.starts_with("channel_mix")) {
        return Some(BlockType::RwkvChannelMix);
    }
    None
}
