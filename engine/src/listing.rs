//! `weightlens ls`: the tensors of each model from headers only (no tensor data is read).

use serde::Serialize;
use weightlens_core::TensorSource;

/// One tensor as listed.
#[derive(Debug, Serialize)]
pub struct Listed {
    /// Name.
    pub name: String,
    /// Storage dtype name.
    pub dtype: String,
    /// Shape (row-major).
    pub shape: Vec<u64>,
    /// Bytes in the file.
    pub bytes: u64,
    /// The file holding it.
    pub file: String,
}

/// One model as listed.
#[derive(Debug, Serialize)]
pub struct ListedModel {
    /// The path naming the model.
    pub path: String,
    /// Its framework.
    pub framework: &'static str,
    /// Format metadata.
    pub metadata: serde_json::Value,
    /// Warnings from opening it.
    pub warnings: Vec<String>,
    /// Its tensors.
    pub tensors: Vec<Listed>,
}

/// Lists `source`.
pub fn list(source: &dyn TensorSource) -> ListedModel {
    let tensors = source
        .tensors()
        .iter()
        .map(|t| Listed {
            name: t.name.clone(),
            dtype: t.dtype_name.to_string(),
            shape: t.shape.clone(),
            bytes: t.len,
            file: t.file.display().to_string(),
        })
        .collect();
    ListedModel {
        path: source.path().display().to_string(),
        framework: source.framework().as_str(),
        metadata: source.metadata(),
        warnings: source.warnings(),
        tensors,
    }
}

/// A model as aligned text lines.
pub fn render_text(model: &ListedModel) -> String {
    let mut out = format!("{} ({}, {} tensors)\n", model.path, model.framework, model.tensors.len());
    let width = model.tensors.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for t in &model.tensors {
        let dims: Vec<String> = t.shape.iter().map(u64::to_string).collect();
        out.push_str(&format!(
            "  {:<width$}  {:<8} {:<18} {:>12}\n",
            t.name,
            t.dtype,
            format!("[{}]", dims.join(", ")),
            t.bytes
        ));
    }
    out
}
