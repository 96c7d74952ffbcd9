//! Shared helpers of the end-to-end tests: running the binary, reading references, comparing
//! rows with docs/output-spec.md's tolerances.
#![allow(dead_code, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use weightlens_core::Value;
use weightlens_engine::export::{read_table, Table};

/// A fetched real model under data/models/, or None (locally) when it has not been fetched;
/// under CI a missing model is a failure, not a skip.
pub fn real_model(rel: &str) -> Option<PathBuf> {
    let path = root().join("data/models").join(rel);
    if path.exists() {
        return Some(path);
    }
    assert!(std::env::var_os("CI").is_none(), "{} is missing: run python3 scripts/fetch-models.py", path.display());
    eprintln!("SKIPPED: {} not fetched (python3 scripts/fetch-models.py)", path.display());
    None
}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A path under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

/// Runs `weightlens ARGS...`.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weightlens")).args(args).output().expect("run weightlens")
}

/// One tensor of a reference JSON (numpy float64 statistics).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RefTensor {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub numel: u64,
    pub nan_count: u64,
    pub inf_count: u64,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub var: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub sparsity: Option<f64>,
    pub rows: Option<u64>,
    pub cols: Option<u64>,
    pub rank: Option<u64>,
    pub finite_mean: Option<f64>,
}

#[derive(serde::Deserialize)]
struct RefFile {
    tensors: Vec<RefTensor>,
}

/// Reads a reference: `fixtures/reference/NAME` (NaN is written as a bare `NaN` there).
pub fn reference(name: &str) -> Vec<RefTensor> {
    reference_at(&fixture("reference").join(name))
}

/// Reads the reference JSON at `path` (see [`reference`]).
pub fn reference_at(path: &Path) -> Vec<RefTensor> {
    let text = std::fs::read_to_string(path).expect("reference file");
    // The references are written by Python's json, which spells NaN as a bare word.
    let text = text.replace(": NaN", ": \"NaN\"");
    let value: serde_json::Value = serde_json::from_str(&text).expect("reference JSON");
    let value = nan_strings_to_null_marker(value);
    serde_json::from_value::<RefFile>(value).expect("reference shape").tensors
}

/// NaN cannot be an `Option<f64>` in serde_json: keep it as a sentinel float.
fn nan_strings_to_null_marker(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) if s == "NaN" => serde_json::json!(NAN_MARKER),
        serde_json::Value::Array(a) => a.into_iter().map(nan_strings_to_null_marker).collect(),
        serde_json::Value::Object(o) => o.into_iter().map(|(k, v)| (k, nan_strings_to_null_marker(v))).collect(),
        other => other,
    }
}

/// Stands for NaN in parsed references.
pub const NAN_MARKER: f64 = -1.234_567_890_123e300;

/// Relative tolerance of float statistics (SPEC tests: 1e-9, absolute 1e-12 near zero).
pub const REL_TOL: f64 = 1e-9;
/// Absolute tolerance near zero.
pub const ABS_TOL: f64 = 1e-12;

fn close(got: Option<f64>, want: Option<f64>, what: &str, name: &str) -> Result<(), String> {
    match (got, want) {
        (None, None) => Ok(()),
        (Some(g), Some(w)) if w == NAN_MARKER => {
            if g.is_nan() {
                Ok(())
            } else {
                Err(format!("{name}: {what} = {g}, want NaN"))
            }
        }
        (Some(g), Some(w)) if g == w || (g - w).abs() <= ABS_TOL.max(REL_TOL * w.abs()) => Ok(()),
        (g, w) => Err(format!("{name}: {what} = {g:?}, want {w:?}")),
    }
}

/// A table row by parameter name.
pub fn row_value<'t>(table: &'t Table, name: &str, column: &str) -> Option<&'t Value> {
    let i = table.schema.index_of("param_name")?;
    let row = table.rows.iter().find(|r| r.values[i].as_str() == Some(name))?;
    row.get(&table.schema, column)
}

/// Compares every reference tensor with its row; returns the mismatches.
pub fn compare(table: &Table, refs: &[RefTensor]) -> Vec<String> {
    let mut problems = Vec::new();
    for r in refs {
        let get = |c: &str| row_value(table, &r.name, c).cloned().unwrap_or(Value::Null);
        if table.schema.index_of("param_name").is_none()
            || !table
                .rows
                .iter()
                .any(|row| row.get(&table.schema, "param_name").and_then(Value::as_str) == Some(&r.name))
        {
            problems.push(format!("{}: no row", r.name));
            continue;
        }
        let dims: Vec<String> = r.shape.iter().map(u64::to_string).collect();
        let shape = format!("[{}]", dims.join(", "));
        let checks: Vec<Result<(), String>> = vec![
            eq(get("shape").as_str().map(String::from), Some(shape), "shape", &r.name),
            eq(get("dtype").as_str().map(canonical_dtype), Some(canonical_dtype(&r.dtype)), "dtype", &r.name),
            eq(get("numel").as_i64(), Some(r.numel as i64), "numel", &r.name),
            eq(get("nan_count").as_i64(), Some(r.nan_count as i64), "nan_count", &r.name),
            eq(get("inf_count").as_i64(), Some(r.inf_count as i64), "inf_count", &r.name),
            eq(get("rows").as_i64(), r.rows.map(|v| v as i64), "rows", &r.name),
            eq(get("cols").as_i64(), r.cols.map(|v| v as i64), "cols", &r.name),
            eq(get("rank").as_i64(), r.rank.map(|v| v as i64), "rank", &r.name),
            eq(get("sparsity").as_f64(), r.sparsity, "sparsity", &r.name),
            close(get("mean").as_f64(), r.mean, "mean", &r.name),
            close(get("std").as_f64(), r.std, "std", &r.name),
            close(get("var").as_f64(), r.var, "var", &r.name),
            close(get("min").as_f64(), r.min, "min", &r.name),
            close(get("max").as_f64(), r.max, "max", &r.name),
            close(get("finite_mean").as_f64(), r.finite_mean, "finite_mean", &r.name),
        ];
        problems.extend(checks.into_iter().filter_map(Result::err));
    }
    problems
}

/// One spelling per dtype, so that references written with another vocabulary (`torch.int64`,
/// or `F16` for a torch file) compare by meaning; the vocabulary itself is tested separately.
pub fn canonical_dtype(name: &str) -> String {
    let n = name.trim_start_matches("torch.").to_ascii_lowercase();
    let canonical = match n.as_str() {
        "f64" => "float64",
        "f32" => "float32",
        "f16" => "float16",
        "bf16" => "bfloat16",
        "f8_e4m3" => "float8_e4m3fn",
        "f8_e5m2" => "float8_e5m2",
        "i64" => "int64",
        "i32" => "int32",
        "i16" => "int16",
        "i8" => "int8",
        "u8" => "uint8",
        "u16" => "uint16",
        "u32" => "uint32",
        "u64" => "uint64",
        other => other,
    };
    canonical.to_string()
}

fn eq<T: PartialEq + std::fmt::Debug>(got: T, want: T, what: &str, name: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{name}: {what} = {got:?}, want {want:?}"))
    }
}

/// Reads a table written by the binary.
pub fn table(path: &Path) -> Table {
    read_table(path).unwrap_or_else(|e| panic!("read back {}: {e}", path.display()))
}

/// Asserts the rows are in docs/output-spec.md's order: layer rows by stack then layer index ascending,
/// non-layer rows last.
pub fn assert_sorted(table: &Table) {
    let stack = |r: &weightlens_core::Row| {
        let s = r.get(&table.schema, "stack").and_then(Value::as_str).unwrap_or("");
        weightlens_core::Stack::from_column(s).map_or(u8::MAX, weightlens_core::Stack::rank)
    };
    let layers: Vec<Option<(u8, i64)>> = table
        .rows
        .iter()
        .map(|r| r.get(&table.schema, "layer_index").and_then(Value::as_i64).map(|l| (stack(r), l)))
        .collect();
    let first_none = layers.iter().position(Option::is_none).unwrap_or(layers.len());
    assert!(layers[first_none..].iter().all(Option::is_none), "non-layer rows must come last: {layers:?}");
    assert!(layers[..first_none].windows(2).all(|w| w[0] <= w[1]), "layer order: {layers:?}");
}

/// The seed columns, in order (docs/output-spec.md).
pub const SEED_COLUMNS: &str =
    "model_path,model_id,revision,param_name,layer_index,block_type,shape,rows,cols,rank,mean,std,var,sparsity,dtype,created_at";

/// A safetensors file of f32 tensors, written by hand.
pub fn write_safetensors(path: &Path, tensors: &[(&str, &[u64], Vec<f32>)]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let start = data.len();
        data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        header.insert(
            (*name).to_string(),
            serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": [start, data.len()] }),
        );
    }
    let header = serde_json::to_vec(&header).expect("header JSON");
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header);
    bytes.extend(data);
    std::fs::write(path, bytes).expect("write the safetensors file");
}

/// Cell-by-cell equality of two tables except `created_at`; floats bit for bit (NaN = NaN).
pub fn assert_same_table(a: &Table, b: &Table) {
    let names = |t: &Table| t.schema.columns().iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(a), names(b));
    assert_eq!(a.rows.len(), b.rows.len());
    let skip = a.schema.index_of("created_at");
    for (i, (ra, rb)) in a.rows.iter().zip(&b.rows).enumerate() {
        for (c, (va, vb)) in ra.values.iter().zip(&rb.values).enumerate() {
            if Some(c) == skip {
                continue;
            }
            let same = match (va, vb) {
                (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                _ => va == vb,
            };
            assert!(same, "row {i}, column {}: {va:?} != {vb:?}", a.schema.columns()[c].name);
        }
    }
}
