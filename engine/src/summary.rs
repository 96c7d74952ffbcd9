//! The numbers behind the short summary printed after `analyze` (the anomalies the summary
//! and the report flag are in [`crate::anomalies`]). The terminal text is the cli's.

use std::collections::BTreeMap;

use weightlens_core::table::columns;
use weightlens_core::{Row, Schema, Stack};

pub use crate::anomalies::{find_anomalies, Anomaly, AnomalyKind, Metric};

/// The tensors of one framework, stack and block type.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockSummary {
    /// The framework.
    pub framework: String,
    /// The stack (`""` for a model's one stack).
    pub stack: String,
    /// The block type.
    pub block_type: String,
    /// Tensors (rows).
    pub tensors: usize,
    /// Parameters (the sum of `numel`).
    pub parameters: i64,
    /// The median rank ratio (rank / min(rows, cols)) of the matrices that have one.
    pub median_rank_ratio: Option<f64>,
}

/// Tensors, parameters and the median rank ratio per framework, stack and block type, sorted by
/// framework, stack (in [`Stack`] order) and block type.
pub fn block_summary(schema: &Schema, rows: &[Row]) -> Vec<BlockSummary> {
    type Key = (String, u8, String, String);
    let mut groups: BTreeMap<Key, (usize, i64, Vec<f64>)> = BTreeMap::new();
    let text = |r: &Row, c: &str| r.get(schema, c).and_then(|v| v.as_str()).unwrap_or("").to_string();
    for r in rows {
        let stack = text(r, columns::STACK);
        let stack_rank = Stack::from_column(&stack).map_or(u8::MAX, Stack::rank);
        let key = (text(r, columns::FRAMEWORK), stack_rank, stack, text(r, columns::BLOCK_TYPE));
        let g = groups.entry(key).or_default();
        g.0 += 1;
        g.1 += r.get(schema, columns::NUMEL).and_then(|v| v.as_i64()).unwrap_or(0);
        g.2.extend(rank_ratio(schema, r));
    }
    groups
        .into_iter()
        .map(|((framework, _, stack, block_type), (tensors, parameters, mut ratios))| {
            ratios.sort_by(f64::total_cmp);
            let median_rank_ratio = ratios.get(ratios.len() / 2).copied();
            BlockSummary { framework, stack, block_type, tensors, parameters, median_rank_ratio }
        })
        .collect()
}

/// The rank ratio of a row: rank / min(rows, cols), when both are known and min > 0.
pub fn rank_ratio(schema: &Schema, row: &Row) -> Option<f64> {
    let int = |c: &str| row.get(schema, c).and_then(|v| v.as_i64());
    let small = int(columns::ROWS).zip(int(columns::COLS)).map(|(a, b)| a.min(b)).filter(|&s| s > 0)?;
    Some(int(columns::RANK)? as f64 / small as f64)
}
