//! The quantization a checkpoint's `config.json` declares (`quantization_config`; MLX writes
//! `quantization`).

use super::parts::LayoutError;
use std::path::Path;

use serde_json::Value;

/// `config.json` files larger than this are not read (real ones are a few KB).
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// One weight scheme of a compressed-tensors config group.
#[derive(Clone, Debug, PartialEq)]
pub struct CtWeights {
    /// Bits per value.
    pub num_bits: u32,
    /// `int` or `float`.
    pub kind: String,
    /// `tensor`, `channel`, `group`, `tensor_group`, `block`.
    pub strategy: String,
    /// Inputs per group.
    pub group_size: Option<u64>,
    /// `[bm, bn]` of the `block` strategy.
    pub block_structure: Option<[u64; 2]>,
}

/// The declared quantization.
#[derive(Clone, Debug, PartialEq)]
pub enum QuantConfig {
    /// No config.json, or one without a quantization section.
    None,
    /// `quant_method: gptq`.
    Gptq {
        /// Bits.
        bits: u32,
        /// Group size (`None` for -1).
        group_size: Option<u64>,
        /// `checkpoint_format: gptq_v2`.
        v2: bool,
    },
    /// `quant_method: awq` (GEMM).
    Awq {
        /// Bits.
        bits: u32,
        /// Group size.
        group_size: u64,
        /// `version` (`gemm`, `gemv`, ...).
        version: String,
    },
    /// `quant_method: bitsandbytes` (the tensors describe themselves).
    Bnb,
    /// `quant_method: compressed-tensors`.
    Ct {
        /// The top-level `format` (a group's own `format` wins for its tensors).
        format: String,
        /// Every config group's weight scheme with its format.
        groups: Vec<(String, CtWeights)>,
        /// `ignore`: modules left unquantized (names, or `re:` patterns matched at the start
        /// of the module name as Python's `re.match` does).
        ignore: Vec<String>,
    },
    /// `quant_method: fp8` with block scales.
    Fp8 {
        /// `weight_block_size`.
        block: Option<[u64; 2]>,
    },
    /// `quant_method: mxfp4`.
    Mxfp4,
    /// MLX `quantization`.
    Mlx {
        /// Bits.
        bits: u32,
        /// Group size.
        group_size: u64,
        /// `mode`: `affine` (the default), `mxfp4`, `mxfp8`, ...
        mode: String,
        /// The whole section (per-module overrides are keyed by module name).
        section: Value,
    },
    /// A quantization this reader does not know (the method's name, or what is wrong).
    Unknown(String),
}

/// Reads the `config.json` next to `model` (a file or index); `None` when there is none.
pub fn read(model: &Path) -> Result<QuantConfig, LayoutError> {
    let path = model.parent().unwrap_or(Path::new(".")).join("config.json");
    let Ok(meta) = std::fs::metadata(&path) else { return Ok(QuantConfig::None) };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(format!("{} is {} bytes, more than {MAX_CONFIG_BYTES}", path.display(), meta.len()).into());
    }
    let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: Value = serde_json::from_slice(&text).map_err(|e| format!("{}: not valid JSON: {e}", path.display()))?;
    Ok(parse(&json))
}

fn u(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

fn bits(v: &Value, key: &str) -> Option<u32> {
    u(v, key).and_then(|b| u32::try_from(b).ok())
}

fn pair(v: Option<&Value>) -> Option<[u64; 2]> {
    match v?.as_array()?.as_slice() {
        [a, b] => Some([a.as_u64()?, b.as_u64()?]),
        _ => None,
    }
}

/// The quantization declared by a parsed `config.json`.
pub fn parse(json: &Value) -> QuantConfig {
    if let Some(q) = json.get("quantization_config").filter(|q| q.is_object()) {
        let method = q.get("quant_method").and_then(Value::as_str).unwrap_or("");
        return match method {
            "gptq" => match bits(q, "bits") {
                Some(b) => QuantConfig::Gptq {
                    bits: b,
                    group_size: u(q, "group_size").filter(|&g| g > 0),
                    v2: q.get("checkpoint_format").and_then(Value::as_str) == Some("gptq_v2"),
                },
                None => QuantConfig::Unknown("gptq without bits".into()),
            },
            "awq" => match (
                bits(q, "bits").or_else(|| bits(q, "w_bit")),
                u(q, "group_size").or_else(|| u(q, "q_group_size")),
            ) {
                (Some(b), Some(g)) => QuantConfig::Awq {
                    bits: b,
                    group_size: g,
                    version: q.get("version").and_then(Value::as_str).unwrap_or("gemm").to_lowercase(),
                },
                _ => QuantConfig::Unknown("awq without bits or group_size".into()),
            },
            "bitsandbytes" => QuantConfig::Bnb,
            "compressed-tensors" => ct(q),
            "fp8" => QuantConfig::Fp8 { block: pair(q.get("weight_block_size")) },
            "mxfp4" => QuantConfig::Mxfp4,
            "" if json.get("quantization").is_some() => mlx(json),
            other => QuantConfig::Unknown(format!("quant_method {other:?}")),
        };
    }
    if json.get("quantization").is_some() {
        return mlx(json);
    }
    QuantConfig::None
}

fn mlx(json: &Value) -> QuantConfig {
    let section = json.get("quantization").cloned().unwrap_or(Value::Null);
    match (bits(&section, "bits"), u(&section, "group_size")) {
        (Some(b), Some(g)) => {
            let mode = section.get("mode").and_then(Value::as_str).unwrap_or("affine").to_string();
            QuantConfig::Mlx { bits: b, group_size: g, mode, section }
        }
        _ => QuantConfig::Unknown("MLX quantization without bits or group_size".into()),
    }
}

fn ct(q: &Value) -> QuantConfig {
    let format = q.get("format").and_then(Value::as_str).unwrap_or("").to_string();
    let mut groups = Vec::new();
    if let Some(map) = q.get("config_groups").and_then(Value::as_object) {
        for g in map.values() {
            let Some(w) = g.get("weights").filter(|w| w.is_object()) else { continue };
            let weights = CtWeights {
                num_bits: bits(w, "num_bits").unwrap_or(0),
                kind: w.get("type").and_then(Value::as_str).unwrap_or("int").to_string(),
                strategy: w.get("strategy").and_then(Value::as_str).unwrap_or("tensor").to_string(),
                group_size: u(w, "group_size"),
                block_structure: pair(w.get("block_structure")),
            };
            let group_format = g.get("format").and_then(Value::as_str).unwrap_or(&format).to_string();
            groups.push((group_format, weights));
        }
    }
    let ignore = q
        .get("ignore")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    QuantConfig::Ct { format, groups, ignore }
}

/// Whether `module` is in a compressed-tensors `ignore` list (`match_name`: a `re:` entry
/// matches where Python's `re.match` does, i.e. anchored at the start only; any other entry is
/// a module name). Class-name entries (`Linear`) cannot be told from a checkpoint and match
/// nothing here. A pattern the regex crate does not accept matches nothing and is logged.
pub fn ct_ignored(ignore: &[String], module: &str) -> bool {
    ignore.iter().any(|entry| match entry.strip_prefix("re:") {
        Some(pattern) => match regex::Regex::new(&format!("^(?:{pattern})")) {
            Ok(re) => re.is_match(module),
            Err(e) => {
                tracing::warn!("compressed-tensors ignore pattern {entry:?} is not a regex this reader accepts: {e}");
                false
            }
        },
        None => entry == module,
    })
}

/// MLX's bits, group size and mode for module `module` (per-module entries override the
/// defaults).
pub fn mlx_for(section: &Value, module: &str, bits: u32, group_size: u64, mode: &str) -> (u32, u64, String) {
    match section.get(module) {
        Some(m) if m.is_object() => (
            m.get("bits").and_then(Value::as_u64).and_then(|b| u32::try_from(b).ok()).unwrap_or(bits),
            m.get("group_size").and_then(Value::as_u64).unwrap_or(group_size),
            m.get("mode").and_then(Value::as_str).unwrap_or(mode).to_string(),
        ),
        _ => (bits, group_size, mode.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_recognised() {
        let gptq = serde_json::json!({"quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": -1, "checkpoint_format": "gptq_v2"}});
        assert_eq!(parse(&gptq), QuantConfig::Gptq { bits: 4, group_size: None, v2: true });
        let fp8 = serde_json::json!({"quantization_config": {"quant_method": "fp8", "weight_block_size": [64, 32]}});
        assert_eq!(parse(&fp8), QuantConfig::Fp8 { block: Some([64, 32]) });
        let hqq = serde_json::json!({"quantization_config": {"quant_method": "hqq"}});
        assert!(matches!(parse(&hqq), QuantConfig::Unknown(m) if m.contains("hqq")));
        let mlx = serde_json::json!({"quantization": {"bits": 4, "group_size": 64, "lm_head": {"bits": 8, "group_size": 32}}});
        let QuantConfig::Mlx { section, .. } = parse(&mlx) else { panic!("not mlx") };
        assert_eq!(mlx_for(&section, "lm_head", 4, 64, "affine"), (8, 32, "affine".to_string()));
        let mx = serde_json::json!({"quantization": {"bits": 4, "group_size": 32, "mode": "mxfp4"}});
        assert!(matches!(parse(&mx), QuantConfig::Mlx { mode, .. } if mode == "mxfp4"));
        assert_eq!(parse(&serde_json::json!({"model_type": "llama"})), QuantConfig::None);
    }

    #[test]
    fn ignore_entries_are_names_or_start_anchored_patterns() {
        let ignore: Vec<String> =
            ["lm_head", "re:.*self_attn\\.o_proj$", "re:model.layers.1.", "re:(unclosed"].map(String::from).to_vec();
        assert!(ct_ignored(&ignore, "lm_head"));
        assert!(!ct_ignored(&ignore, "model.lm_head"), "a plain entry is the whole name");
        assert!(ct_ignored(&ignore, "model.layers.0.self_attn.o_proj"));
        assert!(!ct_ignored(&ignore, "model.layers.0.self_attn.o_proj_x"));
        assert!(ct_ignored(&ignore, "model.layers.1.mlp.up_proj"), "re.match is anchored at the start only");
        assert!(!ct_ignored(&ignore, "xmodel.layers.1.mlp"));
        let q =
            serde_json::json!({"quantization_config": {"quant_method": "compressed-tensors", "ignore": ["lm_head"]}});
        assert!(matches!(parse(&q), QuantConfig::Ct { ignore, .. } if ignore == ["lm_head"]));
    }
}
