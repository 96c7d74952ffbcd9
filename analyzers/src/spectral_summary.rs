//! The model-level spectral summary: WeightWatcher's `get_summary()` over a `--spectral` table.
//!
//! `WeightWatcher.get_summary` (weightwatcher.py) reports the mean over the analyzed layers of
//! `log_norm`, `alpha`, `alpha_weighted`, `log_alpha_norm`, `log_spectral_norm`, `stable_rank`
//! and `mp_softrank` (that one with its `mp_fit=True`; always computed here). The layers are
//! those its `analyze()` accepts: at least `min_evals = 8` eigenvalues, at most `max_evals =
//! 15000`, a larger side of at most `max_N = 50000` ([`ww_analyzes`]; under `--conv ww` a 4-D
//! tensor counts `M * rf` eigenvalues and its `N`, [`crate::conv`]). Means skip empty cells
//! (pandas' `mean`); WeightWatcher would average its `-1` of a failed fit in, weightlens leaves
//! those layers' `alpha` empty and out of the mean.

use std::collections::BTreeMap;

use weightlens_core::table::columns::{COLS, MODEL_ID, ROWS, SHAPE};
use weightlens_core::{Row, Schema};

use crate::conv::{ww_conv_dims, ConvMode};
use crate::spectral::columns;

/// The metrics averaged, in WeightWatcher's order.
pub const METRICS: [&str; 7] = [
    columns::LOG_NORM,
    columns::ALPHA,
    columns::ALPHA_WEIGHTED,
    columns::LOG_ALPHA_NORM,
    columns::LOG_SPECTRAL_NORM,
    columns::STABLE_RANK,
    columns::MP_SOFTRANK,
];

/// WeightWatcher's `min_evals`, `max_evals` and `max_N` defaults.
const MIN_EVALS: i64 = 8;
const MAX_EVALS: i64 = 15000;
const MAX_N: i64 = 50000;

/// Whether WeightWatcher's `analyze()` takes a `rows x cols` matrix (by size).
pub fn ww_analyzes(rows: i64, cols: i64) -> bool {
    let (m, n) = (rows.min(cols), rows.max(cols));
    (MIN_EVALS..=MAX_EVALS).contains(&m) && n <= MAX_N
}

/// Whether WeightWatcher's `analyze()` takes a row's tensor, analyzed under `conv`: a 4-D tensor
/// under [`ConvMode::Ww`] by its pooled eigenvalue count `M * rf` and its `N`
/// (`layer_supported`), every other by [`ww_analyzes`] of its `rows x cols`.
fn row_analyzed(schema: &Schema, r: &Row, conv: ConvMode) -> bool {
    let int = |c: &str| r.get(schema, c).and_then(|v| v.as_i64());
    if conv == ConvMode::Ww {
        let shape = r.get(schema, SHAPE).and_then(|v| v.as_str()).and_then(parse_shape);
        if let Some(dims) = shape.as_deref().and_then(ww_conv_dims) {
            let evals = i64::try_from(dims.num_evals()).unwrap_or(i64::MAX);
            return (MIN_EVALS..=MAX_EVALS).contains(&evals) && i64::try_from(dims.n).is_ok_and(|n| n <= MAX_N);
        }
    }
    match (int(ROWS), int(COLS)) {
        (Some(rows), Some(cols)) => ww_analyzes(rows, cols),
        _ => false,
    }
}

/// The dimensions of a `shape` cell (`[64, 3, 7, 7]`).
fn parse_shape(text: &str) -> Option<Vec<u64>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    inner.split(',').map(|d| d.trim().parse().ok()).collect()
}

/// The summary of one model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpectralSummary {
    /// The model's `model_id`.
    pub model_id: String,
    /// Matrices averaged (those WeightWatcher would analyze).
    pub matrices: usize,
    /// The mean of each of [`METRICS`] (`None` when no matrix has it).
    pub means: Vec<(&'static str, Option<f64>)>,
}

/// The summary of each model of a table (by `model_id`) whose 4-D tensors were analyzed under
/// `conv`; empty when the table has no spectral columns.
pub fn spectral_summary(schema: &Schema, rows: &[Row], conv: ConvMode) -> Vec<ModelSpectralSummary> {
    if schema.index_of(columns::ALPHA).is_none() {
        return Vec::new();
    }
    let mut models: BTreeMap<String, (usize, Vec<(f64, usize)>)> = BTreeMap::new();
    for r in rows {
        if !row_analyzed(schema, r, conv) || r.get(schema, columns::SIGMA_MAX).and_then(|v| v.as_f64()).is_none() {
            continue;
        }
        let model = r.get(schema, MODEL_ID).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let (count, sums) = models.entry(model).or_insert_with(|| (0, vec![(0.0, 0); METRICS.len()]));
        *count += 1;
        for (metric, (sum, n)) in METRICS.iter().zip(sums.iter_mut()) {
            if let Some(v) = r.get(schema, metric).and_then(|v| v.as_f64()).filter(|v| !v.is_nan()) {
                *sum += v;
                *n += 1;
            }
        }
    }
    models
        .into_iter()
        .map(|(model_id, (matrices, sums))| ModelSpectralSummary {
            model_id,
            matrices,
            means: METRICS.iter().zip(sums).map(|(m, (sum, n))| (*m, (n > 0).then(|| sum / n as f64))).collect(),
        })
        .collect()
}

/// The summaries as text for the terminal.
pub fn summary_text(summaries: &[ModelSpectralSummary]) -> String {
    let mut out = String::new();
    for s in summaries {
        out.push_str(&format!(
            "spectral summary of {} ({} matrices, WeightWatcher's get_summary):\n",
            s.model_id, s.matrices
        ));
        for (metric, mean) in &s.means {
            let value = mean.map_or("-".to_string(), |m| format!("{m:.6}"));
            out.push_str(&format!("  {metric:<18} {value}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use weightlens_core::{Column, ColumnType, Value};

    #[test]
    fn means_over_the_matrices_weightwatcher_analyzes() {
        let mut cols = vec![
            Column::new(MODEL_ID, ColumnType::Str),
            Column::new(ROWS, ColumnType::Int),
            Column::new(COLS, ColumnType::Int),
        ];
        cols.extend(columns::ALL.iter().map(|(n, t)| Column::new(*n, *t)));
        let schema = Schema::new(cols);
        let row = |model: &str, r: i64, c: i64, alpha: Option<f64>| {
            let mut values = vec![Value::Str(model.into()), Value::Int(r), Value::Int(c)];
            values.extend(columns::ALL.iter().map(|(name, _)| match *name {
                columns::SIGMA_MAX => Value::Float(2.0),
                columns::STABLE_RANK => Value::Float(10.0),
                columns::ALPHA => alpha.into(),
                _ => Value::Null,
            }));
            Row { values }
        };
        let rows = [
            row("m", 384, 384, Some(3.0)),
            row("m", 1536, 384, Some(5.0)),
            row("m", 384, 1536, None),           // a failed fit: out of the alpha mean
            row("m", 2, 384, Some(9.0)),         // fewer than 8 eigenvalues: WeightWatcher skips it
            row("other", 100, 60000, Some(4.0)), // larger side above max_N
        ];
        let s = spectral_summary(&schema, &rows, ConvMode::Reshape);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].model_id.as_str(), s[0].matrices), ("m", 3));
        let mean = |m: &str| s[0].means.iter().find(|(n, _)| *n == m).and_then(|(_, v)| *v);
        assert_eq!(mean(columns::ALPHA), Some(4.0));
        assert_eq!(mean(columns::STABLE_RANK), Some(10.0));
        assert_eq!(mean(columns::LOG_NORM), None);
        assert!(summary_text(&s).contains("alpha              4.000000"));
        assert!(ww_analyzes(8, 50000) && !ww_analyzes(7, 100) && !ww_analyzes(15001, 20000));
    }

    #[test]
    fn conv_layers_count_their_pooled_eigenvalues_under_conv_ww() {
        let cols =
            [(MODEL_ID, ColumnType::Str), (ROWS, ColumnType::Int), (COLS, ColumnType::Int), (SHAPE, ColumnType::Str)];
        let mut cols: Vec<Column> = cols.iter().map(|(n, t)| Column::new(*n, *t)).collect();
        cols.extend(columns::ALL.iter().map(|(n, t)| Column::new(*n, *t)));
        let schema = Schema::new(cols);
        let row = |r: i64, c: i64, shape: &str| {
            let mut values = vec![Value::Str("m".into()), Value::Int(r), Value::Int(c), Value::Str(shape.into())];
            values.extend(columns::ALL.iter().map(|(name, _)| match *name {
                columns::SIGMA_MAX => Value::Float(1.0),
                _ => Value::Null,
            }));
            Row { values }
        };
        // [4, 2, 3, 3]: reshaped 4 x 18 (4 eigenvalues, skipped); pooled M * rf = 2 * 9 = 18.
        // [2, 2, 1, 1]: 2 eigenvalues either way. [64, 40]: a matrix, 40 eigenvalues.
        let rows = [row(4, 18, "[4, 2, 3, 3]"), row(2, 2, "[2, 2, 1, 1]"), row(64, 40, "[64, 40]")];
        let count = |conv| spectral_summary(&schema, &rows, conv)[0].matrices;
        assert_eq!((count(ConvMode::Reshape), count(ConvMode::Ww)), (1, 2));
        assert_eq!(parse_shape("[64, 3, 7, 7]"), Some(vec![64, 3, 7, 7]));
        assert_eq!(parse_shape("[]"), Some(vec![]));
        assert_eq!(parse_shape("64, 3"), None);
    }
}
