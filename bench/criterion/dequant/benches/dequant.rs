//! Dequantization throughput (GB/s of f32 output, one thread) of every ggml block type, and for
//! the types candle-core decodes, candle's `GgmlType::to_float` on the same bytes in the same run.
//!
//! Run: `cargo bench` in benches/dequant. After criterion's report a table prints GB/s per type
//! and the ratio weightlens / candle (> 1 means weightlens is faster).

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8_0, GgmlType,
};
use criterion::{BenchmarkId, Criterion, Throughput};
use weightlens_core::{BlockDecoder, QuantType};
use weightlens_readers::gguf::quants::{GgmlDecoder, ALL};

/// Values decoded per iteration (a multiple of every block size).
const ELEMS: usize = 1 << 20;

/// Random blocks whose f16 fields are finite: every f16 of every ggml block sits at an even
/// offset, so clearing bit 6 of each odd byte keeps its exponent below 31 (as the fixture
/// generator does). The buffer is 8-byte aligned for candle's `#[repr(C)]` blocks.
fn blocks(q: &QuantType) -> Vec<u64> {
    let bytes = ELEMS / q.block_elems as usize * q.block_bytes as usize;
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(q.id);
    (0..bytes.div_ceil(8))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state & 0xbfff_bfff_bfff_bfff // bit 6 of the odd bytes cleared
        })
        .collect()
}

fn as_bytes(words: &[u64], len: usize) -> &[u8] {
    // SAFETY: u64 has no padding or invalid bit patterns; the length is within the allocation.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), len) }
}

/// candle's decoder of `q`'s blocks, if candle has one.
fn candle_decoder(name: &str) -> Option<fn(&[u8], &mut [f32])> {
    fn run<B: GgmlType>(bytes: &[u8], out: &mut [f32]) {
        let n = bytes.len() / std::mem::size_of::<B>();
        assert_eq!(bytes.as_ptr() as usize % std::mem::align_of::<B>(), 0);
        // SAFETY: candle's blocks are `#[repr(C)]` structs of f16 and u8/i8 fields with ggml's
        // layout (sizes asserted by candle); any bit pattern is valid and the pointer is aligned.
        let blocks = unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<B>(), n) };
        B::to_float(blocks, out);
    }
    Some(match name {
        "Q4_0" => run::<BlockQ4_0>,
        "Q4_1" => run::<BlockQ4_1>,
        "Q5_0" => run::<BlockQ5_0>,
        "Q5_1" => run::<BlockQ5_1>,
        "Q8_0" => run::<BlockQ8_0>,
        "Q2_K" => run::<BlockQ2K>,
        "Q3_K" => run::<BlockQ3K>,
        "Q4_K" => run::<BlockQ4K>,
        "Q5_K" => run::<BlockQ5K>,
        "Q6_K" => run::<BlockQ6K>,
        _ => return None,
    })
}

fn bench(c: &mut Criterion) {
    let mut out = vec![0f32; ELEMS];
    for q in ALL {
        let words = blocks(q);
        let bytes = as_bytes(&words, ELEMS / q.block_elems as usize * q.block_bytes as usize);
        let mut group = c.benchmark_group(q.name);
        group.throughput(Throughput::Bytes((ELEMS * 4) as u64));
        group.bench_function(BenchmarkId::new("weightlens", ELEMS), |b| {
            b.iter(|| GgmlDecoder.decode_blocks(q, std::hint::black_box(bytes), &mut out))
        });
        if let Some(candle) = candle_decoder(q.name) {
            // Same values: the comparison is only meaningful if both decode identically.
            let mut theirs = vec![0f32; ELEMS];
            candle(bytes, &mut theirs);
            GgmlDecoder.decode_blocks(q, bytes, &mut out).unwrap();
            let same = out.iter().zip(&theirs).filter(|(a, b)| a.to_bits() == b.to_bits()).count();
            println!("{}: candle agrees bit for bit on {same} of {ELEMS} values", q.name);
            group.bench_function(BenchmarkId::new("candle", ELEMS), |b| {
                b.iter(|| candle(std::hint::black_box(bytes), &mut theirs))
            });
        }
        group.finish();
    }
}

/// Mean time per iteration (ns) criterion measured for `group/function`.
fn mean_ns(group: &str, function: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = format!("{dir}/criterion/{group}/{function}/{ELEMS}/new/estimates.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    let gbps = |ns: f64| (ELEMS * 4) as f64 / ns;
    println!("\n{:<8} {:>16} {:>12} {:>22}", "type", "weightlens GB/s", "candle GB/s", "weightlens / candle");
    for q in ALL {
        let Some(ours) = mean_ns(q.name, "weightlens") else { continue };
        match mean_ns(q.name, "candle") {
            Some(theirs) => {
                println!("{:<8} {:>16.2} {:>12.2} {:>22.2}", q.name, gbps(ours), gbps(theirs), theirs / ours)
            }
            None => println!("{:<8} {:>16.2} {:>12} {:>22}", q.name, gbps(ours), "-", "-"),
        }
    }
}
