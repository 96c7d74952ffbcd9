//! k-quants: super-blocks of 256 values in sub-blocks of 16 or 32, with quantized sub-block
//! scales (ggml-common.h `block_q2_K` .. `block_q6_K`).
//!
//! Within each half of a super-block (128 values), 2-bit codes are spread over 32 bytes: value
//! `s * 32 + l` of the half is bits `2s..2s+2` of byte `l`. Nibble types put value `s * 32 + l`
//! of each 64-value chunk in nibble `s` of byte `l`.

use super::{each_block, f16_at};

/// `Q2_K`: 16 bytes of 4-bit scale/min pairs, 64 bytes of 2-bit codes, `d`, `dmin`;
/// `x = d * scale * q - dmin * min` per sub-block of 16.
pub fn q2_k(src: &[u8], dst: &mut [f32]) {
    each_block::<84, 256>(src, dst, |b, y| {
        let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
        for (i, out) in y.chunks_exact_mut(16).enumerate() {
            let sc = b[i];
            let dl = d * f32::from(sc & 0x0f);
            let ml = dmin * f32::from(sc >> 4);
            // Value index v = half * 128 + shift * 32 + l.
            let (half, shift, l0) = (i / 8, (i / 2) % 4, (i % 2) * 16);
            for (l, o) in out.iter_mut().enumerate() {
                let q = (b[16 + half * 32 + l0 + l] >> (2 * shift)) & 3;
                *o = dl * f32::from(q) - ml;
            }
        }
    });
}

/// `Q3_K`: 32 bytes of high bits, 64 bytes of 2-bit codes, 12 bytes of 6-bit signed scales,
/// `d`; `x = d * (scale - 32) * (q - 4 * !high_bit)` per sub-block of 16.
pub fn q3_k(src: &[u8], dst: &mut [f32]) {
    each_block::<110, 256>(src, dst, |b, y| {
        let d = f16_at(b, 108);
        let s = &b[96..108];
        let hmask = &b[0..32];
        let mut dl = [0f32; 16];
        for (i, v) in dl.iter_mut().enumerate() {
            let low = (s[i % 8] >> (4 * (i / 8))) & 0x0f;
            let high = (s[8 + i % 4] >> (2 * (i / 4))) & 0x03;
            *v = d * (i32::from(low | (high << 4)) - 32) as f32;
        }
        // Value v = half * 128 + shift * 32 + l: bits 2 * shift of qs byte half * 32 + l, high bit
        // v / 32 of hmask byte l.
        for (half, out) in y.chunks_exact_mut(128).enumerate() {
            let qs = &b[32 + half * 32..32 + half * 32 + 32];
            for shift in 0..4 {
                let bit = half * 4 + shift;
                let scales = [dl[bit * 2], dl[bit * 2 + 1]];
                for l in 0..32 {
                    let q = i32::from((qs[l] >> (2 * shift)) & 3);
                    let h = i32::from((hmask[l] >> bit) & 1);
                    out[shift * 32 + l] = scales[l / 16] * (q - ((h ^ 1) << 2)) as f32;
                }
            }
        }
    });
}

/// The 6-bit scale and min of sub-block `j` (0..8) packed in the 12 bytes `s` (Q4_K, Q5_K).
#[inline(always)]
fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 0x3f, s[j + 4] & 0x3f)
    } else {
        ((s[j + 4] & 0x0f) | ((s[j - 4] >> 2) & 0x30), (s[j + 4] >> 4) | ((s[j] >> 2) & 0x30))
    }
}

/// `Q4_K`: `d`, `dmin`, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles;
/// `x = d * scale * q - dmin * min` per sub-block of 32.
pub fn q4_k(src: &[u8], dst: &mut [f32]) {
    each_block::<144, 256>(src, dst, |b, y| {
        let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
        for (j, out) in y.chunks_exact_mut(32).enumerate() {
            let (sc, m) = scale_min_k4(j, &b[4..16]);
            let dl = d * f32::from(sc);
            let ml = dmin * f32::from(m);
            let qs = &b[16 + (j / 2) * 32..16 + (j / 2) * 32 + 32];
            let shift = 4 * (j % 2);
            for (o, &q) in out.iter_mut().zip(qs) {
                *o = dl * f32::from((q >> shift) & 0x0f) - ml;
            }
        }
    });
}

/// `Q5_K`: as `Q4_K` plus 32 bytes of fifth bits: value `v`'s fifth bit is bit `v / 32` of
/// byte `v % 32`.
pub fn q5_k(src: &[u8], dst: &mut [f32]) {
    each_block::<176, 256>(src, dst, |b, y| {
        let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
        let qh = &b[16..48];
        for (j, out) in y.chunks_exact_mut(32).enumerate() {
            let (sc, m) = scale_min_k4(j, &b[4..16]);
            let dl = d * f32::from(sc);
            let ml = dmin * f32::from(m);
            let qs = &b[48 + (j / 2) * 32..48 + (j / 2) * 32 + 32];
            let shift = 4 * (j % 2);
            for ((o, &q), &h) in out.iter_mut().zip(qs).zip(qh) {
                let v = ((q >> shift) & 0x0f) | (((h >> j) & 1) << 4);
                *o = dl * f32::from(v) - ml;
            }
        }
    });
}

/// `Q6_K`: 128 bytes of low nibbles, 64 bytes of 2-bit highs, 16 signed 8-bit scales, `d`;
/// `x = d * scale * (q - 32)` per sub-block of 16.
pub fn q6_k(src: &[u8], dst: &mut [f32]) {
    each_block::<210, 256>(src, dst, |b, y| {
        let d = f16_at(b, 208);
        for (half, out) in y.chunks_exact_mut(128).enumerate() {
            let ql = &b[half * 64..half * 64 + 64];
            let qh = &b[128 + half * 32..128 + half * 32 + 32];
            let sc = &b[192 + half * 8..192 + half * 8 + 8];
            // Value k * 32 + l of the half: nibble k / 2 of ql[l + 32 * (k % 2)], bits 2k of qh[l].
            for k in 0..4 {
                let dl = [d * f32::from(sc[2 * k] as i8), d * f32::from(sc[2 * k + 1] as i8)];
                for l in 0..32 {
                    let low = (ql[l + 32 * (k % 2)] >> (4 * (k / 2))) & 0x0f;
                    let high = (qh[l] >> (2 * k)) & 0x03;
                    let q = i32::from(low | (high << 4)) - 32;
                    out[k * 32 + l] = dl[l / 16] * q as f32;
                }
            }
        }
    });
}
