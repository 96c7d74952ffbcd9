//! `weightlens plugins list|check`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use weightlens_analyzers::plugin::{
    check, has_analyzer_entry, has_reader_entry, plugin_paths_from_env, Plugin, ReaderPlugin, PLUGIN_PATH_ENV,
};
use weightlens_core::FormatReader;

#[derive(Subcommand, Debug)]
pub enum PluginsCommand {
    /// The plugins that `analyze` would load (from WEIGHTLENS_PLUGIN_PATH and --plugin).
    List {
        /// Plugins given on the command line too.
        #[arg(long = "plugin", value_name = "PATH")]
        plugins: Vec<PathBuf>,
    },
    /// Load a plugin, show what it declares, and run it once on a small built-in tensor.
    Check {
        /// The shared library.
        path: PathBuf,
    },
}

pub fn run(command: &PluginsCommand) -> Result<bool> {
    match command {
        PluginsCommand::List { plugins } => {
            let mut paths = plugins.clone();
            paths.extend(plugin_paths_from_env());
            if paths.is_empty() {
                println!("no plugins (pass --plugin PATH or set {PLUGIN_PATH_ENV})");
            }
            let mut ok = true;
            for path in paths {
                if has_reader_entry(&path) {
                    ok &= show_reader(&path);
                    if !has_analyzer_entry(&path) {
                        continue;
                    }
                }
                match Plugin::load(&path) {
                    Ok(p) => {
                        let i = p.info();
                        println!("{}  {} {}  metrics: {}", path.display(), i.name, i.version, i.metrics.join(", "));
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ok = false;
                    }
                }
            }
            Ok(ok)
        }
        PluginsCommand::Check { path } if has_reader_entry(path) && !has_analyzer_entry(path) => Ok(show_reader(path)),
        PluginsCommand::Check { path } => match check(path) {
            Ok(report) => {
                print!("{report}");
                Ok(true)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(false)
            }
        },
    }
}

/// Loads a reader plugin and prints what it declares; false when it cannot be used.
fn show_reader(path: &std::path::Path) -> bool {
    match ReaderPlugin::load(path) {
        Ok(r) => {
            println!(
                "{}  reader {} {}  {} (extensions: {}; magic: {})",
                path.display(),
                r.id(),
                r.version(),
                r.name(),
                r.extensions().join(","),
                r.magic()
            );
            true
        }
        Err(e) => {
            eprintln!("error: {e}");
            false
        }
    }
}
