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

/// Maps data to drawing coordinates.
struct Frame {
    x: (f64, f64),
    y: (f64, f64),
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
        for t in ticks(self.y.0, self.y.1, 5) {
            let y = self.py(t);
            let _ = write!(
                out,
                r##"<line x1="{x0}" x2="{x1}" y1="{y:.1}" y2="{y:.1}" stroke="#e6e6e6"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
                x0 - 6.0,
                y + 4.0,
                fmt_num(t)
            );
        }
        let x_ticks: Vec<f64> =
            ticks(self.x.0, self.x.1, 8).into_iter().filter(|t| !integer_x || t.fract() == 0.0).collect();
        for t in x_ticks {
            let x = self.px(t);
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{y1}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"##,
                y1 + 4.0,
                y1 + 16.0,
                fmt_num(t)
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
    let mut out = String::new();
    open_svg(&mut out, label);
    let finite = |&&(x, y): &&(f64, f64)| x.is_finite() && y.is_finite();
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.iter().filter(finite).copied()).collect();
    if all.is_empty() {
        no_data(&mut out);
        return out;
    }
    let range = |f: fn(&(f64, f64)) -> f64| {
        all.iter().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
    };
    let (xr, yr) = (range(|p| p.0), range(|p| p.1));
    let frame = Frame { x: padded(xr.0, xr.1), y: padded(yr.0, yr.1) };
    frame.axes(&mut out, x_label, y_label, true);
    for s in series {
        let pts: Vec<(f64, f64)> = s.points.iter().filter(finite).map(|&(x, y)| (frame.px(x), frame.py(y))).collect();
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

/// A histogram of each data set over shared bins, bars overlaid half-transparent.
pub fn histogram(label: &str, x_label: &str, data: &[HistogramData]) -> String {
    let mut out = String::new();
    open_svg(&mut out, label);
    let finite: Vec<Vec<f64>> =
        data.iter().map(|d| d.values.iter().copied().filter(|v| v.is_finite()).collect()).collect();
    let (lo, hi) =
        finite.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if lo > hi {
        no_data(&mut out);
        return out;
    }
    let (lo, hi) = padded(lo, hi);
    let width = (hi - lo) / BINS as f64;
    let counts: Vec<[usize; BINS]> = finite
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
    let frame = Frame { x: (lo, hi), y: (0.0, max as f64 * 1.05) };
    frame.axes(&mut out, x_label, "tensors", false);
    for (d, c) in data.iter().zip(&counts) {
        for (b, &n) in c.iter().enumerate().filter(|(_, &n)| n > 0) {
            let left = lo + b as f64 * width;
            let (x0, x1) = (frame.px(left), frame.px(left + width));
            let (y0, y1) = (frame.py(n as f64), frame.py(0.0));
            let _ = write!(
                out,
                r#"<rect x="{x0:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="0.55" stroke="{}" stroke-width="0.5"><title>{}: {n} tensors in [{}, {})</title></rect>"#,
                (x1 - x0 - 1.0).max(0.5),
                (y1 - y0).max(0.0),
                d.color,
                d.color,
                escape(&d.label),
                fmt_num(left),
                fmt_num(left + width)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// A grid of values: `rows` labels down, `cols` labels across, `None` where there is no value.
#[derive(Clone, Debug)]
pub struct Grid {
    /// Row labels (block types).
    pub rows: Vec<String>,
    /// Column labels (layers).
    pub cols: Vec<String>,
    /// `cells[row][col]`.
    pub cells: Vec<Vec<Option<f64>>>,
}

/// Viridis, sampled at five stops.
const VIRIDIS: [(f64, f64, f64); 5] =
    [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];

/// The viridis color of `t` in `0..=1`.
fn viridis(t: f64) -> String {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let pos = t * (VIRIDIS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A heatmap of `grid` colored by value (viridis, min..max), with a color bar.
pub fn heatmap(label: &str, metric: &str, grid: &Grid) -> String {
    let (lo, hi) = grid
        .cells
        .iter()
        .flatten()
        .flatten()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let left = 96.0;
    let top = 10.0;
    let cell_w = (820.0 / grid.cols.len().max(1) as f64).clamp(6.0, 36.0);
    let cell_h = 18.0;
    let width = left + cell_w * grid.cols.len() as f64 + 90.0;
    let height = top + cell_h * grid.rows.len() as f64 + 40.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="heatmap" viewBox="0 0 {width:.0} {height:.0}" style="max-width:{width:.0}px" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(label)
    );
    if lo > hi {
        let _ = write!(out, r#"<text x="10" y="20" class="axis">no data</text></svg>"#);
        return out;
    }
    let span = if hi > lo { hi - lo } else { 1.0 };
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
                Some(v) if v.is_finite() => (viridis((v - lo) / span), fmt_num(*v)),
                Some(v) => ("#d62728".to_string(), v.to_string()),
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
    let bottom = top + cell_h * grid.rows.len() as f64;
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
    // Color bar.
    let bar_x = left + cell_w * grid.cols.len() as f64 + 16.0;
    let bar_h = (bottom - top).max(40.0);
    let stops = 20;
    for i in 0..stops {
        let t = 1.0 - i as f64 / (stops - 1) as f64;
        let _ = write!(
            out,
            r#"<rect x="{bar_x:.1}" y="{:.1}" width="12" height="{:.2}" fill="{}"/>"#,
            top + bar_h * i as f64 / stops as f64,
            bar_h / stops as f64 + 0.3,
            viridis(t)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" class="tick">{}</text><text x="{:.1}" y="{:.1}" class="tick">{}</text></svg>"#,
        bar_x + 16.0,
        top + 9.0,
        fmt_num(hi),
        bar_x + 16.0,
        top + bar_h,
        fmt_num(lo)
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
        let svg = line_chart("std", "layer", "std", &[s]);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(line_chart("x", "layer", "y", &[]).contains("no data"));
        let h = HistogramData { label: "a".into(), color: color(1), values: vec![1.0, 1.0, f64::NAN, 3.0] };
        assert!(histogram("h", "std", &[h]).contains("<rect"));
        let grid =
            Grid { rows: vec!["norm".into()], cols: vec!["0".into(), "1".into()], cells: vec![vec![Some(1.0), None]] };
        let svg = heatmap("h", "std", &grid);
        assert!(svg.contains("#f0f0f0") && svg.contains(&viridis(0.0)));
    }
}
