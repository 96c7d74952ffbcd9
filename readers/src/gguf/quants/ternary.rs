//! Ternary types (values -1, 0, 1 times a scale): `TQ1_0` packs five trits per byte in base 3,
//! `TQ2_0` uses two bits per value (ggml-common.h `block_tq1_0`, `block_tq2_0`).

use super::{each_block, f16_at};

/// Powers of 3 that move trit `p` of a packed byte to the top (ggml `pow3`).
const POW3: [u8; 5] = [1, 3, 9, 27, 81];

/// The trit a byte holds after being multiplied by a power of 3 (wrapping, as ggml does):
/// the top of `3 * x / 256`, shifted to -1..=1.
#[inline(always)]
fn trit(x: u8) -> f32 {
    f32::from(((u16::from(x) * 3) >> 8) as i8 - 1)
}

/// `TQ1_0`: 48 bytes of five trits each, 4 bytes of four trits each, `d`; `x = d * t`.
pub fn tq1_0(src: &[u8], dst: &mut [f32]) {
    each_block::<54, 256>(src, dst, |b, y| {
        let d = f16_at(b, 52);
        // Values 0..160: trit p of bytes 0..32; 160..240: of bytes 32..48; 240..256: of 48..52.
        for (p, &m) in POW3.iter().enumerate() {
            for l in 0..32 {
                y[p * 32 + l] = d * trit(b[l].wrapping_mul(m));
            }
            for l in 0..16 {
                y[160 + p * 16 + l] = d * trit(b[32 + l].wrapping_mul(m));
            }
        }
        for (p, &m) in POW3[..4].iter().enumerate() {
            for l in 0..4 {
                y[240 + p * 4 + l] = d * trit(b[48 + l].wrapping_mul(m));
            }
        }
    });
}

/// `TQ2_0`: 64 bytes of 2-bit codes, `d`; `x = d * (q - 1)`. Value `half * 128 + shift * 32 + l`
/// is bits `2 * shift` of byte `half * 32 + l`.
pub fn tq2_0(src: &[u8], dst: &mut [f32]) {
    each_block::<66, 256>(src, dst, |b, y| {
        let d = f16_at(b, 64);
        for (half, out) in y.chunks_exact_mut(128).enumerate() {
            let qs = &b[half * 32..half * 32 + 32];
            for shift in 0..4 {
                for l in 0..32 {
                    let q = (qs[l] >> (2 * shift)) & 3;
                    out[shift * 32 + l] = d * f32::from(q as i8 - 1);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tq1_0_decodes_base_3_digits() {
        // ggml packs trits t0..t4 (each 0..2) as ceil(sum(t_i * 3^(4-i)) * 256 / 243).
        let packed = |t: [u16; 5]| ((t.iter().fold(0u16, |a, &x| a * 3 + x) * 256).div_ceil(243)) as u8;
        let mut b = [0u8; 54];
        b[52..54].copy_from_slice(&0x3c00u16.to_le_bytes());
        b[0] = packed([2, 0, 1, 2, 1]);
        let mut y = [0f32; 256];
        tq1_0(&b, &mut y);
        assert_eq!([y[0], y[32], y[64], y[96], y[128]], [1.0, -1.0, 0.0, 1.0, 0.0]);
    }
}
