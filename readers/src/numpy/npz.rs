//! `.npz` archives: a zip of `.npy` members, stored (`np.savez`) or deflated
//! (`np.savez_compressed`).
//!
//! Opening reads the zip central directory and the `.npy` header of each member only; for a
//! deflated member just the header bytes are inflated. Stored members are served zero-copy from
//! the memory map. A deflated member is inflated into a buffer of exactly the size its header
//! declares, after that size was checked against the member's zip size, against what deflate
//! can possibly expand to, and against the `max_tensor_bytes` limit; inflating stops one byte
//! past the declared size, so a decompression bomb costs no more memory than an honest member.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use flate2::read::DeflateDecoder;
use weightlens_core::{Error, Framework, Result, TensorInfo, TensorSource, TensorView};
use zip::{CompressionMethod, ZipArchive};

use super::header::{self, NpyHeader, PREAMBLE_MAX};
use super::{array_view, non_numeric, tensor_info, unsupported, DEFAULT_MAX_TENSOR_BYTES};
use crate::mmap::MappedFile;

/// Deflate cannot expand data by more than 1032:1 (a 258-byte match coded in 2 bits); a member
/// claiming more is corrupt or hostile. The slack covers block headers of tiny streams.
const MAX_DEFLATE_RATIO: u64 = 1032;
const DEFLATE_SLACK: u64 = 4096;

/// How a member's bytes are kept in the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Uncompressed (`np.savez`).
    Stored,
    /// Raw deflate (`np.savez_compressed`).
    Deflated,
}

/// One `.npy` member of an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Tensor name: the member name without `.npy`.
    pub name: String,
    /// Compression.
    pub storage: Storage,
    /// Offset of the member's bytes (compressed, for deflated members) in the archive.
    pub raw_start: u64,
    /// Length of the member's bytes in the archive.
    pub raw_len: u64,
    /// CRC-32 of the uncompressed member, from the zip directory.
    pub crc32: u32,
    /// The member's `.npy` header.
    pub header: NpyHeader,
}

/// The members of an archive, in archive order, and findings worth a warning.
#[derive(Clone, Debug, Default)]
pub struct Archive {
    /// `.npy` members.
    pub members: Vec<Member>,
    /// Skipped entries and the like.
    pub warnings: Vec<String>,
}

/// Reads the zip directory of `bytes` (a whole `.npz` file) and the `.npy` header of every
/// member. `path` is used in error messages only.
pub fn parse_archive(bytes: &[u8], path: &Path) -> Result<Archive> {
    let bad = |offset: Option<u64>, message: String| Error::malformed(path, offset, message);
    let mut zip =
        ZipArchive::new(Cursor::new(bytes)).map_err(|e| bad(None, format!("not a valid zip archive: {e}")))?;
    let mut archive = Archive::default();
    let mut seen = HashSet::new();
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| bad(None, format!("zip member #{i}: {e}")))?;
        let full_name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        if entry.is_dir() {
            continue;
        }
        let Some(name) = full_name.strip_suffix(".npy").map(str::to_owned) else {
            archive.warnings.push(format!("{}: member {full_name} is not an .npy array; skipped", path.display()));
            continue;
        };
        let at = Some(entry.header_start());
        if entry.encrypted() {
            return Err(bad(at, format!("member {full_name} is encrypted")));
        }
        let storage = match entry.compression() {
            CompressionMethod::Stored => Storage::Stored,
            CompressionMethod::Deflated => Storage::Deflated,
            other => {
                return Err(bad(
                    at,
                    format!("member {full_name} uses compression {other}; numpy writes stored or deflated"),
                ))
            }
        };
        let raw_start = entry.data_start().ok_or_else(|| bad(at, format!("member {full_name}: no local header")))?;
        let (raw_len, size, crc32) = (entry.compressed_size(), entry.size(), entry.crc32());
        drop(entry);
        if !seen.insert(name.clone()) {
            return Err(bad(at, format!("member {full_name} appears twice")));
        }
        let raw = raw_range(bytes, raw_start, raw_len).ok_or_else(|| {
            bad(at, format!("member {full_name}: data range {raw_start}+{raw_len} lies outside the file"))
        })?;
        let header = match storage {
            Storage::Stored if raw_len != size => {
                return Err(bad(at, format!("member {full_name} is stored but its sizes differ ({raw_len} != {size})")))
            }
            Storage::Stored => header::parse_header(raw),
            Storage::Deflated => {
                if size > raw_len.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(DEFLATE_SLACK) {
                    return Err(bad(
                        at,
                        format!("member {full_name} claims {size} bytes from {raw_len} deflated bytes, more than deflate can expand"),
                    ));
                }
                inflate_header(raw).and_then(|head| header::parse_header(&head))
            }
        }
        .map_err(|e| bad(Some(raw_start), format!("member {full_name}: {e}")))?;
        let available = size.checked_sub(header.data_offset);
        if let (Some(needed), Some(available)) = (header.data_len, available) {
            if available != needed {
                return Err(bad(
                    Some(raw_start),
                    format!("member {full_name}: data holds {available} bytes, the header describes {needed}"),
                ));
            }
        }
        if available.is_none() {
            return Err(bad(Some(raw_start), format!("member {full_name}: {size} bytes cannot hold its header")));
        }
        archive.members.push(Member { name, storage, raw_start, raw_len, crc32, header });
    }
    Ok(archive)
}

fn raw_range(bytes: &[u8], start: u64, len: u64) -> Option<&[u8]> {
    let end = usize::try_from(start.checked_add(len)?).ok()?;
    bytes.get(usize::try_from(start).ok()?..end)
}

fn inflate_error(e: &std::io::Error) -> String {
    format!("deflated data is corrupt: {e}")
}

/// Inflates just the `.npy` header at the start of a deflated member.
fn inflate_header(raw: &[u8]) -> std::result::Result<Vec<u8>, header::HeaderError> {
    let fail = |message: String| header::HeaderError { offset: 0, message };
    let mut decoder = DeflateDecoder::new(raw);
    let mut head = Vec::with_capacity(PREAMBLE_MAX);
    (&mut decoder).take(PREAMBLE_MAX as u64).read_to_end(&mut head).map_err(|e| fail(inflate_error(&e)))?;
    let pre = header::parse_preamble(&head)?;
    // The preamble capped the header length, so this read is bounded.
    let rest = (pre.data_offset as u64).saturating_sub(head.len() as u64);
    (&mut decoder).take(rest).read_to_end(&mut head).map_err(|e| fail(inflate_error(&e)))?;
    Ok(head)
}

/// Why [`member_data`] could not deliver an array's data (the caller attaches the tensor).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemberDataError {
    /// The header's dtype has no known item size, so the data length is unknown.
    #[error("the item size of this dtype is unknown")]
    UnknownItemSize,
    /// A stored member with fewer bytes than its header describes.
    #[error("member holds {holds} bytes, its header describes {described}")]
    Short {
        /// Bytes in the member.
        holds: usize,
        /// Bytes the header describes.
        described: u64,
    },
    /// Inflating would hold more than the limit in memory.
    #[error("inflating needs {needed} bytes in memory, more than the limit of {limit} (max_tensor_bytes)")]
    OverLimit {
        /// Bytes needed.
        needed: u64,
        /// The limit.
        limit: u64,
    },
    /// The data length does not fit in this machine's address space.
    #[error("the array does not fit in memory")]
    TooLarge,
    /// The buffer could not be allocated.
    #[error("cannot allocate {bytes} bytes: {source}")]
    Alloc {
        /// Bytes asked for.
        bytes: u64,
        /// The allocator's refusal.
        source: std::collections::TryReserveError,
    },
    /// The deflated data is corrupt.
    #[error("{}", inflate_error(source))]
    Inflate {
        /// The decoder's error.
        source: std::io::Error,
    },
    /// Fewer bytes inflated than the header describes.
    #[error("inflates to {got} bytes of data, its header describes {described}")]
    InflatedShort {
        /// Bytes inflated.
        got: usize,
        /// Bytes the header describes.
        described: u64,
    },
    /// More bytes inflated than the header describes.
    #[error("inflates to more than the {described} bytes of data its header describes")]
    InflatedLong {
        /// Bytes the header describes.
        described: u64,
    },
    /// The inflated bytes do not have the archive's checksum.
    #[error("CRC-32 {computed:08x} does not match the archive's {recorded:08x}")]
    Crc {
        /// The checksum of the inflated bytes.
        computed: u32,
        /// The checksum in the archive.
        recorded: u32,
    },
}

/// The array data of `member`, given its raw bytes in the archive: a sub-slice for stored
/// members, inflated (and CRC-checked) for deflated ones. Inflating allocates only the declared
/// size, which must not exceed `limit`.
pub fn member_data<'a>(
    raw: &'a [u8],
    member: &Member,
    limit: u64,
) -> std::result::Result<Cow<'a, [u8]>, MemberDataError> {
    let header = &member.header;
    let Some(data_len) = header.data_len else {
        return Err(MemberDataError::UnknownItemSize);
    };
    if member.storage == Storage::Stored {
        return raw_range(raw, header.data_offset, data_len)
            .map(Cow::Borrowed)
            .ok_or(MemberDataError::Short { holds: raw.len(), described: data_len });
    }
    let total = header.data_offset.saturating_add(data_len);
    if total > limit {
        return Err(MemberDataError::OverLimit { needed: total, limit });
    }
    let inflate = |source| MemberDataError::Inflate { source };
    let mut decoder = DeflateDecoder::new(raw);
    let mut crc = flate2::Crc::new();
    let mut head = Vec::new();
    (&mut decoder).take(header.data_offset).read_to_end(&mut head).map_err(inflate)?;
    crc.update(&head);
    let capacity = usize::try_from(data_len).map_err(|_| MemberDataError::TooLarge)?;
    let mut data = Vec::new();
    data.try_reserve_exact(capacity).map_err(|source| MemberDataError::Alloc { bytes: data_len, source })?;
    // `take` stops at the declared size, so the buffer never grows past what was reserved.
    (&mut decoder).take(data_len).read_to_end(&mut data).map_err(inflate)?;
    if data.len() != capacity {
        return Err(MemberDataError::InflatedShort { got: data.len(), described: data_len });
    }
    let mut extra = [0u8; 1];
    if decoder.read(&mut extra).map_err(inflate)? != 0 {
        return Err(MemberDataError::InflatedLong { described: data_len });
    }
    crc.update(&data);
    if crc.sum() != member.crc32 {
        return Err(MemberDataError::Crc { computed: crc.sum(), recorded: member.crc32 });
    }
    Ok(Cow::Owned(data))
}

/// An `.npz` archive: one tensor per `.npy` member.
#[derive(Debug)]
pub struct NpzSource {
    path: PathBuf,
    file: MappedFile,
    members: Vec<Member>,
    tensors: Vec<TensorInfo>,
    limit: u64,
    warnings: Vec<String>,
}

impl NpzSource {
    /// Opens `path` with the default [`DEFAULT_MAX_TENSOR_BYTES`] limit.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_limit(path, DEFAULT_MAX_TENSOR_BYTES)
    }

    /// Opens `path`; members that would need more than `max_tensor_bytes` of memory (to inflate
    /// or to reorder from Fortran order) are listed, but viewing them is an error.
    pub fn open_with_limit(path: &Path, max_tensor_bytes: u64) -> Result<Self> {
        let file = MappedFile::open(path)?;
        let mut archive = parse_archive(file.bytes(), path)?;
        // Members of strings, bytes, records or objects hold no weights: one warning each, and
        // the rest of the archive is analyzed.
        let (members, skipped): (Vec<Member>, Vec<Member>) =
            archive.members.drain(..).partition(|m| non_numeric(&m.header.element).is_none());
        archive.members = members;
        for m in skipped {
            let dtype = non_numeric(&m.header.element).unwrap_or_default();
            archive.warnings.push(format!(
                "{}: member {}.npy has the non-numeric dtype {dtype}; skipped",
                path.display(),
                m.name
            ));
        }
        let tensors = archive
            .members
            .iter()
            .map(|m| {
                // Stored members point at their array data; deflated ones at the compressed bytes.
                let (offset, len) = match (m.storage, m.header.data_len) {
                    (Storage::Stored, Some(len)) => (m.raw_start.saturating_add(m.header.data_offset), len),
                    _ => (m.raw_start, m.raw_len),
                };
                tensor_info(m.name.clone(), &m.header, Framework::NPZ, &file, offset, len)
            })
            .collect();
        for w in &archive.warnings {
            tracing::warn!("{w}");
        }
        Ok(NpzSource {
            path: path.to_path_buf(),
            file,
            members: archive.members,
            tensors,
            limit: max_tensor_bytes,
            warnings: archive.warnings,
        })
    }
}

impl TensorSource for NpzSource {
    fn framework(&self) -> Framework {
        Framework::NPZ
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    fn view(&self, index: usize) -> Result<TensorView<'_>> {
        let (Some(info), Some(member)) = (self.tensors.get(index), self.members.get(index)) else {
            return Err(Error::malformed(&self.path, None, format!("no tensor #{index}")));
        };
        let tensor_error = |m: String| Error::tensor(info.file.as_ref(), &info.name, m);
        if let Some(why) = unsupported(&member.header) {
            return Err(tensor_error(why));
        }
        let raw = self.file.slice(member.raw_start, member.raw_len, &info.name)?;
        let data = member_data(raw, member, self.limit).map_err(|e| tensor_error(e.to_string()))?;
        array_view(info, &member.header, data, self.limit)
    }

    fn metadata(&self) -> serde_json::Value {
        let deflated = self.members.iter().filter(|m| m.storage == Storage::Deflated).count();
        serde_json::json!({ "members": self.members.len(), "deflated_members": deflated })
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numpy::tests::npy_bytes;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    /// An archive of `(member name, bytes, deflated)`.
    fn zip_of(members: &[(&str, Vec<u8>, bool)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes, deflated) in members {
            let method = if *deflated { CompressionMethod::Deflated } else { CompressionMethod::Stored };
            w.start_file(*name, SimpleFileOptions::default().compression_method(method)).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn f32_member(values: &[f32]) -> Vec<u8> {
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        npy_bytes(&format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}", values.len()), &data)
    }

    fn open(bytes: &[u8], limit: u64) -> Result<(tempfile::TempDir, NpzSource)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npz");
        std::fs::write(&path, bytes).unwrap();
        NpzSource::open_with_limit(&path, limit).map(|s| (dir, s))
    }

    /// The 4 bytes at `at` in the (first) central directory header.
    fn cd_field(zip: &[u8], at: usize) -> &[u8] {
        let cd = zip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        &zip[cd + at..cd + at + 4]
    }

    /// `zip` with the compressed and uncompressed sizes of its first central directory entry
    /// replaced.
    fn with_cd_sizes(mut zip: Vec<u8>, compressed: u32, size: u32) -> Vec<u8> {
        let cd = zip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        zip[cd + 20..cd + 24].copy_from_slice(&compressed.to_le_bytes());
        zip[cd + 24..cd + 28].copy_from_slice(&size.to_le_bytes());
        zip
    }

    fn parse_err(bytes: &[u8]) -> String {
        parse_archive(bytes, Path::new("a.npz")).unwrap_err().to_string()
    }

    #[test]
    fn reads_stored_and_deflated_members() {
        let bytes = zip_of(&[
            ("w.npy", f32_member(&[1.0, 2.0, 3.0]), false),
            ("dir/b.npy", f32_member(&[4.0, 5.0]), true),
            ("notes.txt", b"hello".to_vec(), false),
        ]);
        let (_dir, source) = open(&bytes, DEFAULT_MAX_TENSOR_BYTES).unwrap();
        let names: Vec<&str> = source.tensors().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["w", "dir/b"]);
        assert_eq!(source.view(0).unwrap().to_f64_vec().unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(source.view(1).unwrap().to_f64_vec().unwrap(), vec![4.0, 5.0]);
        assert!(source.warnings()[0].contains("notes.txt"));
        // The deflated member needs 64 header + 8 data bytes in memory: over a limit of 70.
        let (_dir, source) = open(&bytes, 70).unwrap();
        assert!(source.view(0).is_ok(), "stored members are not copied, the limit does not apply");
        assert!(source.view(1).unwrap_err().to_string().contains("max_tensor_bytes"));
    }

    #[test]
    fn non_numeric_members_are_skipped_with_a_warning_each() {
        let object = npy_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\x80\x02N.");
        let text = npy_bytes("{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", &[0; 24]);
        let members = [("meta.npy", object, true), ("w.npy", f32_member(&[1.0]), false), ("vocab.npy", text, false)];
        let (_dir, source) = open(&zip_of(&members), DEFAULT_MAX_TENSOR_BYTES).unwrap();
        assert_eq!(source.tensors().len(), 1);
        assert_eq!(source.tensors()[0].name, "w");
        assert!(source.view(0).is_ok());
        let warnings = source.warnings();
        assert!(warnings.iter().any(|w| w.contains("meta.npy") && w.contains("object")), "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("vocab.npy") && w.contains("str96")), "{warnings:?}");
    }

    #[test]
    fn rejects_malformed_archives() {
        assert!(parse_err(b"PK\x03\x04 not really a zip").contains("not a valid zip"));
        let short = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", &[0; 15]);
        for deflated in [false, true] {
            let e = parse_err(&zip_of(&[("s.npy", short.clone(), deflated)]));
            assert!(e.contains("member s.npy: data holds 15 bytes, the header describes 16"), "{e}");
            let e = parse_err(&zip_of(&[("t.npy", short[..20].to_vec(), deflated)]));
            assert!(e.contains("member t.npy") && e.contains("truncated"), "{e}");
        }
        // A truncated archive loses its central directory.
        let good = zip_of(&[("w.npy", f32_member(&[1.0; 64]), false)]);
        assert!(parse_err(&good[..good.len() - 30]).contains("not a valid zip"));
        // Central directory sizes that the file cannot hold, or that deflate cannot reach.
        let e = parse_err(&with_cd_sizes(good, 1 << 28, 1 << 28));
        assert!(e.contains("member w.npy: data range") && e.contains("lies outside the file"), "{e}");
        let deflated = zip_of(&[("d.npy", f32_member(&[1.0; 64]), true)]);
        let compressed = u32::from_le_bytes(cd_field(&deflated, 20).try_into().unwrap());
        let e = parse_err(&with_cd_sizes(deflated.clone(), compressed, 0xffff_fff0));
        assert!(e.contains("more than deflate can expand"), "{e}");
        let e = parse_err(&with_cd_sizes(deflated, compressed, 1000));
        assert!(e.contains("data holds 872 bytes, the header describes 256"), "{e}");
        // Corrupt deflate data is an error for that tensor, found when it is read.
        let mut bytes = zip_of(&[("c.npy", f32_member(&[1.5; 1000]), true)]);
        let archive = parse_archive(&bytes, Path::new("a.npz")).unwrap();
        let m = &archive.members[0];
        let mid = (m.raw_start + m.raw_len - 4) as usize;
        bytes[mid] ^= 0xff;
        let (_dir, source) = open(&bytes, DEFAULT_MAX_TENSOR_BYTES).unwrap();
        let e = source.view(0).unwrap_err().to_string();
        assert!(e.contains("tensor c:"), "{e}");
    }

    #[test]
    fn inflating_stops_at_the_declared_size() {
        // A header declaring 4 bytes of data, followed by a megabyte: as if the zip directory
        // lied about the size, the inflater must stop one byte past the declared size.
        let mut member = f32_member(&[0.0]);
        member.resize(member.len() + (1 << 20), 0);
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&member).unwrap();
        let raw = enc.finish().unwrap();
        let header = header::parse_header(&member).unwrap();
        let m = Member {
            name: "bomb".into(),
            storage: Storage::Deflated,
            raw_start: 0,
            raw_len: raw.len() as u64,
            crc32: 0,
            header,
        };
        assert!(member_data(&raw, &m, DEFAULT_MAX_TENSOR_BYTES).unwrap_err().to_string().contains("inflates to more"));
        // Fewer bytes than declared.
        let mut short = m.clone();
        short.header.data_len = Some(2 << 20);
        assert!(member_data(&raw, &short, DEFAULT_MAX_TENSOR_BYTES)
            .unwrap_err()
            .to_string()
            .contains("inflates to 1048580"));
        // Exactly the declared size, but not the bytes the archive recorded.
        let mut exact = m.clone();
        exact.header.data_len = Some(4 + (1 << 20));
        assert!(member_data(&raw, &exact, DEFAULT_MAX_TENSOR_BYTES).unwrap_err().to_string().contains("CRC-32"));
    }
}
