//! The short summary printed after `analyze`.

use std::collections::BTreeMap;
use std::fmt::Write;

use weightlens_core::table::columns;
use weightlens_core::{Row, Schema};

#[derive(Default)]
struct Group {
    tensors: usize,
    params: i64,
    rank_ratios: Vec<f64>,
}

/// Tensors, parameters and the median rank ratio (rank / min(rows, cols)) per framework and
/// block type, as an aligned text table.
pub fn summary_table(schema: &Schema, rows: &[Row]) -> String {
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    let text = |r: &Row, c: &str| r.get(schema, c).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let int = |r: &Row, c: &str| r.get(schema, c).and_then(|v| v.as_i64());
    for r in rows {
        let g = groups.entry((text(r, columns::FRAMEWORK), text(r, columns::BLOCK_TYPE))).or_default();
        g.tensors += 1;
        g.params += int(r, columns::NUMEL).unwrap_or(0);
        let small = int(r, columns::ROWS).zip(int(r, columns::COLS)).map(|(a, b)| a.min(b));
        if let (Some(rank), Some(small)) = (int(r, columns::RANK), small.filter(|&s| s > 0)) {
            g.rank_ratios.push(rank as f64 / small as f64);
        }
    }
    let mut out = format!(
        "{:<12} {:<12} {:>8} {:>14} {:>12}\n",
        "framework", "block_type", "tensors", "parameters", "rank ratio"
    );
    for ((framework, block), g) in &mut groups {
        g.rank_ratios.sort_by(f64::total_cmp);
        let median = g.rank_ratios.get(g.rank_ratios.len() / 2).map_or("-".to_string(), |m| format!("{m:.3}"));
        let _ = writeln!(out, "{framework:<12} {block:<12} {:>8} {:>14} {median:>12}", g.tensors, g.params);
    }
    out
}
