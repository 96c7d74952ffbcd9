//! Element types as stored in files, and their names in each framework's vocabulary.

use std::fmt;

use crate::source::{DtypeNames, Framework};

/// Byte order of multi-byte elements in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ByteOrder {
    /// Little endian (every format's default).
    #[default]
    Little,
    /// Big endian (numpy `>` descriptors, torch `byteorder` = big, big-endian GGUF).
    Big,
}

/// A block-quantized element type (GGUF/ggml `Q4_K`, `IQ2_XXS`, ...).
///
/// Readers that know quantized formats define one static value per type; the core only needs the
/// name and the block geometry to size buffers and validate byte lengths.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct QuantType {
    /// The name as the format spells it (`Q4_K`).
    pub name: &'static str,
    /// The numeric type id in the format (ggml `type` field).
    pub id: u32,
    /// Elements per block.
    pub block_elems: u32,
    /// Bytes per block.
    pub block_bytes: u32,
}

/// The storage type of a tensor's elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dtype {
    /// IEEE binary64.
    F64,
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16 (upper half of a binary32).
    BF16,
    /// 8-bit float, 4 exponent bits, 3 mantissa bits, no infinities (`float8_e4m3fn`).
    F8E4M3,
    /// 8-bit float, 5 exponent bits, 2 mantissa bits, IEEE-like (`float8_e5m2`).
    F8E5M2,
    /// Signed 64-bit integer.
    I64,
    /// Signed 32-bit integer.
    I32,
    /// Signed 16-bit integer.
    I16,
    /// Signed 8-bit integer.
    I8,
    /// Unsigned 64-bit integer.
    U64,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 16-bit integer.
    U16,
    /// Unsigned 8-bit integer.
    U8,
    /// Boolean stored as one byte (0 or 1; any non-zero byte reads as 1).
    Bool,
    /// A block-quantized type; decoded by the reader's [`crate::BlockDecoder`].
    Quant(&'static QuantType),
    /// A type this project cannot decode (complex, quantized torch tensors, ...). The tensor is
    /// listed, and analyzing it is an error for that tensor only.
    Unsupported,
}

impl Dtype {
    /// Bytes per element for plain (non-block) types; `None` for quantized and unsupported types.
    pub fn size(self) -> Option<usize> {
        Some(match self {
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 | Dtype::U16 => 2,
            Dtype::F8E4M3 | Dtype::F8E5M2 | Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
            Dtype::Quant(_) | Dtype::Unsupported => return None,
        })
    }

    /// True for floating-point and quantized types (decoded values may be NaN/Inf or fractional).
    pub fn is_float(self) -> bool {
        matches!(
            self,
            Dtype::F64 | Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F8E4M3 | Dtype::F8E5M2 | Dtype::Quant(_)
        )
    }

    /// The number of bytes `numel` elements occupy, checked for overflow.
    /// For quantized types `numel` must be a whole number of blocks.
    pub fn byte_len(self, numel: u64) -> Option<u64> {
        match self {
            Dtype::Quant(q) => {
                let elems = u64::from(q.block_elems);
                if elems == 0 || !numel.is_multiple_of(elems) {
                    return None;
                }
                (numel / elems).checked_mul(u64::from(q.block_bytes))
            }
            Dtype::Unsupported => None,
            plain => numel.checked_mul(plain.size()? as u64),
        }
    }

    /// The safetensors name (`F32`, `BF16`, `F8_E4M3`, `BOOL`...); GGUF uses the same spelling for
    /// the types it shares, and the ggml name for quantized types.
    pub fn safetensors_name(self) -> &'static str {
        match self {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::F8E4M3 => "F8_E4M3",
            Dtype::F8E5M2 => "F8_E5M2",
            Dtype::I64 => "I64",
            Dtype::I32 => "I32",
            Dtype::I16 => "I16",
            Dtype::I8 => "I8",
            Dtype::U64 => "U64",
            Dtype::U32 => "U32",
            Dtype::U16 => "U16",
            Dtype::U8 => "U8",
            Dtype::Bool => "BOOL",
            Dtype::Quant(q) => q.name,
            Dtype::Unsupported => "unsupported",
        }
    }

    /// The plain dtype named `name` in safetensors' spelling (weightlens' own vocabulary, also
    /// used by reader plugins); `None` for any other name.
    pub fn from_safetensors_name(name: &str) -> Option<Dtype> {
        Some(match name {
            "F64" => Dtype::F64,
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            "F8_E4M3" => Dtype::F8E4M3,
            "F8_E5M2" => Dtype::F8E5M2,
            "I64" => Dtype::I64,
            "I32" => Dtype::I32,
            "I16" => Dtype::I16,
            "I8" => Dtype::I8,
            "U64" => Dtype::U64,
            "U32" => Dtype::U32,
            "U16" => Dtype::U16,
            "U8" => Dtype::U8,
            "BOOL" => Dtype::Bool,
            _ => return None,
        })
    }

    /// The torch name, which is also numpy's (`float32`, `bfloat16`, `float8_e4m3fn`, `int64`, `bool`...).
    pub fn torch_name(self) -> &'static str {
        match self {
            Dtype::F64 => "float64",
            Dtype::F32 => "float32",
            Dtype::F16 => "float16",
            Dtype::BF16 => "bfloat16",
            Dtype::F8E4M3 => "float8_e4m3fn",
            Dtype::F8E5M2 => "float8_e5m2",
            Dtype::I64 => "int64",
            Dtype::I32 => "int32",
            Dtype::I16 => "int16",
            Dtype::I8 => "int8",
            Dtype::U64 => "uint64",
            Dtype::U32 => "uint32",
            Dtype::U16 => "uint16",
            Dtype::U8 => "uint8",
            Dtype::Bool => "bool",
            Dtype::Quant(q) => q.name,
            Dtype::Unsupported => "unsupported",
        }
    }

    /// The name of this dtype in the vocabulary of `framework` (docs/output-spec.md: "the storage type as
    /// the file names it").
    pub fn name_in(self, framework: Framework) -> &'static str {
        match framework.dtype_names() {
            DtypeNames::Safetensors => self.safetensors_name(),
            DtypeNames::Torch => self.torch_name(),
            DtypeNames::Onnx => self.onnx_name(),
        }
    }

    /// The ONNX `TensorProto.DataType` name (`FLOAT`, `FLOAT16`, `BFLOAT16`, `FLOAT8E4M3FN`, `INT64`, `BOOL`...).
    pub fn onnx_name(self) -> &'static str {
        match self {
            Dtype::F64 => "DOUBLE",
            Dtype::F32 => "FLOAT",
            Dtype::F16 => "FLOAT16",
            Dtype::BF16 => "BFLOAT16",
            Dtype::F8E4M3 => "FLOAT8E4M3FN",
            Dtype::F8E5M2 => "FLOAT8E5M2",
            Dtype::I64 => "INT64",
            Dtype::I32 => "INT32",
            Dtype::I16 => "INT16",
            Dtype::I8 => "INT8",
            Dtype::U64 => "UINT64",
            Dtype::U32 => "UINT32",
            Dtype::U16 => "UINT16",
            Dtype::U8 => "UINT8",
            Dtype::Bool => "BOOL",
            Dtype::Quant(q) => q.name,
            Dtype::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.safetensors_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_len_checks_overflow_and_blocks() {
        assert_eq!(Dtype::F32.byte_len(10), Some(40));
        assert_eq!(Dtype::F64.byte_len(u64::MAX / 4), None);
        static Q: QuantType = QuantType { name: "Q4_0", id: 2, block_elems: 32, block_bytes: 18 };
        assert_eq!(Dtype::Quant(&Q).byte_len(64), Some(36));
        assert_eq!(Dtype::Quant(&Q).byte_len(33), None);
        assert_eq!(Dtype::Unsupported.byte_len(1), None);
    }

    #[test]
    fn names_follow_the_framework() {
        assert_eq!(Dtype::BF16.name_in(Framework::SAFETENSORS), "BF16");
        assert_eq!(Dtype::BF16.name_in(Framework::PYTORCH), "bfloat16");
        assert_eq!(Dtype::F8E4M3.name_in(Framework::PYTORCH), "float8_e4m3fn");
        assert_eq!(Dtype::F32.name_in(Framework::NPZ), "float32");
        assert_eq!(Dtype::Bool.name_in(Framework::SAFETENSORS), "BOOL");
        assert_eq!(Dtype::BF16.name_in(Framework::ONNX), "BFLOAT16");
        assert_eq!(Dtype::F32.name_in(Framework::ONNX), "FLOAT");
    }
}
