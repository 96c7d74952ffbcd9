//! 4-bit floats (E2M1) with shared scales: `MXFP4` (32 values, one E8M0 power of two) and
//! `NVFP4` (64 values, four unsigned E4M3 scales of 16 values each).
//!
//! The E2M1 table holds doubled values (ggml `kvalues_mxfp4`) and the scales are halved to match,
//! so every product is exact.

use super::each_block;

/// E2M1 code -> twice its value (ggml `kvalues_mxfp4`).
const E2M1_X2: [f32; 16] = [0., 1., 2., 3., 4., 6., 8., 12., 0., -1., -2., -3., -4., -6., -8., -12.];

/// Half the value of an E8M0 exponent byte (ggml `ggml_e8m0_to_fp32_half`): `2^(e - 128)`,
/// with the subnormal patterns for e = 0 and 1.
#[inline(always)]
fn e8m0_half(e: u8) -> f32 {
    let bits = if e < 2 { 0x0020_0000u32 << e } else { u32::from(e - 1) << 23 };
    f32::from_bits(bits)
}

/// Half the value of each unsigned E4M3 scale byte (bias 7, 3 mantissa bits; the sign bit is
/// ignored), with 0 and 0x7f (NaN) read as 0, as gguf-py's NVFP4 dequantization does. Every
/// entry is exact: a small integer times a power of two.
static UE4M3_HALF: [f32; 256] = {
    let mut t = [0f32; 256];
    let mut x = 1;
    while x < 256 {
        let (exp, man) = ((x >> 3) & 0x0f, (x & 0x07) as f32);
        let raw = if exp == 0 {
            man / 512.0
        } else {
            let mut p = 1.0f32;
            let mut e = exp;
            while e > 7 {
                p *= 2.0;
                e -= 1;
            }
            while e < 7 {
                p /= 2.0;
                e += 1;
            }
            (1.0 + man / 8.0) * p
        };
        t[x] = if x == 0x7f { 0.0 } else { raw * 0.5 };
        x += 1;
    }
    t
};

#[inline(always)]
fn ue4m3_half(x: u8) -> f32 {
    UE4M3_HALF[usize::from(x)]
}

/// `MXFP4`: an E8M0 exponent, 16 bytes of E2M1 nibbles (low nibbles first).
pub fn mxfp4(src: &[u8], dst: &mut [f32]) {
    each_block::<17, 32>(src, dst, |b, y| {
        let d = e8m0_half(b[0]);
        for j in 0..16 {
            y[j] = d * E2M1_X2[usize::from(b[1 + j] & 0x0f)];
            y[j + 16] = d * E2M1_X2[usize::from(b[1 + j] >> 4)];
        }
    });
}

/// `NVFP4`: four UE4M3 scales, then per 16-value sub-block 8 bytes of E2M1 nibbles (low
/// nibbles are values 0..8, high nibbles 8..16).
pub fn nvfp4(src: &[u8], dst: &mut [f32]) {
    each_block::<36, 64>(src, dst, |b, y| {
        for (s, out) in y.chunks_exact_mut(16).enumerate() {
            let d = ue4m3_half(b[s]);
            let qs = &b[4 + s * 8..4 + s * 8 + 8];
            for (j, &q) in qs.iter().enumerate() {
                out[j] = d * E2M1_X2[usize::from(q & 0x0f)];
                out[j + 8] = d * E2M1_X2[usize::from(q >> 4)];
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_decode_exactly() {
        assert_eq!(e8m0_half(127), 0.5);
        assert_eq!(e8m0_half(128), 1.0);
        assert_eq!(e8m0_half(1), 2f32.powi(-127));
        assert_eq!(ue4m3_half(0x38), 0.5); // exp 7, man 0 -> 1.0
        assert_eq!(ue4m3_half(0x01), 2f32.powi(-10));
        assert_eq!(ue4m3_half(0x7f), 0.0);
    }
}
