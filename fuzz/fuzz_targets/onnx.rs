//! Fuzzes the ONNX reader: protobuf decoding (prost), the graph walk (subgraphs, Constant nodes),
//! typed-field conversion, external-data resolution and serving every tensor. `Ok` or `Err`,
//! never a panic; every view must have the shape's element count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weightlens_readers::onnx::OnnxSource;
use weightlens_readers::TensorSource;

fuzz_target!(|data: &[u8]| {
    // The reader maps files: each input becomes a file in a private directory (external data
    // locations resolve inside it, and nothing else is reachable).
    let dir = std::env::temp_dir().join(format!("weightlens-fuzz-onnx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("model.onnx");
    std::fs::write(&path, data).expect("write input");
    let Ok(source) = OnnxSource::open(&path) else { return };
    for (i, info) in source.tensors().iter().enumerate() {
        if let Ok(view) = source.view(i) {
            assert_eq!(Some(view.numel() as u64), info.numel(), "{}", info.name);
            let _ = view.to_f64_vec();
        }
    }
});
