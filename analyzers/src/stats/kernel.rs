//! The statistics of a chunk read straight from its stored bytes, for the common float
//! formats (little-endian `F32`, `BF16`, `F16`), at memory speed.
//!
//! Same arithmetic as [`Moments::of`] (values widened exactly to `f64`, a mean pass, then the
//! sum of squared deviations while the chunk is in cache), in AVX2 vectors with independent
//! accumulators, which hides the latency of the additions; the order of the additions differs
//! from the sequential loop only in rounding (relative error near `sqrt(n) * 2^-53` either way).
//!
//! Chosen at run time: on a CPU without AVX2 and F16C [`chunk_moments`] returns `None` and the
//! caller decodes to `f64` first, so the release binary still runs on any x86-64. A chunk
//! holding NaN or an infinity returns `None` too: the general path counts them as numpy does.

use weightlens_core::{ByteOrder, Dtype};

use super::Moments;

/// A stored float format the kernel reads directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    F32,
    Bf16,
    F16,
}

impl Format {
    /// The kernel's format for a plain dtype, if it has one.
    pub(crate) fn of(dtype: Dtype, order: ByteOrder) -> Option<Format> {
        match (dtype, order) {
            (Dtype::F32, ByteOrder::Little) => Some(Format::F32),
            (Dtype::BF16, ByteOrder::Little) => Some(Format::Bf16),
            (Dtype::F16, ByteOrder::Little) => Some(Format::F16),
            _ => None,
        }
    }

    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            Format::F32 => 4,
            Format::Bf16 | Format::F16 => 2,
        }
    }

    fn dtype(self) -> Dtype {
        match self {
            Format::F32 => Dtype::F32,
            Format::Bf16 => Dtype::BF16,
            Format::F16 => Dtype::F16,
        }
    }
}

/// The statistics of the whole elements in `bytes`; `None` when they include NaN or an
/// infinity, or when the CPU lacks the vector instructions.
pub(crate) fn chunk_moments(format: Format, bytes: &[u8], zero_eps: f64) -> Option<Moments> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c") {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { avx2::chunk_moments(format, bytes, zero_eps) };
    }
    let _ = (format, bytes, zero_eps);
    None
}

/// The statistics of the few elements after the last whole vector step.
fn tail_moments(format: Format, bytes: &[u8], zero_eps: f64) -> Moments {
    let mut values = [0f64; 8];
    let n = (bytes.len() / format.size()).min(values.len());
    weightlens_core::decode::decode_plain_f64(
        format.dtype(),
        ByteOrder::Little,
        &bytes[..n * format.size()],
        &mut values[..n],
    );
    Moments::of(&values[..n], zero_eps)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! The kernel in AVX2 intrinsics: 8 elements per step, widened to two vectors of four
    //! `f64` (`F16` through the F16C conversion instruction), with two independent vector
    //! accumulators per quantity.

    use std::arch::x86_64::*;

    use super::{Format, Moments};

    /// Elements per step.
    const STEP: usize = 8;

    /// Loads 8 stored elements as `f32`.
    trait Load {
        /// # Safety
        /// `p` must point to 8 readable elements; the CPU must support AVX2 and F16C.
        unsafe fn load(p: *const u8) -> __m256;
    }

    struct F32;
    struct Bf16;
    struct F16;

    impl Load for F32 {
        #[inline(always)]
        unsafe fn load(p: *const u8) -> __m256 {
            // SAFETY: the caller guarantees 8 readable f32 (unaligned load).
            unsafe { _mm256_loadu_ps(p.cast()) }
        }
    }

    impl Load for Bf16 {
        #[inline(always)]
        unsafe fn load(p: *const u8) -> __m256 {
            // SAFETY: the caller guarantees 8 readable bf16 and AVX2. A bf16 is the upper
            // half of an f32.
            unsafe { _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast())), 16)) }
        }
    }

    impl Load for F16 {
        #[inline(always)]
        unsafe fn load(p: *const u8) -> __m256 {
            // SAFETY: the caller guarantees 8 readable f16 and F16C.
            unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and F16C.
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn chunk_moments(format: Format, bytes: &[u8], zero_eps: f64) -> Option<Moments> {
        // One monomorphized loop per format: no per-element dispatch.
        match format {
            Format::F32 => moments::<F32>(format, bytes, zero_eps),
            Format::Bf16 => moments::<Bf16>(format, bytes, zero_eps),
            Format::F16 => moments::<F16>(format, bytes, zero_eps),
        }
    }

    #[target_feature(enable = "avx2,f16c")]
    fn moments<L: Load>(format: Format, bytes: &[u8], zero_eps: f64) -> Option<Moments> {
        let size = format.size();
        let n = bytes.len() / size;
        let steps = n / STEP;
        let ptr = bytes.as_ptr();
        let abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(i64::MAX));
        let eps = _mm256_set1_pd(zero_eps);
        let (mut s0, mut s1) = (_mm256_setzero_pd(), _mm256_setzero_pd());
        let (mut lo0, mut lo1) = (_mm256_set1_pd(f64::INFINITY), _mm256_set1_pd(f64::INFINITY));
        let (mut hi0, mut hi1) = (_mm256_set1_pd(f64::NEG_INFINITY), _mm256_set1_pd(f64::NEG_INFINITY));
        let (mut z0, mut z1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for i in 0..steps {
            // SAFETY: i < steps: the STEP elements at i * STEP lie inside `bytes`.
            let (a, b) = unsafe { widen(L::load(ptr.add(i * STEP * size))) };
            s0 = _mm256_add_pd(s0, a);
            s1 = _mm256_add_pd(s1, b);
            lo0 = _mm256_min_pd(a, lo0);
            lo1 = _mm256_min_pd(b, lo1);
            hi0 = _mm256_max_pd(a, hi0);
            hi1 = _mm256_max_pd(b, hi1);
            // A true comparison is all ones (-1): subtracting it counts one.
            let za = _mm256_cmp_pd::<_CMP_LE_OQ>(_mm256_and_pd(a, abs_mask), eps);
            let zb = _mm256_cmp_pd::<_CMP_LE_OQ>(_mm256_and_pd(b, abs_mask), eps);
            z0 = _mm256_sub_epi64(z0, _mm256_castpd_si256(za));
            z1 = _mm256_sub_epi64(z1, _mm256_castpd_si256(zb));
        }
        let head = steps * STEP;
        let rest = &bytes[head * size..n * size];
        let mut total = hsum(_mm256_add_pd(s0, s1));
        let mut min = hfold(_mm256_min_pd(lo0, lo1), f64::min);
        let mut max = hfold(_mm256_max_pd(hi0, hi1), f64::max);
        let mut zeros = {
            let mut lanes = [0u64; 4];
            // SAFETY: four u64 fit in `lanes`; unaligned store.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), _mm256_add_epi64(z0, z1)) };
            lanes.iter().sum::<u64>()
        };
        let tail = super::tail_moments(format, rest, zero_eps);
        if tail.count() != tail.finite {
            return None;
        }
        if tail.finite > 0 {
            total += tail.mean * tail.finite as f64;
            min = min.min(tail.min);
            max = max.max(tail.max);
            zeros += tail.zeros;
        }
        // NaN or an infinity anywhere makes the sum non-finite (finite f32 values cannot
        // overflow an f64 sum of a chunk); min/max ignore NaN, the sum does not.
        if !total.is_finite() || n == 0 {
            return (n == 0).then(Moments::default);
        }
        let mean = total / n as f64;

        let m = _mm256_set1_pd(mean);
        let (mut q0, mut q1) = (_mm256_setzero_pd(), _mm256_setzero_pd());
        for i in 0..steps {
            // SAFETY: as in the first pass.
            let (a, b) = unsafe { widen(L::load(ptr.add(i * STEP * size))) };
            let (da, db) = (_mm256_sub_pd(a, m), _mm256_sub_pd(b, m));
            q0 = _mm256_add_pd(q0, _mm256_mul_pd(da, da));
            q1 = _mm256_add_pd(q1, _mm256_mul_pd(db, db));
        }
        let mut m2 = hsum(_mm256_add_pd(q0, q1));
        // The tail's squared deviations from the chunk's mean (not its own): its m2 about its
        // own mean plus the shift term.
        if tail.finite > 0 {
            let d = tail.mean - mean;
            m2 += tail.m2 + d * d * tail.finite as f64;
        }
        Some(Moments { finite: n as u64, mean, m2, min, max, nan: 0, pos_inf: 0, neg_inf: 0, zeros })
    }

    /// The 8 `f32` of `f` as two vectors of 4 `f64` (exact).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn widen(f: __m256) -> (__m256d, __m256d) {
        (_mm256_cvtps_pd(_mm256_castps256_ps128(f)), _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(f)))
    }

    #[target_feature(enable = "avx2")]
    fn hsum(v: __m256d) -> f64 {
        hfold(v, |a, b| a + b)
    }

    #[target_feature(enable = "avx2")]
    fn hfold(v: __m256d, f: impl Fn(f64, f64) -> f64) -> f64 {
        let mut lanes = [0f64; 4];
        // SAFETY: four f64 fit in `lanes`; unaligned store.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), v) };
        f(f(lanes[0], lanes[1]), f(lanes[2], lanes[3]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weightlens_core::decode::decode_plain_f64;

    /// A deterministic mix of magnitudes, signs, zeros and tiny values.
    fn values(n: usize) -> Vec<f32> {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let u = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                match i % 11 {
                    0 => 0.0,
                    1 => u * 1e-9,
                    2 => 3.0 + u,
                    _ => u * 0.02,
                }
            })
            .collect()
    }

    fn encode(format: Format, xs: &[f32]) -> Vec<u8> {
        xs.iter()
            .flat_map(|&x| match format {
                Format::F32 => x.to_le_bytes().to_vec(),
                Format::Bf16 => half::bf16::from_f32(x).to_le_bytes().to_vec(),
                Format::F16 => half::f16::from_f32(x).to_le_bytes().to_vec(),
            })
            .collect()
    }

    fn has_avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        return std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c");
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// The kernel against the general decode + `Moments::of`.
    #[test]
    fn kernel_matches_the_general_path() {
        for format in [Format::F32, Format::Bf16, Format::F16] {
            for n in [0, 1, 15, 16, 17, 1000, 65_536 + 7] {
                let bytes = encode(format, &values(n));
                let mut decoded = vec![0f64; n];
                decode_plain_f64(format.dtype(), ByteOrder::Little, &bytes, &mut decoded);
                let want = Moments::of(&decoded, 1e-8);
                {
                    let Some(got) = chunk_moments(format, &bytes, 1e-8) else {
                        assert!(!has_avx2(), "finite values, the kernel must answer");
                        continue;
                    };
                    let what = format!("{format:?} n={n}");
                    assert_eq!(
                        (got.finite, got.zeros, got.min, got.max),
                        (want.finite, want.zeros, want.min, want.max)
                    );
                    // Both sum in f64 in different orders: each is within ~sqrt(n) * 2^-53 of
                    // the exact sum, so they agree to far better than 1e-12.
                    assert!((got.mean - want.mean).abs() <= 1e-12 * want.mean.abs(), "{what}");
                    assert!((got.m2 - want.m2).abs() <= 1e-12 * want.m2, "{what}: {} vs {}", got.m2, want.m2);
                }
            }
        }
    }

    #[test]
    fn non_finite_chunks_go_to_the_general_path() {
        // In a vector step and in the tail after the last whole step.
        for (bad, at) in [(f32::NAN, 37), (f32::INFINITY, 37), (f32::NEG_INFINITY, 37), (f32::NAN, 98)] {
            let mut xs = values(100);
            xs[at] = bad;
            for format in [Format::F32, Format::Bf16, Format::F16] {
                assert_eq!(chunk_moments(format, &encode(format, &xs), 1e-8), None, "{format:?} {bad} at {at}");
            }
        }
        // An f16 overflow: 1e5 is finite in f32 but infinite in f16.
        assert_eq!(chunk_moments(Format::F16, &encode(Format::F16, &[1.0, 1e5]), 1e-8), None);
    }
}
