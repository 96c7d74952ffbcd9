//! MLX affine quantization (`mlx.core.quantize` / `dequantize`, `quantized.cpp`): `<m>.weight`
//! U32 `[out, in * bits / 32]`, each row one dense LSB-first stream of `bits`-bit values (3- and
//! 6-bit values straddle words), `<m>.scales` and `<m>.biases` `[out, in / group_size]`:
//! `W = q * scale + bias`, computed in `float32` as MLX does.
//!
//! The floating modes (`mode: "mxfp4"` / `"mxfp8"`, `fp_quantize` / `fp_dequantize` in
//! `ops.cpp`) have no biases: `<m>.weight` U32 `[out, in * bits / 32]` holds E2M1 codes as a
//! dense LSB-first nibble stream (byte `j` of a row: element `2j` low, `2j + 1` high) or E4M3
//! bytes in row order, `<m>.scales` U8 `[out, in / 32]` E8M0: `W = value * 2^(s - 127)`.

use super::parts::LayoutError;
use weightlens_core::{Dtype, ElementDecoder, TensorInfo};

use super::ct::{e8m0, fp8};
use super::parts::{
    dense_words, dims2, expect_dtype, expect_shape, for_rows, for_runs, fused, map_nibbles, map_stream, to_usize, word,
    Kernel, Out, Parts, E2M1, RUN,
};

/// Checks weight, scales and biases for `bits` and `group_size`; returns the logical shape.
pub fn mlx_shape(bits: u32, group_size: u64, parts: &[&TensorInfo]) -> Result<Vec<u64>, LayoutError> {
    if !matches!(bits, 2 | 3 | 4 | 5 | 6 | 8) {
        return Err(format!("MLX bits {bits} is not one of 2, 3, 4, 5, 6, 8").into());
    }
    let [weight, scales, biases] = parts else { return Err("MLX needs weight, scales, biases".into()) };
    expect_dtype(weight, &[Dtype::U32])?;
    expect_dtype(scales, &[Dtype::F16, Dtype::BF16, Dtype::F32])?;
    expect_dtype(biases, &[Dtype::F16, Dtype::BF16, Dtype::F32])?;
    let (rows, words) = dims2(weight)?;
    let cols = words.checked_mul(32).ok_or("weight is too large")? / u64::from(bits);
    if dense_words(cols, bits) != Some(words) || group_size == 0 || cols % group_size != 0 {
        return Err(
            format!("{} does not hold whole groups of {group_size} {bits}-bit values", weight.shape_string()).into()
        );
    }
    expect_shape(scales, &[rows, cols / group_size])?;
    expect_shape(biases, &[rows, cols / group_size])?;
    Ok(vec![rows, cols])
}

struct Mlx<'a> {
    weight: &'a [u8],
    words: usize,
    bits: u32,
    cols: usize,
    group: usize,
    scales: Vec<f32>,
    biases: Vec<f32>,
}

/// The decoder of an MLX weight checked by [`mlx_shape`].
pub fn mlx_decoder<'a>(
    bits: u32,
    group_size: u64,
    parts: &Parts<'a>,
    shape: &[u64],
) -> Result<Box<dyn ElementDecoder + 'a>, LayoutError> {
    let cols = to_usize(shape[1])?;
    Ok(fused(Mlx {
        weight: parts.bytes(0)?,
        words: to_usize(dense_words(shape[1], bits).ok_or("weight is too large")?)?,
        bits,
        cols,
        group: to_usize(group_size)?,
        scales: parts.values_f32(1)?,
        biases: parts.values_f32(2)?,
    }))
}

impl Kernel for Mlx<'_> {
    fn run<O: Out>(&self, start: usize, out: &mut [O]) {
        let groups = self.cols / self.group.max(1);
        let mut fields = [0u8; RUN];
        for_rows(self.cols, start, out, |r, c0, seg| {
            let base = r * self.words;
            for_runs(self.group, c0, seg, |c, g, run| {
                let g = r * groups + g;
                let (s, b) =
                    (self.scales.get(g).copied().unwrap_or(f32::NAN), self.biases.get(g).copied().unwrap_or(0.0));
                let at = |w: usize| word(self.weight, base + w);
                map_stream(at, self.bits, c, run, &mut fields, |q| O::of(f64::from(f32::from(q) * s + b)));
            });
        });
    }

    fn packed(&self) -> &[u8] {
        self.weight
    }
}

/// Checks an MLX `mxfp4`/`mxfp8` weight and its scales (`fp_dequantize`'s rules: group 32,
/// 4 or 8 bits); returns the logical shape.
pub fn mlx_fp_shape(
    mode: &str,
    bits: u32,
    group_size: u64,
    weight: &TensorInfo,
    scales: &TensorInfo,
) -> Result<Vec<u64>, LayoutError> {
    let want_bits = if mode == "mxfp8" { 8 } else { 4 };
    if bits != want_bits || group_size != 32 {
        return Err(format!("MLX {mode} needs {want_bits} bits and group size 32, not {bits} and {group_size}").into());
    }
    expect_dtype(weight, &[Dtype::U32])?;
    expect_dtype(scales, &[Dtype::U8])?;
    let (rows, words) = dims2(weight)?;
    let cols = words.checked_mul(32).ok_or("weight is too large")? / u64::from(bits);
    if cols % 32 != 0 {
        return Err(format!("{} does not hold whole groups of 32 {bits}-bit values", weight.shape_string()).into());
    }
    expect_shape(scales, &[rows, cols / 32])?;
    Ok(vec![rows, cols])
}

struct MlxFp<'a> {
    weight: &'a [u8],
    bits: u32,
    cols: usize,
    scales: Vec<f32>,
    /// The value of every E4M3 byte (8-bit mode).
    fp8: Box<[f32; 256]>,
}

/// The decoder of an MLX `mxfp4`/`mxfp8` weight checked by [`mlx_fp_shape`].
pub fn mlx_fp_decoder<'a>(
    bits: u32,
    parts: &Parts<'a>,
    shape: &[u64],
) -> Result<Box<dyn ElementDecoder + 'a>, LayoutError> {
    let (rows, cols) = (to_usize(shape[0])?, to_usize(shape[1])?);
    let scales: Vec<f32> = parts.bytes(1)?.iter().map(|&s| e8m0(s)).collect();
    let weight = parts.bytes(0)?;
    if scales.len() != rows * (cols / 32) || weight.len() != rows * cols * bits as usize / 8 {
        return Err("weight and scales do not hold the logical shape".into());
    }
    let mut lut = Box::new([0f32; 256]);
    for (b, v) in lut.iter_mut().enumerate() {
        *v = fp8(b as u8, false) as f32;
    }
    Ok(fused(MlxFp { weight, bits, cols, scales, fp8: lut }))
}

impl Kernel for MlxFp<'_> {
    fn run<O: Out>(&self, start: usize, out: &mut [O]) {
        let groups = self.cols / 32;
        let row_bytes = self.cols * self.bits as usize / 8;
        let mut codes = [0u8; RUN];
        for_rows(self.cols, start, out, |r, c0, seg| {
            let row = self.weight.get(r * row_bytes..(r + 1) * row_bytes).unwrap_or(&[]);
            for_runs(32, c0, seg, |c, g, run| {
                let scale = self.scales.get(r * groups + g).copied().unwrap_or(f32::NAN);
                // float32 as `fp_dequantize` computes it with a float32 output.
                if self.bits == 4 {
                    let value = |code: u8| O::of(f64::from(E2M1[usize::from(code & 0xF)] as f32 * scale));
                    map_nibbles(row, false, c, run, &mut codes, value);
                } else {
                    let bytes = row.get(c..c + run.len()).unwrap_or(&[]);
                    for (v, &b) in run.iter_mut().zip(bytes) {
                        *v = O::of(f64::from(self.fp8[usize::from(b)] * scale));
                    }
                }
            });
        });
    }

    fn packed(&self) -> &[u8] {
        self.weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safetensors::quant::parts::tests_support::{info, le_words};

    #[test]
    fn every_width_is_a_dense_stream() {
        for bits in [2u32, 3, 4, 5, 6, 8] {
            let (rows, cols, gs) = (2usize, 64usize, 32u64);
            let q = |r: usize, c: usize| ((r * 7 + c * 3) % (1 << bits)) as u32;
            let words_per_row = (cols * bits as usize).div_ceil(32);
            let mut words = vec![0u32; rows * words_per_row];
            for r in 0..rows {
                for c in 0..cols {
                    let bit = c * bits as usize;
                    let wide = u64::from(q(r, c)) << (bit % 32);
                    words[r * words_per_row + bit / 32] |= wide as u32;
                    if bit % 32 + bits as usize > 32 {
                        words[r * words_per_row + bit / 32 + 1] |= (wide >> 32) as u32;
                    }
                }
            }
            let infos = [
                info("w", Dtype::U32, vec![rows as u64, words_per_row as u64]),
                info("s", Dtype::F32, vec![rows as u64, 2]),
                info("b", Dtype::F32, vec![rows as u64, 2]),
            ];
            let shape = mlx_shape(bits, gs, &infos.iter().collect::<Vec<_>>()).unwrap();
            let scales = [0.5f32, 0.25, 2.0, 1.0];
            let biases = [-1f32, 0.0, 1.0, -0.5];
            let f = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            let bytes = [le_words(&words), f(&scales), f(&biases)];
            let parts = Parts::new(infos.iter().collect(), bytes.iter().map(Vec::as_slice).collect());
            let d = mlx_decoder(bits, gs, &parts, &shape).unwrap();
            let mut w = vec![0f64; rows * cols];
            d.decode_f64(0, &mut w).unwrap();
            for r in 0..rows {
                for c in 0..cols {
                    let g = r * 2 + c / 32;
                    assert_eq!(w[r * cols + c], f64::from(q(r, c) as f32 * scales[g] + biases[g]), "bits {bits}");
                }
            }
        }
    }

    #[test]
    fn fp_modes_decode_e2m1_and_e4m3_with_e8m0_scales() {
        // One row of 32 values: mxfp4 codes 0..16 twice (low nibble first), scale 2^1.
        let words: Vec<u32> = (0..4u32).map(|w| (0..8).fold(0, |acc, k| acc | ((w * 8 + k) % 16) << (4 * k))).collect();
        let weight = info("w", Dtype::U32, vec![1, 4]);
        let scales = info("s", Dtype::U8, vec![1, 1]);
        let shape = mlx_fp_shape("mxfp4", 4, 32, &weight, &scales).unwrap();
        let bytes = [le_words(&words), vec![128u8]];
        let parts = Parts::new(vec![&weight, &scales], bytes.iter().map(Vec::as_slice).collect());
        let mut w = vec![0f64; 32];
        mlx_fp_decoder(4, &parts, &shape).unwrap().decode_f64(0, &mut w).unwrap();
        let want: Vec<f64> = (0..32).map(|i| E2M1[i % 16] * 2.0).collect();
        assert_eq!(w, want);
        // mxfp8: byte 0x38 is 1.0 in E4M3; scale 2^-2.
        let weight8 = info("w", Dtype::U32, vec![1, 8]);
        let shape = mlx_fp_shape("mxfp8", 8, 32, &weight8, &scales).unwrap();
        let bytes = [vec![0x38u8; 32], vec![125u8]];
        let parts = Parts::new(vec![&weight8, &scales], bytes.iter().map(Vec::as_slice).collect());
        mlx_fp_decoder(8, &parts, &shape).unwrap().decode_f64(0, &mut w).unwrap();
        assert!(w.iter().all(|&v| v == 0.25));
        // Partial groups, wrong bits or group size are refused before decoding.
        assert!(mlx_fp_shape("mxfp4", 4, 32, &info("w", Dtype::U32, vec![1, 1]), &info("s", Dtype::U8, vec![1, 0]))
            .is_err());
        assert!(mlx_fp_shape("mxfp4", 8, 32, &weight8, &scales).is_err());
        assert!(mlx_fp_shape("mxfp8", 8, 64, &weight8, &scales).is_err());
    }
}
