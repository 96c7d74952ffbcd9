//! The `weightlens` command.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the binary owns the terminal

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use weightlens::export::{open_sink, OutputFormat};
use weightlens::meta::{now_rfc3339, validate_output, RunInfo, RunMeta, Thresholds};
use weightlens::pipeline::{analyze, AnalyzeConfig};
use weightlens::{ls, summary};
use weightlens_analyzers::rank::RANK_RTOL;
use weightlens_analyzers::stats::DEFAULT_ZERO_EPS;
use weightlens_analyzers::RankMode;

/// Read model weight files (safetensors, PyTorch, GGUF, NumPy) and write per-tensor analysis tables.
#[derive(Parser, Debug)]
#[command(name = "weightlens", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log output on stderr (-v: info, -vv: debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// No summary, only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyze every tensor of the models under PATH... and write a table.
    Analyze(AnalyzeArgs),
    /// List the tensors of the models under PATH... from their headers (no data is read).
    Ls(LsArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RankArg {
    /// Exact numerical rank from f64 singular values.
    Exact,
    /// No rank.
    None,
}

#[derive(Args, Debug)]
struct AnalyzeArgs {
    /// Model files or directories (searched recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
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
}

#[derive(Args, Debug)]
struct LsArgs {
    /// Model files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let result = match &cli.command {
        Command::Analyze(args) => run_analyze(args, cli.quiet),
        Command::Ls(args) => run_ls(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
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
fn run_analyze(args: &AnalyzeArgs, quiet: bool) -> Result<bool> {
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
    let config = AnalyzeConfig {
        inputs: args.paths.clone(),
        model_id: args.model_id.clone(),
        revision: args.revision.clone(),
        filter,
        zero_eps: args.zero_eps,
        rank,
        extra_analyzers: Vec::new(),
    };
    let analysis = analyze(&config, &started_at);
    for e in &analysis.errors {
        eprintln!("error: {}", e.message);
    }

    // A run where everything failed leaves no table behind (but still says what failed).
    let write = !analysis.rows.is_empty() || analysis.errors.is_empty();
    let mut validation = None;
    if write {
        let mut sink = open_sink(&out, format)?;
        sink.begin(&analysis.schema)?;
        sink.write_rows(&analysis.rows)?;
        sink.finish()?;
        validation = Some(validate_output(&out, &analysis));
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
    let meta = RunMeta::new(&analysis, info, validation.clone());
    let meta_path = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("run_meta.json");
    std::fs::create_dir_all(meta_path.parent().unwrap_or(Path::new("."))).ok();
    let json = serde_json::to_vec_pretty(&meta)?;
    weightlens::export::write_atomic(&meta_path, &json)?;

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

fn run_ls(args: &LsArgs) -> Result<bool> {
    let discovery = weightlens_readers::discover(&args.paths);
    let mut ok = discovery.errors.is_empty();
    for e in &discovery.errors {
        eprintln!("error: {e}");
    }
    let mut listed = Vec::new();
    for model in &discovery.models {
        match weightlens_readers::open_model(model) {
            Ok(source) => listed.push(ls::list(source.as_ref())),
            Err(e) => {
                eprintln!("error: {e}");
                ok = false;
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "models": listed }))?);
    } else {
        for m in &listed {
            print!("{}", ls::render_text(m));
        }
    }
    Ok(ok)
}
