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

/// The models under `paths` as listed from their headers, and what could not be opened.
#[derive(Debug, Default)]
pub struct Listing {
    /// The models, in discovery order.
    pub models: Vec<ListedModel>,
    /// Files that could not be discovered or opened.
    pub errors: Vec<weightlens_core::Error>,
}

/// Discovers and lists the models under `paths` (no tensor data is read): their logical
/// tensors, or with `raw` the stored ones.
pub fn list_paths(paths: &[std::path::PathBuf], raw: bool) -> Listing {
    list_paths_with(weightlens_readers::ReaderRegistry::builtin(), paths, raw)
}

/// [`list_paths`] with the readers of `registry` (built-in and plugin).
pub fn list_paths_with(
    registry: &weightlens_readers::ReaderRegistry,
    paths: &[std::path::PathBuf],
    raw: bool,
) -> Listing {
    let discovery = weightlens_readers::discover_with(registry, paths);
    let mut listing = Listing { models: Vec::new(), errors: discovery.errors };
    for model in &discovery.models {
        match weightlens_readers::open_model(model) {
            Ok(source) => listing.models.push(list(source.as_ref(), raw)),
            Err(e) => listing.errors.push(e),
        }
    }
    listing
}
