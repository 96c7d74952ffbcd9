//! `weightlens diff A B`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use weightlens_readers::imatrix::Imatrix;
use weightlens_readers::limits::{OpenOptions, DEFAULT_MAX_TENSOR_BYTES};

use super::analyze::{output_target, parse_size, resolve_inputs, RankArg};
use crate::runlog;
use weightlens_analyzers::RankMode;
use weightlens_engine::diff::mapfile::UserMap;
use weightlens_engine::diff::summary::diff_summary;
use weightlens_engine::diff::{diff, DiffConfig};
use weightlens_engine::export::{open_sink, write_atomic, OutputFormat};
use weightlens_engine::meta::{meta_path, now_rfc3339, CodeVersion};
use weightlens_engine::pipeline::default_max_memory;
use weightlens_engine::report::diff::write_diff_report;

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// Model A, the reference (anything `analyze` accepts: file, directory, sharded index,
    /// split GGUF, hf://ORG/NAME[@REV]).
    a: String,
    /// Model B, compared with A (any format).
    b: String,
    /// Output table [default: data/outputs/diff.FORMAT].
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Output format [default: from --out's extension, else csv].
    #[arg(short, long, value_enum)]
    format: Option<super::FormatArg>,
    /// Rank of each delta D = B - A (per expert for stacked experts).
    #[arg(long, value_enum, default_value = "exact")]
    rank: RankArg,
    /// Name pairs for what the automatic matching does not know (TOML or JSON, see
    /// docs/output-spec.md "diff").
    #[arg(long, value_name = "FILE")]
    map: Option<PathBuf>,
    /// Weigh the error of each input column by this llama.cpp importance matrix (GGUF or legacy
    /// .dat, as written by llama-imatrix): fills imatrix_rel_l2 and imatrix_snr_db.
    #[arg(long, value_name = "FILE")]
    imatrix: Option<PathBuf>,
    /// Only tensors whose name in A or B matches this regular expression.
    #[arg(long)]
    filter: Option<String>,
    /// Working memory for delta ranks (bytes; suffixes K, M, G, T) [default: half the RAM].
    #[arg(long, value_parser = parse_size)]
    max_memory: Option<u64>,
    /// Also write a self-contained HTML report (per-layer SNR / rel_l2 by block type, the
    /// worst tensors, what did not match).
    #[arg(long, value_name = "HTML")]
    report: Option<PathBuf>,
    /// Worker threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Largest tensor, in bytes, that may be copied into memory to be read (as in `analyze`).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_TENSOR_BYTES)]
    max_tensor_bytes: u64,
}

/// Runs `diff`; Ok(false) when a tensor failed (exit code 1).
pub fn run(args: &DiffArgs, quiet: bool) -> Result<bool> {
    let start = Instant::now();
    let started_at = now_rfc3339();
    let (out, format) = output_target(args.out.as_deref(), args.format.map(OutputFormat::from))?;
    let out = match args.out {
        Some(_) => out,
        None => PathBuf::from(format!("data/outputs/diff.{}", format.extension())),
    };
    let log_path = runlog::log_path(&out);
    runlog::open(&log_path).with_context(|| format!("cannot write the run log {}", log_path.display()))?;
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("--threads")?;
    }
    let (inputs, _) = resolve_inputs(&[args.a.clone(), args.b.clone()])?;
    let [a, b] = <[PathBuf; 2]>::try_from(inputs).map_err(|_| anyhow::anyhow!("diff takes two models"))?;
    let user_map = match &args.map {
        Some(p) => UserMap::read(p)?,
        None => UserMap::default(),
    };
    let imatrix = match &args.imatrix {
        Some(p) => Some(std::sync::Arc::new(Imatrix::open(p).with_context(|| format!("--imatrix {}", p.display()))?)),
        None => None,
    };
    let config = DiffConfig {
        imatrix,
        a,
        b,
        filter: args.filter.as_deref().map(regex::Regex::new).transpose().context("--filter")?,
        rank: match args.rank {
            RankArg::Exact => RankMode::Exact,
            RankArg::Approx => RankMode::Approx,
            RankArg::Auto => RankMode::Auto,
            RankArg::None => RankMode::None,
        },
        max_memory: args.max_memory.unwrap_or_else(default_max_memory),
        user_map,
        open_options: OpenOptions { max_tensor_bytes: args.max_tensor_bytes, ..OpenOptions::default() },
    };
    let mut sink = open_sink(&out, format)?;
    let result = diff(&config, &started_at);
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            drop(sink);
            runlog::close();
            bail!("{e}");
        }
    };
    for e in &result.errors {
        tracing::error!(target: runlog::FILE_ONLY, file = %e.file, tensor = ?e.tensor, "{}", e.message);
        eprintln!("error: {}", e.message);
    }
    sink.begin(&result.schema)?;
    sink.write_rows(&result.rows)?;
    sink.finish()?;
    let meta = serde_json::json!({
        "command": "diff",
        "code_version": CodeVersion::current(),
        "cli_args": std::env::args().collect::<Vec<_>>(),
        "a": result.sides[0],
        "b": result.sides[1],
        "output": out,
        "format": format.extension(),
        "rank": config.rank.as_str(),
        "map": args.map,
        "imatrix": args.imatrix,
        "filter": args.filter,
        "started_at": started_at,
        "finished_at": now_rfc3339(),
        "duration_s": start.elapsed().as_secs_f64(),
        "matched": result.matched,
        "only_in_a": result.only_in_a,
        "only_in_b": result.only_in_b,
        "shape_mismatch": result.mismatched,
        "errors": result.errors,
    });
    let meta_path = meta_path(&out);
    write_atomic(&meta_path, &serde_json::to_vec_pretty(&meta)?)?;
    if let Some(html) = &args.report {
        let (a, b) = (&result.sides[0].model_path, &result.sides[1].model_path);
        write_diff_report(&result.schema, &result.rows, a, b, html)?;
    }
    runlog::close();
    if !quiet {
        print!("{}", diff_summary(&result.schema, &result.rows));
        println!(
            "{} -> {} ({:.2} s), {} errors",
            describe(&config.a, &config.b),
            out.display(),
            start.elapsed().as_secs_f64(),
            result.errors.len()
        );
    }
    Ok(result.errors.is_empty())
}

fn describe(a: &Path, b: &Path) -> String {
    format!("{} vs {}", a.display(), b.display())
}
