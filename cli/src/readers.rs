//! The reader registry of a command: the built-in readers plus the reader plugins among the
//! libraries given with `--plugin` and found through `WEIGHTLENS_PLUGIN_PATH`.

use std::path::PathBuf;
use std::sync::Arc;

use weightlens_analyzers::plugin::{load_reader_plugins, plugin_paths_from_env};
use weightlens_core::{Error, FormatReader};
use weightlens_readers::ReaderRegistry;

/// The registry, and one error per reader plugin that could not be used (the others still are).
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
