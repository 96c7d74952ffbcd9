//! The [`TensorAnalyzer`] trait: one tensor in, a few metric values out.

use crate::error::Result;
use crate::table::{Column, Value};
use crate::tensor::TensorView;

/// Computes metrics of one tensor.
///
/// An analyzer declares its columns once; `analyze` returns one value per column, in the same
/// order ([`Value::Null`] where a metric does not apply). Analyzers are shared across threads.
pub trait TensorAnalyzer: Send + Sync {
    /// A short stable name (used in error messages and as the plugin column prefix).
    fn name(&self) -> &str;

    /// The columns this analyzer fills, in order.
    fn columns(&self) -> Vec<Column>;

    /// The metric values of `view`, one per column.
    fn analyze(&self, view: &TensorView<'_>) -> Result<Vec<Value>>;
}
