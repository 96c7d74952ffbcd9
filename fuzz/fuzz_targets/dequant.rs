//! Every ggml block decoder on arbitrary block bytes: the first byte picks the type, the rest
//! (cut to whole blocks) is decoded. Decoders must not panic on any byte content.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weightlens_core::BlockDecoder;
use weightlens_readers::gguf::quants::{GgmlDecoder, ALL};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let q = ALL[usize::from(pick) % ALL.len()];
    let blocks = rest.len() / q.block_bytes as usize;
    let src = &rest[..blocks * q.block_bytes as usize];
    let mut out = vec![0f32; blocks * q.block_elems as usize];
    if GgmlDecoder.decode_blocks(q, src, &mut out).is_err() {
        panic!("whole blocks of {} were refused", q.name);
    }
});
