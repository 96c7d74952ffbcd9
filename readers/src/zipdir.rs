//! A zip archive's members as its central directory lists them, the way torch and numpy read
//! archives: the central directory is authoritative (zip64, data descriptors and any member
//! prefix included, through the `zip` crate), and each local header is compared with it.
//!
//! A local header that names another file, another method or other sizes than the central
//! directory is the trick of a crafted archive: a tool that walks local headers sees one file,
//! torch loads another. Such members are read through the central directory and reported as
//! [`Mismatch`]es.

use std::borrow::Cow;
use std::io::{Cursor, Read};

use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

/// Most members listed (torch checkpoints have one per storage; a million is far above any).
pub const MAX_MEMBERS: usize = 1 << 20;

/// One member of the central directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its index in the archive.
    pub index: usize,
    /// The name in the central directory.
    pub name: String,
    /// Offset of its local header.
    pub header_start: u64,
    /// Offset of its (possibly compressed) data.
    pub data_start: u64,
    /// Compressed size.
    pub compressed_size: u64,
    /// Uncompressed size.
    pub size: u64,
    /// The compression method.
    pub method: CompressionMethod,
    /// True when encrypted.
    pub encrypted: bool,
}

/// A local header that disagrees with the central directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The member's central-directory name.
    pub name: String,
    /// Offset of the local header.
    pub offset: u64,
    /// What differs, for the user.
    pub what: String,
}

/// The central directory of an archive and the local headers that disagree with it.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    /// Members in directory order.
    pub entries: Vec<Entry>,
    /// Local headers that disagree with their directory entry.
    pub mismatches: Vec<Mismatch>,
}

/// Why an archive or one of its members cannot be read; the caller attaches the file.
#[derive(Debug, thiserror::Error)]
pub enum ZipDirError {
    /// The central directory cannot be parsed.
    #[error("invalid zip archive: {0}")]
    Archive(#[source] ZipError),
    /// More members than [`MAX_MEMBERS`].
    #[error("zip archive lists {count} members (limit {MAX_MEMBERS})")]
    TooManyMembers {
        /// Members listed.
        count: usize,
    },
    /// A directory entry that cannot be read.
    #[error("zip member #{index}: {source}")]
    Entry {
        /// Its position in the directory.
        index: usize,
        /// What the zip crate said.
        #[source]
        source: ZipError,
    },
    /// A member whose data offset the directory does not give.
    #[error("zip member {member}: data offset unknown")]
    NoDataOffset {
        /// The member's name.
        member: String,
    },
    /// A member larger than the caller's limit.
    #[error("member {member} is {size} bytes (limit {limit})")]
    TooLarge {
        /// The member's name.
        member: String,
        /// Its declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An encrypted member.
    #[error("member {member} is encrypted")]
    Encrypted {
        /// The member's name.
        member: String,
    },
    /// A stored member whose bytes are not inside the file.
    #[error("member {member} lies outside the file")]
    OutsideFile {
        /// The member's name.
        member: String,
    },
    /// A deflated member that cannot be inflated.
    #[error("inflating {member}: {source}")]
    Inflate {
        /// The member's name.
        member: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A deflated member opened through the directory that fails.
    #[error("member {member}: {source}")]
    Member {
        /// The member's name.
        member: String,
        /// What the zip crate said.
        #[source]
        source: ZipError,
    },
    /// A deflated member that inflates past the limit.
    #[error("member {member} inflates past {limit} bytes")]
    InflatesPast {
        /// The member's name.
        member: String,
        /// The limit.
        limit: u64,
    },
    /// A compression method other than stored or deflated.
    #[error("member {member} is compressed with {method}, which is not supported")]
    Unsupported {
        /// The member's name.
        member: String,
        /// The method.
        method: CompressionMethod,
    },
}

/// Reads the central directory of the archive in `bytes`.
pub fn read(bytes: &[u8]) -> std::result::Result<Directory, ZipDirError> {
    let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(ZipDirError::Archive)?;
    if zip.len() > MAX_MEMBERS {
        return Err(ZipDirError::TooManyMembers { count: zip.len() });
    }
    let mut dir = Directory::default();
    for index in 0..zip.len() {
        let e = zip.by_index_raw(index).map_err(|source| ZipDirError::Entry { index, source })?;
        let name = String::from_utf8_lossy(e.name_raw()).into_owned();
        let Some(data_start) = e.data_start() else {
            return Err(ZipDirError::NoDataOffset { member: name });
        };
        let entry = Entry {
            index,
            name,
            header_start: e.header_start(),
            data_start,
            compressed_size: e.compressed_size(),
            size: e.size(),
            method: e.compression(),
            encrypted: e.encrypted(),
        };
        drop(e);
        if let Some(what) = local_header_differs(bytes, &entry) {
            dir.mismatches.push(Mismatch { name: entry.name.clone(), offset: entry.header_start, what });
        }
        dir.entries.push(entry);
    }
    Ok(dir)
}

/// The member names of the archive in `bytes`, or `None` if it is no readable archive.
pub fn names(bytes: &[u8]) -> Option<Vec<String>> {
    read(bytes).ok().map(|d| d.entries.into_iter().map(|e| e.name).collect())
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// What the local header of `e` says differently from the central directory, if anything.
fn local_header_differs(bytes: &[u8], e: &Entry) -> Option<String> {
    let start = usize::try_from(e.header_start).ok()?;
    let Some(h) = bytes.get(start..) else {
        return Some("local header lies outside the file".into());
    };
    if !h.starts_with(b"PK\x03\x04") {
        return Some("no local header at the offset the central directory gives".into());
    }
    let (flags, method) = (le16(h, 6)?, le16(h, 8)?);
    let (csize, usize_) = (le32(h, 18)?, le32(h, 22)?);
    let name_len = usize::from(le16(h, 26)?);
    let local_name = h.get(30..30 + name_len)?;
    if local_name != e.name.as_bytes() && String::from_utf8_lossy(local_name) != e.name {
        return Some(format!("local header names {:?}", String::from_utf8_lossy(local_name)));
    }
    let cd_method = match e.method {
        CompressionMethod::Stored => Some(0),
        CompressionMethod::Deflated => Some(8),
        _ => None,
    };
    if cd_method.is_some_and(|m| m != method) {
        return Some(format!("local header says compression method {method}"));
    }
    // Sizes are in a data descriptor (flag bit 3) or in zip64 extra fields (0xffffffff).
    let sizes_here = flags & 0x8 == 0 && csize != u32::MAX && usize_ != u32::MAX;
    if sizes_here && (u64::from(csize) != e.compressed_size || u64::from(usize_) != e.size) {
        return Some(format!(
            "local header says sizes {csize}/{usize_}, the directory {}/{}",
            e.compressed_size, e.size
        ));
    }
    None
}

/// Largest member read whole by [`member_bytes`] callers that cap it themselves.
pub fn member_bytes<'a>(bytes: &'a [u8], e: &Entry, limit: u64) -> std::result::Result<Cow<'a, [u8]>, ZipDirError> {
    let member = || e.name.clone();
    if e.size > limit {
        return Err(ZipDirError::TooLarge { member: member(), size: e.size, limit });
    }
    if e.encrypted {
        return Err(ZipDirError::Encrypted { member: member() });
    }
    match e.method {
        CompressionMethod::Stored => {
            let end = e.data_start.checked_add(e.size).filter(|&end| end <= bytes.len() as u64);
            end.and_then(|end| bytes.get(e.data_start as usize..end as usize))
                .map(Cow::Borrowed)
                .ok_or_else(|| ZipDirError::OutsideFile { member: member() })
        }
        CompressionMethod::Deflated => {
            let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(ZipDirError::Archive)?;
            let file = zip.by_index(e.index).map_err(|source| ZipDirError::Member { member: member(), source })?;
            // Grow with the data actually inflated: the declared size is not trusted up front.
            let mut out = Vec::new();
            file.take(limit.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|source| ZipDirError::Inflate { member: member(), source })?;
            if out.len() as u64 > limit {
                return Err(ZipDirError::InflatesPast { member: member(), limit });
            }
            Ok(Cow::Owned(out))
        }
        method => Err(ZipDirError::Unsupported { member: member(), method }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in members {
            w.start_file(*name, SimpleFileOptions::default().compression_method(CompressionMethod::Stored)).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn local_name_that_differs_is_reported() {
        let mut zip = archive(&[("a/data.pkl", b"N."), ("a/version", b"3\n")]);
        let dir = read(&zip).unwrap();
        assert!(dir.mismatches.is_empty(), "{:?}", dir.mismatches);
        // Rename the first local header's member (the central directory keeps data.pkl).
        let at = zip.windows(10).position(|w| w == b"a/data.pkl").unwrap();
        zip[at..at + 10].copy_from_slice(b"a/datap.kl");
        let dir = read(&zip).unwrap();
        assert_eq!(dir.entries[0].name, "a/data.pkl");
        assert_eq!(dir.mismatches.len(), 1);
        assert!(dir.mismatches[0].what.contains("datap.kl"), "{:?}", dir.mismatches);
        assert_eq!(member_bytes(&zip, &dir.entries[0], 16).unwrap().as_ref(), b"N.");
        assert!(member_bytes(&zip, &dir.entries[0], 1).is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(read(b"PK\x03\x04 not really a zip").is_err());
        assert!(names(b"").is_none());
    }
}
