//! WeightWatcher 0.7.7's `rand_distance` (`analyze(randomize=True)`; `--spectral=full` here): how
//! far the eigenvalue spectrum of `W` is from that of `W` with its elements randomly permuted.
//!
//! From its source: `WeightWatcher.apply_random_esd` (weightwatcher.py) shuffles the elements of
//! `W` (`random_eigenvalues`: `np.random.shuffle` of the flattened matrix, reshaped to the same
//! shape), takes the sorted eigenvalues of the shuffled matrix, and reports
//! `RMT_Util.jensen_shannon_distance(evals, rand_evals)` between the two sorted eigenvalue vectors,
//! each read as a discrete distribution over the eigenvalue index ([`jensen_shannon_distance`]).
//!
//! WeightWatcher's shuffle is unseeded (a new value every run); here the permutation is seeded
//! ([`permutation_seed`]): a Fisher-Yates shuffle (`rand`'s `SliceRandom::shuffle`) driven by
//! ChaCha8 seeded with the FNV-1a hash of the tensor name, so a run is reproducible and two
//! tensors get independent permutations.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::powerlaw::pairwise_sum;

/// The seed of a tensor's permutation: the 64-bit FNV-1a hash of its name.
pub fn permutation_seed(tensor_name: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    tensor_name.bytes().fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// Permutes `data` in place with the seeded shuffle of the module doc.
pub fn permute(data: &mut [f64], seed: u64) {
    data.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
}

/// `RMT_Util.jensen_shannon_distance(p, q)` of two eigenvalue vectors sorted alike (WeightWatcher
/// sorts both ascending): with `m = (p + q) / 2`, `sqrt((KL(p || m) + KL(q || m)) / 2)`, each
/// argument of `KL` (scipy's `stats.entropy`, natural logarithm) normalized to sum 1. `None` when
/// the lengths differ, either vector sums to 0 or a value is negative or not finite.
pub fn jensen_shannon_distance(p: &[f64], q: &[f64]) -> Option<f64> {
    if p.len() != q.len() || p.iter().chain(q).any(|v| !v.is_finite() || *v < 0.0) {
        return None;
    }
    let m: Vec<f64> = p.iter().zip(q).map(|(a, b)| (a + b) / 2.0).collect();
    let divergence = (relative_entropy(p, &m)? + relative_entropy(q, &m)?) / 2.0;
    Some(divergence.sqrt())
}

/// scipy's `stats.entropy(pk, qk)`: `sum rel_entr(pk / sum pk, qk / sum qk)`.
fn relative_entropy(pk: &[f64], qk: &[f64]) -> Option<f64> {
    let (sp, sq) = (pairwise_sum(pk), pairwise_sum(qk));
    if !(sp > 0.0 && sq > 0.0) {
        return None;
    }
    let terms: Vec<f64> = pk
        .iter()
        .zip(qk)
        .map(|(&a, &b)| {
            let (x, y) = (a / sp, b / sq);
            // scipy.special.rel_entr
            if x > 0.0 && y > 0.0 {
                x * (x / y).ln()
            } else if x == 0.0 {
                0.0
            } else {
                f64::INFINITY
            }
        })
        .collect();
    Some(pairwise_sum(&terms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_spectra_are_at_distance_zero() {
        let p = [0.5, 1.0, 2.0, 4.0];
        assert_eq!(jensen_shannon_distance(&p, &p), Some(0.0));
        // Disjoint supports: the largest distance, sqrt(ln 2).
        let d = jensen_shannon_distance(&[1.0, 0.0], &[0.0, 1.0]).expect("distance");
        assert!((d - std::f64::consts::LN_2.sqrt()).abs() < 1e-15);
        assert_eq!(jensen_shannon_distance(&[1.0], &[1.0, 2.0]), None);
        assert_eq!(jensen_shannon_distance(&[0.0, 0.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn the_permutation_is_seeded() {
        let data: Vec<f64> = (0..100).map(f64::from).collect();
        let (mut a, mut b) = (data.clone(), data.clone());
        permute(&mut a, permutation_seed("layer.0.weight"));
        permute(&mut b, permutation_seed("layer.0.weight"));
        assert_eq!(a, b);
        assert_ne!(a, data);
        let mut sorted = a.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(sorted, data);
        assert_ne!(permutation_seed("a"), permutation_seed("b"));
    }
}
