//! The inner loops of the quantized schemes' `f32` decode, vectorized (AVX-512 or AVX2, chosen
//! at run time; the same loop in scalar code elsewhere): 4-bit codes looked up in a table of
//! their 16 values, wider codes mapped through `(code - zero) * scale`, and one-byte codes (FP8,
//! int8) looked up in a table of their 256 values times a scale. All give exactly what the
//! scalar `f64` formulas rounded to `f32` give: the 4-bit lookups copy table entries, and the
//! products are only computed in `f32` where that arithmetic is exact up to the one final
//! rounding (see [`exact_in_f32`] and [`is_f32`]).

/// `out[8 j + k] = table[(words[j] >> 4 k) & 15]`: the eight 4-bit fields of each word, least
/// significant first, through the table. Writes `8 * min(words.len(), out.len() / 8)` values.
pub fn nibbles_f32(words: &[u32], table: &[f32; 16], out: &mut [f32]) {
    let n = words.len().min(out.len() / 8);
    let (words, out) = (&words[..n], &mut out[..8 * n]);
    // Little-endian: field k of word j is nibble k % 2 (low first) of byte 4 j + k / 2.
    match super::parts::le_view(words) {
        Some(bytes) => nibble_bytes_f32(bytes, false, table, out),
        None => nibbles_scalar(words, table, out),
    }
}

fn nibbles_scalar(words: &[u32], table: &[f32; 16], out: &mut [f32]) {
    for (chunk, &w) in out.chunks_exact_mut(8).zip(words) {
        for (k, v) in chunk.iter_mut().enumerate() {
            *v = table[((w >> (4 * k)) & 0xF) as usize];
        }
    }
}

/// `out[2 j]`, `out[2 j + 1]`: `table` of the low then the high 4 bits of `bytes[j]` (the high
/// first when `high_first`). Writes `2 * min(bytes.len(), out.len() / 2)` values.
pub fn nibble_bytes_f32(bytes: &[u8], high_first: bool, table: &[f32; 16], out: &mut [f32]) {
    let n = bytes.len().min(out.len() / 2);
    let (bytes, out) = (&bytes[..n], &mut out[..2 * n]);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F; `out` holds 2 values per byte.
            return unsafe { x86::nibble_bytes_avx512(bytes, high_first, table, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2; `out` holds 2 values per byte.
            return unsafe { x86::nibble_bytes_avx2(bytes, high_first, table, out) };
        }
    }
    nibble_bytes_scalar(bytes, high_first, table, out);
}

/// The scalar loop of [`nibble_bytes_f32`], for any output type.
pub fn nibble_bytes_scalar<T: Copy>(bytes: &[u8], high_first: bool, table: &[T; 16], out: &mut [T]) {
    let (first, second) = if high_first { (4, 0) } else { (0, 4) };
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = table[usize::from((b >> first) & 0xF)];
        pair[1] = table[usize::from((b >> second) & 0xF)];
    }
}

/// `out[e] = (q_e - zeros[e / len]) * scales[e / len]` in `f32` for `q_e` the `e`-th 4-bit code
/// of `bytes` (low nibble first): consecutive groups of `len` values, each with its zero point
/// and scale (callers check [`exact_in_f32`] for each pair). Writes whole groups only, as many
/// as `zeros`, `scales`, `bytes` and `out` hold; `len` must be a multiple of 16 (else nothing
/// is written).
pub fn affine_nibble_groups_f32(bytes: &[u8], len: usize, zeros: &[f32], scales: &[f32], out: &mut [f32]) {
    if len == 0 || !len.is_multiple_of(16) {
        return;
    }
    let n = zeros.len().min(scales.len()).min(out.len() / len).min(2 * bytes.len() / len);
    let (bytes, out) = (&bytes[..n * len / 2], &mut out[..n * len]);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F; `n` whole groups of `len` values (a multiple of
            // 16) in `out` and of `len / 2` bytes in `bytes`, `n` zeros and scales.
            return unsafe { x86::affine_nibble_groups_avx512(bytes, len, &zeros[..n], &scales[..n], out) };
        }
    }
    let groups = bytes.chunks_exact(len / 2).zip(out.chunks_exact_mut(len));
    for ((codes, values), (&z, &s)) in groups.zip(zeros.iter().zip(scales)) {
        let table = std::array::from_fn(|q| (q as f32 - z) * s);
        nibble_bytes_f32(codes, false, &table, values);
    }
}

/// Whether `count >= 1` lines of 64 bytes, `stride` bytes apart, fit in `lines`.
fn lines_fit(lines: &[u8], stride: usize, count: usize) -> bool {
    count
        .checked_sub(1)
        .and_then(|k| k.checked_mul(stride))
        .and_then(|a| a.checked_add(64))
        .is_some_and(|end| end <= lines.len())
}

/// Whether every row holds values `from .. from + len`.
fn rows_fit(rows: &[&mut [f32]; 16], from: usize, len: usize) -> bool {
    from.checked_add(len).is_some_and(|end| rows.iter().all(|r| r.len() >= end))
}

/// GPTQ's 8-bit lines in place: line `k` starts at byte `k * stride` of `lines` and holds 16
/// little-endian words, word `j` the 4 one-byte codes of inputs `4 k ..` of output `j`; writes
/// `rows[j][from + 4 k + b] = (code - zeros[j]) * scales[j]` in `f32` for `k < count` (callers
/// check [`exact_in_f32`] for each pair). Returns whether it wrote them: only with AVX-512, and
/// only when every line and row is in bounds.
pub fn affine_byte_lines_f32(
    lines: &[u8],
    stride: usize,
    count: usize,
    zeros: &[f32; 16],
    scales: &[f32; 16],
    rows: &mut [&mut [f32]; 16],
    from: usize,
) -> bool {
    if count == 0 {
        return true;
    }
    let (lines_fit, rows_fit) = (lines_fit(lines, stride, count), rows_fit(rows, from, 4 * count));
    #[cfg(target_arch = "x86_64")]
    {
        if lines_fit && rows_fit && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F; lines and rows checked just above.
            unsafe { x86::affine_byte_lines_avx512(lines, stride, count, zeros, scales, rows, from) };
            return true;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (lines_fit, rows_fit, zeros, scales, rows, from);
    false
}

/// Act-order GPTQ 4-bit lines in place: line `k` starts at byte `k * stride` of `lines` and
/// holds 16 little-endian words, word `j` the 8 fields (least significant first) of inputs
/// `8 k ..` of output `j`; input `i` belongs to group `groups[i]`, whose zero point and scale
/// for output `j` are `zeros[16 g + j]` and `scales[16 g + j]`. Writes
/// `rows[j][from + i] = (q - zero) * scale` in `f32` for `i < 8 * count` (callers check
/// [`exact_in_f32`] for each pair; a group past the tables reads the last one). Returns whether
/// it wrote them: only with AVX-512, and only when everything is in bounds.
#[allow(clippy::too_many_arguments)]
pub fn act_order_lines_f32(
    lines: &[u8],
    stride: usize,
    count: usize,
    groups: &[u32],
    zeros: &[f32],
    scales: &[f32],
    rows: &mut [&mut [f32]; 16],
    from: usize,
) -> bool {
    if count == 0 {
        return true;
    }
    let (lines_fit, rows_fit) = (lines_fit(lines, stride, count), rows_fit(rows, from, 8 * count));
    let tables_fit = zeros.len() >= 16 && zeros.len() == scales.len() && zeros.len().is_multiple_of(16);
    #[cfg(target_arch = "x86_64")]
    {
        if lines_fit
            && rows_fit
            && tables_fit
            && groups.len() >= 8 * count
            && std::arch::is_x86_feature_detected!("avx512f")
        {
            // SAFETY: the CPU supports AVX-512F; lines, rows, groups and tables checked above.
            unsafe { x86::act_order_lines_avx512(lines, stride, count, groups, zeros, scales, rows, from) };
            return true;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (lines_fit, rows_fit, tables_fit, groups, rows, from);
    false
}

/// `out[8 j + k] = tables[16 * groups[8 j + k] + ((words[j] >> 4 k) & 15)]`: each field looked
/// up in its own group's 16 values (an index past `tables` reads the last entry: callers check
/// the groups, and the vector loop must stay in bounds whatever they hold). Writes
/// `8 * min(words.len(), groups.len() / 8, out.len() / 8)` values.
pub fn grouped_nibbles_f32(words: &[u32], groups: &[u32], tables: &[f32], out: &mut [f32]) {
    let n = words.len().min(groups.len() / 8).min(out.len() / 8);
    let (words, groups, out) = (&words[..n], &groups[..8 * n], &mut out[..8 * n]);
    #[cfg(target_arch = "x86_64")]
    {
        // The gather's indices are i32: larger tables (never written by GPTQ) take the scalar loop.
        let indexable = !tables.is_empty() && i32::try_from(tables.len()).is_ok();
        if indexable && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2; `words`, `groups` and `out` have the same length in
            // words; `tables` is non-empty and indexable by i32.
            return unsafe { x86::grouped_nibbles_avx2(words, groups, tables, out) };
        }
    }
    grouped_nibbles_scalar(words, groups, tables, out);
}

/// The scalar loop of [`grouped_nibbles_f32`], for any output type.
pub fn grouped_nibbles_scalar<T: Copy + Default>(words: &[u32], groups: &[u32], tables: &[T], out: &mut [T]) {
    let last = tables.len().saturating_sub(1);
    for ((chunk, &w), groups) in out.chunks_exact_mut(8).zip(words).zip(groups.chunks_exact(8)) {
        for (k, (v, &g)) in chunk.iter_mut().zip(groups).enumerate() {
            let at = (g as usize).saturating_mul(16).saturating_add(((w >> (4 * k)) & 0xF) as usize);
            *v = tables.get(at.min(last)).copied().unwrap_or_default();
        }
    }
}

/// Whether `scale * (code - zero)` for 8-bit codes, computed in `f64` and rounded to `f32`,
/// equals the same product computed in `f32`: true when the scale is an `f32` value (every F16,
/// BF16 and F32 scale is) and the zero point a small integer. Then `code - zero` is an exact
/// small integer in both, and the `f64` product of a 24-bit and a 17-bit significand is exact,
/// so both round the same exact product once.
pub fn exact_in_f32(zero: f64, scale: f64) -> bool {
    // `fract()` would be a libm call on baseline x86-64; the round trip through i32 is exact
    // for every integer in range (and false for NaN, which converts to 0).
    is_f32(scale) && zero.abs() <= 65_536.0 && f64::from(zero as i32) == zero
}

/// Whether `v` is an `f32` value. The product of two `f32` values is exact in `f64` (two 24-bit
/// significands), so rounding it to `f32` gives what the `f32` product gives, overflow and
/// subnormal results included.
pub fn is_f32(v: f64) -> bool {
    f64::from(v as f32).to_bits() == v.to_bits()
}

/// [`lut_scaled_f32`] of E4M3 codes (`table` their values): with AVX-512 each code's `f32`
/// is built from its bits (sign, exponent + 120, mantissa; `m * 2^-9` for subnormals; NaN for
/// `0x7F`/`0xFF`) instead of gathered, the same values as the table's (NaN payloads aside).
pub fn e4m3_scaled_f32(codes: &[u8], table: &[f32; 256], scale: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            let n = codes.len().min(out.len());
            let done = 16 * (n / 16);
            // SAFETY: the CPU supports AVX-512F; `done` codes and values are in bounds.
            unsafe { x86::e4m3_scaled_avx512(&codes[..done], scale, &mut out[..done]) };
            return lut_scaled_scalar(&codes[done..n], table, scale, &mut out[done..n]);
        }
    }
    lut_scaled_f32(codes, table, scale, out);
}

/// `out[k] = table[codes[k]] * scale` in `f32` (exact in the sense of [`is_f32`]; callers check
/// the scale). Writes `min(codes.len(), out.len())` values.
pub fn lut_scaled_f32(codes: &[u8], table: &[f32; 256], scale: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F.
            return unsafe { x86::lut_scaled_avx512(codes, table, scale, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2.
            return unsafe { x86::lut_scaled_avx2(codes, table, scale, out) };
        }
    }
    lut_scaled_scalar(codes, table, scale, out);
}

#[inline(always)]
fn lut_scaled_scalar(codes: &[u8], table: &[f32; 256], scale: f32, out: &mut [f32]) {
    for (v, &b) in out.iter_mut().zip(codes) {
        *v = table[usize::from(b)] * scale;
    }
}

/// `out[k] = (codes[k] - zero) * scale` in `f32` (callers check [`exact_in_f32`]).
pub fn affine_f32(codes: &[u8], zero: f32, scale: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F.
            return unsafe { x86::affine_avx512(codes, zero, scale, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2.
            return unsafe { x86::affine_avx2(codes, zero, scale, out) };
        }
    }
    affine_scalar(codes, zero, scale, out);
}

#[inline(always)]
fn affine_scalar(codes: &[u8], zero: f32, scale: f32, out: &mut [f32]) {
    for (v, &q) in out.iter_mut().zip(codes) {
        *v = (f32::from(q) - zero) * scale;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// The per-lane shifts that bring each of the 8 nibbles of 4 little-endian bytes to the
    /// bottom of its lane, in element order.
    fn nibble_shifts(high_first: bool) -> [i32; 8] {
        if high_first {
            [4, 0, 12, 8, 20, 16, 28, 24]
        } else {
            [0, 4, 8, 12, 16, 20, 24, 28]
        }
    }

    /// # Safety
    /// The CPU must support AVX-512F and `out.len() == 2 * bytes.len()`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn nibble_bytes_avx512(bytes: &[u8], high_first: bool, table: &[f32; 16], out: &mut [f32]) {
        let blocks = bytes.len() / 8;
        let s = nibble_shifts(high_first);
        // SAFETY (whole body): each iteration reads 8 bytes below `8 * blocks` and writes 16
        // values below `16 * blocks`.
        unsafe {
            let t = _mm512_loadu_ps(table.as_ptr());
            // Lanes 0-7 take the first 4 bytes, lanes 8-15 the next 4; each lane shifts its
            // nibble down. `permutexvar_ps` reads only the low 4 bits of each index: no mask.
            let pick = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
            let shifts = _mm512_setr_epi32(
                s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
            );
            let (src, dst) = (bytes.as_ptr(), out.as_mut_ptr());
            for p in 0..blocks {
                let eight = _mm_loadl_epi64(src.add(8 * p).cast());
                let lanes = _mm512_permutexvar_epi32(pick, _mm512_castsi128_si512(eight));
                let v = _mm512_permutexvar_ps(_mm512_srlv_epi32(lanes, shifts), t);
                _mm512_storeu_ps(dst.add(16 * p), v);
            }
        }
        super::nibble_bytes_scalar(&bytes[8 * blocks..], high_first, table, &mut out[16 * blocks..]);
    }

    /// # Safety
    /// The CPU must support AVX2 and `out.len() == 2 * bytes.len()`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn nibble_bytes_avx2(bytes: &[u8], high_first: bool, table: &[f32; 16], out: &mut [f32]) {
        let blocks = bytes.len() / 4;
        let s = nibble_shifts(high_first);
        // SAFETY (whole body): each iteration reads 4 bytes below `4 * blocks` and writes 8
        // values below `8 * blocks`.
        unsafe {
            let lo = _mm256_loadu_ps(table.as_ptr());
            let hi = _mm256_loadu_ps(table.as_ptr().add(8));
            let shifts = _mm256_setr_epi32(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
            let (src, dst) = (bytes.as_ptr(), out.as_mut_ptr());
            for p in 0..blocks {
                let four = src.add(4 * p).cast::<i32>().read_unaligned();
                let idx = _mm256_srlv_epi32(_mm256_set1_epi32(four), shifts);
                // permutevar8x32 reads the low 3 bits; bit 3 (moved to the sign) picks the half.
                let v = _mm256_blendv_ps(
                    _mm256_permutevar8x32_ps(lo, idx),
                    _mm256_permutevar8x32_ps(hi, idx),
                    _mm256_castsi256_ps(_mm256_slli_epi32::<28>(idx)),
                );
                _mm256_storeu_ps(dst.add(8 * p), v);
            }
        }
        super::nibble_bytes_scalar(&bytes[4 * blocks..], high_first, table, &mut out[8 * blocks..]);
    }

    /// # Safety
    /// The CPU must support AVX-512F; `len` is a multiple of 16, `zeros` and `scales` hold one
    /// value per group, `out` `len` values per group and `bytes` `len / 2` per group.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn affine_nibble_groups_avx512(
        bytes: &[u8],
        len: usize,
        zeros: &[f32],
        scales: &[f32],
        out: &mut [f32],
    ) {
        let s = nibble_shifts(false);
        // SAFETY (whole body): group g reads bytes `g len / 2 ..` and writes values `g len ..`,
        // 8 bytes and 16 values per block, `len / 16` blocks: within the slices.
        unsafe {
            let pick = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
            let shifts = _mm512_setr_epi32(
                s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
            );
            let codes = _mm512_setr_ps(0., 1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12., 13., 14., 15.);
            let (src, dst) = (bytes.as_ptr(), out.as_mut_ptr());
            for (g, (&z, &scale)) in zeros.iter().zip(scales).enumerate() {
                // The group's 16 values, (q - z) * s for q = 0..15, built in a register.
                let t = _mm512_mul_ps(_mm512_sub_ps(codes, _mm512_set1_ps(z)), _mm512_set1_ps(scale));
                let (src, dst) = (src.add(g * len / 2), dst.add(g * len));
                for p in 0..len / 16 {
                    let eight = _mm_loadl_epi64(src.add(8 * p).cast());
                    let lanes = _mm512_permutexvar_epi32(pick, _mm512_castsi128_si512(eight));
                    let v = _mm512_permutexvar_ps(_mm512_srlv_epi32(lanes, shifts), t);
                    _mm512_storeu_ps(dst.add(16 * p), v);
                }
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX-512F; `count >= 1` lines of 64 bytes `stride` apart fit in
    /// `lines`, and every row holds `from + 4 * count` values.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn affine_byte_lines_avx512(
        lines: &[u8],
        stride: usize,
        count: usize,
        zeros: &[f32; 16],
        scales: &[f32; 16],
        rows: &mut [&mut [f32]; 16],
        from: usize,
    ) {
        // SAFETY (whole body): line k reads bytes `k stride .. k stride + 64` and writes values
        // `from + 4 k .. from + 4 k + 4` of each row, within bounds by the caller's checks.
        unsafe {
            // Quarter q of a line (16 bytes) is outputs 4 q .. 4 q + 3, four codes each: its
            // lanes 4 l .. 4 l + 3 take output 4 q + l's zero point and scale.
            let spread = |v: &[f32; 16], q: usize| {
                let [a, b, c, d] = [v[4 * q], v[4 * q + 1], v[4 * q + 2], v[4 * q + 3]];
                _mm512_setr_ps(a, a, a, a, b, b, b, b, c, c, c, c, d, d, d, d)
            };
            let z: [__m512; 4] = std::array::from_fn(|q| spread(zeros, q));
            let s: [__m512; 4] = std::array::from_fn(|q| spread(scales, q));
            let dst: [*mut f32; 16] = std::array::from_fn(|j| rows[j].as_mut_ptr().add(from));
            let value = |k: usize, q: usize| {
                let codes = _mm512_cvtepu8_epi32(_mm_loadu_si128(lines.as_ptr().add(k * stride + 16 * q).cast()));
                _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(codes), z[q]), s[q])
            };
            // Four lines at a time: a 4 x 4 transpose of 128-bit blocks turns each quarter's
            // four vectors (line t: outputs 4 q .. 4 q + 3) into one 64-byte store per output.
            let quads = count / 4;
            for k in (0..4 * quads).step_by(4) {
                for q in 0..4 {
                    let [v0, v1, v2, v3] = [value(k, q), value(k + 1, q), value(k + 2, q), value(k + 3, q)];
                    let a = _mm512_shuffle_f32x4::<0x44>(v0, v1);
                    let b = _mm512_shuffle_f32x4::<0x44>(v2, v3);
                    let c = _mm512_shuffle_f32x4::<0xEE>(v0, v1);
                    let d = _mm512_shuffle_f32x4::<0xEE>(v2, v3);
                    _mm512_storeu_ps(dst[4 * q].add(4 * k), _mm512_shuffle_f32x4::<0x88>(a, b));
                    _mm512_storeu_ps(dst[4 * q + 1].add(4 * k), _mm512_shuffle_f32x4::<0xDD>(a, b));
                    _mm512_storeu_ps(dst[4 * q + 2].add(4 * k), _mm512_shuffle_f32x4::<0x88>(c, d));
                    _mm512_storeu_ps(dst[4 * q + 3].add(4 * k), _mm512_shuffle_f32x4::<0xDD>(c, d));
                }
            }
            for k in 4 * quads..count {
                for q in 0..4 {
                    let v = value(k, q);
                    _mm_storeu_ps(dst[4 * q].add(4 * k), _mm512_castps512_ps128(v));
                    _mm_storeu_ps(dst[4 * q + 1].add(4 * k), _mm512_extractf32x4_ps::<1>(v));
                    _mm_storeu_ps(dst[4 * q + 2].add(4 * k), _mm512_extractf32x4_ps::<2>(v));
                    _mm_storeu_ps(dst[4 * q + 3].add(4 * k), _mm512_extractf32x4_ps::<3>(v));
                }
            }
        }
    }

    /// The 16 x 16 transpose of `v` (row `r` of the result is column `r` of `v`).
    #[target_feature(enable = "avx512f")]
    pub(super) fn transpose16(v: [__m512; 16]) -> [__m512; 16] {
        // Pairs of 32-bit lanes, then of 64-bit lanes (within each 128-bit block), then the
        // 128-bit blocks across registers in two steps.
        let t: [__m512; 16] = std::array::from_fn(|i| {
            let (a, b) = (v[i & !1], v[i | 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_ps(a, b)
            } else {
                _mm512_unpackhi_ps(a, b)
            }
        });
        let u: [__m512; 16] = std::array::from_fn(|i| {
            let base = i & !3;
            let (a, b) = (_mm512_castps_pd(t[base + (i & 2) / 2]), _mm512_castps_pd(t[base + 2 + (i & 2) / 2]));
            _mm512_castpd_ps(if i % 2 == 0 { _mm512_unpacklo_pd(a, b) } else { _mm512_unpackhi_pd(a, b) })
        });
        let w: [__m512; 16] = std::array::from_fn(|i| {
            let (lo, hi) = (u[(i & 8) + (i & 3)], u[(i & 8) + 4 + (i & 3)]);
            if i & 4 == 0 {
                _mm512_shuffle_f32x4::<0x88>(lo, hi)
            } else {
                _mm512_shuffle_f32x4::<0xDD>(lo, hi)
            }
        });
        std::array::from_fn(|i| {
            let (lo, hi) = (w[i & 7], w[8 + (i & 7)]);
            if i & 8 == 0 {
                _mm512_shuffle_f32x4::<0x88>(lo, hi)
            } else {
                _mm512_shuffle_f32x4::<0xDD>(lo, hi)
            }
        })
    }

    /// # Safety
    /// The CPU must support AVX-512F; `count >= 1` lines of 64 bytes `stride` apart fit in
    /// `lines`, `groups` holds `8 * count` entries, `zeros` and `scales` the same non-zero
    /// multiple of 16, and every row `from + 8 * count` values.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn act_order_lines_avx512(
        lines: &[u8],
        stride: usize,
        count: usize,
        groups: &[u32],
        zeros: &[f32],
        scales: &[f32],
        rows: &mut [&mut [f32]; 16],
        from: usize,
    ) {
        let last = zeros.len() / 16 - 1;
        // SAFETY (whole body): line k reads bytes `k stride .. + 64`; group vectors are read at
        // `16 g` for `g <= last`; each pair of lines writes values `from + 8 k .. + 16` of every
        // row: all within the caller's bounds.
        unsafe {
            let mask = _mm512_set1_epi32(0xF);
            let dst: [*mut f32; 16] = std::array::from_fn(|j| rows[j].as_mut_ptr().add(from));
            // Field b of the 16 outputs (one lane each) in group g: code, zero point and scale.
            let column = |words: __m512i, g: u32, b: u32| {
                let g = (g as usize).min(last);
                let q = _mm512_and_si512(_mm512_srlv_epi32(words, _mm512_set1_epi32(4 * b as i32)), mask);
                let z = _mm512_loadu_ps(zeros.as_ptr().add(16 * g));
                let s = _mm512_loadu_ps(scales.as_ptr().add(16 * g));
                _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(q), z), s)
            };
            let pairs = count / 2;
            for p in 0..pairs {
                let (k, i) = (2 * p, 16 * p);
                let first = _mm512_loadu_si512(lines.as_ptr().add(k * stride).cast());
                let second = _mm512_loadu_si512(lines.as_ptr().add((k + 1) * stride).cast());
                let g: [u32; 16] = groups.get(i..i + 16).and_then(|g| g.try_into().ok()).unwrap_or_default();
                let (a, b) = (first, second);
                // Spelled out so that each field's shift is a constant and nothing spills.
                let v = [
                    column(a, g[0], 0),
                    column(a, g[1], 1),
                    column(a, g[2], 2),
                    column(a, g[3], 3),
                    column(a, g[4], 4),
                    column(a, g[5], 5),
                    column(a, g[6], 6),
                    column(a, g[7], 7),
                    column(b, g[8], 0),
                    column(b, g[9], 1),
                    column(b, g[10], 2),
                    column(b, g[11], 3),
                    column(b, g[12], 4),
                    column(b, g[13], 5),
                    column(b, g[14], 6),
                    column(b, g[15], 7),
                ];
                for (j, r) in transpose16(v).into_iter().enumerate() {
                    _mm512_storeu_ps(dst[j].add(i), r);
                }
            }
            if count % 2 == 1 {
                // The last line alone: its 8 inputs of every output, one lane at a time.
                let k = count - 1;
                let words = _mm512_loadu_si512(lines.as_ptr().add(k * stride).cast());
                let mut values = [[0f32; 16]; 8];
                for (b, out) in values.iter_mut().enumerate() {
                    _mm512_storeu_ps(
                        out.as_mut_ptr(),
                        column(words, groups.get(8 * k + b).copied().unwrap_or(0), b as u32),
                    );
                }
                for (j, &d) in dst.iter().enumerate() {
                    for (b, row) in values.iter().enumerate() {
                        *d.add(8 * k + b) = row[j];
                    }
                }
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2, `groups.len() == out.len() == 8 * words.len()`, and `tables`
    /// must be non-empty with a length that fits in an i32.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn grouped_nibbles_avx2(words: &[u32], groups: &[u32], tables: &[f32], out: &mut [f32]) {
        // SAFETY (whole body): one word, 8 groups read and 8 values written per iteration, in
        // bounds; every gathered index is clamped to the last entry of `tables`.
        unsafe {
            let shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
            let mask = _mm256_set1_epi32(0xF);
            let last = _mm256_set1_epi32(tables.len() as i32 - 1);
            for (j, &w) in words.iter().enumerate() {
                let q = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(w as i32), shifts), mask);
                let g = _mm256_loadu_si256(groups.as_ptr().add(8 * j).cast());
                // Unsigned minimum: a group index past the table (or whose 16x wraps) is clamped.
                let g = _mm256_min_epu32(g, _mm256_srli_epi32::<4>(last));
                let at = _mm256_min_epu32(_mm256_add_epi32(_mm256_slli_epi32::<4>(g), q), last);
                let v = _mm256_i32gather_ps::<4>(tables.as_ptr(), at);
                _mm256_storeu_ps(out.as_mut_ptr().add(8 * j), v);
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn affine_avx512(codes: &[u8], zero: f32, scale: f32, out: &mut [f32]) {
        let n = codes.len().min(out.len());
        let blocks = n / 16;
        // SAFETY: 16 codes read and 16 values written per block, below `n`.
        unsafe {
            let (z, s) = (_mm512_set1_ps(zero), _mm512_set1_ps(scale));
            for b in 0..blocks {
                let q = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(codes.as_ptr().add(16 * b).cast())));
                _mm512_storeu_ps(out.as_mut_ptr().add(16 * b), _mm512_mul_ps(_mm512_sub_ps(q, z), s));
            }
        }
        super::affine_scalar(&codes[16 * blocks..n], zero, scale, &mut out[16 * blocks..n]);
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn affine_avx2(codes: &[u8], zero: f32, scale: f32, out: &mut [f32]) {
        let n = codes.len().min(out.len());
        let blocks = n / 8;
        // SAFETY: 8 codes read and 8 values written per block, below `n`.
        unsafe {
            let (z, s) = (_mm256_set1_ps(zero), _mm256_set1_ps(scale));
            for b in 0..blocks {
                let q = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(codes.as_ptr().add(8 * b).cast())));
                _mm256_storeu_ps(out.as_mut_ptr().add(8 * b), _mm256_mul_ps(_mm256_sub_ps(q, z), s));
            }
        }
        super::affine_scalar(&codes[8 * blocks..n], zero, scale, &mut out[8 * blocks..n]);
    }

    /// # Safety
    /// The CPU must support AVX-512F and `codes.len() == out.len()`, a multiple of 16.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn e4m3_scaled_avx512(codes: &[u8], scale: f32, out: &mut [f32]) {
        // SAFETY: 16 codes read and 16 values written per block, within both slices.
        unsafe {
            let s = _mm512_set1_ps(scale);
            let (low7, sign_bit, low3) = (_mm512_set1_epi32(0x7F), _mm512_set1_epi32(0x80), _mm512_set1_epi32(7));
            let bias = _mm512_set1_epi32(120 << 23);
            let (eight, nan_code) = (_mm512_set1_epi32(8), _mm512_set1_epi32(0x7F));
            let quiet_nan = _mm512_set1_epi32(0x7FC0_0000);
            let sub_unit = _mm512_set1_ps(1.0 / 512.0);
            for b in 0..codes.len() / 16 {
                let c = _mm512_cvtepu8_epi32(_mm_loadu_si128(codes.as_ptr().add(16 * b).cast()));
                let mag = _mm512_and_si512(c, low7);
                // Normal: exponent e - 7 + 127 and the 3 mantissa bits at the top of f32's 23.
                let normal = _mm512_add_epi32(_mm512_slli_epi32::<20>(mag), bias);
                // Exponent 0 (magnitude below 8): m * 2^-9, exact.
                let sub = _mm512_castps_si512(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_and_si512(c, low3)), sub_unit));
                let v = _mm512_mask_mov_epi32(normal, _mm512_cmplt_epu32_mask(mag, eight), sub);
                let v = _mm512_mask_mov_epi32(v, _mm512_cmpeq_epi32_mask(mag, nan_code), quiet_nan);
                let v = _mm512_or_si512(v, _mm512_slli_epi32::<24>(_mm512_and_si512(c, sign_bit)));
                _mm512_storeu_ps(out.as_mut_ptr().add(16 * b), _mm512_mul_ps(_mm512_castsi512_ps(v), s));
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn lut_scaled_avx512(codes: &[u8], table: &[f32; 256], scale: f32, out: &mut [f32]) {
        let n = codes.len().min(out.len());
        let blocks = n / 16;
        // SAFETY: 16 codes read and 16 values written per block, below `n`; every gathered index
        // is a byte, inside the 256-entry table.
        unsafe {
            let s = _mm512_set1_ps(scale);
            for b in 0..blocks {
                let idx = _mm512_cvtepu8_epi32(_mm_loadu_si128(codes.as_ptr().add(16 * b).cast()));
                let v = _mm512_i32gather_ps::<4>(idx, table.as_ptr());
                _mm512_storeu_ps(out.as_mut_ptr().add(16 * b), _mm512_mul_ps(v, s));
            }
        }
        super::lut_scaled_scalar(&codes[16 * blocks..n], table, scale, &mut out[16 * blocks..n]);
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn lut_scaled_avx2(codes: &[u8], table: &[f32; 256], scale: f32, out: &mut [f32]) {
        let n = codes.len().min(out.len());
        let blocks = n / 8;
        // SAFETY: 8 codes read and 8 values written per block, below `n`; indices are bytes.
        unsafe {
            let s = _mm256_set1_ps(scale);
            for b in 0..blocks {
                let idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64(codes.as_ptr().add(8 * b).cast()));
                let v = _mm256_i32gather_ps::<4>(table.as_ptr(), idx);
                _mm256_storeu_ps(out.as_mut_ptr().add(8 * b), _mm256_mul_ps(v, s));
            }
        }
        super::lut_scaled_scalar(&codes[8 * blocks..n], table, scale, &mut out[8 * blocks..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_lookups_equal_the_scalar_loop() {
        let words: Vec<u32> = (0..37u32).map(|i| i.wrapping_mul(2_654_435_761) ^ 0x9e37_79b9).collect();
        let table: [f32; 16] = std::array::from_fn(|k| (k as f32 - 7.5) * 0.37);
        for n in [0, 1, 2, 3, 16, 37] {
            let mut fast = vec![f32::NAN; 8 * n + 3];
            let mut slow = fast.clone();
            nibbles_f32(&words[..n], &table, &mut fast);
            nibbles_scalar(&words[..n], &table, &mut slow);
            assert_eq!(
                fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                slow.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            assert!(fast[8 * n..].iter().all(|v| v.is_nan()), "nothing written past the words");
        }
    }

    #[test]
    fn vector_byte_lookups_equal_the_scalar_loop() {
        let bytes: Vec<u8> = (0..45u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let table: [f32; 16] = std::array::from_fn(|k| (k as f32 - 7.5) * 0.37);
        for high_first in [false, true] {
            for n in [0, 1, 3, 4, 7, 8, 9, 16, 17, 20, 24, 45] {
                let mut fast = vec![f32::NAN; 2 * n + 3];
                let mut slow = fast.clone();
                nibble_bytes_f32(&bytes[..n], high_first, &table, &mut fast);
                nibble_bytes_scalar(&bytes[..n], high_first, &table, &mut slow);
                assert_eq!(
                    fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    slow.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "high_first {high_first} n {n}"
                );
                assert!(fast[2 * n..].iter().all(|v| v.is_nan()), "nothing written past the bytes");
                // The element order itself: the first value of byte 0 is its high nibble when asked.
                if n > 0 {
                    let first = if high_first { bytes[0] >> 4 } else { bytes[0] & 0xF };
                    assert_eq!(fast[0].to_bits(), table[usize::from(first)].to_bits());
                }
            }
        }
    }

    #[test]
    fn grouped_affine_nibbles_equal_the_f64_formula() {
        let bytes: Vec<u8> = (0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        let zeros = [8.0f32, 3.0, 0.0, -2.0, 15.0];
        let scales = [0.012_345_679_f32, 0.0078125, 1.1e-40, 3.0e38, -0.25];
        for len in [16, 32, 64, 80] {
            let groups = (2 * bytes.len() / len).min(zeros.len());
            let mut out = vec![f32::NAN; groups * len + 5];
            affine_nibble_groups_f32(&bytes, len, &zeros, &scales, &mut out);
            for (e, v) in out[..groups * len].iter().enumerate() {
                let q = (bytes[e / 2] >> (4 * (e % 2))) & 0xF;
                let (z, s) = (f64::from(zeros[e / len]), f64::from(scales[e / len]));
                let want = ((f64::from(q) - z) * s) as f32;
                assert_eq!(v.to_bits(), want.to_bits(), "len {len} e {e}");
            }
            assert!(out[groups * len..].iter().all(|v| v.is_nan()), "whole groups only");
        }
        let mut out = vec![f32::NAN; 40];
        affine_nibble_groups_f32(&bytes, 20, &zeros, &scales, &mut out);
        assert!(out.iter().all(|v| v.is_nan()), "a group length not a multiple of 16 writes nothing");
    }

    #[test]
    fn f32_exactness_needs_an_f32_scale_and_a_small_integer_zero() {
        for (zero, scale, want) in [
            (8.0, 0.5, true),
            (-65_536.0, 0.1f32 as f64, true),
            (65_537.0, 0.5, false),
            (7.5, 0.5, false),
            (f64::NAN, 0.5, false),
            (f64::INFINITY, 0.5, false),
            (3.0, 0.1, false),
        ] {
            assert_eq!(exact_in_f32(zero, scale), want, "zero {zero} scale {scale}");
        }
    }

    #[test]
    fn byte_lines_equal_the_f64_formula() {
        let (stride, count, from) = (80, 9, 3);
        let lines: Vec<u8> = (0..stride * count as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8).collect();
        let zeros: [f32; 16] = std::array::from_fn(|j| (j as f32) * 9.0 - 20.0);
        let scales: [f32; 16] = std::array::from_fn(|j| 0.012_345_679 * (j as f32 + 1.0));
        let mut storage = vec![vec![f32::NAN; from + 4 * count + 2]; 16];
        let mut rows: [&mut [f32]; 16] = {
            let mut it = storage.iter_mut();
            std::array::from_fn(|_| it.next().map(|r| r.as_mut_slice()).unwrap_or_default())
        };
        let lines = &lines[..(count - 1) * stride as usize + 64];
        if !affine_byte_lines_f32(lines, stride as usize, count, &zeros, &scales, &mut rows, from) {
            return; // no AVX-512 here: callers take their own path
        }
        for (j, row) in storage.iter().enumerate() {
            for (e, v) in row.iter().enumerate() {
                if e < from || e >= from + 4 * count {
                    assert!(v.is_nan(), "row {j} value {e} written");
                    continue;
                }
                let (k, b) = ((e - from) / 4, (e - from) % 4);
                let code = lines[k * stride as usize + 4 * j + b];
                let want = (f64::from(scales[j]) * (f64::from(code) - f64::from(zeros[j]))) as f32;
                assert_eq!(v.to_bits(), want.to_bits(), "row {j} value {e}");
            }
        }
        let mut short = [0f32; 4];
        let mut rows: [&mut [f32]; 16] = std::array::from_fn(|_| Default::default());
        rows[0] = &mut short;
        assert!(
            !affine_byte_lines_f32(lines, stride as usize, count, &zeros, &scales, &mut rows, 0),
            "short rows refused"
        );
    }

    #[test]
    fn act_order_lines_equal_the_f64_formula() {
        for count in [1, 2, 5, 8] {
            let (stride, from, n_groups) = (72usize, 5usize, 3usize);
            let lines: Vec<u8> =
                (0..(stride * count) as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
            let groups: Vec<u32> =
                (0..8 * count as u32).map(|i| (i * 5 + i / 7) % n_groups as u32 + (i % 11 == 3) as u32 * 9).collect();
            let zeros: Vec<f32> = (0..16 * n_groups).map(|k| (k % 17) as f32 - 3.0).collect();
            let scales: Vec<f32> = (0..16 * n_groups).map(|k| 0.012_345_679 * (k as f32 + 1.0)).collect();
            let mut storage = vec![vec![f32::NAN; from + 8 * count + 2]; 16];
            let mut rows: [&mut [f32]; 16] = {
                let mut it = storage.iter_mut();
                std::array::from_fn(|_| it.next().map(|r| r.as_mut_slice()).unwrap_or_default())
            };
            let lines = &lines[..(count - 1) * stride + 64];
            if !act_order_lines_f32(lines, stride, count, &groups, &zeros, &scales, &mut rows, from) {
                return; // no AVX-512 here: callers take their own path
            }
            for (j, row) in storage.iter().enumerate() {
                for (e, v) in row.iter().enumerate() {
                    if e < from || e >= from + 8 * count {
                        assert!(v.is_nan(), "count {count} row {j} value {e} written");
                        continue;
                    }
                    let i = e - from;
                    let at = (i / 8) * stride + 4 * j;
                    let word = u32::from_le_bytes([lines[at], lines[at + 1], lines[at + 2], lines[at + 3]]);
                    let q = (word >> (4 * (i % 8))) & 0xF;
                    // Groups past the tables read the last one.
                    let g = (groups[i] as usize).min(n_groups - 1);
                    let (z, s) = (f64::from(zeros[16 * g + j]), f64::from(scales[16 * g + j]));
                    let want = (s * (f64::from(q) - z)) as f32;
                    assert_eq!(v.to_bits(), want.to_bits(), "count {count} row {j} input {i}");
                }
            }
        }
    }

    #[test]
    fn vector_grouped_lookups_equal_the_scalar_loop() {
        let words: Vec<u32> = (0..37u32).map(|i| i.wrapping_mul(2_654_435_761) ^ 0x9e37_79b9).collect();
        let tables: Vec<f32> = (0..5 * 16).map(|k| (k as f32 - 40.5) * 0.37).collect();
        let groups: Vec<u32> = (0..8 * 37u32).map(|i| i.wrapping_mul(7) % 5).collect();
        for n in [0, 1, 2, 3, 16, 37] {
            let mut fast = vec![f32::NAN; 8 * n + 3];
            let mut slow = fast.clone();
            grouped_nibbles_f32(&words[..n], &groups, &tables, &mut fast);
            grouped_nibbles_scalar(&words[..n], &groups, &tables, &mut slow);
            for (e, v) in fast[..8 * n].iter().enumerate() {
                let q = (words[e / 8] >> (4 * (e % 8))) & 0xF;
                let want = tables[(groups[e] * 16 + q) as usize];
                assert_eq!(v.to_bits(), want.to_bits(), "element {e}");
            }
            assert_eq!(fast[..8 * n], slow[..8 * n]);
            assert!(fast[8 * n..].iter().all(|v| v.is_nan()), "nothing written past the words");
        }
        // Groups past the tables (refused before decoding) still read inside them.
        let wild = vec![u32::MAX; 16];
        let mut out = vec![0f32; 16];
        grouped_nibbles_f32(&words[..2], &wild, &tables, &mut out);
        assert!(out.iter().all(|v| tables.contains(v)));
    }

    #[test]
    fn e4m3_from_bits_equals_the_table() {
        use weightlens_core::decode::f8_e4m3_to_f32;
        let table: [f32; 256] = std::array::from_fn(|b| f8_e4m3_to_f32(b as u8));
        let codes: Vec<u8> = (0..=255u8).chain((0..77u32).map(|i| (i.wrapping_mul(131) % 256) as u8)).collect();
        for scale in [1.0f32, 0.000_123_456_79, 3.0e36, 1.0e-42, -2.5] {
            for n in [0, 7, 16, 40, codes.len()] {
                let mut fast = vec![0f32; n];
                e4m3_scaled_f32(&codes[..n], &table, scale, &mut fast);
                for (k, v) in fast.iter().enumerate() {
                    let want = (f64::from(table[usize::from(codes[k])]) * f64::from(scale)) as f32;
                    assert!(v.to_bits() == want.to_bits() || (v.is_nan() && want.is_nan()), "scale {scale} k {k}");
                }
            }
        }
    }

    #[test]
    fn vector_affine_map_equals_the_f64_formula() {
        let codes: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(97) % 256) as u8).collect();
        // An f32 scale with a full significand, a bf16 one, a subnormal result range.
        for (zero, scale) in [(128.0, 0.012_345_679_f32 as f64), (3.0, 0.0078125), (0.0, 1.1e-40_f32 as f64)] {
            assert!(exact_in_f32(zero, scale));
            for n in [0, 5, 16, 33, 300] {
                let mut fast = vec![0f32; n];
                affine_f32(&codes[..n], zero as f32, scale as f32, &mut fast);
                for (k, v) in fast.iter().enumerate() {
                    let want = (scale * (f64::from(codes[k]) - zero)) as f32;
                    assert_eq!(v.to_bits(), want.to_bits(), "zero {zero} scale {scale} k {k}");
                }
            }
        }
        assert!(!exact_in_f32(0.5, 1.0), "fractional zero");
        assert!(!is_f32(0.1) && is_f32(0.1f32 as f64));
    }

    #[test]
    fn vector_table_products_equal_the_f64_formula() {
        use weightlens_core::decode::f8_e4m3_to_f32;
        let codes: Vec<u8> = (0..=255u8).chain((0..100u32).map(|i| (i.wrapping_mul(131) % 256) as u8)).collect();
        let table: [f32; 256] = std::array::from_fn(|b| f8_e4m3_to_f32(b as u8));
        // A full-significand scale, one that overflows the largest codes, a subnormal range.
        for scale in [0.000_123_456_79_f32, 3.0e36, 1.0e-42] {
            for n in [0, 7, 16, 40, codes.len()] {
                let mut fast = vec![0f32; n];
                lut_scaled_f32(&codes[..n], &table, scale, &mut fast);
                for (k, v) in fast.iter().enumerate() {
                    let want = (f64::from(table[usize::from(codes[k])]) * f64::from(scale)) as f32;
                    assert!(v.to_bits() == want.to_bits() || (v.is_nan() && want.is_nan()), "scale {scale} k {k}");
                }
            }
        }
        assert!(!exact_in_f32(1.0, 0.1), "an f64 scale");
    }
}
