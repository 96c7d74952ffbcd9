//! PyTorch reader against the independent numpy references in `fixtures/reference/`, plus
//! hostile and unusual checkpoints built here.
//!
//! Tolerances (docs/output-spec.md): mean/std/var/min/max relative 1e-9 or absolute 1e-12; counts,
//! sparsity (`abs(x) <= 1e-8`), numel, shape and dtype name exact; NaN where the reference is NaN.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use weightlens_core::{Error, TensorSource};
use weightlens_readers::pytorch::TorchSource;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(rel)
}

fn reference(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture("reference").join(name)).expect("reference exists");
    // Python's json writes bare NaN/Infinity, which JSON (and serde_json) lacks.
    let text = text.replace("-Infinity", "\"-inf\"").replace("Infinity", "\"inf\"").replace("NaN", "\"NaN\"");
    let doc: Value = serde_json::from_str(&text).expect("reference is JSON");
    doc["tensors"].as_array().expect("tensors array").clone()
}

#[derive(Debug)]
struct Stats {
    numel: usize,
    mean: f64,
    var: f64,
    min: f64,
    max: f64,
    nan: u64,
    inf: u64,
    sparsity: f64,
}

/// Population statistics in f64 (two passes), NaN-propagating like numpy.
fn stats(x: &[f64]) -> Stats {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let pick = |f: fn(f64, f64) -> f64| {
        x.iter().copied().fold(None, |acc: Option<f64>, v| {
            Some(match acc {
                Some(a) if a.is_nan() || v.is_nan() => f64::NAN,
                Some(a) => f(a, v),
                None => v,
            })
        })
    };
    Stats {
        numel: x.len(),
        mean,
        var,
        min: pick(f64::min).unwrap_or(f64::NAN),
        max: pick(f64::max).unwrap_or(f64::NAN),
        nan: x.iter().filter(|v| v.is_nan()).count() as u64,
        inf: x.iter().filter(|v| v.is_infinite()).count() as u64,
        sparsity: x.iter().filter(|v| v.abs() <= 1e-8).count() as f64 / n,
    }
}

fn close(name: &str, what: &str, got: f64, want: &Value) {
    let want = match want {
        Value::String(s) => s.parse::<f64>().expect("NaN/inf spelled as a string"),
        other => other.as_f64().expect("a number"),
    };
    if want.is_nan() {
        assert!(got.is_nan(), "{name}: {what} = {got}, reference NaN");
        return;
    }
    let ok = (got - want).abs() <= 1e-12 || (got - want).abs() <= 1e-9 * want.abs();
    assert!(ok, "{name}: {what} = {got}, reference {want}");
}

/// Checks every tensor of `source` against the reference rows, in order. `ref_dtype` maps the
/// reader's tensor to the dtype spelling the reference uses.
fn check_against(
    source: &dyn TensorSource,
    refs: &[Value],
    ref_dtype: impl Fn(&weightlens_core::TensorInfo) -> String,
) {
    let infos = source.tensors();
    let names: Vec<&str> = infos.iter().map(|t| t.name.as_str()).collect();
    let want: Vec<&str> = refs.iter().map(|r| r["name"].as_str().unwrap_or("")).collect();
    assert_eq!(names, want, "tensor names and order");
    for (i, (info, r)) in infos.iter().zip(refs).enumerate() {
        let name = &info.name;
        let shape: Vec<u64> = r["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
        assert_eq!(info.shape, shape, "{name}: shape");
        assert_eq!(ref_dtype(info), r["dtype"].as_str().unwrap(), "{name}: dtype");
        let values = source.view(i).and_then(|v| v.to_f64_vec()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let s = stats(&values);
        assert_eq!(s.numel as u64, r["numel"].as_u64().unwrap(), "{name}: numel");
        assert_eq!(s.nan, r["nan_count"].as_u64().unwrap(), "{name}: nan_count");
        assert_eq!(s.inf, r["inf_count"].as_u64().unwrap(), "{name}: inf_count");
        if s.numel == 0 {
            assert!(r["mean"].is_null() && r["sparsity"].is_null(), "{name}: empty tensor has no stats");
            continue;
        }
        assert_eq!(s.sparsity, r["sparsity"].as_f64().unwrap(), "{name}: sparsity");
        close(name, "mean", s.mean, &r["mean"]);
        close(name, "var", s.var, &r["var"]);
        close(name, "std", s.var.sqrt(), &r["std"]);
        close(name, "min", s.min, &r["min"]);
        close(name, "max", s.max, &r["max"]);
    }
}

fn torch_names(info: &weightlens_core::TensorInfo) -> String {
    info.dtype_name.to_string()
}

#[test]
fn torch_quirks_matches_reference() {
    let source = TorchSource::open(&fixture("torch-quirks.pt")).unwrap();
    check_against(&source, &reference("torch-quirks.pt.json"), torch_names);
    let values = &source.metadata()["values"];
    assert_eq!(values["epoch"], 3);
    assert_eq!(values["config.lr"], 0.1);
    assert_eq!(values["config.name"], "quirks");
    assert_eq!(values["config.betas.1"], 0.999);
    assert!(source.warnings().is_empty(), "{:?}", source.warnings());
}

#[test]
fn shared_storage_views_borrow_from_the_map() {
    let source = TorchSource::open(&fixture("torch-quirks.pt")).unwrap();
    let index = |n: &str| source.tensors().iter().position(|t| t.name == n).unwrap();
    // proj_full and proj_rows share one storage: both contiguous, both borrowed at the offsets
    // their views start at; the transposed proj view is gathered.
    let full = source.view(index("model.encoder.proj_full.weight")).unwrap();
    let rows = source.view(index("model.encoder.proj_rows.weight")).unwrap();
    let (_, _, full_bytes) = full.plain_bytes().unwrap();
    let (_, _, row_bytes) = rows.plain_bytes().unwrap();
    assert_eq!(row_bytes.as_ptr(), full_bytes[4 * 24 * 4..].as_ptr(), "offset view is zero-copy");
    let t = source.view(index("model.encoder.proj.weight")).unwrap().to_f64_vec().unwrap();
    let f = full.to_f64_vec().unwrap();
    assert_eq!(t[1], f[24], "transposed view decodes to torch's order");
}

#[test]
fn gpt2_legacy_matches_reference() {
    let source = TorchSource::open(&fixture("gpt2-tiny-legacy.bin")).unwrap();
    check_against(&source, &reference("gpt2-tiny-legacy.bin.json"), torch_names);
    assert_eq!(source.metadata()["format"], "legacy");
    // Tied weights: two names, one storage, one copy of the bytes.
    let wte = source.view(0).unwrap();
    let head = source.view(source.tensors().len() - 1).unwrap();
    assert_eq!(wte.raw_bytes().as_ptr(), head.raw_bytes().as_ptr());
}

#[test]
fn qwen_moe_zip_matches_reference() {
    let source = weightlens_readers::open_path(&fixture("qwen-moe-tiny/pytorch_model.bin")).unwrap();
    assert_eq!(source.framework().as_str(), "pt");
    // This reference spells dtypes the safetensors way (`F16`, its generator upper-cases them);
    // the reader reports torch's names (docs/output-spec.md), so the check maps one onto the other and
    // checks the torch name separately.
    check_against(source.as_ref(), &reference("qwen-moe-tiny__pytorch_model.bin.json"), |info| {
        assert_eq!(info.dtype_name, info.dtype.torch_name(), "{}: torch dtype name", info.name);
        info.dtype.safetensors_name().to_string()
    });
}

// ---- hand-built checkpoints ----

/// A minimal pickle writer for the tests.
#[derive(Default)]
struct Pickle(Vec<u8>);

impl Pickle {
    fn new() -> Self {
        Pickle(vec![0x80, 2])
    }
    fn op(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn global(self, module: &str, name: &str) -> Self {
        self.op(format!("c{module}\n{name}\n").as_bytes())
    }
    fn str(mut self, s: &str) -> Self {
        self.0.push(b'X');
        self.0.extend((s.len() as u32).to_le_bytes());
        self.0.extend(s.as_bytes());
        self
    }
    fn int(mut self, v: i32) -> Self {
        self.0.push(b'J');
        self.0.extend(v.to_le_bytes());
        self
    }
    fn ints(self, values: &[i32]) -> Self {
        values.iter().fold(self.op(b"("), |p, &v| p.int(v)).op(b"t")
    }
    /// `_rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, shape, stride, False, OrderedDict())`
    fn tensor(self, key: &str, numel: i32, offset: i32, shape: &[i32], stride: &[i32]) -> Self {
        self.tensor_of("FloatStorage", key, numel, offset, shape, stride)
    }
    fn tensor_of(self, class: &str, key: &str, numel: i32, offset: i32, shape: &[i32], stride: &[i32]) -> Self {
        self.global("torch._utils", "_rebuild_tensor_v2")
            .op(b"((")
            .str("storage")
            .global("torch", class)
            .str(key)
            .str("cpu")
            .int(numel)
            .op(b"tQ")
            .int(offset)
            .ints(shape)
            .ints(stride)
            .op(b"\x89")
            .global("collections", "OrderedDict")
            .op(b")Rt")
            .op(b"R")
    }
    fn stop(self) -> Vec<u8> {
        self.op(b".").0
    }
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes a zip of `members` (name, content), all stored or all deflated.
fn write_members(path: &Path, members: &[(String, Vec<u8>)], deflate: bool) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let method = if deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, content) in members {
        zip.start_file(name.as_str(), opts).unwrap();
        zip.write_all(content).unwrap();
    }
    zip.finish().unwrap();
}

/// Writes a torch zip holding `pickle` as `archive/data.pkl` and `storages` as `archive/data/<key>`.
fn write_zip(path: &Path, pickle: &[u8], storages: &[(&str, Vec<u8>)], deflate: bool) {
    let mut members = vec![("archive/data.pkl".to_string(), pickle.to_vec())];
    members.push(("archive/byteorder".to_string(), b"little".to_vec()));
    members.extend(storages.iter().map(|(key, bytes)| (format!("archive/data/{key}"), bytes.clone())));
    members.push(("archive/version".to_string(), b"3\n".to_vec()));
    write_members(path, &members, deflate);
}

#[test]
fn malicious_pickle_is_refused_and_nothing_runs() {
    let marker = Path::new("/tmp/weightlens-pwned-xyz");
    let _ = std::fs::remove_file(marker);
    let err = weightlens_readers::open_path(&fixture("bad/malicious-pickle.bin")).unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    assert!(err.to_string().contains("os.system"), "{err}");
    assert!(!marker.exists(), "the pickle's command ran");
}

#[test]
fn stack_global_to_eval_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eval.pt");
    let pickle = Pickle::new().str("builtins").str("eval").op(b"\x93").str("1+1").op(b"\x85R").stop();
    write_zip(&path, &pickle, &[], false);
    let err = TorchSource::open(&path).unwrap_err();
    assert!(matches!(err, Error::Refused { .. }) && err.to_string().contains("builtins.eval"), "{err}");
}

#[test]
fn unknown_classes_are_opaque_and_their_tensors_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.pt");
    // {"config": argparse.Namespace(w=tensor), "model": __main__.Config() with state {"b": tensor}}
    let pickle = Pickle::new()
        .op(b"}(")
        .str("config")
        .global("argparse", "Namespace")
        .op(b")\x81}")
        .str("w")
        .tensor("0", 6, 0, &[2, 3], &[3, 1])
        .op(b"sb")
        .str("model")
        .global("__main__", "Config")
        .op(b")\x81}(")
        .str("lr")
        .int(3)
        .str("b")
        .tensor("0", 6, 2, &[2, 2], &[1, 2])
        .op(b"ub")
        .op(b"u")
        .stop();
    let data = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    write_zip(&path, &pickle, &[("0", data)], false);
    let source = TorchSource::open(&path).unwrap();
    let names: Vec<&str> = source.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["config.w", "model.b"]);
    assert_eq!(source.view(0).unwrap().to_f64_vec().unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    // offset 2, shape [2, 2], stride [1, 2]: [[s2, s4], [s3, s5]]
    assert_eq!(source.view(1).unwrap().to_f64_vec().unwrap(), [3.0, 5.0, 4.0, 6.0]);
    let warnings = source.warnings().join("\n");
    assert!(warnings.contains("argparse.Namespace") && warnings.contains("__main__.Config"), "{warnings}");
    assert_eq!(source.metadata()["values"]["model.lr"], 3);
}

#[test]
fn storage_shorter_than_its_view_fails_that_tensor_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.pt");
    let pickle = Pickle::new()
        .op(b"}(")
        .str("ok")
        .tensor("0", 4, 0, &[4], &[1])
        .str("long")
        .tensor("0", 4, 1, &[2, 2], &[2, 1])
        .str("gone")
        .tensor("1", 4, 0, &[4], &[1])
        .str("file_short")
        .tensor("2", 4, 0, &[4], &[1])
        .op(b"u")
        .stop();
    let storages = [("0", f32_bytes(&[1.0, 2.0, 3.0, 4.0])), ("2", f32_bytes(&[1.0, 2.0]))];
    write_zip(&path, &pickle, &storages, false);
    let source = TorchSource::open(&path).unwrap();
    assert_eq!(source.tensors().len(), 4);
    assert_eq!(source.view(0).unwrap().to_f64_vec().unwrap(), [1.0, 2.0, 3.0, 4.0]);
    for (i, needle) in [(1, "holds 4"), (2, "no data"), (3, "8 bytes")] {
        let err = source.view(i).unwrap_err();
        assert!(matches!(err, Error::Tensor { .. }) && err.to_string().contains(needle), "{err}");
    }
}

#[test]
fn deflated_members_decode_like_stored_ones() {
    // Re-pack torch-quirks.pt with every member deflated.
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::File::open(fixture("torch-quirks.pt")).unwrap();
    let mut archive = zip::ZipArchive::new(src).unwrap();
    let out = dir.path().join("deflated.pt");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&out).unwrap());
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).unwrap();
        let name = member.name().unwrap().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut member, &mut bytes).unwrap();
        writer.start_file(name, opts).unwrap();
        writer.write_all(&bytes).unwrap();
    }
    writer.finish().unwrap();
    let source = TorchSource::open(&out).unwrap();
    check_against(&source, &reference("torch-quirks.pt.json"), torch_names);
}

#[test]
fn listing_needs_the_pickle_only() {
    // The same checkpoint without any storage member lists the same tensors; only views fail.
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::File::open(fixture("torch-quirks.pt")).unwrap();
    let mut archive = zip::ZipArchive::new(src).unwrap();
    let out = dir.path().join("nodata.pt");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&out).unwrap());
    for i in 0..archive.len() {
        let member = archive.by_index_raw(i).unwrap();
        if !member.name().unwrap().contains("/data/") {
            writer.raw_copy_file(member).unwrap();
        }
    }
    writer.finish().unwrap();
    let full = TorchSource::open(&fixture("torch-quirks.pt")).unwrap();
    let bare = TorchSource::open(&out).unwrap();
    let shapes = |s: &TorchSource| {
        s.tensors().iter().map(|t| (t.name.clone(), t.shape.clone(), t.dtype_name.to_string())).collect::<Vec<_>>()
    };
    assert_eq!(shapes(&full), shapes(&bare));
    assert!(bare.view(0).is_err());
}

#[test]
fn sharded_checkpoint_through_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let a = Pickle::new()
        .op(b"}(")
        .str("a")
        .tensor("0", 2, 0, &[2], &[1])
        .str("b")
        .tensor("0", 2, 0, &[2], &[1])
        .op(b"u")
        .stop();
    let b = Pickle::new().op(b"}(").str("b").tensor("0", 2, 0, &[2], &[1]).op(b"u").stop();
    write_zip(&dir.path().join("pytorch_model-00001-of-00002.bin"), &a, &[("0", f32_bytes(&[1.0, 2.0]))], false);
    write_zip(&dir.path().join("pytorch_model-00002-of-00002.bin"), &b, &[("0", f32_bytes(&[5.0, 6.0]))], false);
    let index = dir.path().join("pytorch_model.bin.index.json");
    std::fs::write(
        &index,
        r#"{"metadata": {}, "weight_map": {"a": "pytorch_model-00001-of-00002.bin", "b": "pytorch_model-00002-of-00002.bin"}}"#,
    )
    .unwrap();
    let source = weightlens_readers::open_path(&index).unwrap();
    let names: Vec<&str> = source.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(source.view(1).unwrap().to_f64_vec().unwrap(), [5.0, 6.0], "b comes from the shard the index names");
}

#[test]
fn torch_fixtures_exist() {
    // Guard against a silently empty fixture directory: every torch fixture must exist.
    for f in ["torch-quirks.pt", "gpt2-tiny-legacy.bin", "qwen-moe-tiny/pytorch_model.bin", "bad/malicious-pickle.bin"]
    {
        assert!(fixture(f).is_file(), "missing fixture {f}");
    }
}

#[test]
fn truncated_legacy_file_keeps_the_storages_it_still_holds() {
    let bytes = std::fs::read(fixture("gpt2-tiny-legacy.bin")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.bin");
    std::fs::write(&path, &bytes[..bytes.len() - 1000]).unwrap();
    let source = TorchSource::open(&path).unwrap();
    assert_eq!(source.tensors().len(), 14, "the tensor list comes from the pickle");
    let ok = (0..14).filter(|&i| source.view(i).is_ok()).count();
    assert!(ok > 0 && ok < 14, "{ok} of 14 readable");
    assert!(source.warnings().iter().any(|w| w.contains("past the end")), "{:?}", source.warnings());
    // Cut inside the pickles: the file is malformed, not a panic.
    for cut in [14, 20, 100, 500, 1600, 1700] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = TorchSource::open(&path).unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "cut at {cut}: {err}");
    }
}

#[test]
fn malformed_zips_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.pt");
    let mut garbage = b"PK\x03\x04".to_vec();
    garbage.extend([0u8; 22]);
    garbage.extend(16u16.to_le_bytes());
    garbage.extend([0u8; 2]);
    garbage.extend(b"archive/data.pkl");
    garbage.extend([0xAB; 64]);
    std::fs::write(&path, &garbage).unwrap();
    assert!(TorchSource::open(&path).unwrap_err().to_string().contains("zip"));

    write_members(&path, &[("archive/version".to_string(), b"3\n".to_vec())], false);
    assert!(TorchSource::open(&path).unwrap_err().to_string().contains("data.pkl"));

    let pickle = Pickle::new().op(b"N").stop();
    write_zip(&path, &pickle, &[], false);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(6).position(|w| w == b"little").unwrap();
    bytes[at..at + 6].copy_from_slice(b"middle");
    std::fs::write(&path, &bytes).unwrap();
    assert!(TorchSource::open(&path).unwrap_err().to_string().contains("byteorder"));
}

#[test]
fn big_endian_storages_are_swapped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("be.pt");
    let pickle = Pickle::new().op(b"}(").str("w").tensor("0", 2, 0, &[2], &[1]).op(b"u").stop();
    let data: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_be_bytes()).collect();
    let members = [
        ("archive/data.pkl".to_string(), pickle),
        ("archive/byteorder".to_string(), b"big".to_vec()),
        ("archive/data/0".to_string(), data),
    ];
    write_members(&path, &members, false);
    let source = TorchSource::open(&path).unwrap();
    assert_eq!(source.metadata()["byteorder"], "big");
    assert_eq!(source.view(0).unwrap().to_f64_vec().unwrap(), [1.5, -2.0]);
}

#[test]
fn mutated_checkpoints_never_panic() {
    // A cheap in-test fuzz pass (the fuzz targets go further): flip bytes of real checkpoints
    // and read everything that still opens.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mutated");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in ["torch-quirks.pt", "gpt2-tiny-legacy.bin"] {
        let original = std::fs::read(fixture(name)).unwrap();
        for _ in 0..150 {
            let mut bytes = original.clone();
            for _ in 0..1 + next() % 8 {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = next() as u8;
            }
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(source) = TorchSource::open(&path) {
                for i in 0..source.tensors().len() {
                    if let Ok(view) = source.view(i) {
                        let _ = view.to_f64_vec();
                    }
                }
            }
        }
    }
}

#[test]
fn unsupported_dtypes_fail_their_tensor_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("complex.pt");
    let pickle = Pickle::new()
        .op(b"}(")
        .str("c")
        .tensor_of("ComplexFloatStorage", "0", 2, 0, &[2], &[1])
        .str("q")
        .tensor_of("QInt8Storage", "1", 4, 0, &[4], &[1])
        .str("f")
        .tensor("2", 1, 0, &[], &[])
        .op(b"u")
        .stop();
    let storages = [("0", vec![0u8; 16]), ("1", vec![0u8; 4]), ("2", f32_bytes(&[2.5]))];
    write_zip(&path, &pickle, &storages, false);
    let source = TorchSource::open(&path).unwrap();
    let names: Vec<(&str, &str)> = source.tensors().iter().map(|t| (t.name.as_str(), t.dtype_name.as_ref())).collect();
    assert_eq!(names, [("c", "complex64"), ("q", "qint8"), ("f", "float32")]);
    for i in 0..2 {
        let err = source.view(i).unwrap_err();
        assert!(matches!(err, Error::Tensor { .. }) && err.to_string().contains("unsupported dtype"), "{err}");
    }
    assert_eq!(source.view(2).unwrap().to_f64_vec().unwrap(), [2.5]);
}

/// Fuzzing finding (pickle target, 2026-11-26): 4.5 KB of memo references to empty dicts took
/// about a second to search (4M paths, each checked against the path for cycles). Shared
/// containers without tensors are now searched once.
#[test]
fn fuzz_regression_pickle_path_bomb_is_searched_in_linear_time() {
    let data = std::fs::read(fixture("fuzz-regressions/pickle-path-bomb.pkl")).unwrap();
    let path = Path::new("pickle-path-bomb.pkl");
    let parsed = weightlens_readers::pytorch::pickle::parse(&data, path, 0).unwrap();
    let contents = weightlens_readers::pytorch::walk::walk(&parsed, "root", path).unwrap();
    assert!(contents.visits < 10 * parsed.nodes.len(), "{} visits of {} nodes", contents.visits, parsed.nodes.len());
}
