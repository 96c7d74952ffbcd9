//! Naming on arbitrary tensor names (names come from hostile files): classification and the
//! HF <-> GGUF mapping must not panic, and a mapped name must map back to a candidate set that
//! holds a name mapping to it again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weightlens_core::naming::{classify_in, gguf_to_hf_candidates, hf_to_gguf};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (arch, name) = text.split_once('\n').unwrap_or(("llama", text));
    let _ = classify_in(name, Some(arch));
    let _ = classify_in(name, None);
    if let Some(gguf) = hf_to_gguf(arch, name) {
        let back = gguf_to_hf_candidates(arch, &gguf);
        assert!(back.iter().all(|hf| hf_to_gguf(arch, hf).is_some()), "{arch}: {name} -> {gguf} -> {back:?}");
    }
});
