//! The statistics of a chunk read straight from its stored bytes, for the common float
//! formats (little-endian `F32`, `BF16`, `F16`), at memory speed.
//!
//! Values are widened exactly to `f64` and summed in AVX2 vectors with independent accumulators
//! (which hides the latency of the additions), in one pass over the bytes: sums of `x - c` and
//! `(x - c)^2` about a shift `c` taken from the chunk. The variance then loses a few digits to
//! cancellation when the mean is far from `c` compared with the spread; a chunk that would lose
//! more than 3 (of ~16) is redone by the exact two-pass path. The results agree with the
//! sequential two-pass loop of [`Moments::of`] to ~1e-12 relative or better.
//!
//! The 2-byte formats use an AVX-512 loop (32 elements per step) on CPUs with AVX-512 F/BW/DQ:
//! same method and accuracy, ~1.25x the AVX2 loop's element rate in cache and 1.15-1.2x end to
//! end on a page-cached BF16/F16 file (measured on the 2-core Xeon, best of 3 each).
//!
//! Chosen at run time: on a CPU without AVX2, FMA and F16C [`chunk_moments`] returns `None` and the
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
    if format != Format::F32 && has_avx512() && !avx2_forced() {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { avx512::moments16(format, bytes, zero_eps) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
    {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { avx2::chunk_moments(format, bytes, zero_eps) };
    }
    let _ = (format, bytes, zero_eps);
    None
}

/// Whether the CPU has the AVX-512 subsets the 2-byte kernel `avx512::moments16` uses.
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("popcnt")
}

#[cfg(test)]
thread_local! {
    /// Tests run the AVX2 kernel on AVX-512 machines too.
    static FORCE_AVX2: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread's tests asked for the AVX2 kernel.
#[cfg(target_arch = "x86_64")]
fn avx2_forced() -> bool {
    #[cfg(test)]
    return FORCE_AVX2.with(std::cell::Cell::get);
    #[cfg(not(test))]
    false
}

/// The value of one stored 2-byte element (`BF16` or `F16`) with bits `bits`.
fn value_of(format: Format, bits: u16) -> f64 {
    let mut out = [0f64];
    weightlens_core::decode::decode_plain_f64(format.dtype(), ByteOrder::Little, &bits.to_le_bytes(), &mut out);
    out[0]
}

/// The statistics of the few elements (fewer than 32) after the last whole vector step.
fn tail_moments(format: Format, bytes: &[u8], zero_eps: f64) -> Moments {
    let mut values = [0f64; 32];
    let n = (bytes.len() / format.size()).min(values.len());
    weightlens_core::decode::decode_plain_f64(
        format.dtype(),
        ByteOrder::Little,
        &bytes[..n * format.size()],
        &mut values[..n],
    );
    Moments::of(&values[..n], zero_eps)
}

/// Bytes between the data being summed and the data being prefetched: the loops' long
/// dependency chains keep too few loads in flight for the hardware prefetcher alone to reach
/// memory speed.
const PREFETCH: usize = 2048;

/// What a 2-byte kernel's vector loop found over the first `done` elements of a chunk: the
/// sums of `x` and `x^2`, the extreme ordering keys and the count of magnitudes above the
/// zero threshold (see `avx2::moments16`).
struct Body16 {
    done: usize,
    sum1: f64,
    sum2: f64,
    min_key: i16,
    max_key: i16,
    above: u64,
}

/// The bits of the 2-byte format's +Inf (patterns of larger magnitude are NaN). `F32` never
/// reaches the 2-byte kernels; it shares the `F16` arm only to keep the match total.
fn inf_bits(format: Format) -> i16 {
    match format {
        Format::Bf16 => 0x7F80,
        Format::F16 | Format::F32 => 0x7C00,
    }
}

/// The statistics of a 2-byte chunk from its vector loop's [`Body16`] and the elements after
/// it; `None` for NaN/Inf or when the one-pass variance would lose too many digits.
fn finish16(format: Format, bytes: &[u8], body: Body16, zero_eps: f64) -> Option<Moments> {
    let n = bytes.len() / 2;
    let Body16 { done, mut sum1, mut sum2, min_key, max_key, above } = body;
    let inf = inf_bits(format);
    // NaN and infinities have keys at or beyond the infinities' (empty vector part: the
    // initial keys are inside).
    if done > 0 && (max_key >= inf || min_key <= -1 - inf) {
        return None;
    }
    let (mut min, mut max) = if done > 0 {
        (key_value(format, min_key), key_value(format, max_key))
    } else {
        (f64::INFINITY, f64::NEG_INFINITY)
    };
    let mut zero_count = done as u64 - above;
    let tail = tail_moments(format, &bytes[done * 2..n * 2], zero_eps);
    if tail.count() != tail.finite {
        return None;
    }
    if tail.finite > 0 {
        let k = tail.finite as f64;
        sum1 += k * tail.mean;
        sum2 += tail.m2 + k * tail.mean * tail.mean;
        min = min.min(tail.min);
        max = max.max(tail.max);
        zero_count += tail.zeros;
    }
    let nf = n as f64;
    let correction = sum1 * sum1 / nf;
    let m2 = sum2 - correction;
    // As in `moments`: m2 loses about log10(correction / m2) digits; beyond CANCELLATION
    // the exact two-pass path takes the chunk.
    if !sum2.is_finite() || correction > CANCELLATION * m2 {
        return None;
    }
    Some(Moments {
        finite: n as u64,
        mean: sum1 / nf,
        m2: m2.max(0.0),
        min,
        max,
        nan: 0,
        pos_inf: 0,
        neg_inf: 0,
        zeros: zero_count,
    })
}

/// The largest ratio of the shift correction to the result accepted in the one-pass
/// variance (digits lost: its log10).
const CANCELLATION: f64 = 1e3;

/// The 16-bit pattern `T` of the largest non-negative value of `format` not above `eps`:
/// `|x| <= eps` exactly when `bits(x) & 0x7FFF <= T` for finite `x`; `-1` when no value
/// qualifies (`eps < 0` or NaN). Magnitude patterns order as their values, so a binary
/// search over them finds it.
fn zero_bits(format: Format, eps: f64) -> i16 {
    let value = |bits: u16| value_of(format, bits);
    if eps.is_nan() || eps < 0.0 {
        return -1;
    }
    // The largest pattern in [0, 0x7FFF] whose value is <= eps (value(0) = 0 <= eps).
    let (mut good, mut bad) = (0u16, 0x8000u16);
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if value(mid) <= eps {
            good = mid;
        } else {
            bad = mid;
        }
    }
    good as i16
}

/// The value whose ordering key (see [`moments16`]) is `key`.
fn key_value(format: Format, key: i16) -> f64 {
    let bits = if key < 0 { (key as u16) ^ 0x7FFF } else { key as u16 };
    value_of(format, bits)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! The kernel in AVX2 intrinsics: 16 elements per step, each 8 widened to two vectors of four
    //! `f64` (`F16` through the F16C conversion instruction) into four independent sums; min,
    //! max and the zero count stay on the exact `f32` values, 8 lanes at a time.

    use std::arch::x86_64::*;

    use super::{zero_bits, Body16, Format, Moments, CANCELLATION, PREFETCH};

    /// Elements per step.
    const STEP: usize = 16;

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

    /// 16 stored 2-byte floats (one 256-bit load) as four vectors of four `f64`, exactly, in
    /// an order of their own (the sums do not depend on it).
    trait Widen16 {
        /// # Safety
        /// The CPU must support AVX2 and F16C.
        unsafe fn widen16(b: __m256i) -> [__m256d; 4];
    }

    impl Widen16 for Bf16 {
        #[inline]
        #[target_feature(enable = "avx2,f16c")]
        unsafe fn widen16(b: __m256i) -> [__m256d; 4] {
            // A bf16 is the upper half of an f32: interleaving zero words below each element
            // (within each 128-bit lane) gives 2 x 8 f32, exactly.
            let zero = _mm256_setzero_si256();
            let lo = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, b));
            let hi = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, b));
            let ((a, b), (c, d)) = (widen(lo), widen(hi));
            [a, b, c, d]
        }
    }

    impl Widen16 for F16 {
        #[inline]
        #[target_feature(enable = "avx2,f16c")]
        unsafe fn widen16(b: __m256i) -> [__m256d; 4] {
            let lo = _mm256_cvtph_ps(_mm256_castsi256_si128(b));
            let hi = _mm256_cvtph_ps(_mm256_extracti128_si256::<1>(b));
            let ((a, b), (c, d)) = (widen(lo), widen(hi));
            [a, b, c, d]
        }
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn chunk_moments(format: Format, bytes: &[u8], zero_eps: f64) -> Option<Moments> {
        // One monomorphized loop per format: no per-element dispatch.
        match format {
            Format::F32 => moments::<F32>(format, bytes, zero_eps),
            Format::Bf16 => moments16::<Bf16>(format, bytes, zero_eps),
            Format::F16 => moments16::<F16>(format, bytes, zero_eps),
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    fn moments<L: Load>(format: Format, bytes: &[u8], zero_eps: f64) -> Option<Moments> {
        let size = format.size();
        let n = bytes.len() / size;
        if n == 0 {
            return Some(Moments::default());
        }
        let steps = n / STEP;
        let ptr = bytes.as_ptr();
        // One pass over the bytes: sums of d = x - c and d^2 about a shift c taken from the
        // chunk (its first element), then mean = c + S1/n and m2 = S2 - S1^2/n. With c inside
        // the data the cancellation in m2 is mild; when it is not (S1^2/n > CANCELLATION * m2)
        // the chunk goes to the exact two-pass path instead (see below).
        let c = super::tail_moments(format, &bytes[..size], zero_eps).min;
        if !c.is_finite() {
            return None;
        }
        let shift = _mm256_set1_pd(c);
        // min, max and the zero count work on the f32 values (8 lanes, exact); the sums widen
        // to f64, into independent accumulators that hide the latency of the additions.
        let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
        let eps = _mm256_set1_ps(f32_threshold(zero_eps));
        let (mut s1, mut s2) = ([_mm256_setzero_pd(); 4], [_mm256_setzero_pd(); 4]);
        let (mut lo, mut hi) = ([_mm256_set1_ps(f32::INFINITY); 2], [_mm256_set1_ps(f32::NEG_INFINITY); 2]);
        let mut zeros = [_mm256_setzero_si256(); 2];
        for i in 0..steps {
            // Ask for the data PREFETCH bytes ahead: the loop's long dependency chains keep too
            // few loads in flight for the hardware prefetcher alone to reach memory speed. A
            // prefetch never faults, so the address may lie past the end.
            _mm_prefetch::<_MM_HINT_T0>(ptr.wrapping_add(i * STEP * size + PREFETCH).cast());
            // SAFETY: i < steps: the STEP elements at i * STEP lie inside `bytes`.
            let f = unsafe { [L::load(ptr.add(i * STEP * size)), L::load(ptr.add((i * STEP + 8) * size))] };
            for (h, &x) in f.iter().enumerate() {
                let (a, b) = widen(x);
                let (da, db) = (_mm256_sub_pd(a, shift), _mm256_sub_pd(b, shift));
                s1[2 * h] = _mm256_add_pd(s1[2 * h], da);
                s1[2 * h + 1] = _mm256_add_pd(s1[2 * h + 1], db);
                s2[2 * h] = _mm256_fmadd_pd(da, da, s2[2 * h]);
                s2[2 * h + 1] = _mm256_fmadd_pd(db, db, s2[2 * h + 1]);
                lo[h] = _mm256_min_ps(x, lo[h]);
                hi[h] = _mm256_max_ps(x, hi[h]);
                // A true comparison is all ones (-1): subtracting it counts one.
                let z = _mm256_cmp_ps::<_CMP_LE_OQ>(_mm256_and_ps(x, abs_mask), eps);
                zeros[h] = _mm256_sub_epi32(zeros[h], _mm256_castps_si256(z));
            }
        }
        let mut sum1 = hsum(_mm256_add_pd(_mm256_add_pd(s1[0], s1[1]), _mm256_add_pd(s1[2], s1[3])));
        let mut sum2 = hsum(_mm256_add_pd(_mm256_add_pd(s2[0], s2[1]), _mm256_add_pd(s2[2], s2[3])));
        let mut min = f64::from(hfold8(_mm256_min_ps(lo[0], lo[1]), f32::min));
        let mut max = f64::from(hfold8(_mm256_max_ps(hi[0], hi[1]), f32::max));
        let mut zero_count = {
            let mut lanes = [0u32; 8];
            // SAFETY: eight u32 fit in `lanes`; unaligned store.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), _mm256_add_epi32(zeros[0], zeros[1])) };
            lanes.iter().map(|&c| u64::from(c)).sum::<u64>()
        };
        let tail = super::tail_moments(format, &bytes[steps * STEP * size..n * size], zero_eps);
        if tail.count() != tail.finite {
            return None;
        }
        if tail.finite > 0 {
            // The tail's sums about c, from its own mean and m2.
            let (k, d) = (tail.finite as f64, tail.mean - c);
            sum1 += k * d;
            sum2 += tail.m2 + k * d * d;
            min = min.min(tail.min);
            max = max.max(tail.max);
            zero_count += tail.zeros;
        }
        // NaN or an infinity anywhere makes the sums non-finite (finite f32 values cannot
        // overflow an f64 sum of a chunk); min/max ignore NaN, the sums do not.
        if !sum1.is_finite() || !sum2.is_finite() {
            return None;
        }
        let nf = n as f64;
        let correction = sum1 * sum1 / nf;
        let m2 = sum2 - correction;
        // m2 loses about log10(correction / m2) digits to cancellation: up to CANCELLATION
        // that still leaves ~1e-12 relative accuracy; beyond it, the exact two-pass path.
        if correction > CANCELLATION * m2 {
            return None;
        }
        Some(Moments {
            finite: n as u64,
            mean: c + sum1 / nf,
            m2: m2.max(0.0),
            min,
            max,
            nan: 0,
            pos_inf: 0,
            neg_inf: 0,
            zeros: zero_count,
        })
    }

    /// Vector steps after which the 16-bit per-lane counters are added up (they hold at most
    /// one count per step, so this must stay below `i16::MAX`).
    const COUNTER_STEPS: usize = 1 << 12;

    /// The kernel for the 2-byte formats (`BF16`, `F16`), 16 elements per 256-bit load, leaner
    /// than [`moments`] since two-byte elements arrive twice as fast for the same bandwidth:
    ///
    /// - min, max, the zero count and the NaN/Inf check work on the stored 16-bit patterns,
    ///   16 lanes at a time: for sign-magnitude bits `b`, `b ^ ((b >> 15) & 0x7FFF)` (an
    ///   arithmetic shift) orders as the values do (`-0` just below `+0`), and `|x| <= eps`
    ///   exactly when `b & 0x7FFF <= T` for `T` the pattern of the largest value `<= eps`;
    ///   NaN and infinities are the patterns beyond the infinities' keys;
    /// - the sums use the values widened exactly to `f64` (no rounding before the `f64`
    ///   additions, so the accuracy is that of [`moments`]), about no shift: the sums of `x`
    ///   and `x^2`, with the same cancellation guard (a chunk whose mean is far from zero
    ///   compared with its spread goes to the exact two-pass path).
    #[target_feature(enable = "avx2,fma,f16c")]
    fn moments16<W: Widen16>(format: Format, bytes: &[u8], zero_eps: f64) -> Option<Moments> {
        let n = bytes.len() / 2;
        if n == 0 {
            return Some(Moments::default());
        }
        let steps = n / STEP;
        let ptr = bytes.as_ptr();
        let magnitude = _mm256_set1_epi16(i16::MAX);
        let threshold = _mm256_set1_epi16(zero_bits(format, zero_eps));
        let (mut s1, mut s2) = ([_mm256_setzero_pd(); 4], [_mm256_setzero_pd(); 4]);
        let (mut lo, mut hi) = (_mm256_set1_epi16(i16::MAX), _mm256_set1_epi16(i16::MIN));
        let mut above = 0u64;
        for block in (0..steps).step_by(COUNTER_STEPS) {
            let mut counts = _mm256_setzero_si256();
            for i in block..steps.min(block + COUNTER_STEPS) {
                _mm_prefetch::<_MM_HINT_T0>(ptr.wrapping_add(i * STEP * 2 + PREFETCH).cast());
                // SAFETY: i < steps: the 16 elements (32 bytes) at i * STEP lie inside `bytes`.
                let b = unsafe { _mm256_loadu_si256(ptr.add(i * STEP * 2).cast()) };
                let key = _mm256_xor_si256(b, _mm256_and_si256(_mm256_srai_epi16::<15>(b), magnitude));
                lo = _mm256_min_epi16(lo, key);
                hi = _mm256_max_epi16(hi, key);
                // A true comparison is all ones (-1): subtracting it counts one.
                let gt = _mm256_cmpgt_epi16(_mm256_and_si256(b, magnitude), threshold);
                counts = _mm256_sub_epi16(counts, gt);
                // SAFETY: the CPU has AVX2 and F16C (this function's features).
                let x = unsafe { W::widen16(b) };
                for j in 0..4 {
                    s1[j] = _mm256_add_pd(s1[j], x[j]);
                    s2[j] = _mm256_fmadd_pd(x[j], x[j], s2[j]);
                }
            }
            let mut lanes = [0u16; 16];
            // SAFETY: sixteen u16 fit in `lanes`; unaligned store.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), counts) };
            above += lanes.iter().map(|&c| u64::from(c)).sum::<u64>();
        }
        let (min_key, max_key) = (hfold16(lo, i16::min), hfold16(hi, i16::max));
        let sum1 = hsum(_mm256_add_pd(_mm256_add_pd(s1[0], s1[1]), _mm256_add_pd(s1[2], s1[3])));
        let sum2 = hsum(_mm256_add_pd(_mm256_add_pd(s2[0], s2[1]), _mm256_add_pd(s2[2], s2[3])));
        super::finish16(format, bytes, Body16 { done: steps * STEP, sum1, sum2, min_key, max_key, above }, zero_eps)
    }

    #[target_feature(enable = "avx2")]
    fn hfold16(v: __m256i, f: impl Fn(i16, i16) -> i16) -> i16 {
        let mut lanes = [0i16; 16];
        // SAFETY: sixteen i16 fit in `lanes`; unaligned store.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v) };
        lanes.iter().copied().fold(lanes[0], f)
    }

    /// The largest `f32` not above `eps`: for an `f32` value `x`, `x <= eps` exactly when
    /// `x <= f32_threshold(eps)` (NaN stays NaN: nothing compares true, as in `f64`).
    fn f32_threshold(eps: f64) -> f32 {
        let e = eps as f32;
        if f64::from(e) <= eps || e.is_nan() {
            return e;
        }
        // One step down (e > eps, so e is not -Inf).
        let bits = e.to_bits();
        match e {
            _ if e > 0.0 => f32::from_bits(bits - 1),
            _ if e == 0.0 => -f32::from_bits(1),
            _ => f32::from_bits(bits + 1),
        }
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
    fn hfold8(v: __m256, f: impl Fn(f32, f32) -> f32) -> f32 {
        let mut lanes = [0f32; 8];
        // SAFETY: eight f32 fit in `lanes`; unaligned store.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes.iter().copied().fold(lanes[0], f)
    }

    #[target_feature(enable = "avx2")]
    fn hfold(v: __m256d, f: impl Fn(f64, f64) -> f64) -> f64 {
        let mut lanes = [0f64; 4];
        // SAFETY: four f64 fit in `lanes`; unaligned store.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), v) };
        f(f(lanes[0], lanes[1]), f(lanes[2], lanes[3]))
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! The 2-byte kernel in AVX-512: the AVX2 kernel's method (see `avx2::moments16`) on 32
    //! elements per 512-bit load, which halves the widening shuffles per element (port 5 bounds
    //! the AVX2 loop). The zero count comes from a comparison mask and `popcnt`.

    use std::arch::x86_64::*;

    use super::{zero_bits, Body16, Format, Moments, PREFETCH};

    /// Elements per step.
    const STEP: usize = 32;

    /// # Safety
    /// The CPU must support AVX-512 F, BW and DQ, and POPCNT.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,popcnt")]
    pub(super) unsafe fn moments16(format: Format, bytes: &[u8], zero_eps: f64) -> Option<Moments> {
        let n = bytes.len() / 2;
        if n == 0 {
            return Some(Moments::default());
        }
        let steps = n / STEP;
        let ptr = bytes.as_ptr();
        let magnitude = _mm512_set1_epi16(i16::MAX);
        let threshold = _mm512_set1_epi16(zero_bits(format, zero_eps));
        let (mut s1, mut s2) = ([_mm512_setzero_pd(); 4], [_mm512_setzero_pd(); 4]);
        let (mut lo, mut hi) = (_mm512_set1_epi16(i16::MAX), _mm512_set1_epi16(i16::MIN));
        let mut above = 0u64;
        for i in 0..steps {
            _mm_prefetch::<_MM_HINT_T0>(ptr.wrapping_add(i * STEP * 2 + PREFETCH).cast());
            // SAFETY: i < steps: the 32 elements (64 bytes) at i * STEP lie inside `bytes`.
            let b = unsafe { _mm512_loadu_si512(ptr.add(i * STEP * 2).cast()) };
            let key = _mm512_xor_si512(b, _mm512_and_si512(_mm512_srai_epi16::<15>(b), magnitude));
            lo = _mm512_min_epi16(lo, key);
            hi = _mm512_max_epi16(hi, key);
            above += u64::from(_mm512_cmpgt_epi16_mask(_mm512_and_si512(b, magnitude), threshold).count_ones());
            let x = widen32(format, b);
            for j in 0..4 {
                s1[j] = _mm512_add_pd(s1[j], x[j]);
                s2[j] = _mm512_fmadd_pd(x[j], x[j], s2[j]);
            }
        }
        let sum = |v: [__m512d; 4]| {
            let mut lanes = [0f64; 8];
            // SAFETY: eight f64 fit in `lanes`; unaligned store.
            unsafe {
                _mm512_storeu_pd(
                    lanes.as_mut_ptr(),
                    _mm512_add_pd(_mm512_add_pd(v[0], v[1]), _mm512_add_pd(v[2], v[3])),
                )
            };
            lanes.iter().sum::<f64>()
        };
        let fold = |v: __m512i, f: fn(i16, i16) -> i16| {
            let mut lanes = [0i16; 32];
            // SAFETY: 32 i16 fit in `lanes`; unaligned store.
            unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), v) };
            lanes.iter().copied().fold(lanes[0], f)
        };
        let body = Body16 {
            done: steps * STEP,
            sum1: sum(s1),
            sum2: sum(s2),
            min_key: fold(lo, i16::min),
            max_key: fold(hi, i16::max),
            above,
        };
        super::finish16(format, bytes, body, zero_eps)
    }

    /// 32 stored 2-byte floats as four vectors of eight `f64`, exactly, in an order of their
    /// own (the sums do not depend on it).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq")]
    fn widen32(format: Format, b: __m512i) -> [__m512d; 4] {
        let (first, second) = match format {
            // A bf16 is the upper half of an f32: in each 32-bit lane the low element shifted
            // up and the high element with the low half cleared are two f32, exactly.
            Format::Bf16 => (
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(b)),
                _mm512_castsi512_ps(_mm512_and_si512(b, _mm512_set1_epi32(0xFFFF_0000_u32 as i32))),
            ),
            Format::F16 | Format::F32 => {
                (_mm512_cvtph_ps(_mm512_castsi512_si256(b)), _mm512_cvtph_ps(_mm512_extracti64x4_epi64::<1>(b)))
            }
        };
        let lo = |f: __m512| _mm512_cvtps_pd(_mm512_castps512_ps256(f));
        let hi = |f: __m512| _mm512_cvtps_pd(_mm512_extractf32x8_ps::<1>(f));
        [lo(first), hi(first), lo(second), hi(second)]
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
        return std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c");
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// Runs `body` with every 2-byte kernel the CPU has (AVX-512 and AVX2, or AVX2 alone).
    fn each_kernel(body: impl Fn()) {
        for force_avx2 in [false, true] {
            FORCE_AVX2.with(|f| f.set(force_avx2));
            body();
        }
        FORCE_AVX2.with(|f| f.set(false));
    }

    /// The kernel against the general decode + `Moments::of`.
    #[test]
    fn kernel_matches_the_general_path() {
        each_kernel(|| {
            for format in [Format::F32, Format::Bf16, Format::F16] {
                for n in [0, 1, 15, 16, 17, 31, 63, 1000, 65_536 + 7] {
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
        });
    }

    /// The zero count compares f32 values with an f32 threshold: it must count exactly what
    /// `abs(x) <= eps` in f64 counts, also for thresholds between two f32 values.
    #[test]
    fn zero_threshold_is_exact() {
        let tiny = 1e-8f32;
        let above = f32::from_bits(tiny.to_bits() + 1);
        let xs: Vec<f32> = [0.0, tiny, -tiny, above, -above, 1.0].iter().copied().cycle().take(40).collect();
        let bytes = encode(Format::F32, &xs);
        let mut decoded = vec![0f64; xs.len()];
        decode_plain_f64(Dtype::F32, ByteOrder::Little, &bytes, &mut decoded);
        let between = (f64::from(tiny) + f64::from(above)) / 2.0;
        for eps in [0.0, 1e-8, f64::from(tiny), between, f64::from(above), 1e300, -1.0, f64::NAN] {
            let Some(got) = chunk_moments(Format::F32, &bytes, eps) else {
                assert!(!has_avx2());
                return;
            };
            assert_eq!(got.zeros, Moments::of(&decoded, eps).zeros, "eps {eps:e}");
        }
    }

    /// A first element far from the others would cost the one-pass variance too many digits:
    /// such a chunk is left to the exact two-pass path; a milder one is accepted and accurate.
    #[test]
    fn shift_far_from_the_data_goes_to_the_exact_path() {
        let mut xs = values(4096);
        xs[0] = 1e4;
        assert_eq!(chunk_moments(Format::F32, &encode(Format::F32, &xs), 1e-8), None);
        xs[0] = 1.0;
        let bytes = encode(Format::F32, &xs);
        let Some(got) = chunk_moments(Format::F32, &bytes, 1e-8) else {
            assert!(!has_avx2());
            return;
        };
        let mut decoded = vec![0f64; xs.len()];
        decode_plain_f64(Dtype::F32, ByteOrder::Little, &bytes, &mut decoded);
        let want = Moments::of(&decoded, 1e-8);
        assert!((got.m2 - want.m2).abs() <= 1e-12 * want.m2, "{} vs {}", got.m2, want.m2);
    }

    /// The 2-byte kernel reads min, max and zeros from the stored patterns: over every finite
    /// pattern of each format (subnormals, both zeros, the extremes), in a scrambled order,
    /// it must give exactly what decoding to f64 gives, and sums as accurate.
    #[test]
    fn two_byte_kernel_on_every_finite_pattern() {
        each_kernel(|| {
            for (format, inf) in [(Format::Bf16, 0x7F80u16), (Format::F16, 0x7C00)] {
                let mut bits: Vec<u16> = (0..=u16::MAX).filter(|b| b & 0x7FFF < inf).collect();
                // A fixed permutation (odd multiplier mod 2^16 on the positions).
                let len = bits.len();
                bits = (0..len).map(|i| bits[(i * 40_503) % len]).collect();
                let bytes: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
                let mut decoded = vec![0f64; len];
                decode_plain_f64(format.dtype(), ByteOrder::Little, &bytes, &mut decoded);
                for eps in [0.0, 1e-8, 1e-3, f64::from(half::f16::MIN_POSITIVE_SUBNORMAL), -1.0] {
                    let want = Moments::of(&decoded, eps);
                    let Some(got) = chunk_moments(format, &bytes, eps) else {
                        assert!(!has_avx2(), "finite values, the kernel must answer");
                        return;
                    };
                    let what = format!("{format:?} eps={eps:e}");
                    assert_eq!(
                        (got.finite, got.zeros, got.min, got.max),
                        (want.finite, want.zeros, want.min, want.max),
                        "{what}"
                    );
                    assert!((got.mean - want.mean).abs() <= 1e-12 * (want.m2 / len as f64).sqrt(), "{what}");
                    assert!((got.m2 - want.m2).abs() <= 1e-12 * want.m2, "{what}");
                }
            }
        });
    }

    /// Zero thresholds between two representable 2-byte values, and at them, count exactly
    /// what `abs(x) <= eps` counts in f64; so do signed zeros as min and max.
    #[test]
    fn two_byte_zero_threshold_is_exact() {
        each_kernel(|| {
            for format in [Format::Bf16, Format::F16] {
                let xs: Vec<f32> = [0.0, -0.0, 1e-4, -1e-4, 2e-4, 0.5, -3.0].iter().copied().cycle().take(70).collect();
                let bytes = encode(format, &xs);
                let mut decoded = vec![0f64; xs.len()];
                decode_plain_f64(format.dtype(), ByteOrder::Little, &bytes, &mut decoded);
                let small = decoded[2];
                let next = decoded[4];
                for eps in [0.0, small, (small + next) / 2.0, next, 1e300, f64::INFINITY, -0.0, f64::NAN] {
                    let Some(got) = chunk_moments(format, &bytes, eps) else {
                        assert!(!has_avx2());
                        return;
                    };
                    let want = Moments::of(&decoded, eps);
                    assert_eq!(got.zeros, want.zeros, "{format:?} eps {eps:e}");
                    assert_eq!((got.min, got.max), (want.min, want.max), "{format:?}");
                }
                let zeros = encode(format, &[-0.0; 32]);
                let got = chunk_moments(format, &zeros, 0.0);
                assert!(got.is_none_or(|m| m.min == 0.0 && m.max == 0.0 && m.zeros == 32 && m.m2 == 0.0));
            }
        });
    }

    #[test]
    fn non_finite_chunks_go_to_the_general_path() {
        each_kernel(|| {
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
        });
    }
}
