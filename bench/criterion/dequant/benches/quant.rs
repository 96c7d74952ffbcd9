//! Dequantization throughput (GB/s of f32 output, one thread) of every quantized safetensors
//! scheme, on the first quantized weight of each `fixtures/quant/` checkpoint (the layout each
//! library writes). `bench/quant_torch.py` times the writing libraries' own CPU dequantization
//! of the same tensors (best of 50 runs too); `bench/quant.sh` runs both and prints the ratios.
//!
//! Run: `cargo bench --bench quant` in benches/dequant.

use std::path::PathBuf;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput};
use weightlens_core::TensorSource;

fn fixtures() -> Vec<(String, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../fixtures/quant");
    let mut dirs: Vec<(String, PathBuf)> = std::fs::read_dir(&root)
        .expect("fixtures/quant")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.ends_with("reference"))
        .map(|p| (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), p))
        .collect();
    dirs.sort();
    dirs
}

/// The model of a fixture directory (its index when sharded).
fn model_path(dir: &PathBuf) -> PathBuf {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        index
    } else {
        dir.join("model.safetensors")
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut table = Vec::new();
    for (name, dir) in fixtures() {
        let source = weightlens_readers::open_path(&model_path(&dir)).expect("open fixture");
        let Some(index) = (0..source.tensors().len()).find(|&i| source.quant(i).is_some_and(|q| q.problem.is_none())) else {
            continue;
        };
        let view = source.view(index).expect("view");
        let mut out = vec![0f32; view.numel()];
        let mut group = c.benchmark_group(&name);
        group.throughput(Throughput::Bytes((out.len() * 4) as u64));
        group.bench_function(BenchmarkId::new("weightlens", out.len()), |b| {
            b.iter(|| view.decode_f32(0, std::hint::black_box(&mut out)))
        });
        group.finish();
        // A plain timing for the summary table (criterion's estimates stay in its report): the
        // fastest of 50 decodes, the least disturbed by other work on a shared machine.
        let secs = (0..50)
            .map(|_| {
                let start = Instant::now();
                view.decode_f32(0, &mut out).expect("decode");
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        let scheme = source.quant(index).map(|q| q.scheme.clone()).unwrap_or_default();
        table.push((name, scheme, source.tensors()[index].name.clone(), out.len() as f64 * 4.0 / secs / 1e9));
    }
    c.final_summary();
    println!("\n{:<28} {:<24} {:>10}", "fixture", "scheme", "GB/s");
    for (name, scheme, _, gbps) in table {
        println!("{name:<28} {scheme:<24} {gbps:>10.2}");
    }
}
