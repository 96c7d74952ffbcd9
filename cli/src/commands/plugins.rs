//! `weightlens plugins list|check`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use weightlens_analyzers::plugin::{check, plugin_paths_from_env, Plugin, PLUGIN_PATH_ENV};

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
