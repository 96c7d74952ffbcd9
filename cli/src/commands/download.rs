//! `weightlens download`.

use anyhow::Result;

pub use crate::hub::DownloadArgs;

pub fn run(args: &DownloadArgs, quiet: bool) -> Result<bool> {
    let report = crate::hub::run_download(args)?;
    if !quiet {
        println!("{report}");
    }
    Ok(true)
}
