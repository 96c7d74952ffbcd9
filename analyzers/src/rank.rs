//! Numerical rank (docs/output-spec.md): the number of singular values of the full `rows x cols` matrix
//! greater than `1e-6 * sigma_max`, computed in `f64`.
//!
//! The matrix is decoded to `f64` first: an `f32` SVD has a noise floor near `1e-7 * sigma_max`,
//! too close to the threshold to give exact ranks.
//!
//! # Method: inertia of the Gram matrix, with a guard band and an SVD fallback
//!
//! With `n = min(rows, cols)` and `k = max(rows, cols)`, the squared singular values of `W`
//! are the eigenvalues of the `n x n` Gram matrix `G` of the smaller side (`W W^T` or
//! `W^T W`), formed in `f64` as one matrix product (lower half only, `n^2 k` multiply-adds,
//! parallel inside faer; tall matrices are streamed into it a block of rows at a time). The
//! rank is the number of eigenvalues above `tau = RANK_RTOL^2 * lambda_max`, and no
//! eigen-decomposition is needed to count them:
//! 0. full rank first (the common case for weight matrices): `||G||_F >= lambda_max`, so if
//!    a Cholesky factorization of `G - (1e-12 ||G||_F + delta) I` succeeds, every eigenvalue
//!    lies above the guard band and the rank is `n`: one factorization, nothing else;
//! 1. `lambda_max` is bracketed: a Ritz value from 12 steps of block subspace iteration is a
//!    lower bound `L`; a Cholesky factorization of `1.05 L I - G` proves `U = 1.05 L` an upper
//!    bound (if it fails, the eigenvalues of `G` are computed instead);
//! 2. by Sylvester's law of inertia, the number of eigenvalues of `G` above a shift `s` is the
//!    number of positive eigenvalues of the block-diagonal `B` in the Bunch-Kaufman
//!    factorization `P (G - s I) P^T = L B L^T` (`n^3 / 3` flops, against `~4/3 n^3` and a
//!    slow memory-bound tridiagonalization for the eigenvalues);
//! 3. with a guard `delta`, counting above `1e-12 U + delta` and above `1e-12 L - delta`: equal
//!    counts are the rank.
//!
//! Measured on 2 cores (machine shared, see the report): 4096x4096, Gram 5.0 s + one `LBL^T`
//! 4.3 s against 57 s for the eigenvalues and 161 s for faer's SVD of `W`.
//!
//! Why this is exact: the threshold `tau = 1e-12 * lambda_max` sits far above the rounding
//! error of `G`'s eigenvalues. Forming `G` in `f64` moves each eigenvalue by about
//! `u * sqrt(k) * ||W||_F^2 / n <= u * sqrt(k) * lambda_max` (`u = 2^-53`; rounding errors of
//! `k`-term dot products, to first order), and a backward-stable factorization adds about
//! `u * sqrt(n) * lambda_max`. We take `delta = max(tau / 2, 16 u (sqrt(k) + sqrt(n))
//! lambda_max)`: for every LLM shape (`k` up to ~10^6) that is `tau / 2`, 20x or more above
//! the expected rounding.
//!
//! Where it is not exact, and what we do: when an eigenvalue sits in the band (a singular
//! value within about a factor 1.25 of `1e-6 * sigma_max`), the Gram matrix cannot be trusted
//! with it: squaring `W` squares its condition number, so such singular values keep only ~4
//! significant digits in `G`. Then the singular values of `W` itself are computed (the slow,
//! exact path). The same when the band reaches zero (`delta >= tau`: `sqrt(k) + sqrt(n)` above
//! ~280 000) and when `W` is zero to rounding. Worst-case (not expected) rounding bounds grow
//! like `u k n lambda_max` and do not fit under `tau` for large matrices: the band is a
//! realistic bound, verified by the property tests against the full SVD. Matrices whose smaller
//! side is below [`GRAM_MIN_SIDE`] go to the SVD directly (it is cheap there).
//!
//! Rejected: a QR first and the SVD of `R` (4096x4096: QR 6.2 s, then a square SVD); faer's
//! SVD of `W` (161 s); the Gram eigenvalues (57 s on 4096x4096).

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::lblt::factor::{
    cholesky_in_place as lblt_in_place, cholesky_in_place_scratch as lblt_scratch,
};
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use faer::{Accum, Mat, MatRef, Par, Side};
use weightlens_core::table::columns;

use crate::stats::RELEASE_WINDOW;
use weightlens_core::{Column, ColumnType, Error, Result, TensorAnalyzer, TensorInfo, TensorView, Value};

/// Why a rank (or the singular values) of a matrix could not be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RankError {
    /// The data does not hold `rows x cols` values.
    #[error("{values} values for a {rows}x{cols} matrix")]
    Length {
        /// Values given.
        values: usize,
        /// Rows of the matrix.
        rows: usize,
        /// Columns of the matrix.
        cols: usize,
    },
    /// A decomposition did not converge.
    #[error("{what} did not converge: {detail}")]
    NoConvergence {
        /// "SVD", "eigenvalues of the Gram matrix", "Ritz values".
        what: &'static str,
        /// The linear algebra library's error.
        detail: String,
    },
}

impl RankError {
    pub(crate) fn no_convergence(what: &'static str, detail: impl std::fmt::Debug) -> Self {
        RankError::NoConvergence { what, detail: format!("{detail:?}") }
    }
}

/// Singular values above `RANK_RTOL * sigma_max` count toward the rank.
pub const RANK_RTOL: f64 = 1e-6;

/// Matrices whose smaller side is below this go straight to the SVD (cheap there).
pub const GRAM_MIN_SIDE: usize = 32;

/// Bytes of `f64` rows decoded at a time when a tall matrix is streamed into its Gram matrix
/// (small: it adds to the run's resident memory for every tensor in flight)...
const STREAM_BLOCK_BYTES: usize = 4 << 20;

/// ... but at least this many rows: each block's update reads and writes the whole
/// `cols x cols` Gram matrix, and with fewer rows that traffic, not the multiply-adds,
/// would set the speed.
const STREAM_MIN_ROWS: usize = 1024;

/// Rows per block when a tall matrix with `cols` columns is streamed into its Gram matrix.
fn stream_block_rows(cols: usize) -> usize {
    (STREAM_BLOCK_BYTES / 8 / cols.max(1)).max(STREAM_MIN_ROWS)
}

/// Unit roundoff of `f64`.
const U: f64 = f64::EPSILON / 2.0;

/// Which rank to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RankMode {
    /// The exact numerical rank from all singular values in `f64`.
    #[default]
    Exact,
    /// A faster rank that may differ from the exact one near the threshold
    /// ([`crate::rank_approx`] states the error).
    Approx,
    /// The exact method wherever it is cheap: always its Gram decision, and its SVD fallback
    /// (taken when an eigenvalue sits in the rounding band, seconds at 2048x2048, minutes at
    /// 4096x4096) only for matrices up to [`crate::rank_approx::AUTO_EXACT_MAX_ELEMENTS`]
    /// elements; a larger matrix the Gram path cannot decide gets the approximate count from
    /// the same Gram matrix instead ([`crate::rank_approx`] states its error).
    Auto,
    /// No rank (the column stays empty).
    None,
}

impl RankMode {
    /// The mode's name (`rank_method` column value for `Exact` and `Approx`).
    pub fn as_str(self) -> &'static str {
        match self {
            RankMode::Exact => "exact",
            RankMode::Approx => "approx",
            RankMode::Auto => "auto",
            RankMode::None => "none",
        }
    }

    /// The method for a `rows x cols` matrix: `Auto` becomes `Exact` where the SVD fallback is
    /// affordable (up to [`crate::rank_approx::AUTO_EXACT_MAX_ELEMENTS`] elements) and stays
    /// `Auto` (exact unless only the SVD could decide, then approximate) above; the others are
    /// what they are.
    pub fn for_matrix(self, rows: u64, cols: u64) -> RankMode {
        match self {
            RankMode::Auto if rows.saturating_mul(cols) <= crate::rank_approx::AUTO_EXACT_MAX_ELEMENTS => {
                RankMode::Exact
            }
            other => other,
        }
    }
}

/// The numerical rank of the row-major `rows x cols` matrix in `data` (all values finite):
/// the Gram method when it can decide, the SVD otherwise.
pub fn numerical_rank(data: &[f64], rows: usize, cols: usize) -> std::result::Result<usize, RankError> {
    check_len(data, rows, cols)?;
    if rows.min(cols) < GRAM_MIN_SIDE {
        return rank_by_svd(data, rows, cols);
    }
    match rank_by_gram(data, rows, cols)? {
        Some(rank) => Ok(rank),
        None => rank_by_svd(data, rows, cols),
    }
}

/// The rank from the eigenvalues of the Gram matrix; `None` when they cannot decide it.
pub fn rank_by_gram(data: &[f64], rows: usize, cols: usize) -> std::result::Result<Option<usize>, RankError> {
    check_len(data, rows, cols)?;
    if rows == 0 || cols == 0 {
        return Ok(Some(0));
    }
    rank_from_gram(&mut gram_of(data, rows, cols), rows.max(cols))
}

/// `--rank auto` above the SVD-fallback size: the exact rank when the Gram matrix decides it,
/// otherwise the approximate count from the same Gram matrix; with the method used.
pub fn exact_or_approx_rank(
    data: &[f64],
    rows: usize,
    cols: usize,
) -> std::result::Result<(usize, RankMode), RankError> {
    check_len(data, rows, cols)?;
    if rows.min(cols) < GRAM_MIN_SIDE {
        return Ok((rank_by_svd(data, rows, cols)?, RankMode::Exact));
    }
    exact_or_approx_from_gram(gram_of(data, rows, cols), rows.max(cols))
}

/// [`exact_or_approx_rank`] from the Gram matrix (lower half filled, products over `k` terms).
fn exact_or_approx_from_gram(mut gram: Mat<f64>, k: usize) -> std::result::Result<(usize, RankMode), RankError> {
    match rank_from_gram(&mut gram, k)? {
        Some(rank) => Ok((rank, RankMode::Exact)),
        None => Ok((crate::rank_approx::approx_rank_from_gram(gram)?, RankMode::Approx)),
    }
}

/// The Gram matrix (lower half) of the smaller side of the row-major `rows x cols` matrix in
/// `data` (length already checked).
pub(crate) fn gram_of(data: &[f64], rows: usize, cols: usize) -> Mat<f64> {
    let a = MatRef::from_column_major_slice(data, cols, rows);
    if rows <= cols {
        gram_wide(a)
    } else {
        gram_tall_block(a, None)
    }
}

/// The numerical rank from all singular values of the matrix (the slow reference path).
pub fn rank_by_svd(data: &[f64], rows: usize, cols: usize) -> std::result::Result<usize, RankError> {
    check_len(data, rows, cols)?;
    if rows == 0 || cols == 0 {
        return Ok(0);
    }
    // A row-major rows x cols matrix is the column-major cols x rows transpose: same singular
    // values, no copy.
    let m = MatRef::from_column_major_slice(data, cols, rows);
    let sv = m.singular_values().map_err(|e| RankError::no_convergence("SVD", e))?;
    Ok(count_above(&sv))
}

pub(crate) fn check_len(data: &[f64], rows: usize, cols: usize) -> std::result::Result<(), RankError> {
    match rows.checked_mul(cols) {
        Some(n) if n == data.len() => Ok(()),
        _ => Err(RankError::Length { values: data.len(), rows, cols }),
    }
}

/// The number of singular values above the rank threshold (`sv` in any order).
pub fn count_above(sv: &[f64]) -> usize {
    let sigma_max = sv.iter().copied().fold(0.0, f64::max);
    if sigma_max <= 0.0 {
        return 0;
    }
    let threshold = RANK_RTOL * sigma_max;
    sv.iter().filter(|&&s| s > threshold).count()
}

/// The number of eigenvalues of a Gram matrix above the squared rank threshold, counting those
/// in the rounding band too (`eig` in any order).
pub(crate) fn count_eigenvalues_above(eig: &[f64]) -> usize {
    let top = eig.iter().copied().fold(0.0, f64::max);
    eig.iter().filter(|&&l| top > 0.0 && l > RANK_RTOL * RANK_RTOL * top).count()
}

/// The rank from a Gram matrix (lower half filled) whose products ran over `k` terms; `None`
/// when an eigenvalue sits in the guard band around the threshold (see the module docs) and
/// only an SVD can decide.
///
/// No eigen-decomposition: `lambda_max` is bracketed by a Ritz value (a lower bound) and a
/// Cholesky factorization proving `U I - G` positive definite (an upper bound), and eigenvalues
/// above a shift are counted through the inertia of `G - shift I` (Sylvester's law).
fn rank_from_gram(gram: &mut Mat<f64>, k: usize) -> std::result::Result<Option<usize>, RankError> {
    let n = gram.nrows();
    // A PSD matrix with a zero diagonal is zero: a zero matrix has rank 0.
    if gram.diagonal().column_vector().iter().all(|&d| d == 0.0) {
        return Ok(Some(0));
    }
    symmetrize(gram);
    if proves_full_rank(gram.as_ref(), k) {
        return Ok(Some(n));
    }
    let lower = ritz_lambda_max(gram.as_ref())?;
    if lower.is_nan() || lower <= 0.0 {
        // No Ritz value above 0 from a random start: G is 0 up to rounding; let the SVD decide.
        return Ok(None);
    }
    let upper = lower * LAMBDA_MAX_SLACK;
    if !is_below(gram.as_ref(), upper) {
        tracing::debug!("rank: lambda_max bracket failed, using the eigenvalues");
        let eig = crate::sym_eigen::symmetric_eigenvalues(gram.clone())?;
        return Ok(count_eigenvalues(&eig, k, n));
    }
    let Some(delta) = guard(upper, k, n) else { return Ok(None) };
    let tau = |l: f64| RANK_RTOL * RANK_RTOL * l;
    let above_band = count_greater(gram.as_ref(), tau(upper) + delta);
    let above_floor = count_greater(gram.as_ref(), tau(lower) - delta);
    if above_band != above_floor {
        tracing::debug!("rank: an eigenvalue of the Gram matrix lies near the threshold, using the SVD");
        return Ok(None);
    }
    Ok(Some(above_band))
}

/// Whether every eigenvalue of the symmetric PSD `g` (products over `k` terms) lies above the
/// guard band, i.e. the rank is `n`: one Cholesky factorization of `g - s I` with the shift
/// `s = tau(F) + delta(F)` taken at `F = ||g||_F >= lambda_max`, so `s` is at least the top
/// of the band at the true `lambda_max`, and at most `sqrt(n)` times it. Most weight matrices
/// are numerically full rank with their smallest eigenvalue far above `1e-12 * ||g||_F`; for
/// them this replaces the bracketing and the two `L B L^T` factorizations with one Cholesky
/// (the fastest factorization, `n^3 / 3` flops at matrix-product speed).
fn proves_full_rank(g: MatRef<'_, f64>, k: usize) -> bool {
    let n = g.nrows();
    let frobenius = g.norm_l2();
    let Some(delta) = guard(frobenius, k, n) else { return false };
    all_greater(g, RANK_RTOL * RANK_RTOL * frobenius + delta)
}

/// `g - shift I` for a symmetric `g` (both halves filled).
fn shifted(g: MatRef<'_, f64>, shift: f64) -> Mat<f64> {
    Mat::<f64>::from_fn(g.nrows(), g.ncols(), |i, j| if i == j { g[(i, j)] - shift } else { g[(i, j)] })
}

/// Whether every eigenvalue of the symmetric `g` is greater than `shift`: `g - shift I` has a
/// Cholesky factorization.
pub(crate) fn all_greater(g: MatRef<'_, f64>, shift: f64) -> bool {
    shifted(g, shift).llt(Side::Lower).is_ok()
}

/// The upper bound tried for `lambda_max` is this times its Ritz lower bound.
const LAMBDA_MAX_SLACK: f64 = 1.05;

/// The rounding guard band half-width for a Gram matrix with largest eigenvalue at most
/// `lambda_max` (module docs); `None` when it reaches zero and the Gram path cannot decide.
fn guard(lambda_max: f64, k: usize, n: usize) -> Option<f64> {
    let tau = RANK_RTOL * RANK_RTOL * lambda_max;
    let delta = (tau / 2.0).max(rounding_noise(lambda_max, k, n));
    if delta >= tau {
        tracing::debug!("rank: Gram rounding band reaches zero for an {n}-side Gram matrix of {k} terms");
        return None;
    }
    Some(delta)
}

/// The rounding band of the eigenvalues of an `n`-side Gram matrix formed from `k`-term
/// products, with largest eigenvalue `lambda_max`: 16 times [`expected_rounding`] (module docs).
pub(crate) fn rounding_noise(lambda_max: f64, k: usize, n: usize) -> f64 {
    16.0 * expected_rounding(lambda_max, k, n)
}

/// The expected (first-order) rounding error of those eigenvalues, `u (sqrt(k) + sqrt(n))
/// lambda_max`: forming `G` and the backward-stable eigensolver (module docs).
pub(crate) fn expected_rounding(lambda_max: f64, k: usize, n: usize) -> f64 {
    U * ((k as f64).sqrt() + (n as f64).sqrt()) * lambda_max
}

/// Eigenvalues above `tau = RANK_RTOL^2 * lambda_max`, or `None` when one lies within the
/// guard band `(tau - delta, tau + delta]` (the path when the inertia bracket fails).
pub(crate) fn count_eigenvalues(eig: &[f64], k: usize, n: usize) -> Option<usize> {
    let lambda_max = eig.iter().copied().fold(0.0, f64::max);
    if lambda_max.is_nan() || lambda_max <= 0.0 {
        return Some(0);
    }
    let tau = RANK_RTOL * RANK_RTOL * lambda_max;
    let delta = guard(lambda_max, k, n)?;
    if eig.iter().any(|&l| l > tau - delta && l <= tau + delta) {
        return None;
    }
    Some(eig.iter().filter(|&&l| l > tau).count())
}

/// Copies the lower half of a square matrix onto its upper half.
pub(crate) fn symmetrize(g: &mut Mat<f64>) {
    let n = g.nrows();
    for j in 0..n {
        for i in 0..j {
            g[(i, j)] = g[(j, i)];
        }
    }
}

/// A lower bound on the largest eigenvalue of the symmetric PSD `g`: the top Ritz value after
/// a few steps of block subspace iteration from a fixed pseudo-random start.
pub(crate) fn ritz_lambda_max(g: MatRef<'_, f64>) -> std::result::Result<f64, RankError> {
    const BLOCK: usize = 16;
    const STEPS: usize = 12;
    let n = g.nrows();
    let b = BLOCK.min(n);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut v = Mat::<f64>::from_fn(n, b, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    });
    for _ in 0..STEPS {
        let w = mul(g, v.as_ref());
        v = w.qr().compute_thin_Q();
    }
    let gv = mul(g, v.as_ref());
    let h = mul(v.as_ref().transpose(), gv.as_ref());
    let ritz = h.self_adjoint_eigenvalues(Side::Lower).map_err(|e| RankError::no_convergence("Ritz values", e))?;
    Ok(ritz.iter().copied().fold(0.0, f64::max))
}

fn mul(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(a.nrows(), b.ncols());
    matmul(out.as_mut(), Accum::Replace, a, b, 1.0, Par::rayon(0));
    out
}

/// Whether every eigenvalue of the symmetric `g` is below `bound`: `bound I - g` has a
/// Cholesky factorization.
fn is_below(g: MatRef<'_, f64>, bound: f64) -> bool {
    let n = g.nrows();
    let shifted = Mat::<f64>::from_fn(n, n, |i, j| if i == j { bound - g[(i, j)] } else { -g[(i, j)] });
    shifted.llt(Side::Lower).is_ok()
}

/// Eigenvalues of the symmetric `g` greater than `shift`: the positive inertia of
/// `g - shift I`, read from the 1x1 and 2x2 blocks of its Bunch-Kaufman `L B L^T`.
pub(crate) fn count_greater(g: MatRef<'_, f64>, shift: f64) -> usize {
    let n = g.nrows();
    let mut a = shifted(g, shift);
    let mut sub = Diag::<f64>::zeros(n);
    let (mut fwd, mut bwd) = (vec![0usize; n], vec![0usize; n]);
    let par = Par::rayon(0);
    let mut mem = MemBuffer::new(lblt_scratch::<usize, f64>(n, par, Default::default()));
    lblt_in_place(a.as_mut(), sub.as_mut(), &mut fwd, &mut bwd, par, MemStack::new(&mut mem), Default::default());
    let d: Vec<f64> = a.diagonal().column_vector().iter().copied().collect();
    let e: Vec<f64> = sub.column_vector().iter().copied().collect();
    let mut count = 0;
    let mut i = 0;
    while let Some(&a) = d.get(i) {
        match (e.get(i).copied().filter(|&b| b != 0.0), d.get(i + 1)) {
            (Some(b), Some(&c)) => {
                // A 2x2 block [[a, b], [b, c]]: the signs of its two eigenvalues.
                let det = a * c - b * b;
                count += if det < 0.0 {
                    1
                } else if a + c > 0.0 {
                    1 + usize::from(det > 0.0)
                } else {
                    0
                };
                i += 2;
            }
            _ => {
                count += usize::from(a > 0.0);
                i += 1;
            }
        }
    }
    count
}

/// `W W^T` (lower half) of a wide matrix `W` given as its column-major transpose `a` (`cols x
/// rows`, `rows <= cols`).
fn gram_wide(a: MatRef<'_, f64>) -> Mat<f64> {
    let n = a.ncols();
    let mut g = zeroed_square(n);
    tri_matmul(
        g.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        a.transpose(),
        BlockStructure::Rectangular,
        a,
        BlockStructure::Rectangular,
        1.0,
        Par::rayon(0),
    );
    g
}

/// Adds `W_b^T W_b` (lower half) of a block of rows `W_b`, given as its column-major transpose
/// `a` (`cols x block_rows`), to `into` (or starts a new `cols x cols` Gram matrix).
fn gram_tall_block(a: MatRef<'_, f64>, into: Option<Mat<f64>>) -> Mat<f64> {
    let n = a.nrows();
    let (mut g, accum) = match into {
        Some(g) => (g, Accum::Add),
        None => (zeroed_square(n), Accum::Replace),
    };
    tri_matmul(
        g.as_mut(),
        BlockStructure::TriangularLower,
        accum,
        a,
        BlockStructure::Rectangular,
        a.transpose(),
        BlockStructure::Rectangular,
        1.0,
        Par::rayon(0),
    );
    g
}

/// An `n x n` matrix of zeros, written by every thread. The first write to freshly mapped memory
/// is slow on some machines (the page faults, not the stores: 0.35 s of one core for the 128 MB
/// of a 4096x4096 Gram matrix on the 2-core VM, a tenth of that matrix's spectrum), and
/// `Mat::zeros` writes on one thread.
fn zeroed_square(n: usize) -> Mat<f64> {
    use rayon::prelude::*;
    /// The matrix's storage, shared by the threads that zero its columns.
    struct Columns(*mut f64);
    // SAFETY: each task writes its own columns only (disjoint ranges of one allocation).
    unsafe impl Sync for Columns {}
    impl Columns {
        fn base(&self) -> *mut f64 {
            self.0
        }
    }
    let mut g = Mat::<f64>::with_capacity(n, n);
    let stride = usize::try_from(g.col_stride()).unwrap_or(n).max(n);
    let columns = Columns(g.as_ptr_mut());
    (0..n).into_par_iter().with_min_len(64).for_each(|j| {
        // SAFETY: the allocation holds `n` columns of `stride >= n` entries (its capacity), and
        // column `j` is written by this task only.
        unsafe { columns.base().add(j * stride).write_bytes(0, n) }
    });
    // SAFETY: within the capacity, and every entry of the `n x n` matrix was just written.
    unsafe { g.set_dims(n, n) };
    g
}

/// Bytes of memory the exact rank of a `rows x cols` matrix needs at its peak (the `f64`
/// matrix or a streamed block of it, plus the Gram matrix and its eigen workspace).
pub fn rank_working_bytes(rows: u64, cols: u64) -> u64 {
    let n = rows.min(cols);
    let gram = n.saturating_mul(n).saturating_mul(8).saturating_mul(2);
    let data = if rows > cols && n >= GRAM_MIN_SIDE as u64 {
        let block = (stream_block_rows(usize::try_from(cols).unwrap_or(usize::MAX)) as u64).min(rows);
        block.saturating_mul(cols).saturating_mul(8)
    } else {
        rows.saturating_mul(cols).saturating_mul(8)
    };
    gram.saturating_add(data)
}

/// The rank of a tensor's `rows x cols` matrix; `None` when it holds NaN/Inf. Tall matrices
/// are streamed into their Gram matrix a block of rows at a time, wide plain ones a block of
/// columns at a time (no `f64` copy of the whole tensor unless the SVD fallback needs it).
fn rank_of_view(view: &TensorView<'_>, rows: usize, cols: usize, mode: RankMode) -> Result<Option<(usize, RankMode)>> {
    let info = view.info();
    let fail = |e: RankError| Error::tensor(info.file.as_ref(), &info.name, e.to_string());
    let svd_fallback = mode != RankMode::Auto;
    if rows.min(cols) < GRAM_MIN_SIDE {
        let Some(data) = finite_values(view)? else { return Ok(None) };
        let rank = match svd_fallback {
            true => numerical_rank(&data, rows, cols).map(|r| (r, RankMode::Exact)),
            false => exact_or_approx_rank(&data, rows, cols),
        };
        return rank.map(Some).map_err(fail);
    }
    let Some(mut gram) = gram_of_view(view, rows, cols)? else { return Ok(None) };
    // The products that formed the Gram matrix ran over the longer side.
    let k = rows.max(cols);
    if !svd_fallback {
        return exact_or_approx_from_gram(gram, k).map(Some).map_err(fail);
    }
    if let Some(rank) = rank_from_gram(&mut gram, k).map_err(fail)? {
        return Ok(Some((rank, RankMode::Exact)));
    }
    // The SVD's f64 copy of the matrix takes the Gram matrix's place.
    drop(gram);
    let rank = rank_by_svd(&view.to_f64_vec()?, rows, cols).map_err(fail)?;
    Ok(Some((rank, RankMode::Exact)))
}

/// The tensor's values as `f64`, or `None` when one is NaN or infinite (no rank or spectrum).
pub(crate) fn finite_values(view: &TensorView<'_>) -> Result<Option<Vec<f64>>> {
    let data = view.to_f64_vec()?;
    // The f64 copy is what gets read from here on; a large tensor's stored bytes can go.
    if view.raw_bytes().len() > RELEASE_WINDOW {
        view.done_with(0, view.numel());
    }
    Ok(data.iter().all(|x| x.is_finite()).then_some(data))
}

/// The Gram matrix (lower half) of the smaller side of a tensor's `rows x cols` matrix
/// (`rows, cols > 0`); `None` when it holds NaN/Inf. Tall matrices are streamed into it a block
/// of rows at a time.
pub(crate) fn gram_of_view(view: &TensorView<'_>, rows: usize, cols: usize) -> Result<Option<Mat<f64>>> {
    if rows <= cols {
        if view.plain_bytes().is_some() {
            return gram_of_wide_view(view, rows, cols);
        }
        let Some(data) = finite_values(view)? else { return Ok(None) };
        return Ok(Some(gram_wide(MatRef::from_column_major_slice(&data, cols, rows))));
    }
    // Blocks of whole rows, aligned to the decoding granule (quantized rows hold whole blocks).
    let granule = view.granule();
    let mut block_rows = stream_block_rows(cols);
    while !(block_rows * cols).is_multiple_of(granule) {
        block_rows += 1;
    }
    let mut buf = vec![0f64; block_rows.min(rows) * cols];
    let releasing = view.raw_bytes().len() > RELEASE_WINDOW;
    let mut gram = None;
    let mut row = 0;
    while row < rows {
        let take = block_rows.min(rows - row);
        let chunk = &mut buf[..take * cols];
        view.decode_f64(row * cols, chunk)?;
        if !chunk.iter().all(|x| x.is_finite()) {
            return Ok(None);
        }
        gram = Some(gram_tall_block(MatRef::from_column_major_slice(chunk, cols, take), gram));
        if releasing {
            view.done_with(row * cols, take * cols);
        }
        row += take;
    }
    Ok(gram)
}

/// [`gram_of_view`] of a wide matrix of plain elements (`rows <= cols`), streamed a block of
/// columns at a time: `W W^T` is the sum of `W_c W_c^T` over the column blocks `W_c`, each decoded
/// row segment by row segment into one small buffer, so no `f64` copy of the whole matrix is made
/// (its first writes alone took 0.3 s for a 4096x4096 matrix). Quantized and computed views decode
/// whole rows or groups, not arbitrary segments, and keep the copy.
fn gram_of_wide_view(view: &TensorView<'_>, rows: usize, cols: usize) -> Result<Option<Mat<f64>>> {
    let block_cols = stream_block_rows(rows).min(cols);
    let mut buf = vec![0f64; block_cols * rows];
    let mut gram = None;
    let mut c0 = 0;
    while c0 < cols {
        let take = block_cols.min(cols - c0);
        let chunk = &mut buf[..take * rows];
        for (row, segment) in chunk.chunks_exact_mut(take).enumerate() {
            view.decode_f64(row * cols + c0, segment)?;
        }
        if !chunk.iter().all(|x| x.is_finite()) {
            return Ok(None);
        }
        // The row-major `rows x take` block is the column-major `take x rows` `W_c^T`.
        let block = MatRef::from_column_major_slice(chunk, take, rows);
        gram = Some(gram_tall_block(block.transpose(), gram));
        c0 += take;
    }
    Ok(gram)
}

/// The `rows x cols` of a tensor's matrix as `usize`, after checking that its `what` (rank,
/// spectrum) fits in `max_bytes` of working memory ([`rank_working_bytes`]); errors name the
/// tensor.
pub(crate) fn working_dims(
    info: &TensorInfo,
    rows: u64,
    cols: u64,
    max_bytes: Option<u64>,
    what: &str,
) -> Result<(usize, usize)> {
    let needed = rank_working_bytes(rows, cols);
    if let Some(max) = max_bytes.filter(|&max| needed > max) {
        let msg = format!("the {what} of this {rows}x{cols} matrix needs {needed} bytes, more than --max-memory {max}");
        return Err(Error::tensor(info.file.as_ref(), &info.name, msg));
    }
    let dims = usize::try_from(rows).ok().zip(usize::try_from(cols).ok());
    dims.ok_or_else(|| Error::tensor(info.file.as_ref(), &info.name, "matrix too large for this platform"))
}

/// The built-in rank analyzer.
#[derive(Clone, Copy, Debug, Default)]
pub struct RankAnalyzer {
    mode: RankMode,
    max_bytes: Option<u64>,
}

impl RankAnalyzer {
    /// An analyzer computing ranks as `mode` says.
    pub fn new(mode: RankMode) -> Self {
        RankAnalyzer { mode, max_bytes: None }
    }

    /// Refuses (with an error naming the tensor) matrices whose rank needs more than
    /// `max_bytes` of working memory ([`rank_working_bytes`]).
    pub fn with_max_bytes(self, max_bytes: u64) -> Self {
        RankAnalyzer { max_bytes: Some(max_bytes), ..self }
    }
}

impl TensorAnalyzer for RankAnalyzer {
    fn name(&self) -> &str {
        "rank"
    }

    fn columns(&self) -> Vec<Column> {
        vec![Column::new(columns::RANK, ColumnType::Int), Column::new(columns::RANK_METHOD, ColumnType::Str)]
    }

    fn analyze(&self, view: &TensorView<'_>) -> Result<Vec<Value>> {
        let info = view.info();
        let none = || Ok(vec![Value::Null, Value::Null]);
        if self.mode == RankMode::None {
            return none();
        }
        let Some((rows, cols)) = info.matrix_dims() else { return none() };
        let mode = self.mode.for_matrix(rows, cols);
        if rows == 0 || cols == 0 {
            // An empty matrix resolves to `Exact` or `Approx` (never `Auto`: 0 elements).
            return Ok(vec![Value::Int(0), Value::Str(mode.as_str().into())]);
        }
        let (rows, cols) = working_dims(info, rows, cols, self.max_bytes, "rank")?;
        let rank = match mode {
            RankMode::Approx => crate::rank_approx::approx_rank_of_view(view, rows, cols)?.map(|r| (r, mode)),
            _ => rank_of_view(view, rows, cols, mode)?,
        };
        match rank {
            Some((rank, method)) => Ok(vec![Value::Int(rank as i64), Value::Str(method.as_str().into())]),
            None => none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_of_simple_matrices() {
        assert_eq!(numerical_rank(&[1.0, 0.0, 0.0, 1.0], 2, 2), Ok(2));
        assert_eq!(numerical_rank(&[1.0, 2.0, 2.0, 4.0], 2, 2), Ok(1));
        assert_eq!(numerical_rank(&[0.0; 6], 2, 3), Ok(0));
        assert_eq!(numerical_rank(&[], 0, 3), Ok(0));
        // Outer product of (1,2,3) and (1,1): rank 1 in a tall matrix.
        assert_eq!(numerical_rank(&[1.0, 1.0, 2.0, 2.0, 3.0, 3.0], 3, 2), Ok(1));
        // A singular value just above / below the threshold.
        assert_eq!(numerical_rank(&[1.0, 0.0, 0.0, 2e-6], 2, 2), Ok(2));
        assert_eq!(numerical_rank(&[1.0, 0.0, 0.0, 5e-7], 2, 2), Ok(1));
        assert!(numerical_rank(&[1.0; 5], 2, 3).is_err());
    }

    /// The streamed Gram matrix of a wide plain view (several column blocks, one partial) equals
    /// the one from the whole `f64` copy to rounding, and a NaN in any block gives `None`.
    #[test]
    fn wide_views_stream_their_gram_matrix_by_column_blocks() {
        use std::borrow::Cow;
        use std::sync::Arc;
        use weightlens_core::{ByteOrder, Dtype, Framework};
        let (rows, cols) = (40, 3 * STREAM_MIN_ROWS + 77);
        let mut rng = Rng(17);
        let values: Vec<f32> = (0..rows * cols).map(|_| rng.normal() as f32).collect();
        let file: Arc<std::path::Path> = Arc::from(std::path::Path::new("w.safetensors"));
        let info = TensorInfo::new("w", Dtype::F32, Framework::SAFETENSORS, vec![rows as u64, cols as u64], file, 0, 0);
        let view_of = |v: &[f32]| {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            let view = TensorView::plain(&info, Cow::Owned(bytes), Dtype::F32, ByteOrder::Little).expect("view");
            gram_of_view(&view, rows, cols).expect("decodes")
        };
        let streamed = view_of(&values).expect("finite");
        let data: Vec<f64> = values.iter().map(|&x| f64::from(x)).collect();
        let whole = gram_wide(MatRef::from_column_major_slice(&data, cols, rows));
        let top = (0..rows).map(|i| whole[(i, i)]).fold(0.0f64, f64::max);
        for j in 0..rows {
            for i in j..rows {
                assert!((streamed[(i, j)] - whole[(i, j)]).abs() <= 1e-13 * top, "({i}, {j})");
            }
        }
        let mut with_nan = values.clone();
        with_nan[rows * cols - 5] = f32::NAN;
        assert!(view_of(&with_nan).is_none());
    }

    #[test]
    fn zeroed_square_is_all_zeros() {
        for n in [0, 1, 7, 300] {
            let z = zeroed_square(n);
            assert_eq!((z.nrows(), z.ncols()), (n, n));
            assert!((0..n).all(|j| (0..n).all(|i| z[(i, j)] == 0.0)), "n={n}");
        }
    }

    /// A tiny seeded generator (xorshift64*), so the property tests need no extra crate.
    struct Rng(u64);

    impl Rng {
        fn next_f64(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        }

        /// Approximately normal (sum of 4 uniforms, centred).
        fn normal(&mut self) -> f64 {
            (0..4).map(|_| self.next_f64()).sum::<f64>() - 2.0
        }

        fn matrix(&mut self, rows: usize, cols: usize) -> Vec<f64> {
            (0..rows * cols).map(|_| self.normal()).collect()
        }
    }

    /// Row-major product of `a` (`r x k`) and `b` (`k x c`).
    fn product(a: &[f64], b: &[f64], r: usize, k: usize, c: usize) -> Vec<f64> {
        let mut out = vec![0.0; r * c];
        for i in 0..r {
            for p in 0..k {
                let x = a[i * k + p];
                for j in 0..c {
                    out[i * c + j] += x * b[p * c + j];
                }
            }
        }
        out
    }

    /// Applies the Householder reflection `I - 2 v v^T / v^T v` to the rows (`left`) or columns
    /// of the row-major `rows x cols` matrix `m`.
    fn reflect(m: &mut [f64], rows: usize, cols: usize, v: &[f64], left: bool) {
        let vv: f64 = v.iter().map(|x| x * x).sum();
        if left {
            for j in 0..cols {
                let dot: f64 = (0..rows).map(|i| v[i] * m[i * cols + j]).sum();
                for i in 0..rows {
                    m[i * cols + j] -= 2.0 * dot / vv * v[i];
                }
            }
        } else {
            for i in 0..rows {
                let dot: f64 = (0..cols).map(|j| v[j] * m[i * cols + j]).sum();
                for j in 0..cols {
                    m[i * cols + j] -= 2.0 * dot / vv * v[j];
                }
            }
        }
    }

    /// A matrix with exactly the singular values `sv` (up to rounding): diag(sv) rotated by two
    /// random reflections on each side.
    fn with_singular_values(rng: &mut Rng, rows: usize, cols: usize, sv: &[f64]) -> Vec<f64> {
        let mut m = vec![0.0; rows * cols];
        for (i, &s) in sv.iter().enumerate() {
            m[i * cols + i] = s;
        }
        for _ in 0..2 {
            let v = rng.matrix(rows, 1);
            reflect(&mut m, rows, cols, &v, true);
            let v = rng.matrix(1, cols);
            reflect(&mut m, rows, cols, &v, false);
        }
        m
    }

    fn assert_agrees(data: &[f64], rows: usize, cols: usize, what: &str) -> Option<usize> {
        let svd = rank_by_svd(data, rows, cols).expect("svd");
        assert_eq!(numerical_rank(data, rows, cols), Ok(svd), "{what} {rows}x{cols}");
        let gram = rank_by_gram(data, rows, cols).expect("gram");
        if let Some(g) = gram {
            assert_eq!(g, svd, "Gram rank of {what} {rows}x{cols}");
        }
        gram
    }

    #[test]
    fn gram_rank_matches_svd_on_random_matrices() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for &(rows, cols) in &[(40, 40), (33, 120), (150, 37), (64, 200), (200, 64)] {
            let m = rng.matrix(rows, cols);
            let gram = assert_agrees(&m, rows, cols, "random");
            assert_eq!(gram, Some(rows.min(cols)), "random matrices are full rank, decided by the Gram path");
        }
    }

    #[test]
    fn gram_rank_matches_svd_on_low_rank_matrices() {
        let mut rng = Rng(7);
        for &(rows, cols, r) in &[(60, 80, 1), (60, 80, 17), (120, 50, 33), (96, 96, 95), (64, 300, 0)] {
            let m = product(&rng.matrix(rows, r), &rng.matrix(r, cols), rows, r, cols);
            let gram = assert_agrees(&m, rows, cols, "low-rank");
            // Exact rank deficiency leaves eigenvalues at rounding level, far below the band.
            assert_eq!(gram, Some(r), "low-rank {rows}x{cols} rank {r}");
        }
    }

    #[test]
    fn gram_rank_matches_svd_on_ill_conditioned_matrices() {
        let mut rng = Rng(12345);
        for &(rows, cols) in &[(48, 64), (70, 40)] {
            let n = rows.min(cols);
            // Log-spaced from 1 down to 1e-10: about a quarter of them below the threshold.
            let sv: Vec<f64> = (0..n).map(|i| 10f64.powf(-10.0 * i as f64 / (n - 1) as f64)).collect();
            let m = with_singular_values(&mut rng, rows, cols, &sv);
            assert_agrees(&m, rows, cols, "log-spaced");
            // Singular values clear of the guard band: the Gram path decides, and rightly.
            let clear: Vec<f64> = (0..n).map(|i| if i % 3 == 0 { 1.0 / (1.0 + i as f64) } else { 1e-7 }).collect();
            let m = with_singular_values(&mut rng, rows, cols, &clear);
            let expected = clear.iter().filter(|&&s| s > 1e-6 * clear[0]).count();
            assert_eq!(assert_agrees(&m, rows, cols, "clear"), Some(expected));
            // A singular value right at the threshold: the Gram path declines, the SVD decides.
            let mut near = clear.clone();
            near[1] = 1.05e-6;
            let m = with_singular_values(&mut rng, rows, cols, &near);
            assert_eq!(rank_by_gram(&m, rows, cols), Ok(None), "inside the guard band");
            assert_eq!(numerical_rank(&m, rows, cols), Ok(expected + 1));
        }
    }

    #[test]
    fn full_rank_proof_is_sound() {
        let mut rng = Rng(99);
        let (rows, cols) = (40, 90);
        let gram_of = |m: &[f64]| {
            let mut g = gram_wide(MatRef::from_column_major_slice(m, cols, rows));
            symmetrize(&mut g);
            g
        };
        // Smallest singular value 1e-3 of sigma_max: far above every shift, proven.
        let sv: Vec<f64> = (0..rows).map(|i| 10f64.powf(-3.0 * i as f64 / (rows - 1) as f64)).collect();
        assert!(proves_full_rank(gram_of(&with_singular_values(&mut rng, rows, cols, &sv)).as_ref(), cols));
        // One singular value inside the guard band, or below the threshold: never "full rank".
        for tiny in [1.05e-6, 0.9e-6, 1e-9, 0.0] {
            let mut sv = sv.clone();
            sv[rows - 1] = tiny;
            let g = gram_of(&with_singular_values(&mut rng, rows, cols, &sv));
            assert!(!proves_full_rank(g.as_ref(), cols), "sigma_min {tiny}");
        }
    }

    #[test]
    fn guard_band_edges() {
        let n = 64;
        // tau = 1e-12: eigenvalues at 0.4e-12 and 1.6e-12 are outside the band, 0.6e-12 inside.
        let mut eig = vec![1.0; n];
        eig[0] = 0.4e-12;
        eig[1] = 1.6e-12;
        assert_eq!(count_eigenvalues(&eig, 100, n), Some(n - 1));
        eig[0] = 0.6e-12;
        assert_eq!(count_eigenvalues(&eig, 100, n), None);
        assert_eq!(count_eigenvalues(&[0.0; 4], 10, 4), Some(0));
        // So long a product that rounding reaches the threshold: always the SVD.
        assert_eq!(count_eigenvalues(&[1.0, 1.0], 1 << 60, 2), None);
    }
}
