//! Format detection from a file's first bytes (never from its name).

use std::io::Read;
use std::path::Path;

use weightlens_core::{Error, Result};

/// The container formats weightlens recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// A safetensors file (8-byte little-endian header length, then a JSON object).
    Safetensors,
    /// A JSON index of a sharded checkpoint (`model.safetensors.index.json`,
    /// `pytorch_model.bin.index.json`): `{"weight_map": {...}}`.
    ShardIndex,
    /// A GGUF file (`GGUF` magic).
    Gguf,
    /// A PyTorch zip checkpoint (torch >= 1.6: `<prefix>/data.pkl` inside a zip).
    TorchZip,
    /// A legacy PyTorch checkpoint (pickle protocol 2 starting with torch's magic number).
    TorchLegacy,
    /// A TorchScript archive (`torch.jit.save`: `data.pkl`, `constants.pkl` and `code/` in a zip).
    TorchScript,
    /// A bare pickle stream (`pickle.dump`, protocols 0-5), recognised by opcodes that parse.
    Pickle,
    /// A numpy `.npy` file (`\x93NUMPY` magic).
    Npy,
    /// A numpy `.npz` archive (a zip of `.npy` members).
    Npz,
}

impl Format {
    /// A short human name of the format.
    pub fn name(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
            Format::ShardIndex => "sharded checkpoint index",
            Format::Gguf => "GGUF",
            Format::TorchZip => "PyTorch zip",
            Format::TorchLegacy => "PyTorch legacy",
            Format::TorchScript => "TorchScript",
            Format::Pickle => "pickle",
            Format::Npy => "NumPy .npy",
            Format::Npz => "NumPy .npz",
        }
    }
}

/// Bytes read from the start of a file for detection.
pub const HEAD_LEN: usize = 4096;

/// torch's legacy magic number 0x1950a86a20f9469cfc6c, pickled as `LONG1` (10 little-endian bytes).
const TORCH_LEGACY_MAGIC: [u8; 14] =
    [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Why [`detect`] recognised no format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// The file has no bytes.
    #[error("empty file")]
    Empty,
    /// JSON, but without the `weight_map` of a sharded checkpoint index.
    #[error("a JSON file that is not a sharded checkpoint index")]
    JsonNotIndex,
    /// Fewer bytes than any format's magic needs.
    #[error("file too short ({len} bytes) for any model format")]
    TooShort {
        /// The file's length.
        len: usize,
    },
    /// No known magic.
    #[error("magic does not match any supported format")]
    UnknownMagic,
    /// A zip archive cut before the name of its first member.
    #[error("zip archive too short to name its first member")]
    ZipTooShort,
    /// A zip archive whose central directory holds neither a torch `data.pkl` nor only `.npy`s.
    #[error("a zip archive of {members} members, neither a torch checkpoint (no data.pkl) nor an .npz")]
    ZipNoModel {
        /// Members in the central directory.
        members: usize,
    },
    /// A zip archive that is neither a torch checkpoint nor an npz.
    #[error("a zip archive whose first member ({first_member}) is neither a torch checkpoint nor an .npy array")]
    ZipUnknown {
        /// The first member's name (lossily decoded).
        first_member: String,
    },
}

/// Recognises a format from the first bytes of a file (`head`: up to [`HEAD_LEN`] bytes).
/// Returns the reason when nothing matches.
pub fn detect(head: &[u8]) -> std::result::Result<Format, DetectError> {
    if head.is_empty() {
        return Err(DetectError::Empty);
    }
    if head.starts_with(b"GGUF") {
        return Ok(Format::Gguf);
    }
    if head.starts_with(b"\x93NUMPY") {
        return Ok(Format::Npy);
    }
    if head.starts_with(&TORCH_LEGACY_MAGIC) {
        return Ok(Format::TorchLegacy);
    }
    if head.starts_with(b"PK\x03\x04") {
        return detect_zip(head);
    }
    if head.len() >= 9 && head[8] == b'{' {
        return Ok(Format::Safetensors);
    }
    let text = head.iter().position(|b| !b.is_ascii_whitespace()).map(|i| &head[i..]);
    if let Some(json) = text.filter(|t| t.starts_with(b"{")) {
        if json.windows(12).any(|w| w == b"\"weight_map\"") {
            return Ok(Format::ShardIndex);
        }
        return Err(DetectError::JsonNotIndex);
    }
    // After safetensors: its 8-byte length may begin like a pickle protocol header.
    if looks_like_pickle(head) {
        return Ok(Format::Pickle);
    }
    if head.len() < 9 {
        return Err(DetectError::TooShort { len: head.len() });
    }
    Err(DetectError::UnknownMagic)
}

/// True if `head` is the start of a pickle: a binary protocol header (`\x80` and 0-5), or
/// protocol 0/1 opcodes that parse up to a `STOP` or the end of `head` (text files fail on
/// their first bytes).
fn looks_like_pickle(head: &[u8]) -> bool {
    if let [0x80, proto, ..] = head {
        return *proto <= 5;
    }
    let path = Path::new("");
    let (parsed, record) = crate::pytorch::pickle::parse_recorded(head, path, 0);
    parsed.is_ok() || (head.len() >= HEAD_LEN && record.ran_out)
}

/// Classifies a zip archive by the names in its central directory (authoritative: a local
/// header may lie): `<prefix>data.pkl` is a torch checkpoint, a TorchScript archive when
/// `constants.pkl` or `code/` sit beside it; `.npy` members only make an npz.
pub fn classify_zip<'a>(names: impl IntoIterator<Item = &'a str> + Clone) -> std::result::Result<Format, DetectError> {
    let mut npy = 0usize;
    let mut total = 0usize;
    let mut pickle = false;
    for name in names.clone() {
        total += 1;
        npy += usize::from(name.ends_with(".npy"));
        pickle |= name.strip_suffix("data.pkl").is_some_and(|p| p.is_empty() || p.ends_with('/'));
    }
    if pickle {
        return Ok(if is_torchscript(names) { Format::TorchScript } else { Format::TorchZip });
    }
    if npy > 0 && names.into_iter().all(|n| n.ends_with(".npy") || n.ends_with('/')) {
        return Ok(Format::Npz);
    }
    Err(DetectError::ZipNoModel { members: total })
}

/// True when the archive's names hold TorchScript's `constants.pkl` or `code/` beside a
/// `data.pkl`.
pub fn is_torchscript<'a>(names: impl IntoIterator<Item = &'a str>) -> bool {
    names.into_iter().any(|n| {
        let leaf = n.rsplit_once('/').map_or(n, |(_, leaf)| leaf);
        leaf == "constants.pkl" || n.starts_with("code/") || n.contains("/code/")
    })
}

/// Detects the format of a whole file held in `bytes`: zip archives by their central
/// directory, everything else by its first bytes.
pub fn detect_bytes(bytes: &[u8]) -> std::result::Result<Format, DetectError> {
    let head = bytes.get(..HEAD_LEN).unwrap_or(bytes);
    if !head.starts_with(b"PK\x03\x04") {
        return detect(head);
    }
    match crate::zipdir::names(bytes) {
        Some(names) => classify_zip(names.iter().map(String::as_str)),
        None => detect(head),
    }
}

/// Tells a torch zip from an npz by the first member's name (torch writes `<prefix>/data.pkl`
/// or `<prefix>/version` first, numpy writes `<name>.npy` members only). Only a hint from the
/// first bytes: [`detect_bytes`] and [`detect_file`] read the central directory.
fn detect_zip(head: &[u8]) -> std::result::Result<Format, DetectError> {
    let name_len = head.get(26..28).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let name = name_len.and_then(|n| head.get(30..30 + n));
    let Some(name) = name else {
        return Err(DetectError::ZipTooShort);
    };
    if name.ends_with(b".npy") {
        return Ok(Format::Npz);
    }
    if name.ends_with(b".pkl") || name.ends_with(b"/version") || name.ends_with(b"/byteorder") {
        return Ok(Format::TorchZip);
    }
    Err(DetectError::ZipUnknown { first_member: String::from_utf8_lossy(name).into_owned() })
}

/// Detects the format of the file at `path` from its first bytes (a zip archive from its
/// central directory).
pub fn detect_file(path: &Path) -> Result<Format> {
    ensure_regular_file(path)?;
    let mut head = Vec::with_capacity(HEAD_LEN);
    std::fs::File::open(path)
        .and_then(|f| f.take(HEAD_LEN as u64).read_to_end(&mut head))
        .map_err(|e| Error::io(path, e))?;
    let unknown = |e: DetectError| Error::UnknownFormat { path: path.to_path_buf(), reason: e.to_string() };
    if head.starts_with(b"PK\x03\x04") {
        let map = crate::mmap::MappedFile::open(path)?;
        return detect_bytes(map.bytes()).map_err(unknown);
    }
    detect(&head).map_err(unknown)
}

/// Refuses anything but a regular file (after symlinks): opening a FIFO blocks until a
/// writer appears, and a device or socket is not a model.
pub fn ensure_regular_file(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_file() {
        return Ok(());
    }
    let kind = if meta.is_dir() { "a directory" } else { "not a regular file (a FIFO, socket or device)" };
    Err(Error::io(path, std::io::Error::other(format!("{kind}: not read"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_magic() {
        assert_eq!(detect(b"GGUF\x03\0\0\0"), Ok(Format::Gguf));
        assert_eq!(detect(b"\x93NUMPY\x01\0"), Ok(Format::Npy));
        assert_eq!(detect(b"\x10\0\0\0\0\0\0\0{\"a\":1}"), Ok(Format::Safetensors));
        assert_eq!(detect(b"{\n \"metadata\": {}, \"weight_map\": {}}"), Ok(Format::ShardIndex));
        assert_eq!(detect(&TORCH_LEGACY_MAGIC), Ok(Format::TorchLegacy));
        assert!(detect(b"").is_err());
        assert_eq!(detect(b"this is not a gguf file\n"), Err(DetectError::UnknownMagic));
        assert!(DetectError::UnknownMagic.to_string().contains("magic"));
        assert!(detect(b"{\"architectures\": []}").is_err());
    }

    #[test]
    fn tells_torch_zip_from_npz() {
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend([0u8; 22]);
        zip.extend(16u16.to_le_bytes());
        zip.extend([0u8; 2]);
        zip.extend(b"archive/data.pkl");
        assert_eq!(detect(&zip), Ok(Format::TorchZip));
        let n = zip.len();
        zip[n - 16..].copy_from_slice(b"params/Dense.npy");
        assert_eq!(detect(&zip), Ok(Format::Npz));
    }

    #[test]
    fn classifies_zips_by_their_directory() {
        assert_eq!(classify_zip(["m/data.pkl", "m/data/0", "m/version"]), Ok(Format::TorchZip));
        assert_eq!(classify_zip(["m/data/0", "m/data.pkl", "m/constants.pkl", "m/code/m.py"]), Ok(Format::TorchScript));
        assert_eq!(classify_zip(["a.npy", "b.npy"]), Ok(Format::Npz));
        assert!(classify_zip(["a.npy", "notes.txt"]).is_err());
        assert!(classify_zip(["m/datap.kl"]).is_err());
    }

    #[test]
    fn detects_bare_pickles_by_parsing() {
        assert_eq!(detect(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94."), Ok(Format::Pickle));
        assert_eq!(detect(b"(dp0\nS'a'\np1\nI1\ns."), Ok(Format::Pickle));
        assert_eq!(detect(b"cos\nsystem\n(S'ls'\ntR."), Ok(Format::Pickle));
        assert!(detect(b"(Hello, this is a text file)\n").is_err());
        assert!(detect(b"Import notes: nothing here\n").is_err());
    }
}
