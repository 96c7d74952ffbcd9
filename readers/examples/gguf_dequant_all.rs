//! Opens a GGUF model and dequantizes every tensor once, in block-aligned chunks (the way the
//! statistics pass consumes them), printing open and decode times. Used for the numbers in the
//! GGUF section of the README.
//!
//! `cargo run --release -p weightlens-readers --example gguf_dequant_all -- MODEL.gguf`

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: gguf_dequant_all MODEL.gguf")?;
    let t0 = Instant::now();
    let src = weightlens_readers::open_path(std::path::Path::new(&path))?;
    let opened = t0.elapsed();
    let t1 = Instant::now();
    let (mut values, mut checksum) = (0usize, 0f64);
    let mut buf = vec![0f32; 1 << 16];
    for i in 0..src.tensors().len() {
        let view = src.view(i)?;
        let mut start = 0;
        while start < view.numel() {
            let n = buf.len().min(view.numel() - start);
            view.decode_f32(start, &mut buf[..n])?;
            checksum += buf[..n].iter().map(|&x| f64::from(x)).sum::<f64>();
            start += n;
        }
        values += view.numel();
    }
    let decoded = t1.elapsed();
    #[allow(clippy::print_stdout)]
    {
        println!("{} tensors, {values} values", src.tensors().len());
        println!(
            "open: {opened:?}; dequantize + sum: {decoded:?} ({:.2} GB/s of f32)",
            values as f64 * 4.0 / decoded.as_secs_f64() / 1e9
        );
        println!("checksum {checksum}");
    }
    Ok(())
}
