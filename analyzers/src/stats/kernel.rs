//! The statistics of a chunk read straight from its stored bytes, for the common float
//! formats (little-endian `F32`, `BF16`, `F16`), at memory speed.
//!
//! Same arithmetic as [`Moments::of`] (values widened exactly to `f64`, a mean pass then a
//! sum of squared deviations over the chunk while it is in cache), with 16 independent `f64`
//! accumulators per quantity so that the compiler can keep four AVX2 registers busy per
//! quantity and hide the latency of the additions. The chunk's order of additions differs
//! from the sequential loop only in rounding (relative error near `2^-53` either way).
//!
//! The hot loops are compiled twice: for the baseline x86-64 target and with AVX2 + FMA
//! enabled; the AVX2 version is chosen at run time when the CPU has it, so the release binary
//! still runs on any x86-64. A chunk holding NaN or an infinity returns `None`: the caller
//! then takes the general path, which counts them as numpy does.

use weightlens_core::{ByteOrder, Dtype};

use super::Moments;

/// Independent accumulators per quantity (16 `f64` = four 256-bit registers).
const LANES: usize = 16;

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
}

/// One element format: its size and its exact value as `f64`.
trait Elem {
    const SIZE: usize;
    /// The value of the element in `b` (exactly `SIZE` bytes); an `f16` infinity or NaN
    /// decodes to a finite stand-in and is flagged by [`Elem::special`] instead.
    fn get(b: &[u8]) -> f64;
    /// 1 when the element is an infinity or NaN that `get` cannot show (only `f16`).
    fn special(b: &[u8]) -> u64;
}

struct F32;
struct Bf16;
struct F16;

fn bytes2(b: &[u8]) -> u16 {
    u16::from_le_bytes([b.first().copied().unwrap_or(0), b.get(1).copied().unwrap_or(0)])
}

impl Elem for F32 {
    const SIZE: usize = 4;
    #[inline(always)]
    fn get(b: &[u8]) -> f64 {
        f64::from(f32::from_le_bytes(b.try_into().unwrap_or_default()))
    }
    #[inline(always)]
    fn special(_: &[u8]) -> u64 {
        0
    }
}

impl Elem for Bf16 {
    const SIZE: usize = 2;
    #[inline(always)]
    fn get(b: &[u8]) -> f64 {
        f64::from(f32::from_bits(u32::from(bytes2(b)) << 16))
    }
    #[inline(always)]
    fn special(_: &[u8]) -> u64 {
        0
    }
}

impl Elem for F16 {
    const SIZE: usize = 2;
    /// Exponent and mantissa moved into an `f32` and rescaled by `2^112` (the difference of
    /// the exponent biases): exact for normal and subnormal halves, branch-free.
    #[inline(always)]
    fn get(b: &[u8]) -> f64 {
        let h = u32::from(bytes2(b));
        let magnitude = f32::from_bits((h & 0x7fff) << 13) * f32::from_bits(0x7780_0000); // 2^112
        f64::from(if h & 0x8000 != 0 { -magnitude } else { magnitude })
    }
    #[inline(always)]
    fn special(b: &[u8]) -> u64 {
        u64::from(bytes2(b) & 0x7c00 == 0x7c00)
    }
}

/// The statistics of the whole elements in `bytes`, or `None` when they include NaN or an
/// infinity.
pub(crate) fn chunk_moments(format: Format, bytes: &[u8], zero_eps: f64) -> Option<Moments> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { avx2::chunk_moments(format, bytes, zero_eps) };
    }
    portable_chunk_moments(format, bytes, zero_eps)
}

/// [`chunk_moments`] compiled for the baseline target (also used by the tests to check the
/// dispatched version against).
pub(crate) fn portable_chunk_moments(format: Format, bytes: &[u8], zero_eps: f64) -> Option<Moments> {
    match format {
        Format::F32 => moments_of::<F32>(bytes, zero_eps),
        Format::Bf16 => moments_of::<Bf16>(bytes, zero_eps),
        Format::F16 => moments_of::<F16>(bytes, zero_eps),
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn chunk_moments(format: Format, bytes: &[u8], zero_eps: f64) -> Option<Moments> {
        match format {
            Format::F32 => moments_of::<F32>(bytes, zero_eps),
            Format::Bf16 => moments_of::<Bf16>(bytes, zero_eps),
            Format::F16 => moments_of::<F16>(bytes, zero_eps),
        }
    }
}

/// The two passes; `inline(always)` so that each caller compiles it for its own target
/// features.
#[inline(always)]
fn moments_of<E: Elem>(bytes: &[u8], zero_eps: f64) -> Option<Moments> {
    let n = bytes.len() / E::SIZE;
    if n == 0 {
        return Some(Moments::default());
    }
    let bytes = &bytes[..n * E::SIZE];
    let blocks = bytes.chunks_exact(E::SIZE * LANES);
    let tail = blocks.remainder();

    let mut sum = [0f64; LANES];
    let mut min = [f64::INFINITY; LANES];
    let mut max = [f64::NEG_INFINITY; LANES];
    let mut zeros = [0u64; LANES];
    let mut special = [0u64; LANES];
    for block in blocks.clone() {
        for (l, b) in block.chunks_exact(E::SIZE).enumerate().take(LANES) {
            let x = E::get(b);
            sum[l] += x;
            // `x < m ? x : m` (not f64::min) compiles to one min instruction; NaN is caught
            // through the sum below.
            min[l] = if x < min[l] { x } else { min[l] };
            max[l] = if x > max[l] { x } else { max[l] };
            zeros[l] += u64::from(x.abs() <= zero_eps);
            special[l] += E::special(b);
        }
    }
    let mut total = sum.iter().sum::<f64>();
    let mut lo = min.iter().copied().fold(f64::INFINITY, |a, b| if b < a { b } else { a });
    let mut hi = max.iter().copied().fold(f64::NEG_INFINITY, |a, b| if b > a { b } else { a });
    let mut zero_count = zeros.iter().sum::<u64>();
    let mut special_count = special.iter().sum::<u64>();
    for b in tail.chunks_exact(E::SIZE) {
        let x = E::get(b);
        total += x;
        lo = if x < lo { x } else { lo };
        hi = if x > hi { x } else { hi };
        zero_count += u64::from(x.abs() <= zero_eps);
        special_count += E::special(b);
    }
    // Any NaN or infinity makes the sum non-finite (finite f32 values cannot overflow an
    // f64 sum of a chunk); f16 infinities/NaN are counted separately.
    if !total.is_finite() || special_count > 0 {
        return None;
    }
    let mean = total / n as f64;

    let mut m2 = [0f64; LANES];
    for block in blocks {
        for (l, b) in block.chunks_exact(E::SIZE).enumerate().take(LANES) {
            let d = E::get(b) - mean;
            m2[l] = d.mul_add(d, m2[l]);
        }
    }
    let mut m2_total = m2.iter().sum::<f64>();
    for b in tail.chunks_exact(E::SIZE) {
        let d = E::get(b) - mean;
        m2_total = d.mul_add(d, m2_total);
    }
    Some(Moments {
        finite: n as u64,
        mean,
        m2: m2_total,
        min: lo,
        max: hi,
        nan: 0,
        pos_inf: 0,
        neg_inf: 0,
        zeros: zero_count,
    })
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

    fn dtype(format: Format) -> Dtype {
        match format {
            Format::F32 => Dtype::F32,
            Format::Bf16 => Dtype::BF16,
            Format::F16 => Dtype::F16,
        }
    }

    /// The kernel (dispatched and portable) against the general decode + `Moments::of`.
    #[test]
    fn kernel_matches_the_general_path() {
        for format in [Format::F32, Format::Bf16, Format::F16] {
            for n in [0, 1, 15, 16, 17, 1000, 65_536 + 7] {
                let bytes = encode(format, &values(n));
                let mut decoded = vec![0f64; n];
                decode_plain_f64(dtype(format), ByteOrder::Little, &bytes, &mut decoded);
                let want = Moments::of(&decoded, 1e-8);
                for got in [chunk_moments(format, &bytes, 1e-8), portable_chunk_moments(format, &bytes, 1e-8)] {
                    let got = got.expect("finite values");
                    let what = format!("{format:?} n={n}");
                    assert_eq!((got.finite, got.zeros, got.min, got.max), (want.finite, want.zeros, want.min, want.max));
                    // Both sum in f64 in different orders: each is within ~sqrt(n) * 2^-53 of
                    // the exact sum, so they agree to far better than 1e-12.
                    assert!((got.mean - want.mean).abs() <= 1e-12 * want.mean.abs(), "{what}");
                    assert!((got.m2 - want.m2).abs() <= 1e-12 * want.m2, "{what}: {} vs {}", got.m2, want.m2);
                }
            }
        }
    }

    #[test]
    fn f16_decoding_is_exact_for_every_finite_half() {
        for h in 0..=u16::MAX {
            let want = half::f16::from_bits(h);
            let b = h.to_le_bytes();
            if want.is_finite() {
                assert_eq!(F16::get(&b).to_bits(), want.to_f64().to_bits(), "{h:#06x}");
                assert_eq!(F16::special(&b), 0);
            } else {
                assert_eq!(F16::special(&b), 1, "{h:#06x}");
            }
        }
    }

    #[test]
    fn non_finite_chunks_go_to_the_general_path() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut xs = values(100);
            xs[37] = bad;
            for format in [Format::F32, Format::Bf16, Format::F16] {
                assert_eq!(chunk_moments(format, &encode(format, &xs), 1e-8), None, "{format:?} {bad}");
            }
        }
        // An f16 overflow: 1e5 is finite in f32 but infinite in f16.
        assert_eq!(chunk_moments(Format::F16, &encode(Format::F16, &[1.0, 1e5]), 1e-8), None);
    }
}
