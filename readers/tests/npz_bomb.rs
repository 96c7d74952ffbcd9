//! Decompression bombs in `.npz` archives are refused before their memory is allocated.
//!
//! A counting global allocator records the largest single allocation, so the test can show
//! that opening (and viewing) a hostile member never allocates anything near its claimed size.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Cursor, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use weightlens_core::TensorSource;
use weightlens_readers::numpy::npz::NpzSource;
use weightlens_readers::numpy::DEFAULT_MAX_TENSOR_BYTES;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MIB: u64 = 1 << 20;

/// A deflated archive with one member `x.npy`: an f32 header declaring `declared` elements,
/// followed by `zeros` bytes of zeros, written in small pieces (nothing large is allocated).
fn bomb(declared: u64, zeros: u64) -> Vec<u8> {
    // The header write_npy would write for that shape, built by hand as the data is not there.
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({declared},), }}");
    dict.push_str(&" ".repeat(127 - 10 - dict.len()));
    dict.push('\n');
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    header.extend((dict.len() as u16).to_le_bytes());
    header.extend(dict.as_bytes());
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    w.start_file("x.npy", options).unwrap();
    w.write_all(&header).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    for _ in 0..zeros / chunk.len() as u64 {
        w.write_all(&chunk).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Sets the uncompressed size of the first central directory entry (as a lying archive would).
fn claim_size(mut zip: Vec<u8>, size: u32) -> Vec<u8> {
    let cd = zip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    zip[cd + 24..cd + 28].copy_from_slice(&size.to_le_bytes());
    zip
}

/// Opens `bytes` as an archive (with `limit`) and views its tensor; returns the error message
/// of whichever step failed, and the largest allocation made meanwhile.
fn open_and_view(bytes: &[u8], limit: u64) -> (Result<(), String>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.npz");
    std::fs::write(&path, bytes).unwrap();
    LARGEST.store(0, Ordering::Relaxed);
    let outcome = NpzSource::open_with_limit(&path, limit)
        .and_then(|source| source.view(0).and_then(|v| v.to_f32_vec().map(drop)))
        .map_err(|e| e.to_string());
    (outcome, LARGEST.load(Ordering::Relaxed))
}

#[test]
fn bombs_are_refused_without_allocating_them() {
    // 4 MiB of zeros deflate to a few KiB.
    let zeros = 4 * MIB;

    // 1. The header claims 2^30 f32 (4 GiB) but the member holds 4 MiB: refused on opening.
    let (outcome, largest) = open_and_view(&bomb(1 << 30, zeros), DEFAULT_MAX_TENSOR_BYTES);
    let e = outcome.unwrap_err();
    assert!(e.contains("the header describes 4294967296"), "{e}");
    assert!((largest as u64) < MIB, "largest allocation {largest}");

    // 2. The zip directory lies too (2 GiB + header), matching the header: deflate cannot
    //    expand a few KiB that far, so it is refused on opening as well.
    let lying = claim_size(bomb(1 << 29, zeros), (2 << 30) + 128);
    let (outcome, largest) = open_and_view(&lying, DEFAULT_MAX_TENSOR_BYTES);
    let e = outcome.unwrap_err();
    assert!(e.contains("more than deflate can expand"), "{e}");
    assert!((largest as u64) < MIB, "largest allocation {largest}");

    // 3. An honest 4 MiB member over a 1 MiB limit: listed, but viewing it is refused before
    //    anything is inflated.
    let honest = bomb(MIB, zeros);
    let (outcome, largest) = open_and_view(&honest, MIB);
    let e = outcome.unwrap_err();
    assert!(e.contains("tensor x:") && e.contains("max_tensor_bytes"), "{e}");
    assert!((largest as u64) < MIB, "largest allocation {largest}");

    // 4. Within the limit it is inflated into one buffer of exactly its declared size (the
    //    f32 copy made by the test itself is the same size).
    let (outcome, largest) = open_and_view(&honest, DEFAULT_MAX_TENSOR_BYTES);
    outcome.unwrap();
    assert!((largest as u64) <= zeros, "largest allocation {largest}");
}
