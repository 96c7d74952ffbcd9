//! The HTML report of a diff (`weightlens diff --report HTML`): per-layer SNR and `rel_l2` by
//! block type, the worst tensors by SNR, and what did not match; self-contained like the
//! analysis report (same style sheet and self-check).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use weightlens_core::{Row, Schema};

use super::svg::{self, color, escape, fmt_num, Series};
use super::{CSS, SELF_CHECK};
use crate::export::write_atomic;
use crate::{Error, Result};

/// Worst tensors listed in the report.
const WORST_SHOWN: usize = 25;

struct View<'a> {
    schema: &'a Schema,
    rows: &'a [Row],
}

impl View<'_> {
    fn text<'r>(&self, r: &'r Row, c: &str) -> &'r str {
        r.get(self.schema, c).and_then(|v| v.as_str()).unwrap_or("")
    }

    fn num(&self, r: &Row, c: &str) -> Option<f64> {
        r.get(self.schema, c).and_then(|v| v.as_f64()).filter(|v| v.is_finite())
    }

    fn matched(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| self.text(r, "match") == "matched")
    }
}

/// Writes the report of the diff rows (`schema`, `rows`) of `a` against `b` to `out`.
pub fn write_diff_report(schema: &Schema, rows: &[Row], a: &str, b: &str, out: &Path) -> Result<()> {
    let html = render(&View { schema, rows }, a, b);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir { path: dir.to_path_buf(), source })?;
    }
    write_atomic(out, html.as_bytes()).map_err(|source| Error::Write { path: out.to_path_buf(), source })?;
    Ok(())
}

fn render(v: &View<'_>, a: &str, b: &str) -> String {
    let title = format!("weightlens diff: {a} vs {b}");
    let mut body = String::new();
    body.push_str(&per_layer_section(v));
    body.push_str(&worst_section(v));
    body.push_str(&unmatched_section(v));
    let matched = v.matched().count();
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{t}</title><style>{CSS}</style></head><body><header><h1>{t}</h1><p>{matched} matched tensors &middot; weightlens {ver}</p></header><main>{body}<div id="selfcheck" class="muted">selfcheck:pending</div></main><script>{SELF_CHECK}</script></body></html>"#,
        t = escape(&title),
        ver = env!("CARGO_PKG_VERSION"),
    )
}

fn per_layer_section(v: &View<'_>) -> String {
    let mut out = String::from(r#"<section id="per-layer"><h2>Per layer, by block type</h2><div class="grid">"#);
    for metric in ["snr_db", "rel_l2"] {
        // block type -> layer -> values
        let mut by_block: BTreeMap<&str, BTreeMap<i64, Vec<f64>>> = BTreeMap::new();
        for r in v.matched() {
            let (Some(layer), Some(x)) = (r.get(v.schema, "layer_index").and_then(|x| x.as_i64()), v.num(r, metric))
            else {
                continue;
            };
            by_block.entry(v.text(r, "block_type")).or_default().entry(layer).or_default().push(x);
        }
        let series: Vec<Series> = by_block
            .into_iter()
            .enumerate()
            .map(|(i, (block, layers))| Series {
                label: block.to_string(),
                color: color(i),
                dashed: false,
                points: layers
                    .into_iter()
                    .map(|(l, xs)| (l as f64, xs.iter().sum::<f64>() / xs.len() as f64))
                    .collect(),
            })
            .collect();
        let mut legend = String::from(r#"<div class="legend">"#);
        for s in &series {
            let _ = write!(
                legend,
                r#"<span><i class="swatch" style="border-color:{}"></i>{}</span>"#,
                s.color,
                escape(&s.label)
            );
        }
        legend.push_str("</div>");
        let _ =
            write!(out, "<div><h3>{metric}</h3>{legend}{}</div>", svg::line_chart(metric, "layer", metric, &series));
    }
    out.push_str("</div></section>");
    out
}

fn worst_section(v: &View<'_>) -> String {
    let mut worst: Vec<(&Row, f64)> = v.matched().filter_map(|r| Some((r, v.num(r, "snr_db")?))).collect();
    worst.sort_by(|x, y| x.1.total_cmp(&y.1));
    let mut out = String::from(
        r#"<section id="worst"><h2>Worst tensors by SNR</h2><table><tr><th>A</th><th>B</th><th>type A</th><th>type B</th><th>transform</th><th class="num">snr_db</th><th class="num">rel_l2</th><th class="num">cosine</th><th class="num">max_abs</th><th class="num">delta_rank</th></tr>"#,
    );
    for (r, snr) in worst.iter().take(WORST_SHOWN) {
        let n = |c: &str| v.num(r, c).map_or("-".to_string(), fmt_num);
        let _ = write!(
            out,
            r#"<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            escape(v.text(r, "name_a")),
            escape(v.text(r, "name_b")),
            escape(v.text(r, "dtype_a")),
            escape(v.text(r, "dtype_b")),
            escape(v.text(r, "transform")),
            fmt_num(*snr),
            n("rel_l2"),
            n("cosine"),
            n("max_abs"),
            n("delta_rank"),
        );
    }
    out.push_str("</table></section>");
    out
}

fn unmatched_section(v: &View<'_>) -> String {
    let rows: Vec<&Row> = v.rows.iter().filter(|r| v.text(r, "match") != "matched").collect();
    let mut out = format!(r#"<section id="unmatched"><h2>Not compared ({})</h2>"#, rows.len());
    if rows.is_empty() {
        out.push_str(r#"<p class="muted">Every tensor of A and B was matched.</p></section>"#);
        return out;
    }
    out.push_str("<table><tr><th>match</th><th>A</th><th>B</th><th>shape A</th><th>shape B</th><th>note</th></tr>");
    for r in rows {
        let _ = write!(
            out,
            r#"<tr><td><span class="kind">{}</span></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(v.text(r, "match")),
            escape(v.text(r, "name_a")),
            escape(v.text(r, "name_b")),
            escape(v.text(r, "shape_a")),
            escape(v.text(r, "shape_b")),
            escape(v.text(r, "note")),
        );
    }
    out.push_str("</table></section>");
    out
}
