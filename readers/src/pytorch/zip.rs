//! torch >= 1.6 zip checkpoints: `<prefix>/data.pkl` (the pickled object), `<prefix>/data/<key>`
//! (one member per storage), `<prefix>/byteorder` (`little` or `big`; absent means little) and
//! `<prefix>/version`. The prefix is whatever the archive uses (`archive/`, the file stem...).
//!
//! torch writes members uncompressed and 64-byte aligned, so storages are served zero-copy from
//! the memory map; a deflated member (a re-packed archive) is inflated on demand, never past the
//! bytes the tensor needs.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::Path;

use weightlens_core::{ByteOrder, Error, Result};
use zip::{CompressionMethod, ZipArchive};

use super::{Member, Packing};
use crate::zipdir;

/// Largest `data.pkl` inflated from a compressed member.
pub const MAX_PICKLE_BYTES: u64 = 1 << 30;
/// Largest `byteorder` member read.
const MAX_BYTEORDER_BYTES: u64 = 16;

/// What a torch zip holds, read from its central directory and small members only.
#[derive(Debug)]
pub struct ZipLayout<'a> {
    /// The bytes of `data.pkl` (borrowed when stored).
    pub pickle: Cow<'a, [u8]>,
    /// The absolute offset of `data.pkl`'s bytes when stored (for error messages), else 0.
    pub pickle_offset: u64,
    /// The member prefix (`archive/`).
    pub prefix: String,
    /// Byte order of the storages.
    pub order: ByteOrder,
    /// Storage members by key.
    pub storages: HashMap<String, Member>,
    /// Local headers that disagree with the central directory.
    pub warnings: Vec<String>,
    /// True for a TorchScript archive (`torch.jit.save`: `constants.pkl` and `code/`).
    pub torchscript: bool,
}

/// Reads the layout of the torch zip held in `bytes`, through its central directory.
pub fn read<'a>(bytes: &'a [u8], path: &Path) -> Result<ZipLayout<'a>> {
    let dir = zipdir::read(bytes).map_err(|e| Error::malformed(path, None, e.to_string()))?;
    let mut members: Vec<(String, Member)> = Vec::with_capacity(dir.entries.len());
    for e in &dir.entries {
        let packing = if e.encrypted {
            Packing::Unsupported("encrypted".to_string())
        } else {
            match e.method {
                CompressionMethod::Stored if e.compressed_size == e.size => Packing::Stored,
                CompressionMethod::Stored => Packing::Unsupported("stored with differing sizes".to_string()),
                CompressionMethod::Deflated => Packing::Deflated { index: e.index },
                other => Packing::Unsupported(format!("compressed with {other}")),
            }
        };
        members.push((e.name.clone(), Member { offset: e.data_start, len: e.size, packing }));
    }
    let torchscript = crate::detect::is_torchscript(members.iter().map(|(name, _)| name.as_str()));
    let warnings = dir
        .mismatches
        .iter()
        .map(|m| {
            format!(
                "{}: zip member {} (local header at byte {}): {}; read as the central directory says, as torch does",
                path.display(),
                m.name,
                m.offset,
                m.what
            )
        })
        .collect();
    // The top-most data.pkl (TorchScript archives hold others deeper).
    let pickle = members
        .iter()
        .filter_map(|(name, m)| {
            name.strip_suffix("data.pkl").filter(|p| p.is_empty() || p.ends_with('/')).map(|p| (p, m))
        })
        .min_by_key(|(prefix, _)| prefix.matches('/').count());
    let Some((prefix, pickle)) = pickle else {
        return Err(Error::malformed(path, None, "zip archive has no data.pkl: not a torch checkpoint"));
    };
    let prefix = prefix.to_string();
    let pickle_member = pickle.clone();
    let data_prefix = format!("{prefix}data/");
    let mut storages = HashMap::new();
    let mut byteorder = None;
    for (name, member) in members {
        if let Some(key) = name.strip_prefix(&data_prefix) {
            storages.insert(key.to_string(), member);
        } else if name.strip_prefix(&prefix) == Some("byteorder") {
            byteorder = Some(member);
        }
    }
    let order = match byteorder {
        None => ByteOrder::Little,
        Some(m) => match read_member(bytes, &m, MAX_BYTEORDER_BYTES, path, "byteorder")?.as_ref() {
            b"little" => ByteOrder::Little,
            b"big" => ByteOrder::Big,
            other => {
                return Err(Error::malformed(
                    path,
                    Some(m.offset),
                    format!("byteorder is {:?}, not \"little\" or \"big\"", String::from_utf8_lossy(other)),
                ))
            }
        },
    };
    let pickle_offset = if pickle_member.packing == Packing::Stored { pickle_member.offset } else { 0 };
    let pickle = read_member(bytes, &pickle_member, MAX_PICKLE_BYTES, path, "data.pkl")?;
    Ok(ZipLayout { pickle, pickle_offset, prefix, order, storages, warnings, torchscript })
}

/// The whole content of a small member, refusing members larger than `limit`.
fn read_member<'a>(bytes: &'a [u8], m: &Member, limit: u64, path: &Path, what: &str) -> Result<Cow<'a, [u8]>> {
    if m.len > limit {
        return Err(Error::malformed(path, Some(m.offset), format!("{what} is {} bytes (limit {limit})", m.len)));
    }
    member_bytes(bytes, m, m.len)
        .map_err(|message| Error::malformed(path, Some(m.offset), format!("{what}: {message}")))
}

/// Why [`member_bytes`] could not deliver a member's bytes (the caller attaches the file or
/// tensor).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemberError {
    /// Fewer bytes in the member than asked for.
    #[error("member holds {holds} bytes, {needed} needed")]
    Short {
        /// The member's size.
        holds: u64,
        /// Bytes asked for.
        needed: u64,
    },
    /// Encrypted, or compressed other than by deflate.
    #[error("member is {0}, which is not supported")]
    Unsupported(String),
    /// A stored member's data runs past the end of the file.
    #[error("member data {offset}+{len} lies outside the file")]
    OutsideFile {
        /// Where the data starts.
        offset: u64,
        /// Bytes asked for.
        len: u64,
    },
    /// The zip reader refused the archive or the member.
    #[error("{0}")]
    Archive(#[from] zip::result::ZipError),
    /// The deflated data is corrupt.
    #[error("inflating: {0}")]
    Inflate(std::io::Error),
    /// The member inflates to fewer bytes than asked for.
    #[error("member inflates to {got} bytes, {needed} needed")]
    InflatedShort {
        /// Bytes inflated.
        got: u64,
        /// Bytes asked for.
        needed: u64,
    },
}

/// The first `len` bytes of member `m` of the archive in `bytes`: borrowed when stored,
/// inflated (holding at most `len` bytes) when deflated.
pub fn member_bytes<'a>(bytes: &'a [u8], m: &Member, len: u64) -> std::result::Result<Cow<'a, [u8]>, MemberError> {
    if len > m.len {
        return Err(MemberError::Short { holds: m.len, needed: len });
    }
    match &m.packing {
        Packing::Unsupported(how) => Err(MemberError::Unsupported(how.clone())),
        Packing::Stored => {
            let range = m
                .offset
                .checked_add(len)
                .filter(|&end| end <= bytes.len() as u64)
                .map(|end| m.offset as usize..end as usize);
            range
                .and_then(|r| bytes.get(r))
                .map(Cow::Borrowed)
                .ok_or(MemberError::OutsideFile { offset: m.offset, len })
        }
        Packing::Deflated { index } => {
            let mut zip = ZipArchive::new(Cursor::new(bytes))?;
            let file = zip.by_index(*index)?;
            // Grow with the data actually inflated: the declared size is not trusted for an
            // up-front allocation.
            let mut out = Vec::with_capacity(usize::try_from(len.min(1 << 26)).unwrap_or(0));
            file.take(len).read_to_end(&mut out).map_err(MemberError::Inflate)?;
            if out.len() as u64 != len {
                return Err(MemberError::InflatedShort { got: out.len() as u64, needed: len });
            }
            Ok(Cow::Owned(out))
        }
    }
}
