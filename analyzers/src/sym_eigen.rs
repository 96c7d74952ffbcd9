//! Eigenvalues (no vectors) of a large symmetric matrix by a two-stage tridiagonal reduction.
//!
//! faer's symmetric eigensolver reduces the matrix to tridiagonal form one column at a time:
//! every column reads and rewrites the whole trailing matrix, so for a 4096x4096 Gram matrix the
//! reduction streams about 180 GB through memory and runs at memory speed, not at the speed of
//! the multiply-adds (about two thirds of the spectral time of such a matrix). The two-stage
//! reduction (as in LAPACK's `dsytrd_2stage`) does the same work with blocked products:
//! 1. **dense to band** (half-bandwidth 48): a Householder QR of each block column below
//!    the band, applied to the trailing matrix from both sides as one symmetric rank-`2b`
//!    update (`4/3 n^3` flops, all of them matrix products);
//! 2. **band to tridiagonal** by bulge chasing with short Householder reflectors (B. Lang's
//!    schedule, "A parallel algorithm for reducing symmetric banded matrices to tridiagonal
//!    form", SIAM J. Sci. Comput. 14, 1993, as LAPACK's `dsb2st_kernels` uses it): `O(n^2 b)`
//!    flops on a band that stays in cache;
//! 3. the eigenvalues of the tridiagonal matrix by the root-free QL/QR of
//!    [`crate::tridiagonal`] (LAPACK's `dsterf`).
//!
//! Below [`TWO_STAGE_MIN_DIM`] faer's one-stage tridiagonalization is used (the matrix fits in
//! cache there), with the same third step.
//!
//! Every step is an orthogonal similarity, so the computed eigenvalues are those of a matrix
//! within `c(n) u ||A||` of `A` (`u = 2^-53`), the same backward error as the one-stage
//! reduction: each eigenvalue moves by at most about `c(n) u lambda_max`. The tests compare
//! both paths on random and structured matrices.

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use std::sync::atomic::{AtomicUsize, Ordering};

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::tridiag::{tridiag_in_place, tridiag_in_place_scratch};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};

use crate::rank::RankError;
use crate::tridiagonal::tridiagonal_eigenvalues;

/// Matrices at least this large take the two-stage path; smaller ones fit in cache, where
/// faer's one-stage reduction is as fast.
pub const TWO_STAGE_MIN_DIM: usize = 2048;

/// Half-bandwidth of the intermediate band matrix: wide enough for the first stage's
/// products to run at matrix-product speed, narrow enough for the bulge chasing (whose cost
/// grows with it) to stay small.
const BAND: usize = 48;

/// The eigenvalues of the symmetric `a` (lower half read), in nondecreasing order.
pub fn symmetric_eigenvalues(a: Mat<f64>) -> std::result::Result<Vec<f64>, RankError> {
    let n = a.nrows();
    if n < TWO_STAGE_MIN_DIM && a.ncols() == n {
        return one_stage_eigenvalues(a);
    }
    two_stage_eigenvalues(a, BAND)
}

/// faer's one-stage tridiagonalization, then the root-free QL/QR of [`tridiagonal_eigenvalues`]
/// (more accurate than faer's own tridiagonal QR and under half its time), nondecreasing.
fn one_stage_eigenvalues(mut a: Mat<f64>) -> std::result::Result<Vec<f64>, RankError> {
    let n = a.nrows();
    if n == 0 {
        return Ok(Vec::new());
    }
    let block = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f64>(n, n);
    let mut householder = Mat::<f64>::zeros(block, n - 1);
    let par = Par::rayon(0);
    let mut mem = MemBuffer::new(tridiag_in_place_scratch::<f64>(n, par, Default::default()));
    tridiag_in_place(a.as_mut(), householder.as_mut(), par, MemStack::new(&mut mem), Default::default());
    let diag: Vec<f64> = (0..n).map(|i| a[(i, i)]).collect();
    let sub: Vec<f64> = (0..n - 1).map(|i| a[(i + 1, i)]).collect();
    tridiagonal_eigenvalues(&diag, &sub)
}

/// The two-stage path with half-bandwidth `b` (any `n`, `b >= 1`), nondecreasing.
pub fn two_stage_eigenvalues(mut a: Mat<f64>, b: usize) -> std::result::Result<Vec<f64>, RankError> {
    let (n, b) = (a.nrows(), b.max(1));
    if a.ncols() != n {
        return Err(RankError::Length { values: n * a.ncols(), rows: n, cols: n });
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    let start = std::time::Instant::now();
    reduce_to_band(a.as_mut(), b, Par::rayon(0));
    let banded = start.elapsed();
    let mut band = Band::from_lower(a.as_ref(), b);
    drop(a);
    band.chase_to_tridiagonal();
    let chased = start.elapsed();
    let (diag, sub) = band.tridiagonal();
    let values = tridiagonal_eigenvalues(&diag, &sub);
    tracing::debug!(n, b, ?banded, ?chased, total = ?start.elapsed(), "two-stage eigenvalues");
    values
}

/// A Householder reflector `H = I - tau v v^T` (`v[0] = 1`) with `H x = beta e_1`, computed in
/// place: `x[1..]` becomes `v[1..]`, `x[0]` becomes `beta`. Returns `tau` (0 when `x[1..]` is
/// already zero: `H = I`).
#[inline(always)]
fn householder(x: &mut [f64]) -> f64 {
    let Some((alpha, tail)) = x.split_first_mut() else { return 0.0 };
    // The norm scaled by the largest entry: no overflow or underflow in the squares.
    let top = tail.iter().fold(0.0f64, |m, &t| m.max(t.abs()));
    let tail_norm =
        if top == 0.0 { 0.0 } else { top * tail.iter().map(|&t| (t / top) * (t / top)).sum::<f64>().sqrt() };
    if tail_norm == 0.0 {
        return 0.0;
    }
    let beta = -alpha.signum() * alpha.hypot(tail_norm);
    let tau = (beta - *alpha) / beta;
    let scale = 1.0 / (*alpha - beta);
    tail.iter_mut().for_each(|t| *t *= scale);
    *alpha = beta;
    tau
}

/// Stage 1: reduces the symmetric `a` (lower half) to half-bandwidth `b` by orthogonal
/// similarity, in place (entries below the band become zero).
///
/// For the block column `p..p+b`, the panel `P = A[p+b.., p..p+b]` gets a Householder QR
/// `P = Q R`, `Q = I - V T V^T` (compact WY form). The trailing matrix becomes `Q^T A22 Q = A22
/// - V Z^T - Z V^T` with `Y = A22 V T` and `Z = Y - V (T^T V^T Y) / 2` (`T^T V^T A22 V T` is
/// symmetric, which is what makes the update a symmetric rank-`2b` one; LAPACK's `dsytrd_sy2sb`).
fn reduce_to_band(mut a: MatMut<'_, f64>, b: usize, par: Par) {
    let n = a.nrows();
    let mut p = 0;
    // A panel with fewer than two rows below the band has nothing to annihilate.
    while p + b + 1 < n {
        let m = n - p - b;
        let width = b.min(m);
        let (v, tau) = panel_qr(a.rb_mut().submatrix_mut(p + b, p, m, b), width);
        let v = MatRef::from_column_major_slice(&v, m, width);
        let t = block_reflector_factor(v, &tau);
        update_trailing(a.rb_mut().submatrix_mut(p + b, p + b, m, m), v, t.as_ref(), par);
        p += b;
    }
}

/// Householder QR of the `m x b` panel in place, with `r = min(m, b)` reflectors: the panel
/// keeps `R` (zeros below it) and the reflectors come back as `V` (`m x r`, unit lower
/// trapezoidal, column-major) and their `tau`.
fn panel_qr(panel: MatMut<'_, f64>, r: usize) -> (Vec<f64>, Vec<f64>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { panel_qr_avx2(panel, r) };
    }
    panel_qr_body(panel, r)
}

/// [`panel_qr`] compiled for AVX2: wider vectors, the same operations in the same order (no
/// fused multiply-adds), so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn panel_qr_avx2(panel: MatMut<'_, f64>, r: usize) -> (Vec<f64>, Vec<f64>) {
    panel_qr_body(panel, r)
}

#[inline(always)]
fn panel_qr_body(mut panel: MatMut<'_, f64>, r: usize) -> (Vec<f64>, Vec<f64>) {
    let (m, b) = (panel.nrows(), panel.ncols());
    // Column-major copies, so every column is a slice.
    let mut p: Vec<f64> = (0..b).flat_map(|j| (0..m).map(move |i| (i, j))).map(|(i, j)| panel[(i, j)]).collect();
    let mut v = vec![0.0; m * r];
    let mut tau = vec![0.0; r];
    for c in 0..r {
        let (done, rest) = p.split_at_mut((c + 1) * m);
        let x = &mut done[c * m + c..];
        let t = householder(x);
        tau[c] = t;
        let vc = &mut v[c * m + c..(c + 1) * m];
        vc.copy_from_slice(x);
        vc[0] = 1.0;
        x[1..].iter_mut().for_each(|e| *e = 0.0);
        if t == 0.0 {
            continue;
        }
        for col in rest.chunks_exact_mut(m) {
            let col = &mut col[c..];
            let s = t * dot(vc, col);
            col.iter_mut().zip(vc.iter()).for_each(|(e, &vi)| *e -= s * vi);
        }
    }
    for j in 0..b {
        for i in 0..m {
            panel[(i, j)] = p[j * m + i];
        }
    }
    (v, tau)
}

/// The upper triangular `T` with `H_0 H_1 ... H_{r-1} = I - V T V^T` (LAPACK's `dlarft`,
/// forward, column-wise): `T[i, i] = tau_i`, `T[..i, i] = -tau_i T[..i, ..i] V[:, ..i]^T v_i`.
fn block_reflector_factor(v: MatRef<'_, f64>, tau: &[f64]) -> Mat<f64> {
    let r = tau.len();
    let mut gram = Mat::<f64>::zeros(r, r);
    matmul(gram.as_mut(), Accum::Replace, v.transpose(), v, 1.0, Par::Seq);
    let mut t = Mat::<f64>::zeros(r, r);
    for i in 0..r {
        t[(i, i)] = tau[i];
        for row in 0..i {
            let s: f64 = (row..i).map(|j| t[(row, j)] * gram[(j, i)]).sum();
            t[(row, i)] = -tau[i] * s;
        }
    }
    t
}

/// Columns of the symmetric matrix handled together by [`symmetric_times`].
const PRODUCT_BLOCK: usize = 256;

/// Groups of block columns in [`symmetric_times`] (a fixed number, for results independent of the
/// thread count; 128-column blocks in 4 groups measured the same as these within noise).
const PRODUCT_GROUPS: usize = 2;

/// `A V` for the symmetric `A` (lower half read), in one pass over `A`: each block column of
/// the lower half is used twice while it is in cache, as `S` for the rows below and as `S^T`
/// for its own rows (two triangular products over the whole matrix read it twice from memory).
///
/// The block columns are dealt round-robin to [`PRODUCT_GROUPS`] groups, each summed into its own
/// `X` by one thread with sequential products, and the groups' `X` added in a fixed order: the
/// products of one block are too small to split well across threads (for a 4096x4096 matrix
/// this step took 1.0-1.4 s with faer's parallel products and 0.83-0.94 s this way), and the
/// result depends neither on `par` nor on the number of threads.
fn symmetric_times(a: MatRef<'_, f64>, v: MatRef<'_, f64>, par: Par) -> Mat<f64> {
    use rayon::prelude::*;
    let (m, r) = (v.nrows(), v.ncols());
    let blocks = m.div_ceil(PRODUCT_BLOCK);
    let groups = PRODUCT_GROUPS.min(blocks.max(1));
    let partial = |g: usize| {
        let mut x = Mat::<f64>::zeros(m, r);
        for block in (g..blocks).step_by(groups) {
            add_block_times(a, v, block * PRODUCT_BLOCK, x.as_mut());
        }
        x
    };
    let parts: Vec<Mat<f64>> = match par {
        Par::Seq => (0..groups).map(partial).collect(),
        Par::Rayon(_) => (0..groups).into_par_iter().map(partial).collect(),
    };
    let mut parts = parts.into_iter();
    let mut x = parts.next().unwrap_or_else(|| Mat::zeros(m, r));
    for part in parts {
        x += &part;
    }
    x
}

/// `X += A[.., c0..c0+nb] V[c0..c0+nb, ..] + (A[c0+nb.., c0..c0+nb])^T V[c0+nb.., ..]`-style
/// contributions of the lower half's block column at `c0` to `A V` (see [`symmetric_times`]).
fn add_block_times(a: MatRef<'_, f64>, v: MatRef<'_, f64>, c0: usize, mut x: MatMut<'_, f64>) {
    use BlockStructure::{Rectangular, StrictTriangularUpper, TriangularLower};
    let m = v.nrows();
    let nb = PRODUCT_BLOCK.min(m - c0);
    let below = m - c0 - nb;
    let d = a.submatrix(c0, c0, nb, nb);
    let vb = v.subrows(c0, nb);
    let mut xb = x.rb_mut().subrows_mut(c0, nb);
    tri_matmul(xb.rb_mut(), Rectangular, Accum::Add, d, TriangularLower, vb, Rectangular, 1.0, Par::Seq);
    tri_matmul(
        xb.rb_mut(),
        Rectangular,
        Accum::Add,
        d.transpose(),
        StrictTriangularUpper,
        vb,
        Rectangular,
        1.0,
        Par::Seq,
    );
    if below > 0 {
        let s = a.submatrix(c0 + nb, c0, below, nb);
        matmul(xb.rb_mut(), Accum::Add, s.transpose(), v.subrows(c0 + nb, below), 1.0, Par::Seq);
        matmul(x.subrows_mut(c0 + nb, below), Accum::Add, s, vb, 1.0, Par::Seq);
    }
}

/// `A22 <- Q^T A22 Q` for the symmetric `A22` (lower half read and written): `X = A22 V` from
/// the lower half, then the rank-`2b` update as one product `[V Z] [Z V]^T` (one pass over the
/// trailing matrix instead of two).
fn update_trailing(mut a22: MatMut<'_, f64>, v: MatRef<'_, f64>, t: MatRef<'_, f64>, par: Par) {
    use BlockStructure::{Rectangular, TriangularLower};
    let (m, r) = (v.nrows(), v.ncols());
    let x = symmetric_times(a22.rb(), v, par);
    // left = [V Z], right = [Z V], Z = X T - V M / 2 with M = T^T V^T X T.
    let mut left = Mat::<f64>::zeros(m, 2 * r);
    left.as_mut().subcols_mut(0, r).copy_from(v);
    {
        let mut z = left.as_mut().subcols_mut(r, r);
        matmul(z.rb_mut(), Accum::Replace, x.as_ref(), t, 1.0, par);
        let mut vty = Mat::<f64>::zeros(r, r);
        matmul(vty.as_mut(), Accum::Replace, v.transpose(), z.rb(), 1.0, Par::Seq);
        let mut half_m = Mat::<f64>::zeros(r, r);
        matmul(half_m.as_mut(), Accum::Replace, t.transpose(), vty.as_ref(), 0.5, Par::Seq);
        matmul(z.rb_mut(), Accum::Add, v, half_m.as_ref(), -1.0, par);
    }
    let mut right = Mat::<f64>::zeros(m, 2 * r);
    right.as_mut().subcols_mut(0, r).copy_from(left.as_ref().subcols(r, r));
    right.as_mut().subcols_mut(r, r).copy_from(v);
    tri_matmul(
        a22.rb_mut(),
        TriangularLower,
        Accum::Add,
        left.as_ref(),
        Rectangular,
        right.as_ref().transpose(),
        Rectangular,
        -1.0,
        par,
    );
}

/// The lower half of a symmetric band matrix, by columns: entry `(i, j)`, `j <= i <= j + 2b`,
/// at `data[j * ld + i - j]`, `ld = 2b + 1`. The band is `b` wide; the chase's bulges reach
/// `2b - 1` below the diagonal.
struct Band {
    n: usize,
    b: usize,
    ld: usize,
    data: Vec<f64>,
}

impl Band {
    fn from_lower(a: MatRef<'_, f64>, b: usize) -> Band {
        let n = a.nrows();
        let ld = 2 * b + 1;
        let mut data = vec![0.0; n * ld];
        for j in 0..n {
            for i in j..n.min(j + b + 1) {
                data[j * ld + i - j] = a[(i, j)];
            }
        }
        Band { n, b, ld, data }
    }

    /// Stage 2: chases the band to tridiagonal form (B. Lang's schedule, as in LAPACK's
    /// `dsb2st_kernels`). Sweep `k` annihilates column `k` below its subdiagonal with one
    /// reflector on rows `k+1..=k+b`; applied from the right to the rows below, it fills a
    /// block under the band (the bulge). The next reflector, on the next `b` rows, annihilates
    /// the first column of that bulge, and so on down the band: each is applied to the three
    /// blocks of the lower half it touches (the bulge columns to its left, the diagonal block
    /// from both sides, the rows below from the right). The rest of each bulge is removed by the
    /// following sweeps; it never reaches more than `2b - 1` below the diagonal.
    ///
    /// Sweeps run on [`CHASE_THREADS`] threads in a pipeline (sweep `k` on thread `k mod T`,
    /// as LAPACK's `dsytrd_sb2st` does with tasks): step `s` of sweep `k` touches rows and columns
    /// `k+1+(s-1)b ..= k+(s+2)b` (step 0: `k ..= k+2b`), and sweep `k-1`'s step `s'` stays clear
    /// of them once `s' >= s + 4`; so step `s` of sweep `k` waits until sweep `k-1` has finished
    /// its steps up to `s + 3`. Every entry is then updated in the same order as by one thread,
    /// and the result is bit-identical.
    fn chase_to_tridiagonal(&mut self) {
        self.chase_on(std::thread::available_parallelism().map_or(1, |p| p.get()).clamp(1, CHASE_THREADS));
    }

    fn chase_on(&mut self, threads: usize) {
        let (n, b) = (self.n, self.b);
        if n < 3 {
            return;
        }
        let shared = SharedBand { ptr: self.data.as_mut_ptr(), len: self.data.len(), n, b, ld: self.ld };
        let stride = n / b + 8;
        let progress: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
        if threads == 1 {
            shared.sweeps(0, 1, stride, &progress);
            return;
        }
        // OS threads, not rayon tasks: each waits on the other, so both must run at once.
        std::thread::scope(|scope| {
            for first in 0..threads {
                let (shared, progress) = (&shared, &progress);
                scope.spawn(move || shared.sweeps(first, threads, stride, progress));
            }
        });
    }

    fn tridiagonal(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.n;
        let diag = (0..n).map(|i| self.data[i * self.ld]).collect();
        let sub = (0..n.saturating_sub(1)).map(|i| self.data[i * self.ld + 1]).collect();
        (diag, sub)
    }
}

/// Threads of the band-to-tridiagonal pipeline (more would wait on each other: each sweep is
/// at most a few steps behind the one before).
const CHASE_THREADS: usize = 2;

/// The band's storage shared by the pipeline's threads ([`Band::chase_to_tridiagonal`] says
/// why their accesses never overlap).
struct SharedBand {
    ptr: *mut f64,
    len: usize,
    n: usize,
    b: usize,
    ld: usize,
}

// SAFETY: the threads write disjoint entries at any time (the pipeline's waits), and the waits'
// acquire/release pairs order every write before the next thread's reads of that entry.
unsafe impl Sync for SharedBand {}

impl SharedBand {
    /// Rows `first..=last` of column `j` (`j <= first`, `last <= j + 2b`).
    ///
    /// # Safety
    /// No other live reference may overlap these entries (the pipeline's schedule).
    #[allow(clippy::mut_from_ref)]
    unsafe fn col(&self, j: usize, first: usize, last: usize) -> &mut [f64] {
        let start = j * self.ld + first - j;
        let end = j * self.ld + last - j + 1;
        assert!(first >= j && last < j + self.ld && end <= self.len, "band entry out of storage");
        // SAFETY: in bounds (checked above); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), end - start) }
    }

    /// Sweeps `first, first + every, ...`, each step waiting for the sweep before it (on
    /// another thread) to be four steps ahead; `progress[k % every]` holds `k * stride +
    /// steps done` of sweep `k` (`stride - 1` when it is finished).
    fn sweeps(&self, first: usize, every: usize, stride: usize, progress: &[AtomicUsize]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { self.sweeps_avx2(first, every, stride, progress) };
        }
        self.sweeps_body(first, every, stride, progress)
    }

    /// [`Self::sweeps`] compiled for AVX2 (as [`panel_qr_avx2`]: the same bits).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn sweeps_avx2(&self, first: usize, every: usize, stride: usize, progress: &[AtomicUsize]) {
        self.sweeps_body(first, every, stride, progress)
    }

    #[inline(always)]
    fn sweeps_body(&self, first: usize, every: usize, stride: usize, progress: &[AtomicUsize]) {
        let (n, b) = (self.n, self.b);
        let mut v = vec![0.0; b];
        let mut y = vec![0.0; b];
        let mut t = vec![0.0; b];
        for k in (first..n - 2).step_by(every) {
            let mut step = 0;
            let mut j = k;
            let mut r1 = k + 1;
            while r1 < n {
                if k > 0 {
                    wait_until(&progress[(k - 1) % every], (k - 1) * stride + (step + 4).min(stride - 1));
                }
                let r2 = (r1 + b - 1).min(n - 1);
                let len = r2 - r1 + 1;
                let v = &mut v[..len];
                // SAFETY: column j's rows r1..=r2 lie in this step's window (the schedule).
                let x = unsafe { self.col(j, r1, r2) };
                let tau = householder(x);
                if tau != 0.0 {
                    v.copy_from_slice(x);
                    x[1..].iter_mut().for_each(|e| *e = 0.0);
                    v[0] = 1.0;
                    self.reflect(v, tau, j, r1, &mut y[..len], &mut t);
                }
                step += 1;
                progress[k % every].store(k * stride + step, Ordering::Release);
                // The next reflector annihilates the bulge's first column, `b` rows further.
                j = if j == k { k + 1 } else { j + b };
                r1 = j + b;
                if r1 + 1 >= n {
                    break;
                }
            }
            progress[k % every].store(k * stride + stride - 1, Ordering::Release);
        }
    }

    /// Applies `H = I - tau v v^T` (rows and columns `r1..r1+len`) from both sides, where the
    /// reflector was built from column `j` (already set).
    #[inline(always)]
    fn reflect(&self, v: &[f64], tau: f64, j: usize, r1: usize, y: &mut [f64], t: &mut [f64]) {
        let (n, b) = (self.n, self.b);
        let r2 = r1 + v.len() - 1;
        // SAFETY (every `col` below): the entries lie in this step's window, which no other
        // thread touches until this step is published (the schedule); one slice at a time.
        // The bulge columns left of the block: rows r1..=r2, from the left.
        for c in j + 1..r1 {
            let seg = unsafe { self.col(c, r1, r2) };
            let s = tau * dot(v, seg);
            seg.iter_mut().zip(v).for_each(|(x, &vi)| *x -= s * vi);
        }
        // The diagonal block from both sides: D - v w^T - w v^T with w = tau D v + alpha v.
        y.iter_mut().for_each(|e| *e = 0.0);
        for (c, &vc) in v.iter().enumerate() {
            let seg = unsafe { self.col(r1 + c, r1 + c, r2) };
            y[c] += dot(seg, &v[c..]);
            y[c + 1..].iter_mut().zip(&seg[1..]).for_each(|(e, &x)| *e += vc * x);
        }
        y.iter_mut().for_each(|e| *e *= tau);
        let alpha = -0.5 * tau * dot(y, v);
        y.iter_mut().zip(v).for_each(|(e, &vi)| *e += alpha * vi);
        for c in 0..v.len() {
            let (vc, wc) = (v[c], y[c]);
            let seg = unsafe { self.col(r1 + c, r1 + c, r2) };
            seg.iter_mut().zip(&v[c..]).zip(&y[c..]).for_each(|((x, &vi), &wi)| *x -= vi * wc + wi * vc);
        }
        // The rows below the block, from the right.
        let r3 = (r1 + 2 * b - 1).min(n - 1);
        if r3 <= r2 {
            return;
        }
        let t = &mut t[..r3 - r2];
        t.iter_mut().for_each(|e| *e = 0.0);
        for (c, &vc) in v.iter().enumerate() {
            let seg = unsafe { self.col(r1 + c, r2 + 1, r3) };
            t.iter_mut().zip(seg.iter()).for_each(|(e, &x)| *e += vc * x);
        }
        for (c, &vc) in v.iter().enumerate() {
            let s = tau * vc;
            let seg = unsafe { self.col(r1 + c, r2 + 1, r3) };
            seg.iter_mut().zip(t.iter()).for_each(|(x, &e)| *x -= s * e);
        }
    }
}

/// Spins (then yields: the machine may be busy with other tensors) until `progress` reaches
/// `target`.
fn wait_until(progress: &AtomicUsize, target: usize) {
    let mut spins = 0u32;
    while progress.load(Ordering::Acquire) < target {
        if spins < 200 {
            std::hint::spin_loop();
            spins += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

/// A dot product with sixteen independent sums (the compiler keeps a single float sum serial;
/// sixteen fill four AVX2 registers, enough to hide the adds' latency), added pairwise.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    const LANES: usize = 16;
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            acc[l] += acc[l + width];
        }
    }
    acc[0] + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Side;

    fn random_symmetric(n: usize, seed: u64) -> Mat<f64> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let mut a = Mat::<f64>::zeros(n, n);
        for j in 0..n {
            for i in j..n {
                let x = next();
                a[(i, j)] = x;
                a[(j, i)] = x;
            }
        }
        a
    }

    /// `W W^T`.
    fn gram(w: MatRef<'_, f64>) -> Mat<f64> {
        let mut g = Mat::<f64>::zeros(w.nrows(), w.nrows());
        matmul(g.as_mut(), Accum::Replace, w, w.transpose(), 1.0, Par::Seq);
        g
    }

    /// The two-stage eigenvalues of `a` with half-bandwidth `b` against faer's.
    fn assert_matches_faer(a: Mat<f64>, b: usize, what: &str) {
        let one = a.self_adjoint_eigenvalues(Side::Lower).expect("faer");
        let two = two_stage_eigenvalues(a, b).expect("two stage");
        assert_close(&two, &one, what);
    }

    fn assert_close(two: &[f64], one: &[f64], what: &str) {
        assert_eq!(two.len(), one.len());
        let top = one.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        for (i, (x, y)) in two.iter().zip(one).enumerate() {
            assert!((x - y).abs() <= 1e-12 * top.max(f64::MIN_POSITIVE), "{what} {i}: {x} vs {y}");
        }
    }

    #[test]
    fn one_stage_matches_faer_on_random_matrices() {
        for n in [0, 1, 2, 3, 17, 64, 150] {
            let a = random_symmetric(n, 7 + n as u64);
            let one = a.self_adjoint_eigenvalues(Side::Lower).expect("faer");
            assert_close(&symmetric_eigenvalues(a).expect("one stage"), &one, &format!("one stage n={n}"));
        }
    }

    #[test]
    fn two_stage_matches_faer_on_random_matrices() {
        for &(n, b) in
            &[(1, 4), (2, 4), (3, 1), (5, 4), (9, 4), (17, 4), (40, 8), (64, 8), (131, 8), (200, 32), (97, 5)]
        {
            assert_matches_faer(random_symmetric(n, n as u64 * 31 + b as u64), b, &format!("n={n} b={b}"));
        }
        assert!(two_stage_eigenvalues(Mat::<f64>::zeros(3, 4), 2).is_err());
        assert_eq!(two_stage_eigenvalues(Mat::<f64>::zeros(5, 5), 0).expect("b = 0 is b = 1"), vec![0.0; 5]);
    }

    #[test]
    fn two_stage_keeps_a_psd_gram_spectrum() {
        // A Gram matrix with a wide range of eigenvalues, as the rank and spectral paths give it.
        let (n, k) = (150, 300);
        let w = random_symmetric(k, 7).submatrix(0, 0, k, n).to_owned();
        assert_matches_faer(gram(w.transpose()), 16, "gram");
    }

    #[test]
    fn two_stage_handles_zero_diagonal_and_low_rank_matrices() {
        // Already diagonal: every reflector is the identity, and the diagonal comes back (to the
        // rounding of the tridiagonal QL/QR).
        let n = 70;
        let diag = Mat::<f64>::from_fn(n, n, |i, j| if i == j { (i as f64 - 30.0) * 0.5 } else { 0.0 });
        let mut expected: Vec<f64> = (0..n).map(|i| (i as f64 - 30.0) * 0.5).collect();
        expected.sort_by(f64::total_cmp);
        assert_close(&two_stage_eigenvalues(diag, 8).expect("diagonal"), &expected, "diagonal");
        assert_eq!(two_stage_eigenvalues(Mat::<f64>::zeros(n, n), 8).expect("zero"), vec![0.0; n]);
        // Rank 10: 110 eigenvalues at zero to rounding, the 10 others as faer finds them.
        let (n, k) = (120, 10);
        let w = random_symmetric(n, 11).submatrix(0, 0, n, k).to_owned();
        assert_matches_faer(gram(w.as_ref()), 12, "low rank");
    }

    /// The grouped product of the lower half equals the plain product with the full matrix, and
    /// does not depend on the thread count.
    #[test]
    fn symmetric_times_is_the_product_with_the_whole_matrix() {
        let (m, r) = (3 * PRODUCT_BLOCK + 41, 9);
        let a = random_symmetric(m, 21);
        let v = random_symmetric(m, 22).submatrix(0, 0, m, r).to_owned();
        let mut want = Mat::<f64>::zeros(m, r);
        matmul(want.as_mut(), Accum::Replace, a.as_ref(), v.as_ref(), 1.0, Par::Seq);
        let mut lower = a.clone();
        for j in 0..m {
            for i in 0..j {
                lower[(i, j)] = f64::NAN; // the upper half is never read
            }
        }
        let parallel = symmetric_times(lower.as_ref(), v.as_ref(), Par::rayon(0));
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
        let single = one.install(|| symmetric_times(lower.as_ref(), v.as_ref(), Par::rayon(0)));
        assert_eq!(parallel, single);
        assert_eq!(parallel, symmetric_times(lower.as_ref(), v.as_ref(), Par::Seq));
        for j in 0..r {
            for i in 0..m {
                assert!((parallel[(i, j)] - want[(i, j)]).abs() <= 1e-12, "({i}, {j})");
            }
        }
    }

    #[test]
    fn the_pipelined_chase_is_bit_identical_to_one_thread() {
        for &(n, b) in &[(3, 1), (50, 4), (301, 7), (400, 16)] {
            let mut a = random_symmetric(n, 5 + n as u64);
            reduce_to_band(a.as_mut(), b, Par::Seq);
            let mut one = Band::from_lower(a.as_ref(), b);
            let mut three = Band::from_lower(a.as_ref(), b);
            one.chase_on(1);
            three.chase_on(3);
            assert_eq!(one.tridiagonal(), three.tridiagonal(), "n={n} b={b}");
            assert!(one.tridiagonal().1.iter().any(|&e| e != 0.0) || n < 3);
        }
    }

    #[test]
    fn large_matrices_take_the_two_stage_path() {
        let n = TWO_STAGE_MIN_DIM;
        let a = random_symmetric(n, 3);
        let one = a.self_adjoint_eigenvalues(Side::Lower).expect("faer");
        let two = symmetric_eigenvalues(a).expect("two stage");
        assert_close(&two, &one, "large");
    }
}
