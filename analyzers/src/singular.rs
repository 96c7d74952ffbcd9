//! All singular values of a matrix in `f64`, for the spectral metrics (`--spectral`).
//!
//! Two methods, chosen by the smaller side `n` (the larger is `k`):
//! - `n <=` [`SVD_MAX_SIDE`] ([`Method::Checked`]): the singular values of faer's SVD of `W`
//!   itself, accurate to about `u * sigma_max` (`u = 2^-53`), with values at or below
//!   `max(rows, cols) * eps * sigma_max` (numpy's `matrix_rank` tolerance) set to 0 as rounding
//!   noise. The SVD is only run when it is needed: first the Gram eigenvalues below are computed
//!   (an order of magnitude cheaper: all of MiniLM's 40 matrices in ~0.35 s of CPU against
//!   ~2.3 s), and kept when the rounding bound moves no singular value by more than
//!   [`CHECKED_RTOL`] relative at the expected rounding error `u (sqrt(k) + sqrt(n)) lambda_max`
//!   of the Gram eigenvalues, i.e. when `lambda_min >= u (sqrt(k) + sqrt(n)) lambda_max / 2e-6`:
//!   a condition number below ~22 000 at 384x384. On MiniLM the errors seen are ~40x below that
//!   estimate (condition number 28 899: 4.4e-8 relative, where the estimate says 1.8e-6), and the
//!   Gram eigenvalues differ from the SVD's by at most `1e-12` in every WeightWatcher metric.
//! - larger: the eigenvalues of the `f64` Gram matrix of the smaller side (`n^2 k / 2`
//!   multiply-adds; tall matrices and wide plain ones streamed into it),
//!   `sigma_i = sqrt(lambda_i)`, by faer's tridiagonalization and a root-free QL/QR
//!   ([`crate::tridiagonal`]) or, from side [`crate::sym_eigen::TWO_STAGE_MIN_DIM`] up, the
//!   two-stage reduction of [`crate::sym_eigen`] (same backward error, matrix-product speed).
//!   The SVD of `W` costs far more there (161 s against about 3 s for a 4096x4096 matrix on 2 cores).
//!   Rounding moves each eigenvalue by up to about `16 u (sqrt(k) + sqrt(n)) lambda_max` (the
//!   exact rank's guard band, [`crate::rank`]), so singular values below
//!   `sqrt(16 u (sqrt(k) + sqrt(n))) * sigma_max` (`~5e-7 sigma_max` for 4096x4096, `~6e-7` for
//!   4096x11008) are noise and are set to 0. Where it matters: a condition number above ~2e6
//!   reads as `+Inf` (numerically singular at that resolution); `effective_rank` loses the share
//!   `d` of `sum s` held by those values (relative change at most `d (1 + ln(n / d))`) and `alpha`
//!   is fit to the resolved eigenvalues only. Both change only for matrices with singular values
//!   below the resolution (numerically rank-deficient or very ill-conditioned); the norms and
//!   the stable rank move by less than `1e-12` relative.

use faer::{Mat, MatRef};
use weightlens_core::{Result, TensorView};

use crate::rank::{
    check_len, count_above, count_eigenvalues, count_eigenvalues_above, expected_rounding, finite_values, gram_of,
    gram_of_view, rounding_noise, RankError,
};
use crate::sym_eigen::symmetric_eigenvalues;

/// Matrices whose smaller side is at most this get [`Method::Checked`] (the SVD of `W` where the
/// Gram eigenvalues are not accurate enough); larger ones the Gram path.
pub const SVD_MAX_SIDE: usize = 512;

/// The Gram path of [`Method::Checked`] is kept when its rounding bound moves no singular value by
/// more than this, relative (the spec's tolerance for every spectral number).
pub const CHECKED_RTOL: f64 = 1e-6;

/// How singular values are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// faer's SVD of `W`.
    Svd,
    /// The eigenvalues of the `f64` Gram matrix of the smaller side.
    Gram,
    /// The Gram eigenvalues when their rounding bound keeps every singular value to
    /// [`CHECKED_RTOL`] relative (then they are above the SVD path's noise floor and the rank's
    /// guard band too), otherwise faer's SVD of `W`: the SVD's results at the Gram's cost for all
    /// but badly conditioned matrices.
    Checked,
}

impl Method {
    /// The method [`singular_values`] uses for a `rows x cols` matrix.
    pub fn for_matrix(rows: usize, cols: usize) -> Method {
        if rows.min(cols) <= SVD_MAX_SIDE {
            Method::Checked
        } else {
            Method::Gram
        }
    }
}

/// The singular values of one matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct SingularValues {
    /// All `min(rows, cols)` singular values (any order); those at or below `resolution` are 0.
    pub values: Vec<f64>,
    /// Singular values at or below this cannot be told from rounding noise.
    pub resolution: f64,
    /// The Gram path's eigenvalues and the length `k` of the products that formed them.
    gram: Option<(Vec<f64>, usize)>,
}

impl SingularValues {
    /// The exact numerical rank (docs/output-spec.md) when these values decide it: always for the SVD path;
    /// on the Gram path `None` when an eigenvalue lies in the rounding band around the threshold.
    pub fn exact_rank(&self) -> Option<usize> {
        match &self.gram {
            None => Some(count_above(&self.values)),
            Some((eig, k)) => count_eigenvalues(eig, *k, eig.len()),
        }
    }

    /// The rank counting every singular value above the threshold, including those in the
    /// rounding band (the approximate rank).
    pub fn approx_rank(&self) -> usize {
        match &self.gram {
            None => count_above(&self.values),
            Some((eig, _)) => count_eigenvalues_above(eig),
        }
    }
}

/// The singular values of the row-major `rows x cols` matrix in `data` (all values finite) by
/// `method`.
pub fn singular_values(
    data: &[f64],
    rows: usize,
    cols: usize,
    method: Method,
) -> std::result::Result<SingularValues, RankError> {
    check_len(data, rows, cols)?;
    if rows == 0 || cols == 0 {
        return Ok(SingularValues { values: Vec::new(), resolution: 0.0, gram: None });
    }
    match method {
        // A row-major rows x cols matrix is the column-major cols x rows transpose: same
        // singular values, no copy.
        Method::Svd => by_svd(MatRef::from_column_major_slice(data, cols, rows)),
        Method::Gram => by_gram(gram_of(data, rows, cols), rows.max(cols)),
        Method::Checked => checked(data, rows, cols),
    }
}

/// [`Method::Checked`]: the Gram eigenvalues, or the SVD when the smallest one is too close to
/// the expected rounding `e` for its square root to keep [`CHECKED_RTOL`]
/// (`e / (2 lambda) <= rtol`).
fn checked(data: &[f64], rows: usize, cols: usize) -> std::result::Result<SingularValues, RankError> {
    let (n, k) = (rows.min(cols), rows.max(cols));
    let gram = by_gram(gram_of(data, rows, cols), k)?;
    let Some((eig, _)) = &gram.gram else { return Ok(gram) };
    let lambda_max = eig.iter().copied().fold(0.0, f64::max);
    let lambda_min = eig.iter().copied().fold(f64::INFINITY, f64::min);
    if lambda_min * 2.0 * CHECKED_RTOL >= expected_rounding(lambda_max, k, n) {
        return Ok(gram);
    }
    tracing::debug!(rows, cols, lambda_min, lambda_max, "Gram eigenvalues too close to rounding: SVD");
    by_svd(MatRef::from_column_major_slice(data, cols, rows))
}

/// The singular values of a tensor's `rows x cols` matrix (`rows, cols > 0`) by the method for
/// its size; `None` when it holds NaN/Inf.
pub(crate) fn singular_values_of_view(
    view: &TensorView<'_>,
    rows: usize,
    cols: usize,
) -> Result<Option<std::result::Result<SingularValues, RankError>>> {
    let method = Method::for_matrix(rows, cols);
    if method != Method::Gram {
        let Some(data) = finite_values(view)? else { return Ok(None) };
        return Ok(Some(singular_values(&data, rows, cols, method)));
    }
    let start = std::time::Instant::now();
    let gram = gram_of_view(view, rows, cols)?;
    tracing::debug!(rows, cols, elapsed = ?start.elapsed(), "Gram matrix");
    Ok(gram.map(|gram| by_gram(gram, rows.max(cols))))
}

fn by_svd(a: MatRef<'_, f64>) -> std::result::Result<SingularValues, RankError> {
    let mut values = a.singular_values().map_err(|e| RankError::no_convergence("SVD", e))?;
    let sigma_max = values.iter().copied().fold(0.0, f64::max);
    let resolution = a.nrows().max(a.ncols()) as f64 * f64::EPSILON * sigma_max;
    zero_below(&mut values, resolution);
    Ok(SingularValues { values, resolution, gram: None })
}

fn by_gram(gram: Mat<f64>, k: usize) -> std::result::Result<SingularValues, RankError> {
    let n = gram.nrows();
    let eig = symmetric_eigenvalues(gram)?;
    let lambda_max = eig.iter().copied().fold(0.0, f64::max);
    let noise = rounding_noise(lambda_max, k, n);
    let mut values: Vec<f64> = eig.iter().map(|&l| if l > noise { l.sqrt() } else { 0.0 }).collect();
    let resolution = noise.sqrt();
    zero_below(&mut values, resolution);
    Ok(SingularValues { values, resolution, gram: Some((eig, k)) })
}

fn zero_below(values: &mut [f64], resolution: f64) {
    for v in values.iter_mut().filter(|v| **v <= resolution) {
        *v = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_methods_agree_on_a_known_spectrum() {
        // diag(4, 3, 2, ...) padded: a 40x600 matrix with singular values 40 - i.
        let (rows, cols) = (40, 600);
        let data: Vec<f64> =
            (0..rows * cols).map(|p| if p % cols == p / cols { (rows - p / cols) as f64 } else { 0.0 }).collect();
        for method in [Method::Svd, Method::Gram, Method::Checked] {
            let sv = singular_values(&data, rows, cols, method).expect("values");
            let mut got = sv.values.clone();
            got.sort_by(|a, b| b.total_cmp(a));
            for (i, g) in got.iter().enumerate() {
                assert!((g - (rows - i) as f64).abs() < 1e-12, "{method:?} {i}: {g}");
            }
            assert_eq!(sv.exact_rank(), Some(rows));
            assert_eq!(sv.approx_rank(), rows);
        }
    }

    #[test]
    fn checked_keeps_the_gram_only_when_it_is_accurate_enough() {
        // 60x200 with singular values 1 .. 1/c on its diagonal: condition number c.
        let (rows, cols) = (60, 200);
        let diagonal = |c: f64| -> Vec<f64> {
            (0..rows * cols)
                .map(|p| if p % cols == p / cols { c.powf(-((p / cols) as f64) / (rows - 1) as f64) } else { 0.0 })
                .collect()
        };
        for (c, gram_kept) in [(10.0, true), (1e6, false)] {
            let data = diagonal(c);
            let sv = singular_values(&data, rows, cols, Method::Checked).expect("values");
            assert_eq!(sv.gram.is_some(), gram_kept, "condition number {c}");
            let svd = singular_values(&data, rows, cols, Method::Svd).expect("svd");
            let (mut got, mut want) = (sv.values.clone(), svd.values.clone());
            got.sort_by(|a, b| b.total_cmp(a));
            want.sort_by(|a, b| b.total_cmp(a));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= CHECKED_RTOL * w, "condition number {c}: {g} vs {w}");
            }
            assert_eq!(sv.exact_rank(), svd.exact_rank());
        }
    }

    #[test]
    fn noise_is_zeroed_and_malformed_input_rejected() {
        // Rank 1: the other singular values are rounding noise and become 0.
        let (rows, cols) = (50, 60);
        let data: Vec<f64> = (0..rows * cols).map(|p| ((p / cols + 1) * (p % cols + 1)) as f64).collect();
        for method in [Method::Svd, Method::Gram, Method::Checked] {
            let sv = singular_values(&data, rows, cols, method).expect("values");
            assert_eq!(sv.values.iter().filter(|&&s| s > 0.0).count(), 1, "{method:?}");
            assert_eq!(sv.exact_rank(), Some(1));
        }
        assert!(singular_values(&[1.0; 5], 2, 3, Method::Svd).is_err());
        assert!(singular_values(&[1.0; 5], usize::MAX, 3, Method::Gram).is_err());
        let empty = singular_values(&[], 0, 7, Method::Gram).expect("empty");
        assert!(empty.values.is_empty());
        assert_eq!(Method::for_matrix(512, 4096), Method::Checked);
        assert_eq!(Method::for_matrix(513, 4096), Method::Gram);
    }
}
