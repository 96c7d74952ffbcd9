//! GGUF reader against the independent references in `fixtures/reference/` (gguf-py dequantized
//! values and float64 numpy statistics), the bad inputs of `fixtures/bad/`, and the real
//! gemma-3-270m Q4_K_M model.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use serde_json::Value;
use weightlens_core::{TensorSource, TensorView};
use weightlens_readers::{discover, open_path};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

fn reference(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture("reference").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Neumaier-compensated sum, so the test's own rounding stays far below the tolerance.
#[derive(Default)]
struct Sum {
    sum: f64,
    comp: f64,
}

impl Sum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        self.comp += if self.sum.abs() >= x.abs() { (self.sum - t) + x } else { (x - t) + self.sum };
        self.sum = t;
    }
    fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

/// Statistics of a view computed here in f64, decoding block-aligned chunks (never a whole f32
/// copy of a large tensor).
struct Stats {
    numel: usize,
    mean: f64,
    var: f64,
    min: f64,
    max: f64,
    zeros: usize,
    nans: usize,
    infs: usize,
}

fn for_each_chunk(view: &TensorView<'_>, mut f: impl FnMut(&[f64])) {
    let step = 1 << 16; // a multiple of every block size
    let mut buf = vec![0f64; step.min(view.numel())];
    let mut start = 0;
    while start < view.numel() {
        let n = step.min(view.numel() - start);
        view.decode_f64(start, &mut buf[..n]).unwrap();
        f(&buf[..n]);
        start += n;
    }
}

fn stats(view: &TensorView<'_>) -> Stats {
    let (mut sum, mut zeros, mut nans, mut infs) = (Sum::default(), 0, 0, 0);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for_each_chunk(view, |xs| {
        for &x in xs {
            sum.add(x);
            min = min.min(x);
            max = max.max(x);
            zeros += usize::from(x.abs() <= 1e-8);
            nans += usize::from(x.is_nan());
            infs += usize::from(x.is_infinite());
        }
    });
    let mean = sum.value() / view.numel() as f64;
    let mut sq = Sum::default();
    for_each_chunk(view, |xs| xs.iter().for_each(|&x| sq.add((x - mean) * (x - mean))));
    Stats { numel: view.numel(), mean, var: sq.value() / view.numel() as f64, min, max, zeros, nans, infs }
}

/// `got` equals `want` to 1e-9 relative, with an absolute floor of 1e-12 times the tensor's
/// scale (a mean of a zero-centred tensor has no meaningful relative error below that).
fn close(what: &str, got: f64, want: f64, scale: f64) {
    let tol = 1e-9 * want.abs() + 1e-12 * scale;
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want} (tolerance {tol})");
}

/// Checks every tensor of `src` against the reference rows: same names (each once), shape,
/// dtype, counts exact, moments to 1e-9.
fn check_against_reference(src: &dyn TensorSource, reference: &Value) {
    let rows = reference["tensors"].as_array().unwrap();
    assert_eq!(src.tensors().len(), rows.len(), "tensor count");
    for row in rows {
        let name = row["name"].as_str().unwrap();
        let i = src.tensors().iter().position(|t| t.name == name).unwrap_or_else(|| panic!("missing {name}"));
        let info = &src.tensors()[i];
        let shape: Vec<u64> = row["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
        assert_eq!(info.shape, shape, "{name} shape");
        assert_eq!(info.dtype_name, row["dtype"].as_str().unwrap(), "{name} dtype");
        let view = src.view(i).unwrap();
        let s = stats(&view);
        assert_eq!(s.numel as u64, row["numel"].as_u64().unwrap(), "{name} numel");
        assert_eq!(s.nans as u64, row["nan_count"].as_u64().unwrap(), "{name} nan_count");
        assert_eq!(s.infs as u64, row["inf_count"].as_u64().unwrap(), "{name} inf_count");
        // The reference's sparsity is a count over numel: compare the counts exactly.
        let want_zeros = (row["sparsity"].as_f64().unwrap() * s.numel as f64).round();
        assert_eq!(s.zeros as f64, want_zeros, "{name} zero count (sparsity)");
        let scale = s.max.abs().max(s.min.abs());
        close(&format!("{name} mean"), s.mean, row["mean"].as_f64().unwrap(), scale);
        close(&format!("{name} var"), s.var, row["var"].as_f64().unwrap(), scale * scale);
        close(&format!("{name} std"), s.var.sqrt(), row["std"].as_f64().unwrap(), scale);
        // min/max are single decoded values: equal up to JSON float parsing (serde_json's default
        // parser may be off by an ulp of f64), far below one ulp of the f32 values.
        close(&format!("{name} min"), s.min, row["min"].as_f64().unwrap(), 0.0);
        close(&format!("{name} max"), s.max, row["max"].as_f64().unwrap(), 0.0);
    }
}

#[test]
fn all_types_statistics_match_the_reference() {
    let src = open_path(&fixture("all-types.gguf")).unwrap();
    check_against_reference(src.as_ref(), &reference("all-types.gguf.json"));
    let meta = src.metadata();
    assert_eq!(meta["alignment"], 64);
    assert_eq!(meta["architecture"], "llama");
    assert_eq!(meta["tensor_types"]["Q4_K"]["count"], 1);
    assert_eq!(meta["tensor_types"]["Q4_K"]["bytes"], 4 * 2 * 144);
}

#[test]
fn split_model_reads_as_one() {
    let src = open_path(&fixture("llama-tiny-q-00001-of-00002.gguf")).unwrap();
    check_against_reference(src.as_ref(), &reference("llama-tiny-q-00001-of-00002.gguf.json"));
    let meta = src.metadata();
    assert_eq!(meta["parts"], 2);
    assert_eq!(meta["block_count"], 2);
    assert_eq!(meta["context_length"], 128);
    assert!(src.warnings().is_empty(), "{:?}", src.warnings());
}

#[test]
fn discovery_reports_a_split_model_once() {
    let found = discover(&[fixture("")]);
    let gguf: Vec<_> = found
        .models
        .iter()
        .filter_map(|m| m.path.file_name()?.to_str())
        .filter(|n| n.starts_with("llama-tiny-q"))
        .collect();
    assert_eq!(gguf, ["llama-tiny-q-00001-of-00002.gguf"]);
}

#[test]
fn bad_inputs_behave_as_expected() {
    let expected = reference("../bad/EXPECTED.json");
    let err = |name: &str| open_path(&fixture("bad").join(name)).unwrap_err().to_string();
    assert!(expected["huge-count.gguf"].as_str().unwrap().contains("tensor count"));
    assert!(err("huge-count.gguf").contains("tensor count 4611686018427387904 is larger than the file could hold"));
    assert!(err("huge-string.gguf").contains("past the end of the file"));
    assert!(err("notes.gguf").contains("unknown format"));

    // truncated.gguf: the tensors whose data lies past the end fail alone.
    let src = open_path(&fixture("bad/truncated.gguf")).unwrap();
    let full = open_path(&fixture("all-types.gguf")).unwrap();
    let mut failed = Vec::new();
    for (i, t) in src.tensors().iter().enumerate() {
        match src.view(i) {
            Ok(v) => assert_eq!(v.to_f32_vec().unwrap(), full.view(i).unwrap().to_f32_vec().unwrap(), "{}", t.name),
            Err(e) => {
                assert!(e.to_string().contains("truncated"), "{e}");
                assert_eq!(e.tensor_name(), Some(t.name.as_str()));
                failed.push(t.name.clone());
            }
        }
    }
    assert_eq!(failed, ["f32.weight"]);
}

/// The real model: every tensor of gemma-3-270m Q4_K_M against the float64 reference. In CI the
/// model must be present (scripts/fetch-models.py); locally the test is skipped without it.
#[test]
fn gemma_real_model_matches_the_reference() {
    let path = root().join("data/models/gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf");
    if !path.exists() {
        assert!(std::env::var_os("CI").is_none(), "{} is missing; run scripts/fetch-models.py", path.display());
        eprintln!("skipping: {} not found (run scripts/fetch-models.py)", path.display());
        return;
    }
    let started = std::time::Instant::now();
    let src = open_path(&path).unwrap();
    let opened = started.elapsed();
    assert!(opened.as_millis() < 500, "opening took {opened:?}");
    check_against_reference(src.as_ref(), &reference("gemma-3-270m-q4_k_m.gguf.json"));
    let meta = src.metadata();
    assert_eq!(meta["architecture"], "gemma3");
    assert_eq!(meta["file_type_name"], "MOSTLY_Q4_K_M");
}

/// Every element of every ggml type equals gguf-py's dequantization bit for bit (as f32; the
/// F64/I32/I64 references keep their own type and are compared exactly in f64). The reference
/// npz is read through the project's own NumPy reader.
#[test]
fn all_types_dequantize_bit_exactly_like_gguf_py() {
    let src = open_path(&fixture("all-types.gguf")).unwrap();
    let npz = open_path(&fixture("reference/all-types.gguf.dequantized.npz")).unwrap();
    assert_eq!(npz.tensors().len(), src.tensors().len());
    for (j, member) in npz.tensors().iter().enumerate() {
        let i = src.tensors().iter().position(|t| t.name.replace('.', "_") == member.name).unwrap();
        let (ours, want) = (src.view(i).unwrap(), npz.view(j).unwrap());
        assert_eq!(ours.numel(), want.numel(), "{}", member.name);
        if member.dtype_name == "float32" {
            let (got, want) = (ours.to_f32_vec().unwrap(), want.to_f32_vec().unwrap());
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g.to_bits(), w.to_bits(), "{}[{k}]: {g} != {w}", member.name);
            }
        } else {
            assert_eq!(ours.to_f64_vec().unwrap(), want.to_f64_vec().unwrap(), "{}", member.name);
        }
    }
}
