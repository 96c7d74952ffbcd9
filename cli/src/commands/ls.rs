//! `weightlens ls`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::render::listing_text;

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Model files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// JSON output.
    #[arg(long)]
    json: bool,
    /// List the tensors as stored (each component of a quantized weight) instead of the
    /// logical ones.
    #[arg(long)]
    raw: bool,
    /// Load a reader plugin (a shared library; repeatable), besides WEIGHTLENS_PLUGIN_PATH.
    #[arg(long = "plugin", value_name = "PATH")]
    plugins: Vec<PathBuf>,
}

pub fn run(args: &LsArgs) -> Result<bool> {
    let (registry, mut errors) = weightlens_engine::plugins::registry_with_plugins(&args.plugins);
    let listing = weightlens_engine::listing::list_paths_with(&registry, &args.paths, args.raw);
    errors.extend(listing.errors);
    for e in &errors {
        eprintln!("error: {e}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "models": listing.models }))?);
    } else {
        for m in &listing.models {
            print!("{}", listing_text(m));
        }
    }
    Ok(errors.is_empty())
}
