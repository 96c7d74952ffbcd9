//! Spectral metrics of a matrix from its singular values (`--spectral`).
//!
//! - `sigma_max`: the spectral norm (largest singular value);
//! - `frobenius_norm`: `sqrt(sum sigma_i^2)` (= the root of the sum of squared elements);
//! - `stable_rank`: `||W||_F^2 / sigma_max^2`;
//! - `effective_rank`: `exp(H(p))` with `p_i = sigma_i / sum sigma_j` (Roy & Vetterli, 2007);
//! - `condition_number`: `sigma_max / sigma_min` over all `min(rows, cols)` singular values
//!   (+Inf when `sigma_min` is 0);
//! - WeightWatcher 0.7.7's per-layer metrics, with its names, from the eigenvalues `lambda_i =
//!   sigma_i^2` (`WeightWatcher.apply_norm_metrics` and `apply_powerlaw`, weightwatcher.py):
//!   `alpha`, `xmin`, `xmax`, `D`, `sigma`, `num_pl_spikes` and `warning` of its power-law fit
//!   ([`crate::powerlaw`]), `alpha_weighted = alpha * log10(lambda_max)`, `log_alpha_norm =
//!   log10(sum lambda_i^alpha)`, `log_norm = log10(sum lambda_i)` and `log_spectral_norm =
//!   log10(lambda_max)` (its `norm` and `spectral_norm` are the SQUARED Frobenius and spectral
//!   norms), and `entropy` (`RMT_Util.matrix_entropy`). Its `stable_rank` is the one above;
//! - its Marchenko-Pastur fit (`analyze(mp_fit=True)`): `num_spikes`, `sigma_mp`, `mp_softrank`
//!   ([`crate::marchenko_pastur`]).
//!
//! [`SpectralAnalyzer`] computes them for the `rows x cols` matrix of every tensor of 2 or more
//! dimensions from its singular values ([`crate::singular`] says how they are computed and how
//! accurate they are). Empty for 0-d/1-d tensors and matrices holding NaN/Inf; a zero (or empty)
//! matrix has `sigma_max` and `frobenius_norm` 0 and the other four empty (0/0). When the run also
//! wants the rank, the analyzer derives it from the same singular values (one decomposition, not
//! two) and fills the `rank` and `rank_method` columns as well.

use weightlens_core::{Column, ColumnType, Error, Result, TensorAnalyzer, TensorView, Value};

use crate::conv::{ww_conv_dims, ww_slice, ConvMode, WwConvDims, CONV2D_NORM_SCALE};
use crate::marchenko_pastur::{self, MpFit};
use crate::powerlaw::{self, PowerLawFit};
use crate::rand_distance;
use crate::rank::{finite_values, rank_by_svd, working_dims, RankAnalyzer, RankError, RankMode};
use crate::singular::{singular_values, singular_values_of_view, Method};

/// Names of the spectral columns, in table order (after the built-in columns).
pub mod columns {
    use weightlens_core::ColumnType::{self, Float, Int, Str};

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
    /// WeightWatcher's power-law exponent of the eigenvalue spectrum.
    pub const ALPHA: &str = "alpha";
    /// `alpha * log10(lambda_max)`.
    pub const ALPHA_WEIGHTED: &str = "alpha_weighted";
    /// `log10(sum lambda_i^alpha)`.
    pub const LOG_ALPHA_NORM: &str = "log_alpha_norm";
    /// `log10(sum lambda_i)` (the squared Frobenius norm).
    pub const LOG_NORM: &str = "log_norm";
    /// `log10(lambda_max)` (the squared spectral norm).
    pub const LOG_SPECTRAL_NORM: &str = "log_spectral_norm";
    /// The smallest eigenvalue of the fitted power-law tail.
    pub const XMIN: &str = "xmin";
    /// The largest eigenvalue of the fit.
    pub const XMAX: &str = "xmax";
    /// The KS distance of the power-law fit.
    pub const D: &str = "D";
    /// The standard error of `alpha`.
    pub const SIGMA: &str = "sigma";
    /// The number of eigenvalues in the power-law tail.
    pub const NUM_PL_SPIKES: &str = "num_pl_spikes";
    /// `over-trained` / `under-trained` by WeightWatcher's alpha thresholds.
    pub const WARNING: &str = "warning";
    /// WeightWatcher's matrix entropy.
    pub const ENTROPY: &str = "entropy";
    /// Eigenvalues above the Marchenko-Pastur bulk (WeightWatcher's `mp_fit`).
    pub const NUM_SPIKES: &str = "num_spikes";
    /// The fitted Marchenko-Pastur scale of the rescaled spectrum.
    pub const SIGMA_MP: &str = "sigma_mp";
    /// `bulk_max / lambda_max` of the Marchenko-Pastur fit.
    pub const MP_SOFTRANK: &str = "mp_softrank";
    /// WeightWatcher's `rand_distance` (`--spectral=full` only, after the others).
    pub const RAND_DISTANCE: &str = "rand_distance";
    /// All of them with their types, in order (without [`RAND_DISTANCE`]).
    pub const ALL: [(&str, ColumnType); 20] = [
        (SIGMA_MAX, Float),
        (FROBENIUS_NORM, Float),
        (STABLE_RANK, Float),
        (EFFECTIVE_RANK, Float),
        (CONDITION_NUMBER, Float),
        (ALPHA, Float),
        (ALPHA_WEIGHTED, Float),
        (LOG_ALPHA_NORM, Float),
        (LOG_NORM, Float),
        (LOG_SPECTRAL_NORM, Float),
        (XMIN, Float),
        (XMAX, Float),
        (D, Float),
        (SIGMA, Float),
        (NUM_PL_SPIKES, Int),
        (WARNING, Str),
        (ENTROPY, Float),
        (NUM_SPIKES, Int),
        (SIGMA_MP, Float),
        (MP_SOFTRANK, Float),
    ];
}

/// The number of spectral columns.
pub const COLUMN_COUNT: usize = columns::ALL.len();

/// Spectral metrics of one matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spectrum {
    /// Largest singular value.
    pub sigma_max: f64,
    /// Frobenius norm.
    pub frobenius_norm: f64,
    /// `sum lambda_i`, the squared Frobenius norm (WeightWatcher's `norm`).
    pub norm: f64,
    /// `||W||_F^2 / sigma_max^2`.
    pub stable_rank: f64,
    /// `exp` of the entropy of the normalized singular values.
    pub effective_rank: f64,
    /// `sigma_max / sigma_min`.
    pub condition_number: f64,
    /// WeightWatcher's matrix entropy (`RMT_Util.matrix_entropy`).
    pub entropy: f64,
    /// WeightWatcher's power-law fit of the eigenvalues (`None` when it has too few).
    pub fit: Option<PowerLawFit>,
    /// `sum lambda_i^alpha` (with the fit).
    pub alpha_norm: Option<f64>,
    /// WeightWatcher's Marchenko-Pastur fit (`None` when it cannot be computed).
    pub mp: Option<MpFit>,
}

/// The metrics of a matrix with singular values `sv` (any order, all >= 0) whose larger side is
/// `max_dim`; `None` for a zero matrix (every metric would be 0/0).
pub fn spectrum(sv: &[f64], max_dim: usize) -> Option<Spectrum> {
    spectrum_nm(sv, max_dim.max(sv.len()), sv.len())
}

/// [`spectrum`] of singular values `sv` pooled from one layer whose `N` and `M` (WeightWatcher's
/// names) are `n` and `m`: the entropy's rank tolerance uses `n`, the Marchenko-Pastur fit `Q = n
/// / m` and `m` (for a matrix, `n` and `m` are its larger and smaller sides; for a pooled
/// convolution, [`crate::conv`]).
pub fn spectrum_nm(sv: &[f64], n: usize, m: usize) -> Option<Spectrum> {
    let sigma_max = sv.iter().copied().fold(0.0, f64::max);
    if sigma_max.is_nan() || sigma_max <= 0.0 {
        return None;
    }
    let sigma_min = sv.iter().copied().fold(f64::INFINITY, f64::min);
    let mut evals: Vec<f64> = sv.iter().map(|s| s * s).collect();
    // Ascending, as WeightWatcher holds them (its sums then round the same way).
    evals.sort_by(f64::total_cmp);
    let fro2: f64 = evals.iter().sum();
    let total: f64 = sv.iter().sum();
    let entropy: f64 = sv.iter().map(|s| s / total).filter(|&p| p > 0.0).map(|p| -p * p.ln()).sum();
    let fit = powerlaw::fit(&evals);
    Some(Spectrum {
        sigma_max,
        frobenius_norm: fro2.sqrt(),
        norm: fro2,
        stable_rank: fro2 / (sigma_max * sigma_max),
        effective_rank: entropy.exp(),
        condition_number: if sigma_min > 0.0 { sigma_max / sigma_min } else { f64::INFINITY },
        entropy: matrix_entropy(sv, &evals, fro2, n),
        alpha_norm: fit.map(|f| evals.iter().map(|e| e.powf(f.alpha)).sum()),
        fit,
        mp: marchenko_pastur::fit(&evals, n, m),
    })
}

/// WeightWatcher's `RMT_Util.matrix_entropy(svals, N)`: with `p_i = lambda_i / sum lambda +
/// 1e-10` and `r` the numerical rank (`s_i > N * eps * s_max`, its `matrix_rank`),
/// `-sum p_i ln p_i / ln(r + 1e-10)`; `N` is the larger side.
fn matrix_entropy(sv: &[f64], evals: &[f64], sum: f64, max_dim: usize) -> f64 {
    const EPSILON: f64 = 1e-10; // WeightWatcher's EPSILON (constants.py)
    let sigma_max = sv.iter().copied().fold(0.0, f64::max);
    let tol = sigma_max * max_dim as f64 * f64::EPSILON;
    let rank = sv.iter().filter(|&&s| s > tol).count() as f64;
    let h: f64 = evals.iter().map(|e| e / sum + EPSILON).map(|p| -p * p.ln()).sum();
    h / (rank + EPSILON).ln()
}

/// The values of the spectral columns for singular values `sv` (any order, all >= 0) of a
/// matrix whose larger side is `max_dim`.
pub fn spectral_values(sv: &[f64], max_dim: usize) -> Vec<Value> {
    spectral_values_nm(sv, max_dim.max(sv.len()), sv.len())
}

/// [`spectral_values`] of a layer's pooled singular values with WeightWatcher's `N = n` and `M =
/// m` ([`spectrum_nm`]).
pub fn spectral_values_nm(sv: &[f64], n: usize, m: usize) -> Vec<Value> {
    let Some(s) = spectrum_nm(sv, n, m) else {
        let mut row = vec![Value::Null; COLUMN_COUNT];
        // A zero or empty matrix: its norms are 0, the ratios 0/0 and the logarithms -inf.
        if sv.iter().all(|&s| s == 0.0) {
            row[0] = Value::Float(0.0);
            row[1] = Value::Float(0.0);
        }
        return row;
    };
    let lambda_max = s.sigma_max * s.sigma_max;
    let log_spectral_norm = lambda_max.log10();
    let fit = |f: fn(&PowerLawFit) -> f64| s.fit.as_ref().map(f).into();
    vec![
        Value::Float(s.sigma_max),
        Value::Float(s.frobenius_norm),
        Value::Float(s.stable_rank),
        Value::Float(s.effective_rank),
        Value::Float(s.condition_number),
        fit(|f| f.alpha),
        s.fit.map(|f| f.alpha * log_spectral_norm).into(),
        s.alpha_norm.map(f64::log10).into(),
        Value::Float(s.norm.log10()),
        Value::Float(log_spectral_norm),
        fit(|f| f.xmin),
        fit(|f| f.xmax),
        fit(|f| f.d),
        fit(|f| f.sigma),
        s.fit.map(|f| Value::Int(f.num_pl_spikes as i64)).unwrap_or(Value::Null),
        s.fit.and_then(|f| f.warning()).map(|w| Value::Str(w.into())).unwrap_or(Value::Null),
        Value::Float(s.entropy),
        s.mp.map(|m| Value::Int(m.num_spikes as i64)).unwrap_or(Value::Null),
        s.mp.map(|m| m.sigma_mp).into(),
        s.mp.map(|m| m.mp_softrank).into(),
    ]
}

/// The spectral analyzer (`--spectral`): the six [`columns`], and optionally `rank` and
/// `rank_method` from the same singular values.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpectralAnalyzer {
    rank: Option<RankMode>,
    max_bytes: Option<u64>,
    rand_distance: bool,
    conv: ConvMode,
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

    /// Also fills [`columns::RAND_DISTANCE`] (`--spectral=full`): one more decomposition per matrix,
    /// of its seeded element permutation ([`crate::rand_distance`]).
    pub fn with_rand_distance(self, on: bool) -> Self {
        SpectralAnalyzer { rand_distance: on, ..self }
    }

    /// Analyzes 4-D tensors as `conv` says (`--conv`; [`crate::conv`]).
    pub fn with_conv(self, conv: ConvMode) -> Self {
        SpectralAnalyzer { conv, ..self }
    }

    /// The row of a 4-D tensor under `--conv ww`: the spectral columns from WeightWatcher's pooled
    /// slices, the rank (when asked for) of the tensor's matrix as without `--conv ww`.
    fn analyze_ww_conv(&self, view: &TensorView<'_>, dims: &WwConvDims) -> Result<Vec<Value>> {
        let mut cells = match self.rank {
            None => Vec::new(),
            Some(mode) => {
                let rank = RankAnalyzer::new(mode);
                match self.max_bytes {
                    Some(max) => rank.with_max_bytes(max).analyze(view)?,
                    None => rank.analyze(view)?,
                }
            }
        };
        let pooled = ww_conv_singular_values(view, dims, self.max_bytes)?;
        let Some(sv) = pooled else {
            cells.extend(vec![Value::Null; COLUMN_COUNT + usize::from(self.rand_distance)]);
            return Ok(cells);
        };
        cells.extend(spectral_values_nm(&sv, dims.n, dims.m));
        if self.rand_distance {
            cells.push(self.ww_conv_rand_distance(view, dims, &sv)?);
        }
        Ok(cells)
    }

    /// `rand_distance` of a pooled convolution: each slice permuted with its own seeded
    /// permutation, the permuted spectra pooled (`apply_random_esd` over the layer's slices).
    fn ww_conv_rand_distance(&self, view: &TensorView<'_>, dims: &WwConvDims, sv: &[f64]) -> Result<Value> {
        let info = view.info();
        let Some(data) = finite_values(view)? else { return Ok(Value::Null) };
        let seed = rand_distance::permutation_seed(&info.name);
        let mut slice = Vec::new();
        let mut permuted = Vec::with_capacity(sv.len());
        for index in 0..dims.rf {
            ww_slice(&data, dims, index, CONV2D_NORM_SCALE, &mut slice);
            rand_distance::permute(&mut slice, seed.wrapping_add(index as u64));
            let s = singular_values(&slice, dims.rows, dims.cols, Method::for_matrix(dims.rows, dims.cols))
                .map_err(|e| Error::tensor(info.file.as_ref(), &info.name, e.to_string()))?;
            permuted.extend(s.values);
        }
        let sorted_evals = |sv: &[f64]| {
            let mut e: Vec<f64> = sv.iter().map(|s| s * s).collect();
            e.sort_by(f64::total_cmp);
            e
        };
        Ok(rand_distance::jensen_shannon_distance(&sorted_evals(sv), &sorted_evals(&permuted)).into())
    }

    /// WeightWatcher's `rand_distance` of a matrix whose singular values are `values`: the
    /// Jensen-Shannon distance of its sorted eigenvalues to those of its permuted copy.
    fn rand_distance_of(&self, view: &TensorView<'_>, values: &[f64], rows: usize, cols: usize) -> Result<Value> {
        let info = view.info();
        let Some(mut data) = finite_values(view)? else { return Ok(Value::Null) };
        rand_distance::permute(&mut data, rand_distance::permutation_seed(&info.name));
        let permuted = singular_values(&data, rows, cols, Method::for_matrix(rows, cols))
            .map_err(|e| Error::tensor(info.file.as_ref(), &info.name, e.to_string()))?;
        let sorted_evals = |sv: &[f64]| {
            let mut e: Vec<f64> = sv.iter().map(|s| s * s).collect();
            e.sort_by(f64::total_cmp);
            e
        };
        Ok(rand_distance::jensen_shannon_distance(&sorted_evals(values), &sorted_evals(&permuted.values)).into())
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
        let rand = [Column::new(columns::RAND_DISTANCE, ColumnType::Float)];
        let rand = rand.into_iter().take(usize::from(self.rand_distance));
        rank.chain(columns::ALL.iter().map(|(name, ty)| Column::new(*name, *ty))).chain(rand).collect()
    }

    fn analyze(&self, view: &TensorView<'_>) -> Result<Vec<Value>> {
        let info = view.info();
        let rand_cells = |v: Value| if self.rand_distance { vec![v] } else { Vec::new() };
        let row = |rank: Vec<Value>, spectral: Vec<Value>| {
            Ok(rank.into_iter().chain(spectral).chain(rand_cells(Value::Null)).collect())
        };
        if self.conv == ConvMode::Ww {
            if let Some(dims) = ww_conv_dims(&info.shape) {
                return self.analyze_ww_conv(view, &dims);
            }
        }
        let Some((rows, cols)) = info.matrix_dims() else {
            return row(self.rank_cells(None), vec![Value::Null; COLUMN_COUNT]);
        };
        let mode = self.rank.map(|m| m.for_matrix(rows, cols));
        if rows == 0 || cols == 0 {
            return row(self.rank_cells(mode.map(|m| (0, m.as_str()))), spectral_values(&[], 0));
        }
        let (r, c) = working_dims(info, rows, cols, self.max_bytes, "spectrum")?;
        let fail = |e: RankError| Error::tensor(info.file.as_ref(), &info.name, e.to_string());
        let Some(sv) = singular_values_of_view(view, r, c)? else {
            // NaN/Inf: no singular values.
            return row(self.rank_cells(None), vec![Value::Null; COLUMN_COUNT]);
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
        let rand = if self.rand_distance { vec![self.rand_distance_of(view, &sv.values, r, c)?] } else { Vec::new() };
        let cells = self.rank_cells(rank).into_iter().chain(spectral_values(&sv.values, r.max(c)));
        Ok(cells.chain(rand).collect())
    }
}

/// The singular values of a 4-D tensor's WeightWatcher slices ([`crate::conv`]), each slice scaled
/// by [`CONV2D_NORM_SCALE`], pooled; `None` when the tensor holds NaN/Inf. Empty for an empty
/// tensor.
pub fn ww_conv_singular_values(
    view: &TensorView<'_>,
    dims: &WwConvDims,
    max_bytes: Option<u64>,
) -> Result<Option<Vec<f64>>> {
    let info = view.info();
    if dims.rows == 0 || dims.cols == 0 || dims.rf == 0 {
        return Ok(Some(Vec::new()));
    }
    let (rows, cols) = working_dims(info, dims.rows as u64, dims.cols as u64, max_bytes, "spectrum")?;
    let Some(data) = finite_values(view)? else { return Ok(None) };
    let mut slice = Vec::with_capacity(rows * cols);
    let mut pooled = Vec::with_capacity(rows.min(cols).saturating_mul(dims.rf));
    for index in 0..dims.rf {
        ww_slice(&data, dims, index, CONV2D_NORM_SCALE, &mut slice);
        let sv = singular_values(&slice, rows, cols, Method::for_matrix(rows, cols))
            .map_err(|e| Error::tensor(info.file.as_ref(), &info.name, e.to_string()))?;
        pooled.extend(sv.values);
    }
    Ok(Some(pooled))
}

/// The singular values a tensor's spectral columns come from under `conv`, with WeightWatcher's
/// `N` and `M` for them: the matrix's (larger and smaller side), or the pooled slices of a 4-D
/// tensor under [`ConvMode::Ww`]. `None` for tensors of fewer than 2 dimensions and tensors holding
/// NaN/Inf. The report's ESD plots (`--esd`) draw these.
pub fn layer_singular_values(
    view: &TensorView<'_>,
    conv: ConvMode,
    max_bytes: Option<u64>,
) -> Result<Option<(Vec<f64>, usize, usize)>> {
    let info = view.info();
    if conv == ConvMode::Ww {
        if let Some(dims) = ww_conv_dims(&info.shape) {
            return Ok(ww_conv_singular_values(view, &dims, max_bytes)?.map(|sv| (sv, dims.n, dims.m)));
        }
    }
    let Some((rows, cols)) = info.matrix_dims() else { return Ok(None) };
    if rows == 0 || cols == 0 {
        return Ok(Some((Vec::new(), 0, 0)));
    }
    let (r, c) = working_dims(info, rows, cols, max_bytes, "spectrum")?;
    let Some(sv) = singular_values_of_view(view, r, c)? else { return Ok(None) };
    let sv = sv.map_err(|e| Error::tensor(info.file.as_ref(), &info.name, e.to_string()))?;
    Ok(Some((sv.values, r.max(c), r.min(c))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_a_known_spectrum() {
        let s = spectrum(&[3.0, 4.0, 0.0], 3).expect("nonzero");
        assert_eq!(s.sigma_max, 4.0);
        assert!((s.frobenius_norm - 5.0).abs() < 1e-15);
        assert_eq!(s.norm, 25.0);
        assert!((s.stable_rank - 25.0 / 16.0).abs() < 1e-15);
        let (p, q) = (3.0f64 / 7.0, 4.0f64 / 7.0);
        assert!((s.effective_rank - (-(p * p.ln()) - q * q.ln()).exp()).abs() < 1e-15);
        assert_eq!(s.condition_number, f64::INFINITY);
        // matrix_entropy: p = lambda / sum + 1e-10 over all three, rank 2.
        let h: f64 = [9.0 / 25.0, 16.0 / 25.0, 0.0].iter().map(|p| p + 1e-10).map(|p: f64| -p * p.ln()).sum();
        assert!((s.entropy - h / (2.0f64 + 1e-10).ln()).abs() < 1e-15);
        // Two eigenvalues: the small-sample fit over the whole sample.
        let fit = s.fit.expect("fit");
        assert_eq!((fit.xmin, fit.xmax, fit.num_pl_spikes), (9.0, 16.0, 2));
        assert!((fit.alpha - (1.0 + 1.0 / (16.0f64 / 9.0).ln())).abs() < 1e-12);
        assert_eq!(spectrum(&[0.0, 0.0], 2), None);
        // Equal singular values: effective rank = count, condition 1, entropy 1.
        let flat = spectrum(&[2.0; 10], 10).expect("nonzero");
        assert!((flat.effective_rank - 10.0).abs() < 1e-12);
        assert_eq!(flat.condition_number, 1.0);
        assert!((flat.entropy - 1.0).abs() < 1e-8);
    }

    #[test]
    fn the_row_follows_the_columns() {
        let sv: Vec<f64> = (1..=40).map(|i| (i as f64).powf(-0.7)).collect();
        let row = spectral_values(&sv, 60);
        assert_eq!(row.len(), COLUMN_COUNT);
        let s = spectrum(&sv, 60).expect("nonzero");
        let fit = s.fit.expect("fit");
        let get = |name: &str| row[columns::ALL.iter().position(|(n, _)| *n == name).expect("column")].clone();
        let lambda_max = s.sigma_max * s.sigma_max;
        assert_eq!(get(columns::ALPHA), Value::Float(fit.alpha));
        assert_eq!(get(columns::ALPHA_WEIGHTED), Value::Float(fit.alpha * lambda_max.log10()));
        // Summed over the ascending eigenvalues (sv is descending).
        let alpha_norm: f64 = sv.iter().rev().map(|s| (s * s).powf(fit.alpha)).sum();
        assert_eq!(get(columns::LOG_ALPHA_NORM), Value::Float(alpha_norm.log10()));
        assert_eq!(get(columns::LOG_NORM), Value::Float(s.norm.log10()));
        assert_eq!(get(columns::NUM_PL_SPIKES), Value::Int(fit.num_pl_spikes as i64));
        assert_eq!(get(columns::D), Value::Float(fit.d));
        let mp = s.mp.expect("an MP fit");
        assert_eq!(get(columns::NUM_SPIKES), Value::Int(mp.num_spikes as i64));
        assert_eq!(get(columns::SIGMA_MP), Value::Float(mp.sigma_mp));
        assert_eq!(get(columns::MP_SOFTRANK), Value::Float(mp.mp_softrank));
        // A zero matrix: norms 0, the rest empty.
        let zero = spectral_values(&[0.0; 4], 4);
        assert_eq!(zero[..2], [Value::Float(0.0), Value::Float(0.0)]);
        assert!(zero[2..].iter().all(Value::is_null));
    }
}
