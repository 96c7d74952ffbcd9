//! `weightlens formats`: every reader the registry holds, with what it reads.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct FormatsArgs {
    /// JSON output.
    #[arg(long)]
    json: bool,
    /// Load a reader plugin (a shared library; repeatable), besides WEIGHTLENS_PLUGIN_PATH.
    #[arg(long = "plugin", value_name = "PATH")]
    plugins: Vec<PathBuf>,
}

pub fn run(args: &FormatsArgs) -> Result<bool> {
    let (registry, errors) = weightlens_engine::plugins::registry_with_plugins(&args.plugins);
    for e in &errors {
        eprintln!("error: {e}");
    }
    let builtin = weightlens_readers::ReaderRegistry::builtin();
    let source = |id: &str| if builtin.get(id).is_some() { "built-in" } else { "plugin" };
    let readers: Vec<serde_json::Value> = registry
        .readers()
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id(),
                "name": r.name(),
                "extensions": r.extensions(),
                "magic": r.magic(),
                "source": source(r.id()),
            })
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "readers": readers }))?);
        return Ok(errors.is_empty());
    }
    for r in registry.readers() {
        let ext: Vec<String> = r.extensions().iter().map(|e| format!(".{e}")).collect();
        let ext = if ext.is_empty() { "-".to_string() } else { ext.join(" ") };
        println!("{:<12} {:<8} {}\n{:<12} {:<8} magic: {}", r.id(), source(r.id()), r.name(), "", ext, r.magic());
    }
    Ok(errors.is_empty())
}
