//! What naming needs to know about a model's architecture.
//!
//! The architecture comes as GGUF `general.architecture` (`llama`, `t5`), a config.json
//! `model_type` (`qwen2_moe`) or an `architectures` entry (`T5ForConditionalGeneration`); all are
//! reduced to one key: lower case, without `_`/`-` and without a `For...`/`Model` class suffix.

use super::gguf_table::ARCHS;

/// Hugging Face model types that gguf-py converts under another architecture's name.
const GGUF_ALIASES: &[(&str, &str)] = &[
    ("mistral", "llama"),
    ("mixtral", "llama"),
    ("deepseekv2", "deepseek2"),
    ("deepseekv3", "deepseek2"),
    ("gemma3text", "gemma3"),
    ("gemma3ntext", "gemma3n"),
    ("qwen2audio", "clip"),
    ("llama4text", "llama4"),
];

/// Encoder-decoder model types (their `encoder` and `decoder` are separate stacks).
const ENCODER_DECODER: &[&str] = &[
    "t5",
    "t5encoder",
    "mt5",
    "umt5",
    "longt5",
    "t5gemma",
    "switchtransformers",
    "bart",
    "mbart",
    "plbart",
    "bigbirdpegasus",
    "pegasus",
    "pegasusx",
    "marian",
    "fsmt",
    "blenderbot",
    "blenderbotsmall",
    "m2m100",
    "nllbmoe",
    "prophetnet",
    "xlmprophetnet",
    "led",
    "mvp",
    "whisper",
    "moonshine",
    "speecht5",
    "speechtotext",
    "speech2text",
    "seamlessm4t",
    "seamlessm4tv2",
    "pix2struct",
    "udop",
    "florence2",
    "encoderdecoder",
    "visionencoderdecoder",
    "speechencoderdecoder",
];

/// The architecture facts naming uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchInfo {
    /// The gguf-py architecture, when the name is one or an alias of one.
    pub gguf: Option<&'static str>,
    /// Whether the model is an encoder-decoder; `None` when the architecture is unknown.
    pub encoder_decoder: Option<bool>,
}

impl ArchInfo {
    /// The facts for `arch` (`None`: nothing known, naming goes by the name alone).
    pub fn new(arch: Option<&str>) -> Self {
        let Some(key) = arch.map(normalize).filter(|k| !k.is_empty()) else { return ArchInfo::default() };
        let alias = GGUF_ALIASES.iter().find(|(hf, _)| *hf == key).map(|(_, g)| *g);
        let gguf = ARCHS.iter().find(|a| Some(a.name) == alias || normalize(a.name) == key).map(|a| a.name);
        ArchInfo { gguf, encoder_decoder: Some(ENCODER_DECODER.contains(&key.as_str())) }
    }
}

/// `T5ForConditionalGeneration` -> `t5`, `qwen2_moe` -> `qwen2moe`, `gpt-oss` -> `gptoss`.
fn normalize(arch: &str) -> String {
    let mut key: String = arch.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect();
    if let Some(i) = key.find("for").filter(|&i| i > 0 && arch.contains("For")) {
        key.truncate(i);
    }
    if key.len() > "model".len() && arch.ends_with("Model") {
        key.truncate(key.len() - "model".len());
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reduce_to_one_key() {
        assert_eq!(normalize("T5ForConditionalGeneration"), "t5");
        assert_eq!(normalize("BartModel"), "bart");
        assert_eq!(normalize("qwen2_moe"), "qwen2moe");
        assert_eq!(normalize("LlamaForCausalLM"), "llama");
        assert_eq!(ArchInfo::new(Some("MistralForCausalLM")).gguf, Some("llama"));
        assert_eq!(ArchInfo::new(Some("qwen2_moe")).gguf, Some("qwen2moe"));
        assert_eq!(ArchInfo::new(Some("gpt-oss")).gguf, Some("gpt-oss"));
        assert_eq!(ArchInfo::new(Some("whisper")).encoder_decoder, Some(true));
        assert_eq!(ArchInfo::new(Some("opt")), ArchInfo { gguf: None, encoder_decoder: Some(false) });
        assert_eq!(ArchInfo::new(None).encoder_decoder, None);
    }
}
