//! `weightlens merge`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use weightlens_engine::export::{open_sink, write_rows, OutputFormat};
use weightlens_engine::merge::{load_part, merge};
use weightlens_engine::meta::{meta_path, validate_table, write_meta};

use super::analyze::output_target;
use super::FormatArg;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The merged table to write (its format from the extension, else --format, else CSV);
    /// `run_meta.json` is written beside it.
    out: PathBuf,
    /// Part tables (CSV, JSONL or Parquet, in any mix), each with its `run_meta.json` beside it:
    /// the shards of one `analyze --shard K/N` run, or separate runs.
    #[arg(required = true)]
    parts: Vec<PathBuf>,
    /// Output format [default: from OUT's extension, else csv].
    #[arg(short, long, value_enum)]
    format: Option<FormatArg>,
}

/// Runs `merge`; Ok(false) when the parts had errors or shards are missing (exit code 1).
pub fn run(args: &MergeArgs, quiet: bool) -> Result<bool> {
    let (_, format) = output_target(Some(&args.out), args.format.map(OutputFormat::from))?;
    let out_meta = meta_path(&args.out);
    let mut parts = Vec::with_capacity(args.parts.len());
    for path in &args.parts {
        if same_file(&meta_path(path), &out_meta) {
            bail!(
                "{} would overwrite the run_meta.json of the part {}: write the merged table to another directory",
                args.out.display(),
                path.display()
            );
        }
        parts.push(load_part(path)?);
    }
    let merged = merge(&parts, std::env::args().collect())?;
    for w in &merged.warnings {
        tracing::warn!("{w}");
    }

    write_rows(open_sink(&args.out, format)?, &merged.schema, &merged.rows)?;
    let validation = validate_table(&args.out, &merged.schema, merged.rows.len());
    let mut meta = merged.meta;
    meta.insert("output".into(), serde_json::json!(args.out));
    meta.insert("format".into(), serde_json::json!(format.extension()));
    meta.insert("validation".into(), serde_json::to_value(&validation)?);
    write_meta(&out_meta, &meta)?;

    let errors = meta.get("errors").and_then(serde_json::Value::as_array).map_or(0, Vec::len);
    if !validation.ok {
        eprintln!("error: {}: validation failed: {}", args.out.display(), validation.problems.join("; "));
    }
    if !quiet {
        println!(
            "{} rows from {} parts -> {}, {} errors, {} warnings",
            merged.rows.len(),
            parts.len(),
            args.out.display(),
            errors,
            merged.warnings.len()
        );
    }
    let missing = meta.get("shard").and_then(|s| s.get("missing")).and_then(serde_json::Value::as_array);
    Ok(validation.ok && errors == 0 && missing.is_none_or(Vec::is_empty))
}

/// True when `a` and `b` name the same file (also when neither exists yet).
fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        dir.canonicalize().ok().map(|d| d.join(p.file_name().unwrap_or_default()))
    };
    a == b || canon(a).is_some_and(|x| Some(x) == canon(b))
}
