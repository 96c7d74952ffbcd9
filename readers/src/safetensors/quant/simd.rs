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
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F; `out` holds 8 values per word.
            return unsafe { x86::nibbles_avx512(words, table, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2; `out` holds 8 values per word.
            return unsafe { x86::nibbles_avx2(words, table, out) };
        }
    }
    nibbles_scalar(words, table, out);
}

fn nibbles_scalar(words: &[u32], table: &[f32; 16], out: &mut [f32]) {
    for (chunk, &w) in out.chunks_exact_mut(8).zip(words) {
        for (k, v) in chunk.iter_mut().enumerate() {
            *v = table[((w >> (4 * k)) & 0xF) as usize];
        }
    }
}

/// Whether `scale * (code - zero)` for 8-bit codes, computed in `f64` and rounded to `f32`,
/// equals the same product computed in `f32`: true when the scale is an `f32` value (every F16,
/// BF16 and F32 scale is) and the zero point a small integer. Then `code - zero` is an exact
/// small integer in both, and the `f64` product of a 24-bit and a 17-bit significand is exact,
/// so both round the same exact product once.
pub fn exact_in_f32(zero: f64, scale: f64) -> bool {
    is_f32(scale) && zero.fract() == 0.0 && zero.abs() <= 65_536.0
}

/// Whether `v` is an `f32` value. The product of two `f32` values is exact in `f64` (two 24-bit
/// significands), so rounding it to `f32` gives what the `f32` product gives, overflow and
/// subnormal results included.
pub fn is_f32(v: f64) -> bool {
    f64::from(v as f32).to_bits() == v.to_bits()
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

    /// # Safety
    /// The CPU must support AVX-512F and `out.len() == 8 * words.len()`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn nibbles_avx512(words: &[u32], table: &[f32; 16], out: &mut [f32]) {
        // SAFETY (whole body): every load reads within `words` (pairs below `words.len()`) and
        // every store writes within `out` (16 values per pair).
        unsafe {
            let t = _mm512_loadu_ps(table.as_ptr());
            // Lanes 0-7 take the pair's first word, lanes 8-15 its second; each lane shifts its
            // field down. `permutexvar_ps` reads only the low 4 bits of each index: no mask.
            let pick = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
            let shifts = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
            let pairs = words.len() / 2;
            let (src, dst) = (words.as_ptr(), out.as_mut_ptr());
            for p in 0..pairs {
                let two = _mm_loadl_epi64(src.add(2 * p).cast());
                let lanes = _mm512_permutexvar_epi32(pick, _mm512_castsi128_si512(two));
                let v = _mm512_permutexvar_ps(_mm512_srlv_epi32(lanes, shifts), t);
                _mm512_storeu_ps(dst.add(16 * p), v);
            }
        }
        super::nibbles_scalar(&words[2 * (words.len() / 2)..], table, &mut out[16 * (words.len() / 2)..]);
    }

    /// # Safety
    /// The CPU must support AVX2 and `out.len() == 8 * words.len()`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn nibbles_avx2(words: &[u32], table: &[f32; 16], out: &mut [f32]) {
        // SAFETY (whole body): one word read and 8 values written per iteration, in bounds.
        unsafe {
            let lo = _mm256_loadu_ps(table.as_ptr());
            let hi = _mm256_loadu_ps(table.as_ptr().add(8));
            let shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
            for (j, &w) in words.iter().enumerate() {
                let idx = _mm256_srlv_epi32(_mm256_set1_epi32(w as i32), shifts);
                // permutevar8x32 reads the low 3 bits; bit 3 (moved to the sign) picks the half.
                let v = _mm256_blendv_ps(
                    _mm256_permutevar8x32_ps(lo, idx),
                    _mm256_permutevar8x32_ps(hi, idx),
                    _mm256_castsi256_ps(_mm256_slli_epi32::<28>(idx)),
                );
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
