//! The `.npy` header: magic, version, header length, and the Python-literal dict numpy writes
//! (`{'descr': '<f4', 'fortran_order': False, 'shape': (48, 32), }`).
//!
//! The dict is read by a small strict parser for the literals numpy's `repr` produces (strings,
//! integers, `True`/`False`/`None`, tuples, lists, dicts), never by anything like `eval`. Its
//! keys must be exactly `descr`, `fortran_order` and `shape`, as numpy itself requires.

use std::fmt;

use weightlens_core::{ByteOrder, Dtype};

/// The six bytes every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Headers longer than this are refused. numpy's own reader refuses headers over 10,000 bytes
/// by default; this cap leaves room for unusual but legitimate files while bounding the work.
pub const MAX_HEADER_LEN: u64 = 1 << 20;

/// Dimensions allowed in a shape (numpy 2 allows 64).
pub const MAX_DIMS: usize = 64;

/// Bytes needed to know the total header length: magic, version, and a 4-byte length (v2/v3).
pub const PREAMBLE_MAX: usize = 12;

/// Nesting allowed in the header literal (numpy's own headers nest at most a few levels).
const MAX_DEPTH: usize = 16;

/// What the elements of an array are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Element {
    /// A type weightlens decodes, in the given byte order.
    Plain(Dtype, ByteOrder),
    /// A fixed-size type weightlens lists but does not decode (complex, strings, datetimes,
    /// structured records), with its numpy name and item size when known.
    Unsupported {
        /// numpy's name (`complex64`, `str320`, `structured`...).
        name: String,
        /// Bytes per element, when the descriptor says so.
        item_size: Option<u64>,
    },
    /// `|O`: Python objects, stored as a pickle after the header.
    Object,
}

/// A parsed and validated `.npy` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// Format version (`(1, 0)`, `(2, 0)` or `(3, 0)`).
    pub version: (u8, u8),
    /// Element type.
    pub element: Element,
    /// True when the data is in column-major (Fortran) order.
    pub fortran_order: bool,
    /// Shape in numpy order.
    pub shape: Vec<u64>,
    /// Byte offset of the data from the start of the `.npy` bytes (the total header length).
    pub data_offset: u64,
    /// Bytes of data the header describes (`numel * item size`, checked), when the item size
    /// is known (not for object arrays and structured records).
    pub data_len: Option<u64>,
}

/// Why a header is invalid, and where (offset from the start of the `.npy` bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderError {
    /// Byte offset of the problem.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

impl std::error::Error for HeaderError {}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, HeaderError> {
    Err(HeaderError { offset: offset as u64, message: message.into() })
}

/// The fixed part before the dict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preamble {
    /// Format version.
    pub version: (u8, u8),
    /// Offset of the dict text.
    pub dict_start: usize,
    /// Offset of the data (end of the header).
    pub data_offset: usize,
}

/// Reads magic, version and header length from the first bytes (at least [`PREAMBLE_MAX`]
/// when available) and validates the length against [`MAX_HEADER_LEN`].
pub fn parse_preamble(bytes: &[u8]) -> Result<Preamble, HeaderError> {
    let Some(magic) = bytes.get(..MAGIC.len()) else {
        return err(0, format!("truncated: {} bytes, shorter than the .npy magic", bytes.len()));
    };
    if magic != MAGIC {
        return err(0, "not a .npy array (magic does not match)");
    }
    let (Some(&major), Some(&minor)) = (bytes.get(6), bytes.get(7)) else {
        return err(6, "truncated before the format version");
    };
    let (len_size, header_len) = match (major, minor) {
        (1, 0) => (2, bytes.get(8..10).map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))),
        (2, 0) | (3, 0) => (4, bytes.get(8..12).map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))),
        _ => return err(6, format!("unsupported .npy format version {major}.{minor}")),
    };
    let Some(header_len) = header_len else {
        return err(8, "truncated before the header length");
    };
    if header_len > MAX_HEADER_LEN {
        return err(8, format!("header length {header_len} exceeds the {MAX_HEADER_LEN}-byte limit"));
    }
    let dict_start = 8 + len_size;
    // Both terms are small (checked above), so this cannot overflow.
    let data_offset = dict_start + header_len as usize;
    Ok(Preamble { version: (major, minor), dict_start, data_offset })
}

/// Parses the header at the start of `bytes`, which must hold at least the whole header (the
/// data after it is not looked at).
pub fn parse_header(bytes: &[u8]) -> Result<NpyHeader, HeaderError> {
    let pre = parse_preamble(bytes)?;
    let Some(text) = bytes.get(pre.dict_start..pre.data_offset) else {
        return err(
            pre.dict_start,
            format!("truncated: header needs {} bytes, only {} are present", pre.data_offset, bytes.len()),
        );
    };
    let mut parser = Parser { text, pos: 0, base: pre.dict_start, utf8: pre.version.0 >= 3 };
    let dict = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != text.len() {
        return parser.fail("unexpected text after the header dict");
    }
    let Value::Dict(entries) = dict else {
        return err(pre.dict_start, "header is not a dict");
    };
    let (descr, fortran_order, shape) = header_fields(entries, pre.dict_start)?;
    let element = match descr {
        Value::Str(s) => parse_descr(&s).or_else(|e| err(pre.dict_start, e.to_string()))?,
        // A list of (name, type) pairs: a structured (record) dtype.
        Value::Seq(_, false) => Element::Unsupported { name: "structured".into(), item_size: None },
        _ => return err(pre.dict_start, "descr is neither a string nor a list"),
    };
    let Value::Bool(fortran_order) = fortran_order else {
        return err(pre.dict_start, "fortran_order is not True or False");
    };
    let Value::Seq(dims, true) = shape else {
        return err(pre.dict_start, "shape is not a tuple");
    };
    if dims.len() > MAX_DIMS {
        return err(pre.dict_start, format!("shape has {} dimensions, more than {MAX_DIMS}", dims.len()));
    }
    let mut shape = Vec::with_capacity(dims.len());
    for d in dims {
        let Value::Int(d) = d else {
            return err(pre.dict_start, "shape holds something other than non-negative integers");
        };
        shape.push(d);
    }
    let Some(numel) = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)) else {
        return err(pre.dict_start, format!("shape {shape:?} has more than 2^64 elements"));
    };
    let item_size = match &element {
        Element::Plain(dtype, _) => dtype.size().map(|s| s as u64),
        Element::Unsupported { item_size, .. } => *item_size,
        Element::Object => None,
    };
    let data_len = match item_size {
        Some(size) => match numel.checked_mul(size) {
            Some(len) => Some(len),
            None => return err(pre.dict_start, format!("shape {shape:?} needs more than 2^64 bytes")),
        },
        None => None,
    };
    Ok(NpyHeader { version: pre.version, element, fortran_order, shape, data_offset: pre.data_offset as u64, data_len })
}

/// Takes exactly the three keys numpy writes, each once.
fn header_fields(entries: Vec<(Value, Value)>, at: usize) -> Result<(Value, Value, Value), HeaderError> {
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, value) in entries {
        let Value::Str(key) = key else {
            return err(at, "header dict has a key that is not a string");
        };
        let slot = match key.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran,
            "shape" => &mut shape,
            other => return err(at, format!("header dict has an unexpected key {other:?}")),
        };
        if slot.replace(value).is_some() {
            return err(at, format!("header dict repeats the key {key:?}"));
        }
    }
    match (descr, fortran, shape) {
        (Some(d), Some(f), Some(s)) => Ok((d, f, s)),
        _ => err(at, "header dict lacks one of the keys descr, fortran_order, shape"),
    }
}

/// Why a type descriptor was rejected (each message quotes it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DescrError {
    /// No type character.
    #[error("empty descr {0:?}")]
    Empty(String),
    /// Item size digits that do not fit in 64 bits.
    #[error("descr {0:?} has an item size out of range")]
    SizeOutOfRange(String),
    /// Text after the size that is not a datetime unit.
    #[error("descr {0:?} is not a numpy type descriptor")]
    NotADescriptor(String),
    /// No item size.
    #[error("descr {0:?} lacks an item size")]
    NoItemSize(String),
    /// An integer or bool size numpy does not have.
    #[error("descr {0:?} has an invalid item size")]
    InvalidItemSize(String),
    /// `|` (not applicable) for a type of more than one byte.
    #[error("descr {descr:?} has no byte order for a {size}-byte type")]
    NoByteOrder {
        /// The descriptor.
        descr: String,
        /// Its item size.
        size: u64,
    },
    /// A unicode item size whose byte count overflows.
    #[error("item size overflows")]
    ItemSizeOverflow,
    /// A type character numpy does not write.
    #[error("descr {0:?} is not a type numpy writes")]
    Unknown(String),
}

/// Interprets a type descriptor (`<f4`, `>i8`, `|b1`, `<c8`, `|O`...).
pub fn parse_descr(descr: &str) -> Result<Element, DescrError> {
    let quoted = || descr.to_string();
    let native = if cfg!(target_endian = "big") { ByteOrder::Big } else { ByteOrder::Little };
    let (order, rest) = match descr.as_bytes().first() {
        Some(b'<') => (Some(ByteOrder::Little), &descr[1..]),
        Some(b'>') => (Some(ByteOrder::Big), &descr[1..]),
        Some(b'=') => (Some(native), &descr[1..]),
        Some(b'|') => (None, &descr[1..]),
        _ => (Some(native), descr),
    };
    let kind = rest.chars().next().ok_or_else(|| DescrError::Empty(quoted()))?;
    let tail = &rest[kind.len_utf8()..];
    let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
    let suffix = &tail[digits..];
    let size: Option<u64> = if digits == 0 { None } else { tail[..digits].parse().ok() };
    if digits > 0 && size.is_none() {
        return Err(DescrError::SizeOutOfRange(quoted()));
    }
    if kind == 'O' {
        return Ok(Element::Object);
    }
    // Datetimes carry a unit (`<M8[ns]`); nothing else may have a suffix.
    let unit_ok =
        matches!(kind, 'M' | 'm') && (suffix.is_empty() || (suffix.starts_with('[') && suffix.ends_with(']')));
    if !suffix.is_empty() && !unit_ok {
        return Err(DescrError::NotADescriptor(quoted()));
    }
    let Some(size) = size else {
        return Err(DescrError::NoItemSize(quoted()));
    };
    let dtype = match (kind, size) {
        ('f', 2) => Some(Dtype::F16),
        ('f', 4) => Some(Dtype::F32),
        ('f', 8) => Some(Dtype::F64),
        ('i', 1) => Some(Dtype::I8),
        ('i', 2) => Some(Dtype::I16),
        ('i', 4) => Some(Dtype::I32),
        ('i', 8) => Some(Dtype::I64),
        ('u', 1) => Some(Dtype::U8),
        ('u', 2) => Some(Dtype::U16),
        ('u', 4) => Some(Dtype::U32),
        ('u', 8) => Some(Dtype::U64),
        ('b', 1) => Some(Dtype::Bool),
        ('i' | 'u' | 'b', _) => return Err(DescrError::InvalidItemSize(quoted())),
        _ => None,
    };
    if let Some(dtype) = dtype {
        let order = match order {
            Some(o) => o,
            None if size == 1 => ByteOrder::Little,
            None => return Err(DescrError::NoByteOrder { descr: quoted(), size }),
        };
        return Ok(Element::Plain(dtype, order));
    }
    let bits = size.saturating_mul(8);
    let (name, item_size) = match kind {
        'f' => (format!("float{bits}"), size),
        'c' => (format!("complex{bits}"), size),
        'V' => (format!("void{bits}"), size),
        'S' => (format!("bytes{bits}"), size),
        // numpy counts unicode strings in characters of 4 bytes.
        'U' => (format!("str{}", size.saturating_mul(32)), size.checked_mul(4).ok_or(DescrError::ItemSizeOverflow)?),
        'M' if size == 8 => (format!("datetime64{suffix}"), size),
        'm' if size == 8 => (format!("timedelta64{suffix}"), size),
        _ => return Err(DescrError::Unknown(quoted())),
    };
    Ok(Element::Unsupported { name, item_size: Some(item_size) })
}

/// A Python literal as numpy's `repr` writes it.
#[derive(Debug)]
enum Value {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    /// Items, and true for a tuple (false for a list).
    Seq(Vec<Value>, bool),
    Dict(Vec<(Value, Value)>),
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    /// Offset of `text` in the file, for error positions.
    base: usize,
    /// Strings are UTF-8 (format 3.0) rather than latin-1.
    utf8: bool,
}

impl Parser<'_> {
    fn fail<T>(&self, message: &str) -> Result<T, HeaderError> {
        err(self.base + self.pos, format!("invalid header dict: {message}"))
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// Consumes `c` after optional whitespace, if it is next.
    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn value(&mut self, depth: usize) -> Result<Value, HeaderError> {
        if depth > MAX_DEPTH {
            return self.fail("nested too deeply");
        }
        self.skip_ws();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                loop {
                    if self.eat(b'}') {
                        break;
                    }
                    let key = self.value(depth + 1)?;
                    if !self.eat(b':') {
                        return self.fail("expected ':'");
                    }
                    entries.push((key, self.value(depth + 1)?));
                    if self.eat(b',') {
                        continue;
                    }
                    if self.eat(b'}') {
                        break;
                    }
                    return self.fail("expected ',' or '}'");
                }
                Ok(Value::Dict(entries))
            }
            Some(open @ (b'(' | b'[')) => {
                self.pos += 1;
                let close = if open == b'(' { b')' } else { b']' };
                let mut items = Vec::new();
                let mut trailing_comma = false;
                loop {
                    if self.eat(close) {
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    trailing_comma = self.eat(b',');
                    if trailing_comma {
                        continue;
                    }
                    if self.eat(close) {
                        break;
                    }
                    return self.fail("expected ',' or a closing bracket");
                }
                // `(3)` is the integer 3 in Python, not a tuple.
                if open == b'(' && items.len() == 1 && !trailing_comma {
                    return self.fail("a parenthesized value is not a tuple");
                }
                Ok(Value::Seq(items, open == b'('))
            }
            Some(q @ (b'\'' | b'"')) => self.string(q),
            Some(c) if c.is_ascii_digit() => self.int(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                    self.pos += 1;
                }
                match &self.text[start..self.pos] {
                    b"True" => Ok(Value::Bool(true)),
                    b"False" => Ok(Value::Bool(false)),
                    b"None" => Ok(Value::None),
                    _ => {
                        self.pos = start;
                        self.fail("unknown name (only True, False and None are allowed)")
                    }
                }
            }
            Some(_) => self.fail("unexpected character"),
            None => self.fail("unexpected end"),
        }
    }

    fn int(&mut self) -> Result<Value, HeaderError> {
        let start = self.pos;
        let mut n: u64 = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            let Some(next) = n.checked_mul(10).and_then(|n| n.checked_add(u64::from(c - b'0'))) else {
                self.pos = start;
                return self.fail("integer larger than 2^64");
            };
            n = next;
            self.pos += 1;
        }
        // Python 2 wrote long integers with an `L` suffix.
        if self.peek() == Some(b'L') {
            self.pos += 1;
        }
        Ok(Value::Int(n))
    }

    fn string(&mut self, quote: u8) -> Result<Value, HeaderError> {
        self.pos += 1;
        let mut raw = Vec::new();
        loop {
            match self.peek() {
                None => return self.fail("unterminated string"),
                Some(c) if c == quote => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    let escaped = match self.text.get(self.pos + 1) {
                        Some(&c @ (b'\\' | b'\'' | b'"')) => c,
                        _ => return self.fail("unsupported escape in string"),
                    };
                    raw.push(escaped);
                    self.pos += 2;
                }
                Some(c) => {
                    raw.push(c);
                    self.pos += 1;
                }
            }
        }
        if self.utf8 {
            return String::from_utf8(raw).map(Value::Str).or_else(|_| self.fail("string is not UTF-8"));
        }
        Ok(Value::Str(raw.iter().map(|&b| char::from(b)).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v1.0 `.npy` header around `dict`, padded as numpy pads it.
    pub(crate) fn npy(dict: &str) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend([1, 0]);
        let mut text = dict.as_bytes().to_vec();
        text.push(b'\n');
        out.extend((text.len() as u16).to_le_bytes());
        out.extend(text);
        out
    }

    fn header(dict: &str) -> Result<NpyHeader, HeaderError> {
        parse_header(&npy(dict))
    }

    #[test]
    fn parses_what_numpy_writes() {
        let h = header("{'descr': '<f4', 'fortran_order': False, 'shape': (48, 32), }").unwrap();
        assert_eq!(h.element, Element::Plain(Dtype::F32, ByteOrder::Little));
        assert_eq!(h.shape, vec![48, 32]);
        assert!(!h.fortran_order);
        assert_eq!(h.data_len, Some(48 * 32 * 4));
        assert_eq!(h.data_offset, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (48, 32), }").len() as u64);
        let h = header("{'descr': '>f8', 'fortran_order': True, 'shape': (3,)}").unwrap();
        assert_eq!(h.element, Element::Plain(Dtype::F64, ByteOrder::Big));
        assert!(h.fortran_order);
        assert_eq!(h.shape, vec![3]);
        let h = header("{\"shape\": (), \"descr\": \"|b1\", \"fortran_order\": False}").unwrap();
        assert_eq!(h.element, Element::Plain(Dtype::Bool, ByteOrder::Little));
        assert_eq!((h.shape, h.data_len), (vec![], Some(1)));
        let h = header("{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 0L), }").unwrap();
        assert_eq!(h.data_len, Some(0));
    }

    #[test]
    fn names_unsupported_types_and_objects() {
        assert_eq!(parse_descr("|O"), Ok(Element::Object));
        assert_eq!(parse_descr("<c8"), Ok(Element::Unsupported { name: "complex64".into(), item_size: Some(8) }));
        assert_eq!(parse_descr("<U10"), Ok(Element::Unsupported { name: "str320".into(), item_size: Some(40) }));
        assert_eq!(
            parse_descr("<M8[ns]"),
            Ok(Element::Unsupported { name: "datetime64[ns]".into(), item_size: Some(8) })
        );
        assert!(parse_descr("<i3").is_err());
        assert!(parse_descr("|f4").is_err());
        assert!(parse_descr("<f4x").is_err());
        assert!(parse_descr("").is_err());
        assert!(parse_descr("<f99999999999999999999999").is_err());
        let h = header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }").unwrap();
        assert_eq!(h.element, Element::Unsupported { name: "structured".into(), item_size: None });
        assert_eq!(h.data_len, None);
    }

    #[test]
    fn rejects_malformed_headers() {
        let e = |b: &[u8]| parse_header(b).unwrap_err().message;
        assert!(e(b"\x93NUM").contains("truncated"));
        assert!(e(b"\x93NUMPX\x01\x00").contains("magic"));
        assert!(e(b"\x93NUMPY\x04\x00\x00\x00").contains("version"));
        assert!(e(b"\x93NUMPY\x02\x00\xff\xff\xff\xff").contains("exceeds"));
        assert!(e(b"\x93NUMPY\x01\x00\x50\x00{'descr'").contains("truncated"));
        let bad = |d: &str| header(d).unwrap_err().message;
        assert!(bad("{'descr': '<f4', 'fortran_order': False}").contains("lacks"));
        assert!(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}").contains("unexpected key"));
        assert!(bad("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}").contains("repeats"));
        assert!(bad("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}").contains("True or False"));
        assert!(bad("{'descr': '<f4', 'fortran_order': False, 'shape': [1]}").contains("tuple"));
        assert!(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1)}").contains("not a tuple"));
        assert!(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}").contains("unexpected character"));
        assert!(bad("{'descr': '<f4', 'fortran_order': False, 'shape': ('a',)}").contains("non-negative"));
        assert!(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}").contains("2^64"));
        assert!(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}").contains("2^64"));
        assert!(bad("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,)}").contains("bytes"));
        assert!(bad("{'descr': os.system('x'), 'fortran_order': False, 'shape': ()}").contains("unknown name"));
        assert!(bad("{'descr': '<f4', 'fortran_order': False, 'shape': ()} junk").contains("after"));
        assert!(bad("{'descr': '<f4'").contains("expected"));
        assert!(bad("{'descr: '<f4'}").contains("expected"));
        assert!(bad("[1, 2]").contains("not a dict"));
        assert!(bad(&format!("{}1{}", "(".repeat(100), ")".repeat(100))).contains("deeply"));
        let many = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({})}}", "1, ".repeat(65));
        assert!(bad(&many).contains("dimensions"));
    }
}
