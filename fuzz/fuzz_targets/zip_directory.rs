//! Fuzzes the central-directory reader: listing members, comparing local headers and reading
//! members (bounded inflation) must give a result or an error, never a panic; accepted member
//! bytes never exceed the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weightlens_readers::{detect, zipdir};

const LIMIT: u64 = 1 << 24;

fuzz_target!(|data: &[u8]| {
    let _ = detect::detect_bytes(data);
    if let Ok(dir) = zipdir::read(data) {
        for e in dir.entries.iter().take(64) {
            if let Ok(bytes) = zipdir::member_bytes(data, e, LIMIT) {
                assert!(bytes.len() as u64 <= LIMIT);
            }
        }
    }
});
