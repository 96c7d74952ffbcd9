//! The approximate numerical rank (`--rank approx`, and `--rank auto` for a matrix above
//! [`AUTO_EXACT_MAX_ELEMENTS`] whose Gram matrix cannot decide the exact rank).
//!
//! # Method
//! The exact rank ([`crate::rank`]) forms the `f64` Gram matrix `G` of the smaller side, proves
//! an upper bound on `lambda_max` (a Cholesky factorization), counts eigenvalues at two shifts
//! (two Bunch-Kaufman `L B L^T` factorizations) and falls back to the SVD of `W` when an
//! eigenvalue sits in the rounding band around the threshold. The approximation keeps the same
//! `f64` Gram matrix and drops the proofs:
//! 1. `lambda_max` is the Ritz value `L` of block subspace iteration (a lower bound);
//! 2. with the shift `s = 1e-12 L` (the squared threshold), a Cholesky factorization of
//!    `G - s I` that succeeds shows every eigenvalue above `s`: the rank is `n` (the common case
//!    for trained weights, which are numerically full-rank). Otherwise one `L B L^T` of `G - s I`
//!    counts the eigenvalues above `s` (Sylvester's law of inertia);
//! 3. never an SVD.
//!
//! # Error
//! Let `t = 1e-6 sigma_max` be the rank threshold. `|approx - exact|` is at most the number of
//! singular values in `(0.6 t, 1.25 t]`: rounding moves the eigenvalues of `G` by at most
//! `tau / 2` (`tau = t^2`, the exact method's guard band, valid while `sqrt(k) + sqrt(n)` is below
//! ~280 000) and the Ritz value is within 5% of `lambda_max` (the exact method relies on the same
//! bound and checks it), so only eigenvalues in `(0.95 tau - tau / 2, tau + tau / 2]` can be
//! counted on the wrong side. Singular values that far from the threshold are rare in trained
//! weights (their spectra end around `1e-2..1e-4 sigma_max`), so the two ranks are nearly always
//! equal; the property test below checks the bound against the SVD on random, low-rank and
//! ill-conditioned matrices.
//!
//! # Cost, and why not a random sketch
//! Forming `G` costs `n^2 k / 2` multiply-adds (`n`, `k` the smaller and larger sides) and
//! dominates both methods; the approximation saves the bracket, the second factorization and the
//! SVD fallback (which alone takes minutes on a 4096x4096 matrix). A Gaussian sketch of the long
//! side costs `n k s` with `s >= n` (more than `G`), and a range finder needs as many samples as
//! the rank, which is `n` for trained weights; a structured sketch (SRHT) down to `2n` rows saves
//! nothing on square matrices and a quarter of `G` on 4096x11008, while distorting every singular
//! value by an unknown `1 +- epsilon` factor. Measurements are in the report of this change.

use weightlens_core::{Error, Result, TensorView};

use crate::rank::{
    all_greater, check_len, count_eigenvalues_above, count_greater, finite_values, gram_of, gram_of_view,
    numerical_rank, ritz_lambda_max, symmetrize, RankError, GRAM_MIN_SIDE, RANK_RTOL,
};

/// `--rank auto` takes the exact method's SVD fallback for matrices of at most this many elements
/// (a 2048x2048 matrix: seconds; 4096x4096: minutes, measured in `crate::rank`'s docs); a larger
/// matrix gets the exact rank whenever its Gram matrix decides it (nearly always: the cost of the
/// approximation) and the approximate count from that Gram matrix only when it cannot.
pub const AUTO_EXACT_MAX_ELEMENTS: u64 = 1 << 22;

/// The approximate rank of the row-major `rows x cols` matrix in `data` (all values finite).
pub fn approx_rank(data: &[f64], rows: usize, cols: usize) -> std::result::Result<usize, RankError> {
    if rows.min(cols) < GRAM_MIN_SIDE {
        return numerical_rank(data, rows, cols);
    }
    check_len(data, rows, cols)?;
    approx_rank_from_gram(gram_of(data, rows, cols))
}

/// The approximate rank of a tensor's `rows x cols` matrix (`rows, cols > 0`); `None` when it
/// holds NaN/Inf.
pub(crate) fn approx_rank_of_view(view: &TensorView<'_>, rows: usize, cols: usize) -> Result<Option<usize>> {
    let info = view.info();
    let fail = |e: RankError| Error::tensor(info.file.as_ref(), &info.name, e.to_string());
    if rows.min(cols) < GRAM_MIN_SIDE {
        // Small matrices: the exact rank is cheap.
        let Some(data) = finite_values(view)? else { return Ok(None) };
        return numerical_rank(&data, rows, cols).map(Some).map_err(fail);
    }
    match gram_of_view(view, rows, cols)? {
        Some(gram) => approx_rank_from_gram(gram).map(Some).map_err(fail),
        None => Ok(None),
    }
}

/// The approximate rank from a Gram matrix with its lower half filled (module docs).
pub(crate) fn approx_rank_from_gram(mut gram: faer::Mat<f64>) -> std::result::Result<usize, RankError> {
    if gram.diagonal().column_vector().iter().all(|&d| d == 0.0) {
        return Ok(0);
    }
    symmetrize(&mut gram);
    let lambda_max = ritz_lambda_max(gram.as_ref())?;
    if lambda_max.is_nan() || lambda_max <= 0.0 {
        // No Ritz value above 0 from the fixed start (G is zero to rounding, or the start was
        // unlucky): count from the eigenvalues.
        return Ok(count_eigenvalues_above(&crate::sym_eigen::symmetric_eigenvalues(gram)?));
    }
    let shift = RANK_RTOL * RANK_RTOL * lambda_max;
    if all_greater(gram.as_ref(), shift) {
        return Ok(gram.nrows());
    }
    Ok(count_greater(gram.as_ref(), shift))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rank::rank_by_svd;

    /// xorshift64*: a fixed-seed generator for the property tests.
    struct Rng(u64);

    impl Rng {
        fn normal(&mut self) -> f64 {
            (0..4)
                .map(|_| {
                    self.0 ^= self.0 >> 12;
                    self.0 ^= self.0 << 25;
                    self.0 ^= self.0 >> 27;
                    (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
                })
                .sum::<f64>()
                - 2.0
        }

        fn matrix(&mut self, rows: usize, cols: usize) -> faer::Mat<f64> {
            faer::Mat::from_fn(rows, cols, |_, _| self.normal())
        }
    }

    /// A row-major `rows x cols` matrix with the singular values `sv`: `U diag(sv) V^T` with
    /// random orthonormal `U`, `V` (thin Q factors of Gaussian matrices).
    fn with_singular_values(rng: &mut Rng, rows: usize, cols: usize, sv: &[f64]) -> Vec<f64> {
        let n = sv.len();
        let u = rng.matrix(rows, n).qr().compute_thin_Q();
        let v = rng.matrix(cols, n).qr().compute_thin_Q();
        let s = faer::Mat::from_fn(n, n, |i, j| if i == j { sv[i] } else { 0.0 });
        let m = &u * &s * v.transpose();
        (0..rows * cols).map(|p| m[(p / cols, p % cols)]).collect()
    }

    /// Checks the documented error bound of the approximate rank against the SVD's rank.
    fn check(data: &[f64], rows: usize, cols: usize, what: &str) -> (usize, usize) {
        let exact = rank_by_svd(data, rows, cols).expect("svd");
        let approx = approx_rank(data, rows, cols).expect("approx");
        let m = faer::MatRef::from_column_major_slice(data, cols, rows);
        let sv = m.singular_values().expect("singular values");
        let t = RANK_RTOL * sv.iter().copied().fold(0.0, f64::max);
        let in_band = sv.iter().filter(|&&s| s > 0.6 * t && s <= 1.25 * t).count();
        assert!(
            approx.abs_diff(exact) <= in_band,
            "{what} {rows}x{cols}: approx {approx}, exact {exact}, {in_band} singular values in the band"
        );
        (approx, exact)
    }

    #[test]
    fn approx_rank_matches_exact_on_random_matrices() {
        let mut rng = Rng(0x5EED_0001);
        for &(rows, cols) in &[(40, 40), (33, 120), (150, 37), (96, 200), (200, 96)] {
            let m = rng.matrix(rows, cols);
            let data: Vec<f64> = (0..rows * cols).map(|p| m[(p / cols, p % cols)]).collect();
            let (approx, exact) = check(&data, rows, cols, "random");
            assert_eq!((approx, exact), (rows.min(cols), rows.min(cols)), "random matrices are full rank");
        }
    }

    #[test]
    fn approx_rank_matches_exact_on_low_rank_matrices() {
        let mut rng = Rng(0x5EED_0002);
        for &(rows, cols, r) in &[(60, 80, 1), (60, 80, 17), (120, 50, 33), (96, 96, 95), (64, 300, 0)] {
            let m = &rng.matrix(rows, r) * &rng.matrix(r, cols);
            let data: Vec<f64> = (0..rows * cols).map(|p| m[(p / cols, p % cols)]).collect();
            let (approx, exact) = check(&data, rows, cols, "low-rank");
            assert_eq!((approx, exact), (r, r), "low-rank {rows}x{cols}");
        }
    }

    #[test]
    fn approx_rank_error_stays_in_the_band_on_ill_conditioned_matrices() {
        let mut rng = Rng(0x5EED_0003);
        for &(rows, cols) in &[(48, 64), (70, 40), (128, 128)] {
            let n = rows.min(cols);
            // Log-spaced from 1 to 1e-10: many singular values near the threshold, some in the band.
            let sv: Vec<f64> = (0..n).map(|i| 10f64.powf(-10.0 * i as f64 / (n - 1) as f64)).collect();
            check(&with_singular_values(&mut rng, rows, cols, &sv), rows, cols, "log-spaced");
            // Clear of the band: the ranks agree.
            let clear: Vec<f64> = (0..n).map(|i| if i % 3 == 0 { 1.0 / (1.0 + i as f64) } else { 1e-7 }).collect();
            let (approx, exact) = check(&with_singular_values(&mut rng, rows, cols, &clear), rows, cols, "clear");
            assert_eq!(approx, exact);
            assert_eq!(exact, clear.iter().filter(|&&s| s > 1e-6 * clear[0]).count());
        }
    }

    #[test]
    fn zero_and_malformed_inputs() {
        assert_eq!(approx_rank(&[0.0; 64 * 40], 64, 40), Ok(0));
        assert_eq!(approx_rank(&[1.0, 2.0, 2.0, 4.0], 2, 2), Ok(1));
        assert!(approx_rank(&[0.0; 10], 40, 40).is_err());
    }

    /// `--rank auto` above the SVD-fallback size: exact (and equal to the SVD's rank) wherever
    /// the Gram matrix decides, approximate within the documented band only where it cannot.
    #[test]
    fn auto_is_exact_unless_only_the_svd_could_decide() {
        use crate::rank::exact_or_approx_rank;
        use crate::RankMode;
        let mut rng = Rng(0x5EED_0004);
        let (rows, cols) = (64, 96);
        // Clear of the band (full rank, and a low-rank matrix): the exact rank, said so.
        let full: Vec<f64> = (0..rows * cols).map(|_| rng.normal()).collect();
        assert_eq!(exact_or_approx_rank(&full, rows, cols), Ok((rows, RankMode::Exact)));
        let clear: Vec<f64> = (0..rows).map(|i| if i < 40 { 1.0 + i as f64 } else { 1e-9 }).collect();
        let low = with_singular_values(&mut rng, rows, cols, &clear);
        assert_eq!(exact_or_approx_rank(&low, rows, cols), Ok((40, RankMode::Exact)));
        // Singular values at the threshold, inside the band: the Gram matrix cannot decide;
        // the approximate count, said so, within its bound of the SVD's rank.
        let near: Vec<f64> = (0..rows).map(|i| if i < 30 { 1.0 } else { 1e-6 * (0.8 + 0.01 * i as f64) }).collect();
        let data = with_singular_values(&mut rng, rows, cols, &near);
        let (rank, method) = exact_or_approx_rank(&data, rows, cols).expect("rank");
        let exact = rank_by_svd(&data, rows, cols).expect("svd");
        assert_eq!(method, RankMode::Approx);
        let in_band = near.iter().filter(|&&s| s > 0.6e-6 && s <= 1.25e-6).count();
        assert!(rank.abs_diff(exact) <= in_band, "auto {rank}, exact {exact}");
    }

    #[test]
    fn auto_resolves_by_size() {
        use crate::RankMode;
        assert_eq!(RankMode::Auto.for_matrix(2048, 2048), RankMode::Exact);
        assert_eq!(RankMode::Auto.for_matrix(2048, 2049), RankMode::Auto);
        assert_eq!(RankMode::Exact.for_matrix(8192, 8192), RankMode::Exact);
        assert_eq!(RankMode::Approx.for_matrix(2, 2), RankMode::Approx);
    }
}
