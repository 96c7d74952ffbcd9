//! The terminal summary of a diff: the worst tensors by SNR, then the mean `rel_l2` and the
//! lowest SNR per block type and per layer.

use std::collections::BTreeMap;
use std::fmt::Write;

use weightlens_core::{Row, Schema};

/// Worst tensors listed.
pub const WORST_LISTED: usize = 10;

#[derive(Default)]
struct Group {
    tensors: usize,
    rel_l2: Vec<f64>,
    min_snr: Option<f64>,
}

impl Group {
    fn add(&mut self, rel_l2: Option<f64>, snr: Option<f64>) {
        self.tensors += 1;
        self.rel_l2.extend(rel_l2);
        if let Some(s) = snr {
            self.min_snr = Some(self.min_snr.map_or(s, |m: f64| m.min(s)));
        }
    }

    fn line(&self, label: &str) -> String {
        let mean = if self.rel_l2.is_empty() {
            "-".to_string()
        } else {
            format!("{:.3e}", self.rel_l2.iter().sum::<f64>() / self.rel_l2.len() as f64)
        };
        let snr = self.min_snr.map_or("identical".to_string(), |s| format!("{s:.2}"));
        format!("{label:<24} {:>8} {mean:>14} {snr:>12}\n", self.tensors)
    }
}

/// The summary text of the diff rows.
pub fn diff_summary(schema: &Schema, rows: &[Row]) -> String {
    let text = |r: &Row, c: &str| r.get(schema, c).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let num = |r: &Row, c: &str| r.get(schema, c).and_then(|v| v.as_f64()).filter(|v| v.is_finite());
    let matched: Vec<&Row> = rows.iter().filter(|r| text(r, "match") == "matched").collect();
    let mut out = String::new();
    let mut worst: Vec<(&Row, f64)> = matched.iter().filter_map(|r| Some((*r, num(r, "snr_db")?))).collect();
    worst.sort_by(|x, y| x.1.total_cmp(&y.1));
    let _ = writeln!(out, "worst tensors by SNR:");
    let _ = writeln!(out, "{:<48} {:<10} {:>10} {:>12}", "tensor", "type_b", "snr_db", "rel_l2");
    for (r, snr) in worst.iter().take(WORST_LISTED) {
        let rel = num(r, "rel_l2").map_or("-".into(), |v| format!("{v:.3e}"));
        let name = text(r, "name_a");
        let _ = writeln!(out, "{name:<48} {:<10} {snr:>10.2} {rel:>12}", text(r, "dtype_b"));
    }
    let mut blocks: BTreeMap<String, Group> = BTreeMap::new();
    let mut layers: BTreeMap<i64, Group> = BTreeMap::new();
    for r in &matched {
        let (rel, snr) = (num(r, "rel_l2"), num(r, "snr_db"));
        blocks.entry(text(r, "block_type")).or_default().add(rel, snr);
        if let Some(l) = r.get(schema, "layer_index").and_then(|v| v.as_i64()) {
            layers.entry(l).or_default().add(rel, snr);
        }
    }
    let header = format!("{:<24} {:>8} {:>14} {:>12}\n", "", "tensors", "mean rel_l2", "min snr_db");
    out.push_str(&header.replacen(&" ".repeat(24), &format!("{:<24}", "block_type"), 1));
    for (b, g) in &blocks {
        out.push_str(&g.line(b));
    }
    out.push_str(&header.replacen(&" ".repeat(24), &format!("{:<24}", "layer"), 1));
    for (l, g) in &layers {
        out.push_str(&g.line(&l.to_string()));
    }
    let count = |kind: &str| rows.iter().filter(|r| text(r, "match") == kind).count();
    let _ = writeln!(
        out,
        "{} matched, {} only in A, {} only in B, {} shape mismatches",
        matched.len(),
        count("only_in_a"),
        count("only_in_b"),
        count("shape_mismatch")
    );
    out
}
