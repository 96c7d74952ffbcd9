//! The C ABI of reader plugins: shared libraries that read a file format weightlens does not
//! know. Declared in C by `include/weightlens_reader.h` (same types, checked by a layout test).
//!
//! A library exports [`READER_ENTRY_SYMBOL_V1`] (`weightlens_reader_v1`), a [`WlReaderEntryV1`]
//! returning a static [`WlReaderV1`] table. It may export the analyzer entry too: one library
//! may provide both kinds. The versioning rules are the analyzer ABI's (a major version per
//! symbol, minor versions append fields, [`WlAbiHeader`] read and checked before anything
//! else), with their own numbers: [`WL_READER_ABI_MAJOR`], [`WL_READER_ABI_MINOR`].
//!
//! # Calls
//! 1. `identify(head, head_len, path, path_len)`: [`WL_IDENTIFY_NO`], [`WL_IDENTIFY_MAYBE`] or
//!    [`WL_IDENTIFY_YES`] for the first bytes of a file (at most 4096).
//! 2. `open(path, path_len, &src)`: parses the file's headers into a source context.
//! 3. `tensor_count(src)`, then `tensor_info(src, i, &info)` for each tensor: name, shape, dtype
//!    (weightlens' vocabulary: the safetensors names `F32`, `F16`, `BF16`, `F64`, `F8_E4M3`,
//!    `F8_E5M2`, `I8`..`I64`, `U8`..`U64`, `BOOL`), byte length, optional metadata JSON.
//! 4. `tensor_data(src, i, &borrowed, buf, buf_len, &n_written)`: either sets `*borrowed` to
//!    the tensor's bytes, valid until `close` (zero-copy), and `*n_written` to their length, or, when `buf` is not NULL, copies
//!    them into the host's `buf` (`buf_len` bytes) and sets `*n_written`. The host first calls
//!    with `buf` NULL; a plugin that cannot lend its bytes returns [`WL_STATUS_NEED_BUFFER`] and
//!    the host calls again with a buffer of the tensor's byte length.
//! 5. `close(src)` once, after the last call on it.
//!
//! # Ownership
//! Strings and arrays in a [`WlReaderTensorV1`] are owned by the plugin and valid until `close`.
//! `last_error(src)` (with `src` NULL after a failed `open`) returns a message owned by the
//! plugin, valid until the next call from the same thread. The host serializes every call on one
//! source and validates every length the plugin reports: a byte length that does not match
//! shape x dtype, more bytes written than the buffer holds, a count or rank beyond the caps, are
//! errors for that file or tensor, never a read out of bounds. (A pointer that lies about the
//! memory behind it cannot be detected by any host: plugins are trusted code.)

use core::ffi::{c_char, c_void};

use crate::WlAbiHeader;

/// The reader ABI major version (in the entry symbol's name).
pub const WL_READER_ABI_MAJOR: u32 = 1;
/// The reader ABI minor version.
pub const WL_READER_ABI_MINOR: u32 = 0;
/// The entry symbol of reader ABI major version 1, without the trailing NUL.
pub const READER_ENTRY_SYMBOL_V1: &str = "weightlens_reader_v1";

/// `identify`: not this format.
pub const WL_IDENTIFY_NO: i32 = 0;
/// `identify`: a weak signature.
pub const WL_IDENTIFY_MAYBE: i32 = 1;
/// `identify`: surely this format.
pub const WL_IDENTIFY_YES: i32 = 2;
/// `tensor_data`: the plugin cannot lend its bytes; call again with a buffer.
pub const WL_STATUS_NEED_BUFFER: i32 = 3;

/// The most tensors a host accepts from one source.
pub const WL_READER_MAX_TENSORS: u64 = 1 << 24;
/// The most dimensions a host accepts for one tensor.
pub const WL_READER_MAX_NDIM: u64 = 64;
/// The longest tensor name, dtype or id a host accepts, in bytes.
pub const WL_READER_MAX_NAME: u64 = 64 * 1024;
/// The longest metadata JSON a host accepts per tensor, in bytes.
pub const WL_READER_MAX_METADATA: u64 = 1 << 20;

/// One tensor as a reader plugin describes it. Every pointer is owned by the plugin and valid
/// until `close`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WlReaderTensorV1 {
    /// The tensor's name (UTF-8, `name_len` bytes, no NUL needed).
    pub name: *const c_char,
    /// The length of `name`.
    pub name_len: u64,
    /// `ndim` dimensions, row-major; may be NULL when `ndim == 0`.
    pub shape: *const u64,
    /// The number of dimensions.
    pub ndim: u64,
    /// The dtype in weightlens' vocabulary (`F32`, `BF16`, `I8`, `BOOL`...).
    pub dtype: *const c_char,
    /// The length of `dtype`.
    pub dtype_len: u64,
    /// The tensor's bytes: must equal the element count times the dtype's size.
    pub byte_len: u64,
    /// Optional metadata as a JSON object (`metadata_len` bytes), or NULL.
    pub metadata_json: *const c_char,
    /// The length of `metadata_json`.
    pub metadata_len: u64,
}

/// `identify(head, head_len, path, path_len)` -> `WL_IDENTIFY_*`.
pub type WlIdentifyFn = unsafe extern "C" fn(head: *const u8, head_len: u64, path: *const c_char, path_len: u64) -> i32;
/// `open(path, path_len, src_out)` -> status; on failure `last_error(NULL)` or
/// `last_error(*src_out)` (then closed) explains.
pub type WlOpenFn = unsafe extern "C" fn(path: *const c_char, path_len: u64, src_out: *mut *mut c_void) -> i32;
/// `tensor_count(src)`.
pub type WlTensorCountFn = unsafe extern "C" fn(src: *mut c_void) -> u64;
/// `tensor_info(src, index, out)` -> status.
pub type WlTensorInfoFn = unsafe extern "C" fn(src: *mut c_void, index: u64, out: *mut WlReaderTensorV1) -> i32;
/// `tensor_data(src, index, borrowed_out, buf, buf_len, n_written)` -> status (see the module docs).
pub type WlTensorDataFn = unsafe extern "C" fn(
    src: *mut c_void,
    index: u64,
    borrowed_out: *mut *const u8,
    buf: *mut u8,
    buf_len: u64,
    n_written: *mut u64,
) -> i32;
/// `last_error(src)` -> NUL-terminated message or NULL.
pub type WlReaderLastErrorFn = unsafe extern "C" fn(src: *mut c_void) -> *const c_char;
/// `close(src)`.
pub type WlCloseFn = unsafe extern "C" fn(src: *mut c_void);

/// The entry function: returns the static table, or NULL.
pub type WlReaderEntryV1 = unsafe extern "C" fn() -> *const WlReaderV1;

/// The table returned by [`READER_ENTRY_SYMBOL_V1`], reader ABI 1.0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WlReaderV1 {
    /// `{ 1, WL_READER_ABI_MINOR, sizeof(WlReaderV1) }`.
    pub header: WlAbiHeader,
    /// The reader id, the `framework` column value (NUL-terminated, `[A-Za-z0-9_-]`, 1 to 64 bytes).
    pub id: *const c_char,
    /// A human name (NUL-terminated).
    pub name: *const c_char,
    /// The plugin's version (NUL-terminated).
    pub version: *const c_char,
    /// Comma-separated lower-case extensions without dots (`raw,tensors`), or "" (NUL-terminated).
    pub extensions: *const c_char,
    /// What `identify` looks for, for `weightlens formats` (NUL-terminated).
    pub magic: *const c_char,
    /// See [`WlIdentifyFn`].
    pub identify: Option<WlIdentifyFn>,
    /// See [`WlOpenFn`].
    pub open: Option<WlOpenFn>,
    /// See [`WlTensorCountFn`].
    pub tensor_count: Option<WlTensorCountFn>,
    /// See [`WlTensorInfoFn`].
    pub tensor_info: Option<WlTensorInfoFn>,
    /// See [`WlTensorDataFn`].
    pub tensor_data: Option<WlTensorDataFn>,
    /// See [`WlReaderLastErrorFn`].
    pub last_error: Option<WlReaderLastErrorFn>,
    /// See [`WlCloseFn`].
    pub close: Option<WlCloseFn>,
}

/// `struct_size` of a reader ABI 1.0 table.
pub const WL_READER_V1_SIZE: u64 = core::mem::size_of::<WlReaderV1>() as u64;

// SAFETY: a table is immutable and points to immutable static data (see "Ownership").
unsafe impl Sync for WlReaderV1 {}
// SAFETY: as above.
unsafe impl Send for WlReaderV1 {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_platform_independent_on_64_bit() {
        if core::mem::size_of::<usize>() == 8 {
            assert_eq!(core::mem::size_of::<WlReaderTensorV1>(), 72);
            assert_eq!(WL_READER_V1_SIZE, 16 + 5 * 8 + 7 * 8);
        }
    }
}
