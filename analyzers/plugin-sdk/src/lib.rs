//! Write weightlens analyzer plugins in safe Rust.
//!
//! Implement [`Analyzer`] for a type and invoke [`export_analyzer!`] once in a `cdylib` crate; the
//! macro exports the ABI entry symbol (`weightlens_analyzer_v1`) and every `extern "C"` function
//! of the table described in `weightlens-plugin-api`. Each of them runs inside `catch_unwind`: a
//! panic becomes the status `WL_STATUS_PANIC` with the panic message and location, and never
//! crosses the boundary (which would abort the host).
//!
//! ```
//! use weightlens_plugin_sdk::{export_analyzer, Analyzer, Tensor};
//!
//! struct AbsMax;
//!
//! impl Analyzer for AbsMax {
//!     fn name() -> &'static str { "absmax" }
//!     fn version() -> &'static str { env!("CARGO_PKG_VERSION") }
//!     fn metrics() -> &'static [&'static str] { &["value"] }
//!     fn create() -> Result<Self, String> { Ok(AbsMax) }
//!     fn analyze(&self, tensor: &Tensor<'_>) -> Result<Vec<f64>, String> {
//!         let max = tensor.values().iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
//!         Ok(vec![max])
//!     }
//! }
//!
//! export_analyzer!(AbsMax);
//! ```
//!
//! Build the crate with `crate-type = ["cdylib"]` and keep the default `panic = "unwind"`
//! (with `panic = "abort"` a panic ends the host process).

#![warn(missing_docs)]

mod ffi;
mod guard;
pub mod reader;
mod tensor;

pub use tensor::Tensor;
pub use weightlens_plugin_api as api;

/// A plugin analyzer: metric values of one tensor at a time.
///
/// `name`, `version` and `metrics` describe the plugin before any instance exists, so they are
/// associated functions. The host creates one instance per load with [`Analyzer::create`].
pub trait Analyzer: Sized + Send + Sync + 'static {
    /// True when `analyze` may run on several threads at once (the `Sync` bound makes that safe
    /// for Rust code; set it to false when `analyze` calls code that is not reentrant, and the
    /// host then serializes every call).
    const THREAD_SAFE: bool = true;

    /// The plugin name, the prefix of its columns: `[A-Za-z0-9_-]`, 1 to 64 bytes.
    fn name() -> &'static str;

    /// The plugin version (free text, e.g. `env!("CARGO_PKG_VERSION")`).
    fn version() -> &'static str;

    /// The metric names, in the order `analyze` returns their values: `[A-Za-z0-9_-]`, unique.
    fn metrics() -> &'static [&'static str];

    /// Creates the analyzer (load a configuration, allocate tables...).
    fn create() -> Result<Self, String>;

    /// One value per metric, in the order of [`Analyzer::metrics`] (NaN where a metric is
    /// undefined for this tensor), or a one-line message saying why the tensor cannot be analyzed.
    fn analyze(&self, tensor: &Tensor<'_>) -> Result<Vec<f64>, String>;
}

/// Exports `$ty` (an [`Analyzer`]) as a weightlens plugin: defines the `extern "C"` entry symbol
/// `weightlens_analyzer_v1`. Invoke it once per `cdylib`.
#[macro_export]
macro_rules! export_analyzer {
    ($ty:ty) => {
        /// The weightlens plugin entry point (ABI major version 1).
        #[unsafe(no_mangle)]
        pub extern "C" fn weightlens_analyzer_v1() -> *const $crate::api::WlAnalyzerV1 {
            static TABLE: $crate::__private::TableCell = $crate::__private::TableCell::new();
            $crate::__private::entry::<$ty>(&TABLE)
        }
    };
}

/// Exports `$ty` (a [`reader::Reader`]) as a weightlens reader plugin: defines the `extern "C"`
/// entry symbol `weightlens_reader_v1`. May be used beside [`export_analyzer!`] in one `cdylib`.
#[macro_export]
macro_rules! export_reader {
    ($ty:ty) => {
        /// The weightlens reader plugin entry point (reader ABI major version 1).
        #[unsafe(no_mangle)]
        pub extern "C" fn weightlens_reader_v1() -> *const $crate::api::reader::WlReaderV1 {
            static TABLE: $crate::reader::ReaderTableCell = $crate::reader::ReaderTableCell::new();
            $crate::reader::reader_entry::<$ty>(&TABLE)
        }
    };
}

#[doc(hidden)]
pub mod __private {
    //! Used by [`export_analyzer!`](crate::export_analyzer); not a public interface.
    pub use crate::ffi::{entry, TableCell};
}
