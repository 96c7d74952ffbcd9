//! The original ggml block types: 32 values per block, one f16 scale (and a min for the `_1`
//! variants). Element `j` of a block is the low nibble of byte `j`, element `j + 16` the high one.

use super::{each_block, f16_at, u32_at};

/// `Q4_0`: `d`, 16 bytes of nibbles; `x = d * (q - 8)`.
pub fn q4_0(src: &[u8], dst: &mut [f32]) {
    each_block::<18, 32>(src, dst, |b, y| {
        let d = f16_at(b, 0);
        for j in 0..16 {
            let q = b[2 + j];
            y[j] = d * (i32::from(q & 0x0f) - 8) as f32;
            y[j + 16] = d * (i32::from(q >> 4) - 8) as f32;
        }
    });
}

/// `Q4_1`: `d`, `m`, 16 bytes of nibbles; `x = d * q + m`.
pub fn q4_1(src: &[u8], dst: &mut [f32]) {
    each_block::<20, 32>(src, dst, |b, y| {
        let (d, m) = (f16_at(b, 0), f16_at(b, 2));
        for j in 0..16 {
            let q = b[4 + j];
            y[j] = d * f32::from(q & 0x0f) + m;
            y[j + 16] = d * f32::from(q >> 4) + m;
        }
    });
}

/// `Q5_0`: `d`, 32 fifth bits, 16 bytes of nibbles; `x = d * (q - 16)`.
pub fn q5_0(src: &[u8], dst: &mut [f32]) {
    each_block::<22, 32>(src, dst, |b, y| {
        let d = f16_at(b, 0);
        let qh = u32_at(b, 2);
        for j in 0..16 {
            let q = b[6 + j];
            let lo = u32::from(q & 0x0f) | (((qh >> j) & 1) << 4);
            let hi = u32::from(q >> 4) | (((qh >> (j + 16)) & 1) << 4);
            y[j] = d * (lo as i32 - 16) as f32;
            y[j + 16] = d * (hi as i32 - 16) as f32;
        }
    });
}

/// `Q5_1`: `d`, `m`, 32 fifth bits, 16 bytes of nibbles; `x = d * q + m`.
pub fn q5_1(src: &[u8], dst: &mut [f32]) {
    each_block::<24, 32>(src, dst, |b, y| {
        let (d, m) = (f16_at(b, 0), f16_at(b, 2));
        let qh = u32_at(b, 4);
        for j in 0..16 {
            let q = b[8 + j];
            let lo = u32::from(q & 0x0f) | (((qh >> j) & 1) << 4);
            let hi = u32::from(q >> 4) | (((qh >> (j + 16)) & 1) << 4);
            y[j] = d * lo as f32 + m;
            y[j + 16] = d * hi as f32 + m;
        }
    });
}

/// `Q8_0`: `d`, 32 signed bytes; `x = d * q`.
pub fn q8_0(src: &[u8], dst: &mut [f32]) {
    each_block::<34, 32>(src, dst, |b, y| {
        let d = f16_at(b, 0);
        for j in 0..32 {
            y[j] = d * f32::from(b[2 + j] as i8);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_0_known_block() {
        // d = 1.0 (0x3c00), byte 0 = 0xf0: element 0 = 0 - 8, element 16 = 15 - 8.
        let mut b = [0u8; 18];
        b[..2].copy_from_slice(&0x3c00u16.to_le_bytes());
        b[2] = 0xf0;
        let mut y = [0f32; 32];
        q4_0(&b, &mut y);
        assert_eq!((y[0], y[16], y[1]), (-8.0, 7.0, -8.0));
    }

    #[test]
    fn q5_1_uses_the_fifth_bit_and_min() {
        let mut b = [0u8; 24];
        b[..2].copy_from_slice(&0x3800u16.to_le_bytes()); // d = 0.5
        b[2..4].copy_from_slice(&0xbc00u16.to_le_bytes()); // m = -1
        b[4..8].copy_from_slice(&(1u32 | 1 << 16).to_le_bytes());
        b[8] = 0x21;
        let mut y = [0f32; 32];
        q5_1(&b, &mut y);
        assert_eq!((y[0], y[16], y[1]), (0.5 * 17.0 - 1.0, 0.5 * 18.0 - 1.0, -1.0));
    }
}
