//! `weightlens download`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use weightlens_hub::{DownloadProgress, DownloadRequest};

use crate::download_progress::DownloadBar;

/// `weightlens download MODEL_ID ...`
#[derive(Debug, Clone, Default, Args)]
pub struct DownloadArgs {
    /// Model repository id, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
    pub model_id: String,
    /// Branch, tag or commit hash [default: main].
    #[arg(long)]
    pub revision: Option<String>,
    /// Only files matching this glob (repeatable). Default: weight files, their index files and
    /// config.json (`--include '*'` fetches everything).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Skip files matching this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Write a plain directory here instead of the Hugging Face cache.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Fallback endpoint tried when the one before it fails (repeatable, in order).
    #[arg(long, value_name = "URL")]
    pub mirror: Vec<String>,
}

impl From<&DownloadArgs> for DownloadRequest {
    fn from(args: &DownloadArgs) -> Self {
        DownloadRequest {
            model_id: args.model_id.clone(),
            revision: args.revision.clone(),
            include: args.include.clone(),
            exclude: args.exclude.clone(),
            out: args.out.clone(),
            mirror: args.mirror.clone(),
        }
    }
}

pub fn run(args: &DownloadArgs, quiet: bool) -> Result<bool> {
    let progress = DownloadBar::new(true);
    let report = weightlens_hub::run_download(&args.into(), &progress);
    progress.finish();
    let report = report?;
    if !quiet {
        println!("{report}");
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_args_parse() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: DownloadArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "weightlens",
            "org/name",
            "--revision",
            "v1",
            "--include",
            "*.gguf",
            "--include",
            "config.json",
            "--exclude",
            "*Q8*",
            "--out",
            "d",
            "--mirror",
            "http://a",
            "--mirror",
            "http://b",
        ])
        .unwrap();
        let request = DownloadRequest::from(&cli.args);
        assert_eq!(request.model_id, "org/name");
        assert_eq!(request.revision.as_deref(), Some("v1"));
        assert_eq!(request.include, ["*.gguf", "config.json"]);
        assert_eq!(request.exclude, ["*Q8*"]);
        assert_eq!(request.out, Some(PathBuf::from("d")));
        assert_eq!(request.mirror, ["http://a", "http://b"]);
    }
}
