//! The example plugins (Rust `moments`, C `cstats`), built and loaded the way users load them,
//! on every tensor of `fixtures/llama-tiny`, against computations made here from the decoded
//! values and against the numpy references of `fixtures/reference`.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::*;
use weightlens_analyzers::plugin::{self, load_plugins, Plugin, PluginAnalyzer};
use weightlens_core::{classify, TensorAnalyzer, Value};

/// The plugins' inputs are the f32 values of the tensors (exact for BF16), so only summation
/// order separates them from the f64 computations here.
const REL: f64 = 1e-6;
const ABS: f64 = 1e-12;

fn floats(values: Vec<Value>) -> Vec<f64> {
    values.into_iter().map(|v| v.as_f64().expect("plugin columns are floats")).collect()
}

#[test]
fn moments_and_cstats_match_independent_computations_on_llama_tiny() {
    let (analyzers, errors) = load_plugins(&[moments_plugin(), cstats_plugin()]);
    assert!(errors.is_empty(), "{errors:?}");
    let [moments, cstats] = <[PluginAnalyzer; 2]>::try_from(analyzers).unwrap();

    let names: Vec<String> = moments.columns().into_iter().chain(cstats.columns()).map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "moments.kurtosis",
            "moments.skewness",
            "moments.l1_norm",
            "moments.l2_norm",
            "moments.max_abs",
            "moments.frac_6sigma",
            "cstats.abs_mean",
            "cstats.zero_count"
        ]
    );

    let source = llama_tiny();
    let reference = reference_tensors("llama-tiny__model.safetensors.index.json.json");
    assert_eq!(source.tensors().len(), reference.len());
    for (i, info) in source.tensors().iter().enumerate() {
        let view = source.view(i).unwrap();
        let x = view.to_f64_vec().unwrap();
        check_moments(&info.name, &floats(moments.analyze(&view).unwrap()), &x, &reference[&info.name]);

        let got = floats(cstats.analyze(&view).unwrap());
        let abs_mean = x.iter().map(|v| v.abs()).sum::<f64>() / x.len() as f64;
        assert_close(&format!("{}: cstats.abs_mean", info.name), got[0], abs_mean, REL, ABS);
        assert_eq!(got[1], x.iter().filter(|v| **v == 0.0).count() as f64, "{}: cstats.zero_count", info.name);
    }
}

#[test]
fn the_host_passes_every_tensor_field() {
    let echo = PluginAnalyzer::load(&broken_plugin("MODE_ECHO")).unwrap();
    let source = llama_tiny();
    for (i, info) in source.tensors().iter().enumerate() {
        let view = source.view(i).unwrap();
        let got = floats(echo.analyze(&view).unwrap());
        let class = classify(&info.name);
        let sum: f64 = view.to_f64_vec().unwrap().iter().sum();
        let expected = [
            info.numel().unwrap() as f64,
            info.shape.len() as f64,
            info.shape.first().map_or(-1.0, |&d| d as f64),
            class.layer_index.map_or(-1.0, f64::from),
            info.name.len() as f64,
            1.0, // every string is NUL-terminated
            if info.dtype_name == "BF16" { 1.0 } else { 0.0 },
            class.block_type.as_str().len() as f64,
        ];
        assert_eq!(got[..8], expected, "{}", info.name);
        assert_close(&format!("{}: sum", info.name), got[8], sum, REL, 1e-9);
    }
}

#[test]
fn check_reports_metadata_and_a_sample_run() {
    let report = plugin::check(&moments_plugin()).unwrap();
    assert_eq!(report.info.name, "moments");
    assert_eq!(report.info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!((report.info.abi_major, report.info.abi_minor), (1, 0));
    assert!(report.info.thread_safe);
    assert_eq!(report.info.metrics.len(), 6);

    let x: Vec<f64> = plugin::check_tensor_values().iter().map(|v| f64::from(*v)).collect();
    assert_eq!(x.len() as u64, plugin::CHECK_TENSOR_SHAPE.iter().product::<u64>());
    let expected = expected_moments(&x);
    for ((column, value), e) in report.sample.iter().zip(expected) {
        assert_close(column, *value, e, REL, ABS);
    }
    let text = report.to_string();
    assert!(text.contains("name:        moments") && text.contains("moments.kurtosis = "), "{text}");

    let report = plugin::check(&cstats_plugin()).unwrap();
    let abs_mean = x.iter().map(|v| v.abs()).sum::<f64>() / x.len() as f64;
    assert_eq!(report.sample, [("cstats.abs_mean".to_owned(), abs_mean), ("cstats.zero_count".to_owned(), 1.0)]);
}

#[test]
fn a_thread_safe_plugin_gives_the_same_results_from_many_threads() {
    let moments = PluginAnalyzer::load(&moments_plugin()).unwrap();
    let source = llama_tiny();
    let n = source.tensors().len();
    let sequential: Vec<Vec<Value>> = (0..n).map(|i| moments.analyze(&source.view(i).unwrap()).unwrap()).collect();
    let parallel: Vec<Vec<Vec<Value>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..n).map(|i| moments.analyze(&source.view(i).unwrap()).unwrap()).collect()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in parallel {
        for (a, b) in run.iter().zip(&sequential) {
            let bits = |v: &Vec<Value>| floats(v.clone()).iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(a), bits(b));
        }
    }
}

#[test]
fn calls_into_a_plugin_that_is_not_thread_safe_never_overlap() {
    let plugin = Plugin::load(&broken_plugin("MODE_SERIAL")).unwrap();
    assert!(!plugin.info().thread_safe);
    // Two contexts of one library share its lock: the plugin's state may be global.
    let a = plugin.analyzer().unwrap();
    let b = PluginAnalyzer::load(&broken_plugin("MODE_SERIAL")).unwrap();
    let source = llama_tiny();
    std::thread::scope(|s| {
        for analyzer in [&a, &b, &a, &b] {
            let source = &source;
            s.spawn(move || {
                for i in 0..4 {
                    analyzer.analyze(&source.view(i).unwrap()).unwrap();
                }
            });
        }
    });
}

#[test]
fn the_library_outlives_the_plugin_handle() {
    let plugin = Plugin::load(&cstats_plugin()).unwrap();
    let analyzer = plugin.analyzer().unwrap();
    drop(plugin);
    let source = llama_tiny();
    assert_eq!(analyzer.analyze(&source.view(0).unwrap()).unwrap().len(), 2);
}

#[test]
fn plugin_path_directories_are_loaded_like_explicit_paths() {
    let dir = tempfile::tempdir().unwrap();
    let ext = std::env::consts::DLL_EXTENSION;
    let copies: Vec<PathBuf> = [("b_moments", moments_plugin()), ("a_cstats", cstats_plugin())]
        .iter()
        .map(|(name, built)| {
            let copy = dir.path().join(format!("{name}.{ext}"));
            std::fs::copy(built, &copy).unwrap();
            copy
        })
        .collect();
    let found = plugin::plugin_paths_in(dir.path().as_os_str());
    assert_eq!(found, [copies[1].clone(), copies[0].clone()]);
    let (analyzers, errors) = load_plugins(&found);
    assert!(errors.is_empty(), "{errors:?}");
    let names: HashMap<&str, usize> = analyzers.iter().map(|a| (a.name(), a.columns().len())).collect();
    assert_eq!(names, HashMap::from([("cstats", 2), ("moments", 6)]));
}
