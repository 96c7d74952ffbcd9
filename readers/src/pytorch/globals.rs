//! What a pickle's globals (`GLOBAL`, `STACK_GLOBAL`, `INST`) mean to the reader.
//!
//! Nothing named here is ever called or imported. A global is one of:
//! - dangerous: [`DENIED`] lists callables that only an attack needs (running commands,
//!   evaluating code, importing modules, reading or writing files, opening connections,
//!   unpickling nested data). This list explains a verdict, it never decides that a file is
//!   safe: that is the allow-list of `crate::safety`. Reaching one refuses the whole file
//!   (`Error::Refused`) unless the caller reads dangerous files on purpose;
//! - structural: the handful of torch and Python globals that checkpoints use to rebuild
//!   tensors and containers, interpreted by the reader as data ([`Kind`]);
//! - opaque: anything else (a user's config class, `argparse.Namespace`, TorchScript modules).
//!   Calling it yields an opaque object whose arguments and state are still searched for tensors.

use weightlens_core::Dtype;

/// The one list of refused globals: `(module, name)`, where a `None` name refuses the whole
/// module and its submodules (`os` covers `os.system` and `os.path.join`).
pub const DENIED: &[(&str, Option<&str>)] = &[
    // Processes, the OS and the interpreter.
    ("os", None),
    ("posix", None),
    ("nt", None),
    ("subprocess", None),
    ("pty", None),
    ("sys", None),
    ("signal", None),
    ("ctypes", None),
    ("multiprocessing", None),
    ("_thread", None),
    ("threading", None),
    ("asyncio", None),
    ("commands", None),
    ("popen2", None),
    ("platform", None),
    ("_posixsubprocess", None),
    ("_winapi", None),
    ("pydoc", None),
    ("venv", None),
    ("ensurepip", None),
    ("idlelib", None),
    // Running or compiling code, importing modules.
    ("runpy", None),
    ("importlib", None),
    ("imp", None),
    ("pkgutil", None),
    ("zipimport", None),
    ("code", None),
    ("codeop", None),
    ("pdb", None),
    ("bdb", None),
    ("timeit", None),
    ("trace", None),
    ("profile", None),
    ("cProfile", None),
    ("types", None),
    ("inspect", None),
    ("gc", None),
    ("site", None),
    ("marshal", None),
    ("builtins", Some("eval")),
    ("builtins", Some("exec")),
    ("builtins", Some("execfile")),
    ("builtins", Some("compile")),
    ("builtins", Some("__import__")),
    ("builtins", Some("getattr")),
    ("builtins", Some("setattr")),
    ("builtins", Some("delattr")),
    ("builtins", Some("open")),
    ("builtins", Some("input")),
    ("builtins", Some("globals")),
    ("builtins", Some("locals")),
    ("builtins", Some("vars")),
    ("builtins", Some("breakpoint")),
    ("builtins", Some("apply")),
    ("builtins", Some("reload")),
    ("builtins", Some("file")),
    ("operator", Some("attrgetter")),
    ("operator", Some("methodcaller")),
    ("numpy.testing._private.utils", Some("runstring")),
    ("numpy.f2py", None),
    ("numpy.distutils", None),
    ("torch.utils.cpp_extension", None),
    ("torch.package", None),
    ("torch._dynamo", None),
    ("torch._inductor", None),
    ("torch.storage", Some("_load_from_file")),
    // Files, the network and the desktop.
    ("shutil", None),
    ("tempfile", None),
    ("glob", None),
    ("io", None),
    ("_io", None),
    ("socket", None),
    ("ssl", None),
    ("urllib", None),
    ("http", None),
    ("ftplib", None),
    ("smtplib", None),
    ("telnetlib", None),
    ("requests", None),
    ("webbrowser", None),
    ("pip", None),
    ("setuptools", None),
    ("distutils", None),
    // Nested deserialisers that could run what this list refuses.
    ("pickle", None),
    ("_pickle", None),
    ("cPickle", None),
    ("dill", None),
    ("shelve", None),
    ("joblib", None),
    ("numpy", Some("load")),
    ("numpy.lib.npyio", Some("load")),
    ("pandas", Some("read_pickle")),
    ("pandas.io.pickle", None),
    ("torch", Some("load")),
    ("torch.serialization", Some("load")),
    ("torch.hub", None),
    ("torch.jit", Some("load")),
];

/// Python 2 and 3 spell some modules differently (torch's `IMPORT_MAPPING`); the lists use the
/// Python 3 names.
pub fn canonical_module(module: &str) -> &str {
    match module {
        "__builtin__" | "__builtins__" => "builtins",
        "copy_reg" => "copyreg",
        other => other,
    }
}

/// True if reaching `module.name` must refuse the file.
pub fn is_denied(module: &str, name: &str) -> bool {
    let module = canonical_module(module);
    DENIED.iter().any(|&(m, n)| match n {
        Some(n) => module == m && name == n,
        None => module == m || module.strip_prefix(m).is_some_and(|rest| rest.starts_with('.')),
    })
}

/// The element type of a torch storage class.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageKind {
    /// The element type (`Dtype::Unsupported` for complex and quantized storages).
    pub dtype: Dtype,
    /// The dtype in torch's vocabulary (`float32`, `complex64`, `qint8`...).
    pub name: String,
    /// Bytes per element, when known.
    pub elem_size: Option<u64>,
}

/// torch storage class names (without the `Storage` suffix) of types this project does not
/// decode, with torch's dtype name and element size.
const UNSUPPORTED_STORAGES: &[(&str, &str, u64)] = &[
    ("ComplexHalf", "complex32", 4),
    ("ComplexFloat", "complex64", 8),
    ("ComplexDouble", "complex128", 16),
    ("QInt8", "qint8", 1),
    ("QUInt8", "quint8", 1),
    ("QInt32", "qint32", 4),
    ("QUInt4x2", "quint4x2", 1),
    ("QUInt2x4", "quint2x4", 1),
    ("Float8_e4m3fnuz", "float8_e4m3fnuz", 1),
    ("Float8_e5m2fnuz", "float8_e5m2fnuz", 1),
    ("Float8_e8m0fnu", "float8_e8m0fnu", 1),
];

/// The storage kind of torch class `name` (`FloatStorage`), or `None` if it is no storage class.
pub fn storage_kind(name: &str) -> Option<StorageKind> {
    let stem = name.strip_suffix("Storage")?;
    let dtype = match stem {
        "Double" => Dtype::F64,
        "Float" => Dtype::F32,
        "Half" => Dtype::F16,
        "BFloat16" => Dtype::BF16,
        "Float8_e4m3fn" => Dtype::F8E4M3,
        "Float8_e5m2" => Dtype::F8E5M2,
        "Long" => Dtype::I64,
        "Int" => Dtype::I32,
        "Short" => Dtype::I16,
        "Char" => Dtype::I8,
        "UInt64" => Dtype::U64,
        "UInt32" => Dtype::U32,
        "UInt16" => Dtype::U16,
        // An untyped storage holds bytes.
        "Byte" | "Untyped" => Dtype::U8,
        "Bool" => Dtype::Bool,
        _ => {
            let known = UNSUPPORTED_STORAGES.iter().find(|(s, _, _)| *s == stem);
            return Some(StorageKind {
                dtype: Dtype::Unsupported,
                name: known.map_or_else(|| name.to_string(), |(_, n, _)| n.to_string()),
                elem_size: known.map(|(_, _, size)| *size),
            });
        }
    };
    Some(StorageKind { dtype, name: dtype.torch_name().to_string(), elem_size: dtype.size().map(|s| s as u64) })
}

/// What the reader does with a structural global when the pickle calls it.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `collections.OrderedDict`: a dict.
    OrderedDict,
    /// `torch._utils._rebuild_tensor_v2` / `_rebuild_tensor` / `_rebuild_qtensor`:
    /// `(storage, storage_offset, size, stride, ...)` is a tensor.
    RebuildTensor,
    /// `torch._utils._rebuild_parameter` (`_with_state`): the tensor in the first argument.
    RebuildParameter,
    /// `torch._tensor._rebuild_from_type_v2(func, type, args, state)`: `func(*args)`.
    RebuildFromType,
    /// `torch._utils._rebuild_sparse_tensor` and friends: a tensor of an unsupported layout.
    RebuildSparse,
    /// `torch.<X>Storage`: a storage class (named in persistent ids).
    Storage(StorageKind),
    /// `torch.Size`: the tuple in the first argument.
    Size,
    /// `builtins.set` / `frozenset`: a set of the first argument's items.
    Set,
    /// `builtins.bytearray` / `_codecs.encode` (protocol 2's spelling of `bytes`): bytes.
    Bytes,
    /// `copyreg._reconstructor(cls, base, state)`: an object of `cls`.
    Reconstructor,
    /// A harmless value used as data (`torch.float32`, `torch.device`, `builtins.slice`...).
    Data,
    /// `numpy.core.multiarray._reconstruct` (and `numpy._core`): an array completed by `BUILD`.
    NumpyReconstruct,
    /// `numpy.dtype(code, align, copy)`: a dtype completed by `BUILD`.
    NumpyDtype,
    /// `numpy.core.numeric._frombuffer(buffer, dtype, shape, order)` (protocol 5): an array.
    NumpyFromBuffer,
    /// `torch.storage._load_from_bytes(b)`: a storage pickled without `torch.save` (`pickle.dumps`
    /// of a tensor), whose bytes are a legacy torch file holding it; read, never loaded.
    LoadFromBytes,
    /// Anything else: calling it yields an opaque object.
    Opaque,
}

/// torch attributes that are dtypes, layouts or memory formats (data, never called).
const TORCH_DATA: &[&str] = &[
    "float64",
    "float32",
    "float16",
    "bfloat16",
    "double",
    "float",
    "half",
    "float8_e4m3fn",
    "float8_e5m2",
    "int64",
    "int32",
    "int16",
    "int8",
    "long",
    "int",
    "short",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "complex64",
    "complex128",
    "cfloat",
    "cdouble",
    "qint8",
    "quint8",
    "qint32",
    "device",
    "strided",
    "sparse_coo",
    "sparse_csr",
    "sparse_csc",
    "sparse_bsr",
    "sparse_bsc",
    "contiguous_format",
    "channels_last",
    "preserve_format",
];

/// Classifies the (not refused) global `module.name`.
pub fn classify(module: &str, name: &str) -> Kind {
    match (canonical_module(module), name) {
        ("collections", "OrderedDict") => Kind::OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor" | "_rebuild_qtensor") => Kind::RebuildTensor,
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => Kind::RebuildParameter,
        ("torch._tensor", "_rebuild_from_type_v2") => Kind::RebuildFromType,
        ("torch._utils", "_rebuild_sparse_tensor" | "_rebuild_sparse_csr_tensor") => Kind::RebuildSparse,
        ("torch" | "torch.cuda", n) if storage_kind(n).is_some() => storage_kind(n).map_or(Kind::Opaque, Kind::Storage),
        ("torch", "Size") => Kind::Size,
        ("torch", n) if TORCH_DATA.contains(&n) => Kind::Data,
        ("torch.serialization", "_get_layout") => Kind::Data,
        ("builtins", "set" | "frozenset") => Kind::Set,
        ("builtins", "bytearray") | ("_codecs", "encode") => Kind::Bytes,
        ("builtins", "slice" | "complex" | "object") => Kind::Data,
        ("copyreg", "_reconstructor") => Kind::Reconstructor,
        ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => Kind::NumpyReconstruct,
        ("numpy", "dtype") => Kind::NumpyDtype,
        ("numpy.core.numeric" | "numpy._core.numeric", "_frombuffer") => Kind::NumpyFromBuffer,
        ("numpy", "ndarray") => Kind::Data,
        ("torch.storage", "_load_from_bytes") => Kind::LoadFromBytes,
        _ => Kind::Opaque,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denies_modules_and_names() {
        assert!(is_denied("os", "system"));
        assert!(is_denied("posix", "system"));
        assert!(is_denied("os.path", "join"));
        assert!(is_denied("__builtin__", "eval"));
        assert!(is_denied("builtins", "getattr"));
        assert!(is_denied("subprocess", "Popen"));
        assert!(is_denied("numpy.testing._private.utils", "runstring"));
        assert!(is_denied("torch.serialization", "load"));
        assert!(!is_denied("osmosis", "x"));
        assert!(!is_denied("builtins", "set"));
        assert!(!is_denied("collections", "OrderedDict"));
        assert!(!is_denied("_codecs", "encode"));
    }

    #[test]
    fn classifies_storages_and_structure() {
        let k = storage_kind("BFloat16Storage").unwrap();
        assert_eq!((k.dtype, k.name.as_str(), k.elem_size), (Dtype::BF16, "bfloat16", Some(2)));
        let c = storage_kind("ComplexFloatStorage").unwrap();
        assert_eq!((c.dtype, c.name.as_str(), c.elem_size), (Dtype::Unsupported, "complex64", Some(8)));
        assert_eq!(storage_kind("WeirdStorage").unwrap().elem_size, None);
        assert!(storage_kind("Tensor").is_none());
        assert_eq!(classify("torch._utils", "_rebuild_tensor_v2"), Kind::RebuildTensor);
        assert_eq!(classify("torch", "float32"), Kind::Data);
        assert_eq!(classify("__main__", "Config"), Kind::Opaque);
        assert!(matches!(classify("torch", "HalfStorage"), Kind::Storage(_)));
    }
}
