//! One-pass statistics: mean, std, var (population), min, max, sparsity, NaN/Inf counts.
//!
//! Accuracy: each chunk of a tensor is decoded to `f64` and reduced in two passes over the
//! chunk while it is in cache (its mean, then the sum of squared deviations from it); chunk
//! results are merged with Chan et al.'s pairwise update, in chunk order (deterministic).
//! This keeps the error near `f64` rounding even when the mean dwarfs the spread (norm weights
//! around 1.0), where `E[x^2] - E[x]^2` would cancel catastrophically.
//!
//! Non-finite values follow numpy: any NaN makes mean/std/var/min/max NaN; infinities make the
//! mean +/-Inf (NaN when both signs occur) and std/var NaN. `finite_mean` is the mean of the
//! finite values only.

mod kernel;

use rayon::prelude::*;
use weightlens_core::table::columns;
use weightlens_core::{Column, ColumnType, Result, TensorAnalyzer, TensorView, Value};

/// Elements per chunk: 64K `f64`s (512 KiB) stay in L2 between the two passes.
const CHUNK: usize = 1 << 16;

/// Stored bytes read between two page releases in a tensor larger than this: large enough
/// that the `madvise` calls cost nothing measurable, small against any model.
pub const RELEASE_WINDOW: usize = 16 << 20;

/// The default sparsity threshold: `abs(x) <= 1e-8` counts as zero (docs/output-spec.md).
pub const DEFAULT_ZERO_EPS: f64 = 1e-8;

/// Partial statistics of a set of elements; mergeable in any grouping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    /// Finite elements seen.
    pub finite: u64,
    /// Mean of the finite elements.
    pub mean: f64,
    /// Sum of squared deviations of the finite elements from `mean`.
    pub m2: f64,
    /// Smallest non-NaN element (+Inf when none).
    pub min: f64,
    /// Largest non-NaN element (-Inf when none).
    pub max: f64,
    /// NaN elements.
    pub nan: u64,
    /// +Inf elements.
    pub pos_inf: u64,
    /// -Inf elements.
    pub neg_inf: u64,
    /// Elements with `abs(x) <= zero_eps`.
    pub zeros: u64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments {
            finite: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            nan: 0,
            pos_inf: 0,
            neg_inf: 0,
            zeros: 0,
        }
    }
}

impl Moments {
    /// The statistics of `values`.
    pub fn of(values: &[f64], zero_eps: f64) -> Self {
        let mut m = Moments::default();
        let mut sum = 0.0;
        for &x in values {
            if x.is_finite() {
                m.finite += 1;
                sum += x;
                m.min = m.min.min(x);
                m.max = m.max.max(x);
            } else if x.is_nan() {
                m.nan += 1;
            } else if x > 0.0 {
                m.pos_inf += 1;
                m.max = f64::INFINITY;
            } else {
                m.neg_inf += 1;
                m.min = f64::NEG_INFINITY;
            }
            m.zeros += u64::from(x.abs() <= zero_eps);
        }
        if m.finite == 0 {
            return m;
        }
        m.mean = sum / m.finite as f64;
        let mean = m.mean;
        m.m2 = values.iter().filter(|x| x.is_finite()).map(|&x| (x - mean) * (x - mean)).sum();
        m
    }

    /// The statistics of the union of `self` and `other` (Chan et al.).
    pub fn merge(self, other: Moments) -> Moments {
        let n = self.finite + other.finite;
        let (mean, m2) = if self.finite == 0 {
            (other.mean, other.m2)
        } else if other.finite == 0 {
            (self.mean, self.m2)
        } else {
            let (na, nb) = (self.finite as f64, other.finite as f64);
            let delta = other.mean - self.mean;
            let mean = self.mean + delta * nb / (na + nb);
            (mean, self.m2 + other.m2 + delta * delta * na * nb / (na + nb))
        };
        Moments {
            finite: n,
            mean,
            m2,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            nan: self.nan + other.nan,
            pos_inf: self.pos_inf + other.pos_inf,
            neg_inf: self.neg_inf + other.neg_inf,
            zeros: self.zeros + other.zeros,
        }
    }

    /// All elements counted.
    pub fn count(&self) -> u64 {
        self.finite + self.nan + self.pos_inf + self.neg_inf
    }

    /// The mean over all elements, numpy-style (NaN/Inf propagate); `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        if self.count() == 0 {
            return None;
        }
        Some(match (self.nan, self.pos_inf, self.neg_inf) {
            (0, 0, 0) => self.mean,
            (0, p, 0) if p > 0 => f64::INFINITY,
            (0, 0, _) => f64::NEG_INFINITY,
            _ => f64::NAN,
        })
    }

    /// The population variance over all elements; NaN when any element is not finite.
    pub fn var(&self) -> Option<f64> {
        if self.count() == 0 {
            return None;
        }
        if self.finite != self.count() {
            return Some(f64::NAN);
        }
        Some(self.m2 / self.finite as f64)
    }

    /// Minimum (NaN when any element is NaN).
    pub fn min(&self) -> Option<f64> {
        self.extreme(self.min)
    }

    /// Maximum (NaN when any element is NaN).
    pub fn max(&self) -> Option<f64> {
        self.extreme(self.max)
    }

    fn extreme(&self, v: f64) -> Option<f64> {
        match self.count() {
            0 => None,
            _ if self.nan > 0 => Some(f64::NAN),
            _ => Some(v),
        }
    }
}

/// Computes the statistics of every element of `view`, in parallel over chunks. Chunks of
/// little-endian `F32`/`BF16`/`F16` are read straight from the stored bytes by the vectorized
/// kernel in `stats/kernel.rs`; other types, and chunks holding NaN or infinities, are decoded
/// to `f64` first.
///
/// A tensor larger than [`RELEASE_WINDOW`] is read one window at a time (its chunks in
/// parallel), and each window's bytes are handed back ([`TensorView::done_with`]) once read:
/// a 2 GB embedding is then never resident whole.
pub fn moments(view: &TensorView<'_>, zero_eps: f64) -> Result<Moments> {
    let n = view.numel();
    let granule = view.granule().max(1);
    let chunk = CHUNK.div_ceil(granule) * granule;
    let starts: Vec<usize> = (0..n).step_by(chunk).collect();
    let fast = view.plain_bytes().and_then(|(dtype, order, bytes)| Some((kernel::Format::of(dtype, order)?, bytes)));
    // Windows only where the bytes can be handed back; otherwise all chunks run as one batch.
    let chunk_bytes = (view.raw_bytes().len() / n.max(1)).max(1) * chunk;
    let per_window = if view.releases() { (RELEASE_WINDOW / chunk_bytes).max(1) } else { starts.len().max(1) };
    let mut parts = Vec::with_capacity(starts.len());
    for window in starts.chunks(per_window) {
        let moments = window.par_iter().map_init(Vec::new, |buf: &mut Vec<f64>, &start| {
            let len = chunk.min(n - start);
            let from_kernel = fast.and_then(|(format, bytes)| {
                let size = format.size();
                kernel::chunk_moments(format, bytes.get(start * size..(start + len) * size)?, zero_eps)
            });
            if let Some(m) = from_kernel {
                return Ok(m);
            }
            buf.resize(chunk.min(n), 0.0);
            let part = &mut buf[..len];
            view.decode_f64(start, part)?;
            Ok(Moments::of(part, zero_eps))
        });
        parts.extend(moments.collect::<Result<Vec<Moments>>>()?);
        if starts.len() > per_window {
            let from = window[0];
            view.done_with(from, (from + chunk * window.len()).min(n) - from);
        }
    }
    // Merged in chunk order, not as rayon's reduction happens to pair them: the same tensor
    // gives bit-identical statistics in every run (and in every shard of a run).
    Ok(parts.into_iter().fold(Moments::default(), Moments::merge))
}

/// The built-in statistics analyzer.
#[derive(Clone, Copy, Debug)]
pub struct StatsAnalyzer {
    zero_eps: f64,
}

impl StatsAnalyzer {
    /// An analyzer counting `abs(x) <= zero_eps` as zero for `sparsity`.
    pub fn new(zero_eps: f64) -> Self {
        StatsAnalyzer { zero_eps }
    }
}

impl Default for StatsAnalyzer {
    fn default() -> Self {
        StatsAnalyzer::new(DEFAULT_ZERO_EPS)
    }
}

impl TensorAnalyzer for StatsAnalyzer {
    fn name(&self) -> &str {
        "stats"
    }

    fn columns(&self) -> Vec<Column> {
        use columns::*;
        [(MEAN, ColumnType::Float), (STD, ColumnType::Float), (VAR, ColumnType::Float), (SPARSITY, ColumnType::Float)]
            .into_iter()
            .chain([(MIN, ColumnType::Float), (MAX, ColumnType::Float), (NAN_COUNT, ColumnType::Int)])
            .chain([(INF_COUNT, ColumnType::Int), (FINITE_MEAN, ColumnType::Float)])
            .map(|(n, t)| Column::new(n, t))
            .collect()
    }

    fn analyze(&self, view: &TensorView<'_>) -> Result<Vec<Value>> {
        let m = moments(view, self.zero_eps)?;
        let n = m.count();
        let sparsity = (n > 0).then(|| m.zeros as f64 / n as f64);
        let finite_mean = (m.finite > 0).then_some(m.mean);
        Ok(vec![
            m.mean().into(),
            m.var().map(f64::sqrt).into(),
            m.var().into(),
            sparsity.into(),
            m.min().into(),
            m.max().into(),
            Value::Int(m.nan as i64),
            Value::Int((m.pos_inf + m.neg_inf) as i64),
            finite_mean.into(),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_equals_whole() {
        let xs: Vec<f64> = (0..1000).map(|i| 1.0 + ((i * 7919) % 101) as f64 * 1e-3).collect();
        let whole = Moments::of(&xs, 1e-8);
        let merged = xs.chunks(37).map(|c| Moments::of(c, 1e-8)).fold(Moments::default(), Moments::merge);
        assert!((whole.mean - merged.mean).abs() < 1e-15);
        assert!((whole.m2 - merged.m2).abs() / whole.m2 < 1e-12);
        assert_eq!((whole.min, whole.max), (merged.min, merged.max));
    }

    #[test]
    fn non_finite_values_follow_numpy() {
        let m = Moments::of(&[1.0, f64::NAN, f64::INFINITY, -2.0], 1e-8);
        assert!(m.mean().unwrap().is_nan() && m.var().unwrap().is_nan() && m.min().unwrap().is_nan());
        assert_eq!((m.nan, m.pos_inf), (1, 1));
        assert_eq!(m.mean, -0.5); // finite mean
        let m = Moments::of(&[1.0, f64::INFINITY], 1e-8);
        assert_eq!(m.mean(), Some(f64::INFINITY));
        assert!(m.var().unwrap().is_nan());
        assert_eq!(m.max(), Some(f64::INFINITY));
        let m = Moments::of(&[f64::INFINITY, f64::NEG_INFINITY], 1e-8);
        assert!(m.mean().unwrap().is_nan());
    }

    /// Many chunks, many threads: every run gives the same bits (the merge order is fixed).
    #[test]
    fn multi_chunk_statistics_are_deterministic() {
        use std::borrow::Cow;
        use std::sync::Arc;
        use weightlens_core::{ByteOrder, Dtype, Framework, TensorInfo};
        let n = 37 * CHUNK + 11;
        let bytes: Vec<u8> = (0..n).flat_map(|i| (((i * 7919) % 10007) as f32 * 1e-4 - 0.3).to_le_bytes()).collect();
        let file: Arc<std::path::Path> = Arc::from(std::path::Path::new("t.safetensors"));
        for dtype in [Dtype::F32, Dtype::I32] {
            let info = TensorInfo::new("t", dtype, Framework::SAFETENSORS, vec![n as u64], file.clone(), 0, 0);
            let view = TensorView::plain(&info, Cow::Borrowed(&bytes), dtype, ByteOrder::Little).unwrap();
            let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
            let first = pool.install(|| moments(&view, 1e-8)).unwrap();
            for _ in 0..20 {
                let again = pool.install(|| moments(&view, 1e-8)).unwrap();
                assert_eq!((again.mean.to_bits(), again.m2.to_bits()), (first.mean.to_bits(), first.m2.to_bits()));
            }
        }
    }

    /// A tensor larger than the release window is handed back window by window, every stored
    /// byte exactly once and in order, with statistics bit-identical to a run without release.
    #[test]
    fn large_tensors_release_their_bytes_window_by_window() {
        use std::borrow::Cow;
        use std::sync::{Arc, Mutex};
        use weightlens_core::{ByteOrder, Dtype, Framework, TensorInfo};
        let n = RELEASE_WINDOW / 4 * 5 + 123; // 2.5 windows of BF16 bytes and a partial chunk
        let bytes: Vec<u8> =
            (0..n).flat_map(|i| half::bf16::from_f32(((i % 977) as f32 - 400.0) * 1e-3).to_le_bytes()).collect();
        let file: Arc<std::path::Path> = Arc::from(std::path::Path::new("t.safetensors"));
        let info = TensorInfo::new("t", Dtype::BF16, Framework::SAFETENSORS, vec![n as u64], file, 0, 0);
        let plain = TensorView::plain(&info, Cow::Borrowed(&bytes), Dtype::BF16, ByteOrder::Little).unwrap();
        let released = Mutex::new(Vec::new());
        let base = bytes.as_ptr() as usize;
        let record = |part: &[u8]| released.lock().unwrap().push((part.as_ptr() as usize - base, part.len()));
        let hooked = plain.clone().with_release(&record);
        let (a, b) = (moments(&plain, 1e-8).unwrap(), moments(&hooked, 1e-8).unwrap());
        assert_eq!((a.mean.to_bits(), a.m2.to_bits(), a.zeros), (b.mean.to_bits(), b.m2.to_bits(), b.zeros));
        drop(hooked);
        let released = released.into_inner().unwrap();
        assert_eq!(released.len(), 3, "{released:?}");
        let mut next = 0;
        for &(offset, len) in &released {
            assert_eq!(offset, next);
            assert!(len <= RELEASE_WINDOW);
            next += len;
        }
        assert_eq!(next, bytes.len());
        // A small tensor is left to the pipeline's release of the whole tensor.
        let calls = Mutex::new(0);
        let count = |_: &[u8]| *calls.lock().unwrap() += 1;
        let info_small = TensorInfo::new("s", Dtype::BF16, Framework::SAFETENSORS, vec![1000], info.file.clone(), 0, 0);
        let small = TensorView::plain(&info_small, Cow::Borrowed(&bytes[..2000]), Dtype::BF16, ByteOrder::Little)
            .unwrap()
            .with_release(&count);
        moments(&small, 1e-8).unwrap();
        assert_eq!(*calls.lock().unwrap(), 0);
    }

    #[test]
    fn empty_has_no_statistics() {
        let m = Moments::of(&[], 1e-8);
        assert_eq!((m.mean(), m.var(), m.min()), (None, None, None));
    }

    #[test]
    fn large_offset_keeps_precision() {
        // Values 1e8 + {0, 1}: naive E[x^2]-E[x]^2 loses every digit of the variance.
        let xs: Vec<f64> = (0..100_000).map(|i| 1e8 + (i % 2) as f64).collect();
        let m = xs.chunks(4096).map(|c| Moments::of(c, 0.0)).fold(Moments::default(), Moments::merge);
        assert!((m.var().unwrap() - 0.25).abs() < 1e-9);
    }
}
