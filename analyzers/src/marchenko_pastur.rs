//! WeightWatcher 0.7.7's Marchenko-Pastur fit of an eigenvalue spectrum (`analyze(mp_fit=True)`):
//! `num_spikes`, `sigma_mp` and `mp_softrank`.
//!
//! The rules, from its source (weightwatcher.py and RMT_Util.py of the 0.7.7 wheel):
//! - `WeightWatcher.mp_fit` rescales the `M` eigenvalues of an `N x M` matrix (`N >= M`, `Q = N /
//!   M`) to mean 1: `x_i = lambda_i * M / sum lambda` (`Wscale = sqrt(M) / sqrt(sum lambda)`,
//!   `rescale=True`);
//! - `RMT_Util.fit_density_with_range` fits the scale `sigma` by `scipy.optimize.brute` over the grid
//!   `np.arange(0.05 s, 2 s, 0.01 s)` with `s = calc_sigma(Q, x) = sqrt(max x) / (1 + 1 / sqrt(Q))`,
//!   then polishes the best grid point by brute's default `finish`, `scipy.optimize.fmin`
//!   (Nelder-Mead, `xatol = fatol = 1e-4`, at most 200 evaluations; scipy 1.17's
//!   `_minimize_neldermead`, reproduced in `nelder_mead`);
//! - the objective is `RMT_Util.resid_mp(..., allresid=False)`: the sum of squared residuals between
//!   a kernel density estimate of the values (sklearn `KernelDensity(kernel='linear',
//!   bandwidth=0.1)`, evaluated on `np.linspace(0, max + 0.5, 1000)`, points with density at or
//!   below 0.01 dropped) and the Marchenko-Pastur density `marchenko_pastur_fun` (residual 1000 at
//!   every point when its upper edge `b` lies left of the density's first maximum or right of the
//!   grid, or its lower edge `a` right of that maximum). For a square matrix (`Q == 1`) the values
//!   are the singular values `sqrt(x)` and the density the quarter circle `quarter_circle_fun`,
//!   `sqrt(4 - x^2) / (pi sigma^2)`;
//! - `mp_fit` then reports `sigma_mp = sigma`, `bulk_max = (sigma (1 + 1 / sqrt(Q)))^2`,
//!   `num_spikes` = the number of `x_i > bulk_max + sqrt(Q^(-1/2) bulk_max^(2/3) M^(-2/3))` (its
//!   Tracy-Widom margin) and `mp_softrank = bulk_max / max x`.
//!
//! The kernel density is summed directly (sklearn's tree sums the same terms in another order:
//! differences of rounding only).

use crate::powerlaw::pairwise_sum;

/// The kernel bandwidth of the density estimate (`mp_fit`'s `bw`).
const BANDWIDTH: f64 = 0.1;
/// Points of the density grid (`resid_mp`'s `np.linspace(..., 1000)`).
const GRID_POINTS: usize = 1000;
/// Density at or below this is left out of the residual (`resid_mp`'s `THRESH`).
const DENSITY_THRESH: f64 = 0.01;
/// The residual of every point when the MP edges do not fit the density (`resid_mp`).
const PENALTY: f64 = 1000.0;

/// WeightWatcher's Marchenko-Pastur fit of one spectrum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MpFit {
    /// Eigenvalues above the bulk edge plus its Tracy-Widom margin.
    pub num_spikes: usize,
    /// The fitted scale of the rescaled spectrum.
    pub sigma_mp: f64,
    /// `bulk_max / lambda_max` of the rescaled spectrum.
    pub mp_softrank: f64,
}

/// The fit of the eigenvalues `evals` (all `m` of them, any order, all >= 0 and finite) of an
/// `n x m` matrix with `n >= m` (WeightWatcher's `N` and `M`). `None` when it cannot be computed:
/// a zero spectrum, or no grid point with density above the threshold (where WeightWatcher's
/// `mp_fit` raises and reports -1).
pub fn fit(evals: &[f64], n: usize, m: usize) -> Option<MpFit> {
    if evals.is_empty() || m == 0 || evals.iter().any(|e| !e.is_finite() || *e < 0.0) {
        return None;
    }
    let q = n as f64 / m as f64;
    let wnorm = pairwise_sum(evals).sqrt();
    let wscale = (evals.len() as f64).sqrt() / wnorm;
    let scaled: Vec<f64> = evals.iter().map(|e| (wscale * wscale) * e).collect();
    let lambda_max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !(lambda_max > 0.0 && lambda_max.is_finite()) {
        return None;
    }
    let sigma = fit_sigma(&scaled, q)?;
    let bulk_max = (sigma * (1.0 + 1.0 / q.sqrt())).powi(2);
    let tw = 1.0 / q.sqrt() * bulk_max.powf(2.0 / 3.0) * (m as f64).powf(-2.0 / 3.0);
    let bulk_max_tw = bulk_max + tw.sqrt();
    Some(MpFit {
        num_spikes: scaled.iter().filter(|&&x| x > bulk_max_tw).count(),
        sigma_mp: sigma,
        mp_softrank: bulk_max / lambda_max,
    })
}

/// `fit_density_with_range`: brute force over the sigma grid, then Nelder-Mead from its best point.
fn fit_sigma(scaled: &[f64], q: f64) -> Option<f64> {
    let lmax = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // calc_sigma(Q, evals)
    let inv_sq_q = 1.0 / q.sqrt();
    let s = (lmax / ((1.0 + inv_sq_q) * (1.0 + inv_sq_q))).sqrt();
    let values: Vec<f64> = if q == 1.0 { scaled.iter().map(|x| x.sqrt()).collect() } else { scaled.to_vec() };
    let density = KernelDensity::new(values)?;
    let objective = |sigma: f64| density.residual(sigma, q);
    let grid = arange(0.05 * s, 2.0 * s, 0.01 * s);
    let mut best: Option<(f64, f64)> = None;
    for &sigma in &grid {
        let f = objective(sigma);
        // np.argmin: the first minimum; a NaN is a minimum.
        let better = match best {
            None => true,
            Some((_, fb)) => f < fb || (f.is_nan() && !fb.is_nan()),
        };
        if better {
            best = Some((sigma, f));
        }
    }
    let (x0, _) = best?;
    Some(nelder_mead(objective, x0))
}

/// `np.arange(start, stop, step)` for floats: `ceil((stop - start) / step)` values `start + i *
/// delta` with `delta = (start + step) - start` (numpy fills from its first two values).
fn arange(start: f64, stop: f64, step: f64) -> Vec<f64> {
    let len = ((stop - start) / step).ceil();
    if !(len > 0.0 && len.is_finite()) {
        return Vec::new();
    }
    let len = len as usize;
    let delta = (start + step) - start;
    (0..len)
        .map(|i| {
            if i == 0 {
                start
            } else if i == 1 {
                start + step
            } else {
                start + i as f64 * delta
            }
        })
        .collect()
}

/// The linear-kernel density estimate of `resid_mp` on its grid, which does not depend on sigma.
struct KernelDensity {
    /// The grid `np.linspace(0, max + 0.5, 1000)`, only the points above the density threshold.
    x: Vec<f64>,
    /// The density at those points.
    y: Vec<f64>,
    /// How many grid points were dropped (their residual is 0).
    dropped: usize,
    /// The first grid point of the largest density.
    x_at_max: f64,
    /// The grid's last point.
    x_last: f64,
}

impl KernelDensity {
    /// `None` when no grid point has a density above the threshold.
    fn new(mut values: Vec<f64>) -> Option<Self> {
        values.sort_by(f64::total_cmp);
        let max = *values.last()?;
        let stop = max + 0.5;
        let step = stop / (GRID_POINTS - 1) as f64;
        let norm = 1.0 / (values.len() as f64 * BANDWIDTH);
        let (mut x, mut y, mut dropped) = (Vec::new(), Vec::new(), 0);
        for i in 0..GRID_POINTS {
            let xi = if i == GRID_POINTS - 1 { stop } else { i as f64 * step };
            // sklearn's linear kernel: 1 - d/h for d < h.
            let lo = values.partition_point(|&v| v <= xi - BANDWIDTH);
            let hi = values.partition_point(|&v| v < xi + BANDWIDTH);
            let k: f64 = values[lo..hi]
                .iter()
                .map(|&v| (v - xi).abs())
                .filter(|&d| d < BANDWIDTH)
                .map(|d| 1.0 - d / BANDWIDTH)
                .sum();
            let density = k * norm;
            if density > DENSITY_THRESH {
                x.push(xi);
                y.push(density);
            } else if density < DENSITY_THRESH {
                dropped += 1;
            }
        }
        let mut imax = 0;
        for (i, &d) in y.iter().enumerate() {
            if d > y[imax] {
                imax = i;
            }
        }
        let x_at_max = *x.get(imax)?;
        let x_last = *x.last()?;
        Some(KernelDensity { x, y, dropped, x_at_max, x_last })
    }

    /// `resid_mp(sigma, ..., allresid=False)`: `sum resid^2` over the kept points and zeros for the
    /// dropped ones (numpy's pairwise sum of that concatenation).
    fn residual(&self, sigma: f64, q: f64) -> f64 {
        let mut squares: Vec<f64> = if q == 1.0 {
            // quarter_circle_fun: nan_to_num(sqrt(4 - x^2) / (pi sigma^2)).
            let c = 1.0 / (std::f64::consts::PI * sigma * sigma);
            self.x.iter().zip(&self.y).map(|(&x, &y)| nan_to_num(c * (4.0 - x * x).sqrt()) - y).map(|r| r * r).collect()
        } else {
            let inv = (1.0 / q).sqrt();
            let (hi, lo) = (sigma * (1.0 + inv), sigma * (1.0 - inv));
            let (b, a) = (hi * hi, lo * lo);
            if b < self.x_at_max || b > self.x_last || a > self.x_at_max {
                vec![PENALTY * PENALTY; self.x.len()]
            } else {
                // marchenko_pastur_fun, operations in its order.
                let y_ratio = 1.0 / q;
                self.x
                    .iter()
                    .zip(&self.y)
                    .map(|(&x, &y)| {
                        let mp = (1.0 / (2.0 * std::f64::consts::PI * sigma * sigma * x * y_ratio))
                            * ((b - x) * (x - a)).sqrt();
                        nan_to_num(mp) - y
                    })
                    .map(|r| r * r)
                    .collect()
            }
        };
        squares.resize(squares.len() + self.dropped, 0.0);
        pairwise_sum(&squares)
    }
}

/// numpy's `nan_to_num`: NaN to 0, infinities to the largest finite values.
fn nan_to_num(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else if v == f64::INFINITY {
        f64::MAX
    } else if v == f64::NEG_INFINITY {
        f64::MIN
    } else {
        v
    }
}

/// scipy's `fmin` (`_minimize_neldermead`, scipy 1.17) in one dimension with its defaults:
/// `rho = 1, chi = 2, psi = 0.5, sigma = 0.5`, initial simplex `{x0, 1.05 x0}` (`0.00025` for a
/// zero `x0`), `xatol = fatol = 1e-4`, at most 200 iterations and 200 evaluations.
fn nelder_mead(f: impl Fn(f64) -> f64, x0: f64) -> f64 {
    const XATOL: f64 = 1e-4;
    const FATOL: f64 = 1e-4;
    const MAX: usize = 200;
    let calls = std::cell::Cell::new(0usize);
    // The evaluation budget: scipy raises (and stops the step) when it is spent.
    let mut eval = |x: f64| {
        if calls.get() >= MAX {
            return None;
        }
        calls.set(calls.get() + 1);
        Some(f(x))
    };
    let x1 = if x0 != 0.0 { (1.0 + 0.05) * x0 } else { 0.00025 };
    let mut sim = [x0, x1];
    let mut fsim = [f64::INFINITY; 2];
    for k in 0..2 {
        fsim[k] = eval(sim[k]).unwrap_or(f64::INFINITY);
    }
    sort2(&mut sim, &mut fsim);
    let mut iterations = 1;
    while calls.get() < MAX && iterations < MAX {
        if (sim[1] - sim[0]).abs() <= XATOL && (fsim[0] - fsim[1]).abs() <= FATOL {
            break;
        }
        if step(&mut eval, &mut sim, &mut fsim).is_some() {
            iterations += 1;
        }
        sort2(&mut sim, &mut fsim);
    }
    sim[0]
}

/// One Nelder-Mead step on the simplex `{sim[0], sim[1]}` (`xbar = sim[0]`); `None` when the
/// evaluation budget ran out during it.
fn step(eval: &mut impl FnMut(f64) -> Option<f64>, sim: &mut [f64; 2], fsim: &mut [f64; 2]) -> Option<()> {
    let (rho, chi, psi, shrink) = (1.0, 2.0, 0.5, 0.5);
    let xbar = sim[0];
    let xr = (1.0 + rho) * xbar - rho * sim[1];
    let fxr = eval(xr)?;
    if fxr < fsim[0] {
        let xe = (1.0 + rho * chi) * xbar - rho * chi * sim[1];
        let fxe = eval(xe)?;
        (sim[1], fsim[1]) = if fxe < fxr { (xe, fxe) } else { (xr, fxr) };
        return Some(());
    }
    // With two vertices fsim[-2] is fsim[0], so the plain reflection is never taken.
    let contracted = if fxr < fsim[1] {
        let xc = (1.0 + psi * rho) * xbar - psi * rho * sim[1];
        let fxc = eval(xc)?;
        (fxc <= fxr).then_some((xc, fxc))
    } else {
        let xcc = (1.0 - psi) * xbar + psi * sim[1];
        let fxcc = eval(xcc)?;
        (fxcc < fsim[1]).then_some((xcc, fxcc))
    };
    match contracted {
        Some(v) => (sim[1], fsim[1]) = v,
        None => {
            sim[1] = sim[0] + shrink * (sim[1] - sim[0]);
            fsim[1] = eval(sim[1])?;
        }
    }
    Some(())
}

/// `np.argsort` of two values (stable; NaN last) applied to the simplex.
fn sort2(sim: &mut [f64; 2], fsim: &mut [f64; 2]) {
    let swap = if fsim[0].is_nan() { !fsim[1].is_nan() } else { fsim[1] < fsim[0] };
    if swap {
        sim.swap(0, 1);
        fsim.swap(0, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arange_is_numpys() {
        let g = arange(0.05, 2.0, 0.01);
        assert_eq!(g.len(), 195);
        assert_eq!(g[0], 0.05);
        assert!((g[194] - 1.99).abs() < 1e-12);
        assert!(arange(1.0, 0.0, 0.1).is_empty());
    }

    #[test]
    fn nelder_mead_finds_a_parabola_minimum() {
        let x = nelder_mead(|x| (x - 0.7) * (x - 0.7), 0.5);
        assert!((x - 0.7).abs() < 1e-3, "{x}");
    }

    #[test]
    fn the_density_integrates_to_one() {
        let values: Vec<f64> = (0..400).map(|i| 0.5 + i as f64 / 400.0).collect();
        let kde = KernelDensity::new(values).expect("density");
        let step = (1.4975 + 0.5) / 999.0;
        let area: f64 = kde.y.iter().sum::<f64>() * step;
        assert!((area - 1.0).abs() < 0.02, "{area}");
        assert!(kde.x_at_max > 0.5 && kde.x_at_max < 1.5);
    }

    #[test]
    fn degenerate_spectra_have_no_fit() {
        assert_eq!(fit(&[], 4, 0), None);
        assert_eq!(fit(&[0.0; 5], 10, 5), None);
        assert_eq!(fit(&[1.0, f64::NAN], 10, 2), None);
    }
}
