//! Finding plugin libraries in the directories of `WEIGHTLENS_PLUGIN_PATH`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The environment variable listing plugin directories (`:`-separated; `;` on Windows).
pub const PLUGIN_PATH_ENV: &str = "WEIGHTLENS_PLUGIN_PATH";

/// Every shared library (`.so`, `.dylib` or `.dll`, as the platform names them) directly inside
/// the directories listed in `WEIGHTLENS_PLUGIN_PATH`, in the order of the directories and by
/// file name within each, each path once. Directories that cannot be read are skipped with a
/// warning (through `tracing`).
pub fn plugin_paths_from_env() -> Vec<PathBuf> {
    std::env::var_os(PLUGIN_PATH_ENV).map(|value| plugin_paths_in(&value)).unwrap_or_default()
}

/// [`plugin_paths_from_env`] for an explicit variable value.
pub fn plugin_paths_in(value: &OsStr) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for dir in std::env::split_paths(value).filter(|d| !d.as_os_str().is_empty()) {
        for path in libraries_in(&dir) {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    paths
}

fn libraries_in(dir: &Path) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "{PLUGIN_PATH_ENV}: cannot read directory");
            return Vec::new();
        }
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension() == Some(OsStr::new(std::env::consts::DLL_EXTENSION)) && p.is_file())
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_libraries_of_each_directory_in_order() {
        let ext = std::env::consts::DLL_EXTENSION;
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for name in [format!("zeta.{ext}"), format!("alpha.{ext}"), "notes.txt".into(), format!("x.{ext}.bak")] {
            std::fs::write(a.path().join(name), b"").unwrap();
        }
        std::fs::create_dir(a.path().join(format!("dir.{ext}"))).unwrap();
        std::fs::write(b.path().join(format!("beta.{ext}")), b"").unwrap();

        let value = std::env::join_paths([b.path(), Path::new("/nonexistent/weightlens"), a.path(), b.path()]).unwrap();
        let found = plugin_paths_in(&value);
        let expected = [
            b.path().join(format!("beta.{ext}")),
            a.path().join(format!("alpha.{ext}")),
            a.path().join(format!("zeta.{ext}")),
        ];
        assert_eq!(found, expected);
        assert!(plugin_paths_in(OsStr::new("")).is_empty());
    }
}
