//! `weightlens ls`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use weightlens_engine::listing;

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
    let discovery = weightlens_readers::discover(&args.paths);
    let mut ok = discovery.errors.is_empty();
    for e in &discovery.errors {
        eprintln!("error: {e}");
    }
    let mut listed = Vec::new();
    for model in &discovery.models {
        match weightlens_readers::open_model(model) {
            Ok(source) => listed.push(listing::list(source.as_ref())),
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
