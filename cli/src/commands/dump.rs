//! `weightlens dump FILE TENSOR --out values.npy`: one tensor's decoded values as a standard
//! `.npy` (float32 for float and quantized types, float64 for F64, the stored type for integers
//! and bool), for any format weightlens reads.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use weightlens_engine::dump::tensor_npy;
use weightlens_engine::export::write_atomic;
use weightlens_readers::limits::{OpenOptions, DEFAULT_MAX_TENSOR_BYTES};

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
    let options = OpenOptions { max_tensor_bytes: args.max_tensor_bytes, ..OpenOptions::default() };
    let npy = tensor_npy(&args.path, &args.tensor, &options)?;
    write_atomic(&args.out, &npy)?;
    Ok(true)
}
