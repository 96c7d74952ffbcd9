//! The C ABI between weightlens (the host) and analyzer plugins.
//!
//! A plugin is a shared library (`.so`, `.dylib`, `.dll`) exporting one entry symbol per ABI major
//! version. For major version 1 that is [`ENTRY_SYMBOL_V1`] (`weightlens_analyzer_v1`), a function
//! of type [`WlEntryV1`] returning a pointer to a [`WlAnalyzerV1`] table. The C header
//! `include/weightlens_plugin.h` declares exactly the same types; a test checks that sizes and
//! field offsets agree.
//!
//! # Versioning
//! - The **major** version is part of the symbol name. A change that is not an append (a field
//!   removed, retyped or reordered, a changed calling convention) is a new major version with a new
//!   symbol (`weightlens_analyzer_v2`); a host may look up several symbols.
//! - A **minor** version only appends fields at the end of the table. The table's `struct_size`
//!   says how many bytes the plugin provides, so a newer host reads appended fields only when
//!   `struct_size` covers them, and an older host ignores fields it does not know.
//! - The host reads the [`WlAbiHeader`] first and nothing else until the major version and the
//!   size have been checked.
//!
//! # Ownership and lifetimes
//! - The table and every string and array it points to are owned by the plugin and must stay
//!   valid and unchanged for as long as the library is loaded. The host never frees them.
//! - A context (`ctx`) is created by `create` and released by `destroy`, exactly once, after the
//!   last other call on it. `destroy` may run on a different thread than `create`.
//! - Everything a [`WlTensor`] points to is owned by the host and valid only during the `analyze`
//!   call it is passed to; a plugin that needs the data later must copy it.
//! - `out_values` and `n_written` are owned by the host; the plugin writes at most `n_out` values.
//! - The string returned by `last_error` is owned by the plugin and must stay valid until the next
//!   call into the plugin from the same thread; the host copies it at once.
//!
//! # Threads
//! When `thread_safe` is non-zero the host may call `analyze` (each followed by `last_error` on
//! failure, on the same thread) from several threads at once with the same context, so error
//! messages must be kept per thread. When it is zero the host serializes every call into the
//! library. Plugins must never let a C++ exception or a Rust panic unwind out of a call.

#![no_std]
#![warn(missing_docs)]

use core::ffi::{c_char, c_void};

pub mod reader;

/// The ABI major version this crate describes (it is in the entry symbol's name).
pub const WL_ABI_MAJOR: u32 = 1;

/// The ABI minor version this crate describes (fields appended to [`WlAnalyzerV1`]).
pub const WL_ABI_MINOR: u32 = 0;

/// The entry symbol of ABI major version 1, without the trailing NUL.
pub const ENTRY_SYMBOL_V1: &str = "weightlens_analyzer_v1";

/// `analyze`/`create` succeeded.
pub const WL_STATUS_OK: i32 = 0;
/// `analyze`/`create` failed; `last_error` says why.
pub const WL_STATUS_ERROR: i32 = 1;
/// The plugin panicked (or threw) and caught it at the boundary; `last_error` says where.
pub const WL_STATUS_PANIC: i32 = 2;

/// The start of every entry table, whatever its major version.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WlAbiHeader {
    /// The ABI major version the plugin was built for; must equal the symbol's version.
    pub abi_major: u32,
    /// The ABI minor version the plugin was built for.
    pub abi_minor: u32,
    /// `sizeof` the whole table as the plugin built it (header included).
    pub struct_size: u64,
}

/// One tensor handed to `analyze`: its decoded values and what the host knows about it.
///
/// Every pointer is owned by the host and valid only during the call. Strings are UTF-8 (tensor
/// names from files are not guaranteed to be; invalid bytes are passed as they are), are followed
/// by a NUL byte, and carry their length without that NUL (a name may itself hold a NUL).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WlTensor {
    /// The values in row-major order, decoded to `f32`. May be NULL or dangling when
    /// `n_values == 0`: do not dereference it then.
    pub values: *const f32,
    /// The number of values (the product of the dimensions).
    pub n_values: u64,
    /// The dimensions in row-major order (`[rows, cols]` for a matrix); may be NULL or dangling
    /// when `ndim == 0` (a scalar).
    pub shape: *const u64,
    /// The number of dimensions.
    pub ndim: u64,
    /// The tensor's name as the file stores it (`model.layers.0.mlp.up_proj.weight`).
    pub name: *const c_char,
    /// The length of `name` in bytes.
    pub name_len: u64,
    /// The storage type as the file names it (`BF16`, `Q4_K`, `float16`...).
    pub dtype: *const c_char,
    /// The length of `dtype` in bytes.
    pub dtype_len: u64,
    /// The layer/block number parsed from the name, or -1 for tensors outside any layer.
    pub layer_index: i64,
    /// The block type the host classified the tensor as (`q_proj`, `mlp_up`, `embedding`, ...).
    pub block_type: *const c_char,
    /// The length of `block_type` in bytes.
    pub block_type_len: u64,
}

/// The entry function: returns the plugin's table (static, never freed), or NULL if the plugin
/// cannot work at all. The host calls it once per load, before anything else.
pub type WlEntryV1 = unsafe extern "C" fn() -> *const WlAnalyzerV1;

/// Creates a context. On success writes it to `*ctx_out` and returns [`WL_STATUS_OK`]. On failure
/// returns another status; if it still wrote a context to `*ctx_out`, the host reads
/// `last_error` from it and then destroys it.
pub type WlCreateFn = unsafe extern "C" fn(ctx_out: *mut *mut c_void) -> i32;

/// Analyzes one tensor: writes one value per declared metric to `out_values[0..n_metrics]` (NaN
/// where a metric is undefined), sets `*n_written` to the number of values written, and returns
/// [`WL_STATUS_OK`]. `n_out` is the capacity of `out_values`; never write past it. Any other
/// status is a failure explained by `last_error`.
pub type WlAnalyzeFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    tensor: *const WlTensor,
    out_values: *mut f64,
    n_out: u64,
    n_written: *mut u64,
) -> i32;

/// The message of the last failed call on `ctx` from the calling thread (NUL-terminated UTF-8),
/// or NULL when there is none. `ctx` may be NULL after a failed `create` that wrote no context.
pub type WlLastErrorFn = unsafe extern "C" fn(ctx: *mut c_void) -> *const c_char;

/// Releases a context created by `create`.
pub type WlDestroyFn = unsafe extern "C" fn(ctx: *mut c_void);

/// The table returned by [`ENTRY_SYMBOL_V1`], ABI 1.0.
///
/// Minor versions append fields after `destroy`; the host reads them only when `struct_size`
/// covers them.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WlAnalyzerV1 {
    /// `{ 1, WL_ABI_MINOR, sizeof(WlAnalyzerV1) }`.
    pub header: WlAbiHeader,
    /// The plugin's name (NUL-terminated, `[A-Za-z0-9_-]`, at most 64 bytes): the column prefix.
    pub name: *const c_char,
    /// The plugin's version (NUL-terminated, free text such as `1.2.0`).
    pub version: *const c_char,
    /// The number of metrics (at most 1024).
    pub n_metrics: u64,
    /// `n_metrics` NUL-terminated metric names (`[A-Za-z0-9_-]`, unique, at most 64 bytes each).
    /// The output columns are `<name>.<metric>`.
    pub metric_names: *const *const c_char,
    /// Non-zero when `analyze` may run concurrently (see the crate docs).
    pub thread_safe: u32,
    /// Zero; keeps the layout identical on every platform.
    pub reserved: u32,
    /// See [`WlCreateFn`].
    pub create: Option<WlCreateFn>,
    /// See [`WlAnalyzeFn`].
    pub analyze: Option<WlAnalyzeFn>,
    /// See [`WlLastErrorFn`].
    pub last_error: Option<WlLastErrorFn>,
    /// See [`WlDestroyFn`].
    pub destroy: Option<WlDestroyFn>,
}

/// `struct_size` of an ABI 1.0 table.
pub const WL_ANALYZER_V1_SIZE: u64 = core::mem::size_of::<WlAnalyzerV1>() as u64;

/// The largest number of metrics a host accepts from one plugin.
pub const WL_MAX_METRICS: u64 = 1024;

/// The longest plugin or metric name a host accepts, in bytes.
pub const WL_MAX_NAME_LEN: usize = 64;

// Raw pointers are not Sync, but a table is immutable and its pointers refer to immutable static
// data (see "Ownership"), so plugins may keep it in a `static`.
// SAFETY: the ABI forbids changing a table or what it points to after the entry returned it.
unsafe impl Sync for WlAnalyzerV1 {}
// SAFETY: as above; nothing in the table is tied to a thread.
unsafe impl Send for WlAnalyzerV1 {}

/// True when `name` is a valid plugin or metric name (`[A-Za-z0-9_-]`, 1 to 64 bytes).
pub fn is_valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= WL_MAX_NAME_LEN
        && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_restricted_to_a_column_safe_alphabet() {
        assert!(is_valid_name(b"moments"));
        assert!(is_valid_name(b"frac_6sigma"));
        assert!(!is_valid_name(b""));
        assert!(!is_valid_name(b"a.b"));
        assert!(!is_valid_name(b"a,b"));
        assert!(!is_valid_name(&[b'a'; 65]));
    }

    #[test]
    fn layout_is_platform_independent_on_64_bit() {
        if core::mem::size_of::<usize>() == 8 {
            assert_eq!(core::mem::size_of::<WlAbiHeader>(), 16);
            assert_eq!(core::mem::size_of::<WlTensor>(), 88);
            assert_eq!(WL_ANALYZER_V1_SIZE, 88);
        }
    }
}
