//! The safetensors header parser on arbitrary bytes: it must return `Ok` or `Err`, never panic,
//! and every accepted entry must lie inside the input, in order, without overlaps.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use weightlens_readers::safetensors::parse_header;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = parse_header(data, Path::new("fuzz.safetensors")) else { return };
    let mut previous_end = 0u64;
    for e in &header.entries {
        assert!(e.start <= e.end && e.end <= data.len() as u64, "entry {} outside the input", e.name);
        assert!(e.start >= previous_end, "entry {} overlaps the previous one", e.name);
        previous_end = e.end;
    }
});
