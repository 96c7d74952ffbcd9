//! The plugin host: analyzers in shared libraries that follow the C ABI of
//! `weightlens-plugin-api` (see PLUGINS.md).
//!
//! - [`Plugin::load`] opens a library, checks its entry symbol and ABI version before anything
//!   else, and validates its table;
//! - [`PluginAnalyzer`] is a plugin context as a [`weightlens_core::TensorAnalyzer`] with the
//!   columns `<plugin>.<metric>`;
//! - [`load_plugins`] loads a list of libraries for an analysis, one error per library that
//!   cannot be used;
//! - [`plugin_paths_from_env`] lists the libraries of `WEIGHTLENS_PLUGIN_PATH`;
//! - [`check`] loads a plugin and runs it once on a built-in tensor.
//!
//! A library stays loaded while any [`Plugin`] or [`PluginAnalyzer`] from it lives. Calls into
//! plugins that do not declare themselves thread-safe are serialized.

mod analyzer;
mod check;
mod library;
mod paths;

use std::collections::HashMap;
use std::path::PathBuf;

pub use analyzer::PluginAnalyzer;
pub use check::{check, check_tensor_values, CheckReport, CHECK_TENSOR_NAME, CHECK_TENSOR_SHAPE};
pub use library::{Plugin, PluginInfo};
pub use paths::{plugin_paths_from_env, plugin_paths_in, PLUGIN_PATH_ENV};
use weightlens_core::{Error, TensorAnalyzer};

/// Loads the plugins at `paths` (in order) for one analysis.
///
/// Returns the analyzers that could be created and one error per library that could not (each
/// naming the library), so that an analysis can go on with the others. A file listed twice is
/// loaded once; a plugin whose name is already taken by an earlier one (its columns would
/// collide) is an error.
pub fn load_plugins(paths: &[PathBuf]) -> (Vec<PluginAnalyzer>, Vec<Error>) {
    let mut analyzers: Vec<PluginAnalyzer> = Vec::new();
    let mut errors = Vec::new();
    let mut by_name: HashMap<String, PathBuf> = HashMap::new();
    let mut seen_files = Vec::new();
    for path in paths {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        if seen_files.contains(&canonical) {
            continue;
        }
        seen_files.push(canonical);
        match PluginAnalyzer::load(path) {
            Ok(analyzer) => {
                if let Some(first) = by_name.get(analyzer.name()) {
                    errors.push(library::load_error(
                        path,
                        format!("plugin name {:?} is already used by {}", analyzer.name(), first.display()),
                    ));
                    continue;
                }
                by_name.insert(analyzer.name().to_owned(), path.clone());
                analyzers.push(analyzer);
            }
            Err(e) => errors.push(e),
        }
    }
    (analyzers, errors)
}
