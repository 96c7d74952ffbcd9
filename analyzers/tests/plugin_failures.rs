//! Every way a plugin can fail gives a one-line error naming the library (load errors) or the
//! library and the tensor (analyze errors), and leaves the other analyzers and tensors working.

mod common;

use std::path::Path;

use common::*;
use weightlens_analyzers::plugin::{check, load_plugins, Plugin, PluginAnalyzer};
use weightlens_core::{Error, TensorAnalyzer, Value};

/// Loading `path` fails with a one-line error naming it and containing `needle`.
fn assert_load_error(path: &Path, needle: &str) {
    let err = PluginAnalyzer::load(path).expect_err("the plugin must be refused");
    let text = err.to_string();
    assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
    assert_eq!(err.path(), path);
    assert!(text.starts_with(&path.display().to_string()), "does not name the library: {text}");
    assert!(text.contains(needle), "{text:?} does not contain {needle:?}");
    assert!(!text.contains('\n'), "not one line: {text:?}");
    // `plugins check` reports the same error.
    assert_eq!(check(path).expect_err("check must fail too").to_string(), text);
}

/// Analyzing tensor `index` of llama-tiny fails with a one-line error naming the tensor, the
/// library and containing `needle`.
fn assert_analyze_error(analyzer: &PluginAnalyzer, library: &Path, index: usize, needle: &str) {
    let source = llama_tiny();
    let view = source.view(index).expect("llama-tiny tensors are readable");
    let err = analyzer.analyze(&view).expect_err("analyze must fail");
    let text = err.to_string();
    let tensor = &source.tensors()[index].name;
    assert!(matches!(&err, Error::Analyzer { tensor: t, .. } if t == tensor), "{err:?}");
    assert!(text.contains(&format!("tensor {tensor}")), "{text}");
    assert!(text.contains(&library.display().to_string()), "does not name the library: {text}");
    assert!(text.contains(needle), "{text:?} does not contain {needle:?}");
    assert!(!text.contains('\n'), "not one line: {text:?}");
}

#[test]
fn a_file_that_is_not_a_shared_library_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join(format!("libfake.{}", std::env::consts::DLL_EXTENSION));
    std::fs::write(&fake, b"not an ELF file\n").unwrap();
    assert_load_error(&fake, "cannot load plugin: not a loadable shared library");

    let missing = dir.path().join("libmissing.so");
    let err = PluginAnalyzer::load(&missing).unwrap_err();
    assert!(matches!(err, Error::Io { .. }) && err.to_string().starts_with(&missing.display().to_string()));
}

#[test]
fn a_library_without_the_entry_symbol_is_refused() {
    assert_load_error(
        &broken_plugin("MODE_NO_ENTRY"),
        "no entry symbol weightlens_analyzer_v1: not a weightlens plugin",
    );
    assert_load_error(
        &broken_plugin("MODE_V2_ONLY"),
        "it exports weightlens_analyzer_v2 (plugin ABI 2), this weightlens supports ABI 1",
    );
}

#[test]
fn an_abi_major_mismatch_is_refused_before_reading_the_table() {
    assert_load_error(&broken_plugin("MODE_ABI_MAJOR_2"), "built for plugin ABI 2.0, this weightlens supports ABI 1.x");
    assert_load_error(&broken_plugin("MODE_SHORT_TABLE"), "table is 16 bytes, ABI 1.0 needs at least 88");
    assert_load_error(&broken_plugin("MODE_NULL_TABLE"), "weightlens_analyzer_v1() returned NULL");
}

#[test]
fn a_newer_minor_version_with_appended_fields_loads() {
    let plugin = Plugin::load(&broken_plugin("MODE_FUTURE_MINOR")).unwrap();
    assert_eq!((plugin.info().abi_major, plugin.info().abi_minor), (1, 7));
    let source = llama_tiny();
    let view = source.view(0).unwrap();
    let values = plugin.analyzer().unwrap().analyze(&view).unwrap();
    assert_eq!(values, [Value::Float(view.numel() as f64), Value::Float(2.0)]);
}

#[test]
fn invalid_names_are_refused() {
    assert_load_error(&broken_plugin("MODE_BAD_NAME"), "plugin name \"bad.name\" is not 1 to 64 characters");
    assert_load_error(&broken_plugin("MODE_DUP_METRIC"), "metric \"a\" is declared twice");
}

#[test]
fn a_failing_create_is_a_load_error_with_the_plugins_message() {
    assert_load_error(&broken_plugin("MODE_CREATE_FAILS"), "create failed with status 1: missing configuration file");
}

#[test]
fn an_analyze_error_names_library_and_tensor_and_the_rest_goes_on() {
    let library = broken_plugin("MODE_ANALYZE_ERROR");
    let failing = PluginAnalyzer::load(&library).unwrap();
    let source = llama_tiny();
    let tensor = &source.tensors()[1].name;
    assert_analyze_error(&failing, &library, 1, &format!("analyze failed (status 1): cannot analyze {tensor}"));

    // Another analyzer on the same tensor, and the failing one on the next tensor, still run.
    let good = PluginAnalyzer::load(&cstats_plugin()).unwrap();
    assert_eq!(good.analyze(&source.view(1).unwrap()).unwrap().len(), 2);
    assert_analyze_error(&failing, &library, 2, "cannot analyze");
}

#[test]
fn a_rust_panic_becomes_an_error_for_that_tensor_only() {
    let library = panicking_plugin();
    let analyzer = PluginAnalyzer::load(&library).unwrap();
    let source = llama_tiny();
    let layer1 = source.tensors().iter().position(|t| t.name.contains("layers.1.")).unwrap();
    let tensor = &source.tensors()[layer1].name;
    assert_analyze_error(
        &analyzer,
        &library,
        layer1,
        &format!("analyze panicked (status 2): panicked: deliberate panic on {tensor} (at "),
    );
    assert_analyze_error(&analyzer, &library, layer1, "panicking.rs:");
    // The plugin keeps working after the panic.
    let view = source.view(0).unwrap();
    assert_eq!(analyzer.analyze(&view).unwrap(), [Value::Float(view.numel() as f64)]);
}

#[test]
fn nan_metrics_are_values_not_errors() {
    let analyzer = PluginAnalyzer::load(&broken_plugin("MODE_NAN")).unwrap();
    let source = llama_tiny();
    let view = source.view(0).unwrap();
    let values = analyzer.analyze(&view).unwrap();
    assert!(matches!(values[0], Value::Float(v) if v.is_nan()), "{values:?}");
    assert_eq!(values[1], Value::Float(view.numel() as f64));
}

#[test]
fn writing_another_number_of_values_than_declared_is_an_error() {
    let fewer = broken_plugin("MODE_FEWER");
    let analyzer = PluginAnalyzer::load(&fewer).unwrap();
    assert_analyze_error(&analyzer, &fewer, 0, "declares 3 metrics but wrote 2 values");

    let overrun = broken_plugin("MODE_OVERRUN");
    let analyzer = PluginAnalyzer::load(&overrun).unwrap();
    assert_analyze_error(&analyzer, &overrun, 0, "declares 2 metrics but wrote more than 2 values");

    let lies = broken_plugin("MODE_LIES");
    let analyzer = PluginAnalyzer::load(&lies).unwrap();
    assert_analyze_error(
        &analyzer,
        &lies,
        0,
        "declares 2 metrics but wrote 2 values (n_written = 2, 1 slots left unwritten)",
    );
}

#[test]
fn load_plugins_keeps_the_good_ones_and_reports_each_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libfake.so");
    std::fs::write(&fake, b"junk").unwrap();
    // A second library with the name of the first: its columns would collide.
    let same_name =
        c_plugin(&workspace_root().join("analyzers/tests/plugins/broken.c"), &["PLUGIN_NAME=\"cstats\""], "dupname");
    let paths = [
        cstats_plugin(),
        fake.clone(),
        broken_plugin("MODE_NO_ENTRY"),
        cstats_plugin(),
        same_name.clone(),
        moments_plugin(),
    ];
    let (analyzers, errors) = load_plugins(&paths);
    let names: Vec<&str> = analyzers.iter().map(|a| a.name()).collect();
    assert_eq!(names, ["cstats", "moments"], "a file listed twice is loaded once");
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(messages[0].starts_with(&fake.display().to_string()));
    assert!(messages[1].contains("no entry symbol"));
    assert!(
        messages[2].starts_with(&same_name.display().to_string()) && messages[2].contains("already used by"),
        "{}",
        messages[2]
    );

    // Loading a library twice shares it; each load is still usable on its own.
    let a = Plugin::load(&cstats_plugin()).unwrap();
    let b = Plugin::load(&cstats_plugin()).unwrap();
    assert_eq!(a.info(), b.info());
}
