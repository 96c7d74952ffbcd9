//! Building the plugins the tests load: Rust ones with cargo, C ones with the system compiler.
//!
//! Rust plugins are built by a nested `cargo build` into `<target>/tmp/plugin-build`, a target
//! directory of their own, so that the nested cargo never waits for the lock of the outer
//! `cargo test` (the plugin crates have no external dependencies: the build is quick). Every
//! failure here panics: a plugin that cannot be built is a failed test, never a skipped one.

// Test helpers: every failure is meant to fail the calling test.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use weightlens_core::TensorSource;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("analyzers/ has a parent").to_path_buf()
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds a cdylib with `cargo build <args>` and returns the path of the shared library named
/// `lib_name` (without prefix/extension) among the artifacts cargo reports.
fn cargo_cdylib(args: &[&str], lib_name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(&cargo)
        .arg("build")
        .args(args)
        .args(["--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(workspace_root().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", scratch_dir("plugin-build"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "cargo build {args:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let file_name = format!("{}{lib_name}.{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_EXTENSION);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact")
        .flat_map(|msg| msg["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|p| p.file_name().is_some_and(|n| n == file_name.as_str()))
        .unwrap_or_else(|| panic!("cargo build {args:?} reported no {file_name}"))
}

/// The example plugin `analyzers/examples/moments-plugin`, built once per test binary.
pub fn moments_plugin() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| cargo_cdylib(&["-p", "moments-plugin"], "moments_plugin")).clone()
}

/// The SDK's `panicking` example plugin, built once per test binary.
pub fn panicking_plugin() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| cargo_cdylib(&["-p", "weightlens-plugin-sdk", "--example", "panicking"], "panicking")).clone()
}

/// Compiles the C file `source` with `defines` into the shared library `<scratch>/lib<name>.so`.
pub fn c_plugin(source: &Path, defines: &[&str], name: &str) -> PathBuf {
    // Tests compile concurrently; one compiler at a time keeps the 2-core machines responsive.
    static COMPILER: Mutex<()> = Mutex::new(());
    let _one = COMPILER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let out = scratch_dir("c-plugins").join(format!(
        "{}{name}.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    ));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let output = Command::new(&cc)
        .args(["-std=c11", "-O1", "-Wall", "-Werror", "-shared", "-fPIC", "-I"])
        .arg(workspace_root().join("analyzers/plugin-api/include"))
        .args(defines.iter().map(|d| format!("-D{d}")))
        .arg(source)
        .arg("-o")
        .arg(&out)
        .arg("-lm")
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(
        output.status.success(),
        "{cc} failed on {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

/// The C example plugin `analyzers/examples/c-plugin/plugin.c`.
pub fn cstats_plugin() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| c_plugin(&workspace_root().join("analyzers/examples/c-plugin/plugin.c"), &[], "cstats")).clone()
}

/// A variant of `tests/plugins/broken.c` (`mode` is a `MODE_*` define, or "" for none).
pub fn broken_plugin(mode: &str) -> PathBuf {
    let source = workspace_root().join("analyzers/tests/plugins/broken.c");
    let name = if mode.is_empty() { "wellformed".to_owned() } else { mode.to_ascii_lowercase() };
    let defines: Vec<&str> = if mode.is_empty() { vec![] } else { vec![mode] };
    c_plugin(&source, &defines, &name)
}

/// The sharded `fixtures/llama-tiny` checkpoint.
pub fn llama_tiny() -> Box<dyn TensorSource> {
    let index = workspace_root().join("fixtures/llama-tiny/model.safetensors.index.json");
    weightlens_readers::open_path(&index).unwrap()
}

/// The reference statistics of `fixtures/reference/<file>`: tensor name -> its entry.
pub fn reference_tensors(file: &str) -> std::collections::HashMap<String, serde_json::Value> {
    let path = workspace_root().join("fixtures/reference").join(file);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    json["tensors"].as_array().unwrap().iter().map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone())).collect()
}

/// The metric names of the `moments` example plugin, in order.
pub const MOMENTS: [&str; 6] = ["kurtosis", "skewness", "l1_norm", "l2_norm", "max_abs", "frac_6sigma"];

/// The `moments` metrics of `x`, computed directly (plain f64 sums, one pass per moment).
pub fn expected_moments(x: &[f64]) -> [f64; 6] {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let central = |k: i32| x.iter().map(|v| (v - mean).powi(k)).sum::<f64>() / n;
    let (m2, m3, m4) = (central(2), central(3), central(4));
    let (kurtosis, skewness) = if m2 > 0.0 { (m4 / m2.powi(2) - 3.0, m3 / m2.powf(1.5)) } else { (f64::NAN, f64::NAN) };
    let l1 = x.iter().map(|v| v.abs()).sum();
    let l2 = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    let max_abs = x.iter().fold(0f64, |m, v| m.max(v.abs()));
    let outliers = x.iter().filter(|v| (*v - mean).abs() > 6.0 * m2.sqrt()).count();
    [kurtosis, skewness, l1, l2, max_abs, outliers as f64 / n]
}

/// Checks the `moments` values `got` of a tensor against `expected_moments(x)` (rel 1e-6: the
/// plugin sums f32 inputs in another order) and against its numpy reference entry `r`:
/// `sum(x^2) = N (var + mean^2)` and `max |x| = max(|min|, |max|)`.
pub fn check_moments(tensor: &str, got: &[f64], x: &[f64], r: &serde_json::Value) {
    for ((metric, g), e) in MOMENTS.iter().zip(got).zip(expected_moments(x)) {
        assert_close(&format!("{tensor}: moments.{metric}"), *g, e, 1e-6, 1e-12);
    }
    let (numel, mean, var) = (r["numel"].as_f64().unwrap(), r["mean"].as_f64().unwrap(), r["var"].as_f64().unwrap());
    assert_close(&format!("{tensor}: l2_norm vs reference"), got[3], (numel * (var + mean * mean)).sqrt(), 1e-6, 1e-12);
    let (min, max) = (r["min"].as_f64().unwrap(), r["max"].as_f64().unwrap());
    assert_close(&format!("{tensor}: max_abs vs reference"), got[4], min.abs().max(max.abs()), 1e-6, 0.0);
    if var == 0.0 {
        assert!(got[0].is_nan() && got[1].is_nan(), "{tensor}: a constant tensor has no kurtosis/skewness");
    }
}

/// `|a - b| <= rel * |b| + abs`, with NaN equal to NaN.
pub fn assert_close(what: &str, actual: f64, expected: f64, rel: f64, abs: f64) {
    if expected.is_nan() {
        assert!(actual.is_nan(), "{what}: {actual}, expected NaN");
        return;
    }
    let tolerance = rel * expected.abs() + abs;
    assert!((actual - expected).abs() <= tolerance, "{what}: {actual}, expected {expected} (rel {rel}, abs {abs})");
}

/// The example reader plugin `analyzers/examples/rawbin-reader`, built once per test binary.
pub fn rawbin_reader() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| cargo_cdylib(&["-p", "rawbin-reader"], "rawbin_reader")).clone()
}

/// A variant of `tests/plugins/lying_reader.c` (`mode` is a `MODE_*` define, or "" for none).
pub fn lying_reader(mode: &str) -> PathBuf {
    let source = workspace_root().join("analyzers/tests/plugins/lying_reader.c");
    let name = if mode.is_empty() { "reader_ok".to_owned() } else { format!("reader_{}", mode.to_ascii_lowercase()) };
    let defines: Vec<&str> = if mode.is_empty() { vec![] } else { vec![mode] };
    c_plugin(&source, &defines, &name)
}
