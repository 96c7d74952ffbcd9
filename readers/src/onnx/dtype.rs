//! ONNX `TensorProto.DataType`: names, storage, and the conversions of the types that have no
//! [`Dtype`] of their own (sub-byte integers, the FNUZ float8 types, E8M0, FP4), following
//! `onnx.numpy_helper.to_array` and `ml_dtypes`.

use weightlens_core::Dtype;

/// How the elements of one ONNX data type are stored and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Fixed-width little-endian elements of a [`Dtype`] weightlens decodes itself.
    Plain(Dtype),
    /// `bits`-wide integers packed from the least significant bit (`INT4`, `UINT2`...), read
    /// as one `I8`/`U8` per element.
    Packed { bits: u8, signed: bool },
    /// One byte per element, converted to `f32`.
    Byte(ByteFloat),
    /// `FLOAT4E2M1`: two per byte, low nibble first, converted to `f32`.
    Fp4,
    /// Not analyzed (`STRING`, `COMPLEX64`, `UNDEFINED`, types newer than this table).
    Unsupported,
}

/// The one-byte float types converted to `f32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteFloat {
    /// `FLOAT8E4M3FNUZ`.
    E4M3Fnuz,
    /// `FLOAT8E5M2FNUZ`.
    E5M2Fnuz,
    /// `FLOAT8E8M0`.
    E8M0,
}

impl ByteFloat {
    fn decode(self, b: u8) -> f32 {
        match self {
            ByteFloat::E4M3Fnuz => f8e4m3fnuz(b),
            ByteFloat::E5M2Fnuz => f8e5m2fnuz(b),
            ByteFloat::E8M0 => f8e8m0(b),
        }
    }
}

/// The typed field of `TensorProto` that holds a data type's values when `raw_data` is absent
/// (`onnx.helper.tensor_dtype_to_field`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `float_data`.
    Float,
    /// `int32_data` (also 16/8/4/2-bit types, bool and float8, bit patterns in the low bits).
    Int32,
    /// `int64_data`.
    Int64,
    /// `double_data`.
    Double,
    /// `uint64_data`.
    Uint64,
    /// `string_data`.
    String,
}

/// An ONNX data type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnnxType {
    /// The `TensorProto.DataType` name (the `dtype` column).
    pub name: &'static str,
    /// How elements are stored.
    pub storage: Storage,
    /// Where typed (non-raw) values live.
    pub field: Field,
}

/// The table of `TensorProto.DataType` (onnx.proto3, onnx 1.23).
pub fn onnx_type(code: i32) -> Option<OnnxType> {
    use Field::*;
    use Storage::*;
    let t = |name, storage, field| OnnxType { name, storage, field };
    Some(match code {
        1 => t("FLOAT", Plain(Dtype::F32), Float),
        2 => t("UINT8", Plain(Dtype::U8), Int32),
        3 => t("INT8", Plain(Dtype::I8), Int32),
        4 => t("UINT16", Plain(Dtype::U16), Int32),
        5 => t("INT16", Plain(Dtype::I16), Int32),
        6 => t("INT32", Plain(Dtype::I32), Int32),
        7 => t("INT64", Plain(Dtype::I64), Int64),
        8 => t("STRING", Unsupported, String),
        9 => t("BOOL", Plain(Dtype::Bool), Int32),
        10 => t("FLOAT16", Plain(Dtype::F16), Int32),
        11 => t("DOUBLE", Plain(Dtype::F64), Double),
        12 => t("UINT32", Plain(Dtype::U32), Uint64),
        13 => t("UINT64", Plain(Dtype::U64), Uint64),
        14 => t("COMPLEX64", Unsupported, Float),
        15 => t("COMPLEX128", Unsupported, Double),
        16 => t("BFLOAT16", Plain(Dtype::BF16), Int32),
        17 => t("FLOAT8E4M3FN", Plain(Dtype::F8E4M3), Int32),
        18 => t("FLOAT8E4M3FNUZ", Byte(ByteFloat::E4M3Fnuz), Int32),
        19 => t("FLOAT8E5M2", Plain(Dtype::F8E5M2), Int32),
        20 => t("FLOAT8E5M2FNUZ", Byte(ByteFloat::E5M2Fnuz), Int32),
        21 => t("UINT4", Packed { bits: 4, signed: false }, Int32),
        22 => t("INT4", Packed { bits: 4, signed: true }, Int32),
        23 => t("FLOAT4E2M1", Fp4, Int32),
        24 => t("FLOAT8E8M0", Byte(ByteFloat::E8M0), Int32),
        25 => t("UINT2", Packed { bits: 2, signed: false }, Int32),
        26 => t("INT2", Packed { bits: 2, signed: true }, Int32),
        _ => return None,
    })
}

impl OnnxType {
    /// Bits per stored element (`None` for unsupported types).
    pub fn bits(self) -> Option<u64> {
        match self.storage {
            Storage::Plain(d) => d.size().map(|s| 8 * s as u64),
            Storage::Packed { bits, .. } => Some(u64::from(bits)),
            Storage::Byte(_) => Some(8),
            Storage::Fp4 => Some(4),
            Storage::Unsupported => None,
        }
    }

    /// Bytes `numel` elements occupy in `raw_data` (sub-byte types round up to whole bytes).
    pub fn stored_len(self, numel: u64) -> Option<u64> {
        numel.checked_mul(self.bits()?).map(|b| b.div_ceil(8))
    }

    /// The [`Dtype`] of the values served: the stored type when plain, else what they are
    /// converted to.
    pub fn served(self) -> Dtype {
        match self.storage {
            Storage::Plain(d) => d,
            Storage::Packed { signed: true, .. } => Dtype::I8,
            Storage::Packed { signed: false, .. } => Dtype::U8,
            Storage::Byte(_) | Storage::Fp4 => Dtype::F32,
            Storage::Unsupported => Dtype::Unsupported,
        }
    }

    /// Converts `numel` stored elements in `bytes` (already checked to be
    /// [`OnnxType::stored_len`] long) to the little-endian bytes of [`OnnxType::served`];
    /// `None` when the type is stored as served.
    pub fn convert(self, bytes: &[u8], numel: usize) -> Option<Vec<u8>> {
        match self.storage {
            Storage::Plain(_) | Storage::Unsupported => None,
            Storage::Packed { bits, signed } => {
                Some(unpack(bytes, numel, bits).map(|v| sign(v, bits, signed)).collect())
            }
            Storage::Byte(f) => Some(bytes.iter().take(numel).flat_map(|&b| f.decode(b).to_le_bytes()).collect()),
            Storage::Fp4 => Some(unpack(bytes, numel, 4).flat_map(|n| fp4(n).to_le_bytes()).collect()),
        }
    }
}

/// The first `numel` `bits`-wide fields of `bytes`, least significant first.
fn unpack(bytes: &[u8], numel: usize, bits: u8) -> impl Iterator<Item = u8> + '_ {
    let per_byte = usize::from(8 / bits);
    let mask = (1u8 << bits) - 1;
    (0..numel).map(move |i| {
        let byte = bytes.get(i / per_byte).copied().unwrap_or(0);
        (byte >> ((i % per_byte) as u8 * bits)) & mask
    })
}

/// `v` (a `bits`-wide field) as the byte of an `I8` (two's complement, sign-extended) or `U8`.
fn sign(v: u8, bits: u8, signed: bool) -> u8 {
    if signed && v >> (bits - 1) == 1 {
        v | !((1u8 << bits) - 1)
    } else {
        v
    }
}

/// `float8_e4m3fnuz`: bias 8, no infinities, no negative zero, `0x80` is NaN.
fn f8e4m3fnuz(b: u8) -> f32 {
    minifloat(b, 3, 8)
}

/// `float8_e5m2fnuz`: bias 16, no infinities, no negative zero, `0x80` is NaN.
fn f8e5m2fnuz(b: u8) -> f32 {
    minifloat(b, 2, 16)
}

/// A sign/exponent/mantissa byte with `mbits` mantissa bits and `bias`, where `0x80` is NaN
/// and every other pattern is finite (the FNUZ encoding).
fn minifloat(b: u8, mbits: u32, bias: i32) -> f32 {
    if b == 0x80 {
        return f32::NAN;
    }
    let negative = b & 0x80 != 0;
    let exp = i32::from((b & 0x7f) >> mbits);
    let man = f32::from(b & ((1 << mbits) - 1));
    let scale = (1u32 << mbits) as f32;
    let magnitude =
        if exp == 0 { man / scale * 2f32.powi(1 - bias) } else { (1.0 + man / scale) * 2f32.powi(exp - bias) };
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// `float8_e8m0fnu`: an unsigned power of two `2^(b - 127)`; `0xff` is NaN.
fn f8e8m0(b: u8) -> f32 {
    if b == 0xff {
        return f32::NAN;
    }
    // 2^-127 is a subnormal f32; build it from bits to avoid powi's rounding on some targets.
    if b == 0 {
        return f32::from_bits(1 << 22);
    }
    f32::from_bits(u32::from(b) << 23)
}

/// `float4_e2m1fn`: sign, 2 exponent bits (bias 1), 1 mantissa bit; no NaN or infinity.
fn fp4(n: u8) -> f32 {
    let magnitude = match n & 0x7 {
        0 => 0.0,
        1 => 0.5,
        2 => 1.0,
        3 => 1.5,
        4 => 2.0,
        5 => 3.0,
        6 => 4.0,
        _ => 6.0,
    };
    if n & 0x8 != 0 {
        -magnitude
    } else {
        magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_byte_integers_unpack_low_bits_first() {
        let int4 = onnx_type(22).unwrap();
        // 0x7f: low nibble 0xf (-1), high nibble 0x7 (7); 0x08: -8, then padding.
        let out = int4.convert(&[0x7f, 0x08], 3).unwrap();
        assert_eq!(out.iter().map(|&b| b as i8).collect::<Vec<_>>(), vec![-1, 7, -8]);
        let uint2 = onnx_type(25).unwrap();
        assert_eq!(uint2.convert(&[0b1110_0100], 4).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(int4.stored_len(3), Some(2));
        assert_eq!(uint2.stored_len(5), Some(2));
    }

    #[test]
    fn exotic_floats_follow_ml_dtypes() {
        assert!(f8e4m3fnuz(0x80).is_nan());
        assert_eq!(f8e4m3fnuz(0x40), 1.0); // exponent 8 = bias
        assert_eq!(f8e4m3fnuz(0x01), 2f32.powi(-10));
        assert_eq!(f8e4m3fnuz(0xff), -240.0);
        assert_eq!(f8e5m2fnuz(0x40), 1.0);
        assert_eq!(f8e5m2fnuz(0x7f), 57344.0);
        assert_eq!(f8e8m0(127), 1.0);
        assert_eq!(f8e8m0(0), 2f32.powi(-127));
        assert!(f8e8m0(255).is_nan());
        assert_eq!(fp4(0x7), 6.0);
        assert_eq!(fp4(0xb), -1.5);
    }
}
