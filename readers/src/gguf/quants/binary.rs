//! ggml's newest low-bit types: `Q1_0` (one sign bit per value) and `Q2_0` (two bits per value),
//! each with one f16 scale per block (ggml-common.h `block_q1_0`, `block_q2_0`).

use super::{each_block, f16_at};

/// `Q1_0`: `d`, 128 bits; bit `j` set gives `d`, clear gives `-d`.
pub fn q1_0(src: &[u8], dst: &mut [f32]) {
    each_block::<18, 128>(src, dst, |b, y| {
        let d = f16_at(b, 0);
        for (j, v) in y.iter_mut().enumerate() {
            *v = if (b[2 + j / 8] >> (j % 8)) & 1 != 0 { d } else { -d };
        }
    });
}

/// `Q2_0`: `d`, 64 two-bit codes (four per byte, lowest bits first); `x = (q - 1) * d`.
pub fn q2_0(src: &[u8], dst: &mut [f32]) {
    each_block::<18, 64>(src, dst, |b, y| {
        let d = f16_at(b, 0);
        for (j, v) in y.iter_mut().enumerate() {
            let q = (b[2 + j / 4] >> (2 * (j % 4))) & 3;
            *v = (i32::from(q) - 1) as f32 * d;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_blocks() {
        let mut b = [0u8; 18];
        b[..2].copy_from_slice(&0x4000u16.to_le_bytes()); // d = 2
        b[2] = 0b0000_0110;
        let mut y = [0f32; 128];
        q1_0(&b, &mut y);
        assert_eq!(&y[..3], &[-2.0, 2.0, 2.0]);
        let mut y = [0f32; 64];
        q2_0(&b, &mut y);
        assert_eq!(&y[..4], &[2.0, 0.0, -2.0, -2.0]);
    }
}
