//! Fuzzes the `.npz` container: the zip directory, each member's `.npy` header, and reading
//! member data (stored slices and bounded inflation) must never panic or over-allocate.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use weightlens_readers::numpy::npz;

/// A small limit keeps the fuzzer's memory bounded while still exercising inflation.
const LIMIT: u64 = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(archive) = npz::parse_archive(data, Path::new("fuzz.npz")) else {
        return;
    };
    for member in &archive.members {
        let end = member.raw_start.checked_add(member.raw_len).expect("member range overflows");
        let raw = data
            .get(member.raw_start as usize..end as usize)
            .expect("an accepted member lies outside the archive");
        if let Ok(bytes) = npz::member_data(raw, member, LIMIT) {
            assert_eq!(Some(bytes.len() as u64), member.header.data_len);
        }
    }
});
