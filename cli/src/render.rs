//! Terminal text of the engine's results: the summary after `analyze`, the anomaly list, and
//! the model listing of `ls`.

use std::fmt::Write;

use weightlens_core::{Row, Schema};
use weightlens_engine::copies::SkippedFile;
use weightlens_engine::listing::ListedModel;
use weightlens_engine::summary::{block_summary, Anomaly};

/// Tensors, parameters and the median rank ratio (rank / min(rows, cols)) per framework, stack
/// and block type, as an aligned text table.
pub fn summary_table(schema: &Schema, rows: &[Row]) -> String {
    let mut out = format!(
        "{:<12} {:<10} {:<18} {:>8} {:>14} {:>12}\n",
        "framework", "stack", "block_type", "tensors", "parameters", "rank ratio"
    );
    for g in block_summary(schema, rows) {
        let median = g.median_rank_ratio.map_or("-".to_string(), |m| format!("{m:.3}"));
        let _ = writeln!(
            out,
            "{:<12} {:<10} {:<18} {:>8} {:>14} {median:>12}",
            g.framework, g.stack, g.block_type, g.tensors, g.parameters
        );
    }
    out
}

/// Lines listed per anomaly kind in the terminal before "... and N more".
const LINES_PER_KIND: usize = 8;

/// The anomalies as text for the terminal: a count per kind and the first few of each.
pub fn anomalies_text(anomalies: &[Anomaly]) -> String {
    if anomalies.is_empty() {
        return "anomalies: none\n".into();
    }
    let mut out = format!("anomalies: {}\n", anomalies.len());
    let mut start = 0;
    while let Some(first) = anomalies.get(start) {
        let len = anomalies[start..].iter().take_while(|a| a.kind == first.kind).count();
        let _ = writeln!(out, "  {} ({len}):", first.kind.as_str());
        for a in anomalies[start..start + len].iter().take(LINES_PER_KIND) {
            let _ = writeln!(out, "    {} {}: {}", a.model, a.tensor, a.detail);
        }
        if len > LINES_PER_KIND {
            let _ = writeln!(out, "    ... and {} more", len - LINES_PER_KIND);
        }
        start += len;
    }
    out
}

/// The model files left out as copies of another (nothing when there are none).
pub fn skipped_text(skipped: &[SkippedFile]) -> String {
    let mut out = String::new();
    if !skipped.is_empty() {
        let _ = writeln!(out, "skipped files: {}", skipped.len());
    }
    for s in skipped {
        let _ = writeln!(out, "  {}: {}", s.path, s.reason);
    }
    out
}

/// A model as aligned text lines.
pub fn listing_text(model: &ListedModel) -> String {
    let mut out = format!("{} ({}, {} tensors)\n", model.path, model.framework, model.tensors.len());
    let width = model.tensors.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for t in &model.tensors {
        let dims: Vec<String> = t.shape.iter().map(u64::to_string).collect();
        out.push_str(&format!(
            "  {:<width$}  {:<8} {:<18} {:>12}{}\n",
            t.name,
            t.dtype,
            format!("[{}]", dims.join(", ")),
            t.bytes,
            t.quant_scheme.as_ref().map_or(String::new(), |s| format!("  {s} ({} stored tensors)", t.components.len()))
        ));
    }
    out
}
