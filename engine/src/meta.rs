//! `run_meta.json`: the provenance of a table (docs/output-spec.md "run_meta.json").

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use weightlens_analyzers::spectral_summary::{spectral_summary, ModelSpectralSummary};

use weightlens_analyzers::plugin::PluginInfo;
use weightlens_analyzers::rank::RANK_RTOL;

use crate::export::{read_table, write_atomic, OutputFormat};
use crate::pipeline::{Analysis, AnalyzeConfig, Duplicate, ModelSummary, RunError};
use crate::shard::Shard;

/// The crate version and the git commit it was built from.
#[derive(Clone, Debug, Serialize)]
pub struct CodeVersion {
    /// weightlens's version.
    pub crate_version: &'static str,
    /// The git commit (`-dirty` when built from a modified tree).
    pub git_commit: &'static str,
}

impl CodeVersion {
    /// The running binary's version.
    pub fn current() -> Self {
        CodeVersion { crate_version: env!("CARGO_PKG_VERSION"), git_commit: env!("WEIGHTLENS_GIT_COMMIT") }
    }
}

/// Where the analysis ran.
#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    /// `rustc --version` of the build.
    pub rustc: &'static str,
    /// Operating system.
    pub os: &'static str,
    /// CPU architecture.
    pub arch: &'static str,
    /// The CPU model (Linux: from /proc/cpuinfo).
    pub cpu: Option<String>,
    /// Worker threads used.
    pub threads: usize,
}

impl Environment {
    /// The current environment.
    pub fn current() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        });
        Environment {
            rustc: env!("WEIGHTLENS_RUSTC_VERSION"),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            cpu,
            threads: rayon::current_num_threads(),
        }
    }
}

/// The result of reading the written table back (the seed's final Validate step).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Validation {
    /// True when every check passed.
    pub ok: bool,
    /// Rows read back.
    pub rows_read: usize,
    /// Rows expected (tensors analyzed).
    pub rows_expected: usize,
    /// What failed.
    pub problems: Vec<String>,
}

/// Reads `path` back and checks it against what was written: row count, column names in order,
/// and no row without a name or shape.
pub fn validate_output(path: &Path, analysis: &Analysis) -> Validation {
    validate_table(path, &analysis.schema, analysis.rows.len())
}

/// [`validate_output`] for a table of `schema` with `rows_expected` rows.
pub fn validate_table(path: &Path, schema: &weightlens_core::Schema, rows_expected: usize) -> Validation {
    let mut problems = Vec::new();
    let table = match read_table(path) {
        Ok(t) => t,
        Err(e) => {
            return Validation { ok: false, rows_read: 0, rows_expected, problems: vec![e.to_string()] };
        }
    };
    if table.rows.len() != rows_expected {
        problems.push(format!("{} rows read back, {rows_expected} written", table.rows.len()));
    }
    let names = |s: &weightlens_core::Schema| s.columns().iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    if names(&table.schema) != names(schema) {
        problems.push("columns read back differ from the columns written".into());
    }
    for key in [weightlens_core::table::columns::PARAM_NAME, weightlens_core::table::columns::SHAPE] {
        let missing = table.rows.iter().filter(|r| r.get(&table.schema, key).is_none_or(|v| v.is_null())).count();
        if missing > 0 {
            problems.push(format!("{missing} rows without {key}"));
        }
    }
    Validation { ok: problems.is_empty(), rows_read: table.rows.len(), rows_expected, problems }
}

/// Resource limits of the run (they may differ between the shards of one run).
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct Limits {
    /// `--max-memory`: working memory for ranks and spectra, in bytes.
    pub max_memory: u64,
    /// `--max-tensor-bytes`: largest tensor copied into memory to be read.
    pub max_tensor_bytes: u64,
    /// Worker threads.
    pub threads: usize,
}

impl Limits {
    /// The limits of a run of `config` on the current rayon pool.
    pub fn for_config(config: &AnalyzeConfig) -> Self {
        Limits {
            max_memory: config.max_memory,
            max_tensor_bytes: config.open_options.max_tensor_bytes,
            threads: rayon::current_num_threads(),
        }
    }
}

/// Thresholds used by the run.
#[derive(Clone, Debug, Serialize)]
pub struct Thresholds {
    /// `abs(x) <= zero_eps` counts as zero.
    pub zero_eps: f64,
    /// Singular values `> rank_rtol * sigma_max` count toward the rank.
    pub rank_rtol: f64,
    /// The rank method (`exact`, `none`).
    pub rank: &'static str,
    /// How `--spectral` analyzed 4-D tensors (`--conv`: `reshape`, `ww`).
    pub conv: &'static str,
}

impl Thresholds {
    /// The thresholds of a run of `config`.
    pub fn for_config(config: &AnalyzeConfig) -> Self {
        Thresholds {
            zero_eps: config.zero_eps,
            rank_rtol: RANK_RTOL,
            rank: config.rank.as_str(),
            conv: config.conv.as_str(),
        }
    }
}

/// The whole `run_meta.json`.
#[derive(Clone, Debug, Serialize)]
pub struct RunMeta {
    /// The `model_id` of each model (one entry per model).
    pub model_id: Vec<String>,
    /// The `revision` of each model.
    pub revision: Vec<String>,
    /// The path of each model.
    pub model_path: Vec<String>,
    /// Frameworks present.
    pub framework: Vec<String>,
    /// weightlens version and commit.
    pub code_version: CodeVersion,
    /// Build and machine.
    pub environment: Environment,
    /// The command line.
    pub cli_args: Vec<String>,
    /// Thresholds.
    pub thresholds: Thresholds,
    /// Resource limits.
    pub limits: Limits,
    /// The table written.
    pub output: Option<PathBuf>,
    /// Its format (None for a run kept in memory, e.g. from Python).
    pub format: Option<&'static str>,
    /// Run start (RFC 3339 UTC, also the `created_at` of every row).
    pub started_at: String,
    /// Run end.
    pub finished_at: String,
    /// Seconds.
    pub duration_s: f64,
    /// Tensors selected for analysis.
    pub tensors_selected: usize,
    /// Rows written.
    pub tensor_count: usize,
    /// Everything that failed.
    pub errors: Vec<RunError>,
    /// Warnings of all models together (each model lists its own in `models`), e.g. tensors
    /// that look quantized but could not be dequantized.
    pub warning_count: usize,
    /// Models opened, with their format metadata.
    pub models: Vec<ModelSummary>,
    /// The read-back check of the table.
    pub validation: Option<Validation>,
    /// Analyzer plugins loaded (path, name, version, ABI, metrics, thread safety).
    pub plugins: Vec<serde_json::Value>,
    /// Tensors of one model stored twice or more (same bytes, dtype and shape).
    pub duplicates: Vec<Duplicate>,
    /// With `--spectral`: per model, the means of WeightWatcher's `get_summary()` metrics over
    /// the matrices it analyzes (`weightlens_analyzers::spectral_summary`); absent otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spectral_summary: Vec<serde_json::Value>,
    /// Flagged tensors: kind, model, tensor, value, peer median, robust score, detail
    /// (rules in docs/output-spec.md).
    pub anomalies: Vec<crate::anomalies::Anomaly>,
    /// Model files not analyzed because they are another copy of a checkpoint analyzed from a
    /// file transformers would load first (path, reason, kept_instead); empty with `--all-files`.
    pub skipped_files: Vec<crate::copies::SkippedFile>,
    /// The share of the tensors this run analyzed (`--shard`); absent for whole runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardMeta>,
}

/// What `merge` needs to know about one shard's table.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct ShardMeta {
    /// 0-based shard index.
    pub index: usize,
    /// The number of shards.
    pub count: usize,
    /// Tensors selected in all shards together.
    pub tasks_total: usize,
    /// For each row of the table, in table order: its tensor's position among all shards'
    /// tensors (the order of an unsharded run before sorting by layer).
    pub row_tasks: Vec<usize>,
}

impl ShardMeta {
    /// The shard record of `analysis`, run as `shard`.
    pub fn new(shard: Shard, analysis: &Analysis) -> Self {
        ShardMeta {
            index: shard.index,
            count: shard.count,
            tasks_total: analysis.tasks_total,
            row_tasks: analysis.row_tasks.clone(),
        }
    }
}

/// One model's spectral summary as JSON: `model_id`, `matrices` and each mean (null when no
/// matrix has the metric).
fn summary_json(s: &ModelSpectralSummary) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("model_id".into(), s.model_id.clone().into());
    m.insert("matrices".into(), s.matrices.into());
    for (metric, mean) in &s.means {
        m.insert((*metric).into(), mean.map_or(serde_json::Value::Null, Into::into));
    }
    m.into()
}

/// The `run_meta.json` beside a table.
pub fn meta_path(table: &Path) -> PathBuf {
    table.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("run_meta.json")
}

/// Writes `meta` (a [`RunMeta`], or a merged one) as pretty JSON to `path`, atomically,
/// creating its directory.
pub fn write_meta(path: &Path, meta: &impl Serialize) -> crate::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| crate::Error::CreateDir { path: dir.to_path_buf(), source })?;
    }
    let json =
        serde_json::to_vec_pretty(meta).map_err(|source| crate::Error::Json { path: path.to_path_buf(), source })?;
    write_atomic(path, &json)?;
    Ok(())
}

/// A loaded plugin as `run_meta.json` lists it.
pub fn plugin_record(info: &PluginInfo) -> serde_json::Value {
    serde_json::json!({ "path": info.path, "name": info.name, "version": info.version,
        "abi": format!("{}.{}", info.abi_major, info.abi_minor), "metrics": info.metrics, "thread_safe": info.thread_safe })
}

/// The current time as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Parameters of [`RunMeta::new`] that do not come from the analysis.
#[derive(Debug)]
pub struct RunInfo<'a> {
    /// Command line.
    pub cli_args: Vec<String>,
    /// Thresholds.
    pub thresholds: Thresholds,
    /// Resource limits.
    pub limits: Limits,
    /// Output path (None when nothing was written).
    pub output: Option<&'a Path>,
    /// Output format (None when the table is kept in memory).
    pub format: Option<OutputFormat>,
    /// Start time (RFC 3339).
    pub started_at: &'a str,
    /// Wall time of the run.
    pub duration: std::time::Duration,
}

impl RunMeta {
    /// The metadata of `analysis`.
    pub fn new(analysis: &Analysis, info: RunInfo<'_>, validation: Option<Validation>) -> Self {
        let mut framework: Vec<String> = analysis.models.iter().map(|m| m.framework.clone()).collect();
        framework.sort();
        framework.dedup();
        let conv = info.thresholds.conv.parse().unwrap_or_default();
        RunMeta {
            model_id: analysis.models.iter().map(|m| m.model_id.clone()).collect(),
            revision: analysis.models.iter().map(|m| m.revision.clone()).collect(),
            model_path: analysis.models.iter().map(|m| m.model_path.clone()).collect(),
            framework,
            code_version: CodeVersion::current(),
            environment: Environment::current(),
            cli_args: info.cli_args,
            thresholds: info.thresholds,
            limits: info.limits,
            output: info.output.map(Path::to_path_buf),
            format: info.format.map(OutputFormat::extension),
            started_at: info.started_at.to_string(),
            finished_at: now_rfc3339(),
            duration_s: info.duration.as_secs_f64(),
            warning_count: analysis.warning_count(),
            tensors_selected: analysis.tensors_selected,
            tensor_count: analysis.rows.len(),
            errors: analysis.errors.clone(),
            models: analysis.models.clone(),
            validation,
            plugins: Vec::new(),
            duplicates: analysis.duplicates.clone(),
            spectral_summary: spectral_summary(&analysis.schema, &analysis.rows, conv)
                .iter()
                .map(summary_json)
                .collect(),
            anomalies: crate::anomalies::find_anomalies(&analysis.schema, &analysis.rows, &analysis.duplicates),
            skipped_files: analysis.skipped_files.clone(),
            shard: None,
        }
    }
}
