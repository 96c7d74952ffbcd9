//! One checkpoint directory is one model: a directory holding the same weights as safetensors
//! and as `pytorch_model.bin` (single or sharded) is analyzed once, from the file transformers
//! loads first, and the skipped file is listed; `--all-files` analyzes both; a different model
//! in the same directory (a GGUF) stays a model of its own.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::path::Path;

use common::*;
use weightlens_core::Value;

/// The torch-written fixture's tensors as `(name, shape, values)`, read through the readers.
fn torch_tensors() -> Vec<(String, Vec<u64>, Vec<f32>)> {
    let found = weightlens_readers::discover(&[fixture("qwen-moe-tiny/pytorch_model.bin")]);
    let source = weightlens_readers::open_model(&found.models[0]).unwrap();
    (0..source.tensors().len())
        .map(|i| {
            let info = &source.tensors()[i];
            (info.name.clone(), info.shape.clone(), source.view(i).unwrap().to_f32_vec().unwrap())
        })
        .collect()
}

fn write_st(path: &Path, tensors: &[(String, Vec<u64>, Vec<f32>)]) {
    let borrowed: Vec<(&str, &[u64], Vec<f32>)> =
        tensors.iter().map(|(n, s, v)| (n.as_str(), s.as_slice(), v.clone())).collect();
    write_safetensors(path, &borrowed);
}

/// A checkpoint directory with the fixture's `pytorch_model.bin` and `config.json`.
fn torch_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["pytorch_model.bin", "config.json"] {
        std::fs::copy(fixture("qwen-moe-tiny").join(f), dir.path().join(f)).unwrap();
    }
    dir
}

/// Analyzes `dir` (with `extra` arguments): the table, run_meta.json and stdout.
fn analyze(dir: &Path, extra: &[&str]) -> (weightlens_engine::Table, serde_json::Value, String) {
    let out = dir.join("out").join("t.csv");
    let mut args = vec!["analyze", dir.to_str().unwrap(), "--out", out.to_str().unwrap(), "--rank", "none"];
    args.extend(extra);
    let o = run(&args);
    assert!(o.status.success(), "analyze: {}", String::from_utf8_lossy(&o.stderr));
    let meta = serde_json::from_slice(&std::fs::read(dir.join("out/run_meta.json")).unwrap()).unwrap();
    (table(&out), meta, String::from_utf8_lossy(&o.stdout).into_owned())
}

fn rows_from(table: &weightlens_engine::Table, file: &str) -> usize {
    let path = |r: &weightlens_core::Row| r.get(&table.schema, "model_path").and_then(Value::as_str).map(String::from);
    table.rows.iter().filter(|r| path(r).is_some_and(|p| p.ends_with(file))).count()
}

const TENSORS: usize = 42;

#[test]
fn safetensors_beside_pytorch_bin_is_one_model() {
    let tensors = torch_tensors();
    assert_eq!(tensors.len(), TENSORS);
    let dir = torch_dir();
    write_st(&dir.path().join("model.safetensors"), &tensors);
    // A different model in the same directory stays one.
    std::fs::copy(fixture("all-types.gguf"), dir.path().join("model-q.gguf")).unwrap();

    let (t, meta, stdout) = analyze(dir.path(), &[]);
    assert_eq!(rows_from(&t, "model.safetensors"), TENSORS);
    assert_eq!(rows_from(&t, "pytorch_model.bin"), 0);
    let gguf_rows = rows_from(&t, "model-q.gguf");
    assert!(gguf_rows > 0, "the GGUF is a model of its own");
    assert_eq!(t.rows.len(), TENSORS + gguf_rows);
    let skipped = meta["skipped_files"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0]["path"].as_str().unwrap().ends_with("pytorch_model.bin"));
    assert!(skipped[0]["kept_instead"].as_str().unwrap().ends_with("model.safetensors"));
    assert!(skipped[0]["reason"].as_str().unwrap().contains("transformers loads first"));
    assert!(stdout.contains("skipped files: 1") && stdout.contains("pytorch_model.bin: same tensors"), "{stdout}");

    let (t, meta, stdout) = analyze(dir.path(), &["--all-files"]);
    assert_eq!(rows_from(&t, "model.safetensors"), TENSORS);
    assert_eq!(rows_from(&t, "pytorch_model.bin"), TENSORS);
    assert_eq!(meta["skipped_files"], serde_json::json!([]));
    assert!(!stdout.contains("skipped files"), "{stdout}");
}

#[test]
fn sharded_safetensors_beside_pytorch_bin_is_one_model() {
    let tensors = torch_tensors();
    let dir = torch_dir();
    let (first, second) = tensors.split_at(tensors.len() / 2);
    let mut weight_map = serde_json::Map::new();
    for (name, part) in [("model-00001-of-00002.safetensors", first), ("model-00002-of-00002.safetensors", second)] {
        write_st(&dir.path().join(name), part);
        weight_map.extend(part.iter().map(|(t, _, _)| (t.clone(), name.into())));
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(dir.path().join("model.safetensors.index.json"), index.to_string()).unwrap();

    let (t, meta, _) = analyze(dir.path(), &[]);
    assert_eq!(t.rows.len(), TENSORS);
    assert_eq!(rows_from(&t, "model.safetensors.index.json"), TENSORS);
    let skipped = meta["skipped_files"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0]["path"].as_str().unwrap().ends_with("pytorch_model.bin"));
    assert!(skipped[0]["kept_instead"].as_str().unwrap().ends_with("model.safetensors.index.json"));
    assert!(skipped[0]["reason"].as_str().unwrap().contains("sharded safetensors before PyTorch"));

    let (t, _, _) = analyze(dir.path(), &["--all-files"]);
    assert_eq!(t.rows.len(), 2 * TENSORS);
}
