//! Plugins through the binary: the example plugin's columns in every output format, checked
//! against an independent computation from the decoded values; failures keep the run going.

#![allow(clippy::unwrap_used)]

mod common;

#[path = "../analyzers/tests/common/mod.rs"]
mod plugin_build;

use common::*;
use weightlens_core::Value;

/// Excess kurtosis (population), in f64.
fn kurtosis(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let m2 = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let m4 = x.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n;
    m4 / (m2 * m2) - 3.0
}

#[test]
fn plugin_columns_in_every_format_match_an_independent_computation() {
    let plugin = plugin_build::moments_plugin();
    let model = fixture("llama-tiny");
    let source = weightlens_readers::open_path(&model.join("model.safetensors.index.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for ext in ["csv", "jsonl", "parquet"] {
        let out = dir.path().join(format!("p.{ext}"));
        let args = [
            "analyze",
            model.to_str().unwrap(),
            "--plugin",
            plugin.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ];
        let o = run(&args);
        assert!(o.status.success(), "{ext}: {}", String::from_utf8_lossy(&o.stderr));
        let t = table(&out);
        let names: Vec<&str> = t.schema.columns().iter().map(|c| c.name.as_str()).collect();
        let first_plugin = names.iter().position(|n| n.starts_with("moments.")).expect("plugin columns");
        assert!(names[first_plugin..].iter().all(|n| n.starts_with("moments.")), "plugin columns come last: {names:?}");
        assert!(names.contains(&"moments.kurtosis") && names.contains(&"moments.l2_norm"));
        for (i, info) in source.tensors().iter().enumerate() {
            let x = source.view(i).unwrap().to_f64_vec().unwrap();
            let want = kurtosis(&x);
            let cell = row_value(&t, &info.name, "moments.kurtosis").and_then(Value::as_f64);
            // JSON has no NaN: JSONL writes it as null.
            let got = if ext == "jsonl" { cell.unwrap_or(f64::NAN) } else { cell.unwrap() };
            // A constant tensor (norm weights of 1.0) has no kurtosis: NaN on both sides.
            let same = if want.is_nan() { got.is_nan() } else { (got - want).abs() <= 1e-6 * want.abs().max(1.0) };
            assert!(same, "{ext} {}: kurtosis {got} vs {want}", info.name);
            let l2 = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            let got = row_value(&t, &info.name, "moments.l2_norm").and_then(Value::as_f64).unwrap();
            assert!((got - l2).abs() <= 1e-6 * l2, "{ext} {}: l2 {got} vs {l2}", info.name);
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("run_meta.json")).unwrap()).unwrap();
        assert_eq!(meta["plugins"][0]["name"], "moments");
    }
}

#[test]
fn a_broken_plugin_is_one_error_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_lib = dir.path().join("libnot.so");
    std::fs::write(&not_a_lib, b"not a shared library").unwrap();
    let out = dir.path().join("out.csv");
    let model = fixture("llama-tiny");
    let o = run(&[
        "analyze",
        model.to_str().unwrap(),
        "--plugin",
        not_a_lib.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("libnot.so"), "{stderr}");
    assert_eq!(table(&out).rows.len(), 21, "the built-in analysis went on");
}

#[test]
fn plugins_check_runs_the_plugin_once() {
    let plugin = plugin_build::moments_plugin();
    let o = run(&["plugins", "check", plugin.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("moments") && text.contains("kurtosis"), "{text}");
}
