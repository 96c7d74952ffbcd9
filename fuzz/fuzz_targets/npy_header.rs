//! Fuzzes the `.npy` header parser: any bytes must give a header or an error, never a panic,
//! and an accepted header must be consistent with the bytes it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weightlens_readers::numpy::header::{self, Element};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = header::parse_header(data) {
        assert!(h.data_offset <= data.len() as u64, "header ends past the input");
        assert!(h.shape.len() <= header::MAX_DIMS);
        let numel = h.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        assert!(numel.is_some(), "accepted a shape whose element count overflows");
        if let Element::Plain(dtype, _) = h.element {
            assert_eq!(h.data_len, numel.and_then(|n| dtype.byte_len(n)));
        }
    }
    // The descriptor parser on its own, with arbitrary text.
    let _ = header::parse_descr(&String::from_utf8_lossy(data));
});
