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
    /// The quantization scheme of a logical quantized tensor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quant_scheme: Option<String>,
    /// The stored tensors grouped into a logical quantized tensor.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
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

/// Lists `source`: its logical tensors, or with `raw` the stored ones.
pub fn list(source: &dyn TensorSource, raw: bool) -> ListedModel {
    let infos = if raw { source.raw_tensors() } else { source.tensors() };
    let tensors = infos
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let quant = if raw { None } else { source.quant(i) };
            Listed {
                name: t.name.clone(),
                dtype: t.dtype_name.to_string(),
                shape: t.shape.clone(),
                bytes: quant.map_or(t.len, |q| q.stored_bytes),
                file: t.file.display().to_string(),
                quant_scheme: quant.map(|q| q.scheme.clone()),
                components: quant.map(|q| q.components.clone()).unwrap_or_default(),
            }
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
            "  {:<width$}  {:<8} {:<18} {:>12}{}\n",
            t.name,
            t.dtype,
            format!("[{}]", dims.join(", ")),
            t.bytes,
            t.quant_scheme.as_ref().map_or(String::new(), |s| format!("  {s} ({} stored tensors)", t.components.len()))
        ));
    }
    out
}
