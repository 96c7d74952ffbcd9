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

/// The models under `paths` as listed from their headers, and what could not be opened.
#[derive(Debug, Default)]
pub struct Listing {
    /// The models, in discovery order.
    pub models: Vec<ListedModel>,
    /// Files that could not be discovered or opened.
    pub errors: Vec<weightlens_core::Error>,
}

/// Discovers and lists the models under `paths` (no tensor data is read).
pub fn list_paths(paths: &[std::path::PathBuf]) -> Listing {
    let discovery = weightlens_readers::discover(paths);
    let mut listing = Listing { models: Vec::new(), errors: discovery.errors };
    for model in &discovery.models {
        match weightlens_readers::open_model(model) {
            Ok(source) => listing.models.push(list(source.as_ref())),
            Err(e) => listing.errors.push(e),
        }
    }
    listing
}
