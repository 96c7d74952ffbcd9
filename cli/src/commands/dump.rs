//! `weightlens dump FILE TENSOR --out values.npy`: one tensor's decoded values as a standard
//! `.npy` (float32 for float and quantized types, float64 for F64, the stored type for integers
//! and bool), for any format weightlens reads.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use weightlens_core::{ByteOrder, Dtype, TensorSource};
use weightlens_readers::limits::{OpenOptions, DEFAULT_MAX_TENSOR_BYTES};
use weightlens_readers::numpy::write_npy;

use crate::export::write_atomic;

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// A model file (or directory / index of a sharded model).
    pub path: PathBuf,
    /// The tensor name, as `weightlens ls` shows it.
    pub tensor: String,
    /// The `.npy` file to write.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Largest tensor, in bytes, that may be copied into memory to be read (as `analyze`).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_TENSOR_BYTES)]
    pub max_tensor_bytes: u64,
}

pub fn run(args: &DumpArgs) -> Result<bool> {
    let discovery = weightlens_readers::discover(std::slice::from_ref(&args.path));
    if let Some(e) = discovery.errors.first() {
        bail!("{e}");
    }
    for model in &discovery.models {
        let options = OpenOptions { max_tensor_bytes: args.max_tensor_bytes, ..OpenOptions::default() };
        let source = weightlens_readers::open_model_with(model, &options)?;
        if let Some(index) = source.tensors().iter().position(|t| t.name == args.tensor) {
            let numel = source.tensors()[index].numel().unwrap_or(u64::MAX);
            // The decoded values (up to 8 bytes each) and the .npy copy are held in memory.
            let needed = numel.saturating_mul(8);
            if needed > args.max_tensor_bytes {
                bail!(
                    "{}: tensor {:?} would need up to {needed} bytes to dump, more than --max-tensor-bytes {}",
                    model.path.display(),
                    args.tensor,
                    args.max_tensor_bytes
                );
            }
            let (dtype, shape, bytes) = decoded(source.as_ref(), index)?;
            let mut npy = Vec::with_capacity(bytes.len() + 128);
            write_npy(&mut npy, dtype, &shape, &bytes).context("encoding .npy")?;
            write_atomic(&args.out, &npy)?;
            return Ok(true);
        }
    }
    bail!("{}: no tensor named {:?} (see `weightlens ls`)", args.path.display(), args.tensor)
}

/// The tensor's values as little-endian bytes of the dtype they are written as.
fn decoded(source: &dyn TensorSource, index: usize) -> Result<(Dtype, Vec<u64>, Vec<u8>)> {
    let view = source.view(index)?;
    let info = view.info();
    let integer = matches!(
        info.dtype,
        Dtype::I8
            | Dtype::I16
            | Dtype::I32
            | Dtype::I64
            | Dtype::U8
            | Dtype::U16
            | Dtype::U32
            | Dtype::U64
            | Dtype::Bool
    );
    let bytes = match view.plain_bytes() {
        Some((dtype, order, raw)) if integer => {
            let size = dtype.size().unwrap_or(1);
            let mut bytes = raw.to_vec();
            if order == ByteOrder::Big {
                bytes.chunks_exact_mut(size).for_each(<[u8]>::reverse);
            }
            return Ok((dtype, info.shape.clone(), bytes));
        }
        _ if info.dtype == Dtype::F64 => view.to_f64_vec()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
        _ => view.to_f32_vec()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
    };
    let dtype = if info.dtype == Dtype::F64 { Dtype::F64 } else { Dtype::F32 };
    Ok((dtype, info.shape.clone(), bytes))
}
