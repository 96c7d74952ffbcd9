//! Spectral metrics of a matrix from its singular values (`--spectral`).
//!
//! - `sigma_max`: the spectral norm (largest singular value);
//! - `frobenius_norm`: `sqrt(sum sigma_i^2)` (= the root of the sum of squared elements);
//! - `stable_rank`: `||W||_F^2 / sigma_max^2`;
//! - `effective_rank`: `exp(H(p))` with `p_i = sigma_i / sum sigma_j` (Roy & Vetterli, 2007);
//! - `condition_number`: `sigma_max / sigma_min` over all `min(rows, cols)` singular values
//!   (+Inf when `sigma_min` is 0);
//! - `alpha`: WeightWatcher's power-law exponent of the eigenvalue spectrum `lambda_i =
//!   sigma_i^2`: for each candidate `xmin` among the eigenvalues, the maximum-likelihood
//!   `alpha = 1 + n / sum ln(lambda_i / xmin)` over the `n` eigenvalues `>= xmin`, and the
//!   `xmin` whose fit has the smallest Kolmogorov-Smirnov distance to the empirical tail wins
//!   (Clauset, Shalizi & Newman, 2009). Empty when fewer than [`ALPHA_MIN_TAIL`] eigenvalues
//!   are positive.
//!
//! [`SpectralAnalyzer`] computes them for the `rows x cols` matrix of every tensor of 2 or more
//! dimensions from its singular values ([`crate::singular`] says how they are computed and how
//! accurate they are). Empty for 0-d/1-d tensors and matrices holding NaN/Inf; a zero (or empty)
//! matrix has `sigma_max` and `frobenius_norm` 0 and the other four empty (0/0). When the run also
//! wants the rank, the analyzer derives it from the same singular values (one decomposition, not
//! two) and fills the `rank` and `rank_method` columns as well.

use weightlens_core::{Column, ColumnType, Error, Result, TensorAnalyzer, TensorView, Value};

use crate::rank::{rank_by_svd, working_dims, RankError, RankMode};
use crate::singular::singular_values_of_view;

/// Names of the spectral columns, in table order (after the built-in columns).
pub mod columns {
    /// Largest singular value.
    pub const SIGMA_MAX: &str = "sigma_max";
    /// Frobenius norm.
    pub const FROBENIUS_NORM: &str = "frobenius_norm";
    /// `frobenius_norm^2 / sigma_max^2`.
    pub const STABLE_RANK: &str = "stable_rank";
    /// `exp` of the entropy of the normalized singular values.
    pub const EFFECTIVE_RANK: &str = "effective_rank";
    /// `sigma_max / sigma_min`.
    pub const CONDITION_NUMBER: &str = "condition_number";
    /// Power-law exponent of the eigenvalue spectrum.
    pub const ALPHA: &str = "alpha";
    /// All of them, in order.
    pub const ALL: [&str; 6] = [SIGMA_MAX, FROBENIUS_NORM, STABLE_RANK, EFFECTIVE_RANK, CONDITION_NUMBER, ALPHA];
}

/// The fewest tail eigenvalues a power-law fit uses.
pub const ALPHA_MIN_TAIL: usize = 5;

/// Spectral metrics of one matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spectrum {
    /// Largest singular value.
    pub sigma_max: f64,
    /// Frobenius norm.
    pub frobenius_norm: f64,
    /// `||W||_F^2 / sigma_max^2`.
    pub stable_rank: f64,
    /// `exp` of the entropy of the normalized singular values.
    pub effective_rank: f64,
    /// `sigma_max / sigma_min`.
    pub condition_number: f64,
    /// Power-law exponent of the eigenvalue spectrum.
    pub alpha: Option<f64>,
}

/// The metrics of a matrix with singular values `sv` (any order, all >= 0); `None` for a zero
/// matrix (every metric would be 0/0).
pub fn spectrum(sv: &[f64]) -> Option<Spectrum> {
    let sigma_max = sv.iter().copied().fold(0.0, f64::max);
    if sigma_max.is_nan() || sigma_max <= 0.0 {
        return None;
    }
    let sigma_min = sv.iter().copied().fold(f64::INFINITY, f64::min);
    let fro2: f64 = sv.iter().map(|s| s * s).sum();
    let total: f64 = sv.iter().sum();
    let entropy: f64 = sv.iter().map(|s| s / total).filter(|&p| p > 0.0).map(|p| -p * p.ln()).sum();
    let evals: Vec<f64> = sv.iter().map(|s| s * s).collect();
    Some(Spectrum {
        sigma_max,
        frobenius_norm: fro2.sqrt(),
        stable_rank: fro2 / (sigma_max * sigma_max),
        effective_rank: entropy.exp(),
        condition_number: if sigma_min > 0.0 { sigma_max / sigma_min } else { f64::INFINITY },
        alpha: power_law_alpha(&evals),
    })
}

/// The power-law exponent of `evals` by MLE with `xmin` chosen by the KS distance.
pub fn power_law_alpha(evals: &[f64]) -> Option<f64> {
    let mut x: Vec<f64> = evals.iter().copied().filter(|&e| e > 0.0 && e.is_finite()).collect();
    x.sort_by(f64::total_cmp);
    let n = x.len();
    if n < ALPHA_MIN_TAIL {
        return None;
    }
    // Suffix sums of ln(x) give each candidate's MLE in O(1).
    let logs: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let mut suffix = vec![0.0; n + 1];
    for i in (0..n).rev() {
        suffix[i] = suffix[i + 1] + logs[i];
    }
    let mut best: Option<(f64, f64)> = None; // (distance, alpha)
    for start in 0..=n - ALPHA_MIN_TAIL {
        // Equal values: only the first of a run is a distinct xmin.
        if start > 0 && x[start] == x[start - 1] {
            continue;
        }
        let xmin = x[start];
        let tail = n - start;
        let sum_log = suffix[start] - tail as f64 * xmin.ln();
        if sum_log.is_nan() || sum_log <= 0.0 {
            continue;
        }
        let alpha = 1.0 + tail as f64 / sum_log;
        let distance = ks_distance(&x[start..], xmin, alpha);
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, alpha));
        }
    }
    best.map(|(_, alpha)| alpha)
}

/// The KS distance between the empirical CDF of the sorted `tail` and the power law
/// `P(X <= x) = 1 - (x / xmin)^(1 - alpha)`.
fn ks_distance(tail: &[f64], xmin: f64, alpha: f64) -> f64 {
    let n = tail.len() as f64;
    tail.iter()
        .enumerate()
        .map(|(i, &v)| {
            let model = 1.0 - (v / xmin).powf(1.0 - alpha);
            let (below, at) = (i as f64 / n, (i + 1) as f64 / n);
            (model - below).abs().max((at - model).abs())
        })
        .fold(0.0, f64::max)
}

/// The values of the six spectral columns for singular values `sv` (any order, all >= 0).
pub fn spectral_values(sv: &[f64]) -> [Value; 6] {
    match spectrum(sv) {
        Some(s) => [
            Value::Float(s.sigma_max),
            Value::Float(s.frobenius_norm),
            Value::Float(s.stable_rank),
            Value::Float(s.effective_rank),
            Value::Float(s.condition_number),
            s.alpha.into(),
        ],
        // A zero or empty matrix: its norms are 0, the ratios 0/0.
        None if sv.iter().all(|&s| s == 0.0) => {
            [Value::Float(0.0), Value::Float(0.0), Value::Null, Value::Null, Value::Null, Value::Null]
        }
        None => Default::default(),
    }
}

/// The spectral analyzer (`--spectral`): the six [`columns`], and optionally `rank` and
/// `rank_method` from the same singular values.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpectralAnalyzer {
    rank: Option<RankMode>,
    max_bytes: Option<u64>,
}

impl SpectralAnalyzer {
    /// An analyzer of the six spectral columns only.
    pub fn new() -> Self {
        SpectralAnalyzer::default()
    }

    /// Also fills `rank` and `rank_method` as `mode` asks (nothing for [`RankMode::None`]). The
    /// rank comes from the singular values already computed: exact whenever they decide it; when
    /// an eigenvalue of the Gram path lies in the rounding band, `Exact` computes the SVD as the
    /// rank analyzer does and `Approx` (and `Auto` above its threshold) counts it as it falls.
    pub fn with_rank(self, mode: RankMode) -> Self {
        SpectralAnalyzer { rank: (mode != RankMode::None).then_some(mode), ..self }
    }

    /// Refuses (with an error naming the tensor) matrices needing more than `max_bytes` of working
    /// memory (the same estimate as the rank's, [`crate::rank::rank_working_bytes`]).
    pub fn with_max_bytes(self, max_bytes: u64) -> Self {
        SpectralAnalyzer { max_bytes: Some(max_bytes), ..self }
    }

    /// The `rank` and `rank_method` cells (none when the rank is not asked for).
    fn rank_cells(&self, rank: Option<(usize, &str)>) -> Vec<Value> {
        match (self.rank, rank) {
            (None, _) => Vec::new(),
            (Some(_), Some((r, method))) => vec![Value::Int(r as i64), Value::Str(method.into())],
            (Some(_), None) => vec![Value::Null, Value::Null],
        }
    }
}

impl TensorAnalyzer for SpectralAnalyzer {
    fn name(&self) -> &str {
        "spectral"
    }

    fn columns(&self) -> Vec<Column> {
        let rank = [
            Column::new(weightlens_core::table::columns::RANK, ColumnType::Int),
            Column::new(weightlens_core::table::columns::RANK_METHOD, ColumnType::Str),
        ];
        let rank = rank.into_iter().take(if self.rank.is_some() { 2 } else { 0 });
        rank.chain(columns::ALL.iter().map(|name| Column::new(*name, ColumnType::Float))).collect()
    }

    fn analyze(&self, view: &TensorView<'_>) -> Result<Vec<Value>> {
        let info = view.info();
        let row = |rank: Vec<Value>, spectral: [Value; 6]| Ok(rank.into_iter().chain(spectral).collect());
        let Some((rows, cols)) = info.matrix_dims() else {
            return row(self.rank_cells(None), Default::default());
        };
        let mode = self.rank.map(|m| m.for_matrix(rows, cols));
        if rows == 0 || cols == 0 {
            return row(self.rank_cells(mode.map(|m| (0, m.as_str()))), spectral_values(&[]));
        }
        let (r, c) = working_dims(info, rows, cols, self.max_bytes, "spectrum")?;
        let fail = |e: RankError| Error::tensor(info.file.as_ref(), &info.name, e.to_string());
        let Some(sv) = singular_values_of_view(view, r, c)? else {
            // NaN/Inf: no singular values.
            return row(self.rank_cells(None), Default::default());
        };
        let sv = sv.map_err(fail)?;
        let rank = match (mode, sv.exact_rank()) {
            (None, _) => None,
            (Some(_), Some(rank)) => Some((rank, RankMode::Exact.as_str())),
            (Some(RankMode::Exact), None) => {
                Some((rank_by_svd(&view.to_f64_vec()?, r, c).map_err(fail)?, RankMode::Exact.as_str()))
            }
            (Some(_), None) => Some((sv.approx_rank(), RankMode::Approx.as_str())),
        };
        row(self.rank_cells(rank), spectral_values(&sv.values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_a_known_spectrum() {
        let s = spectrum(&[3.0, 4.0, 0.0]).expect("nonzero");
        assert_eq!(s.sigma_max, 4.0);
        assert!((s.frobenius_norm - 5.0).abs() < 1e-15);
        assert!((s.stable_rank - 25.0 / 16.0).abs() < 1e-15);
        let (p, q) = (3.0f64 / 7.0, 4.0f64 / 7.0);
        assert!((s.effective_rank - (-(p * p.ln()) - q * q.ln()).exp()).abs() < 1e-15);
        assert_eq!(s.condition_number, f64::INFINITY);
        assert_eq!(s.alpha, None);
        assert_eq!(spectrum(&[0.0, 0.0]), None);
        // Equal singular values: effective rank = count, condition 1.
        let flat = spectrum(&[2.0; 10]).expect("nonzero");
        assert!((flat.effective_rank - 10.0).abs() < 1e-12);
        assert_eq!(flat.condition_number, 1.0);
    }

    #[test]
    fn alpha_recovers_a_pareto_exponent() {
        // Exact Pareto quantiles with alpha = 2.5, xmin = 1: x_i = (1 - u_i)^(-1 / (alpha - 1)).
        let n = 2000;
        let x: Vec<f64> = (0..n).map(|i| (1.0 - (i as f64 + 0.5) / n as f64).powf(-1.0 / 1.5)).collect();
        let alpha = power_law_alpha(&x).expect("fit");
        assert!((alpha - 2.5).abs() < 0.05, "alpha {alpha}");
        // Below xmin, a flat bulk that the KS choice of xmin must skip.
        let mut mixed: Vec<f64> = (0..500).map(|i| 0.1 + 0.5 * i as f64 / 500.0).collect();
        mixed.extend(&x);
        let alpha = power_law_alpha(&mixed).expect("fit");
        assert!((alpha - 2.5).abs() < 0.1, "alpha with bulk {alpha}");
        assert_eq!(power_law_alpha(&[1.0, 2.0, 0.0]), None);
    }

    #[test]
    fn mle_matches_the_closed_form_for_a_fixed_tail() {
        let x = [1.0, 2.0, 4.0, 8.0, 16.0];
        // With xmin = 1 (the only candidate with 5 points): alpha = 1 + 5 / sum ln(x).
        let expected = 1.0 + 5.0 / (0.0 + 2f64.ln() + 4f64.ln() + 8f64.ln() + 16f64.ln());
        let alpha = power_law_alpha(&x).expect("fit");
        assert!((alpha - expected).abs() < 1e-12, "{alpha} vs {expected}");
    }
}
