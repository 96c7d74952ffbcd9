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
    /// Load a reader plugin (a shared library; repeatable), besides WEIGHTLENS_PLUGIN_PATH.
    #[arg(long = "plugin", value_name = "PATH")]
    plugins: Vec<PathBuf>,
}

pub fn run(args: &LsArgs) -> Result<bool> {
    let (registry, plugin_errors) = crate::readers::registry_with_plugins(&args.plugins);
    let discovery = weightlens_readers::discover_with(&registry, &args.paths);
    let mut ok = discovery.errors.is_empty() && plugin_errors.is_empty();
    for e in plugin_errors.iter().chain(&discovery.errors) {
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
