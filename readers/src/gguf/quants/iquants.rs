//! i-quants: values picked from fixed lattices ("grids", [`super::grids`]) with sign masks and
//! small per-group scales (ggml-common.h `block_iq*`), plus the non-linear 4-bit `IQ4_NL` and
//! `IQ4_XS` whose codes index the table [`KVALUES_IQ4NL`].

use super::grids::{IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID};
use super::{each_block, f16_at, u16_at, u32_at};

/// The non-linear 4-bit code values of `IQ4_NL` and `IQ4_XS` (ggml `kvalues_iq4nl`).
pub const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// ggml `ksigns_iq2xs`: 7 stored sign bits plus an eighth that makes the count of minus signs
/// even.
const KSIGNS: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        t[i] = i as u8 | (((i as u8).count_ones() as u8 & 1) << 7);
        i += 1;
    }
    t
};

/// IQ1 grids shift each value by plus or minus this (ggml `IQ1S_DELTA`, `IQ1M_DELTA`).
const IQ1_DELTA: f32 = 0.125;

/// Writes the 8 grid values packed in `row` (one byte each, lowest first) times `db`, negated
/// where `signs` has a bit set.
#[inline(always)]
fn put8(out: &mut [f32], db: f32, row: u64, signs: u8) {
    for (j, o) in out.iter_mut().take(8).enumerate() {
        let g = f32::from((row >> (8 * j)) as u8);
        let s = if (signs >> j) & 1 != 0 { -1.0 } else { 1.0 };
        *o = db * g * s;
    }
}

/// As [`put8`] for a row of 4 values.
#[inline(always)]
fn put4(out: &mut [f32], db: f32, row: u32, signs: u8) {
    for (j, o) in out.iter_mut().take(4).enumerate() {
        let g = f32::from((row >> (8 * j)) as u8);
        let s = if (signs >> j) & 1 != 0 { -1.0 } else { 1.0 };
        *o = db * g * s;
    }
}

/// `IQ2_XXS`: `d`, then per 32 values 4 grid indices (bytes) and a u32 of four 7-bit sign
/// indices and a 4-bit scale.
pub fn iq2_xxs(src: &[u8], dst: &mut [f32]) {
    each_block::<66, 256>(src, dst, |b, y| {
        let d = f16_at(b, 0);
        for (g, out) in y.chunks_exact_mut(32).enumerate() {
            let at = 2 + 8 * g;
            let aux = u32_at(b, at + 4);
            let db = d * (0.5 + (aux >> 28) as f32) * 0.25;
            for (k, o) in out.chunks_exact_mut(8).enumerate() {
                let row = IQ2XXS_GRID[usize::from(b[at + k])];
                let signs = KSIGNS[((aux >> (7 * k)) & 0x7f) as usize];
                put8(o, db, row, signs);
            }
        }
    });
}

/// `IQ2_XS`: `d`, 32 u16 of 9-bit grid index + 7-bit sign index, 8 bytes of two 4-bit scales.
pub fn iq2_xs(src: &[u8], dst: &mut [f32]) {
    each_block::<74, 256>(src, dst, |b, y| {
        let d = f16_at(b, 0);
        for (i, o) in y.chunks_exact_mut(8).enumerate() {
            let sc = (b[66 + i / 4] >> (4 * ((i / 2) % 2))) & 0x0f;
            let db = d * (0.5 + f32::from(sc)) * 0.25;
            let q = u16_at(b, 2 + 2 * i);
            put8(o, db, IQ2XS_GRID[usize::from(q & 511)], KSIGNS[usize::from(q >> 9)]);
        }
    });
}

/// `IQ2_S`: `d`, 32 low grid-index bytes, 32 sign bytes, 8 bytes of 2-bit index highs,
/// 8 bytes of two 4-bit scales.
pub fn iq2_s(src: &[u8], dst: &mut [f32]) {
    each_block::<82, 256>(src, dst, |b, y| {
        let d = f16_at(b, 0);
        for (i, o) in y.chunks_exact_mut(8).enumerate() {
            let sc = (b[74 + i / 4] >> (4 * ((i / 2) % 2))) & 0x0f;
            let db = d * (0.5 + f32::from(sc)) * 0.25;
            let high = usize::from((b[66 + i / 4] >> (2 * (i % 4))) & 3);
            let idx = usize::from(b[2 + i]) | (high << 8);
            put8(o, db, IQ2S_GRID[idx], b[34 + i]);
        }
    });
}

/// `IQ3_XXS`: `d`, 64 grid-index bytes (4 values each), then per 32 values a u32 of four
/// 7-bit sign indices and a 4-bit scale.
pub fn iq3_xxs(src: &[u8], dst: &mut [f32]) {
    each_block::<98, 256>(src, dst, |b, y| {
        let d = f16_at(b, 0);
        for (g, out) in y.chunks_exact_mut(32).enumerate() {
            let aux = u32_at(b, 66 + 4 * g);
            let db = d * (0.5 + (aux >> 28) as f32) * 0.5;
            for (k, o) in out.chunks_exact_mut(8).enumerate() {
                let signs = KSIGNS[((aux >> (7 * k)) & 0x7f) as usize];
                let at = 2 + 8 * g + 2 * k;
                put4(&mut o[..4], db, IQ3XXS_GRID[usize::from(b[at])], signs);
                put4(&mut o[4..], db, IQ3XXS_GRID[usize::from(b[at + 1])], signs >> 4);
            }
        }
    });
}

/// `IQ3_S`: `d`, 64 low grid-index bytes, 8 bytes of index high bits, 32 sign bytes, 4 bytes
/// of two 4-bit scales (`d * (1 + 2 * scale)` per 32 values).
pub fn iq3_s(src: &[u8], dst: &mut [f32]) {
    each_block::<110, 256>(src, dst, |b, y| {
        let d = f16_at(b, 0);
        for (i, o) in y.chunks_exact_mut(4).enumerate() {
            // i indexes 4-value grid rows; a scale covers 8 rows, a sign byte 2.
            let sc = (b[106 + i / 16] >> (4 * ((i / 8) % 2))) & 0x0f;
            let db = d * f32::from(1 + 2 * sc);
            let high = usize::from((b[66 + i / 8] >> (i % 8)) & 1);
            let idx = usize::from(b[2 + i]) | (high << 8);
            let signs = b[74 + i / 2] >> (4 * (i % 2));
            put4(o, db, IQ3S_GRID[idx], signs);
        }
    });
}

/// Writes `dl * (grid + delta)` for the 8 int8 grid values packed in `row`.
#[inline(always)]
fn put8_delta(out: &mut [f32], dl: f32, row: u64, delta: f32) {
    for (j, o) in out.iter_mut().take(8).enumerate() {
        let g = f32::from((row >> (8 * j)) as u8 as i8);
        *o = dl * (g + delta);
    }
}

/// `IQ1_S`: `d`, 32 low grid-index bytes, 8 u16 with three 3-bit index highs, a 3-bit scale
/// and the sign of the delta per 32 values.
pub fn iq1_s(src: &[u8], dst: &mut [f32]) {
    each_block::<50, 256>(src, dst, |b, y| {
        let d = f16_at(b, 0);
        for (g, out) in y.chunks_exact_mut(32).enumerate() {
            let qh = u16_at(b, 34 + 2 * g);
            let dl = d * f32::from(2 * ((qh >> 12) & 7) + 1);
            let delta = if qh & 0x8000 != 0 { -IQ1_DELTA } else { IQ1_DELTA };
            for (k, o) in out.chunks_exact_mut(8).enumerate() {
                let idx = usize::from(b[2 + 4 * g + k]) | (usize::from((qh >> (3 * k)) & 7) << 8);
                put8_delta(o, dl, IQ1S_GRID[idx], delta);
            }
        }
    });
}

/// `IQ1_M`: 32 low grid-index bytes, 16 bytes of two (3-bit index high + delta sign) nibbles,
/// 8 bytes holding sixteen 3-bit scales and, in their top nibbles, the f16 super-block scale.
pub fn iq1_m(src: &[u8], dst: &mut [f32]) {
    each_block::<56, 256>(src, dst, |b, y| {
        let sc = [u16_at(b, 48), u16_at(b, 50), u16_at(b, 52), u16_at(b, 54)];
        let bits = (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000);
        let d = half::f16::from_bits(bits).to_f32();
        for (i, o) in y.chunks_exact_mut(8).enumerate() {
            // Scale s (0..16) covers 16 values: 3 bits at 3 * (s % 4) of u16 s / 4.
            let s = i / 2;
            let dl = d * f32::from(2 * ((sc[s / 4] >> (3 * (s % 4))) & 7) + 1);
            let h = b[32 + i / 2] >> (4 * (i % 2));
            let idx = usize::from(b[i]) | (usize::from(h & 7) << 8);
            let delta = if h & 0x08 != 0 { -IQ1_DELTA } else { IQ1_DELTA };
            put8_delta(o, dl, IQ1S_GRID[idx], delta);
        }
    });
}

/// `IQ4_NL`: `d`, 16 bytes of nibble codes into [`KVALUES_IQ4NL`].
pub fn iq4_nl(src: &[u8], dst: &mut [f32]) {
    each_block::<18, 32>(src, dst, |b, y| {
        let d = f16_at(b, 0);
        for j in 0..16 {
            y[j] = d * f32::from(KVALUES_IQ4NL[usize::from(b[2 + j] & 0x0f)]);
            y[j + 16] = d * f32::from(KVALUES_IQ4NL[usize::from(b[2 + j] >> 4)]);
        }
    });
}

/// `IQ4_XS`: `d`, 2-bit scale highs (u16), 4 bytes of 4-bit scale lows, 128 bytes of codes
/// into [`KVALUES_IQ4NL`]; `x = d * (scale - 32) * kvalue` per 32 values.
pub fn iq4_xs(src: &[u8], dst: &mut [f32]) {
    each_block::<136, 256>(src, dst, |b, y| {
        let d = f16_at(b, 0);
        let scales_h = u16_at(b, 2);
        for (ib, out) in y.chunks_exact_mut(32).enumerate() {
            let low = (b[4 + ib / 2] >> (4 * (ib % 2))) & 0x0f;
            let high = ((scales_h >> (2 * ib)) & 3) as u8;
            let dl = d * f32::from((low | (high << 4)) as i8 - 32);
            let qs = &b[8 + 16 * ib..8 + 16 * ib + 16];
            for (j, &q) in qs.iter().enumerate() {
                out[j] = dl * f32::from(KVALUES_IQ4NL[usize::from(q & 0x0f)]);
                out[j + 16] = dl * f32::from(KVALUES_IQ4NL[usize::from(q >> 4)]);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ksigns_match_ggml() {
        assert_eq!(&KSIGNS[..8], &[0, 129, 130, 3, 132, 5, 6, 135]);
        assert_eq!(KSIGNS[127], 255);
    }
}
