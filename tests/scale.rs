//! `--split-experts`, `--shard K/N` and `weightlens merge` end to end.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions fail loudly too

mod common;

use std::path::{Path, PathBuf};

use common::*;
use weightlens_core::Value;
use weightlens_engine::export::Table;

/// A deterministic pseudo-random stream in [-1, 1) (an LCG: no dependency, same on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// `n` matrices of `rows x cols` where matrix `e` has rank `min(e + 1, rows, cols)`: a sum of
/// `e + 1` outer products of pseudo-random vectors (row-major, concatenated).
fn experts_of_growing_rank(n: usize, rows: usize, cols: usize, rng: &mut Lcg) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * rows * cols);
    for e in 0..n {
        let mut m = vec![0f32; rows * cols];
        for _ in 0..=e {
            let u: Vec<f32> = (0..rows).map(|_| rng.next()).collect();
            let v: Vec<f32> = (0..cols).map(|_| rng.next()).collect();
            for (r, ur) in u.iter().enumerate() {
                for (c, vc) in v.iter().enumerate() {
                    m[r * cols + c] += ur * vc;
                }
            }
        }
        out.extend(m);
    }
    out
}

/// The fused-MoE model of these tests: a fused `[4, 6, 8]` expert tensor whose expert `e` has
/// rank `e + 1`, a per-expert 2-D tensor, a router and a norm.
fn write_fused_moe(path: &Path) -> Vec<f32> {
    let mut rng = Lcg(7);
    let fused = experts_of_growing_rank(4, 6, 8, &mut rng);
    let single: Vec<f32> = (0..12).map(|_| rng.next()).collect();
    let router: Vec<f32> = (0..32).map(|_| rng.next()).collect();
    write_safetensors(
        path,
        &[
            ("model.layers.0.mlp.experts.gate_up_proj", &[4, 6, 8], fused.clone()),
            ("model.layers.0.mlp.experts.2.up_proj.weight", &[3, 4], single),
            ("model.layers.0.mlp.gate.weight", &[4, 8], router),
            ("model.norm.weight", &[4], vec![1.0, 1.0, 0.5, 0.0]),
        ],
    );
    fused
}

/// Mean, population variance, min, max and sparsity of `x` in f64 (two passes).
fn stats(x: &[f32]) -> (f64, f64, f64, f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = x.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    let min = x.iter().map(|&v| f64::from(v)).fold(f64::INFINITY, f64::min);
    let max = x.iter().map(|&v| f64::from(v)).fold(f64::NEG_INFINITY, f64::max);
    let sparsity = x.iter().filter(|v| v.abs() <= 1e-8).count() as f64 / n;
    (mean, var, min, max, sparsity)
}

fn assert_close(got: Option<f64>, want: f64, what: &str) {
    let g = got.unwrap_or_else(|| panic!("{what}: empty"));
    assert!((g - want).abs() <= ABS_TOL.max(REL_TOL * want.abs()), "{what} = {g}, want {want}");
}

fn rows_named<'t>(t: &'t Table, name: &str) -> Vec<&'t weightlens_core::Row> {
    t.rows.iter().filter(|r| r.get(&t.schema, "param_name").and_then(Value::as_str) == Some(name)).collect()
}

fn analyze_ok(args: &[&str]) {
    let o = run(args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn split_experts_analyzes_each_expert_of_a_fused_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("moe.safetensors");
    let fused = write_fused_moe(&model);
    let out = dir.path().join("split/out.csv");
    analyze_ok(&["analyze", s(&model), "--split-experts", "--out", s(&out), "-q"]);
    let t = table(&out);
    let names: Vec<&str> = t.schema.columns().iter().map(|c| c.name.as_str()).collect();
    let builtin = weightlens_core::table::BUILTIN_COLUMNS.len();
    assert_eq!(names.get(builtin), Some(&"expert_index"), "expert_index follows the built-in columns: {names:?}");

    let experts = rows_named(&t, "model.layers.0.mlp.experts.gate_up_proj");
    assert_eq!(experts.len(), 4);
    let cell = |r: &weightlens_core::Row, c: &str| r.get(&t.schema, c).cloned().unwrap_or_default();
    for (e, (row, values)) in experts.iter().zip(fused.chunks(48)).enumerate() {
        assert_eq!(cell(row, "expert_index"), Value::Int(e as i64), "rows in expert order");
        assert_eq!(cell(row, "shape"), Value::Str("[6, 8]".into()));
        assert_eq!(
            (cell(row, "rows"), cell(row, "cols"), cell(row, "numel")),
            (Value::Int(6), Value::Int(8), Value::Int(48))
        );
        assert_eq!(cell(row, "rank"), Value::Int(e as i64 + 1), "expert {e} has rank {}", e + 1);
        assert_eq!(cell(row, "block_type"), Value::Str("moe_expert".into()));
        let (mean, var, min, max, sparsity) = stats(values);
        assert_close(cell(row, "mean").as_f64(), mean, "mean");
        assert_close(cell(row, "var").as_f64(), var, "var");
        assert_close(cell(row, "std").as_f64(), var.sqrt(), "std");
        assert_close(cell(row, "min").as_f64(), min, "min");
        assert_close(cell(row, "max").as_f64(), max, "max");
        assert_close(cell(row, "sparsity").as_f64(), sparsity, "sparsity");
    }
    let single = rows_named(&t, "model.layers.0.mlp.experts.2.up_proj.weight");
    assert_eq!(single.iter().map(|r| cell(r, "expert_index")).collect::<Vec<_>>(), [Value::Int(2)]);
    for name in ["model.layers.0.mlp.gate.weight", "model.norm.weight"] {
        assert_eq!(rows_named(&t, name).iter().map(|r| cell(r, "expert_index")).collect::<Vec<_>>(), [Value::Null]);
    }
    assert_sorted(&t);

    // Without the flag: one row for the fused tensor (the 4 x 48 matrix) and no new column.
    let whole = dir.path().join("whole/out.csv");
    analyze_ok(&["analyze", s(&model), "--out", s(&whole), "-q"]);
    let t = table(&whole);
    assert!(t.schema.index_of("expert_index").is_none());
    let fused_rows = rows_named(&t, "model.layers.0.mlp.experts.gate_up_proj");
    assert_eq!(fused_rows.len(), 1);
    assert_eq!(fused_rows[0].get(&t.schema, "shape"), Some(&Value::Str("[4, 6, 8]".into())));
    assert_close(fused_rows[0].get(&t.schema, "mean").and_then(Value::as_f64), stats(&fused).0, "whole mean");
}

/// A GGUF v3 file (no metadata) of one Q8_0 tensor `name` with row-major `shape`; the blocks
/// are `(scale, 32 quants)`. Returns the dequantized values (ggml: `d * q`).
fn write_q8_0_gguf(path: &Path, name: &str, shape: [u64; 3], rng: &mut Lcg) -> Vec<f32> {
    let numel = shape.iter().product::<u64>() as usize;
    let mut data = Vec::new();
    let mut values = Vec::new();
    for _ in 0..numel / 32 {
        let d = half::f16::from_f32(0.01 + rng.next().abs() * 0.05);
        data.extend(d.to_le_bytes());
        for _ in 0..32 {
            let q = (rng.next() * 127.0) as i8;
            data.push(q as u8);
            values.push(d.to_f32() * f32::from(q));
        }
    }
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(1u64.to_le_bytes());
    out.extend(0u64.to_le_bytes());
    out.extend((name.len() as u64).to_le_bytes());
    out.extend(name.as_bytes());
    out.extend(3u32.to_le_bytes());
    for d in shape.iter().rev() {
        out.extend(d.to_le_bytes());
    }
    out.extend(8u32.to_le_bytes()); // GGML_TYPE_Q8_0
    out.extend(0u64.to_le_bytes());
    out.resize(out.len().next_multiple_of(32), 0);
    out.extend(data);
    std::fs::write(path, out).unwrap();
    values
}

#[test]
fn split_experts_cuts_quantized_gguf_experts_at_block_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("moe.gguf");
    let values = write_q8_0_gguf(&model, "blk.1.ffn_up_exps.weight", [3, 2, 64], &mut Lcg(11));
    let out = dir.path().join("out.jsonl");
    analyze_ok(&["analyze", s(&model), "--split-experts", "--out", s(&out), "-q"]);
    let t = table(&out);
    let rows = rows_named(&t, "blk.1.ffn_up_exps.weight");
    assert_eq!(rows.len(), 3);
    for (e, (row, expert)) in rows.iter().zip(values.chunks(128)).enumerate() {
        let get = |c: &str| row.get(&t.schema, c).cloned().unwrap_or_default();
        assert_eq!(get("expert_index"), Value::Int(e as i64));
        assert_eq!((get("shape"), get("dtype")), (Value::Str("[2, 64]".into()), Value::Str("Q8_0".into())));
        let (mean, var, ..) = stats(expert);
        assert_close(get("mean").as_f64(), mean, "mean");
        assert_close(get("var").as_f64(), var, "var");
    }

    // (A GGUF row is always whole blocks, so every GGUF expert is: the refusal of experts
    // that are not is tested in core's `leading_slices_of_blocks_need_whole_blocks`.)
}

/// A directory of several models of different formats (copies of fixtures and a fused MoE).
fn model_dir(root: &Path) -> PathBuf {
    let models = root.join("models");
    for rel in ["llama-tiny", "qwen-moe-tiny"] {
        let to = models.join(rel);
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(fixture(rel)).unwrap().flatten() {
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    }
    for rel in ["all-types.gguf", "dtypes.safetensors", "lowrank.npy", "flax-tiny.npz"] {
        std::fs::copy(fixture(rel), models.join(rel)).unwrap();
    }
    write_fused_moe(&models.join("fused-moe.safetensors"));
    models
}

#[test]
fn merged_shards_equal_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let models = model_dir(dir.path());
    let whole = dir.path().join("whole/params.csv");
    analyze_ok(&["analyze", s(&models), "--split-experts", "--out", s(&whole), "-q"]);

    let formats = ["csv", "jsonl", "parquet"];
    let parts: Vec<PathBuf> = (0..3).map(|k| dir.path().join(format!("shard-{k}/params.{}", formats[k]))).collect();
    for (k, part) in parts.iter().enumerate() {
        analyze_ok(&["analyze", s(&models), "--split-experts", "--shard", &format!("{k}/3"), "--out", s(part), "-q"]);
        let rows = table(part).rows.len();
        assert!(rows > 0, "shard {k} got no tensors");
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(part.with_file_name("run_meta.json")).unwrap()).unwrap();
        assert_eq!((meta["shard"]["index"].as_u64(), meta["shard"]["count"].as_u64()), (Some(k as u64), Some(3)));
    }
    let merged = dir.path().join("merged/params.parquet");
    let mut args = vec!["merge", s(&merged)];
    args.extend(parts.iter().rev().map(|p| s(p)));
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("WARN"), "{}", String::from_utf8_lossy(&o.stderr));

    let (w, m) = (table(&whole), table(&merged));
    assert_same_table(&w, &m);
    let created: std::collections::HashSet<String> =
        m.rows.iter().filter_map(|r| r.get(&m.schema, "created_at")?.as_str().map(String::from)).collect();
    assert_eq!(created.len(), 1, "one created_at in the merged table: {created:?}");

    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(merged.with_file_name("run_meta.json")).unwrap()).unwrap();
    let whole_meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(whole.with_file_name("run_meta.json")).unwrap()).unwrap();
    assert_eq!(meta["tensor_count"], whole_meta["tensor_count"]);
    assert_eq!(meta["tensors_selected"], whole_meta["tensors_selected"]);
    assert_eq!(meta["model_path"].as_array().map(Vec::len), whole_meta["model_path"].as_array().map(Vec::len));
    assert_eq!(meta["shard"]["missing"], serde_json::json!([]));
    assert_eq!(meta["validation"]["ok"], true);
    assert_eq!(meta["parts"].as_array().map(Vec::len), Some(3));
}

#[test]
fn merge_refuses_mixed_runs_and_warns_about_missing_shards() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("llama-tiny");
    let part = |k: usize, n: usize| dir.path().join(format!("{k}of{n}/p.csv"));
    for (k, n) in [(0, 2), (1, 2), (0, 3)] {
        analyze_ok(&["analyze", s(&model), "--shard", &format!("{k}/{n}"), "--out", s(&part(k, n)), "-q"]);
    }
    let out = dir.path().join("m/out.csv");
    let o = run(&["merge", s(&out), s(&part(0, 2)), s(&part(0, 3))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not the same run"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.exists());

    // A missing shard: the table is written, with a warning and exit code 1.
    let o = run(&["merge", s(&out), s(&part(1, 2))]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("shards 0 of 2 are missing"), "{stderr}");
    assert!(out.exists());

    // The same shard twice: duplicate rows are dropped with a warning.
    let o = run(&["merge", s(&out), s(&part(0, 2)), s(&part(0, 2)), s(&part(1, 2))]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("duplicate rows"), "{stderr}");
    assert_eq!(table(&out).rows.len(), 21);

    // A table whose directory holds another run's run_meta.json.
    let stray = dir.path().join("0of2/other.csv");
    std::fs::copy(part(0, 2), &stray).unwrap();
    let o = run(&["merge", s(&out), s(&stray)]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("own directory"), "{}", String::from_utf8_lossy(&o.stderr));

    let o = run(&["analyze", s(&model), "--shard", "2/2", "--out", s(&dir.path().join("x.csv"))]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("0-based"), "{}", String::from_utf8_lossy(&o.stderr));
}
