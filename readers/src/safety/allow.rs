//! The allow-list: the globals `torch.load(weights_only=True)` accepts by default (torch
//! 2.4-2.9, `torch/_weights_only_unpickler.py::_get_allowed_globals`), plus numpy's array
//! reconstruction. Matched exactly as `(module, qualname)` after torch's own Python 2 renames
//! (`__builtin__` is `builtins`, `copy_reg` is `copyreg`); nothing is matched by prefix, so a
//! look-alike module or a dotted qualname (`Size.__class__`) is never on the list.

/// Exact `(module, name)` pairs (dtypes, storages and tensor classes are generated below).
const ALLOWED: &[(&str, &str)] = &[
    ("collections", "OrderedDict"),
    ("collections", "Counter"),
    ("torch.nn.parameter", "Parameter"),
    ("torch.serialization", "_get_layout"),
    ("torch", "Size"),
    ("torch", "Tensor"),
    ("torch", "device"),
    ("_codecs", "encode"),
    ("builtins", "bytearray"),
    ("builtins", "set"),
    ("builtins", "complex"),
    // _tensor_rebuild_functions()
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._utils", "_rebuild_qtensor"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor_v3"),
    ("torch._utils", "_rebuild_sparse_tensor"),
    ("torch._utils", "_rebuild_meta_tensor_no_storage"),
    ("torch._utils", "_rebuild_wrapper_subclass"),
    ("torch._utils", "_rebuild_device_tensor_from_numpy"),
    ("torch._utils", "_rebuild_device_tensor_from_cpu_tensor"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    // Quantization schemes.
    ("torch", "per_tensor_affine"),
    ("torch", "per_tensor_symmetric"),
    ("torch", "per_channel_affine"),
    ("torch", "per_channel_symmetric"),
    ("torch", "per_channel_affine_float_qparams"),
    ("torch.storage", "TypedStorage"),
    ("torch.storage", "UntypedStorage"),
    // numpy's array reconstruction (numpy 1.x `numpy.core`, 2.x `numpy._core`).
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
];

/// `str(dtype)` of every torch dtype (`torch.float32`): the keys torch's list uses for them
/// (aliases such as `torch.float` are not keys, so they are not allowed).
const TORCH_DTYPES: &[&str] = &[
    "float64",
    "float32",
    "float16",
    "bfloat16",
    "complex32",
    "complex64",
    "complex128",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "bool",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
    "uint16",
    "uint32",
    "uint64",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bits16",
    "uint1",
    "uint2",
    "uint3",
    "uint4",
    "uint5",
    "uint6",
    "uint7",
    "int1",
    "int2",
    "int3",
    "int4",
    "int5",
    "int6",
    "int7",
];

/// Element-type stems of torch's legacy storage and tensor classes (`torch.FloatStorage`,
/// `torch.cuda.HalfTensor`).
const CLASS_STEMS: &[&str] = &[
    "Double",
    "Float",
    "Half",
    "BFloat16",
    "Long",
    "Int",
    "Short",
    "Char",
    "Byte",
    "Bool",
    "ComplexDouble",
    "ComplexFloat",
    "QUInt8",
    "QInt8",
    "QInt32",
    "QUInt4x2",
    "QUInt2x4",
];

use crate::pytorch::globals::canonical_module;

/// True if `module.name` is on the allow-list.
pub fn is_allowed(module: &str, name: &str) -> bool {
    let module = canonical_module(module);
    if ALLOWED.contains(&(module, name)) {
        return true;
    }
    let class_of = |suffix: &str| name.strip_suffix(suffix).is_some_and(|stem| CLASS_STEMS.contains(&stem));
    match module {
        "torch" => TORCH_DTYPES.contains(&name) || class_of("Storage") || class_of("Tensor"),
        "torch.cuda" => class_of("Storage") || class_of("Tensor"),
        "torch.sparse" | "torch.cuda.sparse" => class_of("Tensor"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_exactly() {
        assert!(is_allowed("torch._utils", "_rebuild_tensor_v2"));
        assert!(is_allowed("collections", "OrderedDict"));
        assert!(is_allowed("torch", "BFloat16Storage"));
        assert!(is_allowed("torch", "float32"));
        assert!(is_allowed("__builtin__", "set"));
        assert!(is_allowed("numpy._core.multiarray", "_reconstruct"));
        assert!(!is_allowed("torch", "float"), "an alias is not a key of torch's list");
        assert!(!is_allowed("torch", "Size.__class__"));
        assert!(!is_allowed("torch._utils ", "_rebuild_tensor_v2"));
        assert!(!is_allowed("torch._utilsx", "_rebuild_tensor_v2"));
        assert!(!is_allowed("torch", "load"));
        assert!(!is_allowed("builtins", "getattr"));
        assert!(!is_allowed("_codecs", "decode"));
        assert!(!is_allowed("torch", "WeirdStorage"));
        assert!(!is_allowed("argparse", "Namespace"));
    }
}
