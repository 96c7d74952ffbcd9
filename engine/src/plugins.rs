//! The plugins of a run: analyzer plugins and reader plugins among the libraries given (the
//! CLI's `--plugin`, Python's `plugins=`) and those found through `WEIGHTLENS_PLUGIN_PATH`.

use std::path::PathBuf;
use std::sync::Arc;

use weightlens_analyzers::plugin::{load_plugins, load_reader_plugins, plugin_paths_from_env};
use weightlens_core::{Error, FormatReader, TensorAnalyzer};
use weightlens_readers::ReaderRegistry;

use crate::meta::plugin_record;

/// The built-in readers plus the reader plugins among `plugins` and `WEIGHTLENS_PLUGIN_PATH`,
/// and one error per reader plugin that could not be used (the others still are).
pub fn registry_with_plugins(plugins: &[PathBuf]) -> (ReaderRegistry, Vec<Error>) {
    let mut paths = plugins.to_vec();
    paths.extend(plugin_paths_from_env());
    let (readers, mut errors) = load_reader_plugins(&paths);
    let mut registry = ReaderRegistry::with_builtin();
    for reader in readers {
        let path = reader.path().to_path_buf();
        if let Err(e) = registry.register(Arc::new(reader) as Arc<dyn FormatReader>) {
            errors.push(Error::malformed(path, None, format!("cannot load plugin: {e}")));
        }
    }
    (registry, errors)
}

/// What the plugins of a run add to its [`crate::AnalyzeConfig`] and `run_meta.json`.
pub struct RunPlugins {
    /// Analyzer plugins, for [`crate::AnalyzeConfig::extra_analyzers`].
    pub analyzers: Vec<Arc<dyn TensorAnalyzer>>,
    /// Built-in and plugin readers, for [`crate::AnalyzeConfig::readers`].
    pub readers: ReaderRegistry,
    /// The loaded analyzer plugins as `run_meta.json` lists them ([`crate::meta::RunMeta::plugins`]).
    pub records: Vec<serde_json::Value>,
    /// One error per library that could not be used: they belong in the run's errors.
    pub errors: Vec<Error>,
}

/// Loads the plugins of a run from `plugins` and `WEIGHTLENS_PLUGIN_PATH`.
pub fn load_run_plugins(plugins: &[PathBuf]) -> RunPlugins {
    let mut paths = plugins.to_vec();
    paths.extend(plugin_paths_from_env());
    let (analyzers, mut errors) = load_plugins(&paths);
    let (readers, reader_errors) = registry_with_plugins(plugins);
    errors.extend(reader_errors);
    RunPlugins {
        records: analyzers.iter().map(|p| plugin_record(p.info())).collect(),
        analyzers: analyzers.into_iter().map(|p| Arc::new(p) as Arc<dyn TensorAnalyzer>).collect(),
        readers,
        errors,
    }
}

impl std::fmt::Debug for RunPlugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunPlugins")
            .field("analyzers", &self.analyzers.len())
            .field("records", &self.records)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}
