//! The GGUF header parser on arbitrary bytes: it must return `Ok` or `Err`, never panic, and
//! never allocate more than the input can justify (libFuzzer's `-rss_limit_mb` catches that).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use weightlens_readers::gguf::header::parse_header;
use weightlens_readers::gguf::quants::GgmlType;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = parse_header(data, Path::new("fuzz.gguf")) else { return };
    for t in &header.tensors {
        let ty = GgmlType::from_id(t.type_id);
        let _ = (ty.name(t.type_id), ty.unsupported_reason(t.type_id));
    }
    for (_, v) in &header.metadata {
        let _ = v.to_json();
    }
});
