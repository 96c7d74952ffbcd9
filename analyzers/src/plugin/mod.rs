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
mod reader;

use std::collections::HashMap;
use std::path::PathBuf;

pub use analyzer::PluginAnalyzer;
pub use check::{check, check_tensor_values, CheckReport, CHECK_TENSOR_NAME, CHECK_TENSOR_SHAPE};
pub use library::{Plugin, PluginInfo};
pub use paths::{plugin_paths_from_env, plugin_paths_in, PLUGIN_PATH_ENV};
pub use reader::{has_analyzer_entry, has_reader_entry, PluginSource, ReaderPlugin};
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
        // A library that provides only a reader is loaded by `load_reader_plugins`.
        if has_reader_entry(path) && !has_analyzer_entry(path) {
            continue;
        }
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

/// Loads the reader plugins among `paths` (libraries exporting `weightlens_reader_v1`; the
/// others are skipped here). One error per library that exports it but cannot be used; a
/// reader id used twice is an error for the second library.
pub fn load_reader_plugins(paths: &[PathBuf]) -> (Vec<ReaderPlugin>, Vec<Error>) {
    let mut readers: Vec<ReaderPlugin> = Vec::new();
    let mut errors = Vec::new();
    let mut seen_files = Vec::new();
    for path in paths {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        if seen_files.contains(&canonical) || !has_reader_entry(path) {
            continue;
        }
        seen_files.push(canonical);
        match ReaderPlugin::load(path) {
            Ok(r) => {
                use weightlens_core::FormatReader;
                if let Some(first) = readers.iter().find(|x| x.id() == r.id()) {
                    errors.push(library::load_error(
                        path,
                        format!("reader id {:?} is already used by {}", r.id(), first.path().display()),
                    ));
                    continue;
                }
                readers.push(r);
            }
            Err(e) => errors.push(e),
        }
    }
    (readers, errors)
}
