//! `weightlens report`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use weightlens_engine::report::{write_report, ReportOptions};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A table written by `analyze` (CSV, JSONL or Parquet), and optionally a second one to
    /// overlay (e.g. the quantized model); `run_meta.json` beside each is read when present.
    #[arg(required = true, num_args = 1..=2)]
    tables: Vec<PathBuf>,
    /// The HTML file to write.
    #[arg(short, long, default_value = "report.html")]
    out: PathBuf,
    /// The heatmap's metric: `rank_ratio` or any numeric column (std, mean, sparsity, ...).
    #[arg(long, default_value = "std")]
    metric: String,
    /// The page title [default: the models' ids].
    #[arg(long)]
    title: Option<String>,
    /// Draw the eigenvalue spectrum (ESD, log-log, with the fitted power law and xmin) of each
    /// matrix of a --spectral table whose name matches this regular expression (at most 24 per
    /// table), recomputed from the model at run_meta.json's model_path.
    #[arg(long, value_name = "REGEX")]
    esd: Option<String>,
}

/// Writes the report; never partially fails.
pub fn run(args: &ReportArgs, quiet: bool) -> Result<bool> {
    let esd = args.esd.as_deref().map(regex::Regex::new).transpose().context("--esd")?;
    let options = ReportOptions { heatmap_metric: args.metric.clone(), title: args.title.clone(), esd };
    write_report(&args.tables, &args.out, &options)?;
    if !quiet {
        println!("report -> {}", args.out.display());
    }
    Ok(true)
}
