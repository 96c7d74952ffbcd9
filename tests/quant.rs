//! Quantized safetensors checkpoints, end to end: every fixture directory of `fixtures/quant/`
//! (written by the library that writes the scheme) against its reference statistics and the
//! library's own dequantized values; a directory run over all of them with ordinary models; a
//! packing weightlens does not know.

mod common;

use std::path::{Path, PathBuf};

use common::{compare, fixture, reference_at, run, table};
use weightlens_core::{TensorSource, Value};
use weightlens_engine::export::Table;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// The fixture sets: `quant/` (written by the libraries, 18 checkpoints) and `quant-extra/`
/// (`fixtures/generator/make_quant_extra.py`: compressed-tensors int/naive/MXFP4 layouts with
/// `ignore` lists, MLX mxfp4/mxfp8 written by mlx).
const SETS: [(&str, usize); 2] = [("quant", 18), ("quant-extra", 5)];

/// The fixture directories of every set as `(set, dir name, path)`.
fn fixture_dirs() -> Vec<(&'static str, String, PathBuf)> {
    SETS.iter().flat_map(|&(set, count)| set_dirs(set, count).into_iter().map(move |(n, p)| (set, n, p))).collect()
}

/// The fixture directories of `set` (every entry but `reference/` and the README).
fn set_dirs(set: &str, count: usize) -> Vec<(String, PathBuf)> {
    let mut dirs: Vec<(String, PathBuf)> = std::fs::read_dir(fixture(set))
        .expect("fixture set")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "reference"))
        .map(|p| (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), p))
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), count, "fixtures/{set} holds {count} checkpoints");
    dirs
}

fn reference_json(set: &str, dir: &str) -> serde_json::Value {
    let path = fixture(set).join("reference").join(format!("{dir}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference")).expect("reference JSON")
}

fn analyze(inputs: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&str> = vec!["analyze", "-q", "-o", out.to_str().expect("utf-8 path")];
    args.extend(extra);
    args.extend(inputs.iter().map(|p| p.to_str().expect("utf-8 path")));
    run(&args)
}

/// The rows of `table` whose `model_path` lies under `dir`.
fn rows_under(t: &Table, dir: &Path) -> Table {
    let rows = t
        .rows
        .iter()
        .filter(|r| {
            r.get(&t.schema, "model_path").and_then(Value::as_str).is_some_and(|p| Path::new(p).starts_with(dir))
        })
        .cloned()
        .collect();
    Table { schema: t.schema.clone(), rows }
}

/// Compares one fixture's rows with its reference: the statistics, one row per logical
/// tensor, and the quantization columns.
fn check_fixture(set: &str, name: &str, t: &Table) -> Vec<String> {
    let refs = reference_at(&fixture(set).join("reference").join(format!("{name}.json")));
    let mut problems: Vec<String> = compare(t, &refs).into_iter().map(|p| format!("{name}: {p}")).collect();
    if t.rows.len() != refs.len() {
        problems.push(format!("{name}: {} rows, the reference has {} logical tensors", t.rows.len(), refs.len()));
    }
    let json = reference_json(set, name);
    for r in json["tensors"].as_array().into_iter().flatten() {
        let tensor = r["name"].as_str().unwrap_or_default();
        let get = |c: &str| common::row_value(t, tensor, c).cloned().unwrap_or(Value::Null);
        let scheme = r["quant_scheme"].as_str();
        if get("quant_scheme").as_str() != scheme {
            problems.push(format!("{name}: {tensor}: quant_scheme {:?}, want {scheme:?}", get("quant_scheme")));
        }
        if scheme.is_none() {
            continue;
        }
        for column in ["bits", "group_size", "stored_bytes"] {
            if get(column).as_i64() != r[column].as_i64() {
                problems.push(format!("{name}: {tensor}: {column} {:?}, want {}", get(column), r[column]));
            }
        }
        let numel = r["numel"].as_f64().unwrap_or(0.0);
        let bpw = r["stored_bytes"].as_f64().unwrap_or(0.0) * 8.0 / numel;
        if get("bits_per_weight").as_f64() != Some(bpw) {
            problems.push(format!("{name}: {tensor}: bits_per_weight {:?}, want {bpw}", get("bits_per_weight")));
        }
    }
    problems
}

#[test]
fn every_fixture_matches_its_reference() {
    let out = tmp();
    let mut problems = Vec::new();
    for (set, name, dir) in fixture_dirs() {
        let path = out.path().join(format!("{name}/t.jsonl"));
        let o = analyze(&[&dir], &path, &["--strict"]);
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        problems.extend(check_fixture(set, &name, &table(&path)));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn components_are_grouped_as_the_reference_lists_them() {
    for (set, name, dir) in fixture_dirs() {
        let o = run(&["ls", "--json", dir.to_str().expect("utf-8")]);
        assert!(o.status.success(), "{name}");
        let listed: serde_json::Value = serde_json::from_slice(&o.stdout).expect("ls --json");
        let tensors = &listed["models"][0]["tensors"];
        let json = reference_json(set, &name);
        let refs = json["tensors"].as_array().expect("tensors");
        assert_eq!(tensors.as_array().map(Vec::len), Some(refs.len()), "{name}: logical tensors");
        for r in refs.iter().filter(|r| r["quant_scheme"].is_string()) {
            let row = tensors.as_array().into_iter().flatten().find(|t| t["name"] == r["name"]);
            let row = row.unwrap_or_else(|| panic!("{name}: {} not listed", r["name"]));
            let mut got: Vec<&str> =
                row["components"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
            let mut want: Vec<&str> =
                r["components"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
            assert_eq!(got.first(), want.first(), "{name}: {}: the packed component comes first", r["name"]);
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "{name}: {}", r["name"]);
        }
        // --raw lists every stored tensor.
        let raw = run(&["ls", "--json", "--raw", dir.to_str().expect("utf-8")]);
        let raw: serde_json::Value = serde_json::from_slice(&raw.stdout).expect("ls --raw --json");
        let stored: usize = refs.iter().map(|r| r["components"].as_array().map_or(1, Vec::len)).sum();
        assert_eq!(raw["models"][0]["tensors"].as_array().map(Vec::len), Some(stored), "{name}: stored tensors");
    }
}

/// Float32 values of an `.npy` / `.npz` member, read with weightlens' own readers.
fn values(source: &dyn TensorSource, name: &str) -> Vec<f32> {
    let index = source.tensors().iter().position(|t| t.name == name).unwrap_or_else(|| panic!("no member {name}"));
    source.view(index).and_then(|v| v.to_f32_vec()).expect("decode")
}

#[test]
fn dump_reproduces_the_libraries_dequantized_values() {
    let out = tmp();
    for (set, name, dir) in fixture_dirs() {
        let npz_path = fixture(set).join("reference").join(format!("{name}.dequantized.npz"));
        let npz = weightlens_readers::open_path(&npz_path).expect("npz");
        let json = reference_json(set, &name);
        for r in json["tensors"].as_array().into_iter().flatten().filter(|r| r["quant_scheme"].is_string()) {
            let tensor = r["name"].as_str().expect("name");
            let npy = out.path().join(format!("{name}-{tensor}.npy"));
            let o = run(&["dump", dir.to_str().expect("utf-8"), tensor, "-o", npy.to_str().expect("utf-8")]);
            assert!(o.status.success(), "{name}: {tensor}: {}", String::from_utf8_lossy(&o.stderr));
            let npy_source = weightlens_readers::open_path(&npy).expect("npy");
            let member = npy_source.tensors().first().map(|t| t.name.clone()).expect("one array");
            let got = values(npy_source.as_ref(), &member);
            let want = values(npz.as_ref(), &tensor.replace('.', "__"));
            assert_eq!(got.len(), want.len(), "{name}: {tensor}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                // Within float32 rounding: the library rounds once in float32 where this
                // reader rounds its float64 value once.
                let ok = g == w || (g - w).abs() <= f32::EPSILON * w.abs();
                assert!(ok, "{name}: {tensor}[{i}] = {g}, the library gives {w}");
            }
        }
    }
}

#[test]
fn one_directory_run_over_every_fixture_and_ordinary_models() {
    let out = tmp();
    let path = out.path().join("all.csv");
    let quant = fixture("quant");
    let extra = fixture("quant-extra");
    let ordinary = fixture("llama-tiny");
    let o = analyze(&[&quant, &extra, &ordinary], &path, &["--strict"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = table(&path);
    let mut problems = Vec::new();
    for (set, name, dir) in fixture_dirs() {
        problems.extend(check_fixture(set, &name, &rows_under(&t, &dir)));
    }
    let llama = rows_under(&t, &ordinary);
    problems.extend(compare(&llama, &common::reference("llama-tiny__model.safetensors.index.json.json")));
    assert!(llama.rows.iter().all(|r| r.get(&t.schema, "quant_scheme").is_some_and(Value::is_null)));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    common::assert_sorted(&rows_under(&t, &quant.join("mlx-4bit-g64")));
}

#[test]
fn split_experts_work_on_mxfp4() {
    let out = tmp();
    let path = out.path().join("e.jsonl");
    let o = analyze(&[&fixture("quant/gptoss-mxfp4")], &path, &["--split-experts"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = table(&path);
    let name = "model.layers.0.mlp.experts.down_proj";
    let rows: Vec<_> =
        t.rows.iter().filter(|r| r.get(&t.schema, "param_name").and_then(Value::as_str) == Some(name)).collect();
    assert_eq!(rows.len(), 4, "one row per expert");
    // The experts' means average to the whole tensor's (equal sizes).
    let whole = reference_json("quant", "gptoss-mxfp4")["tensors"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == name).cloned());
    let whole_mean = whole.and_then(|r| r["mean"].as_f64()).expect("reference mean");
    let mean: f64 = rows.iter().filter_map(|r| r.get(&t.schema, "mean").and_then(Value::as_f64)).sum::<f64>() / 4.0;
    assert!((mean - whole_mean).abs() <= 1e-12 + 1e-9 * whole_mean.abs(), "{mean} vs {whole_mean}");
    let shape = rows[0].get(&t.schema, "shape").and_then(Value::as_str);
    assert_eq!(shape, Some("[128, 128]"));
}

/// A safetensors file of raw little-endian tensors `(name, dtype, shape, bytes)`.
fn write_raw(path: &Path, tensors: &[(&str, &str, &[u64], Vec<u8>)]) {
    let mut header = serde_json::Map::new();
    let mut data: Vec<u8> = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let start = data.len();
        data.extend(bytes);
        header.insert(
            (*name).into(),
            serde_json::json!({ "dtype": dtype, "shape": shape, "data_offsets": [start, data.len()] }),
        );
    }
    let header = serde_json::to_vec(&header).expect("header");
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend(data);
    std::fs::write(path, out).expect("write");
}

fn f32s(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f32 * 0.01).to_le_bytes()).collect()
}

#[test]
fn unknown_packing_gives_warnings_never_statistics() {
    let dir = tmp();
    std::fs::write(dir.path().join("config.json"), r#"{"quantization_config": {"quant_method": "hqq", "nbits": 4}}"#)
        .expect("config");
    write_raw(
        &dir.path().join("model.safetensors"),
        &[
            ("model.layers.0.mlp.up_proj.weight", "I32", &[8, 4], vec![7u8; 128]),
            ("model.layers.0.mlp.up_proj.weight_scale", "F32", &[8, 1], f32s(8)),
            ("model.norm.weight", "F32", &[4], f32s(4)),
        ],
    );
    let out = dir.path().join("out/t.jsonl");
    let o = analyze(&[dir.path()], &out, &[]);
    assert!(o.status.success(), "warnings alone do not fail a run");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("model.layers.0.mlp.up_proj.weight") && stderr.contains("hqq"),
        "{stderr}"
    );
    let t = table(&out);
    let get = |n: &str, c: &str| common::row_value(&t, n, c).cloned().unwrap_or(Value::Null);
    assert!(get("model.layers.0.mlp.up_proj.weight", "mean").is_null(), "no statistics of packed integers");
    assert!(get("model.layers.0.mlp.up_proj.weight", "rank").is_null());
    assert_eq!(get("model.layers.0.mlp.up_proj.weight", "quant_scheme").as_str(), Some("unknown"));
    assert!(get("model.norm.weight", "mean").as_f64().is_some(), "ordinary tensors keep their statistics");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/run_meta.json")).expect("run_meta")).expect("JSON");
    assert_eq!(meta["warning_count"], 1);
    let strict = analyze(&[dir.path()], &dir.path().join("strict/t.jsonl"), &["--strict"]);
    assert_eq!(strict.status.code(), Some(1), "--strict fails on warnings");
}

#[test]
fn a_lying_weight_shape_is_a_warning_not_a_panic() {
    let dir = tmp();
    let config = r#"{"quantization_config": {"quant_method": "compressed-tensors", "format": "pack-quantized",
        "config_groups": {"group_0": {"weights": {"num_bits": 4, "type": "int", "strategy": "channel", "symmetric": true}}}}}"#;
    std::fs::write(dir.path().join("config.json"), config).expect("config");
    let shape: Vec<u8> = [4i64, 1 << 40].iter().flat_map(|v| v.to_le_bytes()).collect();
    write_raw(
        &dir.path().join("model.safetensors"),
        &[
            ("l.weight_packed", "I32", &[4, 2], vec![0x11; 32]),
            ("l.weight_scale", "F32", &[4, 1], f32s(4)),
            ("l.weight_shape", "I64", &[2], shape),
        ],
    );
    let out = dir.path().join("out/t.jsonl");
    let o = analyze(&[dir.path()], &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("l.weight") && stderr.contains("weight_shape"), "{stderr}");
    let t = table(&out);
    assert_eq!(t.rows.len(), 1, "the components form one row");
    assert!(common::row_value(&t, "l.weight", "mean").is_some_and(Value::is_null));
}
