//! The spectral metrics of `fixtures/spectral.npz` (read by weightlens' own npz reader) against
//! numpy's values in `fixtures/reference/spectral.npz.json`
//! (`fixtures/generator/make_spectral_reference.py`), by the analyzer and by both singular-value
//! methods.
//!
//! Tolerances: relative 1e-9 for `sigma_max`, `frobenius_norm`, `stable_rank`,
//! `effective_rank`, `log_norm`, `log_spectral_norm`, `xmax` and `entropy` (both sides are
//! backward-stable `f64` decompositions: errors near `1e-15`); `condition_number` relative 1e-6
//! (`sigma_min` of the ill-conditioned matrix is `1e-8 sigma_max`, known to about `1e-16 /
//! 1e-8`); the power-law fit (`alpha`, `alpha_weighted`, `log_alpha_norm`, `xmin`, `D`, `sigma`)
//! relative 1e-6 (a discrete choice of `xmin` and a few logarithms of the same eigenvalues);
//! `num_pl_spikes` and `warning` exactly; WeightWatcher's Marchenko-Pastur fit (`num_spikes`
//! exactly, `sigma_mp` and `mp_softrank` relative 1e-9: the same grid and Nelder-Mead steps as
//! scipy's, on eigenvalues equal to rounding), and `rand_distance`'s Jensen-Shannon distance of
//! the reference's eigenvalue pairs relative 1e-12. The generator checks its Marchenko-Pastur
//! values against WeightWatcher's own `mp_fit` when that is installed (`checked_against_weightwatcher`). The logarithms (`log_*`, `alpha_weighted`) are
//! compared relative to `max(|value|, 1)`: their rounding error is absolute. The reference is numpy's re-derivation of
//! WeightWatcher 0.7.7's formulas; `bench/spectral_vs_weightwatcher.py` checks the same columns
//! against WeightWatcher itself.

use std::path::{Path, PathBuf};

use weightlens_analyzers::conv::ConvMode;
use weightlens_analyzers::rand_distance::jensen_shannon_distance;
use weightlens_analyzers::singular::{singular_values, Method};
use weightlens_analyzers::spectral::{columns, layer_singular_values, spectral_values};
use weightlens_analyzers::SpectralAnalyzer;
use weightlens_core::{TensorAnalyzer, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The relative tolerance of a float column.
fn tolerance(name: &str) -> f64 {
    match name {
        columns::CONDITION_NUMBER
        | columns::ALPHA
        | columns::ALPHA_WEIGHTED
        | columns::LOG_ALPHA_NORM
        | columns::XMIN
        | columns::D
        | columns::SIGMA => 1e-6,
        _ => 1e-9,
    }
}

/// A reference value: a number, `"inf"`, a string, or null.
fn expected(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::String(s) if s == "inf" => Value::Float(f64::INFINITY),
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Number(n) if n.is_i64() => Value::Int(n.as_i64().expect("an integer")),
        other => Value::Float(other.as_f64().expect("a number")),
    }
}

fn assert_close(got: &[Value], reference: &serde_json::Value, what: &str) {
    assert_eq!(got.len(), columns::ALL.len(), "{what}");
    for ((name, _), got) in columns::ALL.iter().zip(got) {
        let want = expected(&reference[*name]);
        match (got, &want) {
            (Value::Float(g), Value::Float(w)) if g.is_infinite() || w.is_infinite() => {
                assert_eq!(g, w, "{what} {name}")
            }
            (Value::Float(g), Value::Float(w)) => {
                assert!(close(name, *g, *w, tolerance(name)), "{what} {name}: {g} vs numpy {w}")
            }
            _ => assert_eq!(got, &want, "{what} {name}"),
        }
    }
}

/// `g` within relative `tol` of `w`; a logarithm's rounding error is absolute, so near
/// `log10(1) = 0` its scale is 1.
fn close(name: &str, g: f64, w: f64, tol: f64) -> bool {
    let logarithm = name.starts_with("log_") || name == columns::ALPHA_WEIGHTED;
    let scale = if logarithm { w.abs().max(1.0) } else { w.abs().max(1e-300) };
    (g - w).abs() <= tol * scale
}

/// The position of a column in the spectral row.
fn col(name: &str) -> usize {
    columns::ALL.iter().position(|(n, _)| *n == name).expect("a spectral column")
}

#[test]
fn spectral_metrics_match_numpy() {
    let fixtures = root().join("fixtures");
    let text = std::fs::read_to_string(fixtures.join("reference/spectral.npz.json")).expect("reference");
    let reference: serde_json::Value = serde_json::from_str(&text).expect("reference JSON");
    let source = weightlens_readers::open_path(&fixtures.join("spectral.npz")).expect("npz opens");
    let analyzer = SpectralAnalyzer::new();
    let mut compared = 0;
    for r in reference["matrices"].as_array().expect("matrices") {
        let name = r["name"].as_str().expect("name");
        let index = source.tensors().iter().position(|t| t.name == name).expect("matrix present");
        let view = source.view(index).expect("view");
        assert_close(&analyzer.analyze(&view).expect("analyze"), r, name);
        // Both methods, directly (the analyzer checks the Gram eigenvalues at these sizes and
        // falls back to the SVD for the ill-conditioned matrices).
        let (rows, cols) = view.info().matrix_dims().expect("2-d");
        let (rows, cols) = (rows as usize, cols as usize);
        let data = view.to_f64_vec().expect("decode");
        let svd = singular_values(&data, rows, cols, Method::Svd).expect("svd");
        assert_close(&spectral_values(&svd.values, rows.max(cols)), r, &format!("{name} (svd)"));
        let gram = singular_values(&data, rows, cols, Method::Gram).expect("gram");
        let mut got = spectral_values(&gram.values, rows.max(cols));
        // The Gram path resolves singular values down to ~1e-7 sigma_max only (singular.rs):
        // a condition number beyond that reads as +Inf.
        let cond = expected(&r["condition_number"]).as_f64();
        if cond.is_some_and(|c| c > 1e6) {
            let c = col(columns::CONDITION_NUMBER);
            assert_eq!(got[c], Value::Float(f64::INFINITY), "{name} (gram) condition_number");
            got[c] = expected(&r["condition_number"]);
        }
        // Singular values below the Gram path's resolution are dropped: their share `d` of
        // sum(s) bounds the change of the entropy, so effective_rank moves by at most
        // d * (1 + ln(n / d)) relative.
        let total: f64 = svd.values.iter().sum();
        let dropped = svd.values.iter().filter(|&&s| s > 0.0 && s <= gram.resolution).count();
        let d = dropped as f64 * gram.resolution / total.max(f64::MIN_POSITIVE);
        if dropped > 0 {
            let (want, tol) = (
                expected(&r["effective_rank"]).as_f64().expect("effective_rank"),
                d * (1.0 + (svd.values.len() as f64 / d).ln()),
            );
            let e = col(columns::EFFECTIVE_RANK);
            let g = got[e].as_f64().expect("effective_rank");
            assert!((g - want).abs() <= tol * want, "{name} (gram) effective_rank {g} vs {want}, tolerance {tol}");
            got[e] = Value::Float(want);
            // The fit and the entropy see the singular values the Gram path resolves: the same
            // metrics of the SVD's values above that resolution, within 1e-4 (the smallest
            // resolved eigenvalues carry relative errors up to the Gram noise over their size).
            let seen: Vec<f64> = svd.values.iter().map(|&s| if s > gram.resolution { s } else { 0.0 }).collect();
            let want = spectral_values(&seen, rows.max(cols));
            for column in [columns::ALPHA, columns::ALPHA_WEIGHTED, columns::LOG_ALPHA_NORM, columns::ENTROPY] {
                let (g, w) = (got[col(column)].as_f64(), want[col(column)].as_f64());
                assert!(
                    matches!((g, w), (Some(g), Some(w)) if close(column, g, w, 1e-4)) || (g.is_none() && w.is_none()),
                    "{name} (gram) {column} {g:?} vs the SVD's resolved values {w:?}"
                );
                got[col(column)] = expected(&r[column]);
            }
            eprintln!(
                "{name}: {dropped} singular values below the Gram resolution {}: effective_rank within {tol:e}",
                gram.resolution
            );
        }
        assert_close(&got, r, &format!("{name} (gram)"));
        compared += 1;
    }
    assert_eq!(compared, 9);
}

#[test]
fn spectral_columns_are_empty_for_vectors_and_non_finite_matrices() {
    let source = weightlens_readers::open_path(&root().join("fixtures/dtypes.safetensors")).expect("opens");
    let analyzer = SpectralAnalyzer::new();
    let mut seen_vector = false;
    for (i, t) in source.tensors().iter().enumerate() {
        let values = analyzer.analyze(&source.view(i).expect("view")).expect("analyze");
        assert_eq!(values.len(), columns::ALL.len());
        if t.matrix_dims().is_none() {
            assert!(values.iter().all(Value::is_null), "{}", t.name);
            seen_vector = true;
        }
    }
    assert!(seen_vector, "the fixture has 0-d/1-d tensors");
}

#[test]
fn rand_distance_is_scipys_jensen_shannon_distance() {
    let text = std::fs::read_to_string(root().join("fixtures/reference/spectral.npz.json")).expect("reference");
    let reference: serde_json::Value = serde_json::from_str(&text).expect("reference JSON");
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array().expect("an array").iter().map(|x| x.as_f64().expect("a number")).collect()
    };
    let pairs = reference["rand_distances"].as_array().expect("rand_distances");
    assert!(!pairs.is_empty());
    for pair in pairs {
        let (p, q) = (floats(&pair["evals"]), floats(&pair["rand_evals"]));
        let want = pair["rand_distance"].as_f64().expect("rand_distance");
        let got = jensen_shannon_distance(&p, &q).expect("a distance");
        assert!((got - want).abs() <= 1e-12 * want, "{got} vs scipy {want}");
    }
}

/// `--conv ww` against `fixtures/reference/conv-ww.safetensors.json`
/// (`fixtures/generator/make_conv_reference.py`: numpy's re-derivation of WeightWatcher 0.7.7's
/// pooled Conv2D slices, itself checked against WeightWatcher's `analyze()` when generated), and
/// the default reshape of the same tensors; same tolerances as above.
#[test]
fn conv_ww_pools_the_slices_as_weightwatcher() {
    let fixtures = root().join("fixtures");
    let text = std::fs::read_to_string(fixtures.join("reference/conv-ww.safetensors.json")).expect("reference");
    let reference: serde_json::Value = serde_json::from_str(&text).expect("reference JSON");
    // The generator ran WeightWatcher itself: its numbers agreed with the re-derivation.
    let ww = &reference["weightwatcher_max_rel_diff"];
    assert_eq!(ww["version"], "0.7.7");
    for metric in ["alpha", "xmin", "D", "log_norm", "entropy", "sigma_mp", "mp_softrank", "N", "M", "num_evals"] {
        assert!(ww[metric].as_f64().expect("recorded") < 1e-12, "WeightWatcher vs numpy {metric}: {}", ww[metric]);
    }
    let source = weightlens_readers::open_path(&fixtures.join("conv-ww.safetensors")).expect("safetensors opens");
    let pooled = SpectralAnalyzer::new().with_conv(ConvMode::Ww);
    let reshaped = SpectralAnalyzer::new();
    let mut convs = 0;
    for r in reference["tensors"].as_array().expect("tensors") {
        let name = r["name"].as_str().expect("name");
        let index = source.tensors().iter().position(|t| t.name == name).expect("tensor present");
        let view = source.view(index).expect("view");
        assert_close(&pooled.analyze(&view).expect("analyze"), &r["ww"], &format!("{name} (ww)"));
        assert_close(&reshaped.analyze(&view).expect("analyze"), &r["reshape"], &format!("{name} (reshape)"));
        let (sv, n, m) = layer_singular_values(&view, ConvMode::Ww, None).expect("decodes").expect("finite");
        let int = |k: &str| r["ww"][k].as_u64().expect("an integer") as usize;
        assert_eq!((sv.len(), n, m), (int("num_evals"), int("N"), int("M")), "{name}");
        if view.info().shape.len() == 4 {
            convs += 1;
            assert_ne!(r["ww"]["log_norm"], r["reshape"]["log_norm"], "{name}: conv2d_norm halves the eigenvalues");
        }
    }
    assert_eq!(convs, 6);
}

#[test]
fn conv_ww_rank_and_rand_distance() {
    let source = weightlens_readers::open_path(&root().join("fixtures/conv-ww.safetensors")).expect("opens");
    let index = source.tensors().iter().position(|t| t.name == "conv_wide.weight").expect("present");
    let view = source.view(index).expect("view");
    let analyzer = SpectralAnalyzer::new().with_conv(ConvMode::Ww).with_rand_distance(true);
    let full = analyzer.with_rank(weightlens_analyzers::RankMode::Exact);
    let row = full.analyze(&view).expect("analyze");
    let names: Vec<String> = full.columns().into_iter().map(|c| c.name).collect();
    assert_eq!(row.len(), names.len());
    // The rank stays that of the 12 x 216 matrix (full rank 12 for a Gaussian tensor).
    assert_eq!(row[0], Value::Int(12));
    let rand = row.last().and_then(Value::as_f64).expect("rand_distance");
    assert!(rand > 0.0 && rand <= std::f64::consts::LN_2.sqrt(), "{rand}");
    // Seeded: the same twice.
    assert_eq!(analyzer.analyze(&view).expect("analyze").last(), row.last());
}
