//! `plugins check`: load a plugin and run it once on a small built-in tensor.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weightlens_core::{ByteOrder, Dtype, Framework, Result, TensorAnalyzer, TensorInfo, TensorView};

use super::{PluginAnalyzer, PluginInfo};

/// The name of the built-in tensor (a layer tensor, so the plugin sees a layer index and block type).
pub const CHECK_TENSOR_NAME: &str = "model.layers.0.mlp.up_proj.weight";

/// The shape of the built-in tensor.
pub const CHECK_TENSOR_SHAPE: [u64; 2] = [4, 8];

/// The values of the built-in tensor: 32 distinct multiples of 1/16 in [-1, 1), one of them 0.
pub fn check_tensor_values() -> Vec<f32> {
    (0..32u16).map(|i| f32::from((i * 37) % 32) / 16.0 - 1.0).collect()
}

/// What `plugins check` shows.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckReport {
    /// What the plugin says about itself (path, name, version, ABI version, metrics, threads).
    pub info: PluginInfo,
    /// `(column, value)` for each metric, from one run on the built-in tensor.
    pub sample: Vec<(String, f64)>,
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.info;
        writeln!(f, "library:     {}", i.path.display())?;
        writeln!(f, "name:        {}", i.name)?;
        writeln!(f, "version:     {}", i.version)?;
        writeln!(f, "abi:         {}.{}", i.abi_major, i.abi_minor)?;
        writeln!(f, "thread-safe: {}", if i.thread_safe { "yes" } else { "no (calls are serialized)" })?;
        writeln!(f, "metrics:     {}", i.metrics.join(", "))?;
        writeln!(f, "run on {CHECK_TENSOR_NAME} {CHECK_TENSOR_SHAPE:?} F32:")?;
        for (column, value) in &self.sample {
            writeln!(f, "  {column} = {value}")?;
        }
        Ok(())
    }
}

/// Loads the plugin at `path` and runs it once on the built-in tensor. Any failure (loading,
/// `create`, `analyze`, a wrong number of values) is the error it would be during an analysis.
pub fn check(path: &Path) -> Result<CheckReport> {
    let analyzer = PluginAnalyzer::load(path)?;
    let values = check_tensor_values();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let file: Arc<Path> = Arc::from(PathBuf::from("<built-in check tensor>"));
    let info = TensorInfo::new(
        CHECK_TENSOR_NAME,
        Dtype::F32,
        Framework::SAFETENSORS,
        CHECK_TENSOR_SHAPE.to_vec(),
        file,
        0,
        bytes.len() as u64,
    );
    let view = TensorView::plain(&info, Cow::Borrowed(&bytes), Dtype::F32, ByteOrder::Little)?;
    let metrics = analyzer.analyze(&view)?;
    let sample = analyzer
        .columns()
        .into_iter()
        .zip(metrics)
        .map(|(column, value)| (column.name, value.as_f64().unwrap_or(f64::NAN)))
        .collect();
    Ok(CheckReport { info: analyzer.info().clone(), sample })
}
