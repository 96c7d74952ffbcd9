//! The NumPy readers against the fixtures and their independent numpy references.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use serde_json::Value;
use weightlens_readers::{open_path, Error, TensorSource};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn reference(name: &str) -> Value {
    let path = root().join("fixtures/reference").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Statistics as docs/output-spec.md defines them, accumulated in f64.
struct Stats {
    mean: f64,
    var: f64,
    min: f64,
    max: f64,
    sparsity: f64,
    nan: u64,
    inf: u64,
}

fn stats(x: &[f64]) -> Stats {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    Stats {
        mean,
        var,
        min: x.iter().copied().fold(f64::INFINITY, f64::min),
        max: x.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        sparsity: x.iter().filter(|v| v.abs() <= 1e-8).count() as f64 / n,
        nan: x.iter().filter(|v| v.is_nan()).count() as u64,
        inf: x.iter().filter(|v| v.is_infinite()).count() as u64,
    }
}

/// The largest singular value of the `rows x cols` row-major matrix `m`, by power iteration on
/// `m^T m`. Unlike the moments it depends on element order, so it checks the Fortran-order and
/// shape handling against the reference's `sigma_max`.
fn sigma_max(m: &[f64], rows: usize, cols: usize) -> f64 {
    let mut v = vec![1.0; cols];
    let mut sigma = 0.0;
    for _ in 0..2000 {
        let u: Vec<f64> = (0..rows).map(|r| (0..cols).map(|c| m[r * cols + c] * v[c]).sum()).collect();
        let w: Vec<f64> = (0..cols).map(|c| (0..rows).map(|r| m[r * cols + c] * u[r]).sum()).collect();
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return 0.0;
        }
        sigma = norm.sqrt();
        v = w.iter().map(|x| x / norm).collect();
    }
    sigma
}

fn close(what: &str, got: f64, want: &Value) {
    let want = want.as_f64().unwrap_or_else(|| panic!("{what}: reference is not a number: {want}"));
    let tol = (1e-9 * want.abs()).max(1e-12);
    assert!((got - want).abs() <= tol, "{what}: got {got}, reference {want}");
}

/// Checks every tensor of `source` against the reference rows, in order.
fn check_against_reference(source: &dyn TensorSource, reference: &Value) {
    let rows = reference["tensors"].as_array().unwrap();
    assert_eq!(source.tensors().len(), rows.len(), "tensor count");
    for (i, (info, r)) in source.tensors().iter().zip(rows).enumerate() {
        let name = &info.name;
        assert_eq!(name, r["name"].as_str().unwrap());
        assert_eq!(info.dtype_name, r["dtype"].as_str().unwrap(), "{name}: dtype");
        let shape: Vec<u64> = serde_json::from_value(r["shape"].clone()).unwrap();
        assert_eq!(info.shape, shape, "{name}: shape");
        assert_eq!(info.numel(), r["numel"].as_u64(), "{name}: numel");
        let x = source.view(i).unwrap().to_f64_vec().unwrap();
        assert_eq!(x.len() as u64, r["numel"].as_u64().unwrap(), "{name}: decoded elements");
        let s = stats(&x);
        assert_eq!(s.nan, r["nan_count"].as_u64().unwrap(), "{name}: nan_count");
        assert_eq!(s.inf, r["inf_count"].as_u64().unwrap(), "{name}: inf_count");
        close(&format!("{name}: mean"), s.mean, &r["mean"]);
        close(&format!("{name}: var"), s.var, &r["var"]);
        close(&format!("{name}: std"), s.var.sqrt(), &r["std"]);
        close(&format!("{name}: min"), s.min, &r["min"]);
        close(&format!("{name}: max"), s.max, &r["max"]);
        assert_eq!(s.sparsity, r["sparsity"].as_f64().unwrap(), "{name}: sparsity");
        match (info.matrix_dims(), r.get("sigma_max")) {
            (Some((rows, cols)), Some(want)) => {
                let got = sigma_max(&x, rows as usize, cols as usize);
                let want = want.as_f64().unwrap();
                assert!((got - want).abs() <= 1e-6 * want, "{name}: sigma_max {got}, reference {want}");
            }
            (dims, want) => assert!(dims.is_none() || want.is_none(), "{name}: reference lacks sigma_max"),
        }
    }
}

#[test]
fn npz_stored_matches_reference() {
    let source = open_path(&root().join("fixtures/flax-tiny.npz")).unwrap();
    assert_eq!(source.framework().as_str(), "npz");
    check_against_reference(source.as_ref(), &reference("flax-tiny.npz"));
}

#[test]
fn npz_deflated_matches_reference() {
    let source = open_path(&root().join("fixtures/flax-tiny-compressed.npz")).unwrap();
    assert_eq!(source.metadata()["deflated_members"], 7);
    check_against_reference(source.as_ref(), &reference("flax-tiny-compressed.npz"));
}

#[test]
fn npy_matches_reference() {
    let source = open_path(&root().join("fixtures/lowrank.npy")).unwrap();
    assert_eq!(source.framework().as_str(), "npy");
    check_against_reference(source.as_ref(), &reference("lowrank.npy"));
}

#[test]
fn stored_members_are_zero_copy() {
    let path = root().join("fixtures/flax-tiny.npz");
    let source = open_path(&path).unwrap();
    let file = std::fs::read(&path).unwrap();
    // The C-order f32 kernel's view bytes are exactly the file bytes at its recorded offset.
    let info = &source.tensors()[0];
    let view = source.view(0).unwrap();
    let start = info.offset as usize;
    assert_eq!(view.raw_bytes(), &file[start..start + info.len as usize]);
}

#[test]
fn gguf_dequantized_reference_lists_every_member() {
    let source = open_path(&root().join("fixtures/reference/all-types.gguf.dequantized.npz")).unwrap();
    let gguf = reference("all-types.gguf");
    let want: Vec<String> =
        gguf["tensors"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().replace('.', "_")).collect();
    let got: Vec<&str> = source.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(got, want);
    for i in 0..source.tensors().len() {
        let view = source.view(i).unwrap();
        assert_eq!(view.numel() as u64, source.tensors()[i].numel().unwrap());
    }
}

#[test]
fn object_arrays_are_refused() {
    let err = open_path(&root().join("fixtures/bad/object-array.npy")).unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("object-array.npy") && message.contains("object arrays"), "{message}");
}
