//! One-off timing of the symmetric eigenvalues of an `n x n` Gram matrix: faer's one-stage
//! solver against the two-stage reduction (`sym_eigen`), with their largest difference.
//!
//! `cargo run --release -p weightlens-analyzers --example eig_timing -- N [BAND...]`
#![allow(clippy::print_stdout)]

use std::time::Instant;

use faer::{Accum, Mat, Par, Side};
use weightlens_analyzers::sym_eigen::two_stage_eigenvalues;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).ok_or("usage: N [BAND...]")?;
    let bands: Vec<usize> = args[2..].iter().filter_map(|a| a.parse().ok()).collect();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let w = Mat::<f64>::from_fn(n, n, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    });
    let mut g = Mat::<f64>::zeros(n, n);
    faer::linalg::matmul::matmul(g.as_mut(), Accum::Replace, w.transpose(), w.as_ref(), 1.0, Par::rayon(0));
    let start = Instant::now();
    let one = g.self_adjoint_eigenvalues(Side::Lower).map_err(|e| format!("{e:?}"))?;
    println!("faer one-stage: {:.3} s", start.elapsed().as_secs_f64());
    for b in bands {
        let start = Instant::now();
        let two = two_stage_eigenvalues(g.clone(), b)?;
        let top = one.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let diff = two.iter().zip(&one).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / top;
        println!("two-stage b={b}: {:.3} s, max |diff| / lambda_max {diff:.2e}", start.elapsed().as_secs_f64());
    }
    Ok(())
}
