//! compressed-tensors (llm-compressor) formats, as the registered compressors' `decompress`
//! defines them:
//!
//! - `pack-quantized`: `weight_packed` I32 `[out, words]`, each row one dense LSB-first stream
//!   of `bits`-bit values (`pack_to_int32`: value `i` at bit `i * bits`, 3/5/6/7-bit values
//!   straddle words; older versions put `32 / bits` values per word without straddling, told
//!   apart by the row length), each stored as `q + 2^(bits-1)`; `weight_shape` the logical shape;
//!   `weight_scale` `[out, n_groups]` (`[out, 1]` per channel); asymmetric schemes add
//!   `weight_zero_point` packed the same way along dim 0 (`[words(out), n_groups]`), or stored
//!   unpacked `[out, n_groups]`; act-order adds `weight_g_idx`. `W = (q - zp) * scale`.
//! - `float-quantized` / `naive-quantized`: `weight` F8 `[out, in]` and `weight_scale` (`[1]` per
//!   tensor, `[out, 1]` per channel, `[out, n_groups]` per group): `W = weight * scale`.
//! - `int-quantized` / `naive-quantized` integers: `weight` I8 `[out, in]` (int4 values are
//!   stored in int8 too), `weight_scale` as above, asymmetric schemes add `weight_zero_point` of
//!   the scale's shape: `W = (weight - zero_point) * scale`.
//! - `mxfp4-pack-quantized`: `weight_packed` as NVFP4, `weight_scale` U8 `[out, in / 32]` E8M0
//!   exponents: `W = e2m1 * 2^(s - 127)`.
//! - `nvfp4-pack-quantized`: `weight_packed` U8 `[out, in / 2]` (element `2j` in the low nibble),
//!   E2M1 codes; `weight_scale` F8 `[out, in / 16]`; `weight_global_scale` `[1]`:
//!   `W = e2m1 * (weight_scale / weight_global_scale)`.

use super::parts::LayoutError;
use weightlens_core::decode::decode_plain_f64;
use weightlens_core::{ByteOrder, Dtype, ElementDecoder, TensorInfo};

use super::gptq::SCALE_DTYPES;
use super::parts::{
    dense_words, dims2, expect_dtype, expect_shape, for_rows, for_runs, fused, map_affine, map_fields, map_nibbles,
    map_nibbles_with, stream_field, to_usize, unpack_stream, word, word_field, Kernel, Out, Parts, E2M1, NIBBLE_GROUPS,
    RUN,
};

/// How scales are shared along a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Grouping {
    /// One scale for the tensor.
    Tensor,
    /// One per output row.
    Channel,
    /// One per `n` consecutive inputs of a row.
    Group(u64),
    /// One per `[bm, bn]` block of the matrix (block-scaled FP8); edge blocks may be partial.
    Block(u64, u64),
}

impl Grouping {
    /// The scale shape for a `[rows, cols]` weight (`None`: any single-element shape).
    fn scale_shape(self, rows: u64, cols: u64) -> Option<[u64; 2]> {
        match self {
            Grouping::Tensor => None,
            Grouping::Channel => Some([rows, 1]),
            Grouping::Group(g) => Some([rows, cols.div_ceil(g.max(1))]),
            Grouping::Block(bm, bn) => Some([rows.div_ceil(bm.max(1)), cols.div_ceil(bn.max(1))]),
        }
    }

    /// The index into the flattened scale matrix (`scale_cols` wide) of element `(row, col)`;
    /// `sizes` are the group size, or the block's sides.
    #[inline]
    fn index(self, row: usize, col: usize, scale_cols: usize, sizes: (usize, usize)) -> usize {
        match self {
            Grouping::Tensor => 0,
            Grouping::Channel => row,
            Grouping::Group(_) => row * scale_cols + col / sizes.0,
            Grouping::Block(..) => (row / sizes.0) * scale_cols + col / sizes.1,
        }
    }

    /// The element counts [`Grouping::index`] divides by.
    fn sizes(self) -> Result<(usize, usize), LayoutError> {
        match self {
            Grouping::Group(g) => Ok((to_usize(g.max(1))?, 1)),
            Grouping::Block(bm, bn) => Ok((to_usize(bm.max(1))?, to_usize(bn.max(1))?)),
            Grouping::Tensor | Grouping::Channel => Ok((1, 1)),
        }
    }

    /// The `group_size` column.
    pub fn group_size(self) -> Option<u64> {
        match self {
            Grouping::Group(g) => Some(g),
            _ => None,
        }
    }
}

fn check_scale(scale: &TensorInfo, grouping: Grouping, rows: u64, cols: u64) -> Result<(), LayoutError> {
    match grouping.scale_shape(rows, cols) {
        Some(shape) => expect_shape(scale, &shape),
        None if scale.numel() == Some(1) => Ok(()),
        None => {
            Err(format!("{} has shape {}, a per-tensor scale has one element", scale.name, scale.shape_string()).into())
        }
    }
}

/// Parameters of a `pack-quantized` weight.
#[derive(Clone, Debug, PartialEq)]
pub struct PackParams {
    /// Bits per value (1..=8).
    pub bits: u32,
    /// How scales are shared.
    pub grouping: Grouping,
}

/// Checks a `pack-quantized` weight's components (weight_packed, weight_scale, then optional
/// weight_zero_point and weight_g_idx, as `zp`/`g_idx`) against its logical `shape`
/// (from `weight_shape`); returns whether the rows use the older words-of-`32 / bits` layout.
pub fn pack_check(
    p: &PackParams,
    packed: &TensorInfo,
    scale: &TensorInfo,
    zp: Option<&TensorInfo>,
    g_idx: Option<&TensorInfo>,
    shape: &[u64],
) -> Result<bool, LayoutError> {
    if !(1..=8).contains(&p.bits) {
        return Err(format!("pack-quantized bits {} is outside 1..=8", p.bits).into());
    }
    let &[rows, cols] = shape else { return Err(format!("weight_shape {shape:?} is not 2-D").into()) };
    expect_dtype(packed, &[Dtype::I32, Dtype::U32])?;
    expect_dtype(scale, SCALE_DTYPES)?;
    let (prow, pcols) = dims2(packed)?;
    let dense = dense_words(cols, p.bits).ok_or("weight_shape is too large")?;
    let legacy = cols.div_ceil(u64::from(32 / p.bits));
    if prow != rows || (pcols != dense && pcols != legacy) {
        return Err(format!(
            "weight_packed {} does not hold weight_shape [{rows}, {cols}] at {} bits",
            packed.shape_string(),
            p.bits
        )
        .into());
    }
    let n_groups = match g_idx {
        Some(g) => {
            expect_dtype(g, &[Dtype::I32, Dtype::I64])?;
            expect_shape(g, &[cols])?;
            let n = dims2(scale)?.1;
            expect_shape(scale, &[rows, n])?;
            n
        }
        None => {
            check_scale(scale, p.grouping, rows, cols)?;
            scale.numel().unwrap_or(0) / rows.max(1)
        }
    };
    if let Some(zp) = zp {
        let packed_zp = [dense_words(rows, p.bits).unwrap_or(0), n_groups.max(1)];
        let plain_zp = [rows, n_groups.max(1)];
        if zp.dtype != Dtype::I32 && zp.dtype != Dtype::I8 || zp.shape != packed_zp && zp.shape != plain_zp {
            return Err(format!(
                "weight_zero_point {} {} fits neither packed nor plain zero points",
                zp.dtype_name,
                zp.shape_string()
            )
            .into());
        }
    }
    Ok(pcols != dense)
}

struct Pack<'a> {
    packed: &'a [u8],
    words_per_row: usize,
    bits: u32,
    legacy: bool,
    cols: usize,
    scales: Vec<f64>,
    zeros: Option<Vec<i64>>,
    groups: Option<Vec<u32>>,
    grouping: Grouping,
    groups_per_row: usize,
    group: usize,
}

/// The decoder of a `pack-quantized` weight checked by [`pack_check`]. `parts`: packed, scale,
/// then `zp_at`/`g_idx_at` where present.
pub fn pack_decoder<'a>(
    p: &PackParams,
    legacy: bool,
    parts: &Parts<'a>,
    zp_at: Option<usize>,
    g_idx_at: Option<usize>,
    shape: &[u64],
) -> Result<Box<dyn ElementDecoder + 'a>, LayoutError> {
    let (rows, cols) = (to_usize(shape[0])?, to_usize(shape[1])?);
    let scales = parts.values(1)?;
    let groups_per_row = scales.len() / rows.max(1);
    let offset = 1i64 << (p.bits - 1);
    let zeros = match zp_at {
        None => None,
        Some(i) => {
            let zp = parts.info(i)?;
            let z = if zp.dtype == Dtype::I32 && zp.shape.first() != Some(&(rows as u64)) || rows == 0 {
                // Packed along dim 0: column g is one stream over the rows.
                let bytes = parts.bytes(i)?;
                let mut z = vec![0i64; rows * groups_per_row];
                for g in 0..groups_per_row {
                    for r in 0..rows {
                        let f = stream_field(|w| word(bytes, w * groups_per_row + g), r, p.bits);
                        z[r * groups_per_row + g] = i64::from(f) - offset;
                    }
                }
                z
            } else {
                parts.integers(i)?
            };
            Some(z)
        }
    };
    let groups = match g_idx_at {
        None => None,
        Some(i) => {
            let g = parts.integers(i)?;
            if let Some((c, bad)) = g.iter().enumerate().find(|(_, &g)| g < 0 || g as usize >= groups_per_row) {
                return Err(format!("weight_g_idx[{c}] = {bad} is outside the {groups_per_row} groups").into());
            }
            Some(g.into_iter().map(|g| g as u32).collect())
        }
    };
    let packed = parts.bytes(0)?;
    Ok(fused(Pack {
        packed,
        words_per_row: packed.len() / 4 / rows.max(1),
        bits: p.bits,
        legacy,
        cols,
        scales,
        zeros,
        groups,
        grouping: p.grouping,
        groups_per_row,
        group: to_usize(p.grouping.group_size().unwrap_or(1).max(1))?,
    }))
}

impl Kernel for Pack<'_> {
    fn run<O: Out>(&self, start: usize, out: &mut [O]) {
        let offset = 1i64 << (self.bits - 1);
        // Scratch space for unpacked fields (one per closure below), set up once per call.
        let (mut fields, mut scratch) = ([0u8; RUN], [0u8; RUN]);
        // Columns sharing one scale (and zero point) without g_idx.
        let run_len = match self.grouping {
            Grouping::Group(_) => self.group,
            Grouping::Tensor | Grouping::Channel | Grouping::Block(..) => self.cols,
        };
        // Whole groups of 4-bit codes (a multiple of 16 values, no g_idx) go many at a time.
        let nibble_groups =
            self.bits == 4 && !self.legacy && self.groups.is_none() && run_len > 0 && run_len.is_multiple_of(16);
        for_rows(self.cols, start, out, |r, c0, seg| {
            let base = r * self.words_per_row;
            let at = |w: usize| word(self.packed, base + w);
            let group = if self.groups.is_some() { RUN } else { run_len };
            // The zero point (0 without) and scale of group index `s`.
            let affine = |s: usize| {
                let zp = self.zeros.as_ref().map_or(0, |z| z.get(s).copied().unwrap_or(0));
                (offset + zp, self.scales.get(s).copied().unwrap_or(f64::NAN))
            };
            // The zero point and scale of column `c` (no g_idx).
            let affine_at = |c: usize| affine(self.grouping.index(r, c, self.groups_per_row, (self.group, 1)));
            // Little-endian int32 words of LSB-first fields: 4- and 8-bit codes are read in place
            // from the row's bytes (4-bit low nibble first).
            let row = base.checked_mul(4).and_then(|b| self.packed.get(b..)).unwrap_or(&[]);
            // Without g_idx: one zero point and scale per run.
            let mut plain = |c: usize, run: &mut [O]| {
                let (shift, s) = affine_at(c);
                // The zero points come from f64 values: exact as f64 again.
                if self.bits == 4 && run.len() >= 32 {
                    return map_nibbles_with(row, false, c, run, &O::affine_table(shift as f64, s));
                }
                // 8-bit codes are the row's bytes themselves.
                if let Some(codes) = row.get(c..c + run.len()).filter(|_| self.bits == 8) {
                    return O::affine(codes, shift as f64, s, run);
                }
                map_affine(at, self.bits, c, run, &mut scratch, shift as f64, s);
            };
            if nibble_groups {
                let len = run_len;
                let head = ((len - c0 % len) % len).min(seg.len());
                let (first, rest) = seg.split_at_mut(head);
                for_runs(group, c0, first, |c, _, run| plain(c, run));
                let whole = rest.len() / len * len;
                let (body, tail) = rest.split_at_mut(whole);
                let mut c = c0 + head;
                for chunk in body.chunks_mut(len.saturating_mul(NIBBLE_GROUPS)) {
                    let mut pairs = [(0.0, 0.0); NIBBLE_GROUPS];
                    let n = chunk.len() / len;
                    for (k, pair) in pairs[..n].iter_mut().enumerate() {
                        let (shift, s) = affine_at(c + k * len);
                        *pair = (shift as f64, s);
                    }
                    O::affine_nibble_groups(row.get(c / 2..).unwrap_or(&[]), len, &pairs[..n], chunk);
                    c += chunk.len();
                }
                return for_runs(group, c, tail, |c, _, run| plain(c, run));
            }
            for_runs(group, c0, seg, |c, _, run| {
                let value = |(shift, s): (i64, f64), q: u8| O::of((i64::from(q) - shift) as f64 * s);
                if !self.legacy && self.groups.is_none() {
                    return plain(c, run);
                }
                let fields = &mut fields[..run.len()];
                if self.legacy {
                    for (k, q) in fields.iter_mut().enumerate() {
                        *q = word_field(at, c + k, self.bits) as u8;
                    }
                } else {
                    unpack_stream(at, self.bits, c, fields);
                }
                match &self.groups {
                    Some(g) => {
                        let g = g.get(c..c + run.len()).unwrap_or(&[]);
                        for ((v, &q), &g) in run.iter_mut().zip(fields.iter()).zip(g) {
                            *v = value(affine(r * self.groups_per_row + g as usize), q);
                        }
                    }
                    None => {
                        let a = affine_at(c);
                        map_fields(fields, self.bits, run, |q| value(a, q));
                    }
                }
            });
        });
    }

    fn packed(&self) -> &[u8] {
        self.packed
    }
}

/// Checks a weight stored in its logical shape (FP8, or integers in `naive`/`int-quantized`)
/// with its weight_scale and the optional zero point (the scale's shape, unpacked) and g_idx.
pub fn float_check(
    grouping: Grouping,
    weight: &TensorInfo,
    scale: &TensorInfo,
    zp: Option<&TensorInfo>,
    g_idx: Option<&TensorInfo>,
) -> Result<(), LayoutError> {
    expect_dtype(weight, &[Dtype::F8E4M3, Dtype::F8E5M2, Dtype::I8, Dtype::I16, Dtype::I32])?;
    expect_dtype(scale, SCALE_DTYPES)?;
    let (rows, cols) = dims2(weight)?;
    match g_idx {
        Some(g) => {
            // Act-order groups: the scale has one column per group, g_idx names each input's.
            expect_dtype(g, &[Dtype::I32, Dtype::I64])?;
            expect_shape(g, &[cols])?;
            expect_shape(scale, &[rows, dims2(scale)?.1])?;
        }
        None => check_scale(scale, grouping, rows, cols)?,
    }
    if let Some(zp) = zp {
        if zp.shape != scale.shape && zp.numel() != scale.numel() || zp.dtype.size().is_none() {
            return Err(format!(
                "weight_zero_point {} {} does not match weight_scale {}",
                zp.dtype_name,
                zp.shape_string(),
                scale.shape_string()
            )
            .into());
        }
    }
    Ok(())
}

/// How a stored element is read.
#[derive(Clone, Copy)]
enum Element {
    Fp8 {
        e5m2: bool,
    },
    /// A little-endian signed integer of this many bytes.
    Int(usize),
}

struct Float<'a> {
    weight: &'a [u8],
    element: Element,
    /// The value of every byte, for one-byte elements (FP8, int8; all exact in `f32`): one
    /// load per element instead of decoding the bits.
    lut: Box<[f32; 256]>,
    cols: usize,
    scales: Vec<f64>,
    zeros: Option<Vec<f64>>,
    groups: Option<Vec<u32>>,
    grouping: Grouping,
    scale_cols: usize,
    sizes: (usize, usize),
}

/// The decoder of a weight times its scales, minus its zero points (`float`/`naive`/
/// `int-quantized`, checked by [`float_check`]; block-scaled FP8, checked by
/// `fp8::block_check`). `parts`: weight, scale, then `zp_at`/`g_idx_at` where present. The
/// formula is compressed-tensors' `_dequantize`: `(weight - zero_point) * scale`.
pub fn float_decoder<'a>(
    grouping: Grouping,
    parts: &Parts<'a>,
    zp_at: Option<usize>,
    g_idx_at: Option<usize>,
    shape: &[u64],
) -> Result<Box<dyn ElementDecoder + 'a>, LayoutError> {
    let info = parts.info(0)?;
    let element = match info.dtype {
        Dtype::F8E4M3 => Element::Fp8 { e5m2: false },
        Dtype::F8E5M2 => Element::Fp8 { e5m2: true },
        other => Element::Int(other.size().ok_or("weight has no element size")?),
    };
    let (rows, cols) = (to_usize(shape[0])?, to_usize(shape[1])?);
    let scales = parts.values(1)?;
    let scale_cols = match (g_idx_at, grouping.scale_shape(shape[0], shape[1])) {
        (Some(_), _) => scales.len() / rows.max(1),
        (None, Some([_, c])) => to_usize(c)?,
        (None, None) => 1,
    };
    let groups = match g_idx_at {
        None => None,
        Some(i) => {
            let g = parts.integers(i)?;
            if let Some((c, bad)) = g.iter().enumerate().find(|(_, &g)| g < 0 || g as usize >= scale_cols) {
                return Err(format!("weight_g_idx[{c}] = {bad} is outside the {scale_cols} groups").into());
            }
            Some(g.into_iter().map(|g| g as u32).collect())
        }
    };
    let weight = parts.bytes(0)?;
    let size = match element {
        Element::Fp8 { .. } => 1,
        Element::Int(n) => n,
    };
    if rows.checked_mul(cols).and_then(|n| n.checked_mul(size)) != Some(weight.len()) {
        return Err(format!("{} holds {} bytes, not {rows} x {cols} elements", info.name, weight.len()).into());
    }
    let mut lut = Box::new([0f32; 256]);
    for (b, v) in lut.iter_mut().enumerate() {
        *v = match element {
            Element::Fp8 { e5m2 } => fp8(b as u8, e5m2) as f32,
            Element::Int(_) => f32::from(b as u8 as i8),
        };
    }
    Ok(fused(Float {
        weight,
        element,
        lut,
        cols,
        scales,
        zeros: zp_at.map(|z| parts.values(z)).transpose()?,
        groups,
        grouping,
        scale_cols,
        sizes: grouping.sizes()?,
    }))
}

/// The value of an FP8 byte.
#[inline]
pub fn fp8(b: u8, e5m2: bool) -> f64 {
    use weightlens_core::decode::{f8_e4m3_to_f32, f8_e5m2_to_f32};
    f64::from(if e5m2 { f8_e5m2_to_f32(b) } else { f8_e4m3_to_f32(b) })
}

impl Float<'_> {
    #[inline]
    fn element(&self, at: usize) -> f64 {
        match self.element {
            Element::Fp8 { e5m2 } => fp8(self.weight.get(at).copied().unwrap_or(0), e5m2),
            Element::Int(1) => f64::from(self.weight.get(at).copied().unwrap_or(0) as i8),
            Element::Int(n) => {
                let b = self.weight.get(at * n..at * n + n).unwrap_or(&[]);
                match *b {
                    [a, b] => f64::from(i16::from_le_bytes([a, b])),
                    [a, b, c, d] => f64::from(i32::from_le_bytes([a, b, c, d])),
                    _ => 0.0,
                }
            }
        }
    }
}

impl Float<'_> {
    /// For row `r`: how many consecutive columns share a scale, and the index of the scale of
    /// column 0 (without g_idx).
    #[inline]
    fn runs(&self, r: usize) -> (usize, usize) {
        match self.grouping {
            Grouping::Tensor => (self.cols.max(1), 0),
            Grouping::Channel => (self.cols.max(1), r),
            Grouping::Group(_) => (self.sizes.0, r * self.scale_cols),
            Grouping::Block(..) => (self.sizes.1, (r / self.sizes.0) * self.scale_cols),
        }
    }

    /// Row `r`, columns `c0 ..`: one-byte elements without g_idx, a run of columns sharing one
    /// scale and zero point at a time (the common layouts: a tight loop the compiler unrolls).
    fn decode_runs<O: Out>(&self, r: usize, c0: usize, seg: &mut [O]) {
        let (run, base) = self.runs(r);
        let from = r * self.cols + c0;
        let bytes = self.weight.get(from..from + seg.len()).unwrap_or(&[]);
        let mut done = 0;
        while done < seg.len() {
            let c = c0 + done;
            let n = (run - c % run).min(seg.len() - done);
            let at = base + c / run;
            let s = self.scales[at];
            let (out, codes) = (&mut seg[done..done + n], bytes.get(done..done + n).unwrap_or(&[]));
            match &self.zeros {
                // Symmetric (every FP8 layout): no subtraction in the loop (x - 0.0 is x anyway).
                None if matches!(self.element, Element::Fp8 { e5m2: false }) => {
                    O::e4m3_scaled(codes, &self.lut, s, out)
                }
                None => O::lut_scaled(codes, &self.lut, s, out),
                Some(zeros) => {
                    let z = zeros[at];
                    for (v, &b) in out.iter_mut().zip(codes) {
                        *v = O::of((f64::from(self.lut[usize::from(b)]) - z) * s);
                    }
                }
            }
            done += n;
        }
    }
}

impl Kernel for Float<'_> {
    fn run<O: Out>(&self, start: usize, out: &mut [O]) {
        let one_byte = matches!(self.element, Element::Fp8 { .. } | Element::Int(1));
        for_rows(self.cols, start, out, |r, c0, seg| {
            if one_byte && self.groups.is_none() {
                return self.decode_runs(r, c0, seg);
            }
            for (k, v) in seg.iter_mut().enumerate() {
                let c = c0 + k;
                let s = match &self.groups {
                    Some(g) => r * self.scale_cols + g[c] as usize,
                    None => self.grouping.index(r, c, self.scale_cols, self.sizes),
                };
                let q = self.element(r * self.cols + c);
                // x - 0.0 is x (also -0.0 and NaN): one formula with and without zero points.
                *v = O::of((q - self.zeros.as_ref().map_or(0.0, |z| z[s])) * self.scales[s]);
            }
        });
    }

    fn packed(&self) -> &[u8] {
        self.weight
    }
}

/// Checks MXFP4 components (weight_packed U8 `[out, in / 2]`, weight_scale U8 E8M0
/// `[out, in / 32]`) and returns the logical shape.
pub fn mxfp4_shape(packed: &TensorInfo, scale: &TensorInfo) -> Result<Vec<u64>, LayoutError> {
    expect_dtype(packed, &[Dtype::U8])?;
    expect_dtype(scale, &[Dtype::U8])?;
    let (rows, half) = dims2(packed)?;
    let cols = half.checked_mul(2).ok_or("weight_packed is too large")?;
    expect_shape(scale, &[rows, cols.div_ceil(32)])?;
    Ok(vec![rows, cols])
}

/// The decoder of a `mxfp4-pack-quantized` weight checked by [`mxfp4_shape`]: as NVFP4 without
/// a global scale, the scale `2^(s - 127)` (`decompress_mx_scale`, in bfloat16, as the product).
pub fn mxfp4_decoder<'a>(parts: &Parts<'a>, shape: &[u64]) -> Result<Box<dyn ElementDecoder + 'a>, LayoutError> {
    let (rows, cols) = (to_usize(shape[0])?, to_usize(shape[1])?);
    let codes = parts.bytes(1)?;
    if codes.len() != rows * cols.div_ceil(32) {
        return Err("weight_scale does not hold one scale per 32 inputs".into());
    }
    let scales = Fp4Scales::coded(codes, e8m0);
    Ok(fused(Nvfp4 { packed: parts.bytes(0)?, cols, groups_per_row: codes.len() / rows.max(1), scales, group: 32 }))
}

/// The E8M0 scale `2^(s - 127)` as `f32` (255, the format's NaN, is `2^128`, i.e. infinity, as
/// the libraries' `2 ** (s - 127)` computes it).
#[inline]
pub fn e8m0(s: u8) -> f32 {
    match s {
        0 => f32::from_bits(0x0040_0000),
        255 => f32::INFINITY,
        s => f32::from_bits(u32::from(s) << 23),
    }
}

/// Checks NVFP4 components (weight_packed, weight_global_scale, weight_scale) and returns the
/// logical shape.
pub fn nvfp4_shape(
    group: u64,
    packed: &TensorInfo,
    global: &TensorInfo,
    scale: &TensorInfo,
) -> Result<Vec<u64>, LayoutError> {
    expect_dtype(packed, &[Dtype::U8])?;
    expect_dtype(scale, &[Dtype::F8E4M3, Dtype::F32, Dtype::F16, Dtype::BF16])?;
    expect_dtype(global, SCALE_DTYPES)?;
    if global.numel() != Some(1) {
        return Err(
            format!("{} has shape {}, a global scale has one element", global.name, global.shape_string()).into()
        );
    }
    let (rows, half) = dims2(packed)?;
    let cols = half.checked_mul(2).ok_or("weight_packed is too large")?;
    if group == 0 {
        return Err("group_size 0".into());
    }
    expect_shape(scale, &[rows, cols.div_ceil(group)])?;
    Ok(vec![rows, cols])
}

struct Nvfp4<'a> {
    packed: &'a [u8],
    cols: usize,
    scales: Fp4Scales<'a>,
    groups_per_row: usize,
    group: usize,
}

/// The group scales of an FP4 weight.
enum Fp4Scales<'a> {
    /// One byte per group (FP8 or E8M0 scales, as every published checkpoint stores them), with
    /// the 16 values `bf16(e2m1 * scale)` of each of the 256 codes computed once.
    Coded { codes: &'a [u8], values: Box<[f64]> },
    /// Scales stored as wider floats.
    Plain(Vec<f32>),
}

impl<'a> Fp4Scales<'a> {
    fn coded(codes: &'a [u8], scale: impl Fn(u8) -> f32) -> Self {
        let values =
            (0..=255u8).flat_map(|c| (0..16).map(move |e| (c, e))).map(|(c, e)| fp4_value(e, scale(c))).collect();
        Fp4Scales::Coded { codes, values }
    }
}

/// E2M1 code `code` times `scale`, rounded to bfloat16 as the library computes it.
#[inline]
fn fp4_value(code: usize, scale: f32) -> f64 {
    half::bf16::from_f32(E2M1[code & 0xF] as f32 * scale).to_f64()
}

/// The decoder of an NVFP4 weight checked by [`nvfp4_shape`] (parts: packed, global, scale).
pub fn nvfp4_decoder<'a>(
    group: u64,
    parts: &Parts<'a>,
    shape: &[u64],
) -> Result<Box<dyn ElementDecoder + 'a>, LayoutError> {
    let (rows, cols) = (to_usize(shape[0])?, to_usize(shape[1])?);
    let global = parts.values_f32(1)?.first().copied().ok_or("weight_global_scale is empty")?;
    // The per-group scale divided by the global scale.
    let scale = parts.info(2)?;
    let (scales, count) = if scale.dtype == Dtype::F8E4M3 {
        let codes = parts.bytes(2)?;
        if Some(codes.len() as u64) != scale.numel() {
            return Err(format!("{} holds {} bytes, not {}", scale.name, codes.len(), scale.shape_string()).into());
        }
        // Each code's scale exactly as `values_f32` decodes it.
        let all: Vec<u8> = (0..=255).collect();
        let mut decoded = vec![0f64; 256];
        decode_plain_f64(Dtype::F8E4M3, ByteOrder::Little, &all, &mut decoded);
        (Fp4Scales::coded(codes, |c| decoded[usize::from(c)] as f32 / global), codes.len())
    } else {
        let plain: Vec<f32> = parts.values_f32(2)?.into_iter().map(|s| s / global).collect();
        let n = plain.len();
        (Fp4Scales::Plain(plain), n)
    };
    Ok(fused(Nvfp4 {
        packed: parts.bytes(0)?,
        cols,
        groups_per_row: count / rows.max(1),
        scales,
        group: to_usize(group)?,
    }))
}

impl Kernel for Nvfp4<'_> {
    fn run<O: Out>(&self, start: usize, out: &mut [O]) {
        let mut codes = [0u8; RUN];
        for_rows(self.cols, start, out, |r, c0, seg| {
            for_runs(self.group, c0, seg, |c, g, run| {
                let g = r * self.groups_per_row + g;
                let from = r * self.cols + c;
                match &self.scales {
                    Fp4Scales::Coded { codes: scale_codes, values } => {
                        let at = usize::from(scale_codes.get(g).copied().unwrap_or(0)) * 16;
                        let values = values.get(at..at + 16).unwrap_or(&[0.0; 16]);
                        let table = std::array::from_fn(|e| O::of(values[e]));
                        map_nibbles_with(self.packed, false, from, run, &table);
                    }
                    Fp4Scales::Plain(scales) => {
                        let scale = scales.get(g).copied().unwrap_or(f32::NAN);
                        map_nibbles(self.packed, false, from, run, &mut codes, |e| {
                            O::of(fp4_value(usize::from(e), scale))
                        });
                    }
                }
            });
        });
    }

    fn packed(&self) -> &[u8] {
        self.packed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safetensors::quant::parts::tests_support::{info, le_words};

    fn pack_rows(values: &[Vec<i64>], bits: u32, legacy: bool) -> (Vec<u32>, usize) {
        let cols = values[0].len();
        let per_row = if legacy { cols.div_ceil((32 / bits) as usize) } else { (cols * bits as usize).div_ceil(32) };
        let mut words = vec![0u32; values.len() * per_row];
        for (r, row) in values.iter().enumerate() {
            for (c, &q) in row.iter().enumerate() {
                let u = (q + (1 << (bits - 1))) as u64;
                let bit = if legacy {
                    (c / (32 / bits) as usize) * 32 + (c % (32 / bits) as usize) * bits as usize
                } else {
                    c * bits as usize
                };
                let wide = u << (bit % 32);
                words[r * per_row + bit / 32] |= wide as u32;
                if bit % 32 + bits as usize > 32 {
                    words[r * per_row + bit / 32 + 1] |= (wide >> 32) as u32;
                }
            }
        }
        (words, per_row)
    }

    fn check_pack(bits: u32, legacy: bool, asym: bool) {
        let (rows, cols, gs) = (6usize, 64usize, 8u64);
        let lo = -(1i64 << (bits - 1));
        let span = 1i64 << bits;
        let q: Vec<Vec<i64>> =
            (0..rows).map(|r| (0..cols).map(|c| lo + ((r * 3 + c * 5) as i64 % span)).collect()).collect();
        let groups = cols / gs as usize;
        let zp: Vec<Vec<i64>> =
            (0..rows).map(|r| (0..groups).map(|g| lo + ((r + g) as i64 % span)).collect()).collect();
        let scales: Vec<f32> = (0..rows * groups).map(|k| 0.25 * (k as f32 + 1.0)).collect();
        let (words, per_row) = pack_rows(&q, bits, legacy);
        // Zero points packed along dim 0: transpose, pack, transpose back.
        let zt: Vec<Vec<i64>> = (0..groups).map(|g| (0..rows).map(|r| zp[r][g]).collect()).collect();
        let (zwords_t, zper) = pack_rows(&zt, bits, false);
        let mut zwords = vec![0u32; zper * groups];
        for g in 0..groups {
            for w in 0..zper {
                zwords[w * groups + g] = zwords_t[g * zper + w];
            }
        }
        let p = PackParams { bits, grouping: Grouping::Group(gs) };
        let packed = info("weight_packed", Dtype::I32, vec![rows as u64, per_row as u64]);
        let scale = info("weight_scale", Dtype::F32, vec![rows as u64, groups as u64]);
        let zinfo = info("weight_zero_point", Dtype::I32, vec![zper as u64, groups as u64]);
        let shape = [rows as u64, cols as u64];
        let got_legacy = pack_check(&p, &packed, &scale, asym.then_some(&zinfo), None, &shape).unwrap();
        assert_eq!(got_legacy, legacy && 32 % bits != 0, "bits {bits}");
        let mut infos = vec![&packed, &scale];
        let mut bytes = vec![le_words(&words), scales.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>()];
        if asym {
            infos.push(&zinfo);
            bytes.push(le_words(&zwords));
        }
        let parts = Parts::new(infos, bytes.iter().map(Vec::as_slice).collect());
        let d = pack_decoder(&p, got_legacy, &parts, asym.then_some(2), None, &shape).unwrap();
        let mut w = vec![0f64; rows * cols];
        d.decode_f64(0, &mut w).unwrap();
        for r in 0..rows {
            for c in 0..cols {
                let g = c / gs as usize;
                let z = if asym { zp[r][g] } else { 0 };
                assert_eq!(
                    w[r * cols + c],
                    (q[r][c] - z) as f64 * f64::from(scales[r * groups + g]),
                    "bits {bits} r {r} c {c}"
                );
            }
        }
    }

    #[test]
    fn pack_quantized_every_width_dense_and_legacy() {
        for bits in 1..=8 {
            check_pack(bits, false, false);
            check_pack(bits, false, true);
            check_pack(bits, true, true);
        }
    }

    #[test]
    fn pack_quantized_refuses_a_lying_weight_shape() {
        let p = PackParams { bits: 4, grouping: Grouping::Channel };
        let packed = info("weight_packed", Dtype::I32, vec![4, 2]);
        let scale = info("weight_scale", Dtype::F32, vec![4, 1]);
        assert!(pack_check(&p, &packed, &scale, None, None, &[4, 16]).is_ok());
        assert!(pack_check(&p, &packed, &scale, None, None, &[4, 1_000_000]).is_err());
        assert!(pack_check(&p, &packed, &scale, None, None, &[5, 16]).is_err());
        assert!(pack_check(&p, &packed, &scale, None, None, &[u64::MAX, u64::MAX]).is_err());
    }

    #[test]
    fn nvfp4_uses_low_nibble_first_and_divides_by_the_global_scale() {
        let packed = info("weight_packed", Dtype::U8, vec![1, 8]);
        let global = info("weight_global_scale", Dtype::F32, vec![1]);
        let scale = info("weight_scale", Dtype::F32, vec![1, 1]);
        let shape = nvfp4_shape(16, &packed, &global, &scale).unwrap();
        let codes: Vec<u8> = (0..8u8).map(|j| (2 * j) | ((2 * j + 1) << 4)).collect();
        let bytes = [codes, 4f32.to_le_bytes().to_vec(), 2f32.to_le_bytes().to_vec()];
        let parts = Parts::new(vec![&packed, &global, &scale], bytes.iter().map(Vec::as_slice).collect());
        let d = nvfp4_decoder(16, &parts, &shape).unwrap();
        let mut w = vec![0f64; 16];
        d.decode_f64(0, &mut w).unwrap();
        let want: Vec<f64> = E2M1.iter().map(|e| e * 0.5).collect();
        assert_eq!(w, want);
    }
}
