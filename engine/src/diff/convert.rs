//! What llama.cpp's `convert_hf_to_gguf.py` did to a Hugging Face tensor, so that `diff` can
//! undo it on the GGUF side. The converter picks its class from `config.json`'s
//! `architectures[0]`; the transformations below are applied by exactly these classes
//! (llama.cpp `conversion/llama.py`, `granite.py`, `gemma.py` at the fixtures' commit):
//!
//! - `LlamaModel.modify_tensors` permutes `q_proj`/`k_proj` weights and biases when the class
//!   has `undo_permute = True`: `LlamaModel` itself (the HF classes registered on it, Mistral
//!   and Mixtral among them) and the subclasses that do not reset it (Arcee, SmolLM3, the
//!   Llama-based embedding model, Granite and GraniteMoe, and the classes that set it again:
//!   GraniteMoeHybrid/Bamba, Nanbeige, LLaDA). `Llama4Model` and `ApertusModel` set it to
//!   `False`; Qwen2/Qwen3/Phi3 are not `LlamaModel`s.
//! - `GemmaModel`, `Gemma2Model` and `Gemma3Model` (and `EmbeddingGemma`, a `Gemma3Model`) add
//!   1 to every tensor whose name ends in `norm.weight`; `Gemma3NModel` sets the shift to 0.
//!
//! Head counts come from the GGUF (`{arch}.attention.head_count`, `head_count_kv`), which the
//! converter wrote from the same hyperparameters it permuted with.

use weightlens_analyzers::delta::Transform;

/// HF architectures whose converter class permutes q/k rows.
const PERMUTE_ARCHITECTURES: &[&str] = &[
    // Registered on LlamaModel.
    "LLaMAForCausalLM",
    "LlamaForCausalLM",
    "MistralForCausalLM",
    "MixtralForCausalLM",
    "VLlama3ForCausalLM",
    "LlavaForConditionalGeneration",
    "VoxtralForConditionalGeneration",
    "IQuestCoderForCausalLM",
    "LlamaModel",
    // Subclasses keeping (or setting) undo_permute = True.
    "ArceeForCausalLM",
    "SmolLM3ForCausalLM",
    "LlamaBidirectionalModel",
    "GraniteForCausalLM",
    "GraniteMoeForCausalLM",
    "GraniteMoeHybridForCausalLM",
    "BambaForCausalLM",
    "NanbeigeForCausalLM",
    "LLaDAModelLM",
    "LLaDAOGuiForDiffusionLM",
];

/// HF architectures whose converter class adds 1 to `*norm.weight`.
const NORM_SHIFT_ARCHITECTURES: &[&str] = &[
    "GemmaForCausalLM",
    "Gemma2ForCausalLM",
    "Gemma3ForCausalLM",
    "Gemma3ForConditionalGeneration",
    "Gemma3TextModel",
];

/// GGUF architectures written only by permuting classes: the fallback when the HF side has no
/// `config.json` (`llama` is also written by a few non-permuting classes of other families,
/// but none of them keeps HF `q_proj`/`k_proj` names).
const PERMUTE_GGUF_ARCHITECTURES: &[&str] = &["llama", "arcee", "smollm3", "granite", "granitemoe", "llama-embed"];

/// GGUF architectures written only by norm-shifting classes (the same fallback).
const NORM_SHIFT_GGUF_ARCHITECTURES: &[&str] = &["gemma", "gemma2", "gemma3", "gemma-embedding"];

/// A converter transformation that cannot be undone for lack of a fact in the GGUF.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{tensor} was permuted by the converter, but the GGUF has no {arch}.attention.head_count")]
pub struct MissingHeads {
    /// The HF tensor.
    pub tensor: String,
    /// The GGUF architecture.
    pub arch: String,
}

/// What the conversion knows about a pair of models: the HF architecture (from `config.json`)
/// and the GGUF's architecture and head counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conversion {
    /// `architectures[0]` of the HF `config.json`, if there is one.
    pub hf_architecture: Option<String>,
    /// `general.architecture` of the GGUF.
    pub gguf_architecture: String,
    /// `{arch}.attention.head_count`.
    pub n_head: Option<u64>,
    /// `{arch}.attention.head_count_kv` (defaults to `n_head`, as in llama.cpp).
    pub n_head_kv: Option<u64>,
}

impl Conversion {
    /// Reads the facts from the GGUF's metadata (as `GgufSource::metadata` lists it) and the
    /// HF `config.json` (already parsed).
    pub fn new(gguf_metadata: &serde_json::Value, hf_config: Option<&serde_json::Value>) -> Self {
        let arch = gguf_metadata.get("architecture").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let key = |k: &str| gguf_metadata.get("metadata")?.get(format!("{arch}.attention.{k}"))?.as_u64();
        let n_head = key("head_count");
        Conversion {
            hf_architecture: hf_config.and_then(|c| c.get("architectures")?.get(0)?.as_str()).map(str::to_string),
            n_head,
            n_head_kv: key("head_count_kv").or(n_head),
            gguf_architecture: arch,
        }
    }

    fn applies(&self, hf_list: &[&str], gguf_list: &[&str]) -> bool {
        match &self.hf_architecture {
            Some(hf) => hf_list.contains(&hf.as_str()),
            None => gguf_list.contains(&self.gguf_architecture.as_str()),
        }
    }

    /// The transformation the converter applied to the HF tensor `hf_name`, or why it cannot
    /// be known (a permuted tensor without head counts in the GGUF).
    pub fn transform_for(&self, hf_name: &str) -> Result<Transform, MissingHeads> {
        if self.applies(PERMUTE_ARCHITECTURES, PERMUTE_GGUF_ARCHITECTURES) {
            let missing = || MissingHeads { tensor: hf_name.to_string(), arch: self.gguf_architecture.clone() };
            if hf_name.ends_with("q_proj.weight") || hf_name.ends_with("q_proj.bias") {
                return Ok(Transform::Permute { n_head: self.n_head.ok_or_else(missing)? });
            }
            if hf_name.ends_with("k_proj.weight") || hf_name.ends_with("k_proj.bias") {
                // LlamaModel.permute uses n_head_kv whenever it differs from n_head.
                return Ok(Transform::Permute { n_head: self.n_head_kv.or(self.n_head).ok_or_else(missing)? });
            }
        }
        if self.applies(NORM_SHIFT_ARCHITECTURES, NORM_SHIFT_GGUF_ARCHITECTURES) && hf_name.ends_with("norm.weight") {
            return Ok(Transform::NormShift { shift: 1.0 });
        }
        Ok(Transform::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversion(hf: Option<&str>, arch: &str, heads: u64, kv: u64) -> Conversion {
        let meta = serde_json::json!({ "architecture": arch, "metadata": {
            format!("{arch}.attention.head_count"): heads, format!("{arch}.attention.head_count_kv"): kv } });
        let config = hf.map(|h| serde_json::json!({ "architectures": [h] }));
        Conversion::new(&meta, config.as_ref())
    }

    #[test]
    fn llama_family_permutes_q_with_heads_and_k_with_kv_heads() {
        for hf in ["LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM"] {
            let c = conversion(Some(hf), "llama", 32, 8);
            assert_eq!(
                c.transform_for("model.layers.3.self_attn.q_proj.weight"),
                Ok(Transform::Permute { n_head: 32 })
            );
            assert_eq!(c.transform_for("model.layers.3.self_attn.k_proj.bias"), Ok(Transform::Permute { n_head: 8 }));
            assert_eq!(c.transform_for("model.layers.3.self_attn.v_proj.weight"), Ok(Transform::None));
            assert_eq!(c.transform_for("model.norm.weight"), Ok(Transform::None));
        }
    }

    #[test]
    fn qwen_phi_and_llama4_are_not_permuted() {
        for (hf, arch) in [
            ("Qwen2ForCausalLM", "qwen2"),
            ("Qwen3ForCausalLM", "qwen3"),
            ("Phi3ForCausalLM", "phi3"),
            ("Llama4ForCausalLM", "llama4"),
            ("ApertusForCausalLM", "apertus"),
        ] {
            let c = conversion(Some(hf), arch, 8, 8);
            assert_eq!(c.transform_for("model.layers.0.self_attn.q_proj.weight"), Ok(Transform::None), "{hf}");
        }
    }

    #[test]
    fn gemma_generations_shift_norms_but_gemma3n_does_not() {
        for (hf, arch) in
            [("GemmaForCausalLM", "gemma"), ("Gemma2ForCausalLM", "gemma2"), ("Gemma3ForCausalLM", "gemma3")]
        {
            let c = conversion(Some(hf), arch, 4, 1);
            let shift = Ok(Transform::NormShift { shift: 1.0 });
            assert_eq!(c.transform_for("model.layers.0.post_feedforward_layernorm.weight"), shift);
            assert_eq!(c.transform_for("model.layers.0.self_attn.q_norm.weight"), shift);
            assert_eq!(c.transform_for("model.norm.weight"), shift);
            assert_eq!(c.transform_for("model.layers.0.self_attn.q_proj.weight"), Ok(Transform::None));
        }
        let c = conversion(Some("Gemma3nForConditionalGeneration"), "gemma3n", 4, 1);
        assert_eq!(c.transform_for("model.norm.weight"), Ok(Transform::None));
    }

    #[test]
    fn without_config_the_gguf_architecture_decides() {
        let c = conversion(None, "llama", 4, 2);
        assert_eq!(c.transform_for("model.layers.0.self_attn.k_proj.weight"), Ok(Transform::Permute { n_head: 2 }));
        let c = conversion(None, "gemma3", 4, 1);
        assert_eq!(c.transform_for("model.norm.weight"), Ok(Transform::NormShift { shift: 1.0 }));
        let c = conversion(None, "qwen2", 4, 2);
        assert_eq!(c.transform_for("model.layers.0.self_attn.q_proj.weight"), Ok(Transform::None));
    }

    #[test]
    fn missing_head_count_is_an_error_not_a_guess() {
        let meta = serde_json::json!({ "architecture": "llama", "metadata": {} });
        let c = Conversion::new(&meta, None);
        assert!(c.transform_for("model.layers.0.self_attn.q_proj.weight").is_err());
    }
}
