//! `weightlens report`: one self-contained HTML file (inline SVG and CSS, a few lines of inline
//! JavaScript for a self-check, nothing fetched) from one table, or two overlaid.
//!
//! Sections: run metadata (from `run_meta.json` beside each table), per-layer charts of rank
//! ratio, std and sparsity by block type in one panel per kind of tensor ([`Panel`]), with
//! `--spectral` columns the model summary (WeightWatcher's `get_summary()`) and alpha per layer
//! (and with `--esd` the eigenvalue spectra of chosen matrices, `esd.rs`),
//! a heatmap of one metric over layer x block type colored by a robust z-score per row,
//! histograms of the metrics over floating-point tensors with robust ranges, tensors outside the
//! layers, and the anomaly list. docs/output-spec.md ("Report") states what each chart draws.

pub mod diff;
mod esd;
pub mod svg;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};

use weightlens_analyzers::conv::ConvMode;
use weightlens_analyzers::spectral::columns as spectral_columns;
use weightlens_analyzers::spectral_summary::{spectral_summary, ModelSpectralSummary, METRICS as SPECTRAL_METRICS};
use weightlens_core::table::columns;
use weightlens_core::{BlockType, Row};

use crate::anomalies::median_mad;
use crate::export::{read_table, write_atomic, Table};
use crate::pipeline::Duplicate;
use crate::summary::{find_anomalies, rank_ratio, Anomaly};
use crate::{Error, Result};
use svg::{color, escape, fmt_num, Grid, HistAxis, HistogramData, Series};

/// The derived metric rank / min(rows, cols).
pub const RANK_RATIO: &str = "rank_ratio";

/// Choices of a report.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// The metric of the heatmap: `rank_ratio` or any numeric column.
    pub heatmap_metric: String,
    /// The page title (default: the tables' models).
    pub title: Option<String>,
    /// Draw the ESD of the matrices whose name matches (`--esd`, `esd.rs`).
    pub esd: Option<regex::Regex>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions { heatmap_metric: "std".into(), title: None, esd: None }
    }
}

/// The per-layer charts and the heatmap draw each kind of tensor in its own panel: a norm's
/// std (Gemma's GGUF norms reach 63) or a bias must not set the scale projections are drawn on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Panel {
    /// Weight matrices (projections, MLP, experts, convolutions): rows and cols known.
    Matrices,
    /// Normalization weights (block type `norm`).
    Norms,
    /// Biases (the name ends in `bias`), norm biases included.
    Biases,
    /// Other per-layer vectors and scalars (gates, scales, position embeddings).
    Other,
}

impl Panel {
    /// The panel's title.
    pub fn title(self) -> &'static str {
        match self {
            Panel::Matrices => "weight matrices",
            Panel::Norms => "norm weights",
            Panel::Biases => "biases",
            Panel::Other => "other per-layer tensors",
        }
    }
}

/// Integer and bool dtypes in any framework's spelling: their rows (`position_ids`, masks) are
/// buffers, not weights, and stay out of the charts (a mean of 255.5 would set every range).
fn is_integer_dtype(name: &str) -> bool {
    use weightlens_core::Dtype;
    const INTEGER: [Dtype; 9] =
        [Dtype::I64, Dtype::I32, Dtype::I16, Dtype::I8, Dtype::U64, Dtype::U32, Dtype::U16, Dtype::U8, Dtype::Bool];
    INTEGER.iter().any(|d| [d.safetensors_name(), d.torch_name(), d.onnx_name()].contains(&name))
}

/// One input table with what the report needs from beside it.
struct Dataset {
    label: String,
    table: Table,
    meta: Option<serde_json::Value>,
    duplicates: Vec<Duplicate>,
}

impl Dataset {
    fn load(path: &Path) -> Result<Self> {
        let table = read_table(path).map_err(|source| Error::ReadTable { path: path.to_path_buf(), source })?;
        let meta_path =
            path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("run_meta.json");
        // The metadata is optional: a table copied elsewhere still gets a report.
        let meta: Option<serde_json::Value> =
            std::fs::read(&meta_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let duplicates = meta
            .as_ref()
            .and_then(|m| m.get("duplicates"))
            .and_then(|d| serde_json::from_value(d.clone()).ok())
            .unwrap_or_default();
        let mut ids: Vec<&str> = table.rows.iter().filter_map(|r| text(&table, r, columns::MODEL_ID)).collect();
        ids.sort_unstable();
        ids.dedup();
        let stem = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let label = match ids.as_slice() {
            [one] => (*one).to_string(),
            _ => stem,
        };
        Ok(Dataset { label, table, meta, duplicates })
    }

    /// How the run analyzed 4-D tensors (`run_meta.json`'s `thresholds.conv`; `reshape` when it
    /// does not say).
    fn conv_mode(&self) -> ConvMode {
        let conv = self.meta.as_ref().and_then(|m| m.pointer("/thresholds/conv")).and_then(|v| v.as_str());
        conv.and_then(|c| c.parse().ok()).unwrap_or_default()
    }

    /// The value of `metric` in a row (`rank_ratio` is derived).
    fn metric(&self, row: &Row, metric: &str) -> Option<f64> {
        if metric == RANK_RATIO {
            return rank_ratio(&self.table.schema, row);
        }
        row.get(&self.table.schema, metric).and_then(|v| v.as_f64())
    }

    fn layer(&self, row: &Row) -> Option<i64> {
        row.get(&self.table.schema, columns::LAYER_INDEX).and_then(|v| v.as_i64())
    }

    /// Whether the row is a floating-point (or quantized) tensor, the only ones charted.
    fn is_float(&self, row: &Row) -> bool {
        !text(&self.table, row, columns::DTYPE).is_some_and(is_integer_dtype)
    }

    /// The series a row belongs to: its block type, prefixed by its stack outside the main one
    /// (`vision/q_proj`), so that each stack's layers form their own lines.
    ///
    /// Norms and biases are told apart by name instead (`input_layernorm`,
    /// `attention.output.LayerNorm`, `attention.self.query.bias`): a layer's norms scale
    /// different things (Gemma's q/k norms and its four others), and one mean of them would
    /// describe none.
    fn block(&self, row: &Row) -> String {
        let block = text(&self.table, row, columns::BLOCK_TYPE).unwrap_or("other");
        let series = if matches!(self.panel(row), Panel::Norms | Panel::Biases) {
            norm_series(text(&self.table, row, columns::PARAM_NAME).unwrap_or(block))
        } else {
            block.to_string()
        };
        match text(&self.table, row, columns::STACK).filter(|s| !s.is_empty()) {
            Some(stack) => format!("{stack}/{series}"),
            None => series,
        }
    }

    /// The panel a row is drawn in.
    fn panel(&self, row: &Row) -> Panel {
        let name = text(&self.table, row, columns::PARAM_NAME).unwrap_or("");
        let last = name.rsplit(['.', '/']).next().unwrap_or(name);
        let int = |c: &str| row.get(&self.table.schema, c).and_then(|v| v.as_i64());
        if last.ends_with("bias") {
            Panel::Biases
        } else if text(&self.table, row, columns::BLOCK_TYPE) == Some(BlockType::Norm.as_str()) {
            Panel::Norms
        } else if int(columns::ROWS).is_some() && int(columns::COLS).is_some() {
            Panel::Matrices
        } else {
            Panel::Other
        }
    }

    /// Mean of `metric` per panel, series (stack and block type) and layer (several tensors
    /// share a cell in MoE models), over floating-point tensors.
    fn per_layer(&self, metric: &str) -> BTreeMap<(Panel, String), BTreeMap<i64, f64>> {
        let mut sums: BTreeMap<(Panel, String), BTreeMap<i64, (f64, usize)>> = BTreeMap::new();
        for r in self.table.rows.iter().filter(|r| self.is_float(r)) {
            let (Some(layer), Some(v)) = (self.layer(r), self.metric(r, metric)) else { continue };
            if !v.is_finite() {
                continue;
            }
            let cell = sums.entry((self.panel(r), self.block(r))).or_default().entry(layer).or_default();
            cell.0 += v;
            cell.1 += 1;
        }
        sums.into_iter()
            .map(|(b, layers)| (b, layers.into_iter().map(|(l, (s, n))| (l, s / n as f64)).collect()))
            .collect()
    }
}

/// A norm's or bias's name after its layer number, without a trailing `.weight`
/// (`model.layers.3.input_layernorm.weight` -> `input_layernorm`).
fn norm_series(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    let after_layer = parts.iter().position(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let tail = &parts[after_layer.map_or(0, |i| i + 1)..];
    let tail = match tail {
        [rest @ .., "weight"] if !rest.is_empty() => rest,
        all => all,
    };
    tail.join(".")
}

fn text<'t>(table: &'t Table, row: &'t Row, column: &str) -> Option<&'t str> {
    row.get(&table.schema, column).and_then(|v| v.as_str())
}

/// Reads `tables` (one or two) and writes the report to `out`.
pub fn write_report(tables: &[PathBuf], out: &Path, options: &ReportOptions) -> Result<()> {
    if tables.is_empty() || tables.len() > 2 {
        let message = format!("a report takes one table, or two to compare (got {})", tables.len());
        return Err(Error::Report { message });
    }
    let mut sets = tables.iter().map(|p| Dataset::load(p)).collect::<Result<Vec<_>>>()?;
    if let [a, b] = sets.as_mut_slice() {
        if a.label == b.label {
            a.label.push_str(" (A)");
            b.label.push_str(" (B)");
        }
    }
    let metric = options.heatmap_metric.as_str();
    let known = metric == RANK_RATIO || sets.iter().any(|s| s.table.schema.columns().iter().any(|c| c.name == metric));
    if !known {
        let message =
            format!("--metric {metric}: no such column in the table(s) (try std, mean, sparsity, rank_ratio)");
        return Err(Error::Report { message });
    }
    let html = render(&sets, options);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir { path: dir.to_path_buf(), source })?;
    }
    write_atomic(out, html.as_bytes()).map_err(|source| Error::Write { path: out.to_path_buf(), source })?;
    Ok(())
}

pub(crate) const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#b9c0cc}
main{padding:18px 28px;max-width:1500px}
section{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:14px 18px;margin:0 0 18px}
h2{font-size:17px;margin:0 0 10px}h3{font-size:14px;margin:6px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:14px}
.chart{width:100%;height:auto}.heatmap{height:auto}.scroll{overflow-x:auto}h4{font-size:13px;margin:4px 0;font-weight:600;color:#333}
.tick{font-size:10px;fill:#555}.axis{font-size:11px;fill:#333}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin:4px 0 10px;font-size:12px}
.legend span{display:inline-flex;align-items:center;gap:5px}
.swatch{width:16px;height:0;border-top:3px solid}
table{border-collapse:collapse;font-size:12px}td,th{border-bottom:1px solid #eee;padding:3px 10px 3px 0;text-align:left;vertical-align:top}
th{color:#555;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}
.kind{display:inline-block;padding:0 6px;border-radius:8px;background:#fde2e1;color:#8a1c17;font-size:11px}
.muted{color:#777}code{font-size:12px}
"#;

/// The self-check: counts non-empty charts and records script errors, in the DOM, so that a
/// headless browser run (`--dump-dom`) can tell the page rendered.
pub(crate) const SELF_CHECK: &str = r#"
(function(){var errors=[];window.addEventListener('error',function(e){errors.push(String(e.message));});
function done(){var svgs=document.querySelectorAll('svg');var drawn=0;
svgs.forEach(function(s){var b=s.getBBox();if(s.querySelector('rect,circle,polyline')&&b.width>0&&b.height>0){drawn++;}});
var d=document.getElementById('selfcheck');d.setAttribute('data-svgs',String(svgs.length));
d.setAttribute('data-drawn',String(drawn));d.setAttribute('data-errors',String(errors.length));
d.textContent=(errors.length===0&&drawn===svgs.length&&drawn>0)?'selfcheck:ok':'selfcheck:fail '+errors.join('; ');}
if(document.readyState==='complete'){done();}else{window.addEventListener('load',done);}})();
"#;

fn render(sets: &[Dataset], options: &ReportOptions) -> String {
    let title = options.title.clone().unwrap_or_else(|| {
        let labels: Vec<&str> = sets.iter().map(|s| s.label.as_str()).collect();
        format!("weightlens report: {}", labels.join(" vs "))
    });
    let mut body = String::new();
    body.push_str(&metadata_section(sets));
    body.push_str(&per_layer_section(sets));
    body.push_str(&spectral_section(sets));
    if let Some(regex) = &options.esd {
        body.push_str(&esd::esd_section(sets, regex));
    }
    body.push_str(&heatmap_section(sets, &options.heatmap_metric));
    body.push_str(&histogram_section(sets));
    body.push_str(&outside_layers_section(sets));
    body.push_str(&anomaly_section(sets));
    let tensors: usize = sets.iter().map(|s| s.table.rows.len()).sum();
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{t}</title><style>{CSS}</style></head><body><header><h1>{t}</h1><p>{tensors} tensors &middot; weightlens {v}</p></header><main>{body}<div id="selfcheck" class="muted">selfcheck:pending</div></main><script>{SELF_CHECK}</script></body></html>"#,
        t = escape(&title),
        v = env!("CARGO_PKG_VERSION"),
    )
}

fn metadata_section(sets: &[Dataset]) -> String {
    let mut out = String::from(r#"<section id="metadata"><h2>Run</h2><div class="grid">"#);
    for (i, s) in sets.iter().enumerate() {
        let _ = write!(out, "<div><h3>{} {}</h3><table>", dataset_mark(i, sets.len()), escape(&s.label));
        let rows_total = s.table.rows.len();
        let params: i64 =
            s.table.rows.iter().filter_map(|r| r.get(&s.table.schema, columns::NUMEL).and_then(|v| v.as_i64())).sum();
        let mut kv =
            vec![("tensors".to_string(), rows_total.to_string()), ("parameters".to_string(), params.to_string())];
        match &s.meta {
            Some(m) => {
                let show = |v: &serde_json::Value| match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Array(a) if a.iter().all(|x| x.is_string()) => {
                        a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(" ")
                    }
                    serde_json::Value::Array(a) => format!("{} entries", a.len()),
                    other => other.to_string(),
                };
                for key in [
                    "model_id",
                    "revision",
                    "framework",
                    "started_at",
                    "duration_s",
                    "format",
                    "cli_args",
                    "thresholds",
                ] {
                    if let Some(v) = m.get(key) {
                        kv.push((key.to_string(), show(v)));
                    }
                }
                if let Some(v) = m.get("code_version") {
                    kv.push(("code_version".into(), show(v)));
                }
                let errors = m.get("errors").and_then(|e| e.as_array()).map_or(0, Vec::len);
                kv.push(("errors".into(), errors.to_string()));
            }
            None => kv.push(("run_meta.json".into(), "not found beside the table".into())),
        }
        for (k, v) in kv {
            let _ = write!(out, "<tr><th>{}</th><td><code>{}</code></td></tr>", escape(&k), escape(&v));
        }
        out.push_str("</table></div>");
    }
    out.push_str("</div></section>");
    out
}

/// "solid" / "dashed" marks telling the tables of an overlay apart.
fn dataset_mark(i: usize, n: usize) -> &'static str {
    match (n, i) {
        (1, _) => "",
        (_, 0) => "&#9472;&#9472;",
        _ => "&#9476;&#9476;",
    }
}

/// Series (block types) that have per-layer floating-point tensors in any table, each with a
/// stable color.
fn block_colors(sets: &[Dataset]) -> BTreeMap<String, &'static str> {
    let blocks: BTreeSet<String> = sets
        .iter()
        .flat_map(|s| s.table.rows.iter().filter(|r| s.layer(r).is_some() && s.is_float(r)).map(|r| s.block(r)))
        .collect();
    blocks.into_iter().enumerate().map(|(i, b)| (b, color(i))).collect()
}

fn legend(colors: &BTreeMap<String, &'static str>, sets: &[Dataset]) -> String {
    let mut out = String::from(r#"<div class="legend">"#);
    for (b, c) in colors {
        let _ = write!(out, r#"<span><i class="swatch" style="border-color:{c}"></i>{}</span>"#, escape(b));
    }
    if sets.len() == 2 {
        for (i, s) in sets.iter().enumerate() {
            let style = if i == 0 { "solid" } else { "dashed" };
            let _ = write!(
                out,
                r#"<span><i class="swatch" style="border-top:3px {style} #333"></i>{}</span>"#,
                escape(&s.label)
            );
        }
    }
    out.push_str("</div>");
    out
}

/// The lines of `metric` in `panel`, one per table and series.
fn panel_series(sets: &[Dataset], colors: &BTreeMap<String, &'static str>, metric: &str, panel: Panel) -> Vec<Series> {
    let mut series = Vec::new();
    for (i, s) in sets.iter().enumerate() {
        for ((p, block), layers) in s.per_layer(metric) {
            if p != panel {
                continue;
            }
            series.push(Series {
                label: format!("{} {block}", s.label),
                color: colors.get(&block).copied().unwrap_or("#333"),
                dashed: i == 1,
                points: layers.into_iter().map(|(l, v)| (l as f64, v)).collect(),
            });
        }
    }
    series
}

/// Small multiples: one row of charts per panel (matrices, norms, biases, other), each chart one
/// metric over the layers, so that every kind of tensor is drawn on its own scale.
fn per_layer_section(sets: &[Dataset]) -> String {
    let colors = block_colors(sets);
    let mut out = String::from(r#"<section id="per-layer"><h2>Per layer</h2>"#);
    if colors.is_empty() {
        out.push_str(r#"<p class="muted">No floating-point tensor has a layer index.</p></section>"#);
        return out;
    }
    out.push_str(r#"<p class="muted">Each kind of tensor in its own panel, on its own scale; several tensors of one block type in a layer (experts) are averaged. Hover a point for its value.</p>"#);
    out.push_str(&legend(&colors, sets));
    for panel in [Panel::Matrices, Panel::Norms, Panel::Biases, Panel::Other] {
        let mut charts = String::new();
        for (metric, label) in [
            (RANK_RATIO, "rank ratio (rank / min(rows, cols))"),
            (columns::STD, "std"),
            (columns::SPARSITY, "sparsity"),
        ] {
            let series = panel_series(sets, &colors, metric, panel);
            if series.iter().all(|s| s.points.is_empty()) {
                continue;
            }
            let title = format!("{label}: {}", panel.title());
            // std spans orders of magnitude between series (Gemma's q/k norms and its others).
            let chart = if metric == columns::STD {
                svg::log_line_chart(&title, "layer", metric, &series)
            } else {
                svg::line_chart(&title, "layer", metric, &series)
            };
            let _ = write!(charts, "<div><h4>{}</h4>{chart}</div>", escape(&title));
        }
        if !charts.is_empty() {
            let _ = write!(out, r#"<h3>{}</h3><div class="grid">{charts}</div>"#, escape(panel.title()));
        }
    }
    out.push_str("</section>");
    out
}

/// With `--spectral` columns: the model summary (WeightWatcher's `get_summary()` means) and
/// `alpha` per layer, by block type.
fn spectral_section(sets: &[Dataset]) -> String {
    let summaries: Vec<(&str, ModelSpectralSummary)> = sets
        .iter()
        .flat_map(|s| {
            spectral_summary(&s.table.schema, &s.table.rows, s.conv_mode()).into_iter().map(|m| (s.label.as_str(), m))
        })
        .collect();
    if summaries.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        r#"<section id="spectral"><h2>Spectral summary</h2><p class="muted">Means over the matrices WeightWatcher analyzes (8 to 15000 eigenvalues, larger side up to 50000), as its <code>get_summary()</code>.</p><table><tr><th>table</th><th>model</th><th>matrices</th>"#,
    );
    for metric in SPECTRAL_METRICS {
        let _ = write!(out, "<th>{}</th>", escape(metric));
    }
    out.push_str("</tr>");
    for (label, m) in &summaries {
        let _ = write!(out, "<tr><td>{}</td><td>{}</td><td>{}</td>", escape(label), escape(&m.model_id), m.matrices);
        for (_, mean) in &m.means {
            let _ = write!(out, "<td>{}</td>", mean.map_or("-".to_string(), fmt_num));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    // One color per block type of weight matrices with an alpha (the legend lists only those).
    let drawn: BTreeSet<String> = sets
        .iter()
        .flat_map(|s| s.per_layer(spectral_columns::ALPHA).into_keys())
        .filter(|(panel, _)| *panel == Panel::Matrices)
        .map(|(_, block)| block)
        .collect();
    let colors: BTreeMap<String, &'static str> = drawn.into_iter().enumerate().map(|(i, b)| (b, color(i))).collect();
    let series = panel_series(sets, &colors, spectral_columns::ALPHA, Panel::Matrices);
    if series.iter().any(|s| !s.points.is_empty()) {
        let label = "alpha (power-law exponent of the ESD)";
        let _ = write!(
            out,
            r#"<h3>{label}: weight matrices</h3>{}<div style="max-width:760px">{}</div>"#,
            legend(&colors, sets),
            svg::line_chart(label, "layer", "alpha", &series)
        );
    }
    out.push_str("</section>");
    out
}

/// The heatmap of `metric` over series x layer, each row colored by its robust z-score (the
/// raw value is in each cell's hover title): one scale for all rows would let the norms decide
/// every color.
fn heatmap_section(sets: &[Dataset], metric: &str) -> String {
    let mut out = format!(
        r#"<section id="heatmap"><h2>Heatmap: {} by layer and block type</h2><p class="muted">Each row is colored by the robust z-score of its cells, (value - row median) / (1.4826 &times; row MAD), the spread at least {}% of the median's size; blue below the row's typical value, red above. Hover a cell for the raw value.</p>"#,
        escape(metric),
        fmt_num(MIN_ROW_SPREAD * 100.0)
    );
    for s in sets {
        let per_layer = s.per_layer(metric);
        let layers: BTreeSet<i64> = per_layer.values().flat_map(|l| l.keys().copied()).collect();
        let layers: Vec<i64> = layers.into_iter().collect();
        let grid = Grid {
            rows: per_layer.keys().map(|(_, name)| name.clone()).collect(),
            cols: layers.iter().map(i64::to_string).collect(),
            cells: per_layer
                .values()
                .map(|l| row_scores(&layers.iter().map(|k| l.get(k).copied()).collect::<Vec<_>>()))
                .collect(),
        };
        let label = format!("{} {metric}", s.label);
        let _ = write!(
            out,
            r#"<h3>{}</h3><div class="scroll">{}</div>"#,
            escape(&s.label),
            svg::heatmap(&label, metric, &grid)
        );
    }
    out.push_str("</section>");
    out
}

/// The smallest spread a heatmap row's z-score divides by, as a share of |median|: layers that
/// agree to a few digits stay one neutral color instead of showing rounding as extremes.
const MIN_ROW_SPREAD: f64 = 0.01;

/// Each value with its robust z-score within the row.
fn row_scores(values: &[Option<f64>]) -> Vec<Option<(f64, f64)>> {
    let known: Vec<f64> = values.iter().flatten().copied().filter(|v| v.is_finite()).collect();
    let Some((med, mad)) = median_mad(&known) else { return values.iter().map(|v| v.map(|v| (v, 0.0))).collect() };
    let spread = (1.4826 * mad).max(MIN_ROW_SPREAD * med.abs()).max(f64::MIN_POSITIVE);
    values.iter().map(|v| v.map(|v| (v, (v - med) / spread))).collect()
}

fn histogram_section(sets: &[Dataset]) -> String {
    let mut out = String::from(
        r#"<section id="histograms"><h2>Distributions over weight matrices</h2><p class="muted">Floating-point weight matrices of every layer and outside them (norms, biases and vectors are in their own panels above; integer buffers such as <code>position_ids</code> are left out). std on a log scale; mean clipped to its 1st..99th percentile; each chart states what it leaves out.</p>"#,
    );
    if sets.len() == 2 {
        out.push_str(r#"<div class="legend">"#);
        for (i, s) in sets.iter().enumerate() {
            let _ = write!(
                out,
                r#"<span><i class="swatch" style="border-color:{}"></i>{}</span>"#,
                color(i),
                escape(&s.label)
            );
        }
        out.push_str("</div>");
    }
    out.push_str(r#"<div class="grid">"#);
    for (metric, axis) in [
        (columns::STD, HistAxis::Log10),
        (columns::MEAN, HistAxis::Percentiles(0.01, 0.99)),
        (columns::SPARSITY, HistAxis::Linear),
        (RANK_RATIO, HistAxis::Linear),
    ] {
        let data: Vec<HistogramData> = sets
            .iter()
            .enumerate()
            .map(|(i, s)| HistogramData {
                label: s.label.clone(),
                color: color(i),
                values: s
                    .table
                    .rows
                    .iter()
                    .filter(|r| s.is_float(r) && s.panel(r) == Panel::Matrices)
                    .filter_map(|r| s.metric(r, metric))
                    .collect(),
            })
            .collect();
        let _ = write!(out, "<div><h3>{metric}</h3>{}</div>", svg::histogram(metric, metric, &data, axis));
    }
    out.push_str("</div></section>");
    out
}

/// Embeddings, output head and other tensors without a layer index, side by side.
fn outside_layers_section(sets: &[Dataset]) -> String {
    let mut out = String::from(
        r#"<section id="outside-layers"><h2>Tensors outside the layers</h2><table><tr><th>table</th><th>tensor</th><th>block type</th><th>shape</th><th>dtype</th><th class="num">mean</th><th class="num">std</th><th class="num">sparsity</th><th class="num">rank ratio</th></tr>"#,
    );
    let num = |v: Option<f64>| v.map_or("-".to_string(), fmt_num);
    for s in sets {
        for r in s.table.rows.iter().filter(|r| s.layer(r).is_none()) {
            let t = |c| escape(text(&s.table, r, c).unwrap_or(""));
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                escape(&s.label),
                t(columns::PARAM_NAME),
                t(columns::BLOCK_TYPE),
                t(columns::SHAPE),
                t(columns::DTYPE),
                num(s.metric(r, columns::MEAN)),
                num(s.metric(r, columns::STD)),
                num(s.metric(r, columns::SPARSITY)),
                num(s.metric(r, RANK_RATIO)),
            );
        }
    }
    out.push_str("</table></section>");
    out
}

fn anomaly_section(sets: &[Dataset]) -> String {
    let mut out = String::from(r#"<section id="anomalies"><h2>Anomalies</h2>"#);
    let all: Vec<(&str, Anomaly)> = sets
        .iter()
        .flat_map(|s| {
            find_anomalies(&s.table.schema, &s.table.rows, &s.duplicates).into_iter().map(|a| (s.label.as_str(), a))
        })
        .collect();
    if all.is_empty() {
        out.push_str(r#"<p class="muted">None: no NaN/Inf, all-zero, all-identical or duplicate tensors, no rank far below its peers and no statistic a robust outlier against the same tensor in the other layers (rules in docs/output-spec.md).</p></section>"#);
        return out;
    }
    out.push_str("<table><tr><th>table</th><th>kind</th><th>tensor</th><th>detail</th></tr>");
    for (label, a) in &all {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td><span class="kind">{}</span></td><td><code>{}</code></td><td>{}</td></tr>"#,
            escape(label),
            a.kind.as_str(),
            escape(&a.tensor),
            escape(&a.detail)
        );
    }
    out.push_str("</table></section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norms_are_named_after_their_layer_number() {
        assert_eq!(norm_series("model.layers.3.input_layernorm.weight"), "input_layernorm");
        assert_eq!(norm_series("encoder.layer.0.attention.output.LayerNorm.bias"), "attention.output.LayerNorm.bias");
        assert_eq!(norm_series("blk.12.attn_q_norm.weight"), "attn_q_norm");
        assert_eq!(norm_series("norm.weight"), "norm");
    }

    #[test]
    fn integer_buffers_are_not_charted() {
        assert!(is_integer_dtype("I64") && is_integer_dtype("int64") && is_integer_dtype("INT64"));
        assert!(!is_integer_dtype("F32") && !is_integer_dtype("bfloat16") && !is_integer_dtype("Q4_K"));
    }

    #[test]
    fn heatmap_rows_are_scored_robustly() {
        let scores = row_scores(&[Some(1.0), Some(1.1), None, Some(0.9), Some(10.0)]);
        assert_eq!(scores[2], None);
        let z = |i: usize| scores[i].unwrap().1;
        assert!(z(4) > 4.0, "the outlier stands out: {scores:?}");
        assert!(z(0).abs() < 1.0 && z(1).abs() < 2.0);
        // Layers that agree to the last digits stay neutral.
        let flat = row_scores(&[Some(1.0), Some(1.0 + 1e-9), Some(1.0)]);
        assert!(flat.iter().flatten().all(|(_, z)| z.abs() < 1e-3));
    }
}
