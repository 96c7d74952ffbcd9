//! `moments`: a weightlens plugin computing shape statistics of a weight distribution that the
//! built-in mean/std do not show, each in `f64` over the `f32` values the host decodes:
//!
//! | metric | definition (N values, mean m, population variance s2 = mean((x - m)^2)) |
//! |---|---|
//! | `kurtosis` | excess kurtosis `mean((x - m)^4) / s2^2 - 3` (0 for a normal distribution) |
//! | `skewness` | `mean((x - m)^3) / s2^1.5` |
//! | `l1_norm` | `sum(abs(x))` |
//! | `l2_norm` | `sqrt(sum(x^2))` |
//! | `max_abs` | `max(abs(x))` |
//! | `frac_6sigma` | fraction of values with `abs(x - m) > 6 * sqrt(s2)` |
//!
//! Undefined values are NaN: kurtosis and skewness of a constant tensor (s2 = 0), every metric
//! but the norms of an empty tensor, and everything a NaN or infinite value makes undefined.

use weightlens_plugin_sdk::{export_analyzer, Analyzer, Tensor};

/// The plugin (stateless, so thread-safe).
#[derive(Debug)]
pub struct Moments;

/// The metric names, in output order.
pub const METRICS: &[&str] = &["kurtosis", "skewness", "l1_norm", "l2_norm", "max_abs", "frac_6sigma"];

impl Analyzer for Moments {
    fn name() -> &'static str {
        "moments"
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn metrics() -> &'static [&'static str] {
        METRICS
    }

    fn create() -> Result<Self, String> {
        Ok(Moments)
    }

    fn analyze(&self, tensor: &Tensor<'_>) -> Result<Vec<f64>, String> {
        Ok(moments(tensor.values()).to_vec())
    }
}

export_analyzer!(Moments);

/// Values per partial sum: summing blocks separately keeps the rounding error of sums over
/// billions of values small without the cost of compensated summation.
const BLOCK: usize = 4096;

/// Sums `f(x)` over `values` in blocks.
fn block_sum(values: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    values.chunks(BLOCK).map(|block| block.iter().map(|&v| f(f64::from(v))).sum::<f64>()).sum()
}

/// The metrics of `values`, in the order of [`METRICS`].
pub fn moments(values: &[f32]) -> [f64; 6] {
    let l1 = block_sum(values, f64::abs);
    let l2 = block_sum(values, |x| x * x).sqrt();
    if values.is_empty() {
        return [f64::NAN, f64::NAN, l1, l2, f64::NAN, f64::NAN];
    }
    // NaN when any value is NaN (f32::max would skip it).
    let max_abs =
        values.iter().fold(0f64, |m, &v| if v.is_nan() || m.is_nan() { f64::NAN } else { m.max(f64::from(v.abs())) });

    let n = values.len() as f64;
    let mean = block_sum(values, |x| x) / n;
    let m2 = block_sum(values, |x| (x - mean).powi(2)) / n;
    let m3 = block_sum(values, |x| (x - mean).powi(3)) / n;
    let m4 = block_sum(values, |x| (x - mean).powi(4)) / n;
    let (kurtosis, skewness) = if m2 > 0.0 { (m4 / (m2 * m2) - 3.0, m3 / m2.powf(1.5)) } else { (f64::NAN, f64::NAN) };

    let sigma = m2.sqrt();
    let frac_6sigma = if sigma.is_finite() && mean.is_finite() {
        let outliers = values.iter().filter(|&&v| (f64::from(v) - mean).abs() > 6.0 * sigma).count();
        outliers as f64 / n
    } else {
        f64::NAN
    };
    [kurtosis, skewness, l1, l2, max_abs, frac_6sigma]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn small_known_values() {
        // mean 2.5, s2 = 1.25, m3 = 0, m4 = 2.5625 -> kurtosis 2.5625 / 1.5625 - 3 = -1.36
        let [k, s, l1, l2, max, frac] = moments(&[1.0, 2.0, 3.0, 4.0]);
        assert!(close(k, -1.36), "{k}");
        assert!(close(s, 0.0), "{s}");
        assert!(close(l1, 10.0) && close(l2, 30f64.sqrt()) && close(max, 4.0));
        assert_eq!(frac, 0.0);
    }

    #[test]
    fn skewness_sign_and_outliers() {
        // One far value among many zeros: positive skew, and it lies beyond 6 sigma.
        let mut v = vec![0.0f32; 999];
        v.push(1000.0);
        let [k, s, _, _, max, frac] = moments(&v);
        assert!(s > 0.0 && k > 0.0);
        assert_eq!(max, 1000.0);
        assert!(close(frac, 0.001), "{frac}");
    }

    #[test]
    fn undefined_values_are_nan() {
        let [k, s, l1, l2, max, frac] = moments(&[]);
        assert!(k.is_nan() && s.is_nan() && max.is_nan() && frac.is_nan());
        assert_eq!((l1, l2), (0.0, 0.0));

        let [k, s, _, _, max, frac] = moments(&[3.0; 5]);
        assert!(k.is_nan() && s.is_nan());
        assert_eq!((max, frac), (3.0, 0.0));

        let all = moments(&[1.0, f32::NAN, 2.0]);
        assert!(all.iter().all(|v| v.is_nan()), "{all:?}");
    }

    #[test]
    fn analyzer_returns_one_value_per_metric() {
        let t = Tensor::new(&[1.0, -1.0], &[2], "t", "F32");
        assert_eq!(Moments.analyze(&t).unwrap().len(), Moments::metrics().len());
    }
}
