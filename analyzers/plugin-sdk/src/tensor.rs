//! [`Tensor`]: the safe view of a `WlTensor` that an [`Analyzer`](crate::Analyzer) receives.

use std::borrow::Cow;

use crate::api::WlTensor;

/// One tensor: its values decoded to `f32` and what the host knows about it. Borrowed from the
/// host for the duration of one `analyze` call.
#[derive(Clone, Debug)]
pub struct Tensor<'a> {
    values: &'a [f32],
    shape: &'a [u64],
    name: Cow<'a, str>,
    dtype: Cow<'a, str>,
    layer_index: Option<u64>,
    block_type: Cow<'a, str>,
}

impl<'a> Tensor<'a> {
    /// A tensor from plain Rust data (for testing an analyzer without a host).
    pub fn new(values: &'a [f32], shape: &'a [u64], name: &'a str, dtype: &'a str) -> Self {
        Tensor {
            values,
            shape,
            name: Cow::Borrowed(name),
            dtype: Cow::Borrowed(dtype),
            layer_index: None,
            block_type: Cow::Borrowed("other"),
        }
    }

    /// Sets the layer index and block type (for testing).
    pub fn with_layer(mut self, layer_index: Option<u64>, block_type: &'a str) -> Self {
        self.layer_index = layer_index;
        self.block_type = Cow::Borrowed(block_type);
        self
    }

    /// Views the host's tensor.
    ///
    /// # Safety
    /// Every pointer in `raw` must be valid for its length as the ABI says (NULL or dangling only
    /// with a zero length), for the lifetime `'a`.
    pub(crate) unsafe fn from_raw(raw: &'a WlTensor) -> Result<Self, String> {
        // SAFETY: forwarded from the caller for each (pointer, length) pair.
        unsafe {
            Ok(Tensor {
                values: raw_slice(raw.values, raw.n_values, "values")?,
                shape: raw_slice(raw.shape, raw.ndim, "shape")?,
                name: raw_str(raw.name, raw.name_len, "name")?,
                dtype: raw_str(raw.dtype, raw.dtype_len, "dtype")?,
                layer_index: u64::try_from(raw.layer_index).ok(),
                block_type: raw_str(raw.block_type, raw.block_type_len, "block_type")?,
            })
        }
    }

    /// The values in row-major order.
    pub fn values(&self) -> &'a [f32] {
        self.values
    }

    /// The dimensions in row-major order (`[rows, cols]` for a matrix, empty for a scalar).
    pub fn shape(&self) -> &'a [u64] {
        self.shape
    }

    /// The tensor name as the file stores it (invalid UTF-8 replaced by U+FFFD).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The storage type as the file names it (`BF16`, `Q4_K`, `float16`...).
    pub fn dtype(&self) -> &str {
        &self.dtype
    }

    /// The layer number parsed from the name, if the tensor belongs to a layer.
    pub fn layer_index(&self) -> Option<u64> {
        self.layer_index
    }

    /// The block type the host classified the tensor as (`q_proj`, `mlp_up`, `embedding`...).
    pub fn block_type(&self) -> &str {
        &self.block_type
    }
}

/// # Safety
/// `ptr` must be valid for `len` elements unless `len` is 0.
unsafe fn raw_slice<'a, T>(ptr: *const T, len: u64, what: &str) -> Result<&'a [T], String> {
    if len == 0 {
        return Ok(&[]);
    }
    let len = usize::try_from(len).map_err(|_| format!("tensor {what} length {len} does not fit in memory"))?;
    if ptr.is_null() || !ptr.is_aligned() {
        return Err(format!("tensor {what} pointer is NULL or misaligned"));
    }
    // SAFETY: non-null, aligned and valid for `len` elements per the caller.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// # Safety
/// As [`raw_slice`].
unsafe fn raw_str<'a>(ptr: *const std::ffi::c_char, len: u64, what: &str) -> Result<Cow<'a, str>, String> {
    // SAFETY: forwarded.
    let bytes = unsafe { raw_slice(ptr.cast::<u8>(), len, what)? };
    Ok(String::from_utf8_lossy(bytes))
}
