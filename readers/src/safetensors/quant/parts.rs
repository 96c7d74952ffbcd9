//! What every scheme's decoder needs: the stored components' bytes and headers, small
//! components decoded into vectors (after their sizes were checked), bit fields of packed
//! words, and the walk over a row-major element range.

use weightlens_core::decode::decode_plain_f64;
use weightlens_core::{ByteOrder, DecodeError, Dtype, ElementDecoder, TensorInfo};

/// Why stored components do not form a quantized weight (one line, naming the component).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LayoutError(pub String);

impl From<String> for LayoutError {
    fn from(message: String) -> Self {
        LayoutError(message)
    }
}

impl From<&str> for LayoutError {
    fn from(message: &str) -> Self {
        LayoutError(message.to_string())
    }
}

impl From<LayoutError> for weightlens_core::DecodeError {
    fn from(e: LayoutError) -> Self {
        weightlens_core::DecodeError::Components(e.0)
    }
}

/// Small components (scales, zero points, group indices) are decoded into memory; a component
/// claiming more elements than this is refused before anything is allocated.
pub const MAX_SIDE_ELEMS: u64 = 1 << 30;

/// The stored tensors of one logical tensor: header and bytes of each.
#[derive(Debug)]
pub struct Parts<'a> {
    infos: Vec<&'a TensorInfo>,
    bytes: Vec<&'a [u8]>,
}

impl<'a> Parts<'a> {
    /// Components in the order the scheme listed them.
    pub fn new(infos: Vec<&'a TensorInfo>, bytes: Vec<&'a [u8]>) -> Self {
        Parts { infos, bytes }
    }

    /// Header of component `i`.
    pub fn info(&self, i: usize) -> Result<&'a TensorInfo, LayoutError> {
        self.infos.get(i).copied().ok_or_else(|| LayoutError(format!("component #{i} is missing")))
    }

    /// Bytes of component `i`.
    pub fn bytes(&self, i: usize) -> Result<&'a [u8], LayoutError> {
        self.bytes.get(i).copied().ok_or_else(|| LayoutError(format!("component #{i} is missing")))
    }

    /// Component `i` decoded to `f64` (any plain dtype), with its byte length checked.
    pub fn values(&self, i: usize) -> Result<Vec<f64>, LayoutError> {
        let info = self.info(i)?;
        let bytes = self.bytes(i)?;
        let numel = info.numel().filter(|&n| n <= MAX_SIDE_ELEMS).ok_or_else(|| {
            format!("{} has {} elements, more than the {MAX_SIDE_ELEMS} allowed", info.name, info.shape_string())
        })?;
        let size = info.dtype.size().ok_or_else(|| format!("{} has dtype {}", info.name, info.dtype_name))?;
        let numel = usize::try_from(numel).map_err(|_| format!("{} is too large", info.name))?;
        if numel.checked_mul(size) != Some(bytes.len()) {
            return Err(format!("{} holds {} bytes, not {numel} elements", info.name, bytes.len()).into());
        }
        let mut out = vec![0f64; numel];
        decode_plain_f64(info.dtype, ByteOrder::Little, bytes, &mut out);
        Ok(out)
    }

    /// Component `i` as `f32` values (schemes whose library computes in `f32`).
    pub fn values_f32(&self, i: usize) -> Result<Vec<f32>, LayoutError> {
        // Every float dtype a scheme stores (F32, F16, BF16, F8) is exact in f32.
        Ok(self.values(i)?.into_iter().map(|v| v as f32).collect())
    }

    /// Component `i` as integers (for zero points and group indices stored as integers).
    pub fn integers(&self, i: usize) -> Result<Vec<i64>, LayoutError> {
        let info = self.info(i)?;
        if info.dtype.is_float() {
            return Err(format!("{} has dtype {}, not an integer type", info.name, info.dtype_name).into());
        }
        // Integers of up to 53 bits are exact in f64; wider ones are out of any valid range.
        Ok(self.values(i)?.into_iter().map(|v| v as i64).collect())
    }
}

/// The 32-bit little-endian word `index` of `bytes` (0 past the end: callers check sizes
/// beforehand, this keeps a miscount from reading out of bounds).
#[inline]
pub fn word(bytes: &[u8], index: usize) -> u32 {
    let at = index.wrapping_mul(4);
    match bytes.get(at..at.wrapping_add(4)) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

/// The bytes of `words` in place, where that is their little-endian encoding (little-endian
/// targets); `None` elsewhere.
#[inline]
pub fn le_view(words: &[u32]) -> Option<&[u8]> {
    if cfg!(target_endian = "little") {
        // SAFETY: the `4 * len` bytes of `words`; `u8` has no alignment or validity requirement.
        return Some(unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), 4 * words.len()) });
    }
    None
}

/// The little-endian bytes of `words`: [`le_view`] where it can, else copied into `scratch`
/// (as many as it holds).
#[inline]
pub fn le_bytes<'a>(words: &'a [u32], scratch: &'a mut [u8]) -> &'a [u8] {
    if let Some(bytes) = le_view(words) {
        return bytes;
    }
    let n = words.len().min(scratch.len() / 4);
    for (b, w) in scratch.chunks_exact_mut(4).zip(&words[..n]) {
        b.copy_from_slice(&w.to_le_bytes());
    }
    &scratch[..4 * n]
}

/// Value `i` of a dense LSB-first bit stream of `bits`-bit values whose `w`-th 32-bit word is
/// `word_at(w)`: it starts at bit `i * bits` and may straddle two words.
#[inline]
pub fn stream_field(word_at: impl Fn(usize) -> u32, i: usize, bits: u32) -> u32 {
    let bit = i * bits as usize;
    let (w, shift) = (bit / 32, (bit % 32) as u32);
    let mut v = u64::from(word_at(w)) >> shift;
    if shift + bits > 32 {
        v |= u64::from(word_at(w + 1)) << (32 - shift);
    }
    (v & ((1u64 << bits) - 1)) as u32
}

/// Value `i` of `bits`-bit values packed `32 / bits` per word without straddling (the layout
/// of older compressed-tensors versions; equal to the dense stream for 1, 2, 4 and 8 bits).
#[inline]
pub fn word_field(word_at: impl Fn(usize) -> u32, i: usize, bits: u32) -> u32 {
    let per = (32 / bits) as usize;
    let shift = (i % per) as u32 * bits;
    (word_at(i / per) >> shift) & ((1u32 << bits) - 1)
}

/// 32-bit words needed for `n` values of `bits` bits in a dense stream.
pub fn dense_words(n: u64, bits: u32) -> Option<u64> {
    n.checked_mul(u64::from(bits)).map(|b| b.div_ceil(32))
}

/// Calls `f(row, first_col, segment)` for each row-piece of the row-major range of `out`
/// starting at element `start` of a matrix with `cols` columns.
pub fn for_rows<T>(cols: usize, start: usize, out: &mut [T], mut f: impl FnMut(usize, usize, &mut [T])) {
    if cols == 0 {
        return;
    }
    let mut pos = start;
    let mut rest = out;
    while !rest.is_empty() {
        let (row, col) = (pos / cols, pos % cols);
        let n = (cols - col).min(rest.len());
        let (seg, tail) = rest.split_at_mut(n);
        f(row, col, seg);
        pos += n;
        rest = tail;
    }
}

/// The row-major range of `out` from element `start` of a matrix with `cols` columns split
/// into a leading partial row `(row, first_col, seg)`, whole rows `(first_row, seg)` and a
/// trailing partial row `(row, seg)` (any may be empty): for decoders that decode several
/// whole rows at once.
#[allow(clippy::type_complexity)]
pub fn split_rows<T>(
    cols: usize,
    start: usize,
    out: &mut [T],
) -> ((usize, usize, &mut [T]), (usize, &mut [T]), (usize, &mut [T])) {
    let cols = cols.max(1);
    let (row, col) = (start / cols, start % cols);
    let head_len = if col == 0 { 0 } else { (cols - col).min(out.len()) };
    let (head, rest) = out.split_at_mut(head_len);
    let first = row + usize::from(col != 0);
    let whole = rest.len() / cols * cols;
    let (body, tail) = rest.split_at_mut(whole);
    ((row, col, head), (first, body), (first + whole / cols, tail))
}

/// The longest run [`for_runs`] hands out: the fields of one run are unpacked into a stack
/// buffer of this many bytes.
pub const RUN: usize = 256;

/// Calls `f(first_col, group, run)` for the runs of columns `c0 .. c0 + seg.len()` (of one row)
/// that share group `col / group` of `group` consecutive columns, each at most [`RUN`] long: the
/// decoders look up a group's scale and zero point once per run instead of once per element.
#[inline]
pub fn for_runs<T>(group: usize, c0: usize, seg: &mut [T], mut f: impl FnMut(usize, usize, &mut [T])) {
    let group = group.max(1);
    let mut c = c0;
    let mut rest = seg;
    while !rest.is_empty() {
        let n = (group - c % group).min(rest.len()).min(RUN);
        let (run, tail) = rest.split_at_mut(n);
        f(c, c / group, run);
        c += n;
        rest = tail;
    }
}

/// Fields `from .. from + out.len()` of a dense LSB-first stream of `bits`-bit values
/// (`bits <= 8`) whose `w`-th word is `word_at(w)`: what [`stream_field`] gives one at a time,
/// reading each word once (3/5/6/7-bit values straddle words).
#[inline]
pub fn unpack_stream(word_at: impl Fn(usize) -> u32, bits: u32, from: usize, out: &mut [u8]) {
    match bits {
        1 => unpack_words::<1>(word_at, from, out),
        2 => unpack_words::<2>(word_at, from, out),
        4 => unpack_words::<4>(word_at, from, out),
        8 => unpack_words::<8>(word_at, from, out),
        _ => {
            let mask = (1u64 << bits) - 1;
            let bit = from * bits as usize;
            let mut w = bit / 32;
            let mut acc = u64::from(word_at(w)) >> (bit % 32);
            let mut have = 32 - (bit % 32) as u32;
            for v in out {
                if have < bits {
                    w += 1;
                    acc |= u64::from(word_at(w)) << have;
                    have += 32;
                }
                *v = (acc & mask) as u8;
                acc >>= bits;
                have -= bits;
            }
        }
    }
}

/// [`unpack_stream`] for widths dividing 32: whole words `32 / B` fields at a time.
#[inline]
fn unpack_words<const B: u32>(word_at: impl Fn(usize) -> u32, from: usize, out: &mut [u8]) {
    fields_of_words::<u8, B>(word_at, from, out, |code| code as u8);
}

/// `f` of the `B`-bit fields `from .. from + out.len()` of a stream of words (`B` dividing 32):
/// up to the next word boundary one field at a time, then each word read once and split whole.
#[inline]
fn fields_of_words<T, const B: u32>(word_at: impl Fn(usize) -> u32, from: usize, out: &mut [T], f: impl Fn(u32) -> T) {
    let per = (32 / B) as usize;
    let mask = (1u32 << B) - 1;
    let head = ((per - from % per) % per).min(out.len());
    let (first, rest) = out.split_at_mut(head);
    for (k, v) in first.iter_mut().enumerate() {
        *v = f(stream_field(&word_at, from + k, B));
    }
    let mut w = (from + head) / per;
    let mut chunks = rest.chunks_exact_mut(per);
    for chunk in &mut chunks {
        let bits = word_at(w);
        for (k, v) in chunk.iter_mut().enumerate() {
            *v = f((bits >> (k as u32 * B)) & mask);
        }
        w += 1;
    }
    let bits = word_at(w);
    for (k, v) in chunks.into_remainder().iter_mut().enumerate() {
        *v = f((bits >> (k as u32 * B)) & mask);
    }
}

/// Elements `from .. from + out.len()` of a flat array of 4-bit codes two per byte (element
/// `2j` in the high nibble of byte `j` when `high_first`, else in the low one); 0 past the end.
#[inline]
pub fn unpack_nibbles(bytes: &[u8], high_first: bool, from: usize, out: &mut [u8]) {
    let (even, odd) = if high_first { (4, 0) } else { (0, 4) };
    let nibble = |e: usize| bytes.get(e / 2).map_or(0, |&b| (b >> if e.is_multiple_of(2) { even } else { odd }) & 0xF);
    let head = (from % 2).min(out.len());
    let (first, rest) = out.split_at_mut(head);
    if let Some(v) = first.first_mut() {
        *v = nibble(from);
    }
    let start = (from + head) / 2;
    let pairs = rest.len() / 2;
    let (body, last) = rest.split_at_mut(pairs * 2);
    let avail = bytes.get(start..).unwrap_or(&[]);
    let src = &avail[..pairs.min(avail.len())];
    for (pair, &b) in body.chunks_exact_mut(2).zip(src) {
        pair[0] = (b >> even) & 0xF;
        pair[1] = (b >> odd) & 0xF;
    }
    // A short buffer (refused by the layout checks before this) reads zeros, never panics.
    body[src.len() * 2..].fill(0);
    if let Some(v) = last.first_mut() {
        *v = nibble(from + head + pairs * 2);
    }
}

/// Writes `value(q)` for each field `q` of `fields` into `out`. For fields of at most 4 bits
/// over a run long enough to pay for it, the 16 values are computed once into a table and
/// looked up (the same values: `value` is the only formula).
#[inline]
pub fn map_fields<O: Out>(fields: &[u8], bits: u32, out: &mut [O], value: impl Fn(u8) -> O) {
    match table(bits, out.len(), &value) {
        Some(table) => {
            for (o, &q) in out.iter_mut().zip(fields) {
                *o = table[usize::from(q & 0xF)];
            }
        }
        None => {
            for (o, &q) in out.iter_mut().zip(fields) {
                *o = value(q);
            }
        }
    }
}

/// The 16 values of `value` when fields have at most 4 bits and a run of `len` pays for them.
#[inline]
fn table<O: Out>(bits: u32, len: usize, value: &impl Fn(u8) -> O) -> Option<[O; 16]> {
    (bits <= 4 && len >= 32)
        .then(|| std::array::from_fn(|q| if q >> bits == 0 { value(q as u8) } else { O::default() }))
}

/// `value(q)` of fields `from .. from + out.len()` of a dense LSB-first stream (what
/// [`unpack_stream`] then [`map_fields`] give): 2- and 4-bit fields straight from each word
/// through the table, other widths unpacked into `scratch` first.
#[inline]
pub fn map_stream<O: Out>(
    word_at: impl Fn(usize) -> u32,
    bits: u32,
    from: usize,
    out: &mut [O],
    scratch: &mut [u8; RUN],
    value: impl Fn(u8) -> O,
) {
    match (bits, table(bits, out.len(), &value)) {
        (4, Some(t)) => map_words::<O, 4>(word_at, from, out, &t),
        (2, Some(t)) => map_words::<O, 2>(word_at, from, out, &t),
        _ => {
            for (k, run) in out.chunks_mut(RUN).enumerate() {
                let fields = &mut scratch[..run.len()];
                unpack_stream(&word_at, bits, from + k * RUN, fields);
                map_fields(fields, bits, run, &value);
            }
        }
    }
}

/// [`map_stream`] through a table, for widths dividing 32. 4-bit fields go a word boundary
/// first one at a time, then whole words, gathered into a small buffer (GPTQ's words are
/// strided), through [`Out::nibble_words`].
#[inline]
fn map_words<O: Out, const B: u32>(word_at: impl Fn(usize) -> u32, from: usize, out: &mut [O], table: &[O; 16]) {
    if B != 4 {
        return fields_of_words::<O, B>(word_at, from, out, |code| table[(code & 0xF) as usize]);
    }
    let head = ((8 - from % 8) % 8).min(out.len());
    let (first, rest) = out.split_at_mut(head);
    for (k, v) in first.iter_mut().enumerate() {
        *v = table[(stream_field(&word_at, from + k, 4) & 0xF) as usize];
    }
    let mut words = [0u32; RUN / 8];
    let mut w = (from + head) / 8;
    for chunk in rest.chunks_mut(RUN) {
        let n = chunk.len() / 8;
        for (k, slot) in words[..n].iter_mut().enumerate() {
            *slot = word_at(w + k);
        }
        let (whole, tail) = chunk.split_at_mut(8 * n);
        O::nibble_words(&words[..n], table, whole);
        w += n;
        let last = word_at(w);
        for (k, v) in tail.iter_mut().enumerate() {
            *v = table[((last >> (4 * k)) & 0xF) as usize];
        }
    }
}

/// `scale * (q - zero)` of fields `from .. from + out.len()` of a dense LSB-first stream of
/// `bits`-bit values (`bits <= 8`): GPTQ's and compressed-tensors' integer formula, through a
/// table for up to 4 bits, else [`Out::affine`] over the unpacked fields of each run.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn map_affine<O: Out>(
    word_at: impl Fn(usize) -> u32,
    bits: u32,
    from: usize,
    out: &mut [O],
    scratch: &mut [u8; RUN],
    zero: f64,
    scale: f64,
) {
    if bits <= 4 {
        return map_stream(word_at, bits, from, out, scratch, |q| O::of(scale * (f64::from(q) - zero)));
    }
    for (k, run) in out.chunks_mut(RUN).enumerate() {
        let fields = &mut scratch[..run.len()];
        unpack_stream(&word_at, bits, from + k * RUN, fields);
        O::affine(fields, zero, scale, run);
    }
}

/// `value(code)` of elements `from .. from + out.len()` of 4-bit codes two per byte (as
/// [`unpack_nibbles`] reads them); through the table when the run pays for it.
#[inline]
pub fn map_nibbles<O: Out>(
    bytes: &[u8],
    high_first: bool,
    from: usize,
    out: &mut [O],
    scratch: &mut [u8; RUN],
    value: impl Fn(u8) -> O,
) {
    match table(4, out.len(), &value) {
        Some(table) => map_nibbles_with(bytes, high_first, from, out, &table),
        None => {
            for (k, run) in out.chunks_mut(RUN).enumerate() {
                let codes = &mut scratch[..run.len()];
                unpack_nibbles(bytes, high_first, from + k * RUN, codes);
                map_fields(codes, 4, run, &value);
            }
        }
    }
}

/// [`map_nibbles`] through the table of the 16 values.
#[inline]
pub fn map_nibbles_with<O: Out>(bytes: &[u8], high_first: bool, from: usize, out: &mut [O], table: &[O; 16]) {
    let (even, odd) = if high_first { (4, 0) } else { (0, 4) };
    let nibble = |e: usize| bytes.get(e / 2).map_or(0, |&b| (b >> if e.is_multiple_of(2) { even } else { odd }) & 0xF);
    let head = (from % 2).min(out.len());
    let (first, rest) = out.split_at_mut(head);
    if let Some(v) = first.first_mut() {
        *v = table[usize::from(nibble(from))];
    }
    let start = (from + head) / 2;
    let pairs = rest.len() / 2;
    let (body, last) = rest.split_at_mut(pairs * 2);
    let avail = bytes.get(start..).unwrap_or(&[]);
    let src = &avail[..pairs.min(avail.len())];
    if src.len() >= 16 {
        O::nibble_bytes(src, high_first, table, body);
    } else {
        // Short runs (NVFP4's groups of 16 values) are faster inline, without the dispatch.
        super::simd::nibble_bytes_scalar(src, high_first, table, body);
    }
    // A short buffer (refused by the layout checks before this) reads code 0, never panics.
    body[src.len() * 2..].fill(table[0]);
    if let Some(v) = last.first_mut() {
        *v = table[usize::from(nibble(from + head + pairs * 2))];
    }
}

/// The most groups one [`Out::affine_nibble_groups`] call takes.
pub const NIBBLE_GROUPS: usize = 32;

/// [`Out::affine_nibble_groups`] one group at a time, each through its table.
#[inline]
fn affine_nibble_groups_each<O: Out>(bytes: &[u8], len: usize, affine: &[(f64, f64)], out: &mut [O]) {
    for (k, (values, &(zero, scale))) in out.chunks_mut(len.max(1)).zip(affine).enumerate() {
        map_nibbles_with(bytes, false, k * len, values, &O::affine_table(zero, scale));
    }
}

/// What a decoder writes: `f64`, or the `f64` value rounded to `f32` (so that both outputs
/// come from one code path, and the `f32` one needs no intermediate `f64` buffer).
pub trait Out: Copy + Default + Send {
    /// The output of value `v`.
    fn of(v: f64) -> Self;

    /// `table` of the eight 4-bit fields of each word (least significant first) into
    /// `out[.. 8 * words.len()]`.
    #[inline]
    fn nibble_words(words: &[u32], table: &[Self; 16], out: &mut [Self]) {
        for (chunk, &w) in out.chunks_exact_mut(8).zip(words) {
            for (k, v) in chunk.iter_mut().enumerate() {
                *v = table[((w >> (4 * k)) & 0xF) as usize];
            }
        }
    }

    /// `table` of the two 4-bit codes of each byte (the low first, or the high when
    /// `high_first`) into `out[.. 2 * bytes.len()]`.
    #[inline]
    fn nibble_bytes(bytes: &[u8], high_first: bool, table: &[Self; 16], out: &mut [Self]) {
        super::simd::nibble_bytes_scalar(bytes, high_first, table, out);
    }

    /// [`Self::nibble_words`] with a table per value: the field of `out[e]` looked up in the 16
    /// values `tables[16 * groups[e] ..]` (act-order GPTQ, whose inputs each have a group).
    /// Writes `8 * min(words.len(), groups.len() / 8, out.len() / 8)` values.
    #[inline]
    fn grouped_nibble_words(words: &[u32], groups: &[u32], tables: &[Self], out: &mut [Self]) {
        super::simd::grouped_nibbles_scalar(words, groups, tables, out);
    }

    /// The 16 values `scale * (q - zero)` of 4-bit fields.
    #[inline]
    fn affine_table(zero: f64, scale: f64) -> [Self; 16] {
        std::array::from_fn(|q| Self::of(scale * (q as f64 - zero)))
    }

    /// `scale * (q - zero)` of 4-bit codes two per byte (low nibble first) in consecutive
    /// groups of `len` values, group `k` with `affine[k] = (zero, scale)`: `len * affine.len()`
    /// values (fewer if `out` is shorter; codes past `bytes` read 0).
    #[inline]
    fn affine_nibble_groups(bytes: &[u8], len: usize, affine: &[(f64, f64)], out: &mut [Self]) {
        affine_nibble_groups_each(bytes, len, affine, out);
    }

    /// GPTQ's 8-bit `qweight` lines decoded in place (see `simd::affine_byte_lines_f32`),
    /// row `j` with `affine[j] = (scale, zero)`. Returns whether it wrote them (else the caller
    /// takes its general path).
    #[inline]
    fn affine_byte_lines(
        lines: &[u8],
        stride: usize,
        count: usize,
        affine: &[(f64, f64); 16],
        rows: &mut [&mut [Self]; 16],
        from: usize,
    ) -> bool {
        let _ = (lines, stride, count, affine, rows, from);
        false
    }

    /// Act-order GPTQ 4-bit `qweight` lines decoded in place (see
    /// `simd::act_order_lines_f32`), `affine[j * n_groups + g] = (scale, zero)` of row
    /// `j` and group `g`. Returns whether it wrote them (else the caller takes its general path).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn act_order_lines(
        lines: &[u8],
        stride: usize,
        count: usize,
        groups: &[u32],
        affine: &[(f64, f64)],
        n_groups: usize,
        rows: &mut [&mut [Self]; 16],
        from: usize,
    ) -> bool {
        let _ = (lines, stride, count, groups, affine, n_groups, rows, from);
        false
    }

    /// `scale * (q - zero)` of each field.
    #[inline]
    fn affine(fields: &[u8], zero: f64, scale: f64, out: &mut [Self]) {
        for (v, &q) in out.iter_mut().zip(fields) {
            *v = Self::of(scale * (f64::from(q) - zero));
        }
    }

    /// [`Self::lut_scaled`] of E4M3 codes, `table` their values.
    #[inline]
    fn e4m3_scaled(codes: &[u8], table: &[f32; 256], scale: f64, out: &mut [Self]) {
        Self::lut_scaled(codes, table, scale, out);
    }

    /// `table[code] * scale` of each one-byte code.
    #[inline]
    fn lut_scaled(codes: &[u8], table: &[f32; 256], scale: f64, out: &mut [Self]) {
        for (v, &b) in out.iter_mut().zip(codes) {
            *v = Self::of(f64::from(table[usize::from(b)]) * scale);
        }
    }
}

impl Out for f64 {
    #[inline(always)]
    fn of(v: f64) -> f64 {
        v
    }
}

impl Out for f32 {
    #[inline(always)]
    fn of(v: f64) -> f32 {
        v as f32
    }

    #[inline]
    fn nibble_words(words: &[u32], table: &[f32; 16], out: &mut [f32]) {
        super::simd::nibbles_f32(words, table, out);
    }

    #[inline]
    fn nibble_bytes(bytes: &[u8], high_first: bool, table: &[f32; 16], out: &mut [f32]) {
        super::simd::nibble_bytes_f32(bytes, high_first, table, out);
    }

    #[inline]
    fn grouped_nibble_words(words: &[u32], groups: &[u32], tables: &[f32], out: &mut [f32]) {
        super::simd::grouped_nibbles_f32(words, groups, tables, out);
    }

    #[inline]
    fn affine_table(zero: f64, scale: f64) -> [f32; 16] {
        // Exact in f32 (see `exact_in_f32`): one vector operation instead of 16 f64 products.
        if super::simd::exact_in_f32(zero, scale) {
            let (zero, scale) = (zero as f32, scale as f32);
            return std::array::from_fn(|q| (q as f32 - zero) * scale);
        }
        std::array::from_fn(|q| (scale * (q as f64 - zero)) as f32)
    }

    #[inline]
    fn affine_nibble_groups(bytes: &[u8], len: usize, affine: &[(f64, f64)], out: &mut [f32]) {
        let n = affine.len();
        let whole = n <= NIBBLE_GROUPS
            && len.is_multiple_of(16)
            && bytes.len().saturating_mul(2) >= n.saturating_mul(len)
            && out.len() >= n.saturating_mul(len)
            && affine.iter().all(|&(z, s)| super::simd::exact_in_f32(z, s));
        if !whole {
            return affine_nibble_groups_each(bytes, len, affine, out);
        }
        let (mut zeros, mut scales) = ([0f32; NIBBLE_GROUPS], [0f32; NIBBLE_GROUPS]);
        for ((z, s), &(zero, scale)) in zeros.iter_mut().zip(scales.iter_mut()).zip(affine) {
            (*z, *s) = (zero as f32, scale as f32);
        }
        super::simd::affine_nibble_groups_f32(bytes, len, &zeros[..n], &scales[..n], out);
    }

    #[inline]
    fn affine_byte_lines(
        lines: &[u8],
        stride: usize,
        count: usize,
        affine: &[(f64, f64); 16],
        rows: &mut [&mut [f32]; 16],
        from: usize,
    ) -> bool {
        if !affine.iter().all(|&(s, z)| super::simd::exact_in_f32(z, s)) {
            return false;
        }
        let zeros = affine.map(|(_, z)| z as f32);
        let scales = affine.map(|(s, _)| s as f32);
        super::simd::affine_byte_lines_f32(lines, stride, count, &zeros, &scales, rows, from)
    }

    #[inline]
    fn act_order_lines(
        lines: &[u8],
        stride: usize,
        count: usize,
        groups: &[u32],
        affine: &[(f64, f64)],
        n_groups: usize,
        rows: &mut [&mut [f32]; 16],
        from: usize,
    ) -> bool {
        let Some(affine) = n_groups.checked_mul(16).and_then(|n| affine.get(..n)) else { return false };
        if n_groups == 0 || !affine.iter().all(|&(s, z)| super::simd::exact_in_f32(z, s)) {
            return false;
        }
        // Group-major, 16 rows per group: one vector load per input and group.
        let (mut zeros, mut scales) = (vec![0f32; 16 * n_groups], vec![0f32; 16 * n_groups]);
        for (k, &(s, z)) in affine.iter().enumerate() {
            let at = (k % n_groups) * 16 + k / n_groups;
            (zeros[at], scales[at]) = (z as f32, s as f32);
        }
        super::simd::act_order_lines_f32(lines, stride, count, groups, &zeros, &scales, rows, from)
    }

    #[inline]
    fn affine(fields: &[u8], zero: f64, scale: f64, out: &mut [f32]) {
        if super::simd::exact_in_f32(zero, scale) {
            return super::simd::affine_f32(fields, zero as f32, scale as f32, out);
        }
        for (v, &q) in out.iter_mut().zip(fields) {
            *v = (scale * (f64::from(q) - zero)) as f32;
        }
    }

    #[inline]
    fn e4m3_scaled(codes: &[u8], table: &[f32; 256], scale: f64, out: &mut [f32]) {
        if super::simd::is_f32(scale) {
            return super::simd::e4m3_scaled_f32(codes, table, scale as f32, out);
        }
        Self::lut_scaled(codes, table, scale, out);
    }

    #[inline]
    fn lut_scaled(codes: &[u8], table: &[f32; 256], scale: f64, out: &mut [f32]) {
        if super::simd::is_f32(scale) {
            return super::simd::lut_scaled_f32(codes, table, scale as f32, out);
        }
        for (v, &b) in out.iter_mut().zip(codes) {
            *v = (f64::from(table[usize::from(b)]) * scale) as f32;
        }
    }
}

/// A scheme's decoder, written once for both outputs; [`Fused`] makes it an [`ElementDecoder`].
pub trait Kernel: Send + Sync {
    /// Computes elements `start .. start + out.len()` (range checked by the caller).
    fn run<O: Out>(&self, start: usize, out: &mut [O]);
    /// The packed (primary) component's bytes.
    fn packed(&self) -> &[u8];
}

/// The [`ElementDecoder`] of a [`Kernel`].
#[derive(Debug)]
pub struct Fused<K>(pub K);

impl<K: Kernel> ElementDecoder for Fused<K> {
    fn decode_f64(&self, start: usize, out: &mut [f64]) -> Result<(), DecodeError> {
        self.0.run(start, out);
        Ok(())
    }

    fn decode_f32(&self, start: usize, out: &mut [f32]) -> Result<(), DecodeError> {
        self.0.run(start, out);
        Ok(())
    }

    fn packed_bytes(&self) -> &[u8] {
        self.0.packed()
    }
}

/// A boxed [`ElementDecoder`] of `kernel`.
pub fn fused<'a, K: Kernel + 'a>(kernel: K) -> Box<dyn ElementDecoder + 'a> {
    Box::new(Fused(kernel))
}

/// E2M1 (FP4) values by code: bit 3 is the sign (NVFP4 and MXFP4).
pub const E2M1: [f64; 16] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0];

/// `shape` as `(rows, cols)` of a 2-D tensor.
pub fn dims2(info: &TensorInfo) -> Result<(u64, u64), LayoutError> {
    match info.shape.as_slice() {
        &[r, c] => Ok((r, c)),
        _ => Err(format!("{} has shape {}, expected 2 dimensions", info.name, info.shape_string()).into()),
    }
}

/// Fails unless component `info` has one of `dtypes`.
pub fn expect_dtype(info: &TensorInfo, dtypes: &[Dtype]) -> Result<(), LayoutError> {
    if dtypes.contains(&info.dtype) {
        Ok(())
    } else {
        Err(format!("{} has dtype {}, which this scheme does not store there", info.name, info.dtype_name).into())
    }
}

/// Fails unless component `info` has shape `shape`.
pub fn expect_shape(info: &TensorInfo, shape: &[u64]) -> Result<(), LayoutError> {
    if info.shape == shape {
        Ok(())
    } else {
        let want: Vec<String> = shape.iter().map(u64::to_string).collect();
        Err(format!("{} has shape {}, the layout needs [{}]", info.name, info.shape_string(), want.join(", ")).into())
    }
}

/// Converts to `usize`, refusing sizes this machine cannot address.
pub fn to_usize(v: u64) -> Result<usize, LayoutError> {
    usize::try_from(v).map_err(|_| LayoutError(format!("size {v} does not fit this machine")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_stream_straddles_words() {
        // 3-bit values 0..=7 repeated: value i at bit 3i.
        let values: Vec<u32> = (0..64).map(|i| i % 8).collect();
        let mut words = vec![0u32; dense_words(64, 3).unwrap() as usize];
        for (i, v) in values.iter().enumerate() {
            let bit = i * 3;
            words[bit / 32] |= v << (bit % 32);
            if bit % 32 > 29 {
                words[bit / 32 + 1] |= v >> (32 - bit % 32);
            }
        }
        for (i, v) in values.iter().enumerate() {
            assert_eq!(stream_field(|w| words[w], i, 3), *v, "value {i}");
        }
    }

    #[test]
    fn f32_affine_tables_equal_the_f64_formula() {
        // f32 scales with full significands, a bf16 one, a subnormal range, integer zero points
        // (computed in f32), and a fractional zero point and an f64 scale (computed in f64).
        for (zero, scale) in
            [(8.0, 0.012_345_679_f32 as f64), (3.0, 0.0078125), (0.0, 1.1e-40_f32 as f64), (7.5, 0.1), (-2.0, 0.1)]
        {
            let table = <f32 as Out>::affine_table(zero, scale);
            for (q, v) in table.iter().enumerate() {
                let want = (scale * (q as f64 - zero)) as f32;
                assert_eq!(v.to_bits(), want.to_bits(), "zero {zero} scale {scale} q {q}");
            }
        }
    }

    #[test]
    fn rows_split_ranges() {
        let mut seen = Vec::new();
        let mut out = [0.0; 7];
        for_rows(3, 2, &mut out, |r, c, seg| seen.push((r, c, seg.len())));
        assert_eq!(seen, [(0, 2, 1), (1, 0, 3), (2, 0, 3)]);
        assert_eq!(word(&[1, 0, 0, 0], 1), 0, "past the end reads 0");
        let mut runs = Vec::new();
        let mut seg = [0u8; 600];
        for_runs(128, 100, &mut seg, |c, g, run| runs.push((c, g, run.len())));
        assert_eq!(runs, [(100, 0, 28), (128, 1, 128), (256, 2, 128), (384, 3, 128), (512, 4, 128), (640, 5, 60)]);
        runs.clear();
        for_runs(1000, 0, &mut seg, |c, g, run| runs.push((c, g, run.len())));
        assert_eq!(runs, [(0, 0, 256), (256, 0, 256), (512, 0, 88)]);
    }

    #[test]
    fn unpacking_runs_equals_reading_each_field() {
        // Pseudo-random words; every width, every start and length around word boundaries.
        let words: Vec<u32> =
            (0..40u32).map(|i| i.wrapping_mul(2_654_435_761).rotate_left(i % 32) ^ 0x5bd1_e995).collect();
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let at = |w: usize| word(&bytes, w);
        for bits in 1..=8u32 {
            let total = 40 * 32 / bits as usize;
            for from in (0..70).chain(total - 40..total) {
                for len in [0, 1, 2, 7, 8, 9, 31, 33, 100] {
                    let len = len.min(total + 5 - from);
                    let mut out = vec![0u8; len];
                    unpack_stream(at, bits, from, &mut out);
                    for (k, &v) in out.iter().enumerate() {
                        assert_eq!(u32::from(v), stream_field(at, from + k, bits), "bits {bits} from {from} k {k}");
                    }
                }
            }
        }
        for high_first in [false, true] {
            for from in 0..9 {
                for len in [0, 1, 2, 3, 10, 151, 161 - from] {
                    let mut out = vec![0u8; len];
                    unpack_nibbles(&bytes[..80], high_first, from, &mut out);
                    for (k, &v) in out.iter().enumerate() {
                        let e = from + k;
                        let b = bytes[..80].get(e / 2).copied().unwrap_or(0);
                        let want = if (e % 2 == 0) == high_first { b >> 4 } else { b & 0xF };
                        assert_eq!(v, want, "high_first {high_first} from {from} k {k}");
                    }
                }
            }
        }
    }
}

/// Builders shared by the schemes' unit tests.
#[cfg(test)]
pub mod tests_support {
    use std::path::Path;
    use std::sync::Arc;

    use weightlens_core::{Dtype, Framework, TensorInfo};

    /// A header-only tensor.
    pub fn info(name: &str, dtype: Dtype, shape: Vec<u64>) -> TensorInfo {
        TensorInfo::new(name, dtype, Framework::SAFETENSORS, shape, Arc::from(Path::new("t.safetensors")), 0, 0)
    }

    /// Little-endian bytes of 32-bit words.
    pub fn le_words(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}
