//! Finding the models under the user's paths.
//!
//! A path may be a file or a directory (walked recursively, in sorted order). Each model is
//! reported once: a directory holding a shard index is one model (the shards it lists are not
//! reported again), and a split GGUF is one model named by its first part. Files whose content
//! is not a model are skipped quietly unless their extension says they should be one
//! (`bad.safetensors` that is not safetensors is an error; `README.md` is not).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use weightlens_core::Error;

use crate::detect::{detect_file, Format};

/// Extensions of files that are expected to be models; such a file that is not recognised is an
/// error rather than something to skip.
const MODEL_EXTENSIONS: &[&str] =
    &["safetensors", "gguf", "bin", "pt", "pth", "ckpt", "npy", "npz", "pkl", "pickle", "sav", "joblib", "pts"];

/// A model found by [`discover`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRef {
    /// The file naming the model (the index of a sharded checkpoint, the first part of a split).
    pub path: PathBuf,
    /// Its detected format.
    pub format: Format,
}

/// What [`discover`] found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// The models, in a deterministic order.
    pub models: Vec<ModelRef>,
    /// Paths that could not be used (unreadable, or model-like files of unknown format).
    pub errors: Vec<Error>,
}

/// Finds every model under `inputs`.
pub fn discover(inputs: &[PathBuf]) -> Discovery {
    let mut found = Discovery::default();
    let mut visited_dirs = HashSet::new();
    for input in inputs {
        match std::fs::metadata(input) {
            Err(e) => found.errors.push(Error::io(input, e)),
            Ok(meta) if meta.is_dir() => walk_dir(input, &mut visited_dirs, &mut found),
            Ok(_) => match detect_file(input) {
                Ok(format) => found.models.push(ModelRef { path: input.clone(), format }),
                Err(e) => found.errors.push(e),
            },
        }
    }
    found
}

fn walk_dir(dir: &Path, visited: &mut HashSet<PathBuf>, found: &mut Discovery) {
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
    let mut covered: HashSet<PathBuf> = HashSet::new();
    for path in &files {
        match detect_file(path) {
            Ok(Format::ShardIndex) => {
                covered.extend(shard_files(path));
                models.push(ModelRef { path: path.clone(), format: Format::ShardIndex });
            }
            Ok(format) => models.push(ModelRef { path: path.clone(), format }),
            Err(e) if has_model_extension(path) => found.errors.push(e),
            Err(e) => tracing::debug!("skipping {e}"),
        }
    }
    let first_parts: HashSet<PathBuf> =
        models.iter().filter_map(|m| split_part(&m.path)).filter(|(_, k)| *k == 1).map(|(p, _)| p).collect();
    models.retain(|m| {
        if covered.contains(&m.path) {
            return false;
        }
        // Parts 2..N of a split GGUF are read through part 1 when it is present.
        !matches!(split_part(&m.path), Some((stem, k)) if k > 1 && m.format == Format::Gguf && first_parts.contains(&stem))
    });
    found.models.extend(models);
    for sub in subdirs {
        walk_dir(&sub, visited, found);
    }
}

fn has_model_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MODEL_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The shard files an index lists (resolved against the index's directory). An unreadable
/// index lists nothing here; opening it reports the problem.
pub fn shard_files(index: &Path) -> Vec<PathBuf> {
    let dir = index.parent().unwrap_or(Path::new("."));
    let Ok(text) = std::fs::read(index) else { return Vec::new() };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&text) else { return Vec::new() };
    let Some(map) = json.get("weight_map").and_then(|m| m.as_object()) else { return Vec::new() };
    map.values().filter_map(|v| v.as_str()).map(|f| dir.join(f)).collect()
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
}
