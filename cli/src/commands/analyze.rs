//! `weightlens analyze`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use weightlens_analyzers::plugin::{load_plugins, plugin_paths_from_env};
use weightlens_analyzers::rank::RANK_RTOL;
use weightlens_analyzers::stats::DEFAULT_ZERO_EPS;
use weightlens_analyzers::RankMode;
use weightlens_core::TensorAnalyzer;
use weightlens_readers::limits::{OpenOptions, DEFAULT_MAX_TENSOR_BYTES};

use crate::export::{open_sink, write_atomic, OutputFormat};
use crate::hub::{parse_model_spec, resolve_model, ResolveOptions};
use crate::meta::{now_rfc3339, validate_output, RunInfo, RunMeta, Thresholds};
use crate::pipeline::{analyze, AnalyzeConfig, ModelIdentity, RunError};
use crate::summary;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RankArg {
    /// Exact numerical rank from f64 singular values.
    Exact,
    /// No rank.
    None,
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Model files or directories (searched recursively), or hub models as `hf://ORG/NAME[@REV]`
    /// (a bare `ORG/NAME` that is not a local path works too).
    #[arg(required = true)]
    paths: Vec<String>,
    /// Output table [default: data/outputs/params.<format>].
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Output format [default: from --out's extension, else csv].
    #[arg(short, long, value_enum)]
    format: Option<OutputFormat>,
    /// Rank computation.
    #[arg(long, value_enum, default_value = "exact")]
    rank: RankArg,
    /// Elements with abs(x) <= this count as zero for `sparsity`.
    #[arg(long, default_value_t = DEFAULT_ZERO_EPS)]
    zero_eps: f64,
    /// Only tensors whose name matches this regular expression.
    #[arg(long)]
    filter: Option<String>,
    /// Worker threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// The `model_id` column [default: derived from each model's path].
    #[arg(long)]
    model_id: Option<String>,
    /// The `revision` column.
    #[arg(long)]
    revision: Option<String>,
    /// Load an analyzer plugin (a shared library; repeatable). Libraries in the directories of
    /// WEIGHTLENS_PLUGIN_PATH are loaded too.
    #[arg(long = "plugin", value_name = "PATH")]
    plugins: Vec<PathBuf>,
    /// Largest tensor, in bytes, that may be copied into memory to be read (a deflated npz or
    /// torch member, a Fortran-order array); larger ones are reported as errors. Memory-mapped
    /// tensors are not limited.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_TENSOR_BYTES)]
    max_tensor_bytes: u64,
}

/// The output path and format from `--out` / `--format`.
fn output_target(out: Option<&Path>, format: Option<OutputFormat>) -> Result<(PathBuf, OutputFormat)> {
    let from_ext = out.and_then(OutputFormat::from_path);
    let format = match (format, from_ext) {
        (Some(f), Some(e)) if f != e => {
            bail!(
                "--format {} contradicts the extension of --out {}",
                f.extension(),
                out.unwrap_or(Path::new("")).display()
            )
        }
        (Some(f), _) | (None, Some(f)) => f,
        (None, None) => OutputFormat::Csv,
    };
    let path =
        out.map_or_else(|| PathBuf::from(format!("data/outputs/params.{}", format.extension())), Path::to_path_buf);
    Ok((path, format))
}

/// Runs `analyze`; Ok(false) when anything failed (exit code 1).
pub fn run(args: &AnalyzeArgs, quiet: bool) -> Result<bool> {
    let start = Instant::now();
    let started_at = now_rfc3339();
    let (out, format) = output_target(args.out.as_deref(), args.format)?;
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("--threads")?;
    }
    let filter = args.filter.as_deref().map(regex::Regex::new).transpose().context("--filter")?;
    let rank = match args.rank {
        RankArg::Exact => RankMode::Exact,
        RankArg::None => RankMode::None,
    };
    let (inputs, identities) = resolve_inputs(&args.paths)?;
    let mut plugin_paths = args.plugins.clone();
    plugin_paths.extend(plugin_paths_from_env());
    let (plugins, plugin_errors) = load_plugins(&plugin_paths);
    let plugin_meta: Vec<serde_json::Value> = plugins
        .iter()
        .map(|p| {
            let i = p.info();
            serde_json::json!({ "path": i.path, "name": i.name, "version": i.version,
                "abi": format!("{}.{}", i.abi_major, i.abi_minor), "metrics": i.metrics, "thread_safe": i.thread_safe })
        })
        .collect();
    let config = AnalyzeConfig {
        inputs,
        identities,
        model_id: args.model_id.clone(),
        revision: args.revision.clone(),
        filter,
        zero_eps: args.zero_eps,
        rank,
        extra_analyzers: plugins.into_iter().map(|p| Arc::new(p) as Arc<dyn TensorAnalyzer>).collect(),
        open_options: OpenOptions { max_tensor_bytes: args.max_tensor_bytes },
    };
    // The table's temporary file is created before the work, so that an unwritable destination
    // fails at once; it becomes the output only if the run produced rows (or nothing failed).
    let mut sink = open_sink(&out, format)?;
    let mut analysis = analyze(&config, &started_at);
    analysis.errors.splice(0..0, plugin_errors.iter().map(RunError::from));
    for e in &analysis.errors {
        eprintln!("error: {}", e.message);
    }

    // A run where everything failed leaves no table behind (but still says what failed).
    let write = !analysis.rows.is_empty() || analysis.errors.is_empty();
    let mut validation = None;
    if write {
        sink.begin(&analysis.schema)?;
        sink.write_rows(&analysis.rows)?;
        sink.finish()?;
        validation = Some(validate_output(&out, &analysis));
    } else {
        drop(sink);
    }
    let thresholds = Thresholds { zero_eps: args.zero_eps, rank_rtol: RANK_RTOL, rank: rank.as_str() };
    let info = RunInfo {
        cli_args: std::env::args().collect(),
        thresholds,
        output: write.then_some(out.as_path()),
        format,
        started_at: &started_at,
        duration: start.elapsed(),
    };
    let mut meta = RunMeta::new(&analysis, info, validation.clone());
    meta.plugins = plugin_meta;
    let meta_path = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("run_meta.json");
    std::fs::create_dir_all(meta_path.parent().unwrap_or(Path::new("."))).ok();
    let json = serde_json::to_vec_pretty(&meta)?;
    write_atomic(&meta_path, &json)?;

    let valid = validation.as_ref().is_none_or(|v| v.ok);
    if let Some(v) = validation.as_ref().filter(|v| !v.ok) {
        eprintln!("error: {}: validation failed: {}", out.display(), v.problems.join("; "));
    }
    if !quiet {
        if !analysis.rows.is_empty() {
            print!("{}", summary::summary_table(&analysis.schema, &analysis.rows));
        }
        let target = if write { out.display().to_string() } else { "no table written".into() };
        println!(
            "{} tensors from {} models -> {} ({:.2} s), {} errors",
            analysis.rows.len(),
            analysis.models.len(),
            target,
            start.elapsed().as_secs_f64(),
            analysis.errors.len()
        );
    }
    Ok(analysis.errors.is_empty() && valid)
}

/// Local paths as they are; hub models (`hf://ORG/NAME[@REV]`, or a bare id that is not a local
/// path) resolved through the cache, downloading what is missing, with their id and commit.
fn resolve_inputs(specs: &[String]) -> Result<(Vec<PathBuf>, Vec<ModelIdentity>)> {
    let mut inputs = Vec::new();
    let mut identities = Vec::new();
    for spec in specs {
        if parse_model_spec(spec).is_none() {
            inputs.push(PathBuf::from(spec));
            continue;
        }
        let resolved = resolve_model(spec, &ResolveOptions::default())?;
        identities.push(ModelIdentity {
            path: resolved.path.clone(),
            model_id: resolved.model_id,
            revision: resolved.revision,
        });
        inputs.push(resolved.path);
    }
    Ok((inputs, identities))
}
