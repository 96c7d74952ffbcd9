//! `weightlens formats`: every reader the registry holds, with what it reads.

use anyhow::Result;
use clap::Args;
use weightlens_readers::ReaderRegistry;

#[derive(Args, Debug)]
pub struct FormatsArgs {
    /// JSON output.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &FormatsArgs) -> Result<bool> {
    let registry = ReaderRegistry::with_builtin();
    let readers: Vec<serde_json::Value> = registry
        .readers()
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id(),
                "name": r.name(),
                "extensions": r.extensions(),
                "magic": r.magic(),
                "source": "built-in",
            })
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "readers": readers }))?);
        return Ok(true);
    }
    for r in registry.readers() {
        let ext: Vec<String> = r.extensions().iter().map(|e| format!(".{e}")).collect();
        let ext = if ext.is_empty() { "-".to_string() } else { ext.join(" ") };
        println!("{:<12} {:<8} {}\n{:<12} {:<8} magic: {}", r.id(), "built-in", r.name(), "", ext, r.magic());
    }
    Ok(true)
}
