//! weightlens analyzers: the built-in metrics of every tensor.
//!
//! - [`stats::StatsAnalyzer`]: one-pass moments, extrema, sparsity and NaN/Inf counts,
//!   accumulated in `f64`, parallel inside large tensors;
//! - [`rank::RankAnalyzer`]: the numerical rank of the `rows x cols` matrix (SPEC.md);
//! - [`plugin`]: the host of analyzer plugins (shared libraries behind a versioned C ABI).

pub mod plugin;
pub mod rank;
pub mod spectral;
pub mod stats;

pub use rank::{RankAnalyzer, RankMode};
pub use stats::{Moments, StatsAnalyzer};
