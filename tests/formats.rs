//! Every format through the binary: a directory of mixed models, `ls` from headers, `dump`.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::path::Path;

use common::*;
use weightlens_core::{Row, Value};
use weightlens_engine::export::Table;

/// The rows of `table` whose `model_path` ends with `suffix`.
fn model_rows(table: &Table, suffix: &str) -> Table {
    let rows: Vec<Row> = table
        .rows
        .iter()
        .filter(|r| r.get(&table.schema, "model_path").and_then(Value::as_str).is_some_and(|p| p.ends_with(suffix)))
        .cloned()
        .collect();
    Table { schema: table.schema.clone(), rows }
}

fn copy_into(dir: &Path, rel: &str) {
    let src = fixture(rel);
    let dest = dir.join(rel);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    if src.is_dir() {
        for e in std::fs::read_dir(&src).unwrap().flatten() {
            copy_into(dir, &format!("{rel}/{}", e.file_name().to_string_lossy()));
        }
    } else {
        std::fs::copy(&src, &dest).unwrap();
    }
}

/// (model path suffix, reference, framework, a dtype name in the framework's vocabulary)
const MODELS: &[(&str, &str, &str)] = &[
    ("llama-tiny/model.safetensors.index.json", "llama-tiny__model.safetensors.index.json.json", "safetensors"),
    ("dtypes.safetensors", "dtypes.safetensors.json", "safetensors"),
    ("torch-quirks.pt", "torch-quirks.pt.json", "pt"),
    ("gpt2-tiny-legacy.bin", "gpt2-tiny-legacy.bin.json", "pt"),
    ("qwen-moe-tiny/pytorch_model.bin", "qwen-moe-tiny__pytorch_model.bin.json", "pt"),
    ("flax-tiny.npz", "flax-tiny.npz.json", "npz"),
    ("flax-tiny-compressed.npz", "flax-tiny-compressed.npz.json", "npz"),
    ("lowrank.npy", "lowrank.npy.json", "npy"),
    ("all-types.gguf", "all-types.gguf.json", "gguf"),
    ("llama-tiny-q-00001-of-00002.gguf", "llama-tiny-q-00001-of-00002.gguf.json", "gguf"),
];

#[test]
fn a_directory_of_mixed_models_matches_every_reference() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    for rel in [
        "llama-tiny",
        "dtypes.safetensors",
        "torch-quirks.pt",
        "gpt2-tiny-legacy.bin",
        "qwen-moe-tiny",
        "flax-tiny.npz",
        "flax-tiny-compressed.npz",
        "lowrank.npy",
        "all-types.gguf",
        "llama-tiny-q-00001-of-00002.gguf",
        "llama-tiny-q-00002-of-00002.gguf",
        "bad/malicious-pickle.bin",
        "bad/object-array.npy",
    ] {
        copy_into(&models, rel);
    }
    let out = dir.path().join("all.parquet");
    let o = run(&["analyze", models.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().collect();
    assert_eq!(errors.len(), 2, "exactly the two bad files: {stderr}");
    assert!(errors.iter().any(|l| l.contains("malicious-pickle.bin") && l.contains("os.system")), "{stderr}");
    assert!(errors.iter().any(|l| l.contains("object-array.npy") && l.contains("pickle")), "{stderr}");
    assert!(!Path::new("/tmp/weightlens-pwned-xyz").exists(), "nothing of the pickle ran");

    let table = table(&out);
    let mut expected_rows = 0;
    for (suffix, reference_name, framework) in MODELS {
        let part = model_rows(&table, suffix);
        let refs = reference(reference_name);
        expected_rows += refs.len();
        assert_eq!(part.rows.len(), refs.len(), "{suffix}: one row per tensor");
        let problems = compare(&part, &refs);
        assert!(problems.is_empty(), "{suffix}: {} mismatches:\n{}", problems.len(), problems.join("\n"));
        let fw = part.rows[0].get(&part.schema, "framework").cloned();
        assert_eq!(fw, Some(Value::Str(framework.to_string())), "{suffix}");
    }
    assert_eq!(table.rows.len(), expected_rows, "no other rows");
    assert_sorted(&table);
    // dtype names follow each framework's vocabulary (docs/output-spec.md)
    let dtype = |suffix: &str, name: &str| row_value(&model_rows(&table, suffix), name, "dtype").cloned();
    assert_eq!(dtype("torch-quirks.pt", "model.encoder.bf16.weight"), Some(Value::Str("bfloat16".into())));
    assert_eq!(dtype("qwen-moe-tiny/pytorch_model.bin", "lm_head.weight"), Some(Value::Str("float16".into())));
    assert_eq!(dtype("flax-tiny.npz", "params/Embed_0/embedding"), Some(Value::Str("float32".into())));
    assert_eq!(dtype("all-types.gguf", "q4_k.weight"), Some(Value::Str("Q4_K".into())));
    assert_eq!(dtype("dtypes.safetensors", "w.f8_e4m3"), Some(Value::Str("F8_E4M3".into())));
}

#[test]
fn ls_lists_every_format_from_headers() {
    for (rel, name) in [
        ("torch-quirks.pt", "model.encoder.proj.weight"),
        ("gpt2-tiny-legacy.bin", "transformer.h.1.attn.c_attn.weight"),
        ("flax-tiny-compressed.npz", "params/Conv_0/kernel"),
        ("lowrank.npy", "lowrank"),
        ("llama-tiny-q-00001-of-00002.gguf", "blk.1.ffn_down.weight"),
    ] {
        let o = run(&["ls", fixture(rel).to_str().unwrap(), "--json"]);
        assert!(o.status.success(), "{rel}: {}", String::from_utf8_lossy(&o.stderr));
        let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let tensors = json["models"][0]["tensors"].as_array().unwrap();
        assert!(tensors.iter().any(|t| t["name"] == name), "{rel}: {name} listed");
    }
    let o = run(&["ls", fixture("all-types.gguf").to_str().unwrap(), "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["models"][0]["metadata"]["architecture"], "llama");
}

/// Reads a little-endian `.npy` written by `dump` (via the project's own npy reader).
fn npy_values(path: &Path) -> Vec<f64> {
    let source = weightlens_readers::open_path(path).unwrap();
    let values = source.view(0).unwrap().to_f64_vec().unwrap();
    values
}

#[test]
fn dump_is_bit_exact_with_gguf_py_for_every_type() {
    let dir = tempfile::tempdir().unwrap();
    let reference = weightlens_readers::open_path(&fixture("reference/all-types.gguf.dequantized.npz")).unwrap();
    let mut checked = 0;
    for (i, t) in reference.tensors().iter().enumerate() {
        // npz member = tensor name with '.' replaced by '_'
        let tensor = format!("{}.weight", t.name.strip_suffix("_weight").unwrap());
        let out = dir.path().join(format!("{}.npy", t.name));
        let o = run(&["dump", fixture("all-types.gguf").to_str().unwrap(), &tensor, "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{tensor}: {}", String::from_utf8_lossy(&o.stderr));
        let want = reference.view(i).unwrap().to_f64_vec().unwrap();
        let got = npy_values(&out);
        assert_eq!(got.len(), want.len(), "{tensor}");
        let differ = got.iter().zip(&want).filter(|(g, w)| g.to_bits() != w.to_bits()).count();
        assert_eq!(differ, 0, "{tensor}: {differ} values differ from gguf-py");
        checked += 1;
    }
    assert_eq!(checked, 31);
}

#[test]
fn dump_works_for_other_formats_and_keeps_integer_types() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pos.npy");
    let o = run(&[
        "dump",
        fixture("torch-quirks.pt").to_str().unwrap(),
        "model.encoder.position_ids",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let src = weightlens_readers::open_path(&out).unwrap();
    assert_eq!(src.tensors()[0].dtype_name, "int64");
    assert_eq!(src.view(0).unwrap().to_f64_vec().unwrap(), (0..12).map(f64::from).collect::<Vec<_>>());
    // A transposed torch view comes out as torch shows it.
    let out = dir.path().join("t.npy");
    let o = run(&[
        "dump",
        fixture("torch-quirks.pt").to_str().unwrap(),
        "model.encoder.proj.weight",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert_eq!(weightlens_readers::open_path(&out).unwrap().tensors()[0].shape, vec![24, 16]);
    let missing =
        run(&["dump", fixture("dtypes.safetensors").to_str().unwrap(), "nope", "--out", out.to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    // A tensor too big for --max-tensor-bytes is refused before it is decoded, naming it.
    let small = dir.path().join("small.npy");
    let st = fixture("dtypes.safetensors");
    let args = ["dump", st.to_str().unwrap(), "w.f32", "--out", small.to_str().unwrap()];
    let refused = run(&[&args[..], &["--max-tensor-bytes", "100"]].concat());
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("w.f32") && !small.exists());
    assert!(run(&[&args[..], &["--max-tensor-bytes", "512"]].concat()).status.success());
}
