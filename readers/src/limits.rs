//! Memory limits shared by the readers that must copy a tensor into memory (inflating a
//! deflated zip member, reordering Fortran-order data): the size is checked before allocating.

use weightlens_core::{Error, Result, TensorInfo};

pub use weightlens_core::{OpenOptions, DEFAULT_MAX_TENSOR_BYTES};

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
