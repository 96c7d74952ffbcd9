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

    /// Whole logical rows from `first` (`rows` holds them): each stored row's bytes are read
    /// in order, and its values scattered into the logical rows (the transpose).
    fn rows<O: Out>(&self, first: usize, rows: &mut [O]) {
        let (k_len, r_len) = (self.k.max(1), self.r);
        let groups = k_len / 32;
        let count = rows.len() / r_len.max(1);
        let mut done = 0;
        while done < count {
            // The rows of one expert.
            let (e, k0) = ((first + done) / k_len, (first + done) % k_len);
            let n = (k_len - k0).min(count - done);
            let tile = &mut rows[done * r_len..(done + n) * r_len];
            // Blocks of 16 stored rows: 16 read streams, and each logical row's writes contiguous.
            for r_block in (0..r_len).step_by(16) {
                let block = r_block..(r_block + 16).min(r_len);
                for k in k0..k0 + n {
                    let dst = &mut tile[(k - k0) * r_len..][block.clone()];
                    for (v, r) in dst.iter_mut().zip(block.clone()) {
                        let stored_row = e * r_len + r;
                        let b = self.blocks.get(stored_row * k_len / 2 + k / 2).copied().unwrap_or(0);
                        let s = self.scales.get(stored_row * groups + k / 32).copied().unwrap_or(0);
                        *v = O::of(self.value(s, (b >> (4 * (k % 2))) & 0xF));
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
}
