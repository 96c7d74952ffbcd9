//! The user's name map (`diff --map FILE`): pairs of tensor names the automatic matching does
//! not know, each with an optional transformation to undo on B, as TOML or JSON:
//!
//! ```toml
//! [[pair]]
//! a = "transformer.h.0.attn.c_attn.weight"
//! b = "blk.0.attn_qkv.weight"
//! transform = "none"            # or "permute(n_head=8)", "norm_shift(+1)"
//! ```
//!
//! JSON: `{"pair": [{"a": "...", "b": "...", "transform": "..."}]}`.

use std::path::Path;

use serde::Deserialize;
use weightlens_analyzers::delta::Transform;

/// Name pairs from a map file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserMap {
    /// `(name in A, name in B, transform undone on B)`, in file order.
    pub pairs: Vec<(String, String, Transform)>,
}

/// Why a map file could not be used (the message names the file).
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct MapError {
    path: std::path::PathBuf,
    message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    pair: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    a: String,
    b: String,
    #[serde(default)]
    transform: Option<String>,
}

/// Largest map file read (a map of every tensor of a large model is well under this).
const MAX_MAP_BYTES: u64 = 64 << 20;

impl UserMap {
    /// Reads `path`: JSON when it ends in `.json` or starts with `{`, TOML otherwise.
    pub fn read(path: &Path) -> Result<UserMap, MapError> {
        let fail = |message: String| MapError { path: path.to_path_buf(), message };
        let len = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?.len();
        if len > MAX_MAP_BYTES {
            return Err(fail(format!("{len} bytes, more than the {MAX_MAP_BYTES} a map file may have")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let json =
            path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) || text.trim_start().starts_with('{');
        UserMap::parse(&text, json).map_err(fail)
    }

    /// Parses map text (JSON or TOML); the error is one line.
    fn parse(text: &str, json: bool) -> Result<UserMap, String> {
        let file: File = if json {
            serde_json::from_str(text).map_err(|e| e.to_string())?
        } else {
            toml::from_str(text).map_err(|e| e.to_string().replace('\n', " "))?
        };
        let pairs = file
            .pair
            .into_iter()
            .map(|e| {
                let t = match e.transform.as_deref() {
                    None => Transform::None,
                    Some(t) => parse_transform(t).ok_or_else(|| format!("pair {:?}: unknown transform {t:?}", e.a))?,
                };
                Ok((e.a, e.b, t))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(UserMap { pairs })
    }
}

/// `none`, `permute(n_head=N)` or `norm_shift(+X)` (the labels of the `transform` column).
fn parse_transform(text: &str) -> Option<Transform> {
    let t = text.trim();
    if t == "none" {
        return Some(Transform::None);
    }
    if let Some(n) = t.strip_prefix("permute(n_head=").and_then(|r| r.strip_suffix(')')) {
        return n.trim().parse().ok().filter(|&n| n > 0).map(|n_head| Transform::Permute { n_head });
    }
    let shift: f64 = t.strip_prefix("norm_shift(")?.strip_suffix(')')?.trim().parse().ok()?;
    shift.is_finite().then_some(Transform::NormShift { shift })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_give_the_same_pairs() {
        let toml = "[[pair]]\na = \"x.weight\"\nb = \"y.weight\"\n\n[[pair]]\na = \"q\"\nb = \"blk.0.attn_q.weight\"\ntransform = \"permute(n_head=4)\"\n";
        let json = r#"{"pair": [{"a": "x.weight", "b": "y.weight"}, {"a": "q", "b": "blk.0.attn_q.weight", "transform": "permute(n_head=4)"}]}"#;
        let t = UserMap::parse(toml, false).unwrap();
        assert_eq!(t, UserMap::parse(json, true).unwrap());
        assert_eq!(t.pairs[1].2, Transform::Permute { n_head: 4 });
        assert_eq!(t.pairs[0].2, Transform::None);
    }

    #[test]
    fn transforms_round_trip_through_their_labels() {
        for t in [Transform::None, Transform::Permute { n_head: 12 }, Transform::NormShift { shift: 1.0 }] {
            assert_eq!(parse_transform(&t.label()), Some(t));
        }
        assert_eq!(parse_transform("permute(n_head=0)"), None);
        assert_eq!(parse_transform("norm_shift(inf)"), None);
        assert_eq!(parse_transform("transpose"), None);
    }

    #[test]
    fn malformed_maps_are_errors() {
        assert!(UserMap::parse("[[pair]]\na = 1\n", false).is_err());
        assert!(UserMap::parse(r#"{"pair": [{"a": "x"}]}"#, true).is_err());
        assert!(UserMap::parse(r#"{"pairs": []}"#, true).is_err());
        assert!(UserMap::parse(r#"{"pair": [{"a": "x", "b": "y", "transform": "flip"}]}"#, true).is_err());
    }
}
