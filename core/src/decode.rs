//! Decoding plain (non-block) element types to `f64` and `f32`.
//!
//! Decoders work on byte slices of any alignment (memory-mapped tensors are not guaranteed to be
//! aligned) and take the byte order into account. They are written as simple per-element loops
//! over `chunks_exact`, which the compiler vectorizes.

use crate::dtype::{ByteOrder, Dtype};

/// Value of a `float8_e4m3fn` byte: 1 sign, 4 exponent (bias 7), 3 mantissa bits, no infinities;
/// `S.1111.111` is NaN.
pub fn f8_e4m3_to_f32(b: u8) -> f32 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((b >> 3) & 0x0f);
    let man = f32::from(b & 0x07);
    if exp == 0x0f && b & 0x07 == 0x07 {
        return f32::NAN;
    }
    if exp == 0 {
        return sign * man / 8.0 * 2f32.powi(-6);
    }
    sign * (1.0 + man / 8.0) * 2f32.powi(exp - 7)
}

/// Value of a `float8_e5m2` byte: IEEE-like, 1 sign, 5 exponent (bias 15), 2 mantissa bits.
pub fn f8_e5m2_to_f32(b: u8) -> f32 {
    // e5m2 is the upper byte of an IEEE binary16.
    half::f16::from_bits(u16::from(b) << 8).to_f32()
}

macro_rules! read_elem {
    ($ty:ty, $chunk:expr, $order:expr) => {{
        let bytes = $chunk.try_into().unwrap_or_default();
        match $order {
            ByteOrder::Little => <$ty>::from_le_bytes(bytes),
            ByteOrder::Big => <$ty>::from_be_bytes(bytes),
        }
    }};
}

/// Decodes `bytes` (whole elements of `dtype` in `order`) into `out` as `f64`.
///
/// `bytes.len()` must equal `out.len() * dtype.size()`; callers validate this once per view.
/// Quantized and unsupported types are not plain and leave `out` untouched.
pub fn decode_plain_f64(dtype: Dtype, order: ByteOrder, bytes: &[u8], out: &mut [f64]) {
    macro_rules! each {
        ($n:expr, |$c:ident| $e:expr) => {
            for (o, $c) in out.iter_mut().zip(bytes.chunks_exact($n)) {
                *o = $e;
            }
        };
    }
    match dtype {
        Dtype::F64 => each!(8, |c| read_elem!(f64, c, order)),
        Dtype::F32 => each!(4, |c| f64::from(read_elem!(f32, c, order))),
        Dtype::F16 => each!(2, |c| half::f16::from_bits(read_elem!(u16, c, order)).to_f64()),
        Dtype::BF16 => each!(2, |c| half::bf16::from_bits(read_elem!(u16, c, order)).to_f64()),
        Dtype::F8E4M3 => each!(1, |c| f64::from(f8_e4m3_to_f32(c[0]))),
        Dtype::F8E5M2 => each!(1, |c| f64::from(f8_e5m2_to_f32(c[0]))),
        Dtype::I64 => each!(8, |c| read_elem!(i64, c, order) as f64),
        Dtype::I32 => each!(4, |c| f64::from(read_elem!(i32, c, order))),
        Dtype::I16 => each!(2, |c| f64::from(read_elem!(i16, c, order))),
        Dtype::I8 => each!(1, |c| f64::from(c[0] as i8)),
        Dtype::U64 => each!(8, |c| read_elem!(u64, c, order) as f64),
        Dtype::U32 => each!(4, |c| f64::from(read_elem!(u32, c, order))),
        Dtype::U16 => each!(2, |c| f64::from(read_elem!(u16, c, order))),
        Dtype::U8 => each!(1, |c| f64::from(c[0])),
        Dtype::Bool => each!(1, |c| if c[0] != 0 { 1.0 } else { 0.0 }),
        Dtype::Quant(_) | Dtype::Unsupported => {}
    }
}

/// Decodes `bytes` into `out` as `f32` (64-bit integers and `f64` are rounded to nearest).
/// Same contract as [`decode_plain_f64`].
pub fn decode_plain_f32(dtype: Dtype, order: ByteOrder, bytes: &[u8], out: &mut [f32]) {
    macro_rules! each {
        ($n:expr, |$c:ident| $e:expr) => {
            for (o, $c) in out.iter_mut().zip(bytes.chunks_exact($n)) {
                *o = $e;
            }
        };
    }
    match dtype {
        Dtype::F64 => each!(8, |c| read_elem!(f64, c, order) as f32),
        Dtype::F32 => each!(4, |c| read_elem!(f32, c, order)),
        Dtype::F16 => each!(2, |c| half::f16::from_bits(read_elem!(u16, c, order)).to_f32()),
        Dtype::BF16 => each!(2, |c| half::bf16::from_bits(read_elem!(u16, c, order)).to_f32()),
        Dtype::F8E4M3 => each!(1, |c| f8_e4m3_to_f32(c[0])),
        Dtype::F8E5M2 => each!(1, |c| f8_e5m2_to_f32(c[0])),
        Dtype::I64 => each!(8, |c| read_elem!(i64, c, order) as f32),
        Dtype::I32 => each!(4, |c| read_elem!(i32, c, order) as f32),
        Dtype::I16 => each!(2, |c| f32::from(read_elem!(i16, c, order))),
        Dtype::I8 => each!(1, |c| f32::from(c[0] as i8)),
        Dtype::U64 => each!(8, |c| read_elem!(u64, c, order) as f32),
        Dtype::U32 => each!(4, |c| read_elem!(u32, c, order) as f32),
        Dtype::U16 => each!(2, |c| f32::from(read_elem!(u16, c, order))),
        Dtype::U8 => each!(1, |c| f32::from(c[0])),
        Dtype::Bool => each!(1, |c| if c[0] != 0 { 1.0 } else { 0.0 }),
        Dtype::Quant(_) | Dtype::Unsupported => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f8_e4m3_matches_known_values() {
        assert_eq!(f8_e4m3_to_f32(0x00), 0.0);
        assert_eq!(f8_e4m3_to_f32(0x38), 1.0); // exp 7, man 0
        assert_eq!(f8_e4m3_to_f32(0x7e), 448.0); // largest finite
        assert_eq!(f8_e4m3_to_f32(0x01), 2f32.powi(-9)); // smallest subnormal
        assert_eq!(f8_e4m3_to_f32(0xb8), -1.0);
        assert!(f8_e4m3_to_f32(0x7f).is_nan());
        assert!(f8_e4m3_to_f32(0xff).is_nan());
    }

    #[test]
    fn f8_e5m2_matches_known_values() {
        assert_eq!(f8_e5m2_to_f32(0x3c), 1.0);
        assert_eq!(f8_e5m2_to_f32(0x7b), 57344.0);
        assert!(f8_e5m2_to_f32(0x7c).is_infinite());
        assert!(f8_e5m2_to_f32(0x7d).is_nan());
    }

    #[test]
    fn byte_order_is_respected() {
        let mut out = [0.0f64; 1];
        decode_plain_f64(Dtype::F32, ByteOrder::Big, &1.5f32.to_be_bytes(), &mut out);
        assert_eq!(out[0], 1.5);
        decode_plain_f64(Dtype::I16, ByteOrder::Little, &(-3i16).to_le_bytes(), &mut out);
        assert_eq!(out[0], -3.0);
        let mut out32 = [0.0f32; 2];
        decode_plain_f32(Dtype::Bool, ByteOrder::Little, &[0, 7], &mut out32);
        assert_eq!(out32, [0.0, 1.0]);
    }
}
