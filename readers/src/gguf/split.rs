//! Split GGUF models (llama.cpp's `gguf-split`): `name-00001-of-0000N.gguf` .. `-0000N-of-0000N`,
//! each part a complete GGUF file whose metadata holds `split.no` (0-based), `split.count` and
//! `split.tensors.count`. Part 1 names the model; the other parts are found beside it.

use std::path::{Path, PathBuf};

use weightlens_core::{Error, Result};

use super::header::Header;

/// `split.count` of a header, or 1 for a file that is not split.
pub fn split_count(header: &Header, path: &Path) -> Result<u16> {
    match header.get("split.count") {
        None => Ok(1),
        Some(v) => match v.as_u64().and_then(|n| u16::try_from(n).ok()) {
            Some(n) if n >= 1 => Ok(n),
            _ => Err(Error::malformed(path, None, format!("split.count must be 1 to 65535, found {}", v.to_json()))),
        },
    }
}

/// `split.no` (0-based) of a header, 0 when absent.
pub fn split_no(header: &Header) -> Option<u64> {
    header.get("split.no").map_or(Some(0), |v| v.as_u64())
}

/// The paths of all `count` parts of the split model whose first part is `first`.
///
/// The name must follow llama.cpp's `-%05d-of-%05d.gguf` pattern with `-00001-of-` and the
/// same total as `count`.
pub fn part_paths(first: &Path, count: u16) -> Result<Vec<PathBuf>> {
    let bad = |why: String| Error::malformed(first, None, why);
    let name = first.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let suffix = format!("-00001-of-{count:05}.gguf");
    let Some(base) = name.strip_suffix(&suffix) else {
        return Err(bad(format!(
            "split.count is {count} but the file name does not end in {suffix}, so the other parts cannot be found"
        )));
    };
    Ok((1..=count).map(|k| first.with_file_name(format!("{base}-{k:05}-of-{count:05}.gguf"))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_part_beside_the_first() {
        let parts = part_paths(Path::new("/m/llama-00001-of-00003.gguf"), 3).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], PathBuf::from("/m/llama-00003-of-00003.gguf"));
        assert!(part_paths(Path::new("/m/llama.gguf"), 2).is_err());
        assert!(part_paths(Path::new("/m/llama-00001-of-00003.gguf"), 2).is_err());
    }
}
