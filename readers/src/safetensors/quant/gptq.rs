//! GPTQ (AutoGPTQ / GPTQModel `qweight`, `qzeros`, `scales`, `g_idx`) and AWQ GEMM (AutoAWQ
//! `qweight`, `qzeros`, `scales`).
//!
//! GPTQ, as `QuantLinear.pack` / `forward` of auto-gptq's `qlinear_cuda` define it: `qweight`
//! `[in * bits / 32, out]` packs the INPUT dimension as one dense LSB-first bit stream per
//! output column (2/4/8-bit values never straddle words, 3-bit ones do); `qzeros`
//! `[n_groups, out * bits / 32]` packs the output dimension the same way. Checkpoint format v1
//! stores `zero - 1`: the runtime masks the field to `bits` bits and adds one; v2
//! (`checkpoint_format: "gptq_v2"`) stores the zero as is. `W[o, i] = scales[g, o] * (q[i, o] - z[g, o])`
//! with `g = g_idx[i]` (or `i / group_size` without `g_idx`).
//!
//! AWQ GEMM, as `WQLinear_GEMM` and `packing_utils.dequantize_gemm` define it: `qweight`
//! `[in, out / 8]` packs the OUTPUT dimension, nibble `k` of word `c` holding output column
//! `c * 8 + [0, 2, 4, 6, 1, 3, 5, 7][k]`; `qzeros` `[in / gs, out / 8]` the same way (zeros as
//! is); `W[o, i] = (q[i, o] - z[i / gs, o]) * scales[i / gs, o]`.

use super::parts::LayoutError;
use weightlens_core::{Dtype, ElementDecoder};

use super::parts::{
    dense_words, dims2, expect_dtype, expect_shape, for_rows, for_runs, fused, le_bytes, map_affine, map_fields,
    split_rows, stream_field, to_usize, unpack_stream, word, Kernel, Out, Parts, RUN,
};

/// Float dtypes a scale may have.
pub const SCALE_DTYPES: &[Dtype] = &[Dtype::F16, Dtype::BF16, Dtype::F32, Dtype::F64];

/// GPTQ parameters from the checkpoint's config.
#[derive(Clone, Debug, PartialEq)]
pub struct GptqParams {
    /// Bits per value (2, 3, 4, 8).
    pub bits: u32,
    /// Inputs per group; `None` = one group per output channel (`group_size: -1`).
    pub group_size: Option<u64>,
    /// Zeros stored as is (format v2) instead of minus one (v1).
    pub v2: bool,
}

/// The logical `[out, in]` shape GPTQ components describe, checked against each other.
/// `parts`: qweight, qzeros, scales, then g_idx if stored.
pub fn gptq_shape(p: &GptqParams, parts: &[&weightlens_core::TensorInfo]) -> Result<Vec<u64>, LayoutError> {
    if !matches!(p.bits, 2 | 3 | 4 | 8) {
        return Err(format!("GPTQ bits {} is not one of 2, 3, 4, 8", p.bits).into());
    }
    let [qweight, qzeros, scales, rest @ ..] = parts else { return Err("GPTQ needs qweight, qzeros, scales".into()) };
    expect_dtype(qweight, &[Dtype::I32, Dtype::U32])?;
    expect_dtype(qzeros, &[Dtype::I32, Dtype::U32])?;
    expect_dtype(scales, SCALE_DTYPES)?;
    let (words, out) = dims2(qweight)?;
    let inputs = words.checked_mul(32).map(|b| b / u64::from(p.bits)).ok_or("qweight is too large")?;
    if inputs * u64::from(p.bits) != words * 32 {
        return Err(format!("qweight rows {words} do not hold whole {}-bit inputs", p.bits).into());
    }
    let (groups, _) = dims2(scales)?;
    let expected_groups = match p.group_size {
        Some(0) => return Err("group_size 0".into()),
        Some(gs) => inputs.div_ceil(gs),
        None => 1,
    };
    // With act-order, g_idx decides the groups; their count is what scales hold.
    if rest.is_empty() && groups != expected_groups {
        return Err(format!(
            "scales have {groups} groups, {inputs} inputs in groups of {:?} need {expected_groups}",
            p.group_size
        )
        .into());
    }
    expect_shape(scales, &[groups, out])?;
    let zero_words = dense_words(out, p.bits).ok_or("qzeros is too large")?;
    expect_shape(qzeros, &[groups, zero_words])?;
    if let [g_idx] = rest {
        expect_dtype(g_idx, &[Dtype::I32, Dtype::I64])?;
        expect_shape(g_idx, &[inputs])?;
    }
    Ok(vec![out, inputs])
}

struct Gptq<'a> {
    qweight: &'a [u8],
    out: usize,
    bits: u32,
    /// `(scale, zero point)` of every group, transposed to `[out, n_groups]`: a row's are
    /// contiguous.
    affine: Vec<(f64, f64)>,
    n_groups: usize,
    /// The group of each input, when `g_idx` is not simply `i / group` (act-order).
    groups: Option<Vec<u32>>,
    /// Inputs per group when it is.
    group: usize,
    inputs: usize,
}

/// The decoder of a GPTQ weight (shapes checked by [`gptq_shape`]); `g_idx` is checked here.
pub fn gptq_decoder<'a>(
    p: &GptqParams,
    parts: &Parts<'a>,
    shape: &[u64],
) -> Result<Box<dyn ElementDecoder + 'a>, LayoutError> {
    let (out, inputs) = (to_usize(shape[0])?, to_usize(shape[1])?);
    let scales = parts.values(2)?;
    let n_groups = scales.len() / out.max(1);
    let group = p.group_size.map_or(Ok(inputs.max(1)), to_usize)?.max(1);
    let groups: Option<Vec<u32>> = match parts.info(3) {
        Ok(_) => {
            let g = parts.integers(3)?;
            if let Some((i, bad)) = g.iter().enumerate().find(|(_, &g)| g < 0 || g as usize >= n_groups) {
                return Err(format!("g_idx[{i}] = {bad} is outside the {n_groups} groups").into());
            }
            // Without act-order g_idx is `i / group_size` (what `QuantLinear.pack` writes):
            // then runs of inputs share a group and no per-input lookup is needed.
            let trivial = g.iter().enumerate().all(|(i, &g)| g as usize == i / group);
            (!trivial).then(|| g.into_iter().map(|g| g as u32).collect())
        }
        Err(_) => None,
    };
    // Unpack the zero points once: n_groups * out values, stored [out, n_groups].
    let packed = parts.bytes(1)?;
    let zero_words = dense_words(out as u64, p.bits).map(to_usize).ok_or("qzeros is too large")??;
    let mask = (1i64 << p.bits) - 1;
    let mut affine = vec![(0f64, 0f64); n_groups * out];
    for g in 0..n_groups {
        for o in 0..out {
            let stored = i64::from(stream_field(|w| word(packed, g * zero_words + w), o, p.bits));
            // Small integers: exact in f64.
            let zero = (if p.v2 { stored } else { (stored & mask) + 1 }) as f64;
            affine[o * n_groups + g] = (scales[g * out + o], zero);
        }
    }
    Ok(fused(Gptq { qweight: parts.bytes(0)?, out, bits: p.bits, affine, n_groups, groups, group, inputs }))
}

impl Gptq<'_> {
    /// Elements `start .. start + out.len()` row piece by row piece: each row reads one word per
    /// 8 (4-bit) inputs from its own column of `qweight`.
    fn rows<O: Out>(&self, start: usize, out: &mut [O]) {
        let n_out = self.out;
        let mut fields = [0u8; RUN];
        // Act-order, at most 4 bits: the 16 values of every group of a row, once per row.
        let mut tables: Vec<O> = Vec::new();
        for_rows(self.inputs, start, out, |o, i0, seg| {
            // Column o's stream over the inputs: word w of it is qweight[w, o].
            let column = |w: usize| word(self.qweight, w * n_out + o);
            let affine = self.affine.get(o * self.n_groups..).unwrap_or(&[]);
            let affine = |g: usize| affine.get(g).copied().unwrap_or((f64::NAN, 0.0));
            let value = |(s, z): (f64, f64), q: u8| O::of(s * (f64::from(q) - z));
            match &self.groups {
                None => for_runs(self.group, i0, seg, |i, g, run| {
                    let (s, z) = affine(g);
                    map_affine(column, self.bits, i, run, &mut fields, z, s);
                }),
                Some(groups) if self.bits <= 4 && seg.len() >= 16 * self.n_groups => {
                    tables.clear();
                    tables.extend((0..self.n_groups * 16).map(|k| value(affine(k / 16), (k % 16) as u8)));
                    for_runs(RUN, i0, seg, |i, _, run| {
                        let fields = &mut fields[..run.len()];
                        unpack_stream(column, self.bits, i, fields);
                        let groups = groups.get(i..i + run.len()).unwrap_or(&[]);
                        for ((v, &q), &g) in run.iter_mut().zip(fields.iter()).zip(groups) {
                            *v = tables.get(g as usize * 16 + usize::from(q)).copied().unwrap_or_default();
                        }
                    })
                }
                Some(groups) => for_runs(RUN, i0, seg, |i, _, run| {
                    let fields = &mut fields[..run.len()];
                    unpack_stream(column, self.bits, i, fields);
                    let groups = groups.get(i..i + run.len()).unwrap_or(&[]);
                    for ((v, &q), &g) in run.iter_mut().zip(fields.iter()).zip(groups) {
                        *v = value(affine(g as usize), q);
                    }
                }),
            }
        });
    }

    /// The [`BLOCK_ROWS`] whole rows `o0 ..` (4- or 8-bit, groups of whole words): their words
    /// are side by side in `qweight` (one 64-byte line per word of inputs), so each line is read
    /// once for all of them and its words dealt to the rows. Each row is then mapped as
    /// [`Self::rows`] maps it (the same values, bit for bit): 4-bit words through its group's
    /// table of 16 values, 8-bit ones (whose little-endian bytes are the fields) by
    /// [`Out::affine`].
    fn block_rows<O: Out>(&self, o0: usize, rows: &mut [O]) {
        match (&self.groups, self.bits) {
            (Some(groups), _) => self.block_rows_act_order(groups, o0, rows),
            (None, 4) => self.block_rows_of::<O, 4, { RUN / 8 }>(o0, rows),
            _ => self.block_rows_of::<O, 8, { RUN / 4 }>(o0, rows),
        }
    }

    /// [`Self::block_rows`] of `BITS`-bit values, `WORDS` (`RUN * BITS / 32`) words per row and
    /// run (constants: word and field arithmetic by shifts, buffers no larger than needed).
    fn block_rows_of<O: Out, const BITS: u32, const WORDS: usize>(&self, o0: usize, rows: &mut [O]) {
        let n = self.inputs;
        let per_word = (32 / BITS) as usize;
        let mut split = rows.chunks_exact_mut(n.max(1));
        let mut rows: [&mut [O]; BLOCK_ROWS] = std::array::from_fn(|_| split.next().unwrap_or_default());
        let mut words = [[0u32; WORDS]; BLOCK_ROWS];
        let mut tables = [[O::default(); 16]; BLOCK_ROWS];
        let mut affine = [(0f64, 0f64); BLOCK_ROWS];
        let mut fields = [0u8; RUN];
        for i0 in (0..n).step_by(self.group) {
            let g = i0 / self.group;
            for (j, (table, affine)) in tables.iter_mut().zip(affine.iter_mut()).enumerate() {
                let (s, z) = self.affine.get((o0 + j) * self.n_groups + g).copied().unwrap_or((f64::NAN, 0.0));
                if BITS == 4 {
                    *table = std::array::from_fn(|q| O::of(s * (q as f64 - z)));
                } else {
                    *affine = (s, z);
                }
            }
            let group_end = (i0 + self.group).min(n);
            for i in (i0..group_end).step_by(RUN) {
                let count = (group_end - i).min(RUN) / per_word;
                if BITS == 8 {
                    let at = (i / per_word)
                        .checked_mul(self.out)
                        .and_then(|l| l.checked_add(o0))
                        .and_then(|w| w.checked_mul(4));
                    let lines = at.and_then(|at| self.qweight.get(at..)).unwrap_or(&[]);
                    if O::affine_byte_lines(lines, 4 * self.out, count, &affine, &mut rows, i) {
                        continue;
                    }
                }
                self.deal_lines(o0, i / per_word, count, &mut words);
                let len = count * per_word;
                for ((row, row_words), (table, &(s, z))) in rows.iter_mut().zip(&words).zip(tables.iter().zip(&affine))
                {
                    let Some(seg) = row.get_mut(i..i + len) else { continue };
                    if BITS == 4 {
                        O::nibble_words(&row_words[..count], table, seg);
                        continue;
                    }
                    O::affine(le_bytes(&row_words[..count], &mut fields), z, s, seg);
                }
            }
        }
    }
}

impl Gptq<'_> {
    /// Act-order 4-bit rows for [`Self::block_rows`]: each row's 16 values of every group in
    /// one table (what [`Self::rows`] builds per row), each input looked up in its `g_idx`
    /// group's part by [`Out::grouped_nibble_words`].
    fn block_rows_act_order<O: Out>(&self, groups: &[u32], o0: usize, rows: &mut [O]) {
        let n = self.inputs;
        let width = self.n_groups * 16;
        let mut split = rows.chunks_exact_mut(n.max(1));
        let mut rows: [&mut [O]; BLOCK_ROWS] = std::array::from_fn(|_| split.next().unwrap_or_default());
        let affine = self.affine.get(o0 * self.n_groups..).unwrap_or(&[]);
        let lines = o0.checked_mul(4).and_then(|at| self.qweight.get(at..)).unwrap_or(&[]);
        if O::act_order_lines(lines, 4 * self.out, n / 8, groups, affine, self.n_groups, &mut rows, 0) {
            return;
        }
        let mut tables = vec![O::default(); BLOCK_ROWS * width];
        // Rows and groups are adjacent in both: one table of 16 per (row, group) pair, in order.
        for (table, &(s, z)) in tables.chunks_exact_mut(16).zip(affine) {
            table.copy_from_slice(&O::affine_table(z, s));
        }
        let mut words = [[0u32; RUN / 8]; BLOCK_ROWS];
        for i in (0..n).step_by(RUN) {
            let count = (n - i).min(RUN) / 8;
            self.deal_lines(o0, i / 8, count, &mut words);
            let groups = groups.get(i..i + 8 * count).unwrap_or(&[]);
            for (j, row) in rows.iter_mut().enumerate() {
                let (Some(seg), Some(table)) = (row.get_mut(i..i + 8 * count), tables.get(j * width..(j + 1) * width))
                else {
                    continue;
                };
                O::grouped_nibble_words(&words[j][..count], groups, table, seg);
            }
        }
    }

    /// Words `w0 .. w0 + count` of the [`BLOCK_ROWS`] columns `o0 ..` of `qweight`, one 64-byte
    /// line per word index, dealt to `words[j][..count]` (row `o0 + j`).
    #[inline]
    fn deal_lines<const WORDS: usize>(
        &self,
        o0: usize,
        w0: usize,
        count: usize,
        words: &mut [[u32; WORDS]; BLOCK_ROWS],
    ) {
        for k in 0..count {
            let at = ((w0 + k) * self.out + o0) * 4;
            let line = self.qweight.get(at..at + 4 * BLOCK_ROWS).unwrap_or(&[]);
            for (j, row_words) in words.iter_mut().enumerate() {
                row_words[k] = word(line, j);
            }
        }
    }
}

/// Rows [`Gptq::block_rows`] decodes together: 16 words, one 64-byte line.
const BLOCK_ROWS: usize = 16;

impl Kernel for Gptq<'_> {
    fn run<O: Out>(&self, start: usize, out: &mut [O]) {
        let n = self.inputs;
        // Groups and rows of whole words, so that a block never splits a word.
        let per_word = (32 / self.bits) as usize;
        let blocks = match self.groups {
            None => matches!(self.bits, 4 | 8) && self.group.is_multiple_of(per_word) && n.is_multiple_of(per_word),
            Some(_) => self.bits == 4 && n.is_multiple_of(8),
        };
        if !blocks || n == 0 {
            return self.rows(start, out);
        }
        let ((o, i0, head), (first, body), (last, tail)) = split_rows(n, start, out);
        self.rows(o * n + i0, head);
        // Whole rows: blocks of BLOCK_ROWS where aligned, the others one by one.
        let mut o = first;
        let mut rest = body;
        while !rest.is_empty() {
            let block = o.is_multiple_of(BLOCK_ROWS) && o + BLOCK_ROWS <= self.out && rest.len() >= BLOCK_ROWS * n;
            let take = if block { BLOCK_ROWS } else { 1 };
            let (now, after) = rest.split_at_mut(take * n);
            if block {
                self.block_rows(o, now);
            } else {
                self.rows(o * n, now);
            }
            o += take;
            rest = after;
        }
        self.rows(last * n, tail);
    }

    fn packed(&self) -> &[u8] {
        self.qweight
    }
}

/// The position within a packed AWQ word of each output column `c * 8 + j` (the inverse of
/// AutoAWQ's packing order `[0, 2, 4, 6, 1, 3, 5, 7]`).
const AWQ_NIBBLE_OF: [u32; 8] = [0, 4, 1, 5, 2, 6, 3, 7];

/// The logical `[out, in]` shape of AWQ GEMM components (qweight, qzeros, scales).
pub fn awq_shape(bits: u32, group_size: u64, parts: &[&weightlens_core::TensorInfo]) -> Result<Vec<u64>, LayoutError> {
    if bits != 4 {
        return Err(format!("AWQ GEMM packs 4-bit values, the config says {bits}").into());
    }
    let [qweight, qzeros, scales] = parts else { return Err("AWQ needs qweight, qzeros, scales".into()) };
    expect_dtype(qweight, &[Dtype::I32, Dtype::U32])?;
    expect_dtype(qzeros, &[Dtype::I32, Dtype::U32])?;
    expect_dtype(scales, SCALE_DTYPES)?;
    let (inputs, words) = dims2(qweight)?;
    let out = words.checked_mul(8).ok_or("qweight is too large")?;
    if group_size == 0 || inputs % group_size != 0 {
        return Err(format!("{inputs} inputs are not whole groups of {group_size}").into());
    }
    expect_shape(scales, &[inputs / group_size, out])?;
    expect_shape(qzeros, &[inputs / group_size, words])?;
    Ok(vec![out, inputs])
}

struct Awq<'a> {
    qweight: &'a [u8],
    qzeros: &'a [u8],
    scales: Vec<f64>,
    out: usize,
    inputs: usize,
    group_size: usize,
}

/// The decoder of an AWQ GEMM weight (shapes checked by [`awq_shape`]).
pub fn awq_decoder<'a>(
    group_size: u64,
    parts: &Parts<'a>,
    shape: &[u64],
) -> Result<Box<dyn ElementDecoder + 'a>, LayoutError> {
    Ok(fused(Awq {
        qweight: parts.bytes(0)?,
        qzeros: parts.bytes(1)?,
        scales: parts.values(2)?,
        out: to_usize(shape[0])?,
        inputs: to_usize(shape[1])?,
        group_size: to_usize(group_size)?,
    }))
}

impl Awq<'_> {
    /// Row `o`, inputs `i0 ..`: one nibble of each word.
    fn row<O: Out>(&self, o: usize, i0: usize, seg: &mut [O], fields: &mut [u8; RUN]) {
        let words = self.out / 8;
        // Output column o is one nibble of word o / 8 of every row.
        let (col, shift) = (o / 8, 4 * AWQ_NIBBLE_OF[o % 8]);
        for_runs(self.group_size, i0, seg, |i, g, run| {
            let fields = &mut fields[..run.len()];
            for (k, q) in fields.iter_mut().enumerate() {
                *q = ((word(self.qweight, (i + k) * words + col) >> shift) & 0xF) as u8;
            }
            let z = f64::from((word(self.qzeros, g * words + col) >> shift) & 0xF);
            let s = self.scales.get(g * self.out + o).copied().unwrap_or(f64::NAN);
            map_fields(fields, 4, run, |q| O::of((f64::from(q) - z) * s));
        });
    }

    /// The 8 whole rows `8c .. 8c + 8` in `rows`: every word read once for its 8 nibbles.
    fn eight_rows<O: Out>(&self, c: usize, rows: &mut [O]) {
        let (words, n) = (self.out / 8, self.inputs);
        let mut tables = [[O::default(); 16]; 8];
        let mut split = rows.chunks_exact_mut(n.max(1));
        let mut rows: [&mut [O]; 8] = std::array::from_fn(|_| split.next().unwrap_or_default());
        for i0 in (0..n).step_by(self.group_size.max(1)) {
            let g = i0 / self.group_size.max(1);
            let zeros = word(self.qzeros, g * words + c);
            for (j, table) in tables.iter_mut().enumerate() {
                let shift = 4 * AWQ_NIBBLE_OF[j];
                let z = f64::from((zeros >> shift) & 0xF);
                let s = self.scales.get(g * self.out + c * 8 + j).copied().unwrap_or(f64::NAN);
                *table = std::array::from_fn(|q| O::of((q as f64 - z) * s));
            }
            for i in i0..(i0 + self.group_size).min(n) {
                let w = word(self.qweight, i * words + c);
                for ((j, table), row) in tables.iter().enumerate().zip(rows.iter_mut()) {
                    if let Some(v) = row.get_mut(i) {
                        *v = table[((w >> (4 * AWQ_NIBBLE_OF[j])) & 0xF) as usize];
                    }
                }
            }
        }
    }
}

impl Kernel for Awq<'_> {
    fn run<O: Out>(&self, start: usize, out: &mut [O]) {
        let mut fields = [0u8; RUN];
        let n = self.inputs;
        let ((o, i0, head), (first, body), (last, tail)) = split_rows(n, start, out);
        self.row(o, i0, head, &mut fields);
        // Whole rows: groups of 8 sharing their words where aligned, the others one by one.
        let mut o = first;
        let mut rest = body;
        while !rest.is_empty() {
            let take = if o % 8 == 0 && rest.len() >= 8 * n { 8 } else { 1 };
            let (now, after) = rest.split_at_mut(take * n);
            if take == 8 {
                self.eight_rows(o / 8, now);
            } else {
                self.row(o, 0, now, &mut fields);
            }
            o += take;
            rest = after;
        }
        self.row(last, 0, tail, &mut fields);
    }

    fn packed(&self) -> &[u8] {
        self.qweight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safetensors::quant::parts::tests_support::{info, le_words};

    /// Packs `values[i][o]` (i = input) as auto-gptq's `pack` does: per output column, one dense
    /// stream over the inputs.
    fn gptq_pack(values: &[Vec<u32>], bits: u32) -> Vec<u32> {
        let (inputs, out) = (values.len(), values[0].len());
        let rows = (inputs * bits as usize).div_ceil(32);
        let mut words = vec![0u32; rows * out];
        for (i, row) in values.iter().enumerate() {
            for (o, &v) in row.iter().enumerate() {
                let bit = i * bits as usize;
                words[(bit / 32) * out + o] |= v << (bit % 32);
                if bit % 32 + bits as usize > 32 {
                    words[(bit / 32 + 1) * out + o] |= v >> (32 - bit % 32);
                }
            }
        }
        words
    }

    /// `act_order`: a `g_idx` that is not `i / group_size`, as `desc_act` writes.
    fn check_gptq(bits: u32, v2: bool, out: usize, act_order: bool) {
        let (inputs, gs) = (64usize, 32u64);
        let q: Vec<Vec<u32>> =
            (0..inputs).map(|i| (0..out).map(|o| ((i * 7 + o * 3) % (1 << bits)) as u32).collect()).collect();
        let groups = inputs / gs as usize;
        let group_of = |i: usize| if act_order { (i * 5 + i / 7) % groups } else { i / gs as usize };
        let zero = |g: usize, o: usize| ((g + o) % ((1 << bits) - 1) + 1) as u32;
        let stored: Vec<Vec<u32>> =
            (0..groups).map(|g| (0..out).map(|o| if v2 { zero(g, o) } else { zero(g, o) - 1 }).collect()).collect();
        // qzeros pack the output dim: transpose so that the stream runs over o.
        let zt: Vec<Vec<u32>> = (0..out).map(|o| (0..groups).map(|g| stored[g][o]).collect()).collect();
        let zwords_t = gptq_pack(&zt, bits); // [ceil(out*bits/32), groups], stream over o per group
        let zrows = (out * bits as usize).div_ceil(32);
        let mut qzeros = vec![0u32; groups * zrows];
        for w in 0..zrows {
            for g in 0..groups {
                qzeros[g * zrows + w] = zwords_t[w * groups + g];
            }
        }
        let scales: Vec<f32> = (0..groups * out).map(|k| 0.01 * (k as f32 + 1.0)).collect();
        let qweight = gptq_pack(&q, bits);
        let mut infos = vec![
            info("qweight", Dtype::I32, vec![qweight.len() as u64 / out as u64, out as u64]),
            info("qzeros", Dtype::I32, vec![groups as u64, zrows as u64]),
            info("scales", Dtype::F32, vec![groups as u64, out as u64]),
        ];
        let g_idx: Vec<u8> = (0..inputs).flat_map(|i| (group_of(i) as i32).to_le_bytes()).collect();
        if act_order {
            infos.push(info("g_idx", Dtype::I32, vec![inputs as u64]));
        }
        let p = GptqParams { bits, group_size: Some(gs), v2 };
        let shape = gptq_shape(&p, &infos.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(shape, [out as u64, inputs as u64]);
        let bytes =
            [le_words(&qweight), le_words(&qzeros), scales.iter().flat_map(|s| s.to_le_bytes()).collect(), g_idx];
        let bytes = &bytes[..infos.len()];
        let parts = Parts::new(infos.iter().collect(), bytes.iter().map(Vec::as_slice).collect());
        let d = gptq_decoder(&p, &parts, &shape).unwrap();
        let mut w = vec![0f64; inputs * out];
        d.decode_f64(0, &mut w).unwrap();
        for o in 0..out {
            for i in 0..inputs {
                let g = group_of(i);
                let want = f64::from(scales[g * out + o]) * (f64::from(q[i][o]) - f64::from(zero(g, o)));
                assert_eq!(w[o * inputs + i], want, "bits {bits} act-order {act_order} o {o} i {i}");
            }
        }
        // Any window, f32 too (4- and 8-bit whole rows go 16 at a time where aligned, act-order
        // 4-bit ones too): the same values.
        for (start, len) in
            [(0, inputs * out), (5, 3 * inputs), (inputs * 3 + 7, 20 * inputs + 9), (inputs * 16, 16 * inputs)]
        {
            let Some(left) = (inputs * out).checked_sub(start) else { continue };
            let len = len.min(left);
            let mut part = vec![0f32; len];
            d.decode_f32(start, &mut part).unwrap();
            for (k, v) in part.iter().enumerate() {
                assert_eq!(
                    *v,
                    w[start + k] as f32,
                    "bits {bits} act-order {act_order} out {out} element {}",
                    start + k
                );
            }
        }
    }

    #[test]
    fn gptq_decodes_every_width_and_format() {
        for bits in [2, 3, 4, 8] {
            for out in [8, 40] {
                for act_order in [false, true] {
                    check_gptq(bits, false, out, act_order);
                    check_gptq(bits, true, out, act_order);
                }
            }
        }
    }

    #[test]
    fn gptq_refuses_inconsistent_shapes_and_bad_g_idx() {
        let p = GptqParams { bits: 4, group_size: Some(32), v2: false };
        let bad = [
            info("qweight", Dtype::I32, vec![8, 8]),
            info("qzeros", Dtype::I32, vec![3, 1]),
            info("scales", Dtype::F16, vec![2, 8]),
        ];
        assert!(gptq_shape(&p, &bad.iter().collect::<Vec<_>>()).is_err());
        let infos = [
            info("qweight", Dtype::I32, vec![8, 8]),
            info("qzeros", Dtype::I32, vec![2, 1]),
            info("scales", Dtype::F32, vec![2, 8]),
            info("g_idx", Dtype::I32, vec![64]),
        ];
        let shape = gptq_shape(&p, &infos.iter().collect::<Vec<_>>()).unwrap();
        let mut g_idx: Vec<i32> = (0..64).map(|i| i / 32).collect();
        g_idx[5] = 9;
        let bytes = [
            vec![0u8; 256],
            vec![0u8; 8],
            vec![0u8; 64],
            g_idx.iter().flat_map(|g| g.to_le_bytes()).collect::<Vec<u8>>(),
        ];
        let parts = Parts::new(infos.iter().collect(), bytes.iter().map(Vec::as_slice).collect());
        let message = gptq_decoder(&p, &parts, &shape).err().unwrap();
        assert!(message.0.contains("g_idx[5] = 9"), "{message}");
    }

    #[test]
    fn awq_follows_the_interleaved_order() {
        let (inputs, out, gs) = (4usize, 16usize, 2u64);
        let order = [0usize, 2, 4, 6, 1, 3, 5, 7];
        let pack = |vals: &dyn Fn(usize, usize) -> u32, rows: usize| -> Vec<u32> {
            let mut words = vec![0u32; rows * out / 8];
            for r in 0..rows {
                for c in 0..out / 8 {
                    for (k, &j) in order.iter().enumerate() {
                        words[r * out / 8 + c] |= vals(r, c * 8 + j) << (4 * k);
                    }
                }
            }
            words
        };
        let q = |i: usize, o: usize| ((i * 5 + o) % 16) as u32;
        let z = |g: usize, o: usize| ((g + 2 * o) % 16) as u32;
        let groups = inputs / gs as usize;
        let scales: Vec<f32> = (0..groups * out).map(|k| 0.5 + k as f32).collect();
        let infos = [
            info("qweight", Dtype::I32, vec![inputs as u64, out as u64 / 8]),
            info("qzeros", Dtype::I32, vec![groups as u64, out as u64 / 8]),
            info("scales", Dtype::F32, vec![groups as u64, out as u64]),
        ];
        let shape = awq_shape(4, gs, &infos.iter().collect::<Vec<_>>()).unwrap();
        let bytes = [
            le_words(&pack(&q, inputs)),
            le_words(&pack(&z, groups)),
            scales.iter().flat_map(|s| s.to_le_bytes()).collect(),
        ];
        let parts = Parts::new(infos.iter().collect(), bytes.iter().map(Vec::as_slice).collect());
        let d = awq_decoder(gs, &parts, &shape).unwrap();
        let mut w = vec![0f64; inputs * out];
        d.decode_f64(0, &mut w).unwrap();
        for o in 0..out {
            for i in 0..inputs {
                let g = i / gs as usize;
                let want = (f64::from(q(i, o)) - f64::from(z(g, o))) * f64::from(scales[g * out + o]);
                assert_eq!(w[o * inputs + i], want);
            }
        }
        assert!(awq_shape(3, gs, &infos.iter().collect::<Vec<_>>()).is_err());
    }
}
