//! Inline SVG charts: line charts, heatmaps and histograms, drawn from plain numbers with no
//! JavaScript. Every mark carries a `<title>` so the browser shows its value on hover.

use std::fmt::Write;

/// Width and height of a chart's drawing, in SVG units (the page scales it).
const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 42.0;

/// Distinct colors for series (Tableau 10 and a few more), cycled.
pub const PALETTE: [&str; 14] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#1f77b4", "#17becf", "#8c564b", "#7f7f7f",
];

/// The color of series `i`.
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Text safe inside HTML and SVG elements and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A number in at most 4 significant digits, in scientific notation when very large or small.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        return format!("{v:.2e}");
    }
    let s = format!("{v:.4}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// One line of a line chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// Shown on hover.
    pub label: String,
    /// Stroke color.
    pub color: &'static str,
    /// Dashed (the second table of an overlay).
    pub dashed: bool,
    /// `(x, y)` points, drawn in order.
    pub points: Vec<(f64, f64)>,
}

/// `lo..=hi` widened when empty or degenerate, so that scaling never divides by zero.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi > lo {
        return (lo, hi);
    }
    let pad = if lo == 0.0 { 0.5 } else { lo.abs() * 0.1 };
    (lo - pad, hi + pad)
}

/// Round tick positions covering `lo..=hi`, about `n` of them.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = hi - lo;
    let raw = span / n.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|&s| s >= raw).unwrap_or(raw);
    if !(step > 0.0 && step.is_finite()) {
        return vec![lo];
    }
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).take(50).map(|k| k as f64 * step).collect()
}

/// Ticks of an axis; on a log axis (coordinates log10 of the values) spanning two or more
/// decades, the whole decades (labels 0.01, 0.1, 1...).
fn axis_ticks(lo: f64, hi: f64, n: usize, log: bool) -> Vec<f64> {
    if log && hi - lo >= 2.0 {
        let step = ((hi - lo) / n.max(1) as f64).ceil().max(1.0);
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        return (first..=last).take(50).map(|k| k as f64 * step).collect();
    }
    ticks(lo, hi, n)
}

/// The label of tick `t` on a log axis: `10^t`, a whole decade beyond 1e+-3 as `1e-5`.
fn log_label(t: f64) -> String {
    if t.fract() == 0.0 && t.abs() >= 3.0 {
        format!("1e{t}")
    } else {
        fmt_num(10f64.powf(t))
    }
}

/// Maps data to drawing coordinates.
struct Frame {
    x: (f64, f64),
    y: (f64, f64),
    /// The y coordinates are log10 of the values: tick labels show 10^t.
    log_y: bool,
    /// The x coordinates are log10 of the values.
    log_x: bool,
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * (WIDTH - LEFT - RIGHT)
    }
    fn py(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - (y - self.y.0) / (self.y.1 - self.y.0) * (HEIGHT - TOP - BOTTOM)
    }

    /// Axes, grid lines, tick labels and axis titles.
    fn axes(&self, out: &mut String, x_label: &str, y_label: &str, integer_x: bool) {
        let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
        for t in axis_ticks(self.y.0, self.y.1, 5, self.log_y) {
            let y = self.py(t);
            let _ = write!(
                out,
                r##"<line x1="{x0}" x2="{x1}" y1="{y:.1}" y2="{y:.1}" stroke="#e6e6e6"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
                x0 - 6.0,
                y + 4.0,
                if self.log_y { log_label(t) } else { fmt_num(t) }
            );
        }
        let x_ticks: Vec<f64> = axis_ticks(self.x.0, self.x.1, 8, self.log_x)
            .into_iter()
            .filter(|t| !integer_x || t.fract() == 0.0)
            .collect();
        for t in x_ticks {
            let x = self.px(t);
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{y1}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"##,
                y1 + 4.0,
                y1 + 16.0,
                if self.log_x { log_label(t) } else { fmt_num(t) }
            );
        }
        let _ = write!(
            out,
            r##"<line x1="{x0}" x2="{x1}" y1="{y1}" y2="{y1}" stroke="#666"/><line x1="{x0}" x2="{x0}" y1="{y0}" y2="{y1}" stroke="#666"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text><text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle" class="axis">{}</text>"##,
            (x0 + x1) / 2.0,
            HEIGHT - 6.0,
            escape(x_label),
            (y0 + y1) / 2.0,
            escape(y_label)
        );
    }
}

fn open_svg(out: &mut String, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(label)
    );
}

fn no_data(out: &mut String) {
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" class="axis">no data</text></svg>"#,
        WIDTH / 2.0,
        HEIGHT / 2.0
    );
}

/// A line chart of `series` (finite points only).
pub fn line_chart(label: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    draw_lines(label, x_label, y_label, series, false)
}

/// [`line_chart`] on a log y axis, for a scale such as std that spans orders of magnitude
/// between the series; points <= 0 are left out, hover titles keep the raw values.
pub fn log_line_chart(label: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    draw_lines(label, x_label, &format!("{y_label} (log scale)"), series, true)
}

fn draw_lines(label: &str, x_label: &str, y_label: &str, series: &[Series], log_y: bool) -> String {
    let mut out = String::new();
    open_svg(&mut out, label);
    let y_of = |y: f64| if log_y { y.log10() } else { y };
    let finite = |&&(x, y): &&(f64, f64)| x.is_finite() && y.is_finite() && (!log_y || y > 0.0);
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.iter().filter(finite).copied()).collect();
    if all.is_empty() {
        no_data(&mut out);
        return out;
    }
    let range = |f: fn(&(f64, f64)) -> f64| {
        all.iter().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
    };
    let (xr, yr) = (range(|p| p.0), range(|p| p.1));
    let frame = Frame { x: padded(xr.0, xr.1), y: padded(y_of(yr.0), y_of(yr.1)), log_y, log_x: false };
    frame.axes(&mut out, x_label, y_label, true);
    for s in series {
        let pts: Vec<(f64, f64)> =
            s.points.iter().filter(finite).map(|&(x, y)| (frame.px(x), frame.py(y_of(y)))).collect();
        let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let dash = if s.dashed { r#" stroke-dasharray="6 4""# } else { "" };
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.8"{dash} points="{}"><title>{}</title></polyline>"#,
            s.color,
            path.join(" "),
            escape(&s.label)
        );
        for ((x, y), &(dx, dy)) in pts.iter().zip(s.points.iter().filter(finite)) {
            let fill = if s.dashed { "#fff" } else { s.color };
            let _ = write!(
                out,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.6" fill="{fill}" stroke="{}"><title>{} {x_label} {}: {}</title></circle>"#,
                s.color,
                escape(&s.label),
                fmt_num(dx),
                fmt_num(dy)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// One table's values for a histogram.
#[derive(Clone, Debug)]
pub struct HistogramData {
    /// Shown on hover.
    pub label: String,
    /// Bar color.
    pub color: &'static str,
    /// The values (non-finite ones are skipped).
    pub values: Vec<f64>,
}

/// Bins of a histogram.
const BINS: usize = 30;

/// The x axis of a histogram: what keeps a few extreme tensors from squeezing the rest into
/// one bin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HistAxis {
    /// The full range of the values (for bounded metrics such as sparsity).
    Linear,
    /// log10 of the values; values <= 0 are left out and counted.
    Log10,
    /// The range between two quantiles of all values (e.g. 0.01 and 0.99); values outside are
    /// left out and counted.
    Percentiles(f64, f64),
}

/// The `q` quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let pos = ((last as f64) * q.clamp(0.0, 1.0)).round() as usize;
    sorted.get(pos.min(last)).copied()
}

/// The values a histogram draws (transformed for a log axis), its x-axis title and a note
/// counting the values left out.
fn histogram_values(finite: Vec<Vec<f64>>, x_label: &str, axis: HistAxis) -> (Vec<Vec<f64>>, String, String) {
    match axis {
        HistAxis::Linear => (finite, x_label.to_string(), String::new()),
        HistAxis::Log10 => {
            let dropped = finite.iter().flatten().filter(|&&v| v <= 0.0).count();
            let logs =
                finite.iter().map(|vals| vals.iter().filter(|&&v| v > 0.0).map(|v| v.log10()).collect()).collect();
            let note =
                if dropped > 0 { format!("{dropped} tensors with {x_label} <= 0 not drawn") } else { String::new() };
            (logs, format!("log10({x_label})"), note)
        }
        HistAxis::Percentiles(lo_q, hi_q) => {
            let mut all: Vec<f64> = finite.iter().flatten().copied().collect();
            all.sort_by(f64::total_cmp);
            let (Some(lo), Some(hi)) = (quantile(&all, lo_q), quantile(&all, hi_q)) else {
                return (finite, x_label.to_string(), String::new());
            };
            let inside = |v: &&f64| (lo..=hi).contains(*v);
            let dropped = all.iter().filter(|v| !inside(v)).count();
            let kept = finite.iter().map(|vals| vals.iter().filter(inside).copied().collect()).collect();
            if dropped == 0 {
                return (kept, x_label.to_string(), String::new());
            }
            let note = format!(
                "{dropped} tensors outside [{}, {}] (percentiles {}..{}) not drawn",
                fmt_num(lo),
                fmt_num(hi),
                fmt_num(lo_q * 100.0),
                fmt_num(hi_q * 100.0)
            );
            (kept, x_label.to_string(), note)
        }
    }
}

/// A histogram of each data set over shared bins, bars overlaid half-transparent. The values
/// left out by `axis` are counted in a note inside the chart.
pub fn histogram(label: &str, x_label: &str, data: &[HistogramData], axis: HistAxis) -> String {
    let mut out = String::new();
    open_svg(&mut out, label);
    let finite: Vec<Vec<f64>> =
        data.iter().map(|d| d.values.iter().copied().filter(|v| v.is_finite()).collect()).collect();
    let (shown, x_label, dropped_note) = histogram_values(finite, x_label, axis);
    let (lo, hi) =
        shown.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if lo > hi {
        no_data(&mut out);
        return out;
    }
    let (lo, hi) = padded(lo, hi);
    let width = (hi - lo) / BINS as f64;
    let counts: Vec<[usize; BINS]> = shown
        .iter()
        .map(|vals| {
            let mut c = [0usize; BINS];
            for v in vals {
                let bin = (((v - lo) / width) as usize).min(BINS - 1);
                if let Some(slot) = c.get_mut(bin) {
                    *slot += 1;
                }
            }
            c
        })
        .collect();
    let max = counts.iter().flatten().copied().max().unwrap_or(1).max(1);
    let frame = Frame { x: (lo, hi), y: (0.0, max as f64 * 1.15), log_y: false, log_x: false };
    frame.axes(&mut out, &x_label, "tensors", false);
    let log = axis == HistAxis::Log10;
    let shown_value = |x: f64| if log { fmt_num(10f64.powf(x)) } else { fmt_num(x) };
    for (d, c) in data.iter().zip(&counts) {
        for (b, &n) in c.iter().enumerate().filter(|(_, &n)| n > 0) {
            let left = lo + b as f64 * width;
            let (x0, x1) = (frame.px(left), frame.px(left + width));
            let (y0, y1) = (frame.py(n as f64), frame.py(0.0));
            let _ = write!(
                out,
                r#"<rect x="{x0:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="0.55" stroke="{}" stroke-width="0.5"><title>{}: {n} tensors with {} in [{}, {})</title></rect>"#,
                (x1 - x0 - 1.0).max(0.5),
                (y1 - y0).max(0.0),
                d.color,
                d.color,
                escape(&d.label),
                escape(label),
                shown_value(left),
                shown_value(left + width)
            );
        }
    }
    if !dropped_note.is_empty() {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"#,
            WIDTH - RIGHT - 4.0,
            TOP + 10.0,
            escape(&dropped_note)
        );
    }
    out.push_str("</svg>");
    out
}

/// WeightWatcher's power-law fit of an ESD, as [`esd_chart`] draws it.
#[derive(Clone, Copy, Debug)]
pub struct PowerLawLine {
    /// The exponent.
    pub alpha: f64,
    /// The smallest eigenvalue of the tail.
    pub xmin: f64,
    /// The largest.
    pub xmax: f64,
    /// Eigenvalues in the tail (`num_pl_spikes`).
    pub tail: usize,
}

/// Log-spaced bins of an ESD chart.
const ESD_BINS: usize = 40;

/// The empirical spectral density of `evals` on log-log axes: a histogram over `ESD_BINS`
/// log-spaced bins, each bar at `count / (n * width)` (a density of the `n` positive eigenvalues,
/// `width` in eigenvalue units), the fitted power law `(tail / n) (alpha - 1) / xmin (x /
/// xmin)^-alpha` from `xmin` to `xmax` (the fit's density scaled to the share of eigenvalues in
/// the tail), and `xmin` as a vertical line; a line above the chart states the fit, and counts the
/// eigenvalues <= 0, which cannot be drawn.
pub fn esd_chart(label: &str, evals: &[f64], fit: Option<PowerLawLine>) -> String {
    let mut out = String::new();
    open_svg(&mut out, label);
    let positive: Vec<f64> = evals.iter().copied().filter(|v| v.is_finite() && *v > 0.0).collect();
    let dropped = evals.len() - positive.len();
    let (lo, hi) = positive.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if positive.is_empty() {
        no_data(&mut out);
        return out;
    }
    let (llo, lhi) = padded(lo.log10(), hi.log10());
    let width = (lhi - llo) / ESD_BINS as f64;
    let mut counts = [0usize; ESD_BINS];
    for v in &positive {
        let bin = (((v.log10() - llo) / width) as usize).min(ESD_BINS - 1);
        if let Some(slot) = counts.get_mut(bin) {
            *slot += 1;
        }
    }
    let n = positive.len() as f64;
    let edge = |b: usize| 10f64.powf(llo + b as f64 * width);
    let density = |b: usize, c: usize| c as f64 / (n * (edge(b + 1) - edge(b)));
    let line: Vec<(f64, f64)> = fit
        .filter(|f| f.alpha.is_finite() && f.xmin > 0.0 && f.xmax >= f.xmin)
        .map(|f| {
            let scale = f.tail as f64 / n * (f.alpha - 1.0) / f.xmin;
            let (a, b) = (f.xmin.log10(), f.xmax.log10());
            (0..=60)
                .map(|k| a + (b - a) * k as f64 / 60.0)
                .map(|lx| (lx, scale * 10f64.powf(-f.alpha * (lx - a))))
                .collect()
        })
        .unwrap_or_default();
    let ys = counts.iter().enumerate().filter(|(_, &c)| c > 0).map(|(b, &c)| density(b, c));
    let ys: Vec<f64> = ys.chain(line.iter().map(|p| p.1)).filter(|y| *y > 0.0 && y.is_finite()).collect();
    let (ylo, yhi) = ys.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    // Room below the smallest bar, so that it shows.
    let (ylo, yhi) = padded(ylo.log10() - 0.3, yhi.log10() + 0.15);
    let frame = Frame { x: (llo, lhi), y: (ylo, yhi), log_y: true, log_x: true };
    frame.axes(&mut out, "eigenvalue (log scale)", "density (log scale)", false);
    let base = frame.py(ylo);
    for (b, &c) in counts.iter().enumerate().filter(|(_, &c)| c > 0) {
        let d = density(b, c);
        let (x0, x1) = (frame.px(llo + b as f64 * width), frame.px(llo + (b + 1) as f64 * width));
        let y0 = frame.py(d.log10().max(ylo));
        let _ = write!(
            out,
            r##"<rect x="{x0:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="#4e79a7" fill-opacity="0.6" stroke="#4e79a7" stroke-width="0.5"><title>{c} eigenvalues in [{}, {}): density {}</title></rect>"##,
            (x1 - x0 - 0.6).max(0.5),
            (base - y0).max(0.0),
            fmt_num(edge(b)),
            fmt_num(edge(b + 1)),
            fmt_num(d)
        );
    }
    if let Some(f) = fit.filter(|_| !line.is_empty()) {
        let pts: Vec<String> = line
            .iter()
            .filter(|p| p.1 > 0.0)
            .map(|&(lx, y)| format!("{:.1},{:.1}", frame.px(lx), frame.py(y.log10().clamp(ylo, yhi))))
            .collect();
        let _ = write!(
            out,
            r##"<polyline fill="none" stroke="#e15759" stroke-width="2" points="{}"><title>power law alpha {} from xmin {} to xmax {}</title></polyline>"##,
            pts.join(" "),
            fmt_num(f.alpha),
            fmt_num(f.xmin),
            fmt_num(f.xmax)
        );
        let x = frame.px(f.xmin.log10());
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{base:.1}" stroke="#e15759" stroke-dasharray="5 3" stroke-width="1.4"><title>xmin {}</title></line><text x="{:.1}" y="{:.1}" class="tick" fill="#b3262b">xmin</text>"##,
            fmt_num(f.xmin),
            x + 4.0,
            TOP + 10.0,
        );
    }
    out.push_str("</svg>");
    let note = match fit {
        Some(f) => format!(
            "alpha {}, xmin {}: {} of {} eigenvalues in the tail",
            fmt_num(f.alpha),
            fmt_num(f.xmin),
            f.tail,
            positive.len()
        ),
        None => format!("{} eigenvalues, no power-law fit", positive.len()),
    };
    let note = if dropped > 0 { format!("{note}; {dropped} zero eigenvalues not drawn") } else { note };
    format!(r#"<p class="muted">{}</p>{out}"#, escape(&note))
}

/// A grid of values: `rows` labels down, `cols` labels across, `None` where there is no value.
#[derive(Clone, Debug)]
pub struct Grid {
    /// Row labels (block types).
    pub rows: Vec<String>,
    /// Column labels (layers).
    pub cols: Vec<String>,
    /// `cells[row][col]`: the raw value and the score it is colored by.
    pub cells: Vec<Vec<Option<(f64, f64)>>>,
}

/// |score| at which a heatmap cell reaches the end of the color scale.
pub const SCORE_CLAMP: f64 = 4.0;

/// A diverging blue - white - red scale (the end colors of Moreland's "cool to warm") for `t`
/// in -1..=1.
fn diverging(t: f64) -> String {
    let t = if t.is_finite() { t.clamp(-1.0, 1.0) } else { 0.0 };
    let mid = (247.0, 247.0, 247.0);
    let end = if t < 0.0 { (59.0, 76.0, 192.0) } else { (180.0, 4.0, 38.0) };
    let f = t.abs();
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(mid.0, end.0), mix(mid.1, end.1), mix(mid.2, end.2))
}

/// A heatmap of `grid` colored by each cell's score (diverging, clamped at
/// +-[`SCORE_CLAMP`]), with a color bar; the hover title holds the raw value and the score.
/// The SVG keeps its natural size (a page element scrolls it when many layers make it wide).
pub fn heatmap(label: &str, metric: &str, grid: &Grid) -> String {
    // Room for the longest row label (tick text is about 6 units per character).
    let longest = grid.rows.iter().map(|r| r.chars().count()).max().unwrap_or(0);
    let left = (longest as f64 * 6.0 + 12.0).max(60.0);
    let top = 10.0;
    let cell_w = (900.0 / grid.cols.len().max(1) as f64).clamp(8.0, 60.0);
    let cell_h = 16.0;
    let n_rows = grid.rows.len().max(3) as f64;
    let width = left + cell_w * grid.cols.len() as f64 + 110.0;
    let height = top + cell_h * n_rows + 40.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="heatmap" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(label)
    );
    if !grid.cells.iter().flatten().any(Option::is_some) {
        let _ = write!(out, r#"<text x="10" y="20" class="axis">no data</text></svg>"#);
        return out;
    }
    for (r, (name, row)) in grid.rows.iter().zip(&grid.cells).enumerate() {
        let y = top + r as f64 * cell_h;
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"#,
            left - 6.0,
            y + cell_h * 0.7,
            escape(name)
        );
        for (c, value) in row.iter().enumerate() {
            let x = left + c as f64 * cell_w;
            let layer = grid.cols.get(c).map_or("", String::as_str);
            let (fill, text) = match value {
                Some((v, z)) if v.is_finite() => {
                    (diverging(z / SCORE_CLAMP), format!("{} (robust z {:.1})", fmt_num(*v), z))
                }
                Some((v, _)) => ("#222222".to_string(), v.to_string()),
                None => ("#f0f0f0".to_string(), "-".to_string()),
            };
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}"><title>{} layer {}: {metric} {text}</title></rect>"#,
                cell_w - 0.5,
                cell_h - 0.5,
                escape(name),
                escape(layer)
            );
        }
    }
    let bottom = top + cell_h * n_rows;
    let step = (grid.cols.len() / 16).max(1);
    for (c, name) in grid.cols.iter().enumerate().step_by(step) {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"#,
            left + (c as f64 + 0.5) * cell_w,
            bottom + 14.0,
            escape(name)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">layer</text>"#,
        left + cell_w * grid.cols.len() as f64 / 2.0,
        bottom + 32.0
    );
    // Color bar: +clamp at the top, -clamp at the bottom.
    let bar_x = left + cell_w * grid.cols.len() as f64 + 16.0;
    let bar_h = bottom - top;
    let stops = 21;
    for i in 0..stops {
        let t = 1.0 - 2.0 * i as f64 / (stops - 1) as f64;
        let _ = write!(
            out,
            r#"<rect x="{bar_x:.1}" y="{:.1}" width="12" height="{:.2}" fill="{}"/>"#,
            top + bar_h * i as f64 / stops as f64,
            bar_h / stops as f64 + 0.3,
            diverging(t)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{x:.1}" y="{:.1}" class="tick">z &gt;= +{c}</text><text x="{x:.1}" y="{:.1}" class="tick">z 0</text><text x="{x:.1}" y="{:.1}" class="tick">z &lt;= -{c}</text></svg>"#,
        top + 9.0,
        top + bar_h / 2.0 + 4.0,
        top + bar_h,
        x = bar_x + 16.0,
        c = fmt_num(SCORE_CLAMP),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ticks() {
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(2.0), "2");
        assert_eq!(fmt_num(1.0e-6), "1.00e-6");
        assert_eq!(ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        assert_eq!(padded(3.0, 3.0), (2.7, 3.3));
        assert_eq!(escape("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }

    #[test]
    fn charts_draw_marks_or_say_no_data() {
        let s = Series { label: "q_proj".into(), color: color(0), dashed: false, points: vec![(0.0, 1.0), (1.0, 2.0)] };
        let svg = line_chart("std", "layer", "std", std::slice::from_ref(&s));
        assert_eq!(svg.matches("<circle").count(), 2);
        let log = log_line_chart("std", "layer", "std", &[s]);
        assert!(log.contains("std (log scale)") && log.contains("layer 1: 2</title>"), "{log}");
        assert!(line_chart("x", "layer", "y", &[]).contains("no data"));
        let h = HistogramData { label: "a".into(), color: color(1), values: vec![1.0, 1.0, f64::NAN, 3.0] };
        assert!(histogram("h", "std", std::slice::from_ref(&h), HistAxis::Linear).contains("<rect"));
        let grid = Grid {
            rows: vec!["norm".into()],
            cols: vec!["0".into(), "1".into()],
            cells: vec![vec![Some((1.0, -8.0)), None]],
        };
        let svg = heatmap("h", "std", &grid);
        assert!(svg.contains("#f0f0f0") && svg.contains(&diverging(-1.0)));
        assert!(svg.contains("<title>norm layer 0: std 1 (robust z -8.0)</title>"), "{svg}");
    }

    #[test]
    fn histograms_state_what_they_leave_out() {
        let values: Vec<f64> = (0..100).map(f64::from).chain([0.0, -1.0, 1e6]).collect();
        let h = HistogramData { label: "a".into(), color: color(0), values };
        let log = histogram("std", "std", std::slice::from_ref(&h), HistAxis::Log10);
        assert!(log.contains("3 tensors with std &lt;= 0 not drawn") && log.contains("log10(std)"), "{log}");
        let clipped = histogram("mean", "mean", &[h], HistAxis::Percentiles(0.01, 0.99));
        assert!(clipped.contains("tensors outside ["), "{clipped}");
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
