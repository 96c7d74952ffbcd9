//! Fuzzes the torch checkpoint containers (zip and legacy layouts, then the pickle and the
//! tensor search): any input must give a tensor list or an error, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use weightlens_readers::pytorch::read_checkpoint;

fuzz_target!(|data: &[u8]| {
    let _ = read_checkpoint(data, Path::new("fuzz.pt"));
});
