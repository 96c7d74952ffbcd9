//! `weightlens.analyze`: the engine's run, off the GIL, on a thread of its own while the calling
//! thread watches for Ctrl-C and feeds the progress callback; the rows handed to pyarrow through
//! the Arrow C data interface (no copy), the run metadata in the schema metadata.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_pyarrow::IntoPyArrow;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use weightlens_analyzers::conv::ConvMode;
use weightlens_analyzers::stats::DEFAULT_ZERO_EPS;
use weightlens_analyzers::RankMode;
use weightlens_core::{Row, Schema};
use weightlens_engine::meta::{now_rfc3339, Limits, RunInfo, RunMeta, ShardMeta, Thresholds};
use weightlens_engine::pipeline::{analyze_with_progress, Analysis, Progress, RunError};
use weightlens_engine::plugins::load_run_plugins;
use weightlens_engine::shard::Shard;
use weightlens_engine::AnalyzeConfig;

use crate::errors;

/// The schema metadata key holding `run_meta.json` (as JSON text).
pub const RUN_META_KEY: &str = "weightlens.run_meta";

/// How often the calling thread checks for Ctrl-C and reports progress.
const TICK: Duration = Duration::from_millis(100);

/// Counters the workers update and the calling thread reads.
#[derive(Debug, Default)]
pub struct Counters {
    tensors: AtomicUsize,
    bytes: AtomicU64,
    done: AtomicUsize,
    done_bytes: AtomicU64,
    cancelled: AtomicBool,
}

impl Progress for Counters {
    fn opened(&self, _files: usize, tensors: usize, bytes: u64) {
        self.tensors.store(tensors, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    fn tensor_done(&self, bytes: u64) {
        self.done.fetch_add(1, Ordering::Relaxed);
        self.done_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

impl Counters {
    /// Calls `callback(tensors_done, tensors_total, bytes_done, bytes_total)`.
    fn report(&self, callback: &Bound<'_, PyAny>) -> PyResult<()> {
        callback.call1((
            self.done.load(Ordering::Relaxed),
            self.tensors.load(Ordering::Relaxed),
            self.done_bytes.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        ))?;
        Ok(())
    }
}

/// Runs `work` on a thread of its own with the GIL released. Every [`TICK`] the calling thread
/// takes the GIL back to check for signals (Ctrl-C raises `KeyboardInterrupt` in the caller
/// only on the main thread) and to call `callback`; an exception from either cancels the run
/// (the workers skip the tensors not yet started) and is raised once the run has stopped.
pub fn run_interruptible<T: Send>(
    py: Python<'_>,
    counters: &Counters,
    callback: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    let callback = callback.map(|c| c.clone().unbind());
    let (result, failure) = py.detach(|| {
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel();
            scope.spawn(move || {
                // The receiver lives until the result arrives.
                let _ = tx.send(work());
            });
            let mut failure: Option<PyErr> = None;
            loop {
                match rx.recv_timeout(TICK) {
                    Ok(result) => return (Some(result), failure),
                    Err(mpsc::RecvTimeoutError::Disconnected) => return (None, failure),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                if failure.is_some() {
                    continue;
                }
                let outcome = Python::attach(|py| {
                    py.check_signals()?;
                    match &callback {
                        Some(cb) => counters.report(cb.bind(py)),
                        None => Ok(()),
                    }
                });
                if let Err(e) = outcome {
                    counters.cancelled.store(true, Ordering::Relaxed);
                    failure = Some(e);
                }
            }
        })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    if let (Some(cb), Some(_)) = (callback, result.as_ref()) {
        counters.report(cb.bind(py))?;
    }
    result.ok_or_else(|| PyRuntimeError::new_err("the analysis thread panicked"))
}

/// `spectral=`: `False`, `True`, or `"full"` (also `rand_distance`), as the CLI's `--spectral[=full]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpectralArg {
    /// No spectral columns.
    Off,
    /// The spectral columns.
    On,
    /// The spectral columns and `rand_distance`.
    Full,
}

impl<'py> FromPyObject<'_, 'py> for SpectralArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(on) = obj.extract::<bool>() {
            return Ok(if on { SpectralArg::On } else { SpectralArg::Off });
        }
        match obj.extract::<String>().as_deref() {
            Ok("full") => Ok(SpectralArg::Full),
            _ => Err(PyValueError::new_err("spectral must be True, False or \"full\"")),
        }
    }
}

/// `rank=` as the engine's mode.
pub fn rank_mode(rank: &str) -> PyResult<RankMode> {
    match rank {
        "exact" => Ok(RankMode::Exact),
        "approx" => Ok(RankMode::Approx),
        "auto" => Ok(RankMode::Auto),
        "none" => Ok(RankMode::None),
        other => Err(PyValueError::new_err(format!("rank must be exact, approx, auto or none, not {other:?}"))),
    }
}

/// `filter=` as a compiled regular expression.
pub fn filter_regex(filter: Option<&str>) -> PyResult<Option<regex::Regex>> {
    filter
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| PyValueError::new_err(format!("filter is not a regular expression: {e}")))
}

/// A rayon pool of `threads` workers, or None for the global one (all cores).
pub fn thread_pool(threads: Option<usize>) -> PyResult<Option<rayon::ThreadPool>> {
    match threads {
        None => Ok(None),
        Some(0) => Err(PyValueError::new_err("threads must be at least 1")),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map(Some)
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start {n} threads: {e}"))),
    }
}

/// Runs `f` in `pool`, or on the global pool.
pub fn in_pool<T: Send>(pool: Option<&rayon::ThreadPool>, f: impl FnOnce() -> T + Send) -> T {
    match pool {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// Rows as a `pyarrow.Table` whose schema metadata holds `metadata`.
pub fn to_pyarrow<'py>(
    py: Python<'py>,
    schema: &Schema,
    rows: &[Row],
    metadata: HashMap<String, String>,
) -> PyResult<Bound<'py, PyAny>> {
    let batch = weightlens_engine::export::record_batch(schema, rows)
        .map_err(|e| errors::WeightlensError::new_err(format!("cannot build the arrow table: {e}")))?;
    let arrow_schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata));
    let batch = RecordBatch::try_new(arrow_schema.clone(), batch.columns().to_vec())
        .map_err(|e| errors::WeightlensError::new_err(e.to_string()))?;
    let table = arrow_pyarrow::Table::try_new(vec![batch], arrow_schema)
        .map_err(|e| errors::WeightlensError::new_err(e.to_string()))?;
    table.into_pyarrow(py)
}

/// The analysis, see `weightlens/__init__.pyi`.
#[pyfunction]
#[pyo3(signature = (paths, *, rank="exact", spectral=SpectralArg::Off, conv="reshape", filter=None, zero_eps=DEFAULT_ZERO_EPS, threads=None,
    split_experts=false, shard=None, plugins=Vec::new(), model_id=None, revision=None, progress=None,
    max_memory=None, max_tensor_bytes=None, allow_unsafe_pickle=false))]
#[allow(clippy::too_many_arguments)]
pub fn analyze<'py>(
    py: Python<'py>,
    paths: Bound<'py, PyAny>,
    rank: &str,
    spectral: SpectralArg,
    conv: &str,
    filter: Option<&str>,
    zero_eps: f64,
    threads: Option<usize>,
    split_experts: bool,
    shard: Option<(usize, usize)>,
    plugins: Vec<PathBuf>,
    model_id: Option<String>,
    revision: Option<String>,
    progress: Option<Bound<'py, PyAny>>,
    max_memory: Option<u64>,
    max_tensor_bytes: Option<u64>,
    allow_unsafe_pickle: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let start = Instant::now();
    let started_at = now_rfc3339();
    let shard = shard
        .map(|(index, count)| Shard::parse(&format!("{index}/{count}"), |_| None))
        .transpose()
        .map_err(|e| PyValueError::new_err(format!("shard: {e}")))?;
    let plugins = load_run_plugins(&plugins);
    let mut config = AnalyzeConfig::new(crate::paths_arg(&paths)?);
    config.model_id = model_id;
    config.revision = revision;
    config.filter = filter_regex(filter)?;
    config.zero_eps = zero_eps;
    config.rank = rank_mode(rank)?;
    config.spectral = spectral != SpectralArg::Off;
    config.spectral_full = spectral == SpectralArg::Full;
    config.conv = ConvMode::from_str(conv).map_err(|e| PyValueError::new_err(format!("conv: {e}")))?;
    if let Some(bytes) = max_memory {
        config.max_memory = bytes;
    }
    if let Some(bytes) = max_tensor_bytes {
        config.open_options.max_tensor_bytes = bytes;
    }
    config.open_options.allow_unsafe_pickle = allow_unsafe_pickle;
    config.extra_analyzers = plugins.analyzers;
    config.readers = plugins.readers;
    config.split_experts = split_experts;
    config.shard = shard;
    let pool = thread_pool(threads)?;
    let counters = Counters::default();
    let (mut analysis, limits): (Analysis, Limits) = run_interruptible(py, &counters, progress.as_ref(), || {
        in_pool(pool.as_ref(), || (analyze_with_progress(&config, &started_at, &counters), Limits::for_config(&config)))
    })?;
    analysis.errors.splice(0..0, plugins.errors.iter().map(RunError::from));
    if analysis.rows.is_empty() {
        // Nothing to return: what failed is the answer (the CLI writes no table either).
        if let Some(first) = analysis.errors.first() {
            let more = match analysis.errors.len() {
                1 => String::new(),
                n => format!(" (and {} more errors)", n - 1),
            };
            return Err(errors::from_kind(first.kind, format!("{}{more}", first.message)));
        }
    }
    let info = RunInfo {
        cli_args: Vec::new(),
        thresholds: Thresholds::for_config(&config),
        limits,
        output: None,
        format: None,
        started_at: &started_at,
        duration: start.elapsed(),
    };
    let mut meta = RunMeta::new(&analysis, info, None);
    meta.plugins = plugins.records;
    meta.shard = shard.map(|s| ShardMeta::new(s, &analysis));
    let json = serde_json::to_string(&meta)
        .map_err(|e| errors::WeightlensError::new_err(format!("cannot encode run_meta: {e}")))?;
    to_pyarrow(py, &analysis.schema, &analysis.rows, HashMap::from([(RUN_META_KEY.to_string(), json)]))
}
