//! `weightlens ls`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use weightlens_engine::listing::list_paths;

use crate::render::listing_text;

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Model files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &LsArgs) -> Result<bool> {
    let listing = list_paths(&args.paths);
    for e in &listing.errors {
        eprintln!("error: {e}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "models": listing.models }))?);
    } else {
        for m in &listing.models {
            print!("{}", listing_text(m));
        }
    }
    Ok(listing.errors.is_empty())
}
