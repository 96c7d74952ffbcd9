//! The anomalies the summary, `run_meta.json` and the report flag.
//!
//! Exact findings (NaN/Inf, all zero, all identical, duplicates by content) are judged per
//! tensor. Everything else is judged against peers: the tensors of the same model (and stack,
//! when the table has a `stack` column) with the same block type and the same name once the
//! layer and expert numbers are taken out (`blk.*.attn_q.weight`), i.e. the same tensor in the
//! other layers. Fixed constants do not work on real models: Gemma's GGUF norms are stored with
//! the `+1` folded in (means 1.8 to 57), and the std of a norm is no guide to a projection's.
//! A peer score is the robust z-score `(value - median) / (1.4826 * MAD)` over the group, so one
//! odd layer cannot hide itself by moving the mean or the spread. See docs/output-spec.md.

use std::collections::BTreeMap;

use serde::Serialize;
use weightlens_core::table::columns;
use weightlens_core::{Row, Schema};

use crate::pipeline::Duplicate;
use crate::summary::rank_ratio;

/// A tensor is scored against its peers only when the group holds at least this many tensors.
pub const MIN_PEERS: usize = 5;
/// |robust z| above this flags a peer outlier.
pub const PEER_Z_ABOVE: f64 = 8.0;
/// A rank ratio below this share of its peers' median flags "rank below peers".
pub const RANK_BELOW_PEER_SHARE: f64 = 0.5;
/// WeightWatcher's well-trained range of the power-law exponent `alpha`.
pub const ALPHA_RANGE: (f64, f64) = (2.0, 6.0);
/// The column of the spectral exponent, when a run computed it.
pub const ALPHA_COLUMN: &str = "alpha";
/// The column of the stack (encoder, decoder, vision, ...), when the table has it.
pub const STACK_COLUMN: &str = "stack";

/// A statistic compared with peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// ln(std).
    LogStd,
    /// mean / std: the shift of the values in units of their own spread, so that a layer whose
    /// scale differs (Gemma's last norms) is judged by its std, not twice.
    Mean,
    /// ln(max(|min|, |max|)).
    LogAbsMax,
    /// The share of exact zeros.
    Sparsity,
    /// The spectral power-law exponent.
    Alpha,
}

impl Metric {
    const ALL: [Metric; 5] = [Metric::LogStd, Metric::Mean, Metric::LogAbsMax, Metric::Sparsity, Metric::Alpha];

    /// The name used in labels and `run_meta.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::LogStd => "log std",
            Metric::Mean => "mean/std",
            Metric::LogAbsMax => "log abs max",
            Metric::Sparsity => "sparsity",
            Metric::Alpha => "alpha",
        }
    }

    fn value(self, schema: &Schema, row: &Row) -> Option<f64> {
        let float = |c: &str| row.get(schema, c).and_then(|v| v.as_f64()).filter(|x| x.is_finite());
        match self {
            Metric::LogStd => float(columns::STD).filter(|&s| s > 0.0).map(f64::ln),
            Metric::Mean => Some(float(columns::MEAN)? / float(columns::STD).filter(|&s| s > 0.0)?),
            Metric::LogAbsMax => {
                let m = float(columns::MIN)?.abs().max(float(columns::MAX)?.abs());
                (m > 0.0).then(|| m.ln())
            }
            Metric::Sparsity => float(columns::SPARSITY),
            Metric::Alpha => float(ALPHA_COLUMN),
        }
    }

    /// The smallest spread a score divides by: layers that agree to the last digit (MAD 0)
    /// must not turn a rounding difference into an infinite score, and healthy layers differ
    /// in scale by a factor of a few (MiniLM's first attention output holds weights three times
    /// larger than the other layers'). With 0.25 on the logs, |z| > 8 needs at least a factor
    /// e^2 (7.4) from the median; on mean/std a shift of 0.4 std.
    fn min_spread(self) -> f64 {
        match self {
            Metric::LogStd | Metric::LogAbsMax => 0.25,
            Metric::Mean => 0.05,
            Metric::Sparsity => 0.01,
            Metric::Alpha => 0.1,
        }
    }
}

/// What is odd about a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// It holds NaN or infinite values.
    NonFinite,
    /// Every element is exactly zero.
    AllZero,
    /// Every element has the same non-zero value.
    AllIdentical,
    /// The same bytes are stored under several names.
    Duplicate,
    /// rank / min(rows, cols) below [`RANK_BELOW_PEER_SHARE`] of the peers' median.
    RankBelowPeers,
    /// alpha outside [`ALPHA_RANGE`].
    AlphaOutOfRange,
    /// A statistic with |robust z| > [`PEER_Z_ABOVE`] against its peers.
    PeerOutlier(Metric),
}

impl AnomalyKind {
    /// The label with its rule and threshold, as the summary and the report print it.
    pub fn as_str(self) -> String {
        match self {
            AnomalyKind::NonFinite => "nan/inf (any NaN or Inf value)".into(),
            AnomalyKind::AllZero => "all zero (every value 0)".into(),
            AnomalyKind::AllIdentical => "all identical (min = max != 0)".into(),
            AnomalyKind::Duplicate => "duplicate (same bytes, dtype and shape)".into(),
            AnomalyKind::RankBelowPeers => {
                format!("rank below peers (rank ratio < {RANK_BELOW_PEER_SHARE} x peer median)")
            }
            AnomalyKind::AlphaOutOfRange => {
                format!("alpha out of range (outside {}..{})", ALPHA_RANGE.0, ALPHA_RANGE.1)
            }
            AnomalyKind::PeerOutlier(m) => format!("{} outlier (|robust z| > {PEER_Z_ABOVE} vs peers)", m.as_str()),
        }
    }

    /// A short name for machines (`run_meta.json`).
    pub fn code(self) -> String {
        match self {
            AnomalyKind::NonFinite => "nan_inf".into(),
            AnomalyKind::AllZero => "all_zero".into(),
            AnomalyKind::AllIdentical => "all_identical".into(),
            AnomalyKind::Duplicate => "duplicate".into(),
            AnomalyKind::RankBelowPeers => "rank_below_peers".into(),
            AnomalyKind::AlphaOutOfRange => "alpha_out_of_range".into(),
            AnomalyKind::PeerOutlier(m) => format!("outlier_{}", m.as_str().replace(' ', "_")),
        }
    }
}

/// One flagged tensor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Anomaly {
    /// What is odd.
    #[serde(serialize_with = "kind_code")]
    pub kind: AnomalyKind,
    /// The model (`model_id`, or the model path for duplicates).
    pub model: String,
    /// The tensor (all names, comma-separated, for duplicates).
    pub tensor: String,
    /// The value judged (the metric, the rank ratio, the NaN + Inf count, ...).
    pub value: Option<f64>,
    /// The median of the peers, for peer rules.
    pub peer_median: Option<f64>,
    /// The robust z-score, for peer outliers.
    pub score: Option<f64>,
    /// The numbers behind the flag, as text.
    pub detail: String,
}

fn kind_code<S: serde::Serializer>(kind: &AnomalyKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&kind.code())
}

/// The name with every all-digit dot-separated part (layer, expert) replaced by `*`.
fn name_pattern(name: &str) -> String {
    let parts: Vec<&str> =
        name.split('.').map(|p| if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) { "*" } else { p }).collect();
    parts.join(".")
}

fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The median and the MAD of `values` (finite values only).
pub(crate) fn median_mad(values: &[f64]) -> Option<(f64, f64)> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = median(&v)?;
    let mut dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    dev.sort_by(f64::total_cmp);
    Some((m, median(&dev)?))
}

/// The anomalies of a table, by kind then model and tensor; `duplicates` come from the run
/// (a table alone cannot tell).
pub fn find_anomalies(schema: &Schema, rows: &[Row], duplicates: &[Duplicate]) -> Vec<Anomaly> {
    let text = |r: &Row, c: &str| r.get(schema, c).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let mut out = Vec::new();
    for r in rows {
        exact_findings(schema, r, &mut out);
    }
    let mut groups: BTreeMap<(String, String, String, String), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        let key = (
            text(r, columns::MODEL_ID),
            text(r, STACK_COLUMN),
            text(r, columns::BLOCK_TYPE),
            name_pattern(&text(r, columns::PARAM_NAME)),
        );
        groups.entry(key).or_default().push(r);
    }
    for group in groups.values().filter(|g| g.len() >= MIN_PEERS) {
        peer_findings(schema, group, &mut out);
    }
    for d in duplicates {
        out.push(Anomaly {
            kind: AnomalyKind::Duplicate,
            model: d.model_path.clone(),
            tensor: d.tensors.join(", "),
            value: None,
            peer_median: None,
            score: None,
            detail: format!("{} copies of {} bytes", d.tensors.len(), d.bytes),
        });
    }
    out.sort_by(|a, b| (a.kind, &a.model, &a.tensor).cmp(&(b.kind, &b.model, &b.tensor)));
    out
}

fn anomaly(schema: &Schema, r: &Row, kind: AnomalyKind, value: Option<f64>, detail: String) -> Anomaly {
    let text = |c: &str| r.get(schema, c).and_then(|v| v.as_str()).unwrap_or("").to_string();
    Anomaly {
        kind,
        model: text(columns::MODEL_ID),
        tensor: text(columns::PARAM_NAME),
        value,
        peer_median: None,
        score: None,
        detail,
    }
}

/// NaN/Inf, all zero, all identical, alpha out of range: facts of the tensor alone.
fn exact_findings(schema: &Schema, r: &Row, out: &mut Vec<Anomaly>) {
    let float = |c: &str| r.get(schema, c).and_then(|v| v.as_f64());
    let int = |c: &str| r.get(schema, c).and_then(|v| v.as_i64()).unwrap_or(0);
    let (nan, inf) = (int(columns::NAN_COUNT), int(columns::INF_COUNT));
    if nan > 0 || inf > 0 {
        out.push(anomaly(schema, r, AnomalyKind::NonFinite, Some((nan + inf) as f64), format!("{nan} NaN, {inf} Inf")));
    }
    let (min, max) = (float(columns::MIN), float(columns::MAX));
    if nan == 0 && min == Some(0.0) && max == Some(0.0) {
        out.push(anomaly(schema, r, AnomalyKind::AllZero, Some(0.0), format!("{} elements", int(columns::NUMEL))));
    } else if let Some(v) = min.filter(|&m| nan == 0 && int(columns::NUMEL) > 1 && m != 0.0 && Some(m) == max) {
        let detail = format!("{} elements, all {v}", int(columns::NUMEL));
        out.push(anomaly(schema, r, AnomalyKind::AllIdentical, Some(v), detail));
    }
    if let Some(alpha) = float(ALPHA_COLUMN).filter(|a| a.is_finite() && !(ALPHA_RANGE.0..=ALPHA_RANGE.1).contains(a)) {
        out.push(anomaly(schema, r, AnomalyKind::AlphaOutOfRange, Some(alpha), format!("alpha {alpha:.3}")));
    }
}

/// Rank below peers and robust peer outliers within one group of peers.
fn peer_findings(schema: &Schema, group: &[&Row], out: &mut Vec<Anomaly>) {
    let ratios: Vec<Option<f64>> = group.iter().map(|r| rank_ratio(schema, r)).collect();
    let known: Vec<f64> = ratios.iter().flatten().copied().collect();
    if known.len() >= MIN_PEERS {
        if let Some((med, _)) = median_mad(&known) {
            for (r, q) in group.iter().zip(&ratios) {
                if let Some(q) = q.filter(|&q| q < RANK_BELOW_PEER_SHARE * med) {
                    let mut a = anomaly(
                        schema,
                        r,
                        AnomalyKind::RankBelowPeers,
                        Some(q),
                        format!("rank ratio {q:.3}, peer median {med:.3}"),
                    );
                    a.peer_median = Some(med);
                    out.push(a);
                }
            }
        }
    }
    for metric in Metric::ALL {
        let values: Vec<Option<f64>> = group.iter().map(|r| metric.value(schema, r)).collect();
        let known: Vec<f64> = values.iter().flatten().copied().collect();
        if known.len() < MIN_PEERS {
            continue;
        }
        let Some((med, mad)) = median_mad(&known) else { continue };
        let spread = (1.4826 * mad).max(metric.min_spread());
        for (r, v) in group.iter().zip(&values) {
            let Some(v) = *v else { continue };
            let z = (v - med) / spread;
            if z.abs() > PEER_Z_ABOVE {
                let detail = format!("{} {v:.4}, peer median {med:.4}, robust z {z:.1}", metric.as_str());
                let mut a = anomaly(schema, r, AnomalyKind::PeerOutlier(metric), Some(v), detail);
                a.peer_median = Some(med);
                a.score = Some(z);
                out.push(a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_and_expert_numbers_are_taken_out_of_the_name() {
        assert_eq!(name_pattern("model.layers.12.mlp.experts.3.w1.weight"), "model.layers.*.mlp.experts.*.w1.weight");
        assert_eq!(name_pattern("blk.0.attn_q.weight"), "blk.*.attn_q.weight");
        assert_eq!(name_pattern("layer1.conv2d.weight"), "layer1.conv2d.weight");
    }

    #[test]
    fn median_and_mad_are_robust_to_one_outlier() {
        let (m, mad) = median_mad(&[1.0, 1.1, 0.9, 1.0, 100.0]).unwrap();
        assert_eq!(m, 1.0);
        assert!((mad - 0.1).abs() < 1e-12);
        assert_eq!(median_mad(&[]), None);
        assert_eq!(median_mad(&[1.0, 3.0]).unwrap().0, 2.0);
    }
}
