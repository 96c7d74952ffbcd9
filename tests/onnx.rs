//! ONNX through the binary: every fixture written by the `onnx` package
//! (`fixtures/generator/make_onnx_fixtures.py`) against its `onnx.numpy_helper.to_array`
//! reference, external data, hostile external locations, and the quantization scheme metadata.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::path::Path;

use common::*;
use weightlens_core::Value;

fn analyze(input: &Path, dir: &Path) -> (std::process::Output, weightlens_engine::export::Table) {
    let out = dir.join("out.csv");
    let o = run(&["analyze", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
    let t = if out.exists() { table(&out) } else { panic!("no table: {}", String::from_utf8_lossy(&o.stderr)) };
    (o, t)
}

#[test]
fn every_fixture_matches_the_onnx_package() {
    for (rel, reference_name) in [
        ("onnx/typed-fields.onnx", "onnx-typed-fields.onnx.json"),
        ("onnx/raw-data.onnx", "onnx-raw-data.onnx.json"),
        ("onnx/constants-subgraphs.onnx", "onnx-constants-subgraphs.onnx.json"),
        ("onnx/quantized.onnx", "onnx-quantized.onnx.json"),
        ("onnx/quantized-blocks.onnx", "onnx-quantized-blocks.onnx.json"),
        ("onnx/external/model.onnx", "onnx-external.onnx.json"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (o, table) = analyze(&fixture(rel), dir.path());
        assert!(o.status.success(), "{rel}: {}", String::from_utf8_lossy(&o.stderr));
        let refs = reference(reference_name);
        assert_eq!(table.rows.len(), refs.len(), "{rel}: one row per tensor");
        let problems = compare(&table, &refs);
        assert!(problems.is_empty(), "{rel}: {} mismatches:\n{}", problems.len(), problems.join("\n"));
        for r in &refs {
            // The dtype column is the ONNX name itself (compare() only checks the meaning).
            assert_eq!(row_value(&table, &r.name, "dtype"), Some(&Value::Str(r.dtype.clone())), "{rel}: {}", r.name);
            assert_eq!(row_value(&table, &r.name, "framework"), Some(&Value::Str("onnx".into())), "{rel}");
        }
    }
}

#[test]
fn typed_and_raw_cover_every_data_type() {
    let typed = reference("onnx-typed-fields.onnx.json");
    let raw = reference("onnx-raw-data.onnx.json");
    for dtype in [
        "FLOAT",
        "DOUBLE",
        "FLOAT16",
        "BFLOAT16",
        "INT8",
        "UINT8",
        "INT16",
        "UINT16",
        "INT32",
        "UINT32",
        "INT64",
        "UINT64",
        "BOOL",
        "FLOAT8E4M3FN",
        "FLOAT8E4M3FNUZ",
        "FLOAT8E5M2",
        "FLOAT8E5M2FNUZ",
        "FLOAT8E8M0",
        "INT4",
        "UINT4",
        "FLOAT4E2M1",
        "INT2",
        "UINT2",
    ] {
        assert!(typed.iter().any(|t| t.dtype == dtype), "typed fields: {dtype}");
        assert!(raw.iter().any(|t| t.dtype == dtype), "raw_data: {dtype}");
    }
}

#[test]
fn layers_and_blocks_come_from_exported_names() {
    let dir = tempfile::tempdir().unwrap();
    let (_, table) = analyze(&fixture("onnx/constants-subgraphs.onnx"), dir.path());
    let name = "/encoder/layer.0/attention/self/query/weight";
    assert_eq!(row_value(&table, name, "layer_index"), Some(&Value::Int(0)));
    assert_eq!(row_value(&table, name, "block_type"), Some(&Value::Str("q_proj".into())));
    let (_, table) = analyze(&fixture("onnx/raw-data.onnx"), dir.path());
    assert_eq!(row_value(&table, "model.layers.0.self_attn.q_proj.weight", "rank"), Some(&Value::Int(3)));
}

#[test]
fn external_data_files_are_part_of_the_model() {
    let dir = tempfile::tempdir().unwrap();
    // The directory: weights.bin (a model extension) is read through model.onnx, not reported.
    let (o, table) = analyze(&fixture("onnx/external"), dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(table.rows.len(), 3);
}

#[test]
fn hostile_external_locations_are_refused_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (o, table) = analyze(&fixture("onnx/hostile-external/model.onnx"), dir.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    for name in ["dotdot", "absolute", "nested_dotdot"] {
        let line =
            stderr.lines().find(|l| l.contains(&format!("tensor {name}:"))).unwrap_or_else(|| panic!("{stderr}"));
        assert!(line.contains("model.onnx") && line.contains("refused"), "{line}");
    }
    let problems = compare(&table, &reference("onnx-hostile-external.onnx.json"));
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn quantized_initializers_name_their_scheme() {
    let o = run(&["ls", fixture("onnx/quantized.onnx").to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let schemes = &json["models"][0]["metadata"]["quant_scheme"];
    assert_eq!(schemes["fc1.weight_quantized"], "onnx-qdq");
    assert_eq!(schemes["fc1.weight_scale"], "onnx-qdq");
    assert_eq!(schemes["fc2.weight_quantized"], "onnx-dynamic-int8");
    assert_eq!(schemes["fc2.weight_zero_point"], "onnx-dynamic-int8");
    assert_eq!(schemes["fc3.weight_quantized"], "onnx-qlinear");
    assert!(schemes.get("fc4.bias").is_none(), "a float bias is not quantized");
}

#[test]
fn quantization_columns_come_from_the_operators() {
    let dir = tempfile::tempdir().unwrap();
    let cell = |t: &weightlens_engine::export::Table, name: &str, col: &str| row_value(t, name, col).cloned();
    let (o, t) = analyze(&fixture("onnx/quantized-blocks.onnx"), dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Blocked DequantizeLinear: 8 bits from the INT8 type, block_size 16.
    assert_eq!(cell(&t, "fc1.weight_quantized", "quant_scheme"), Some(Value::Str("onnx-qdq".into())));
    assert_eq!(cell(&t, "fc1.weight_quantized", "bits"), Some(Value::Int(8)));
    assert_eq!(cell(&t, "fc1.weight_quantized", "group_size"), Some(Value::Int(16)));
    // MatMulNBits: the `bits` and `block_size` attributes (the uint8 bytes hold two codes).
    assert_eq!(cell(&t, "fc2.qweight", "quant_scheme"), Some(Value::Str("onnx-matmulnbits".into())));
    assert_eq!(cell(&t, "fc2.qweight", "bits"), Some(Value::Int(4)));
    assert_eq!(cell(&t, "fc2.qweight", "group_size"), Some(Value::Int(32)));
    // A scale is part of the scheme but has no bit width or group of its own.
    assert_eq!(cell(&t, "fc2.scales", "quant_scheme"), Some(Value::Str("onnx-matmulnbits".into())));
    assert_eq!(cell(&t, "fc2.scales", "bits"), Some(Value::Null));
    let dir = tempfile::tempdir().unwrap();
    let (_, t) = analyze(&fixture("onnx/quantized.onnx"), dir.path());
    assert_eq!(cell(&t, "fc2.weight_quantized", "bits"), Some(Value::Int(8)), "MatMulInteger B");
    assert_eq!(cell(&t, "fc2.weight_quantized", "group_size"), Some(Value::Null));
    assert_eq!(cell(&t, "fc3.weight_quantized", "quant_scheme"), Some(Value::Str("onnx-qlinear".into())));
    assert_eq!(cell(&t, "fc4.bias", "quant_scheme"), Some(Value::Null));
}
