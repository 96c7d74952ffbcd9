//! The architecture a model declares: GGUF `general.architecture`, or the Hugging Face
//! `config.json` beside the weights (`model_type`, else the first `architectures` entry).
//! Naming uses it to read names the way that architecture writes them.

use std::path::Path;

use weightlens_core::TensorSource;

/// config.json files are a few KB; a larger file is not a model config and is not read.
const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// The architecture of `source`: its format's own field (GGUF), else its `config.json`.
pub fn architecture(source: &dyn TensorSource) -> Option<String> {
    if let Some(arch) = source.metadata().get("architecture").and_then(|a| a.as_str()) {
        return Some(arch.to_owned());
    }
    config_architecture(source.path())
}

/// The architecture in the `config.json` of the directory of `model_path` (or of `model_path`
/// itself when it is a directory). A missing, oversized or malformed config is no architecture
/// (logged, since naming then goes by the names alone).
pub fn config_architecture(model_path: &Path) -> Option<String> {
    let dir = if model_path.is_dir() { model_path } else { model_path.parent()? };
    let path = dir.join("config.json");
    let size = std::fs::metadata(&path).ok()?.len();
    if size > MAX_CONFIG_BYTES {
        tracing::warn!(path = %path.display(), size, "config.json too large to be a model config; not read");
        return None;
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(path = %path.display(), "config.json unreadable: {e}");
            return None;
        }
    };
    let parsed = parse_architecture(&text);
    if parsed.is_none() {
        tracing::debug!(path = %path.display(), "config.json names no architecture");
    }
    parsed
}

/// `model_type`, else `architectures[0]`, of a config.json text.
fn parse_architecture(text: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let model_type = json.get("model_type").and_then(|v| v.as_str());
    let class = json.get("architectures").and_then(|a| a.get(0)).and_then(|v| v.as_str());
    model_type.or(class).filter(|s| !s.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_type_then_class() {
        assert_eq!(parse_architecture(r#"{"model_type":"t5","architectures":["T5Model"]}"#).as_deref(), Some("t5"));
        assert_eq!(
            parse_architecture(r#"{"architectures":["LlamaForCausalLM"]}"#).as_deref(),
            Some("LlamaForCausalLM")
        );
        assert_eq!(parse_architecture(r#"{"architectures":[]}"#), None);
        assert_eq!(parse_architecture(r#"{"model_type":7}"#), None);
        assert_eq!(parse_architecture("not json"), None);
        assert_eq!(parse_architecture(r#"{"model_type":""}"#), None);
    }

    #[test]
    fn config_beside_the_weights() {
        let dir = std::env::temp_dir().join(format!("wl-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), r#"{"model_type":"bart"}"#).unwrap();
        assert_eq!(config_architecture(&dir.join("model.safetensors")).as_deref(), Some("bart"));
        assert_eq!(config_architecture(&dir).as_deref(), Some("bart"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(config_architecture(&dir.join("model.safetensors")), None);
    }
}
