//! One tensor's decoded values as a standard `.npy` (float32 for float and quantized types,
//! float64 for F64, the stored type for integers and bool), for any format weightlens reads:
//! the data of `weightlens dump`.

use std::path::Path;

use weightlens_core::{ByteOrder, Dtype, TensorSource};
use weightlens_readers::limits::OpenOptions;
use weightlens_readers::numpy::write_npy;

use crate::{Error, Result};

/// The `.npy` bytes of tensor `tensor` of the model at `path` (a file, a directory or the index
/// of a sharded model). The decoded values and the `.npy` copy are held in memory, so a tensor
/// needing more than `options.max_tensor_bytes` for them is refused.
pub fn tensor_npy(path: &Path, tensor: &str, options: &OpenOptions) -> Result<Vec<u8>> {
    let discovery = weightlens_readers::discover(std::slice::from_ref(&path.to_path_buf()));
    if let Some(e) = discovery.errors.into_iter().next() {
        return Err(e.into());
    }
    for model in &discovery.models {
        let source = weightlens_readers::open_model_with(model, options)?;
        if let Some(index) = source.tensors().iter().position(|t| t.name == tensor) {
            let (dtype, shape, bytes) = decode_tensor(source.as_ref(), index, options.max_tensor_bytes)?;
            let mut npy = Vec::with_capacity(bytes.len() + 128);
            write_npy(&mut npy, dtype, &shape, &bytes).map_err(|source| Error::Npy {
                path: model.path.clone(),
                tensor: tensor.to_string(),
                source,
            })?;
            return Ok(npy);
        }
    }
    Err(Error::NoSuchTensor { path: path.to_path_buf(), tensor: tensor.to_string() })
}

/// The dtype `dump` writes a tensor stored as `stored` in: integers and bool as stored, F64 as
/// F64, every other type (floats, quantized) decoded to F32.
pub fn dump_dtype(stored: Dtype) -> Dtype {
    match stored {
        Dtype::I8
        | Dtype::I16
        | Dtype::I32
        | Dtype::I64
        | Dtype::U8
        | Dtype::U16
        | Dtype::U32
        | Dtype::U64
        | Dtype::Bool
        | Dtype::F64 => stored,
        _ => Dtype::F32,
    }
}

/// The values of tensor `index` of `source` as little-endian bytes of [`dump_dtype`], with that
/// dtype and the shape. The values are held in memory, so a tensor needing more than
/// `max_bytes` (up to 8 bytes per element) is refused.
pub fn decode_tensor(source: &dyn TensorSource, index: usize, max_bytes: u64) -> Result<(Dtype, Vec<u64>, Vec<u8>)> {
    let info = source
        .tensors()
        .get(index)
        .ok_or_else(|| Error::NoSuchTensor { path: source.path().to_path_buf(), tensor: format!("#{index}") })?;
    let needed = info.numel().unwrap_or(u64::MAX).saturating_mul(8);
    if needed > max_bytes {
        return Err(Error::DumpTooLarge {
            path: source.path().to_path_buf(),
            tensor: info.name.clone(),
            needed,
            limit: max_bytes,
        });
    }
    let view = source.view(index)?;
    // The type written follows the view, not `info.dtype`: a quantized weight's logical tensor
    // keeps its packed component's dtype (e.g. I32 for GPTQ) but is served as computed values.
    let Some((dtype, order, raw)) = view.plain_bytes() else {
        let values = view.to_f32_vec()?;
        return Ok((Dtype::F32, info.shape.clone(), values.iter().flat_map(|v| v.to_le_bytes()).collect()));
    };
    match dump_dtype(dtype) {
        Dtype::F64 => {
            let bytes = view.to_f64_vec()?.iter().flat_map(|v| v.to_le_bytes()).collect();
            Ok((Dtype::F64, info.shape.clone(), bytes))
        }
        Dtype::F32 => {
            let bytes = view.to_f32_vec()?.iter().flat_map(|v| v.to_le_bytes()).collect();
            Ok((Dtype::F32, info.shape.clone(), bytes))
        }
        _ => {
            let size = dtype.size().unwrap_or(1);
            let mut bytes = raw.to_vec();
            if order == ByteOrder::Big {
                bytes.chunks_exact_mut(size).for_each(<[u8]>::reverse);
            }
            Ok((dtype, info.shape.clone(), bytes))
        }
    }
}
