//! Every quantized weight of `fixtures/quant*/` decodes to the same values whatever the range:
//! in pieces of odd sizes starting anywhere (as the statistics and rank passes ask for them)
//! and whole, and its `f32` output is exactly its `f64` output rounded. The values themselves
//! are checked against the libraries' own dequantization by `tests/quant.rs`.

use std::path::{Path, PathBuf};

use weightlens_readers::open_path;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn checkpoints() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for set in ["fixtures/quant", "fixtures/quant-extra"] {
        for entry in std::fs::read_dir(root().join(set)).expect("fixture set").flatten() {
            let dir = entry.path();
            if dir.is_dir() && !dir.ends_with("reference") {
                let index = dir.join("model.safetensors.index.json");
                dirs.push(if index.exists() { index } else { dir.join("model.safetensors") });
            }
        }
    }
    dirs.sort();
    dirs
}

#[test]
fn pieces_whole_and_f32_agree_bit_for_bit() {
    let mut checked = 0;
    for path in checkpoints() {
        let source = open_path(&path).expect("open fixture");
        for i in 0..source.tensors().len() {
            if source.quant(i).is_none_or(|q| q.problem.is_some()) {
                continue;
            }
            let name = &source.tensors()[i].name;
            let view = source.view(i).expect("view");
            let n = view.numel();
            let mut whole = vec![0f64; n];
            view.decode_f64(0, &mut whole).expect("decode");
            let mut pieces = vec![0f64; n];
            let (mut start, mut step) = (0, 1usize);
            while start < n {
                let len = step.min(n - start);
                view.decode_f64(start, &mut pieces[start..start + len]).expect("decode a piece");
                start += len;
                step = if step > 70_000 { 13 } else { step * 3 + 7 };
            }
            let mut f32s = vec![0f32; n];
            view.decode_f32(0, &mut f32s).expect("decode f32");
            for (k, ((w, p), f)) in whole.iter().zip(&pieces).zip(&f32s).enumerate() {
                assert_eq!(w.to_bits(), p.to_bits(), "{}: {name}[{k}]: whole {w}, in pieces {p}", path.display());
                assert_eq!((*w as f32).to_bits(), f.to_bits(), "{}: {name}[{k}]: f64 {w}, f32 {f}", path.display());
            }
            assert!(whole.iter().any(|v| *v != 0.0), "{name} decodes to zeros");
            checked += 1;
        }
    }
    // 18 + 5 checkpoints, each with several quantized weights.
    assert!(checked >= 100, "only {checked} quantized weights found");
}
