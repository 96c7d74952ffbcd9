//! The `weightlens` command.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the binary owns the terminal

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use weightlens::commands::{analyze, diff, download, dump, formats, ls, merge, plugins, report, scan};
use weightlens::{runlog, signals};

/// mimalloc rather than the system allocator: the exact rank allocates and frees matrices of
/// megabytes to tens of megabytes from several threads, and glibc's malloc (whose mmap threshold
/// rises after such frees) kept them in its heaps, doubling the peak RSS on gemma-3-270m.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Read model weight files (safetensors, PyTorch, GGUF, NumPy, ONNX) and write per-tensor analysis tables.
#[derive(Parser, Debug)]
#[command(name = "weightlens", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log output on stderr (-v: info, -vv: debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// No summary, only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyze every tensor of the models under PATH... and write a table.
    Analyze(analyze::AnalyzeArgs),
    /// Compare two models tensor by tensor (any formats, e.g. a safetensors checkpoint and the
    /// GGUF made from it): rel_l2, cosine, SNR, max/mean |B - A| and the rank of B - A.
    Diff(diff::DiffArgs),
    /// List the tensors of the models under PATH... from their headers (no data is read).
    Ls(ls::LsArgs),
    /// Write one tensor's decoded values as a .npy file.
    Dump(dump::DumpArgs),
    /// Download a model from the Hugging Face hub (or a mirror) into the cache or a directory.
    Download(download::DownloadArgs),
    /// Write a self-contained HTML report (charts, heatmap, anomalies) of one table, or of two
    /// overlaid (e.g. a model and its quantized version).
    Report(report::ReportArgs),
    /// Merge part tables (the shards of an `analyze --shard K/N` run, or separate runs) into one
    /// sorted table and one run_meta.json.
    Merge(merge::MergeArgs),
    /// Tell for each file whether it is safe to hand to torch.load / pickle.load: an allow-list
    /// verdict (safe, unknown, malformed, dangerous) from its pickles, nothing executed.
    /// Exit code 0: all safe; 1: some unknown or malformed; 3: some dangerous.
    Scan(scan::ScanArgs),
    /// List every format reader (built-in and plugin) with the extensions and magic it reads.
    Formats(formats::FormatsArgs),
    /// List or check analyzer and reader plugins.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    if let Err(e) = signals::install() {
        tracing::warn!("{e:#}; an interrupted run may leave temporary files behind");
    }
    if let Command::Scan(args) = &cli.command {
        return match scan::run(args) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(scan::EXIT_NOT_SAFE)
            }
        };
    }
    let result = match &cli.command {
        Command::Analyze(args) => analyze::run(args, cli.quiet),
        Command::Diff(args) => diff::run(args, cli.quiet),
        Command::Ls(args) => ls::run(args),
        Command::Dump(args) => dump::run(args),
        Command::Download(args) => download::run(args, cli.quiet),
        Command::Report(args) => report::run(args, cli.quiet),
        Command::Merge(args) => merge::run(args, cli.quiet),
        Command::Formats(args) => formats::run(args),
        Command::Plugins(command) => plugins::run(command),
        Command::Scan(_) => Ok(false),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Two layers: stderr (warn; -v info; -vv debug; --quiet error; RUST_LOG overrides) and the run
/// log file (info, debug with -vv; written only while a command has one open).
fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{fmt, EnvFilter, Layer};

    let level = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    };
    let file_only = format!("{}=off", runlog::FILE_ONLY);
    let stderr_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let stderr_filter = match file_only.parse() {
        Ok(directive) => stderr_filter.add_directive(directive),
        Err(_) => stderr_filter,
    };
    let file_filter = EnvFilter::new(if verbose >= 2 { "debug" } else { "info" });
    tracing_subscriber::registry()
        .with(fmt::layer().with_writer(std::io::stderr).with_target(false).with_filter(stderr_filter))
        .with(fmt::layer().with_writer(runlog::RunLogWriter).with_ansi(false).with_filter(file_filter))
        .init();
}
