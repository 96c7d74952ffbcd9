//! Fuzzes the non-executing pickle reader and the tensor search over its result: any input
//! must give a value or an error, never a panic, a hang or unbounded memory.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use weightlens_readers::pytorch::{pickle, walk};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.pkl");
    if let Ok(parsed) = pickle::parse(data, path, 0) {
        let _ = walk::walk(&parsed, "fuzz", path);
    }
});
