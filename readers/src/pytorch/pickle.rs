//! A pickle reader that interprets the opcodes of protocols 0-5 as data and never calls, imports
//! or executes anything.
//!
//! The result is an object graph in an arena ([`Parsed::nodes`]): the stack and the memo hold
//! node ids, so containers mutated after they were memoized (`EMPTY_DICT; MEMOIZE; SETITEMS`)
//! stay one object, shared references (tied weights) stay shared, and a memo "bomb" that
//! references one object many times costs an id per reference, not a copy.
//!
//! Globals go through [`super::globals`]: torch's tensor/storage helpers, numpy's array
//! reconstruction and a few containers are interpreted structurally, anything else is an opaque
//! object. Every global is recorded where it occurs ([`Record`]), so that the safety verdict
//! (`crate::safety`) and [`parse`]'s refusal of dangerous globals judge the same list.
//! Large bytes objects (array data) are kept as [`Span`]s of the input, never copied.
//! Everything a hostile pickle could grow is bounded: objects, stack, marks, memo, string sizes
//! (each also checked against the bytes left before anything is copied).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use weightlens_core::{Error, Result};

use super::globals::{self, Kind, StorageKind};
use super::{Member, Packing};

/// Most objects one pickle may create (every opcode creates at most one).
pub const MAX_OBJECTS: usize = 1 << 22;
/// Deepest the unpickling stack may grow.
pub const MAX_STACK: usize = 1 << 20;
/// Most `MARK`s open at once.
pub const MAX_MARKS: usize = 1 << 12;
/// Most memo entries.
pub const MAX_MEMO: usize = 1 << 22;
/// Longest string or bytes object (checkpoints hold names and small configs).
pub const MAX_STRING: u64 = 1 << 26;
/// Longest text line of a protocol 0 opcode (`GLOBAL`, `INT`, `UNICODE`...).
pub const MAX_LINE: usize = 1 << 20;
/// Most dimensions of a tensor.
pub const MAX_DIMS: usize = 64;
/// Deepest nesting of `_rebuild_from_type_v2` calls.
const MAX_CALL_DEPTH: usize = 8;

/// A node id in [`Parsed::nodes`].
pub type Id = usize;

/// One unpickled object.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A larger integer, as its little-endian two's complement bytes in hex (kept for display).
    BigInt(String),
    /// A float.
    Float(f64),
    /// A text string.
    Str(String),
    /// A bytes or bytearray object.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Id>),
    /// A tuple.
    Tuple(Vec<Id>),
    /// A dict or `OrderedDict`, in insertion order.
    Dict(Vec<(Id, Id)>),
    /// A set or frozenset.
    Set(Vec<Id>),
    /// A global (class or function), never called.
    Global(Box<Global>),
    /// The result of calling something the reader does not interpret.
    Object(Box<Object>),
    /// A torch storage named by a persistent id.
    Storage(Box<StorageRef>),
    /// A tensor rebuilt by torch's helpers.
    Tensor(Box<TensorRef>),
    /// A bytes object longer than [`INLINE_BYTES`], kept where it is in the input.
    Blob(Span),
    /// A numpy dtype (`numpy.dtype(code, False, True)` and its `BUILD` state).
    NumpyDtype(Box<NumpyDtype>),
    /// A numpy array (`_reconstruct` + `BUILD`, or protocol 5's `_frombuffer`).
    Array(Box<ArrayRef>),
}

/// Bytes objects longer than this are [`Node::Blob`]s (not copied).
pub const INLINE_BYTES: u64 = 4096;

/// A byte range of the pickle's input, as absolute offsets (the `base` given to [`parse`] added).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
}

/// A numpy dtype as pickled: its type code (`f4`, `U5`, `O8`) and the byte order of its state.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NumpyDtype {
    /// The code given to `numpy.dtype` (`f4`, `i8`, `U5`, `V16`, `O8`).
    pub code: String,
    /// `<`, `>`, `|` or `=` from the `BUILD` state (`|` until one is set).
    pub order: String,
    /// True when the state names fields (a structured dtype).
    pub structured: bool,
}

/// Where a numpy array's element bytes are.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum ArrayData {
    /// Not set (a `_reconstruct` without its `BUILD`).
    #[default]
    Missing,
    /// Bytes in the input.
    Span(Span),
    /// Bytes copied out of the pickle (short bytes, protocol 2's latin-1 text).
    Owned(Vec<u8>),
    /// Pickled Python objects (an object array), not data.
    Objects,
}

/// A numpy array rebuilt from its pickled state.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ArrayRef {
    /// The dtype (`None` until the state sets it).
    pub dtype: Option<NumpyDtype>,
    /// The shape.
    pub shape: Vec<u64>,
    /// True for column-major data.
    pub fortran: bool,
    /// The element bytes.
    pub data: ArrayData,
}

/// One global the pickle references, where it does (absolute byte offset of its opcode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalUse {
    /// The module as written.
    pub module: String,
    /// The qualified name as written.
    pub name: String,
    /// The opcode's offset.
    pub offset: u64,
}

/// What a pickle references, recorded as it is read (also when reading fails later).
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// Every `GLOBAL`, `STACK_GLOBAL` and `INST`, in order.
    pub globals: Vec<GlobalUse>,
    /// Offsets of `REDUCE`/`NEWOBJ`/`OBJ` calls of something that is not a global (a computed
    /// callable, which only a gadget needs).
    pub indirect_calls: Vec<u64>,
    /// Bytes objects that begin like a binary pickle (`\x80` and a protocol 2-5), which a
    /// nested unpickler could be fed, with their absolute spans.
    pub pickled_bytes: Vec<Span>,
    /// True when reading stopped because the input ended (a truncated stream).
    pub ran_out: bool,
}

/// A global reference `module.name`.
#[derive(Clone, Debug, PartialEq)]
pub struct Global {
    /// The module.
    pub module: String,
    /// The attribute.
    pub name: String,
    /// What the reader does when it is called.
    pub kind: Kind,
}

/// An opaque object: what was called with what, and what was set on it afterwards.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Object {
    /// The callable or class (usually a [`Node::Global`]).
    pub class: Id,
    /// The arguments of the call.
    pub args: Vec<Id>,
    /// The `BUILD` state.
    pub state: Option<Id>,
    /// Items `APPEND`ed to it.
    pub items: Vec<Id>,
    /// Items set on it with `SETITEM`.
    pub entries: Vec<(Id, Id)>,
}

/// A storage from a persistent id `('storage', type, key, location, numel[, view])`.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageRef {
    /// Its element type.
    pub kind: StorageKind,
    /// The key naming its data (`data/<key>` in a zip, the key list in a legacy file).
    pub key: String,
    /// Elements the storage holds (for a legacy view: the view's size).
    pub numel: u64,
    /// For a legacy storage view: its offset in elements into the root storage.
    pub view_offset: u64,
}

/// A tensor: a strided view of a storage.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    /// The storage; `None` for layouts without one (sparse).
    pub storage: Option<StorageRef>,
    /// Offset of the first element, in elements.
    pub offset: u64,
    /// The shape.
    pub shape: Vec<u64>,
    /// The strides, in elements.
    pub stride: Vec<u64>,
    /// Why the tensor cannot be decoded though its storage type could (sparse layouts).
    pub unsupported: Option<String>,
}

/// The result of reading one pickle.
#[derive(Debug)]
pub struct Parsed {
    /// Every object, by id.
    pub nodes: Vec<Node>,
    /// The pickled object.
    pub root: Id,
    /// The position just after the `STOP` opcode.
    pub end: usize,
    /// Globals outside the allow-list, as `module.name`.
    pub opaque_classes: BTreeSet<String>,
    /// Storages held in bytes values (`torch.storage._load_from_bytes`), by the key their
    /// [`StorageRef`]s name, at absolute offsets.
    pub embedded: HashMap<String, Member>,
}

impl Parsed {
    /// The node `id` (every id the reader hands out is valid; `None` otherwise).
    pub fn node(&self, id: Id) -> &Node {
        self.nodes.get(id).unwrap_or(&Node::None)
    }
}

/// Reads the pickle at the start of `data`. `path` and `base` (the absolute offset of `data` in
/// the file) are used in error messages.
///
/// A pickle that references a dangerous global ([`globals::is_denied`]) is refused
/// (`Error::Refused`) whatever else it holds; [`parse_recorded`] reads it anyway.
pub fn parse(data: &[u8], path: &Path, base: u64) -> Result<Parsed> {
    parse_with(data, path, base, false)
}

/// [`parse`], or with `allow_unsafe` [`parse_recorded`]'s result (dangerous globals read as
/// opaque objects; nothing is executed either way).
pub fn parse_with(data: &[u8], path: &Path, base: u64, allow_unsafe: bool) -> Result<Parsed> {
    let (parsed, record) = parse_recorded(data, path, base);
    if let Some(g) = record.globals.iter().find(|g| globals::is_denied(&g.module, &g.name)) {
        if allow_unsafe {
            tracing::warn!(
                "{}: reading a pickle that references {}.{} (--allow-unsafe-pickle)",
                path.display(),
                g.module,
                g.name
            );
        } else {
            return Err(refusal(path, g));
        }
    }
    parsed
}

/// The refusal of a pickle that references the dangerous global `g`.
pub fn refusal(path: &Path, g: &GlobalUse) -> Error {
    Error::Refused {
        path: path.to_path_buf(),
        message: format!(
            "pickle references {}.{} (at byte {}), a callable that can run code or touch the system; the file \
             was not loaded",
            g.module, g.name, g.offset
        ),
    }
}

/// Reads the pickle at the start of `data` as [`parse`] does, but never refuses: dangerous
/// globals are opaque objects like any unknown one. The [`Record`] of what the pickle
/// references is returned also when reading fails.
pub fn parse_recorded(data: &[u8], path: &Path, base: u64) -> (Result<Parsed>, Record) {
    run_machine(data, path, base, true)
}

/// [`parse`] for a pickle nested in another one: embedded storages are not followed again
/// (a nesting that would otherwise be as deep as the input is long).
pub(crate) fn parse_flat(data: &[u8], path: &Path, base: u64) -> Result<Parsed> {
    let (parsed, record) = run_machine(data, path, base, false);
    if let Some(g) = record.globals.iter().find(|g| globals::is_denied(&g.module, &g.name)) {
        return Err(refusal(path, g));
    }
    parsed
}

fn run_machine(data: &[u8], path: &Path, base: u64, follow_embedded: bool) -> (Result<Parsed>, Record) {
    let mut m = Machine {
        data,
        pos: 0,
        op_pos: 0,
        path,
        base,
        nodes: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        opaque: BTreeSet::new(),
        record: Record::default(),
        spans: HashMap::new(),
        embedded: HashMap::new(),
        follow_embedded,
    };
    let root = m.run();
    let record = std::mem::take(&mut m.record);
    let parsed =
        root.map(|root| Parsed { nodes: m.nodes, root, end: m.pos, opaque_classes: m.opaque, embedded: m.embedded });
    (parsed, record)
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    op_pos: usize,
    path: &'a Path,
    base: u64,
    nodes: Vec<Node>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u32, Id>,
    opaque: BTreeSet<String>,
    record: Record,
    /// Where each bytes object is in the input (absolute).
    spans: HashMap<Id, Span>,
    embedded: HashMap<String, Member>,
    follow_embedded: bool,
}

impl<'a> Machine<'a> {
    fn err(&self, message: impl std::fmt::Display) -> Error {
        let at = self.base.saturating_add(self.op_pos as u64);
        let op = self.data.get(self.op_pos).copied().unwrap_or(0);
        Error::malformed(self.path, Some(at), format!("pickle opcode 0x{op:02x}: {message}"))
    }

    // ---- reading bytes ----

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let left = self.data.len() - self.pos;
        let Some(bytes) = self.data.get(self.pos..).and_then(|rest| rest.get(..n)) else {
            self.record.ran_out = true;
            return Err(self.err(format!("truncated: needs {n} bytes, {left} left")));
        };
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A length prefix, checked against the size limit and the bytes left before any copy.
    fn sized(&mut self, len: u64) -> Result<&'a [u8]> {
        if len > MAX_STRING {
            return Err(self.err(format!("object of {len} bytes exceeds the {MAX_STRING}-byte limit")));
        }
        let left = (self.data.len() - self.pos) as u64;
        if len > left {
            self.record.ran_out = true;
            return Err(self.err(format!("truncated: object of {len} bytes, {left} left")));
        }
        self.take(len as usize)
    }

    /// A protocol 0 text argument up to (not including) the next newline.
    fn line(&mut self) -> Result<&'a [u8]> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let window = rest.get(..MAX_LINE).unwrap_or(rest);
        let Some(n) = window.iter().position(|&b| b == b'\n') else {
            self.record.ran_out |= window.len() == rest.len();
            return Err(self.err("text argument without a newline (truncated or too long)"));
        };
        let line = self.take(n + 1)?;
        Ok(&line[..n])
    }

    fn text_line(&mut self) -> Result<&'a str> {
        let line = self.line()?;
        std::str::from_utf8(line).map_err(|_| self.err("text argument is not UTF-8"))
    }

    fn decimal<T: std::str::FromStr>(&mut self) -> Result<T> {
        let text = self.text_line()?;
        text.trim().parse().map_err(|_| self.err(format!("{text:?} is not a valid number")))
    }

    // ---- objects and the stack ----

    fn alloc(&mut self, node: Node) -> Result<Id> {
        if self.nodes.len() >= MAX_OBJECTS {
            return Err(self.err(format!("more than {MAX_OBJECTS} objects")));
        }
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn push(&mut self, id: Id) -> Result<()> {
        if self.stack.len() >= MAX_STACK {
            return Err(self.err(format!("stack deeper than {MAX_STACK}")));
        }
        self.stack.push(id);
        Ok(())
    }

    fn push_new(&mut self, node: Node) -> Result<()> {
        let id = self.alloc(node)?;
        self.push(id)
    }

    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<Id> {
        if self.stack.len() <= self.floor() {
            return Err(self.err("stack underflow"));
        }
        self.stack.pop().ok_or_else(|| self.err("stack underflow"))
    }

    fn top(&self) -> Result<Id> {
        match self.stack.last() {
            Some(&id) if self.stack.len() > self.floor() => Ok(id),
            _ => Err(self.err("stack underflow")),
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<Id>> {
        let Some(mark) = self.marks.pop() else {
            return Err(self.err("no MARK to pop to"));
        };
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn node(&self, id: Id) -> &Node {
        self.nodes.get(id).unwrap_or(&Node::None)
    }

    fn node_mut(&mut self, id: Id) -> Result<&mut Node> {
        let err = self.err("reference to an unknown object");
        self.nodes.get_mut(id).ok_or(err)
    }

    /// The memo key argument of a `PUT`/`GET` opcode (`MEMOIZE` uses the next free key).
    fn memo_key(&mut self, op: u8) -> Result<u32> {
        match op {
            b'p' | b'g' => self.decimal::<u32>(),
            b'q' | b'h' => self.u8().map(u32::from),
            b'r' | b'j' => self.u32(),
            _ => u32::try_from(self.memo.len()).map_err(|_| self.err("memo overflow")),
        }
    }

    fn memo_put(&mut self, key: u32) -> Result<()> {
        let id = self.top()?;
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&key) {
            return Err(self.err(format!("more than {MAX_MEMO} memo entries")));
        }
        self.memo.insert(key, id);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<()> {
        let Some(&id) = self.memo.get(&key) else {
            return Err(self.err(format!("memo key {key} was never stored")));
        };
        self.push(id)
    }

    // ---- the machine ----

    fn run(&mut self) -> Result<Id> {
        loop {
            self.op_pos = self.pos;
            let op = self.u8()?;
            match op {
                b'.' => return self.pop(),
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(self.err(format!("unsupported pickle protocol {proto}")));
                    }
                }
                0x95 => {
                    // FRAME: a length hint only; the opcodes inside are read as usual.
                    self.u64()?;
                }
                b'(' => {
                    if self.marks.len() >= MAX_MARKS {
                        return Err(self.err(format!("more than {MAX_MARKS} nested MARKs")));
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    if self.stack.len() > self.floor() {
                        self.pop()?;
                    } else {
                        self.pop_mark()?;
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let id = self.top()?;
                    self.push(id)?;
                }
                // Scalars.
                b'N' => self.push_new(Node::None)?,
                0x88 => self.push_new(Node::Bool(true))?,
                0x89 => self.push_new(Node::Bool(false))?,
                b'I' => {
                    let node = match self.text_line()?.trim() {
                        "01" => Node::Bool(true),
                        "00" => Node::Bool(false),
                        text => Node::Int(text.parse().map_err(|_| self.err(format!("{text:?} is not an integer")))?),
                    };
                    self.push_new(node)?;
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.array()?);
                    self.push_new(Node::Int(i64::from(v)))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push_new(Node::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.array()?);
                    self.push_new(Node::Int(i64::from(v)))?;
                }
                b'L' => {
                    let text = self.text_line()?.trim().trim_end_matches('L');
                    let node = match text.parse::<i64>() {
                        Ok(v) => Node::Int(v),
                        Err(_)
                            if !text.is_empty() && text.trim_start_matches('-').bytes().all(|b| b.is_ascii_digit()) =>
                        {
                            Node::BigInt(text.to_string())
                        }
                        Err(_) => return Err(self.err(format!("{text:?} is not an integer"))),
                    };
                    self.push_new(node)?;
                }
                0x8a => {
                    let n = self.u8()?;
                    let bytes = self.sized(u64::from(n))?;
                    self.push_new(long_node(bytes))?;
                }
                0x8b => {
                    let n = self.u32()?;
                    if n > i32::MAX as u32 {
                        return Err(self.err("LONG4 with a negative length"));
                    }
                    let bytes = self.sized(u64::from(n))?;
                    self.push_new(long_node(bytes))?;
                }
                b'F' => {
                    let v = self.decimal::<f64>()?;
                    self.push_new(Node::Float(v))?;
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.array()?);
                    self.push_new(Node::Float(v))?;
                }
                // Strings and bytes.
                b'S' => {
                    let line = self.line()?;
                    let text =
                        unquote_string(line).ok_or_else(|| self.err("STRING argument is not a quoted string"))?;
                    self.push_new(Node::Str(text))?;
                }
                b'V' => {
                    let line = self.line()?;
                    let text = raw_unicode_escape(line).ok_or_else(|| self.err("invalid raw-unicode-escape text"))?;
                    self.push_new(Node::Str(text))?;
                }
                b'T' => {
                    let n = self.u32()?;
                    if n > i32::MAX as u32 {
                        return Err(self.err("BINSTRING with a negative length"));
                    }
                    let s = self.sized(u64::from(n))?;
                    self.push_new(Node::Str(String::from_utf8_lossy(s).into_owned()))?;
                }
                b'U' | 0x8c => {
                    let n = self.u8()?;
                    let s = self.sized(u64::from(n))?;
                    self.push_new(Node::Str(String::from_utf8_lossy(s).into_owned()))?;
                }
                b'X' => {
                    let n = self.u32()?;
                    let s = self.sized(u64::from(n))?;
                    self.push_new(Node::Str(String::from_utf8_lossy(s).into_owned()))?;
                }
                0x8d => {
                    let n = self.u64()?;
                    let s = self.sized(n)?;
                    self.push_new(Node::Str(String::from_utf8_lossy(s).into_owned()))?;
                }
                b'C' => {
                    let n = self.u8()?;
                    self.bytes(u64::from(n))?;
                }
                b'B' => {
                    let n = self.u32()?;
                    self.bytes(u64::from(n))?;
                }
                0x8e | 0x96 => {
                    let n = self.u64()?;
                    self.bytes(n)?;
                }
                // Containers.
                b']' => self.push_new(Node::List(Vec::new()))?,
                b')' => self.push_new(Node::Tuple(Vec::new()))?,
                b'}' => self.push_new(Node::Dict(Vec::new()))?,
                0x8f => self.push_new(Node::Set(Vec::new()))?,
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_new(Node::List(items))?;
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_new(Node::Tuple(items))?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push_new(Node::Tuple(items))?;
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.push_new(Node::Dict(pairs))?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push_new(Node::Set(items))?;
                }
                b'a' => {
                    let item = self.pop()?;
                    self.append(vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(vec![(key, value)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.set_items(pairs)?;
                }
                0x90 => {
                    let items = self.pop_mark()?;
                    let target = self.top()?;
                    match self.node_mut(target)? {
                        Node::Set(set) => set.extend(items),
                        _ => return Err(self.err("ADDITEMS to something that is not a set")),
                    }
                }
                // The memo.
                b'p' | b'q' | b'r' | 0x94 => {
                    let key = self.memo_key(op)?;
                    self.memo_put(key)?;
                }
                b'g' | b'h' | b'j' => {
                    let key = self.memo_key(op)?;
                    self.memo_get(key)?;
                }
                // Globals and calls.
                b'c' => {
                    let module = self.text_line()?;
                    let name = self.text_line()?;
                    let id = self.global(module, name)?;
                    self.push(id)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Node::Str(module), Node::Str(name)) = (self.node(module).clone(), self.node(name).clone())
                    else {
                        return Err(self.err("STACK_GLOBAL operands are not strings"));
                    };
                    let id = self.global(&module, &name)?;
                    self.push(id)?;
                }
                b'i' => {
                    let module = self.text_line()?;
                    let name = self.text_line()?;
                    let class = self.global(module, name)?;
                    let args = self.pop_mark()?;
                    let id = self.call(class, args, 0)?;
                    self.push(id)?;
                }
                b'o' => {
                    let mut args = self.pop_mark()?;
                    if args.is_empty() {
                        return Err(self.err("OBJ without a class"));
                    }
                    let class = args.remove(0);
                    let id = self.call(class, args, 0)?;
                    self.push(id)?;
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let args = self.tuple_items(args)?;
                    let id = self.call(func, args, 0)?;
                    self.push(id)?;
                }
                0x92 => {
                    let kwargs = self.pop()?;
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let mut args = self.tuple_items(args)?;
                    args.push(kwargs);
                    let id = self.call(class, args, 0)?;
                    self.push(id)?;
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    self.build(target, state)?;
                    // BUILD on a tensor or container sets Python attributes that hold no
                    // tensor data (e.g. a Parameter's hooks); nothing to keep.
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let id = self.persistent_load(pid)?;
                    self.push(id)?;
                }
                b'P' => {
                    let pid = self.text_line()?.to_string();
                    let pid = self.alloc(Node::Str(pid))?;
                    let id = self.persistent_load(pid)?;
                    self.push(id)?;
                }
                0x82..=0x84 => return Err(self.err("extension registry codes (EXT1/2/4) are not supported")),
                0x97 => return Err(self.err("out-of-band buffers (NEXT_BUFFER) are not supported")),
                0x98 => {
                    // READONLY_BUFFER only flags the buffer on the stack.
                    self.top()?;
                }
                _ => return Err(self.err("unknown opcode")),
            }
        }
    }

    /// A bytes object of `len` bytes: copied when short, a [`Span`] of the input otherwise
    /// (bounded by the bytes left, not by [`MAX_STRING`]: nothing is allocated).
    fn bytes(&mut self, len: u64) -> Result<()> {
        let start = self.pos;
        let node = if len <= INLINE_BYTES {
            Node::Bytes(self.sized(len)?.to_vec())
        } else {
            let left = (self.data.len() - self.pos) as u64;
            if len > left {
                self.record.ran_out = true;
                return Err(self.err(format!("truncated: object of {len} bytes, {left} left")));
            }
            self.pos += len as usize;
            Node::Blob(Span { start: self.base.saturating_add(start as u64), len })
        };
        let span = Span { start: self.base.saturating_add(start as u64), len };
        let looks_pickled = matches!(self.data.get(start..start + 2), Some(&[0x80, proto]) if (2..=5).contains(&proto));
        if looks_pickled && self.record.pickled_bytes.len() < MAX_MARKS {
            self.record.pickled_bytes.push(span);
        }
        let id = self.alloc(node)?;
        self.spans.insert(id, span);
        self.push(id)
    }

    /// `BUILD`: sets an opaque object's state, or completes a numpy dtype or array.
    fn build(&mut self, target: Id, state: Id) -> Result<()> {
        let items = match self.node(state) {
            Node::Tuple(items) => items.clone(),
            _ => Vec::new(),
        };
        match self.node(target) {
            Node::NumpyDtype(_) => {
                // numpy's dtype state: (version, byte order, subarray, names, fields, ...).
                let order = match items.get(1).map(|&i| self.node(i)) {
                    Some(Node::Str(o)) => Some(o.clone()),
                    _ => None,
                };
                let structured = items.get(3).is_some_and(|&i| self.node(i) != &Node::None);
                if let Node::NumpyDtype(d) = self.node_mut(target)? {
                    if let Some(order) = order {
                        d.order = order;
                    }
                    d.structured = structured;
                }
            }
            Node::Array(_) => {
                // ndarray's state: ([version,] shape, dtype, is_fortran, rawdata).
                let fields = match items.len() {
                    5 => &items[1..],
                    4 => &items[..],
                    n => return Err(self.err(format!("numpy array state has {n} items, not 4 or 5"))),
                };
                let array = self.numpy_array(fields[0], fields[1], fields[2], fields[3])?;
                *self.node_mut(target)? = Node::Array(Box::new(array));
            }
            Node::Object(_) => {
                if let Node::Object(obj) = self.node_mut(target)? {
                    obj.state = Some(state);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A numpy array from its shape, dtype, order flag and data objects.
    fn numpy_array(&self, shape: Id, dtype: Id, fortran: Id, data: Id) -> Result<ArrayRef> {
        let shape = self.dims(Some(shape), "shape")?;
        let dtype = match self.node(dtype) {
            Node::NumpyDtype(d) => Some((**d).clone()),
            _ => return Err(self.err("numpy array dtype is not a numpy.dtype")),
        };
        let fortran = match self.node(fortran) {
            Node::Bool(b) => *b,
            Node::Int(i) => *i != 0,
            Node::Str(order) => order == "F",
            _ => false,
        };
        let data = match self.node(data) {
            Node::Blob(span) => ArrayData::Span(*span),
            Node::Bytes(b) => ArrayData::Owned(b.clone()),
            Node::Str(_) => ArrayData::Owned(self.bytes_of(data)),
            Node::List(_) => ArrayData::Objects,
            _ => return Err(self.err("numpy array data is neither bytes nor a list of objects")),
        };
        Ok(ArrayRef { dtype, shape, fortran, data })
    }

    fn pairs(&self, items: Vec<Id>) -> Result<Vec<(Id, Id)>> {
        if !items.len().is_multiple_of(2) {
            return Err(self.err("odd number of items for a dict"));
        }
        Ok(items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect())
    }

    fn append(&mut self, items: Vec<Id>) -> Result<()> {
        let target = self.top()?;
        match self.node_mut(target)? {
            Node::List(list) => list.extend(items),
            Node::Object(obj) => obj.items.extend(items),
            _ => return Err(self.err("APPEND to something that is not a list")),
        }
        Ok(())
    }

    fn set_items(&mut self, pairs: Vec<(Id, Id)>) -> Result<()> {
        let target = self.top()?;
        match self.node_mut(target)? {
            Node::Dict(dict) => dict.extend(pairs),
            Node::Object(obj) => obj.entries.extend(pairs),
            _ => return Err(self.err("SETITEM on something that is not a dict")),
        }
        Ok(())
    }

    fn tuple_items(&self, id: Id) -> Result<Vec<Id>> {
        match self.node(id) {
            Node::Tuple(items) => Ok(items.clone()),
            _ => Err(self.err("call arguments are not a tuple")),
        }
    }

    /// Records a global and resolves it: structural or opaque. Never imports anything.
    fn global(&mut self, module: &str, name: &str) -> Result<Id> {
        let offset = self.base.saturating_add(self.op_pos as u64);
        if self.record.globals.len() >= MAX_OBJECTS {
            return Err(self.err(format!("more than {MAX_OBJECTS} globals")));
        }
        self.record.globals.push(GlobalUse { module: module.to_string(), name: name.to_string(), offset });
        let kind = if globals::is_denied(module, name) { Kind::Opaque } else { globals::classify(module, name) };
        if kind == Kind::Opaque {
            self.opaque.insert(format!("{module}.{name}"));
        }
        self.alloc(Node::Global(Box::new(Global { module: module.to_string(), name: name.to_string(), kind })))
    }

    /// What calling `func(*args)` yields, interpreted as data.
    fn call(&mut self, func: Id, args: Vec<Id>, depth: usize) -> Result<Id> {
        let kind = match self.node(func) {
            Node::Global(g) => g.kind.clone(),
            _ => {
                let at = self.base.saturating_add(self.op_pos as u64);
                if self.record.indirect_calls.len() < MAX_MARKS {
                    self.record.indirect_calls.push(at);
                }
                Kind::Opaque
            }
        };
        let first = args.first().copied();
        let node = match kind {
            Kind::OrderedDict => Node::Dict(first.map(|a| self.pairs_of(a)).unwrap_or_default()),
            Kind::RebuildTensor => Node::Tensor(Box::new(self.rebuild_tensor(&args)?)),
            Kind::RebuildParameter | Kind::Size => {
                return first.ok_or_else(|| self.err("call without its first argument"));
            }
            Kind::RebuildFromType => {
                let (Some(&inner), Some(&inner_args)) = (args.first(), args.get(2)) else {
                    return Err(self.err("_rebuild_from_type_v2 needs (func, type, args, state)"));
                };
                if depth >= MAX_CALL_DEPTH {
                    return Err(self.err("_rebuild_from_type_v2 nested too deeply"));
                }
                let inner_args = self.tuple_items(inner_args)?;
                return self.call(inner, inner_args, depth + 1);
            }
            Kind::RebuildSparse => Node::Tensor(Box::new(self.sparse_tensor(&args))),
            Kind::Set => Node::Set(first.map(|a| self.items_of(a)).unwrap_or_default()),
            // bytearray(b) of a long bytes object is the same bytes: kept in place.
            Kind::Bytes if first.is_some_and(|a| matches!(self.node(a), Node::Blob(_))) => {
                return first.ok_or_else(|| self.err("call without its first argument"));
            }
            Kind::Bytes => Node::Bytes(first.map(|a| self.bytes_of(a)).unwrap_or_default()),
            Kind::Reconstructor => {
                let Some((&class, rest)) = args.split_first() else {
                    return Err(self.err("_reconstructor without a class"));
                };
                Node::Object(Box::new(Object { class, args: rest.to_vec(), ..Object::default() }))
            }
            Kind::NumpyReconstruct => Node::Array(Box::default()),
            Kind::NumpyDtype => {
                let code = match first.map(|a| self.node(a)) {
                    Some(Node::Str(code)) => code.clone(),
                    _ => return Err(self.err("numpy.dtype without a type code")),
                };
                Node::NumpyDtype(Box::new(NumpyDtype { code, order: "|".into(), structured: false }))
            }
            Kind::NumpyFromBuffer => {
                // _frombuffer(buffer, dtype, shape, order)
                let (Some(&buf), Some(&dtype), Some(&shape), Some(&order)) =
                    (args.first(), args.get(1), args.get(2), args.get(3))
                else {
                    return Err(self.err("_frombuffer needs (buffer, dtype, shape, order)"));
                };
                Node::Array(Box::new(self.numpy_array(shape, dtype, order, buf)?))
            }
            // Bytes kept in place (protocol 3+) are followed; protocol 2 spells bytes as text
            // (`_codecs.encode`), which has no place in the file: an opaque object then.
            Kind::LoadFromBytes if self.follow_embedded && first.is_some_and(|a| self.spans.contains_key(&a)) => {
                let span = first.and_then(|a| self.spans.get(&a).copied());
                let Some(span) = span else {
                    return Err(self.err("_load_from_bytes without a bytes argument"));
                };
                return self.embedded_storage(span);
            }
            Kind::Storage(_) | Kind::Data | Kind::Opaque | Kind::LoadFromBytes => {
                Node::Object(Box::new(Object { class: func, args, ..Object::default() }))
            }
        };
        self.alloc(node)
    }

    fn items_of(&self, id: Id) -> Vec<Id> {
        match self.node(id) {
            Node::List(items) | Node::Tuple(items) | Node::Set(items) => items.clone(),
            _ => Vec::new(),
        }
    }

    /// `OrderedDict([(k, v), ...])`'s pairs.
    fn pairs_of(&self, id: Id) -> Vec<(Id, Id)> {
        let pair = |item: &Id| match self.node(*item) {
            Node::List(kv) | Node::Tuple(kv) if kv.len() == 2 => Some((kv[0], kv[1])),
            _ => None,
        };
        match self.node(id) {
            Node::Dict(pairs) => pairs.clone(),
            _ => self.items_of(id).iter().filter_map(pair).collect(),
        }
    }

    /// `bytearray(x)` / `_codecs.encode(text, 'latin1')`.
    fn bytes_of(&self, id: Id) -> Vec<u8> {
        match self.node(id) {
            Node::Bytes(b) => b.clone(),
            Node::Str(s) => s.chars().filter_map(|c| u8::try_from(u32::from(c)).ok()).collect(),
            _ => Vec::new(),
        }
    }

    fn uint(&self, id: Option<Id>, what: &str) -> Result<u64> {
        match id.map(|id| self.node(id)) {
            Some(Node::Int(v)) => u64::try_from(*v).map_err(|_| self.err(format!("negative tensor {what} {v}"))),
            Some(Node::Bool(b)) => Ok(u64::from(*b)),
            _ => Err(self.err(format!("tensor {what} is not an integer"))),
        }
    }

    fn dims(&self, id: Option<Id>, what: &str) -> Result<Vec<u64>> {
        let items = match id.map(|id| self.node(id)) {
            Some(Node::Tuple(items) | Node::List(items)) => items.clone(),
            _ => return Err(self.err(format!("tensor {what} is not a tuple"))),
        };
        if items.len() > MAX_DIMS {
            return Err(self.err(format!("tensor {what} has {} dimensions (limit {MAX_DIMS})", items.len())));
        }
        items.into_iter().map(|d| self.uint(Some(d), what)).collect()
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)`.
    fn rebuild_tensor(&self, args: &[Id]) -> Result<TensorRef> {
        let storage = match args.first().map(|&id| self.node(id)) {
            Some(Node::Storage(s)) => (**s).clone(),
            Some(Node::Object(o)) if matches!(self.node(o.class), Node::Global(g) if g.kind == Kind::LoadFromBytes) => {
                let shape = self.dims(args.get(2).copied(), "size")?;
                let unsupported = Some("storage pickled as protocol-2 text (not kept in the file)".to_string());
                return Ok(TensorRef { storage: None, offset: 0, shape, stride: Vec::new(), unsupported });
            }
            _ => return Err(self.err("tensor storage is not a persistent storage reference")),
        };
        let offset = self.uint(args.get(1).copied(), "storage offset")?;
        let shape = self.dims(args.get(2).copied(), "size")?;
        let stride = self.dims(args.get(3).copied(), "stride")?;
        if shape.len() != stride.len() {
            return Err(self.err(format!("tensor size has {} dimensions, stride {}", shape.len(), stride.len())));
        }
        Ok(TensorRef { storage: Some(storage), offset, shape, stride, unsupported: None })
    }

    /// `_rebuild_sparse_tensor(layout, (indices, values, size, ...))`: listed with its shape,
    /// reported as unsupported.
    fn sparse_tensor(&self, args: &[Id]) -> TensorRef {
        let data = args.get(1).map(|&id| self.items_of(id)).unwrap_or_default();
        let shape = self.dims(data.get(2).copied(), "size").unwrap_or_default();
        TensorRef { storage: None, offset: 0, shape, stride: Vec::new(), unsupported: Some("sparse".into()) }
    }

    /// The storage of a legacy torch file held in bytes at `span` (what
    /// `torch.storage._load_from_bytes` would load), its key made unique by the span.
    fn embedded_storage(&mut self, span: Span) -> Result<Id> {
        let start = span.start.saturating_sub(self.base) as usize;
        let Some(bytes) = self.data.get(start..start.saturating_add(span.len as usize)) else {
            return Err(self.err("embedded storage lies outside the pickle"));
        };
        let layout = super::legacy::read_nested(bytes, self.path)?;
        let Node::Storage(storage) = layout.object.node(layout.object.root) else {
            return Err(self.err("_load_from_bytes data does not hold a storage"));
        };
        if layout.order != weightlens_core::ByteOrder::Little {
            return Err(self.err("big-endian embedded storages are not supported"));
        }
        let mut storage = (**storage).clone();
        let Some(member) = layout.storages.get(&storage.key) else {
            return Err(self.err(format!("embedded storage {} has no data", storage.key)));
        };
        let offset = member.offset.checked_add(span.start).ok_or_else(|| self.err("storage offset overflows"))?;
        storage.key = format!("{}:{}", span.start, storage.key);
        if self.embedded.len() >= MAX_MARKS {
            return Err(self.err(format!("more than {MAX_MARKS} embedded storages")));
        }
        self.embedded.insert(storage.key.clone(), Member { offset, len: member.len, packing: Packing::Stored });
        self.alloc(Node::Storage(Box::new(storage)))
    }

    /// torch's persistent ids: `('storage', storage_type, key, location, numel)` in zip files,
    /// with a sixth `view_metadata` in legacy files. Other ids become opaque.
    fn persistent_load(&mut self, pid: Id) -> Result<Id> {
        let items = match self.node(pid) {
            Node::Tuple(items) => items.clone(),
            _ => Vec::new(),
        };
        let tag = items.first().map(|&id| self.node(id));
        let is_storage = matches!(tag, Some(Node::Str(s)) if s == "storage")
            || matches!(tag, Some(Node::Bytes(b)) if b == b"storage");
        if !is_storage {
            self.opaque.insert("<persistent id>".into());
            return self.alloc(Node::None);
        }
        let kind = match items.get(1).map(|&id| self.node(id)) {
            Some(Node::Global(g)) => match &g.kind {
                Kind::Storage(kind) => kind.clone(),
                _ => return Err(self.err(format!("{}.{} is not a torch storage type", g.module, g.name))),
            },
            _ => return Err(self.err("storage type is not a global")),
        };
        let key = match items.get(2).map(|&id| self.node(id)) {
            Some(Node::Str(s)) => s.clone(),
            Some(Node::Int(i)) => i.to_string(),
            Some(Node::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => return Err(self.err("storage key is not a string")),
        };
        let mut numel = self.uint(items.get(4).copied(), "storage size")?;
        let mut view_offset = 0;
        if let Some(&view) = items.get(5) {
            if let Node::Tuple(v) = self.node(view) {
                // Legacy storage views: (view_key, offset, size) into the root storage.
                let v = v.clone();
                view_offset = self.uint(v.get(1).copied(), "storage view offset")?;
                numel = self.uint(v.get(2).copied(), "storage view size")?;
            }
        }
        self.alloc(Node::Storage(Box::new(StorageRef { kind, key, numel, view_offset })))
    }
}

/// `LONG1`/`LONG4`: a little-endian two's complement integer.
fn long_node(bytes: &[u8]) -> Node {
    if bytes.len() <= 8 {
        let fill = if bytes.last().is_some_and(|&b| b & 0x80 != 0) { 0xff } else { 0 };
        let mut buf = [fill; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        return Node::Int(i64::from_le_bytes(buf));
    }
    Node::BigInt(bytes.iter().rev().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The `STRING` opcode's argument: a Python string literal in quotes with backslash escapes.
fn unquote_string(line: &[u8]) -> Option<String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let quote = *line.first()?;
    if !(quote == b'\'' || quote == b'"') || line.len() < 2 || line.last() != Some(&quote) {
        return None;
    }
    let inner = &line[1..line.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while let Some(&b) = inner.get(i) {
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let e = *inner.get(i)?;
        i += 1;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'0' => out.push(0),
            b'x' => {
                let hex = std::str::from_utf8(inner.get(i..i + 2)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The `UNICODE` opcode's argument: latin-1 text with `\uXXXX` and `\UXXXXXXXX` escapes.
fn raw_unicode_escape(line: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while let Some(&b) = line.get(i) {
        let digits = match (b, line.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            _ => {
                out.push(char::from(b));
                i += 1;
                continue;
            }
        };
        let hex = std::str::from_utf8(line.get(i + 2..i + 2 + digits)?).ok()?;
        out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
        i += 2 + digits;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8]) -> Result<Parsed> {
        parse(bytes, Path::new("t.pkl"), 0)
    }

    fn err(bytes: &[u8]) -> String {
        run(bytes).map(|p| format!("parsed: {:?}", p.node(p.root))).unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn reads_containers_and_shares_memoized_objects() {
        // d = {}; memoized before its items are set; then [d, d]
        let p = run(b"\x80\x02}q\x00(X\x01\x00\x00\x00aK\x07uh\x00\x86q\x01.").unwrap();
        let Node::Tuple(items) = p.node(p.root) else { panic!("not a tuple") };
        assert_eq!(items[0], items[1], "one shared object");
        let Node::Dict(pairs) = p.node(items[0]) else { panic!("not a dict") };
        assert_eq!(pairs.len(), 1, "items set after MEMOIZE are visible through the memo");
        assert_eq!(p.node(pairs[0].1), &Node::Int(7));
    }

    #[test]
    fn reads_protocol_0_text_opcodes() {
        let p = run(b"(lp0\nI01\naI-5\naL12345678901234567890L\naF1.5\naS'a\\'b'\naVx\\u00e9\na.").unwrap();
        let Node::List(items) = p.node(p.root) else { panic!("not a list") };
        let values: Vec<&Node> = items.iter().map(|&i| p.node(i)).collect();
        assert_eq!(values[0], &Node::Bool(true));
        assert_eq!(values[1], &Node::Int(-5));
        assert_eq!(values[2], &Node::BigInt("12345678901234567890".into()));
        assert_eq!(values[3], &Node::Float(1.5));
        assert_eq!(values[4], &Node::Str("a'b".into()));
        assert_eq!(values[5], &Node::Str("x\u{e9}".into()));
    }

    #[test]
    fn long1_is_twos_complement() {
        let p = run(b"\x80\x02\x8a\x02\x00\xff.").unwrap();
        assert_eq!(p.node(p.root), &Node::Int(-256));
    }

    #[test]
    fn dangerous_globals_are_refused_by_every_route() {
        let cases: [&[u8]; 5] = [
            b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.",
            b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.",
            b"(S'ls'\niposix\nsystem\n.",
            b"(cnt\nsystem\nS'ls'\no.",
            b"\x80\x02c__builtin__\ngetattr\n.",
        ];
        for (bytes, name) in cases.iter().zip(["os.system", "builtins.eval", "posix.system", "nt.system", "getattr"]) {
            let e = run(bytes).unwrap_err();
            assert!(matches!(e, Error::Refused { .. }) && e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn unknown_globals_are_opaque_objects() {
        let p = run(b"\x80\x02c__main__\nConfig\n)\x81}X\x01\x00\x00\x00aK\x01sb.").unwrap();
        assert!(p.opaque_classes.contains("__main__.Config"));
        let Node::Object(obj) = p.node(p.root) else { panic!("not an object") };
        assert!(obj.state.is_some());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let full =
            b"\x80\x02}q\x00(X\x01\x00\x00\x00aK\x07X\x01\x00\x00\x00b]q\x01(G?\xf0\x00\x00\x00\x00\x00\x00N\x88eu.";
        assert!(run(full).is_ok());
        for n in 0..full.len() {
            assert!(run(&full[..n]).is_err(), "prefix of {n} bytes");
        }
    }

    #[test]
    fn sizes_are_checked_before_copying() {
        let mut huge = b"\x80\x04\x8d".to_vec();
        huge.extend((1u64 << 60).to_le_bytes());
        assert!(err(&huge).contains("limit"));
        assert!(err(b"\x80\x02X\xff\xff\x00\x00abc.").contains("truncated"));
        assert!(err(b"\x80\x02\x8b\xff\xff\xff\xff.").contains("negative"));
        assert!(err(b"\x80\x02cos").contains("newline"));
    }

    #[test]
    fn stack_marks_and_memo_are_bounded() {
        assert!(err(&vec![b'('; MAX_MARKS + 1]).contains("MARK"));
        assert!(err(&vec![b'N'; MAX_STACK + 1]).contains("stack deeper"));
        assert!(err(b"\x80\x02j\x00\x00\x00\x01.").contains("never stored"));
        assert!(err(b"\x80\x020.").contains("MARK"));
        assert!(err(b"\x80\x02(N1a.").contains("underflow"));
        assert!(err(b"\x80\x02Na.").contains("underflow"));
        assert!(err(b"\x80\x02K\x01K\x02a.").contains("not a list"));
        assert!(err(b"\x80\x06N.").contains("protocol"));
        assert!(err(b"\x80\x02\xff.").contains("unknown opcode"));
        assert!(err(b"\x80\x02\x82\x01.").contains("extension"));
    }

    #[test]
    fn tensor_arguments_are_validated() {
        let pid = b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ";
        let build = |rest: &[u8]| {
            let mut b = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(".to_vec();
            b.extend_from_slice(pid);
            b.extend_from_slice(rest);
            b.extend_from_slice(b"tR.");
            b
        };
        let ok = run(&build(b"K\x00K\x02K\x02\x86K\x02K\x01\x86")).unwrap();
        let Node::Tensor(t) = ok.node(ok.root) else { panic!("not a tensor") };
        assert_eq!((t.shape.clone(), t.stride.clone()), (vec![2, 2], vec![2, 1]));
        assert_eq!(t.storage.as_ref().map(|s| (s.key.as_str(), s.numel)), Some(("0", 4)));
        assert!(err(&build(b"J\xff\xff\xff\xffK\x02\x85K\x01\x85")).contains("negative"));
        assert!(err(&build(b"K\x00K\x02\x85K\x02K\x01\x86")).contains("dimensions"));
        assert!(err(&build(b"K\x00K\x02K\x01\x85")).contains("not a tuple"));
        let wrong_type =
            b"\x80\x02(X\x07\x00\x00\x00storagecbuiltins\nset\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ.";
        assert!(err(wrong_type).contains("not a torch storage type"));
    }
}
