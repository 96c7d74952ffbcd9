//! A plugin whose `analyze` panics on every tensor whose name contains "layers.1.", and works on
//! the others. The host's tests load it to check that a Rust panic inside a plugin becomes an
//! error for that tensor (status `WL_STATUS_PANIC`) and never crosses the FFI boundary.

use weightlens_plugin_sdk::{export_analyzer, Analyzer, Tensor};

struct Panicking;

impl Analyzer for Panicking {
    fn name() -> &'static str {
        "panicking"
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn metrics() -> &'static [&'static str] {
        &["numel"]
    }

    fn create() -> Result<Self, String> {
        Ok(Panicking)
    }

    fn analyze(&self, tensor: &Tensor<'_>) -> Result<Vec<f64>, String> {
        if tensor.name().contains("layers.1.") {
            panic!("deliberate panic on {}", tensor.name());
        }
        Ok(vec![tensor.values().len() as f64])
    }
}

export_analyzer!(Panicking);
