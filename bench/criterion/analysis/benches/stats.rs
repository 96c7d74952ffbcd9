//! Statistics throughput on data in the page cache, against a pure memory read of the same
//! bytes in the same run.
//!
//! A safetensors file per dtype (`F32`, `BF16`, `F16`; `WL_BENCH_MB` MiB each, default 1024)
//! is written to the system temp directory and read back once, so that it sits in the page
//! cache; it is then opened with weightlens' reader (memory-mapped, as `analyze` does) and
//!
//! - `read`: every 8-byte word of the tensor summed (the memory-bandwidth baseline, AVX2 when
//!   the CPU has it, same chunking and threads as the statistics),
//! - `stats`: `weightlens_analyzers::stats::moments` (mean, var, min, max, zeros, NaN/Inf),
//!
//! run on 1 thread and on all cores. Criterion reports each as GB/s of stored bytes; a table
//! of the best of 5 runs and the ratio `stats / read` follows.
//!
//! `WL_PROBE=1` instead prints the element rate on one in-memory F32 tensor of `WL_PROBE_N`
//! elements (default 65536: one chunk, in cache), to separate compute from memory effects.

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{Criterion, Throughput};
use rayon::prelude::*;
use weightlens_analyzers::stats::moments;

const CHUNK_BYTES: usize = 256 << 10;

fn bench_mb() -> usize {
    std::env::var("WL_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024)
}

/// Writes (once) a safetensors file holding one `dtype` tensor of `mb` MiB of normal-ish values.
fn fixture(dtype: &str, mb: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("weightlens-bench-{dtype}-{mb}.safetensors"));
    if path.exists() {
        return path;
    }
    let size = if dtype == "F32" { 4 } else { 2 };
    let bytes = mb << 20;
    let numel = bytes / size;
    let header =
        serde_json::json!({ "w": { "dtype": dtype, "shape": [numel / 4096, 4096], "data_offsets": [0, bytes] } });
    let mut header = header.to_string().into_bytes();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).expect("create bench file"));
    f.write_all(&(header.len() as u64).to_le_bytes()).expect("write");
    f.write_all(&header).expect("write");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = Vec::with_capacity(1 << 20);
    for _ in 0..(bytes >> 20) {
        block.clear();
        while block.len() < 1 << 20 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Sum of two uniforms: a bell-ish shape around 0 with scale 0.02.
            let x = ((state >> 40) as f32 + (state & 0xff_ffff) as f32) / (1u64 << 24) as f32 - 1.0;
            let x = 0.02 * x;
            match size {
                4 => block.extend_from_slice(&x.to_le_bytes()),
                _ if dtype == "BF16" => block.extend_from_slice(&half::bf16::from_f32(x).to_le_bytes()),
                _ => block.extend_from_slice(&half::f16::from_f32(x).to_le_bytes()),
            }
        }
        f.write_all(&block).expect("write");
    }
    f.into_inner().expect("flush").sync_all().expect("sync");
    std::fs::rename(&tmp, &path).expect("rename");
    path
}

/// Sum of the 8-byte words of `bytes` (a pure read).
fn read_words(bytes: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { read_words_avx2(bytes) };
    }
    read_words_portable(bytes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn read_words_avx2(bytes: &[u8]) -> u64 {
    read_words_portable(bytes)
}

#[inline(always)]
fn read_words_portable(bytes: &[u8]) -> u64 {
    let mut acc = [0u64; 16];
    let blocks = bytes.chunks_exact(128);
    for block in blocks {
        for (a, w) in acc.iter_mut().zip(block.chunks_exact(8)) {
            *a = a.wrapping_add(u64::from_le_bytes(w.try_into().unwrap_or_default()));
        }
    }
    acc.iter().fold(0, |a, &b| a.wrapping_add(b))
}

fn read_all(bytes: &[u8]) -> u64 {
    bytes.par_chunks(CHUNK_BYTES).map(read_words).reduce(|| 0, u64::wrapping_add)
}

struct Case {
    dtype: &'static str,
    path: PathBuf,
}

fn with_view<R>(path: &Path, f: impl FnOnce(&weightlens_core::TensorView<'_>) -> R) -> R {
    let source = weightlens_readers::open_path(path).expect("open bench file");
    let view = source.view(0).expect("view");
    // Warm the page cache.
    black_box(read_all(view.raw_bytes()));
    f(&view)
}

fn best_of(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    if std::env::var("WL_PROBE").is_ok() {
        in_cache_probe();
        return;
    }
    let mb = bench_mb();
    let cases: Vec<Case> =
        ["F32", "BF16", "F16"].into_iter().map(|d| Case { dtype: d, path: fixture(d, mb) }).collect();
    let pools: Vec<(String, rayon::ThreadPool)> = [1, rayon::current_num_threads()]
        .into_iter()
        .map(|t| (format!("{t}t"), rayon::ThreadPoolBuilder::new().num_threads(t).build().expect("thread pool")))
        .collect();

    let mut c = Criterion::default().configure_from_args().sample_size(10);
    for case in &cases {
        with_view(&case.path, |view| {
            let mut group = c.benchmark_group(format!("stats/{}", case.dtype));
            group.throughput(Throughput::Bytes(view.raw_bytes().len() as u64));
            for (name, pool) in &pools {
                group.bench_function(format!("read/{name}"), |b| {
                    b.iter(|| pool.install(|| black_box(read_all(view.raw_bytes()))))
                });
                group.bench_function(format!("stats/{name}"), |b| {
                    b.iter(|| pool.install(|| black_box(moments(view, 1e-8).expect("moments"))))
                });
            }
            group.finish();
        });
    }
    c.final_summary();

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!("\n{cpu}; {mb} MiB per tensor in the page cache; best of 5; GB = 1e9 bytes of stored tensor");
    println!("{:<6} {:>7} {:>12} {:>12} {:>12}", "dtype", "threads", "read GB/s", "stats GB/s", "stats/read");
    for case in &cases {
        with_view(&case.path, |view| {
            let bytes = view.raw_bytes().len() as f64;
            for (name, pool) in &pools {
                let read = best_of(5, || {
                    black_box(pool.install(|| read_all(view.raw_bytes())));
                });
                let stats = best_of(5, || {
                    black_box(pool.install(|| moments(view, 1e-8).expect("moments")));
                });
                println!(
                    "{:<6} {:>7} {:>12.1} {:>12.1} {:>11.0}%",
                    case.dtype,
                    name,
                    bytes / read / 1e9,
                    bytes / stats / 1e9,
                    100.0 * read / stats
                );
            }
        });
    }
}

/// Elements per second of the statistics on one in-memory tensor (`WL_PROBE_N` elements).
fn in_cache_probe() {
    use std::borrow::Cow;
    use std::sync::Arc;
    use weightlens_core::{ByteOrder, Dtype, Framework, TensorInfo, TensorView};
    let n: usize = std::env::var("WL_PROBE_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1 << 16);
    let bytes: Vec<u8> = (0..n).flat_map(|i| ((i % 1000) as f32 * 1e-3).to_le_bytes()).collect();
    let info = TensorInfo::new(
        "x",
        Dtype::F32,
        Framework::SAFETENSORS,
        vec![n as u64],
        Arc::from(std::path::Path::new("x")),
        0,
        bytes.len() as u64,
    );
    let view = TensorView::plain(&info, Cow::Borrowed(&bytes), Dtype::F32, ByteOrder::Little).expect("view");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let reps = (1usize << 27) / n;
    let t = pool.install(|| {
        best_of(3, || {
            for _ in 0..reps {
                black_box(moments(&view, 1e-8).expect("m"));
            }
        })
    });
    println!("in-cache F32: {:.2} Gelem/s", (n * reps) as f64 / t / 1e9);
}
