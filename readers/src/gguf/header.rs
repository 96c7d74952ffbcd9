//! The GGUF header parser: magic, version, metadata key/values and tensor infos.
//!
//! Works on the file's bytes (the caller owns the memory map) and treats them as hostile: every
//! count and length is checked against the bytes left before anything is allocated, arithmetic
//! is checked, arrays nest at most [`MAX_DEPTH`] deep. Metadata arrays are never decoded while
//! parsing: an array keeps its element type, count and byte range, and arrays of strings are
//! skipped by walking their lengths, so a 262k-token vocabulary costs one pass over its length
//! prefixes and no allocation.
//!
//! Supported: GGUF v1 (32-bit counts and lengths), v2 and v3, little- and big-endian files (a
//! big-endian file is recognised by its byte-swapped version number).

use std::path::Path;

use weightlens_core::{ByteOrder, Error, Result};

/// ggml's limit on tensor dimensions (`GGML_MAX_DIMS`).
pub const MAX_DIMS: u32 = 4;
/// Arrays of arrays deeper than this are refused.
pub const MAX_DEPTH: u32 = 8;
/// Data alignment when `general.alignment` is absent (`GGUF_DEFAULT_ALIGNMENT`).
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// The fewest bytes a tensor info can take (name length, n_dims, type, offset).
const MIN_TENSOR_INFO: u64 = 8 + 4 + 4 + 8;
/// The fewest bytes a metadata key/value can take (key length, value type, a u8 value).
const MIN_KV: u64 = 8 + 4 + 1;

/// A metadata value type (`gguf_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// `uint8`
    U8,
    /// `int8`
    I8,
    /// `uint16`
    U16,
    /// `int16`
    I16,
    /// `uint32`
    U32,
    /// `int32`
    I32,
    /// `float32`
    F32,
    /// `bool` (one byte)
    Bool,
    /// length-prefixed UTF-8 string
    String,
    /// typed array
    Array,
    /// `uint64`
    U64,
    /// `int64`
    I64,
    /// `float64`
    F64,
}

impl ValueType {
    fn from_id(id: u32) -> Option<Self> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// Bytes of one fixed-size value; `None` for strings and arrays.
    pub fn size(self) -> Option<u64> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            String | Array => None,
        }
    }

    /// The gguf-py name of the type (`uint32`, `string`...).
    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "uint8",
            I8 => "int8",
            U16 => "uint16",
            I16 => "int16",
            U32 => "uint32",
            I32 => "int32",
            F32 => "float32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "uint64",
            I64 => "int64",
            F64 => "float64",
        }
    }
}

/// A metadata value. Scalars and strings are decoded; arrays are not (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    /// Any unsigned integer type.
    Uint(u64),
    /// Any signed integer type.
    Int(i64),
    /// `float32` or `float64`.
    Float(f64),
    /// `bool`.
    Bool(bool),
    /// `string` (invalid UTF-8 is replaced).
    Str(String),
    /// An array, not decoded.
    Array {
        /// The element type (nested arrays say `Array`).
        elem: ValueType,
        /// The number of elements.
        count: u64,
        /// Absolute byte offset of the first element.
        offset: u64,
        /// Bytes the elements take.
        len: u64,
    },
}

impl MetaValue {
    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::Uint(v) => Some(v),
            MetaValue::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A JSON rendering; arrays become `{"array": <type>, "count": n}`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            MetaValue::Uint(v) => (*v).into(),
            MetaValue::Int(v) => (*v).into(),
            MetaValue::Float(v) => serde_json::Number::from_f64(*v).map_or(serde_json::Value::Null, Into::into),
            MetaValue::Bool(v) => (*v).into(),
            MetaValue::Str(s) => s.clone().into(),
            MetaValue::Array { elem, count, .. } => serde_json::json!({ "array": elem.name(), "count": count }),
        }
    }
}

/// One tensor info as stored: dimensions innermost first (`ne`), ggml type id, offset from the
/// start of the data section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawTensor {
    /// Tensor name.
    pub name: String,
    /// ggml's `ne`: `ne[0]` is the row length.
    pub ne: Vec<u64>,
    /// ggml type id.
    pub type_id: u32,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

/// A parsed GGUF header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Format version (1, 2 or 3).
    pub version: u32,
    /// Byte order of every number in the file.
    pub order: ByteOrder,
    /// Metadata in file order.
    pub metadata: Vec<(String, MetaValue)>,
    /// Tensor infos in file order.
    pub tensors: Vec<RawTensor>,
    /// Data alignment (`general.alignment`, default 32).
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_start: u64,
}

impl Header {
    /// The metadata value of `key`.
    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// A read position over the header bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    order: ByteOrder,
    /// GGUF v1 stores counts and lengths as u32.
    wide: bool,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn err(&self, message: impl Into<String>) -> Error {
        Error::malformed(self.path, Some(self.pos as u64), message)
    }

    fn left(&self) -> u64 {
        (self.bytes.len() - self.pos.min(self.bytes.len())) as u64
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        let end = usize::try_from(n).ok().and_then(|n| self.pos.checked_add(n)).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(self.err(format!("truncated: {what} needs {n} bytes, {} left", self.left())));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let b = self.take(N as u64, what)?;
        let mut a: [u8; N] = b.try_into().unwrap_or([0; N]);
        if self.order == ByteOrder::Big {
            a.reverse();
        }
        Ok(a)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count or length: u64, or u32 in GGUF v1.
    fn len(&mut self, what: &str) -> Result<u64> {
        if self.wide {
            self.u64(what)
        } else {
            Ok(u64::from(self.u32(what)?))
        }
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.len(what)?;
        if n > self.left() {
            return Err(self
                .err(format!("{what}: string length {n} runs past the end of the file ({} bytes left)", self.left())));
        }
        Ok(String::from_utf8_lossy(self.take(n, what)?).into_owned())
    }

    fn skip_string(&mut self, what: &str) -> Result<()> {
        let n = self.len(what)?;
        if n > self.left() {
            return Err(self
                .err(format!("{what}: string length {n} runs past the end of the file ({} bytes left)", self.left())));
        }
        self.take(n, what).map(|_| ())
    }

    fn value_type(&mut self, what: &str) -> Result<ValueType> {
        let id = self.u32(what)?;
        ValueType::from_id(id).ok_or_else(|| self.err(format!("{what}: unknown metadata value type {id}")))
    }

    fn value(&mut self, ty: ValueType, key: &str, depth: u32) -> Result<MetaValue> {
        use ValueType::*;
        Ok(match ty {
            U8 => MetaValue::Uint(self.u8(key)?.into()),
            I8 => MetaValue::Int((self.u8(key)? as i8).into()),
            U16 => MetaValue::Uint(self.u16(key)?.into()),
            I16 => MetaValue::Int((self.u16(key)? as i16).into()),
            U32 => MetaValue::Uint(self.u32(key)?.into()),
            I32 => MetaValue::Int((self.u32(key)? as i32).into()),
            F32 => MetaValue::Float(f32::from_bits(self.u32(key)?).into()),
            Bool => MetaValue::Bool(self.u8(key)? != 0),
            String => MetaValue::Str(self.string(key)?),
            U64 => MetaValue::Uint(self.u64(key)?),
            I64 => MetaValue::Int(self.u64(key)? as i64),
            F64 => MetaValue::Float(f64::from_bits(self.u64(key)?)),
            Array => {
                let (elem, count) = (self.value_type(key)?, self.len(key)?);
                let offset = self.pos as u64;
                self.skip_elements(elem, count, key, depth + 1)?;
                MetaValue::Array { elem, count, offset, len: self.pos as u64 - offset }
            }
        })
    }

    /// Moves past `count` array elements of type `elem` without decoding them.
    fn skip_elements(&mut self, elem: ValueType, count: u64, key: &str, depth: u32) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("{key}: arrays nested deeper than {MAX_DEPTH} levels")));
        }
        if let Some(size) = elem.size() {
            let Some(total) = count.checked_mul(size).filter(|&t| t <= self.left()) else {
                return Err(self.err(format!(
                    "{key}: array of {count} {} runs past the end of the file ({} bytes left)",
                    elem.name(),
                    self.left()
                )));
            };
            return self.take(total, key).map(|_| ());
        }
        // Strings and arrays take at least their length prefix each.
        let min = if self.wide { 8 } else { 4 };
        if count.checked_mul(min).is_none_or(|t| t > self.left()) {
            return Err(self.err(format!(
                "{key}: array of {count} {} cannot fit in the {} bytes left",
                elem.name(),
                self.left()
            )));
        }
        for _ in 0..count {
            if elem == ValueType::String {
                self.skip_string(key)?;
            } else {
                let (inner, n) = (self.value_type(key)?, self.len(key)?);
                self.skip_elements(inner, n, key, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// Parses the header of the GGUF file held in `bytes`. `path` is used in error messages only.
pub fn parse_header(bytes: &[u8], path: &Path) -> Result<Header> {
    if bytes.len() < 8 {
        return Err(Error::malformed(
            path,
            None,
            format!("truncated: {} bytes, too short for a GGUF header", bytes.len()),
        ));
    }
    if !bytes.starts_with(b"GGUF") {
        return Err(Error::UnknownFormat { path: path.into(), reason: "magic does not match GGUF".into() });
    }
    let raw = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    // A big-endian file stores a small version number byte-swapped.
    let (version, order) = match (raw, raw.swap_bytes()) {
        (v @ 1..=3, _) => (v, ByteOrder::Little),
        (_, v @ 1..=3) => (v, ByteOrder::Big),
        _ => {
            return Err(Error::malformed(
                path,
                Some(4),
                format!("unsupported GGUF version {raw} (this reader knows 1 to 3)"),
            ))
        }
    };
    let mut c = Cursor { bytes, pos: 8, order, wide: version >= 2, path };

    let tensor_count = c.len("tensor count")?;
    let kv_count = c.len("metadata count")?;
    if tensor_count.checked_mul(MIN_TENSOR_INFO).is_none_or(|n| n > c.left()) {
        return Err(
            c.err(format!("tensor count {tensor_count} is larger than the file could hold ({} bytes left)", c.left()))
        );
    }
    if kv_count.checked_mul(MIN_KV).is_none_or(|n| n > c.left()) {
        return Err(
            c.err(format!("metadata count {kv_count} is larger than the file could hold ({} bytes left)", c.left()))
        );
    }

    // Both counts are now bounded by the file size, so these allocations are too.
    let mut metadata = Vec::with_capacity(kv_count as usize);
    for _ in 0..kv_count {
        let key = c.string("metadata key")?;
        let ty = c.value_type(&key)?;
        let value = c.value(ty, &key, 0)?;
        metadata.push((key, value));
    }

    let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some((_, v)) => match v.as_u64() {
            Some(a) if a > 0 && a.is_power_of_two() => a,
            _ => return Err(c.err(format!("general.alignment must be a power of two, found {}", v.to_json()))),
        },
    };

    let mut tensors = Vec::with_capacity(tensor_count as usize);
    for _ in 0..tensor_count {
        let name = c.string("tensor name")?;
        let n_dims = c.u32(&name)?;
        if n_dims > MAX_DIMS {
            return Err(c.err(format!(
                "tensor {name} has {n_dims} dimensions; ggml supports at most {MAX_DIMS} (GGML_MAX_DIMS)"
            )));
        }
        let mut ne = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            ne.push(c.len(&name)?);
        }
        let type_id = c.u32(&name)?;
        let offset = c.u64(&name)?;
        tensors.push(RawTensor { name, ne, type_id, offset });
    }

    let end = c.pos as u64;
    let data_start = end.checked_next_multiple_of(alignment).ok_or_else(|| c.err("data section offset overflows"))?;
    Ok(Header { version, order, metadata, tensors, alignment, data_start })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A GGUF writer for tests: header fields in `order`.
    pub(crate) struct Writer {
        pub out: Vec<u8>,
        order: ByteOrder,
    }

    impl Writer {
        pub fn new(order: ByteOrder, version: u32, tensors: u64, kvs: u64) -> Self {
            let mut w = Writer { out: b"GGUF".to_vec(), order };
            w.u32(version);
            w.u64(tensors);
            w.u64(kvs);
            w
        }
        pub fn u32(&mut self, v: u32) -> &mut Self {
            match self.order {
                ByteOrder::Little => self.out.extend(v.to_le_bytes()),
                ByteOrder::Big => self.out.extend(v.to_be_bytes()),
            }
            self
        }
        pub fn u64(&mut self, v: u64) -> &mut Self {
            match self.order {
                ByteOrder::Little => self.out.extend(v.to_le_bytes()),
                ByteOrder::Big => self.out.extend(v.to_be_bytes()),
            }
            self
        }
        pub fn str(&mut self, s: &str) -> &mut Self {
            self.u64(s.len() as u64);
            self.out.extend(s.as_bytes());
            self
        }
        pub fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
            self.str(key).u32(4).u32(v)
        }
        pub fn kv_str(&mut self, key: &str, v: &str) -> &mut Self {
            self.str(key).u32(8).str(v)
        }
        pub fn tensor(&mut self, name: &str, ne: &[u64], ty: u32, offset: u64) -> &mut Self {
            self.str(name).u32(ne.len() as u32);
            for &d in ne {
                self.u64(d);
            }
            self.u32(ty).u64(offset)
        }
        pub fn pad_to(&mut self, align: usize) -> &mut Self {
            while !self.out.len().is_multiple_of(align) {
                self.out.push(0);
            }
            self
        }
    }

    fn parse(bytes: &[u8]) -> Result<Header> {
        parse_header(bytes, Path::new("t.gguf"))
    }

    #[test]
    fn parses_metadata_tensors_and_alignment() {
        let mut w = Writer::new(ByteOrder::Little, 3, 1, 3);
        w.kv_str("general.architecture", "llama").kv_u32("general.alignment", 64);
        // a nested array: [[1, 2], ["a"]]
        w.str("nested").u32(9).u32(9).u64(2);
        w.u32(4).u64(2).u32(1).u32(2);
        w.u32(8).u64(1).str("a");
        w.tensor("w", &[4, 2], 0, 0);
        let h = parse(&w.out).unwrap();
        assert_eq!(h.version, 3);
        assert_eq!(h.alignment, 64);
        assert_eq!(h.get("general.architecture").and_then(MetaValue::as_str), Some("llama"));
        assert!(matches!(h.get("nested"), Some(MetaValue::Array { elem: ValueType::Array, count: 2, .. })));
        assert_eq!(h.tensors, vec![RawTensor { name: "w".into(), ne: vec![4, 2], type_id: 0, offset: 0 }]);
        assert_eq!(h.data_start, (w.out.len() as u64).next_multiple_of(64));
    }

    #[test]
    fn reads_big_endian_files() {
        let mut w = Writer::new(ByteOrder::Big, 3, 1, 1);
        w.kv_u32("general.alignment", 16).tensor("t", &[3], 0, 0);
        let h = parse(&w.out).unwrap();
        assert_eq!((h.order, h.alignment), (ByteOrder::Big, 16));
        assert_eq!(h.tensors[0].ne, vec![3]);
    }

    #[test]
    fn reads_version_1_with_32_bit_lengths() {
        let mut out = b"GGUF".to_vec();
        for v in [1u32, 1, 0] {
            out.extend(v.to_le_bytes());
        }
        out.extend(1u32.to_le_bytes());
        out.extend(b"w");
        out.extend(1u32.to_le_bytes()); // n_dims
        out.extend(8u32.to_le_bytes()); // ne[0]
        out.extend(0u32.to_le_bytes()); // type
        out.extend(0u64.to_le_bytes()); // offset
        let h = parse(&out).unwrap();
        assert_eq!((h.version, h.tensors[0].ne.clone()), (1, vec![8]));
    }

    fn err(bytes: &[u8]) -> String {
        parse(bytes).unwrap_err().to_string()
    }

    #[test]
    fn rejects_malformed_headers_without_allocating() {
        assert!(err(b"GGUF").contains("truncated"));
        assert!(err(b"GGUF\x09\0\0\0\0\0\0\0").contains("version 9"));
        assert!(err(b"notagguf").contains("magic"));
        assert!(err(&Writer::new(ByteOrder::Little, 3, 1 << 62, 0).out).contains("tensor count"));
        assert!(err(&Writer::new(ByteOrder::Little, 3, 0, u64::MAX).out).contains("metadata count"));
        let mut w = Writer::new(ByteOrder::Little, 3, 0, 1);
        w.u64(u64::MAX - 1);
        w.out.extend([0u8; 16]);
        assert!(err(&w.out).contains("past the end"));
        let mut w = Writer::new(ByteOrder::Little, 3, 0, 1);
        w.str("k").u32(9).u32(10).u64(1 << 61);
        assert!(err(&w.out).contains("array of"));
        let mut w = Writer::new(ByteOrder::Little, 3, 0, 1);
        w.str("k").u32(9).u32(8).u64(1 << 40);
        assert!(err(&w.out).contains("cannot fit"));
        let mut w = Writer::new(ByteOrder::Little, 3, 0, 1);
        w.str("k").u32(13).u32(0);
        assert!(err(&w.out).contains("value type 13"));
        let mut w = Writer::new(ByteOrder::Little, 3, 0, 1);
        w.kv_u32("general.alignment", 3);
        assert!(err(&w.out).contains("power of two"));
        let mut w = Writer::new(ByteOrder::Little, 3, 1, 0);
        w.str("deep").u32(5);
        w.out.extend([0u8; 64]);
        assert!(err(&w.out).contains("at most 4 (GGML_MAX_DIMS)"));
    }

    /// A deterministic smoke version of the `gguf_header` fuzz target: thousands of mutations of
    /// a real header must parse or fail, never panic.
    #[test]
    fn mutated_headers_never_panic() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/llama-tiny-q-00001-of-00002.gguf");
        let original = std::fs::read(path).unwrap();
        let len = parse(&original).unwrap().data_start as usize;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let mut bytes = original[..len].to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() % len as u64) as usize;
                bytes[at] = next() as u8;
            }
            let cut = if next() % 4 == 0 { (next() % len as u64) as usize } else { len };
            let _ = parse(&bytes[..cut]);
        }
    }

    #[test]
    fn nesting_is_capped() {
        let mut w = Writer::new(ByteOrder::Little, 3, 0, 1);
        w.str("k").u32(9);
        for _ in 0..=MAX_DEPTH {
            w.u32(9).u64(1);
        }
        w.u32(4).u64(0);
        assert!(err(&w.out).contains("nested deeper"));
    }
}
