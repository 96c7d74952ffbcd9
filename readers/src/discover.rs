//! Finding the models under the user's paths.
//!
//! A path may be a file or a directory (walked recursively, in sorted order). Each model is
//! reported once: a directory holding a shard index is one model (the shards it lists are not
//! reported again), and a split GGUF is one model named by its first part. Files whose content
//! is not a model are skipped quietly unless their extension says they should be one
//! (`bad.safetensors` that is not safetensors is an error; `README.md` is not).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weightlens_core::{Error, FormatReader, Framework};

use crate::registry::ReaderRegistry;

/// A model found by [`discover`].
#[derive(Clone, Debug)]
pub struct ModelRef {
    /// The file naming the model (the index of a sharded checkpoint, the first part of a split).
    pub path: PathBuf,
    /// The reader that recognised it.
    pub reader: Arc<dyn FormatReader>,
}

/// What [`discover`] found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// The models, in a deterministic order.
    pub models: Vec<ModelRef>,
    /// Paths that could not be used (unreadable, or model-like files of unknown format).
    pub errors: Vec<Error>,
}

/// Finds every model under `inputs` that a built-in reader reads.
pub fn discover(inputs: &[PathBuf]) -> Discovery {
    discover_with(ReaderRegistry::builtin(), inputs)
}

/// Finds every model under `inputs` that a reader of `registry` reads.
pub fn discover_with(registry: &ReaderRegistry, inputs: &[PathBuf]) -> Discovery {
    let mut found = Discovery::default();
    let mut visited_dirs = HashSet::new();
    for input in inputs {
        match std::fs::metadata(input) {
            Err(e) => found.errors.push(Error::io(input, e)),
            Ok(meta) if meta.is_dir() => walk_dir(registry, input, &mut visited_dirs, &mut found),
            Ok(_) => match registry.detect_file(input) {
                Ok(reader) => found.models.push(ModelRef { path: input.clone(), reader }),
                Err(e) => found.errors.push(e),
            },
        }
    }
    found
}

fn walk_dir(registry: &ReaderRegistry, dir: &Path, visited: &mut HashSet<PathBuf>, found: &mut Discovery) {
    // Symlinked directories are followed once each: the canonical path breaks loops.
    let Ok(canonical) = dir.canonicalize() else {
        found.errors.push(Error::io(dir, std::io::Error::other("cannot resolve directory")));
        return;
    };
    if !visited.insert(canonical) {
        tracing::debug!(dir = %dir.display(), "directory already visited (symlink loop?)");
        return;
    }
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            found.errors.push(Error::io(dir, e));
            return;
        }
    };
    entries.sort();

    let mut files = Vec::new();
    let mut subdirs = Vec::new();
    for path in entries {
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => subdirs.push(path),
            Ok(m) if m.is_file() => files.push(path),
            Ok(_) => {}
            Err(e) => found.errors.push(Error::io(&path, e)),
        }
    }

    let mut models = Vec::new();
    let mut errors = Vec::new();
    let mut covered: HashSet<PathBuf> = HashSet::new();
    for path in &files {
        match registry.detect_file(path) {
            Ok(reader) => {
                covered.extend(reader.members(path));
                models.push(ModelRef { path: path.clone(), reader });
            }
            Err(e) if registry.claims_extension(path) => errors.push(e),
            Err(e) => tracing::debug!("skipping {e}"),
        }
    }
    let paths: HashSet<PathBuf> = models.iter().map(|m| m.path.clone()).collect();
    models.retain(|m| {
        if covered.contains(&m.path) {
            return false;
        }
        // Later parts of a split model are read through the file naming it when it is present.
        !m.reader.lead_file(&m.path).is_some_and(|lead| paths.contains(&lead))
    });
    // A file read as part of another model (an external-data file, a shard) is no error.
    errors.retain(|e: &Error| !covered.contains(e.path()));
    found.models.extend(models);
    found.errors.extend(errors);
    for sub in subdirs {
        walk_dir(registry, &sub, visited, found);
    }
}

/// Where a checkpoint file stands in the order `transformers`' `from_pretrained` looks for weights
/// in a directory, lowest first, for the formats it loads (safetensors and PyTorch); `None` for
/// any other format. transformers tries `model.safetensors`, then `model.safetensors.index.json`
/// (sharded), then `pytorch_model.bin`, then `pytorch_model.bin.index.json`: safetensors before
/// PyTorch, a single file before a shard index. Other names (`consolidated.safetensors`,
/// `model.pt`) follow the same two rules after the names transformers knows. `is_index` says
/// whether `path` is a shard index (an index's format is that of its shards).
pub fn load_preference(path: &Path, framework: Framework, is_index: bool) -> Option<u8> {
    let (format_rank, known_name) = match framework {
        Framework::SAFETENSORS => (0, if is_index { "model.safetensors.index.json" } else { "model.safetensors" }),
        Framework::PYTORCH => (1, if is_index { "pytorch_model.bin.index.json" } else { "pytorch_model.bin" }),
        _ => return None,
    };
    let named = path.file_name().is_some_and(|n| n == known_name);
    let within = match (named, is_index) {
        (true, false) => 0,
        (true, true) => 1,
        (false, false) => 2,
        (false, true) => 3,
    };
    Some(format_rank * 4 + within)
}

/// For `name-0000K-of-0000N.gguf`: (`name` with part 1's file name, K).
pub fn split_part(path: &Path) -> Option<(PathBuf, u32)> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".gguf")?;
    let (rest, total) = stem.rsplit_once("-of-")?;
    let (base, part) = rest.rsplit_once('-')?;
    if part.len() != 5 || total.len() != 5 {
        return None;
    }
    let k: u32 = part.parse().ok()?;
    let _: u32 = total.parse().ok()?;
    Some((path.with_file_name(format!("{base}-00001-of-{total}.gguf")), k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_parts_are_recognised() {
        let (first, k) = split_part(Path::new("/m/llama-00002-of-00003.gguf")).unwrap();
        assert_eq!((first, k), (PathBuf::from("/m/llama-00001-of-00003.gguf"), 2));
        assert_eq!(split_part(Path::new("/m/llama.gguf")), None);
        assert_eq!(split_part(Path::new("/m/x-1-of-2.gguf")), None);
    }

    #[test]
    fn load_preference_follows_transformers() {
        let rank = |name: &str, fw, index| load_preference(Path::new(name), fw, index).unwrap();
        let order = [
            rank("model.safetensors", Framework::SAFETENSORS, false),
            rank("model.safetensors.index.json", Framework::SAFETENSORS, true),
            rank("consolidated.safetensors", Framework::SAFETENSORS, false),
            rank("pytorch_model.bin", Framework::PYTORCH, false),
            rank("pytorch_model.bin.index.json", Framework::PYTORCH, true),
            rank("consolidated.00.pth", Framework::PYTORCH, false),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert_eq!(load_preference(Path::new("model.gguf"), Framework::GGUF, false), None);
    }
}
