//! Times the candidate exact-rank methods on random f64 matrices (the measurements behind the
//! choice documented in `rank.rs`).
//!
//! Usage: cargo run --release -p weightlens-analyzers --example rank_methods [ROWSxCOLS...] [--svd] [--eig]
#![allow(clippy::print_stdout)]

use std::time::Instant;

use faer::linalg::matmul::triangular::{matmul, BlockStructure};
use faer::{Accum, Mat, MatRef, Par, Side};
use weightlens_analyzers::rank::{numerical_rank, rank_by_svd};

fn random(rows: usize, cols: usize) -> Vec<f64> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    (0..rows * cols)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let svd = args.iter().any(|a| a == "--svd");
    let eig = args.iter().any(|a| a == "--eig");
    let shapes: Vec<(usize, usize)> = args
        .iter()
        .filter_map(|a| a.split_once('x'))
        .filter_map(|(r, c)| Some((r.parse().ok()?, c.parse().ok()?)))
        .collect();
    for (rows, cols) in if shapes.is_empty() { vec![(4096, 4096), (4096, 11008)] } else { shapes } {
        let data = random(rows, cols);
        let a = MatRef::from_column_major_slice(&data, cols, rows);
        let n = rows.min(cols);
        let t = Instant::now();
        let mut g = Mat::<f64>::zeros(n, n);
        let (lhs, rhs) = if rows <= cols { (a.transpose(), a) } else { (a, a.transpose()) };
        matmul(
            g.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            lhs,
            BlockStructure::Rectangular,
            rhs,
            BlockStructure::Rectangular,
            1.0,
            Par::rayon(0),
        );
        let t_gram = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let eig = if eig { g.self_adjoint_eigenvalues(Side::Lower).map(|e| e.len()).ok() } else { None };
        let t_eig = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let lblt = g.lblt(Side::Lower);
        let t_lblt = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let qr = a.qr();
        let t_qr = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let rank = numerical_rank(&data, rows, cols);
        let t_rank = t.elapsed().as_secs_f64();
        println!(
            "{rows}x{cols}: gram {t_gram:.2}s  eigenvalues {t_eig:.2}s  lblt {t_lblt:.2}s  qr {t_qr:.2}s  \
             numerical_rank (gram+inertia) {t_rank:.2}s -> {rank:?} ({:?} {} {})",
            eig,
            lblt.B_diag().dim(),
            qr.R().nrows()
        );
        if svd {
            let t = Instant::now();
            let r = rank_by_svd(&data, rows, cols);
            println!("{rows}x{cols}: full f64 SVD {:.2}s -> {r:?}", t.elapsed().as_secs_f64());
        }
    }
}
