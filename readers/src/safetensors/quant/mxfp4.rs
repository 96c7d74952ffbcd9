//! gpt-oss MXFP4 experts (transformers `integrations/mxfp4.py`, `convert_moe_packed_tensors`):
//! `<name>_blocks` U8 `[E, R, G, 16]` (32 E2M1 codes per block, element `2j` in the LOW nibble of
//! byte `j`) and `<name>_scales` U8 `[E, R, G]` (E8M0: `2^(s - 127)`). The runtime parameter is
//! the transpose `[E, G * 32, R]`, which is the logical shape here.

use super::parts::LayoutError;
use weightlens_core::{Dtype, ElementDecoder, TensorInfo};

use super::parts::{expect_dtype, expect_shape, fused, split_rows, to_usize, Kernel, Out, Parts, E2M1};

/// Checks blocks and scales; returns the logical shape `[E, K, R]`.
pub fn mxfp4_shape(blocks: &TensorInfo, scales: &TensorInfo) -> Result<Vec<u64>, LayoutError> {
    expect_dtype(blocks, &[Dtype::U8])?;
    expect_dtype(scales, &[Dtype::U8])?;
    let &[e, r, g, 16] = blocks.shape.as_slice() else {
        return Err(format!(
            "{} has shape {}, expected [experts, rows, groups, 16]",
            blocks.name,
            blocks.shape_string()
        )
        .into());
    };
    expect_shape(scales, &[e, r, g])?;
    Ok(vec![e, g.checked_mul(32).ok_or("blocks are too large")?, r])
}

struct Mxfp4<'a> {
    blocks: &'a [u8],
    scales: &'a [u8],
    k: usize,
    r: usize,
    /// `e2m1[code] * 2^(s - 127)` at `s * 16 + code`, for every scale byte `s`.
    values: Box<[f64]>,
}

/// The decoder of an MXFP4 tensor checked by [`mxfp4_shape`].
pub fn mxfp4_decoder<'a>(parts: &Parts<'a>, shape: &[u64]) -> Result<Box<dyn ElementDecoder + 'a>, LayoutError> {
    let values = (0..256 * 16).map(|k| E2M1[k % 16] * 2f64.powi((k / 16) as i32 - 127)).collect();
    Ok(fused(Mxfp4 {
        blocks: parts.bytes(0)?,
        scales: parts.bytes(1)?,
        k: to_usize(shape[1])?,
        r: to_usize(shape[2])?,
        values,
    }))
}

impl Mxfp4<'_> {
    /// The value of E2M1 `code` under scale byte `s`.
    #[inline]
    fn value(&self, s: u8, code: u8) -> f64 {
        self.values.get(usize::from(s) * 16 + usize::from(code & 0xF)).copied().unwrap_or(0.0)
    }

    /// Logical row `row` = (expert, k), columns `r0 ..`.
    fn row<O: Out>(&self, row: usize, r0: usize, seg: &mut [O]) {
        let (k_len, r_len) = (self.k, self.r);
        let groups = k_len / 32;
        let (e, k) = (row / k_len.max(1), row % k_len.max(1));
        // Every element of the row is the same nibble of its stored row's block.
        let shift = if k % 2 == 0 { 0 } else { 4 };
        let first = e * r_len + r0;
        for (i, v) in seg.iter_mut().enumerate() {
            let stored_row = first + i;
            let s = self.scales.get(stored_row * groups + k / 32).copied().unwrap_or(0);
            let b = self.blocks.get(stored_row * k_len / 2 + k / 2).copied().unwrap_or(0);
            *v = O::of(self.value(s, (b >> shift) & 0xF));
        }
    }

    /// Whole logical rows from `first` (`rows` holds them). The logical rows are the
    /// transpose of the stored ones: tiles of 16 stored rows by one 32-code block are decoded
    /// in order into a small buffer, already transposed, then copied out as 32 runs of 16
    /// contiguous values, one per logical row.
    fn rows<O: Out>(&self, first: usize, rows: &mut [O]) {
        const TILE_R: usize = 16;
        let (k_len, r_len) = (self.k.max(1), self.r);
        let groups = k_len / 32;
        let count = rows.len() / r_len.max(1);
        let mut tile = [O::default(); 32 * TILE_R];
        let mut done = 0;
        while done < count {
            // The rows of one expert.
            let (e, k0) = ((first + done) / k_len, (first + done) % k_len);
            let n = (k_len - k0).min(count - done);
            let out = &mut rows[done * r_len..(done + n) * r_len];
            for r_block in (0..r_len).step_by(TILE_R) {
                let width = TILE_R.min(r_len - r_block);
                for g in k0 / 32..(k0 + n).div_ceil(32) {
                    for i in 0..width {
                        let stored_row = e * r_len + r_block + i;
                        let s = usize::from(self.scales.get(stored_row * groups + g).copied().unwrap_or(0));
                        let table = self.values.get(s * 16..s * 16 + 16).unwrap_or(&[0.0; 16]);
                        let at = stored_row * k_len / 2 + g * 16;
                        let bytes = self.blocks.get(at..at + 16).unwrap_or(&[0; 16]);
                        for (j, &b) in bytes.iter().enumerate() {
                            tile[2 * j * TILE_R + i] = O::of(table[usize::from(b & 0xF)]);
                            tile[(2 * j + 1) * TILE_R + i] = O::of(table[usize::from(b >> 4)]);
                        }
                    }
                    for k in (g * 32).max(k0)..(g * 32 + 32).min(k0 + n) {
                        let src = &tile[(k - g * 32) * TILE_R..][..width];
                        out[(k - k0) * r_len + r_block..][..width].copy_from_slice(src);
                    }
                }
            }
            done += n;
        }
    }
}

impl Kernel for Mxfp4<'_> {
    fn run<O: Out>(&self, start: usize, out: &mut [O]) {
        // Logical rows are (expert, k); along a row r varies, i.e. the stored rows.
        let ((row, r0, head), (first, body), (last, tail)) = split_rows(self.r, start, out);
        self.row(row, r0, head);
        self.rows(first, body);
        self.row(last, 0, tail);
    }

    fn packed(&self) -> &[u8] {
        self.blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safetensors::quant::parts::tests_support::info;

    #[test]
    fn decodes_the_transpose_with_e8m0_scales() {
        let blocks = info("x_blocks", Dtype::U8, vec![1, 2, 1, 16]);
        let scales = info("x_scales", Dtype::U8, vec![1, 2, 1]);
        let shape = mxfp4_shape(&blocks, &scales).unwrap();
        assert_eq!(shape, [1, 32, 2]);
        // Row 0: codes 2 (1.0) low, 9 (-0.5) high; row 1: all code 7 (6.0).
        let mut bytes = vec![0x92u8; 16];
        bytes.extend([0x77u8; 16]);
        let data = [bytes, vec![128u8, 126]];
        let parts = Parts::new(vec![&blocks, &scales], data.iter().map(Vec::as_slice).collect());
        let d = mxfp4_decoder(&parts, &shape).unwrap();
        let mut w = vec![0f64; 64];
        d.decode_f64(0, &mut w).unwrap();
        // w[k, r]: k even -> 1.0 * 2, k odd -> -0.5 * 2 for r = 0; 6.0 / 2 for r = 1.
        assert_eq!(&w[..4], &[2.0, 3.0, -1.0, 3.0]);
        assert!(mxfp4_shape(&info("b", Dtype::U8, vec![1, 2, 1, 8]), &scales).is_err());
    }

    #[test]
    fn tiles_equal_the_element_formula_for_any_window() {
        let (e, r, g) = (2usize, 37usize, 3usize);
        let k = g * 32;
        let blocks = info("x_blocks", Dtype::U8, vec![e as u64, r as u64, g as u64, 16]);
        let scales = info("x_scales", Dtype::U8, vec![e as u64, r as u64, g as u64]);
        let shape = mxfp4_shape(&blocks, &scales).unwrap();
        let bytes: Vec<u8> =
            (0..e * r * g * 16).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3]).collect();
        let codes: Vec<u8> = (0..e * r * g).map(|i| 120 + (i % 13) as u8).collect();
        let want = |at: usize| {
            let (ex, kk, rr) = (at / (k * r), at / r % k, at % r);
            let stored = ex * r + rr;
            let b = bytes[stored * k / 2 + kk / 2] >> (4 * (kk % 2));
            E2M1[usize::from(b & 0xF)] * 2f64.powi(i32::from(codes[stored * g + kk / 32]) - 127)
        };
        let data = [bytes.clone(), codes.clone()];
        let parts = Parts::new(vec![&blocks, &scales], data.iter().map(Vec::as_slice).collect());
        let d = mxfp4_decoder(&parts, &shape).unwrap();
        let total = e * k * r;
        for (start, len) in [(0, total), (5, 1000), (r * 30 + 3, r * 40), (r * (k - 1), r * 2 + 1), (total - 7, 7)] {
            let mut w = vec![f64::NAN; len];
            d.decode_f64(start, &mut w).unwrap();
            for (i, v) in w.iter().enumerate() {
                assert_eq!(v.to_bits(), want(start + i).to_bits(), "element {}", start + i);
            }
        }
    }
}
