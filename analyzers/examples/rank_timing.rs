//! One-off timing of the exact rank, the approximate rank and the spectral decomposition on a
//! random BF16-valued matrix (not a benchmark suite: run it once per shape).
//!
//! `cargo run --release -p weightlens-analyzers --example rank_timing -- ROWS COLS [exact,approx,spectral]`
#![allow(clippy::print_stdout)]

use std::time::Instant;

use weightlens_analyzers::rank::numerical_rank;
use weightlens_analyzers::rank_approx::approx_rank;
use weightlens_analyzers::singular::{singular_values, Method};
use weightlens_analyzers::spectral::spectrum;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dim = |i: usize| args.get(i).and_then(|a| a.parse::<usize>().ok()).ok_or("usage: ROWS COLS [WHAT]");
    let (rows, cols) = (dim(1)?, dim(2)?);
    let what = args.get(3).map_or("exact,approx,spectral", String::as_str);
    // Gaussian-like values rounded to BF16 (8 significant bits), like trained weights.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let data: Vec<f64> = (0..rows * cols)
        .map(|_| {
            let u: f64 = (0..4)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 11) as f64 / (1u64 << 53) as f64
                })
                .sum::<f64>()
                - 2.0;
            f64::from(f32::from_bits(((0.02 * u) as f32).to_bits() & 0xFFFF_0000))
        })
        .collect();
    for step in what.split(',') {
        let start = Instant::now();
        let result = match step {
            "exact" => format!("rank {}", numerical_rank(&data, rows, cols)?),
            "approx" => format!("rank {}", approx_rank(&data, rows, cols)?),
            "spectral" => {
                let sv = singular_values(&data, rows, cols, Method::for_matrix(rows, cols))?;
                format!("{:?}, rank {:?}", spectrum(&sv.values, rows.max(cols)), sv.exact_rank())
            }
            other => return Err(format!("unknown step {other}").into()),
        };
        println!("{rows}x{cols} {step}: {:.2} s ({result})", start.elapsed().as_secs_f64());
    }
    Ok(())
}
