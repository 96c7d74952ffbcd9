//! `weightlens ls`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::listing;

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
}

pub fn run(args: &LsArgs) -> Result<bool> {
    let discovery = weightlens_readers::discover(&args.paths);
    let mut ok = discovery.errors.is_empty();
    for e in &discovery.errors {
        eprintln!("error: {e}");
    }
    let mut listed = Vec::new();
    for model in &discovery.models {
        match weightlens_readers::open_model(model) {
            Ok(source) => listed.push(listing::list(source.as_ref(), args.raw)),
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
            print!("{}", listing::render_text(m));
        }
    }
    Ok(ok)
}
