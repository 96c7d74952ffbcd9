//! `weightlens.scan`, `weightlens.diff` and `weightlens.download`.

use std::collections::HashMap;
use std::path::PathBuf;

use pyo3::prelude::*;
use rayon::prelude::*;
use weightlens_engine::diff::mapfile::UserMap;
use weightlens_engine::diff::{diff as engine_diff, DiffConfig, DiffError};
use weightlens_engine::meta::{now_rfc3339, CodeVersion};
use weightlens_engine::pipeline::default_max_memory;
use weightlens_hub::{DownloadRequest, NoProgress};
use weightlens_readers::imatrix::Imatrix;
use weightlens_readers::safety::{self, FileScan};
use weightlens_readers::OpenOptions;

use crate::analyze::{filter_regex, in_pool, rank_mode, run_interruptible, thread_pool, to_pyarrow, Counters};
use crate::errors;
use crate::model::json_to_py;

/// The schema metadata key holding the diff's metadata (as JSON text).
pub const DIFF_META_KEY: &str = "weightlens.diff_meta";

/// `weightlens.scan`: the pickle safety verdict of every file under `path`.
#[pyfunction]
pub fn scan<'py>(py: Python<'py>, path: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let paths = crate::paths_arg(&path)?;
    let (scans, errs): (Vec<FileScan>, Vec<weightlens_core::Error>) = py.detach(|| {
        let (files, errors) = safety::files_to_scan(&paths);
        (files.par_iter().map(|p| safety::scan_file(p)).collect(), errors)
    });
    if let Some(e) = errs.first() {
        return Err(errors::core(e));
    }
    let json = serde_json::to_value(&scans).map_err(|e| errors::WeightlensError::new_err(e.to_string()))?;
    json_to_py(py, &json)
}

/// `weightlens.diff`: the per-tensor comparison of two models as a `pyarrow.Table`.
#[pyfunction]
#[pyo3(signature = (a, b, *, rank="exact", filter=None, map=None, imatrix=None, threads=None, max_memory=None,
    max_tensor_bytes=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn diff<'py>(
    py: Python<'py>,
    a: PathBuf,
    b: PathBuf,
    rank: &str,
    filter: Option<&str>,
    map: Option<PathBuf>,
    imatrix: Option<PathBuf>,
    threads: Option<usize>,
    max_memory: Option<u64>,
    max_tensor_bytes: Option<u64>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let started_at = now_rfc3339();
    let user_map = match &map {
        Some(p) => UserMap::read(p).map_err(|e| errors::WeightlensError::new_err(e.to_string()))?,
        None => UserMap::default(),
    };
    let mut open_options = OpenOptions::default();
    if let Some(bytes) = max_tensor_bytes {
        open_options.max_tensor_bytes = bytes;
    }
    let config = DiffConfig {
        a,
        b,
        filter: filter_regex(filter)?,
        rank: rank_mode(rank)?,
        max_memory: max_memory.unwrap_or_else(default_max_memory),
        user_map,
        open_options,
        imatrix: match &imatrix {
            Some(p) => Some(std::sync::Arc::new(Imatrix::open(p).map_err(|e| errors::core(&e))?)),
            None => None,
        },
    };
    let pool = thread_pool(threads)?;
    let counters = Counters::default();
    let result = run_interruptible(py, &counters, progress.as_ref(), || {
        in_pool(pool.as_ref(), || engine_diff(&config, &started_at))
    })?;
    let result = result.map_err(|e| match &e {
        DiffError::Open(c) => errors::core(c),
        _ => errors::WeightlensError::new_err(e.to_string()),
    })?;
    let meta = serde_json::json!({
        "command": "diff",
        "code_version": CodeVersion::current(),
        "a": result.sides[0],
        "b": result.sides[1],
        "rank": config.rank.as_str(),
        "map": map,
        "imatrix": imatrix,
        "filter": filter,
        "started_at": started_at,
        "finished_at": now_rfc3339(),
        "matched": result.matched,
        "only_in_a": result.only_in_a,
        "only_in_b": result.only_in_b,
        "shape_mismatch": result.mismatched,
        "errors": result.errors,
    });
    to_pyarrow(py, &result.schema, &result.rows, HashMap::from([(DIFF_META_KEY.to_string(), meta.to_string())]))
}

/// `weightlens.download`: the model's files (by default its weights, their index files and
/// config.json) in the Hugging Face cache or `local_dir`; returns the folder holding them.
#[pyfunction]
#[pyo3(signature = (repo_id, *, revision=None, include=Vec::new(), exclude=Vec::new(), local_dir=None, mirrors=Vec::new()))]
pub fn download(
    py: Python<'_>,
    repo_id: String,
    revision: Option<String>,
    include: Vec<String>,
    exclude: Vec<String>,
    local_dir: Option<PathBuf>,
    mirrors: Vec<String>,
) -> PyResult<String> {
    let request = DownloadRequest { model_id: repo_id, revision, include, exclude, out: local_dir, mirror: mirrors };
    let report = py.detach(|| weightlens_hub::run_download(&request, &NoProgress)).map_err(|e| errors::hub(&e))?;
    Ok(report.path.display().to_string())
}
