//! weightlens analyzers: the built-in metrics of every tensor.
//!
//! - [`stats::StatsAnalyzer`]: one-pass moments, extrema, sparsity and NaN/Inf counts,
//!   accumulated in `f64`, parallel inside large tensors;
//! - [`rank::RankAnalyzer`]: the numerical rank of the `rows x cols` matrix (docs/output-spec.md), exact or
//!   approximate ([`rank_approx`]);
//! - [`spectral::SpectralAnalyzer`]: spectral norms, stable and effective rank, condition number
//!   and WeightWatcher's metric set (`--spectral`), its power-law fit in [`powerlaw`];
//! - [`spectral_summary`]: the model-level means of a `--spectral` table (WeightWatcher's
//!   `get_summary()`);
//! - [`plugin`]: the host of analyzer plugins (shared libraries behind a versioned C ABI).

pub mod conv;
pub mod delta;
pub mod marchenko_pastur;
pub mod plugin;
pub mod powerlaw;
pub mod rand_distance;
pub mod rank;
pub mod rank_approx;
pub mod singular;
pub mod spectral;
pub mod spectral_summary;
pub mod stats;
pub mod sym_eigen;
pub mod tridiagonal;

pub use rank::{RankAnalyzer, RankError, RankMode};
pub use spectral::SpectralAnalyzer;
pub use stats::{Moments, StatsAnalyzer};
