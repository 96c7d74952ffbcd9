//! Legacy (pre-1.6, `_use_new_zipfile_serialization=False`) torch checkpoints: five pickles in a
//! row (torch's magic number, the protocol version 1001, a `sys_info` dict, the object, the list
//! of storage keys) followed by the raw storages in key-list order, each as an 8-byte element
//! count and then its elements.

use std::collections::HashMap;
use std::path::Path;

use weightlens_core::{ByteOrder, Error, Result};

use super::pickle::{self, Node, Parsed};
use super::{Member, Packing};

/// torch's magic number 0x1950a86a20f9469cfc6c as the reader shows a big integer.
const MAGIC: &str = "1950a86a20f9469cfc6c";
/// The only legacy protocol version torch ever wrote.
const PROTOCOL: i64 = 1001;

/// What a legacy checkpoint holds.
#[derive(Debug)]
pub struct LegacyLayout {
    /// The pickled object.
    pub object: Parsed,
    /// Byte order of the storages (from `sys_info`).
    pub order: ByteOrder,
    /// Storages by key, as far as they could be located.
    pub storages: HashMap<String, Member>,
    /// Storages that could not be located (truncated file, unknown element size).
    pub warnings: Vec<String>,
}

/// How the pickles of a legacy file are read.
#[derive(Clone, Copy)]
enum Mode {
    /// A file: dangerous globals refused unless allowed.
    File { allow_unsafe: bool },
    /// Bytes inside another pickle: always refused, embedded storages not followed.
    Nested,
}

fn next_pickle(bytes: &[u8], pos: usize, path: &Path, mode: Mode) -> Result<Parsed> {
    let rest = bytes.get(pos..).unwrap_or(&[]);
    let mut parsed = match mode {
        Mode::File { allow_unsafe } => pickle::parse_with(rest, path, pos as u64, allow_unsafe)?,
        Mode::Nested => pickle::parse_flat(rest, path, pos as u64)?,
    };
    parsed.end += pos;
    Ok(parsed)
}

/// Reads the layout of the legacy checkpoint held in `bytes`; with `allow_unsafe`, pickles
/// referencing dangerous globals are read (never executed) rather than refused.
pub fn read(bytes: &[u8], path: &Path, allow_unsafe: bool) -> Result<LegacyLayout> {
    read_in(bytes, path, Mode::File { allow_unsafe })
}

/// Reads a legacy file held in the bytes value of another pickle (a storage pickled by
/// `pickle.dumps`); offsets are relative to `bytes`.
pub(crate) fn read_nested(bytes: &[u8], path: &Path) -> Result<LegacyLayout> {
    read_in(bytes, path, Mode::Nested)
}

fn read_in(bytes: &[u8], path: &Path, mode: Mode) -> Result<LegacyLayout> {
    let next = |pos: usize| next_pickle(bytes, pos, path, mode);
    let magic = next(0)?;
    if !matches!(magic.node(magic.root), Node::BigInt(m) if m == MAGIC) {
        return Err(Error::malformed(path, Some(0), "not a legacy torch checkpoint (magic number mismatch)"));
    }
    let protocol = next(magic.end)?;
    if protocol.node(protocol.root) != &Node::Int(PROTOCOL) {
        return Err(Error::malformed(path, Some(magic.end as u64), "unsupported legacy protocol version"));
    }
    let sys_info = next(protocol.end)?;
    let order = if little_endian(&sys_info) { ByteOrder::Little } else { ByteOrder::Big };
    let object = next(sys_info.end)?;
    let keys = next(object.end)?;
    let Node::List(key_ids) = keys.node(keys.root) else {
        return Err(Error::malformed(path, Some(object.end as u64), "storage key list is not a list"));
    };

    // Element sizes come from the storage types the object names for each key.
    let mut elem_size = HashMap::new();
    for node in &object.nodes {
        if let Node::Storage(s) = node {
            elem_size.insert(s.key.clone(), s.kind.elem_size);
        }
    }
    let mut storages = HashMap::new();
    let mut warnings = Vec::new();
    let mut pos = keys.end as u64;
    let file_len = bytes.len() as u64;
    for &id in key_ids {
        let key = match keys.node(id) {
            Node::Str(k) => k.clone(),
            _ => return Err(Error::malformed(path, Some(object.end as u64), "storage key is not a string")),
        };
        let count = bytes.get(pos as usize..(pos as usize).saturating_add(8)).and_then(|b| b.try_into().ok());
        let Some(count) = count else {
            warnings.push(format!("{}: storage {key} and those after it lie past the end of the file", path.display()));
            break;
        };
        let count = match order {
            ByteOrder::Little => u64::from_le_bytes(count),
            ByteOrder::Big => u64::from_be_bytes(count),
        };
        let Some(Some(size)) = elem_size.get(&key).copied() else {
            warnings.push(format!(
                "{}: storage {key} has no known element size; it and the storages after it cannot be located",
                path.display()
            ));
            break;
        };
        let start = pos + 8;
        let end = count.checked_mul(size).and_then(|len| start.checked_add(len));
        let Some(end) = end.filter(|&e| e <= file_len) else {
            warnings.push(format!(
                "{}: storage {key} ({count} elements of {size} bytes) runs past the end of the file",
                path.display()
            ));
            break;
        };
        storages.insert(key, Member { offset: start, len: end - start, packing: Packing::Stored });
        pos = end;
    }
    Ok(LegacyLayout { object, order, storages, warnings })
}

/// `sys_info["little_endian"]` (torch always writes it; absent means little).
fn little_endian(sys_info: &Parsed) -> bool {
    let Node::Dict(pairs) = sys_info.node(sys_info.root) else {
        return true;
    };
    pairs
        .iter()
        .find(|(k, _)| matches!(sys_info.node(*k), Node::Str(s) if s == "little_endian"))
        .is_none_or(|(_, v)| sys_info.node(*v) != &Node::Bool(false))
}
