//! WeightWatcher's power-law fit of an eigenvalue spectrum, as WeightWatcher 0.7.7 runs it by
//! default (`analyze()` with `pl_package='ww'`, no `xmin`/`xmax`, no `fix_fingers`).
//!
//! The rules, from its source:
//! - `WeightWatcher.fit_powerlaw` (weightwatcher.py) fits only the eigenvalues above
//!   `EVALS_THRESH = 1e-5` (an absolute cut, constants.py) and reports `num_pl_spikes` as the
//!   number of eigenvalues `>= xmin`, and the `warning` by `OVER_TRAINED_THRESH = 2` and
//!   `UNDER_TRAINED_THRESH = 6`;
//! - `WWFit.fit_power_law_standard` (WW_powerlaw.py), for `N >= SMALL_N_CUTOFF = 20` sorted
//!   eigenvalues `x`: every `x_i` but the largest is a candidate `xmin` (duplicates included),
//!   `alpha_i = 1 + n / (sum_{j>=i} ln x_j - n ln x_i)` with `n = N - i`, and when `alpha_i > 1`
//!   the one-sided KS distance `D_i = max_k |1 - (x_{i+k} / x_i)^(1 - alpha_i) - k / n|`
//!   (`k = 0..n`; `D_i = 1` otherwise); the first smallest `D_i` wins;
//! - `WWFit.fit_powerlaw_smallN`, for `N < 20`: tails shorter than `k_min = 8` and degenerate
//!   ones (`sum ln(x / xmin) <= 1e-12`) are skipped, `alpha_i = 1 + (n - 1) / sum ln(x_j / x_i)`
//!   (bias-corrected); with no tail left the whole sample fills the first candidate. It then
//!   picks the tail minimizing `J_i = D_i - 0.868 / sqrt(n)`, but `WWFit.__init__` overrides that
//!   choice with the first smallest `D_i` (skipped candidates keep `D = 1`, `alpha = 0`), and
//!   that is what `analyze()` reports, so that is the rule here;
//! - both: `sigma_i = (alpha_i - 1) / sqrt(N - i)`, `xmax` the largest eigenvalue.
//!
//! Two deliberate differences, both outside what a real layer produces: in the small-sample
//! fallback WeightWatcher's `sigma` is `-1 / sqrt(N)` (its `sigmas` array is computed before the
//! fallback fills `alpha`), here `(alpha - 1) / sqrt(N)`; a degenerate small sample (WeightWatcher:
//! `alpha = 0`) has no fit here.
//!
//! WeightWatcher fails the fit (it reports `-1`) with fewer than 2 eigenvalues above the cut;
//! here the fit is then `None` (empty cells).

/// Eigenvalues at or below this are left out of the fit (WeightWatcher's `EVALS_THRESH`).
pub const EVALS_THRESH: f64 = 1e-5;
/// Below this many eigenvalues the small-sample fit is used (WeightWatcher's `SMALL_N_CUTOFF`).
pub const SMALL_N_CUTOFF: usize = 20;
/// The shortest tail the small-sample fit considers (`fit_powerlaw_smallN`'s `k_min`).
pub const SMALL_N_MIN_TAIL: usize = 8;
/// `alpha` below this: WeightWatcher's `over-trained` warning.
pub const OVER_TRAINED_THRESH: f64 = 2.0;
/// `alpha` above this: WeightWatcher's `under-trained` warning.
pub const UNDER_TRAINED_THRESH: f64 = 6.0;

/// The small-sample objective's weight of the tail size (`0.868 / sqrt(n)`).
const SMALL_N_TAIL_WEIGHT: f64 = 0.868;
/// A tail with `sum ln(x / xmin)` at or below this is degenerate in the small-sample fit.
const SMALL_N_DEGENERATE: f64 = 1e-12;

/// The fitted power law of one spectrum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PowerLawFit {
    /// The exponent.
    pub alpha: f64,
    /// The smallest eigenvalue of the fitted tail.
    pub xmin: f64,
    /// The largest eigenvalue.
    pub xmax: f64,
    /// The KS distance of the chosen fit (WeightWatcher's `D`).
    pub d: f64,
    /// The standard error of `alpha`, `(alpha - 1) / sqrt(n)`.
    pub sigma: f64,
    /// How many eigenvalues are `>= xmin`.
    pub num_pl_spikes: usize,
}

impl PowerLawFit {
    /// WeightWatcher's `warning` for this fit: `over-trained` (`alpha < 2`), `under-trained`
    /// (`alpha > 6`), or none.
    pub fn warning(&self) -> Option<&'static str> {
        if self.alpha < OVER_TRAINED_THRESH {
            Some("over-trained")
        } else if self.alpha > UNDER_TRAINED_THRESH {
            Some("under-trained")
        } else {
            None
        }
    }
}

/// WeightWatcher's default power-law fit of `evals` (any order; values at or below
/// [`EVALS_THRESH`] and non-finite ones are left out). `None` with fewer than 2 eigenvalues left,
/// and for the small-sample fit of a degenerate sample (all eigenvalues equal to `1e-12` in the
/// logarithm), where WeightWatcher reports `alpha = 0`.
pub fn fit(evals: &[f64]) -> Option<PowerLawFit> {
    let mut x: Vec<f64> = evals.iter().copied().filter(|&e| e > EVALS_THRESH && e.is_finite()).collect();
    x.sort_by(f64::total_cmp);
    if x.len() < 2 {
        return None;
    }
    let logs: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let candidates =
        if x.len() < SMALL_N_CUTOFF { small_n_candidates(&x, &logs)? } else { standard_candidates(&x, &logs) };
    // `WWFit.__init__`: the first smallest D wins, for both fits (the small-sample objective `J`
    // only decides which candidate its fallback fills, see `small_n_candidates`).
    let mut i = 0;
    for (k, c) in candidates.iter().enumerate() {
        // np.argmin: the first minimum, and a NaN is a minimum.
        if c.d < candidates[i].d || (c.d.is_nan() && !candidates[i].d.is_nan()) {
            i = k;
        }
    }
    let Candidate { alpha, d } = candidates[i];
    let xmin = x[i];
    Some(PowerLawFit {
        alpha,
        xmin,
        xmax: x[x.len() - 1],
        d,
        sigma: (alpha - 1.0) / ((x.len() - i) as f64).sqrt(),
        // fit_powerlaw counts `evals >= xmin`: equal values below the candidate count too.
        num_pl_spikes: x.len() - x.partition_point(|&v| v < xmin),
    })
}

/// One candidate `xmin`: WeightWatcher's `alphas[i]` and `Ds[i]`.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    alpha: f64,
    d: f64,
}

/// A candidate WeightWatcher skips keeps its initial values: `alpha` 0, `D` 1.
const SKIPPED: Candidate = Candidate { alpha: 0.0, d: 1.0 };

/// `sum_{j >= i} ln x_j - n ln x_i` for the tail starting at `i`: the denominator of the MLE.
/// Summed per tail (not by suffix sums) so that it rounds as WeightWatcher's `np.sum` does
/// closely enough to pick the same `xmin` on near ties.
fn tail_log_sum(logs: &[f64], i: usize) -> f64 {
    let n = (logs.len() - i) as f64;
    pairwise_sum(&logs[i..]) - n * logs[i]
}

/// numpy's pairwise summation (blocks of 8 accumulators below 128 elements), so that sums of
/// logarithms round as WeightWatcher's do.
pub(crate) fn pairwise_sum(v: &[f64]) -> f64 {
    if v.len() < 8 {
        return v.iter().sum();
    }
    if v.len() <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&v[..8]);
        let mut i = 8;
        while i + 8 <= v.len() {
            for (k, acc) in r.iter_mut().enumerate() {
                *acc += v[i + k];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &e in &v[i..] {
            res += e;
        }
        return res;
    }
    // Split at a multiple of 8, as numpy does.
    let half = (v.len() / 2) - (v.len() / 2) % 8;
    pairwise_sum(&v[..half]) + pairwise_sum(&v[half..])
}

/// The one-sided KS distance `max_k |1 - (tail_k / xmin)^(1 - alpha) - k / n|`.
fn ks_distance(tail: &[f64], alpha: f64) -> f64 {
    let (xmin, n) = (tail[0], tail.len() as f64);
    tail.iter().enumerate().map(|(k, &v)| (1.0 - (v / xmin).powf(1.0 - alpha) - k as f64 / n).abs()).fold(0.0, f64::max)
}

/// `fit_power_law_standard`: every candidate's MLE and its KS distance (1 when `alpha <= 1`).
/// The candidates are independent (`O(n^2)` powers in all: 0.13 s of one core for 4096
/// eigenvalues), so they are computed in parallel.
fn standard_candidates(x: &[f64], logs: &[f64]) -> Vec<Candidate> {
    use rayon::prelude::*;
    (0..x.len() - 1)
        .into_par_iter()
        .with_min_len(128)
        .map(|i| {
            let n = (x.len() - i) as f64;
            let alpha = 1.0 + n / tail_log_sum(logs, i);
            Candidate { alpha, d: if alpha > 1.0 { ks_distance(&x[i..], alpha) } else { 1.0 } }
        })
        .collect()
}

/// `fit_powerlaw_smallN`: the bias-corrected MLE over tails of at least [`SMALL_N_MIN_TAIL`]
/// values. When no tail qualifies (its objective `J = D - 0.868 / sqrt(n)` is nowhere finite),
/// the whole sample fills the first candidate; `None` when that sample is degenerate.
fn small_n_candidates(x: &[f64], logs: &[f64]) -> Option<Vec<Candidate>> {
    let mut any = false;
    let mut candidates: Vec<Candidate> = (0..x.len() - 1)
        .map(|i| {
            let n_int = x.len() - i;
            let s = tail_log_sum(logs, i);
            if n_int < SMALL_N_MIN_TAIL || s <= SMALL_N_DEGENERATE {
                return SKIPPED;
            }
            let n = n_int as f64;
            let alpha = 1.0 + (n - 1.0) / s;
            if alpha <= 1.0 {
                return Candidate { alpha, d: 1.0 };
            }
            let d = ks_distance(&x[i..], alpha);
            any |= (d - SMALL_N_TAIL_WEIGHT / n.sqrt()).is_finite();
            Candidate { alpha, d }
        })
        .collect();
    if !any {
        let s = tail_log_sum(logs, 0);
        if s <= SMALL_N_DEGENERATE {
            return None;
        }
        let alpha = 1.0 + (x.len() as f64 - 1.0) / s;
        candidates[0] = Candidate { alpha, d: ks_distance(x, alpha) };
    }
    Some(candidates)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact Pareto quantiles with exponent `alpha` and `xmin = 1`.
    fn pareto(n: usize, alpha: f64) -> Vec<f64> {
        (0..n).map(|i| (1.0 - (i as f64 + 0.5) / n as f64).powf(-1.0 / (alpha - 1.0))).collect()
    }

    #[test]
    fn recovers_a_pareto_exponent_and_skips_a_bulk() {
        let x = pareto(2000, 2.5);
        let f = fit(&x).expect("fit");
        assert!((f.alpha - 2.5).abs() < 0.05, "alpha {}", f.alpha);
        assert_eq!(f.xmax, x.iter().copied().fold(0.0, f64::max));
        assert!((f.sigma - (f.alpha - 1.0) / (f.num_pl_spikes as f64).sqrt()).abs() < 1e-15);
        let mut mixed: Vec<f64> = (0..500).map(|i| 0.1 + 0.5 * i as f64 / 500.0).collect();
        mixed.extend(&x);
        let f = fit(&mixed).expect("fit");
        assert!((f.alpha - 2.5).abs() < 0.1, "alpha with bulk {}", f.alpha);
        assert!(f.xmin >= 0.6 && f.num_pl_spikes <= 2000, "the bulk is not in the tail: {f:?}");
        assert_eq!(f.warning(), None);
    }

    #[test]
    fn standard_fit_is_the_brute_force_minimum() {
        // 30 values: every candidate by the formulas of the module doc, compared by hand.
        let x: Vec<f64> = (1..=30).map(|i| (i as f64).powf(1.7) + 0.01 * (i % 3) as f64).collect();
        let f = fit(&x).expect("fit");
        let n_all = x.len();
        let mut best = (f64::INFINITY, 0.0, 0);
        for i in 0..n_all - 1 {
            let n = (n_all - i) as f64;
            let s: f64 = x[i..].iter().map(|v| (v / x[i]).ln()).sum();
            let alpha = 1.0 + n / s;
            let d = (0..n_all - i)
                .map(|k| (1.0 - (x[i + k] / x[i]).powf(1.0 - alpha) - k as f64 / n).abs())
                .fold(0.0, f64::max);
            if d < best.0 {
                best = (d, alpha, i);
            }
        }
        assert!((f.alpha - best.1).abs() < 1e-12 * best.1, "{} vs {}", f.alpha, best.1);
        assert_eq!(f.xmin, x[best.2]);
        assert!((f.d - best.0).abs() < 1e-12);
        assert_eq!(f.num_pl_spikes, n_all - best.2);
    }

    #[test]
    fn small_samples_use_the_bias_corrected_fit() {
        // 10 values: only tails of 8..=10 are candidates; the smallest D among them wins.
        let x = [1.0, 1.5, 2.0, 3.0, 4.5, 7.0, 11.0, 17.0, 30.0, 55.0];
        let f = fit(&x).expect("fit");
        let by_hand = |i: usize| {
            let n = (x.len() - i) as f64;
            let s: f64 = x[i..].iter().map(|v| (v / x[i]).ln()).sum();
            let alpha = 1.0 + (n - 1.0) / s;
            let d = (0..x.len() - i)
                .map(|k| (1.0 - (x[i + k] / x[i]).powf(1.0 - alpha) - k as f64 / n).abs())
                .fold(0.0, f64::max);
            (d, alpha, i)
        };
        let best = (0..=2).map(by_hand).min_by(|a, b| a.0.total_cmp(&b.0)).expect("three tails");
        assert_eq!(f.xmin, x[best.2]);
        assert!((f.alpha - best.1).abs() < 1e-12, "{} vs {}", f.alpha, best.1);
        assert!((f.d - best.0).abs() < 1e-12);
        // Fewer than 8 values: the whole sample, bias-corrected.
        let few = [1.0, 2.0, 4.0, 8.0, 16.0];
        let f = fit(&few).expect("fit");
        let expected = 1.0 + 4.0 / few.iter().map(|v| v.ln()).sum::<f64>();
        assert_eq!((f.xmin, f.num_pl_spikes), (1.0, 5));
        assert!((f.alpha - expected).abs() < 1e-12);
        assert!((f.sigma - (expected - 1.0) / 5f64.sqrt()).abs() < 1e-12);
        // All equal: degenerate, no fit.
        assert_eq!(fit(&[3.0; 6]), None);
    }

    #[test]
    fn equal_values_below_xmin_count_as_spikes() {
        // A tie at the chosen xmin: WeightWatcher counts every value >= xmin.
        let mut x = pareto(200, 3.0);
        let f = fit(&x).expect("fit");
        let i = x.iter().position(|&v| v == f.xmin).expect("xmin is a value");
        x.insert(i, f.xmin);
        let g = fit(&x).expect("fit");
        if g.xmin == f.xmin {
            assert_eq!(g.num_pl_spikes, f.num_pl_spikes + 1);
        }
        assert_eq!(g.num_pl_spikes, x.iter().filter(|&&v| v >= g.xmin).count());
    }

    #[test]
    fn the_cut_and_too_few_values() {
        assert_eq!(fit(&[]), None);
        assert_eq!(fit(&[5.0, 1e-6, 0.0, f64::NAN]), None);
        let f = fit(&[1e-6, 1e-5, 2.0, 3.0]).expect("two values above the cut");
        assert_eq!(f.xmin, 2.0);
        assert_eq!(f.num_pl_spikes, 2);
    }

    #[test]
    fn pairwise_sum_is_a_sum() {
        let v: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        assert_eq!(pairwise_sum(&v), 499_500.0);
        assert_eq!(pairwise_sum(&v[..5]), 10.0);
        assert_eq!(pairwise_sum(&v[..130]), 8385.0);
    }
}
