//! `weightlens scan`: is each file safe to hand to `torch.load` / `pickle.load`? An allow-list
//! verdict per file from its pickles' globals, without reading tensor data or executing anything.

use std::fmt::Write as _;

use anyhow::Result;
use clap::{Args, ValueEnum};
use rayon::prelude::*;
use weightlens_readers::safety::{self, FileScan, Verdict};

use super::analyze::resolve_inputs;

/// Exit code when every file is safe.
pub const EXIT_SAFE: u8 = 0;
/// Exit code when a file is unknown or malformed (or unreadable), none dangerous.
pub const EXIT_NOT_SAFE: u8 = 1;
/// Exit code when at least one file is dangerous.
pub const EXIT_DANGEROUS: u8 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// One line per file.
    Text,
    /// One JSON document: every file and a count per verdict.
    Json,
    /// One JSON object per file and line.
    Jsonl,
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Files or directories (searched recursively), or hub models as `hf://ORG/NAME[@REV]`.
    #[arg(required = true)]
    paths: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: ScanFormat,
}

/// Runs the scan and returns the exit code (see [`EXIT_SAFE`], [`EXIT_NOT_SAFE`], [`EXIT_DANGEROUS`]).
pub fn run(args: &ScanArgs) -> Result<u8> {
    let (inputs, _) = resolve_inputs(&args.paths)?;
    let (files, errors) = safety::files_to_scan(&inputs);
    for e in &errors {
        eprintln!("error: {e}");
    }
    let scans: Vec<FileScan> = files.par_iter().map(|path| safety::scan_file(path)).collect();
    match args.format {
        ScanFormat::Text => {
            for scan in &scans {
                println!("{}", text_line(scan));
            }
        }
        ScanFormat::Jsonl => {
            for scan in &scans {
                println!("{}", serde_json::to_string(scan)?);
            }
        }
        ScanFormat::Json => {
            let mut counts = serde_json::Map::new();
            for v in [Verdict::Safe, Verdict::Unknown, Verdict::Malformed, Verdict::Dangerous] {
                counts.insert(v.as_str().into(), scans.iter().filter(|s| s.verdict == v).count().into());
            }
            let doc = serde_json::json!({ "files": scans, "verdicts": counts, "errors": errors.iter().map(ToString::to_string).collect::<Vec<_>>() });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
    }
    Ok(exit_code(&scans, errors.is_empty()))
}

/// 0 when every file is safe and every input was readable, 3 when one is dangerous, 1 otherwise.
fn exit_code(scans: &[FileScan], inputs_ok: bool) -> u8 {
    let worst = scans.iter().map(|s| s.verdict).max().unwrap_or(Verdict::Safe);
    match worst {
        Verdict::Dangerous => EXIT_DANGEROUS,
        Verdict::Safe if inputs_ok => EXIT_SAFE,
        _ => EXIT_NOT_SAFE,
    }
}

/// `VERDICT  PATH  [FORMAT] reasons`: the globals that decided it and where.
fn text_line(scan: &FileScan) -> String {
    let mut line = format!("{:<9} {}  [{}]", scan.verdict.as_str(), scan.path.display(), scan.format);
    if let Some(note) = &scan.note {
        let _ = write!(line, " {note}");
    }
    if scan.findings.is_empty() && scan.pickles > 0 {
        let _ = write!(line, " {} pickle(s), only allow-listed globals", scan.pickles);
    }
    let mut findings: Vec<_> = scan.findings.iter().collect();
    // The findings that decided the verdict first.
    findings.sort_by_key(|f| std::cmp::Reverse(f.verdict));
    for (i, f) in findings.iter().enumerate() {
        let sep = if i == 0 { " " } else { "; " };
        let _ = write!(line, "{sep}{}: {}", f.verdict.as_str(), f.what);
        let place = match (&f.member, f.offset) {
            (Some(m), Some(o)) => Some(format!("{m} @ {o}")),
            (Some(m), None) => Some(m.clone()),
            (None, Some(o)) => Some(format!("byte {o}")),
            (None, None) => None,
        };
        if let Some(place) = place {
            let _ = write!(line, " ({place}{})", if f.nested > 0 { ", nested bytes" } else { "" });
        }
    }
    line
}
