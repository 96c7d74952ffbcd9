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

/// GGUF tower prefixes (`v.blk.N.attn_v`): not part of the tensor's own name.
const TOWER_PREFIXES: &[&str] = &["v", "a", "mm", "enc", "dec"];

/// Prefixes and suffixes around a projection's own name (`cross_attn_q`, `linear_q`, `to_q`,
/// `vis_attn_output`, `language_expert_query_key_value`, `q_proj_no_perm`, `q_lin`).
const AFFIXES: &[&str] =
    &["vis_", "language_expert_", "vision_expert_", "self_attn_", "cross_attn_", "attn_", "linear_", "to_", "in_proj_"];

/// Parameter names below a module (`weight`, flax `scale`), and wrapper modules around a
/// projection (`q_proj.linear`: a quantization or LoRA wrapper).
const PARAMETERS: &[&str] = &["weight", "bias", "scale", "gamma", "beta", "kernel"];
const WRAPPERS: &[&str] = &["linear", "base_layer"];

/// The segments naming the tensor's own module: `[..., parent, own]` without trailing
/// parameter names and wrappers.
fn module_segments<'s, 'a>(segs: &'s [&'a str]) -> &'s [&'a str] {
    let mut end = segs.len();
    while end > 1 && PARAMETERS.contains(&segs[end - 1]) {
        end -= 1;
    }
    while end > 1 && WRAPPERS.contains(&segs[end - 1]) && is_projection(segs[end - 2]) {
        end -= 1;
    }
    &segs[..end]
}

fn is_projection(s: &str) -> bool {
    s.ends_with("_proj") || matches!(s, "query" | "key" | "value" | "dense")
}

/// The last segment that names a module (not `weight`/`bias`), without its affixes.
fn own_name<'a>(segs: &[&'a str]) -> &'a str {
    let mut last = module_segments(segs).last().copied().unwrap_or("");
    while let Some(rest) = AFFIXES.iter().find_map(|a| last.strip_prefix(a).filter(|rest| !rest.is_empty())) {
        last = rest;
    }
    for suffix in ["_no_perm", "_lin"] {
        last = last.strip_suffix(suffix).unwrap_or(last);
    }
    last
}

/// The block type from the lower-case segments, before the `.bias` rule.
pub(super) fn block_type(segs: &[&str]) -> BlockType {
    let in_projector = segs.first() == Some(&"mm");
    let segs = match segs.split_first() {
        Some((first, rest)) if TOWER_PREFIXES.contains(first) && !rest.is_empty() => rest,
        _ => segs,
    };
    let in_attention = any(segs, |s| s.contains("attn") || s.contains("attention"));

    // A norm is named by its own module (`norm_attn_norm.attn.Wqkv` is not a norm).
    let is_norm = |s: &str| s.contains("norm") || s.starts_with("ln_") || s == "ln" || s.starts_with("layernorm");
    if module_segments(segs).last().is_some_and(|s| is_norm(s)) {
        return BlockType::Norm;
    }
    if has(segs, &["rotary_emb", "inv_freq", "rope_freqs", "rotary_pos_emb"]) {
        return BlockType::Rope;
    }
    if let Some(moe) = moe_type(segs).filter(|_| !in_projector) {
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
    if has(segs, &["attn_gate"]) {
        return BlockType::AttnGate;
    }
    let own = own_name(segs);
    projection_type(own, in_attention).unwrap_or_else(|| {
        // BERT: `intermediate.dense` is the up projection, `output.dense` the down projection.
        if own == "dense" && has(segs, &["intermediate"]) {
            BlockType::MlpUp
        } else if own == "dense" && has(segs, &["output"]) {
            BlockType::MlpDown
        } else if any(segs, |s| s.starts_with("conv")) {
            BlockType::Conv
        } else if any(segs, |s| s.starts_with("layer_scale") || s == "ls1" || s == "ls2" || s == "gamma") {
            BlockType::Scale
        } else {
            BlockType::Other
        }
    })
}

/// Attention and MLP projections by the module's own name (`in_attention`: inside an attention
/// block, where `dense`, `proj`, `out`, `wo`, `c_proj` are the output projection).
fn projection_type(name: &str, in_attention: bool) -> Option<BlockType> {
    let t = match name {
        "qkv_proj" | "c_attn" | "query_key_value" | "qkv" | "wqkv" | "in_proj" => BlockType::QkvProj,
        "q_proj" | "query" | "q" | "wq" => BlockType::QProj,
        "k_proj" | "key" | "k" | "wk" => BlockType::KProj,
        "v_proj" | "value" | "v" | "wv" => BlockType::VProj,
        "o_proj" | "out_proj" | "o" | "out_lin" => BlockType::OProj,
        "output" | "out" | "proj" | "dense" | "wo" | "c_proj" | "post" | "projection_layer" | "linear"
            if in_attention =>
        {
            BlockType::OProj
        }
        "gate_up_proj" | "w12" | "ffn_gate_up" => BlockType::MlpGateUp,
        "gate_proj" | "w1" | "ffn_gate" | "wi_0" | "ffn_gate_1" | "gate" => BlockType::MlpGate,
        "up_proj" | "w3" | "ffn_up" | "ffn_up_1" | "c_fc" | "dense_h_to_4h" | "fc1" | "fc_in" | "lin1"
        | "ffw_layer_1" | "linear1" | "wi" | "wi_1" | "intermediate" | "up" | "ff_proj" => BlockType::MlpUp,
        "down_proj" | "w2" | "ffn_down" | "ffn_down_1" | "dense_4h_to_h" | "fc2" | "fc_out" | "lin2" | "linear2"
        | "ffw_layer_2" | "wo" | "c_proj" | "down" | "ff_out" => BlockType::MlpDown,
        _ => return None,
    };
    Some(t)
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
