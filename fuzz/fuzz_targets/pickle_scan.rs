//! Fuzzes bare-pickle detection and the safety verdict: detecting a format from the first
//! bytes (the pickle check parses them) and scanning a stream (globals, second streams, nested
//! pickles in bytes values) must give a verdict, never a panic. A stream the reader parses
//! whole, with nothing after its `STOP`, must never be judged `malformed`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weightlens_readers::safety::{scan_pickle, worst, Place, Verdict};

fuzz_target!(|data: &[u8]| {
    let _ = weightlens_readers::detect(data);
    let (findings, end) = scan_pickle(data, 0, &Place::default(), true);
    let clean_end = end.is_some_and(|e| data.get(e..).is_some_and(|rest| rest.iter().all(|b| b.is_ascii_whitespace() || *b == 0)));
    if clean_end {
        assert!(findings.iter().all(|f| f.verdict != Verdict::Malformed));
    }
    let _ = worst(&findings);
});
