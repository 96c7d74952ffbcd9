//! Which repository files to fetch: include/exclude globs (`globset`, where `*` also crosses `/`,
//! like Python's `fnmatch` in `huggingface_hub`), and the default set for analysis.

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::error::HubError;

/// Weight files of the formats weightlens reads, plus the files that describe them.
pub const ANALYSIS_PATTERNS: &[&str] = &[
    "*.safetensors",
    "*.safetensors.index.json",
    "*.gguf",
    "*.bin",
    "*.bin.index.json",
    "*.pt",
    "*.pth",
    "*.npz",
    "*.npy",
    "config.json",
];

/// Formats that only duplicate safetensors weights (transformers saves both); skipped by the
/// analysis default when the repository has safetensors.
const DUPLICATE_WEIGHT_SUFFIXES: &[&str] = &[".bin", ".bin.index.json", ".pt", ".pth"];

/// A compiled include/exclude selection.
#[derive(Debug, Clone)]
pub struct FileFilter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    prefer_safetensors: bool,
}

impl FileFilter {
    /// `include` empty means every file; `exclude` removes files from that.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, HubError> {
        Ok(Self { include: compile(include)?, exclude: compile(exclude)?, prefer_safetensors: false })
    }

    /// The analysis default: weight files, index files and `config.json`, minus `.bin`/`.pt`
    /// copies when safetensors weights exist, minus `exclude`.
    pub fn analysis(exclude: &[String]) -> Result<Self, HubError> {
        let include: Vec<String> = ANALYSIS_PATTERNS.iter().map(|p| (*p).to_owned()).collect();
        Ok(Self { prefer_safetensors: true, ..Self::new(&include, exclude)? })
    }

    /// The selected names, in the order given.
    pub fn select<'a>(&self, names: impl IntoIterator<Item = &'a str> + Clone) -> Vec<&'a str> {
        let has_safetensors = names.clone().into_iter().any(|n| n.ends_with(".safetensors") && self.keeps(n));
        names
            .into_iter()
            .filter(|n| self.keeps(n))
            .filter(|n| {
                !(self.prefer_safetensors
                    && has_safetensors
                    && DUPLICATE_WEIGHT_SUFFIXES.iter().any(|suffix| n.ends_with(suffix)))
            })
            .collect()
    }

    fn keeps(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(name))
            && self.exclude.as_ref().is_none_or(|set| !set.is_match(name))
    }
}

fn compile(patterns: &[String]) -> Result<Option<GlobSet>, HubError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|e| HubError::InvalidInput {
            what: "glob",
            value: pattern.clone(),
            reason: e.kind().to_string(),
        })?;
        builder.add(glob);
    }
    builder.build().map(Some).map_err(|e| HubError::InvalidInput {
        what: "glob",
        value: patterns.join(","),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &[&str] = &[
        ".gitattributes",
        "README.md",
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "onnx/model.onnx",
        "1_Pooling/config.json",
        "tokenizer.json",
    ];

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn analysis_default_prefers_safetensors() {
        let f = FileFilter::analysis(&[]).unwrap();
        assert_eq!(
            f.select(REPO.iter().copied()),
            vec![
                "config.json",
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors",
                "model.safetensors.index.json"
            ]
        );
        let bin_only = ["config.json", "pytorch_model.bin", "README.md"];
        assert_eq!(f.select(bin_only.iter().copied()), vec!["config.json", "pytorch_model.bin"]);
    }

    #[test]
    fn include_exclude() {
        let all = FileFilter::new(&[], &[]).unwrap();
        assert_eq!(all.select(REPO.iter().copied()).len(), REPO.len());
        let f = FileFilter::new(&strings(&["*.json"]), &strings(&["onnx/*", "tokenizer*"])).unwrap();
        assert_eq!(
            f.select(REPO.iter().copied()),
            vec!["config.json", "model.safetensors.index.json", "1_Pooling/config.json"]
        );
        let f = FileFilter::analysis(&strings(&["*-00002-*"])).unwrap();
        assert!(!f.select(REPO.iter().copied()).contains(&"model-00002-of-00002.safetensors"));
    }

    #[test]
    fn bad_glob_is_an_error() {
        assert!(FileFilter::new(&strings(&["a[b"]), &[]).is_err());
    }
}
