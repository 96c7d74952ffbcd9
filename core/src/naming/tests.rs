//! Per-architecture naming tests (the whole gguf-py table: `core/tests/naming_corpus.rs`).
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
        ("model.rotary_emb.inv_freq", None, Rope),
    ]);
}

#[test]
fn bert() {
    check(&[
        ("embeddings.word_embeddings.weight", None, Embedding),
        ("bert.embeddings.position_embeddings.weight", None, PosEmbedding),
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
        ("pooler.dense.weight", None, Output),
    ]);
}

#[test]
fn gpt2() {
    check(&[
        ("transformer.wte.weight", None, Embedding),
        ("transformer.wpe.weight", None, PosEmbedding),
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
        ("model.layers.0.mlp.shared_expert.up_proj.weight", Some(0), MoeSharedExpert),
        ("model.layers.0.mlp.shared_expert_gate.weight", Some(0), MoeRouter),
        ("model.layers.2.mlp.shared_experts.down_proj.weight", Some(2), MoeSharedExpert),
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
        ("blk.11.ffn_up_shexp.weight", Some(11), MoeSharedExpert),
        ("output_norm.weight", None, Norm),
        ("output.weight", None, Output),
        ("rope_freqs.weight", None, Rope),
    ]);
}

#[test]
fn other_schemes_have_no_layer() {
    check(&[
        ("params/Dense_0/kernel", None, Other),
        ("model.encoder.conv1.weight", None, Conv),
        ("lowrank", None, Other),
    ]);
}
