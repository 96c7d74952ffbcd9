//! Fuzzes the legacy `.dat` imatrix parser: any bytes must give an imatrix or an error, never a
//! panic; an accepted file must account for every one of its bytes.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use weightlens_readers::imatrix::{could_be_dat, parse_dat, MAX_ENTRIES, MAX_NAME_LEN};

fuzz_target!(|data: &[u8]| {
    let _ = could_be_dat(data);
    if let Ok(m) = parse_dat(data, Path::new("fuzz.dat")) {
        assert!(!m.entries.is_empty() && m.entries.len() as u64 <= MAX_ENTRIES);
        let mut bytes = 4u64;
        for e in &m.entries {
            assert!(e.name.len() as u64 <= 3 * MAX_NAME_LEN, "name longer than the cap (lossy UTF-8 may grow it)");
            assert!(e.values.iter().all(|v| v.is_finite() && *v >= 0.0));
            assert!(e.offset + 4 * e.values.len() as u64 <= data.len() as u64);
            bytes += 12 + 4 * e.values.len() as u64;
        }
        assert!(bytes <= data.len() as u64, "entries claim more bytes than the input");
    }
});
