//! `weightlens analyze`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use weightlens_analyzers::conv::ConvMode;
use weightlens_analyzers::spectral_summary::{spectral_summary, summary_text};
use weightlens_analyzers::stats::DEFAULT_ZERO_EPS;
use weightlens_analyzers::RankMode;
use weightlens_readers::limits::{OpenOptions, DEFAULT_MAX_TENSOR_BYTES};

use weightlens_engine::export::{open_sink, write_rows, OutputFormat};
use weightlens_engine::meta::{
    meta_path, now_rfc3339, validate_output, write_meta, CodeVersion, Limits, RunInfo, RunMeta, ShardMeta, Thresholds,
};
use weightlens_engine::pipeline::{
    analyze_with_progress, default_max_memory, ms, AnalyzeConfig, ModelIdentity, RunError,
};
use weightlens_engine::plugins::load_run_plugins;
use weightlens_engine::report::{self, ReportOptions};
use weightlens_engine::shard::{Shard, ShardError};
use weightlens_engine::summary::find_anomalies;
use weightlens_hub::{parse_model_spec, resolve_model, DownloadProgress, ResolveOptions};

use super::FormatArg;
use crate::download_progress::DownloadBar;
use crate::progress::AnalyzeProgress;
use crate::{render, runlog};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RankArg {
    /// Exact numerical rank from f64 singular values.
    Exact,
    /// Faster: may differ from exact only by singular values within (0.6, 1.25] x the threshold.
    Approx,
    /// Exact wherever it is cheap; approx only for a matrix above 2^22 elements (2048x2048) whose
    /// rank only the slow SVD fallback could decide; `rank_method` says which.
    Auto,
    /// No rank.
    None,
}

/// How `--spectral` analyzes 4-D convolution weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConvArg {
    /// The out x (in kh kw) matrix, as every tensor of 2 or more dimensions.
    Reshape,
    /// WeightWatcher's pooled per-position slices W[:, :, i, j] (scaled by its conv2d_norm).
    Ww,
}

/// How much spectral analysis `--spectral` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SpectralArg {
    /// The spectral columns (one decomposition per matrix).
    Basic,
    /// Also `rand_distance` (a second decomposition, of the seeded element permutation).
    Full,
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Model files or directories (searched recursively), or hub models as `hf://ORG/NAME[@REV]`
    /// (a bare `ORG/NAME` that is not a local path works too).
    #[arg(required = true)]
    paths: Vec<String>,
    /// Output table [default: data/outputs/params.FORMAT].
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Output format [default: from --out's extension, else csv].
    #[arg(short, long, value_enum)]
    format: Option<FormatArg>,
    /// Rank computation.
    #[arg(long, value_enum, default_value = "exact")]
    rank: RankArg,
    /// Add the spectral columns (sigma_max ... alpha, WeightWatcher's power-law and
    /// Marchenko-Pastur metrics; docs/output-spec.md) from all f64 singular values of each matrix,
    /// as costly as an exact rank, which then comes from the same decomposition. `--spectral=full`
    /// also adds rand_distance (one more decomposition per matrix).
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "basic")]
    spectral: Option<SpectralArg>,
    /// With --spectral: 4-D convolution weights [out, in, kh, kw] as the reshaped out x (in kh kw)
    /// matrix (`reshape`), or as WeightWatcher analyzes a Conv2D layer (`ww`: the kh*kw slices
    /// W[:, :, i, j] scaled by 1/sqrt(2), their eigenvalues pooled into one spectrum).
    #[arg(long, value_enum, default_value = "reshape")]
    conv: ConvArg,
    /// Working memory for ranks and spectra (bytes; suffixes K, M, G, T): bigger matrices run one at a time,
    /// a matrix needing more gets no rank (and an error) [default: half the RAM].
    #[arg(long, value_parser = parse_size)]
    max_memory: Option<u64>,
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
    /// Also write a self-contained HTML report of the table (as `weightlens report`).
    #[arg(long, value_name = "HTML")]
    report: Option<PathBuf>,
    /// With --report and --spectral: draw the eigenvalue spectrum (ESD, log-log, with the fitted
    /// power law and xmin) of each matrix whose name matches this regular expression (at most 24).
    #[arg(long, value_name = "REGEX", requires = "report")]
    esd: Option<String>,
    /// Largest tensor, in bytes, that may be copied into memory to be read (a deflated npz or
    /// torch member, a Fortran-order array); larger ones are reported as errors. Memory-mapped
    /// tensors are not limited.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_TENSOR_BYTES)]
    max_tensor_bytes: u64,
    /// Read tensors also out of pickles that reference dangerous globals (`os.system`,
    /// `builtins.eval`...), which are refused by default. Nothing in a pickle is ever executed.
    #[arg(long)]
    allow_unsafe_pickle: bool,
    /// Analyze fused 3-D expert tensors ([n_expert, rows, cols]: GGUF `ffn_*_exps`, fused MoE
    /// safetensors like `mlp.experts.gate_up_proj`) as one row per expert, and add the
    /// `expert_index` column (also filled for per-expert `experts.N.` tensors).
    #[arg(long)]
    split_experts: bool,
    /// Analyze only shard K of N (K is 0-based: 0/4 .. 3/4), a deterministic, cost-balanced
    /// share of the selected tensors; `auto/N` takes K from SLURM_ARRAY_TASK_ID or
    /// JOB_COMPLETION_INDEX. Write each shard to its own directory, then `weightlens merge`.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Treat warnings (e.g. a tensor that looks quantized in a packing weightlens does not
    /// recognise) as failures: the exit code is 1 if there are any.
    #[arg(long)]
    strict: bool,
    /// Analyze every model file of a directory, also a second copy of the same weights (e.g.
    /// `pytorch_model.bin` beside `model.safetensors`); by default only the copy transformers
    /// would load is analyzed and the others are listed as skipped.
    #[arg(long)]
    all_files: bool,
}

fn parse_shard(text: &str) -> Result<Shard, ShardError> {
    Shard::parse(text, |name| std::env::var(name).ok())
}

/// The output path and format from `--out` / `--format`.
pub(crate) fn output_target(out: Option<&Path>, format: Option<OutputFormat>) -> Result<(PathBuf, OutputFormat)> {
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
    let (out, format) = output_target(args.out.as_deref(), args.format.map(OutputFormat::from))?;
    let log_path = runlog::log_path(&out);
    runlog::open(&log_path).with_context(|| format!("cannot write the run log {}", log_path.display()))?;
    let version = CodeVersion::current();
    tracing::info!(
        operation = "start",
        version = version.crate_version,
        git_commit = version.git_commit,
        args = ?std::env::args().collect::<Vec<_>>(),
        "weightlens analyze"
    );
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("--threads")?;
    }
    let filter = args.filter.as_deref().map(regex::Regex::new).transpose().context("--filter")?;
    let rank = match args.rank {
        RankArg::Exact => RankMode::Exact,
        RankArg::Approx => RankMode::Approx,
        RankArg::Auto => RankMode::Auto,
        RankArg::None => RankMode::None,
    };
    let (inputs, identities) = resolve_inputs(&args.paths)?;
    let plugins = load_run_plugins(&args.plugins);
    let config = AnalyzeConfig {
        inputs,
        identities,
        model_id: args.model_id.clone(),
        revision: args.revision.clone(),
        filter,
        zero_eps: args.zero_eps,
        rank,
        spectral: args.spectral.is_some(),
        spectral_full: args.spectral == Some(SpectralArg::Full),
        conv: match args.conv {
            ConvArg::Reshape => ConvMode::Reshape,
            ConvArg::Ww => ConvMode::Ww,
        },
        max_memory: args.max_memory.unwrap_or_else(default_max_memory),
        extra_analyzers: plugins.analyzers,
        open_options: OpenOptions {
            max_tensor_bytes: args.max_tensor_bytes,
            allow_unsafe_pickle: args.allow_unsafe_pickle,
        },
        readers: plugins.readers,
        split_experts: args.split_experts,
        shard: args.shard,
        all_files: args.all_files,
    };
    // The table's temporary file is created before the work, so that an unwritable destination
    // fails at once; it becomes the output only if the run produced rows (or nothing failed).
    let sink = open_sink(&out, format)?;
    let progress = AnalyzeProgress::new(!quiet);
    let mut analysis = analyze_with_progress(&config, &started_at, &progress);
    progress.finish();
    analysis.errors.splice(0..0, plugins.errors.iter().map(RunError::from));
    for e in &analysis.errors {
        tracing::error!(target: runlog::FILE_ONLY, file = %e.file, tensor = ?e.tensor, "{}", e.message);
        eprintln!("error: {}", e.message);
    }
    for w in analysis.warnings() {
        tracing::warn!(target: runlog::FILE_ONLY, "{w}");
        eprintln!("warning: {w}");
    }

    // A run where everything failed leaves no table behind (but still says what failed).
    let write = !analysis.rows.is_empty() || analysis.errors.is_empty();
    let mut validation = None;
    let step = Instant::now();
    if write {
        write_rows(sink, &analysis.schema, &analysis.rows)?;
        validation = Some(validate_output(&out, &analysis));
        tracing::info!(operation = "write", duration_ms = ms(step), path = %out.display(), rows = analysis.rows.len(), "wrote table");
    } else {
        drop(sink);
    }
    let info = RunInfo {
        cli_args: std::env::args().collect(),
        thresholds: Thresholds::for_config(&config),
        limits: Limits::for_config(&config),
        output: write.then_some(out.as_path()),
        format: Some(format),
        started_at: &started_at,
        duration: start.elapsed(),
    };
    let mut meta = RunMeta::new(&analysis, info, validation.clone());
    meta.plugins = plugins.records;
    meta.shard = args.shard.map(|s| ShardMeta::new(s, &analysis));
    write_meta(&meta_path(&out), &meta)?;

    let valid = validation.as_ref().is_none_or(|v| v.ok);
    if let Some(v) = validation.as_ref().filter(|v| !v.ok) {
        tracing::error!(target: runlog::FILE_ONLY, path = %out.display(), "validation failed: {}", v.problems.join("; "));
        eprintln!("error: {}: validation failed: {}", out.display(), v.problems.join("; "));
    }
    if let Some(html) = args.report.as_deref().filter(|_| write) {
        let step = Instant::now();
        let esd = args.esd.as_deref().map(regex::Regex::new).transpose().context("--esd")?;
        report::write_report(std::slice::from_ref(&out), html, &ReportOptions { esd, ..ReportOptions::default() })?;
        tracing::info!(operation = "report", duration_ms = ms(step), path = %html.display(), "wrote report");
    }
    tracing::info!(
        operation = "done",
        duration_ms = ms(start),
        tensors = analysis.rows.len(),
        errors = analysis.errors.len(),
        "run finished"
    );
    runlog::close();
    if !quiet {
        if !analysis.rows.is_empty() {
            print!("{}", render::summary_table(&analysis.schema, &analysis.rows));
            print!("{}", summary_text(&spectral_summary(&analysis.schema, &analysis.rows, config.conv)));
            let anomalies = find_anomalies(&analysis.schema, &analysis.rows, &analysis.duplicates);
            print!("{}", render::anomalies_text(&anomalies));
        }
        print!("{}", render::skipped_text(&analysis.skipped_files));
        let target = if write { out.display().to_string() } else { "no table written".into() };
        println!(
            "{} tensors from {} models -> {} ({:.2} s), {} errors, {} warnings",
            analysis.rows.len(),
            analysis.models.len(),
            target,
            start.elapsed().as_secs_f64(),
            analysis.errors.len(),
            analysis.warning_count()
        );
    }
    let strict_ok = !args.strict || analysis.warning_count() == 0;
    Ok(analysis.errors.is_empty() && valid && strict_ok)
}

/// Local paths as they are; hub models (`hf://ORG/NAME[@REV]`, or a bare id that is not a local
/// path) resolved through the cache, downloading what is missing, with their id and commit.
pub(crate) fn resolve_inputs(specs: &[String]) -> Result<(Vec<PathBuf>, Vec<ModelIdentity>)> {
    let mut inputs = Vec::new();
    let mut identities = Vec::new();
    for spec in specs {
        if parse_model_spec(spec).is_none() {
            inputs.push(PathBuf::from(spec));
            continue;
        }
        let progress = DownloadBar::new(true);
        let resolved = resolve_model(spec, &ResolveOptions::default(), &progress);
        progress.finish();
        let resolved = resolved?;
        identities.push(ModelIdentity {
            path: resolved.path.clone(),
            model_id: resolved.model_id,
            revision: resolved.revision,
        });
        inputs.push(resolved.path);
    }
    Ok((inputs, identities))
}

/// A byte count with an optional binary suffix: `512M`, `8G`, `1073741824`.
pub(crate) fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("unknown size suffix in {text:?} (use K, M, G or T)")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits.trim().parse().map_err(|_| format!("not a size: {text:?}"))?;
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("size too large: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("8g"), Ok(8 << 30));
        assert!(parse_size("8X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
