//! Time of the exact rank (`weightlens_analyzers::rank::numerical_rank`) on LLM-sized matrices:
//! one run per case (each takes seconds), after a warm-up on a small matrix. Compare with
//! numpy's `np.linalg.svd(W, compute_uv=False)` per matrix in `bench/compare_python.sh`.
//!
//! `WL_RANK_SHAPES="4096x4096,4096x11008"` picks the shapes (default: those two and the tall
//! 11008x4096).

use std::time::Instant;

use weightlens_analyzers::rank::numerical_rank;

/// A `rows x cols` matrix of sums of uniforms (full rank) with a fixed seed, row-major.
fn random(rows: usize, cols: usize, seed: u64) -> Vec<f64> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ seed;
    (0..rows * cols)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f64 + (state & 0xff_ffff) as f64) / (1u64 << 24) as f64 - 1.0
        })
        .collect()
}

fn main() {
    // cargo bench passes --bench; nothing else is taken from the command line.
    let shapes = std::env::var("WL_RANK_SHAPES").unwrap_or_else(|_| "4096x4096,4096x11008,11008x4096".into());
    let warm = random(256, 512, 1);
    numerical_rank(&warm, 256, 512).expect("rank");
    println!("{:<12} {:>6} {:>10}", "shape", "rank", "seconds");
    for shape in shapes.split(',') {
        let Some((r, c)) = shape.split_once('x').and_then(|(r, c)| Some((r.parse().ok()?, c.parse().ok()?))) else {
            eprintln!("bad shape {shape}");
            continue;
        };
        let data = random(r, c, 7);
        let t = Instant::now();
        let rank = numerical_rank(&data, r, c).expect("rank");
        println!("{:<12} {:>6} {:>10.2}", shape, rank, t.elapsed().as_secs_f64());
    }
}
