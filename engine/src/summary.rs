//! The numbers behind the short summary printed after `analyze`, and the anomalies the
//! summary and the report flag. The terminal text is the cli's.

use std::collections::BTreeMap;

use weightlens_core::table::columns;
use weightlens_core::{Row, Schema, Stack};

use crate::pipeline::Duplicate;

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

/// A rank ratio below this flags a matrix as rank-deficient.
pub const RANK_DEFICIENT_BELOW: f64 = 0.5;
/// A norm weight whose mean is further than this from 1 is flagged (LayerNorm/RMSNorm scales
/// start at 1; models that store `w` for a `(1 + w)` scale, like Gemma, are flagged too).
pub const NORM_MEAN_TOLERANCE: f64 = 0.5;

/// What is odd about a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AnomalyKind {
    /// It holds NaN or infinite values.
    NonFinite,
    /// Every element is exactly zero.
    AllZero,
    /// rank / min(rows, cols) < [`RANK_DEFICIENT_BELOW`].
    RankDeficient,
    /// A norm weight whose mean is far from 1 ([`NORM_MEAN_TOLERANCE`]).
    NormFarFromOne,
    /// The same bytes are stored under several names.
    Duplicate,
}

impl AnomalyKind {
    /// A short label.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::NonFinite => "nan/inf",
            AnomalyKind::AllZero => "all zero",
            AnomalyKind::RankDeficient => "rank deficient",
            AnomalyKind::NormFarFromOne => "norm mean far from 1",
            AnomalyKind::Duplicate => "duplicate",
        }
    }
}

/// One flagged tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// What is odd.
    pub kind: AnomalyKind,
    /// The model (`model_id`, or the model path for duplicates).
    pub model: String,
    /// The tensor (all names, comma-separated, for duplicates).
    pub tensor: String,
    /// The numbers behind the flag.
    pub detail: String,
}

/// The rank ratio of a row: rank / min(rows, cols), when both are known and min > 0.
pub fn rank_ratio(schema: &Schema, row: &Row) -> Option<f64> {
    let int = |c: &str| row.get(schema, c).and_then(|v| v.as_i64());
    let small = int(columns::ROWS).zip(int(columns::COLS)).map(|(a, b)| a.min(b)).filter(|&s| s > 0)?;
    Some(int(columns::RANK)? as f64 / small as f64)
}

/// The anomalies of a table, by kind then model and tensor; `duplicates` come from the run
/// (a table alone cannot tell).
pub fn find_anomalies(schema: &Schema, rows: &[Row], duplicates: &[Duplicate]) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for r in rows {
        let text = |c: &str| r.get(schema, c).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let float = |c: &str| r.get(schema, c).and_then(|v| v.as_f64());
        let int = |c: &str| r.get(schema, c).and_then(|v| v.as_i64()).unwrap_or(0);
        let mut flag = |kind, detail: String| {
            out.push(Anomaly { kind, model: text(columns::MODEL_ID), tensor: text(columns::PARAM_NAME), detail });
        };
        let (nan, inf) = (int(columns::NAN_COUNT), int(columns::INF_COUNT));
        if nan > 0 || inf > 0 {
            flag(AnomalyKind::NonFinite, format!("{nan} NaN, {inf} Inf"));
        }
        if float(columns::MIN) == Some(0.0) && float(columns::MAX) == Some(0.0) && nan == 0 {
            flag(AnomalyKind::AllZero, format!("{} elements", int(columns::NUMEL)));
        }
        if let Some(ratio) = rank_ratio(schema, r).filter(|&q| q < RANK_DEFICIENT_BELOW) {
            let detail = format!(
                "rank {} of min({}, {}): ratio {ratio:.3}",
                int(columns::RANK),
                int(columns::ROWS),
                int(columns::COLS)
            );
            flag(AnomalyKind::RankDeficient, detail);
        }
        let is_norm_weight = text(columns::BLOCK_TYPE) == "norm" && !text(columns::PARAM_NAME).ends_with("bias");
        if let Some(mean) = float(columns::MEAN).filter(|m| is_norm_weight && (m - 1.0).abs() > NORM_MEAN_TOLERANCE) {
            flag(AnomalyKind::NormFarFromOne, format!("mean {mean:.4}"));
        }
    }
    for d in duplicates {
        out.push(Anomaly {
            kind: AnomalyKind::Duplicate,
            model: d.model_path.clone(),
            tensor: d.tensors.join(", "),
            detail: format!("{} copies of {} bytes", d.tensors.len(), d.bytes),
        });
    }
    out.sort_by(|a, b| (a.kind, &a.model, &a.tensor).cmp(&(b.kind, &b.model, &b.tensor)));
    out
}
