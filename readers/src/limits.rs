//! Memory limits shared by the readers that must copy a tensor into memory (inflating a
//! deflated zip member, reordering Fortran-order data): the size is checked before allocating.

use weightlens_core::{Error, Result, TensorInfo};

/// The largest tensor (in bytes) that is inflated or reordered into memory by default: 4 GiB,
/// above the largest single tensor of common checkpoints stored that way, and far below what a
/// decompression bomb claims. Memory-mapped tensors are not subject to it.
pub const DEFAULT_MAX_TENSOR_BYTES: u64 = 4 << 30;

/// Options for opening a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// Tensors needing more than this many bytes of memory (to inflate or reorder) are errors.
    pub max_tensor_bytes: u64,
    /// Read tensors out of pickles that reference dangerous globals (nothing is executed;
    /// off by default: such files are refused).
    pub allow_unsafe_pickle: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { max_tensor_bytes: DEFAULT_MAX_TENSOR_BYTES, allow_unsafe_pickle: false }
    }
}

/// Refuses to allocate `bytes` for tensor `info` beyond the `max_tensor_bytes` `limit`.
pub fn check_limit(info: &TensorInfo, bytes: u64, limit: u64) -> Result<()> {
    if bytes > limit {
        return Err(Error::tensor(
            info.file.as_ref(),
            &info.name,
            format!("needs {bytes} bytes in memory, more than the limit of {limit} (max_tensor_bytes)"),
        ));
    }
    Ok(())
}
