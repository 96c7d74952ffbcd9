//! `--esd REGEX`: the eigenvalue spectrum (ESD) of selected matrices of a `--spectral` table,
//! with WeightWatcher's power-law fit.
//!
//! Tables hold no eigenvalues, so the report recomputes them: for each row whose `param_name`
//! matches (at most [`MAX_ESD`] per table, in table order), it opens the model at the row's
//! `model_path`, decodes that tensor and computes its singular values as `analyze --spectral`
//! does (`weightlens_analyzers::spectral::layer_singular_values`, under the `--conv` mode recorded
//! in `run_meta.json`'s `thresholds.conv`), fits the power law
//! (`weightlens_analyzers::powerlaw::fit`) and bins the eigenvalues into the chart; only one
//! tensor's values are held at a time. A model that is no longer there, or a tensor that cannot
//! be read, is named in the section instead of its chart.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

use regex::Regex;
use weightlens_analyzers::conv::ConvMode;
use weightlens_analyzers::powerlaw;
use weightlens_analyzers::spectral::{columns as spectral_columns, layer_singular_values};
use weightlens_core::table::columns;
use weightlens_core::{Row, TensorSource};
use weightlens_readers::limits::OpenOptions;

use super::svg::{self, escape, fmt_num, PowerLawLine};
use super::{text, Dataset};
use crate::pipeline::default_max_memory;

/// Charts per table at most.
pub const MAX_ESD: usize = 24;

/// One chart (or the reason there is none).
struct Entry {
    title: String,
    body: String,
}

/// The ESD section of the tables: one chart per selected matrix.
pub(super) fn esd_section(sets: &[Dataset], regex: &Regex) -> String {
    let mut out = format!(
        r#"<section id="esd"><h2>Eigenvalue spectra (ESD) of <code>{}</code></h2><p class="muted">Eigenvalues of W<sup>T</sup>W, recomputed from the model file as <code>analyze --spectral</code> computes them: a histogram over log-spaced bins (bar height: count / (eigenvalues &times; bin width)), WeightWatcher's power-law fit (red, its density scaled to the share of eigenvalues in the tail) from xmin (dashed) to the largest eigenvalue. At most {MAX_ESD} matrices per table.</p>"#,
        escape(regex.as_str())
    );
    for set in sets {
        if set.table.schema.index_of(spectral_columns::ALPHA).is_none() {
            let _ = write!(
                out,
                r#"<p class="muted">{}: not a <code>--spectral</code> table, no ESD.</p>"#,
                escape(&set.label)
            );
            continue;
        }
        let selected: Vec<&Row> = set
            .table
            .rows
            .iter()
            .filter(|r| text(&set.table, r, columns::PARAM_NAME).is_some_and(|n| regex.is_match(n)))
            .filter(|r| r.get(&set.table.schema, spectral_columns::SIGMA_MAX).and_then(|v| v.as_f64()).is_some())
            .collect();
        let conv = set.conv_mode();
        let _ = write!(
            out,
            r#"<h3>{}</h3><p class="muted">{} matching matrices{}; 4-D tensors analyzed with <code>--conv {}</code>.</p><div class="grid">"#,
            escape(&set.label),
            selected.len(),
            if selected.len() > MAX_ESD { format!(", the first {MAX_ESD} drawn") } else { String::new() },
            conv.as_str()
        );
        for entry in entries(set, &selected[..selected.len().min(MAX_ESD)], conv) {
            let _ = write!(out, "<div><h4>{}</h4>{}</div>", escape(&entry.title), entry.body);
        }
        out.push_str("</div>");
    }
    out.push_str("</section>");
    out
}

/// The charts of `rows`, models opened once per `model_path`.
fn entries(set: &Dataset, rows: &[&Row], conv: ConvMode) -> Vec<Entry> {
    let mut by_path: BTreeMap<&str, Vec<(usize, &Row)>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        by_path.entry(text(&set.table, r, columns::MODEL_PATH).unwrap_or("")).or_default().push((i, r));
    }
    let mut out: Vec<(usize, Entry)> = Vec::new();
    for (path, rows) in by_path {
        let discovery = weightlens_readers::discover(&[PathBuf::from(path)]);
        let sources: Vec<Box<dyn TensorSource>> = discovery
            .models
            .iter()
            .filter_map(|m| weightlens_readers::open_model_with(m, &OpenOptions::default()).ok())
            .collect();
        for (i, r) in rows {
            out.push((i, entry(set, r, &sources, path, conv)));
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, e)| e).collect()
}

fn entry(set: &Dataset, row: &Row, sources: &[Box<dyn TensorSource>], path: &str, conv: ConvMode) -> Entry {
    let name = text(&set.table, row, columns::PARAM_NAME).unwrap_or("");
    let shape = text(&set.table, row, columns::SHAPE).unwrap_or("");
    let file = text(&set.table, row, columns::FILE).unwrap_or("");
    let title = format!("{name} {shape}");
    let fail = |why: String| Entry { title: title.clone(), body: format!(r#"<p class="muted">{}</p>"#, escape(&why)) };
    // The tensor of that name in the file the row names (a model may store a name twice).
    let found = sources.iter().find_map(|s| {
        let index = s.tensors().iter().position(|t| t.name == name && t.file.to_string_lossy().ends_with(file))?;
        Some((s, index))
    });
    let Some((source, index)) = found else {
        if sources.is_empty() {
            return fail(format!(
                "no model at {path} (moved since the run? a relative model_path is read from the current directory)"
            ));
        }
        return fail(format!("no tensor {name} in {file} under {path} (changed since the run?)"));
    };
    let computed = source.view(index).and_then(|view| layer_singular_values(&view, conv, Some(default_max_memory())));
    let sv = match computed {
        Ok(Some((sv, _, _))) => sv,
        Ok(None) => return fail(format!("{name}: no spectrum (NaN/Inf or not a matrix)")),
        Err(e) => return fail(e.to_string()),
    };
    let mut evals: Vec<f64> = sv.iter().map(|s| s * s).collect();
    evals.sort_by(f64::total_cmp);
    let fit = powerlaw::fit(&evals).map(|f| PowerLawLine {
        alpha: f.alpha,
        xmin: f.xmin,
        xmax: f.xmax,
        tail: f.num_pl_spikes,
    });
    let table_alpha = row.get(&set.table.schema, spectral_columns::ALPHA).and_then(|v| v.as_f64());
    // Recomputed from the same values as the table's: a difference means the file changed.
    let title = match (table_alpha, fit) {
        (Some(a), Some(f)) if (a - f.alpha).abs() > 1e-9 * a.abs() => {
            format!("{title} (the table's alpha is {}: the file changed since the run?)", fmt_num(a))
        }
        _ => title,
    };
    Entry { body: svg::esd_chart(&format!("ESD of {name}"), &evals, fit), title }
}
