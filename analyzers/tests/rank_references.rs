//! Every rank in `fixtures/reference/*.json` (numpy f64 SVD) is matched exactly by the rank
//! analyzer (the Gram/inertia method with its SVD fallback), fixtures and real models alike.

use std::path::{Path, PathBuf};

use weightlens_analyzers::{RankAnalyzer, RankMode};
use weightlens_core::{TensorAnalyzer, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compares every reference rank of the model at `path`; returns how many were compared.
fn check(path: &Path, reference: &Path) -> usize {
    // Python's json writes NaN/Infinity for some statistics; ranks never are.
    let text = std::fs::read_to_string(reference)
        .expect("reference json")
        .replace("-Infinity", "null")
        .replace("Infinity", "null")
        .replace("NaN", "null");
    let json: serde_json::Value = serde_json::from_str(&text).expect("reference parses");
    let source = weightlens_readers::open_path(path).expect("model opens");
    let analyzer = RankAnalyzer::new(RankMode::Exact);
    let mut compared = 0;
    for t in json["tensors"].as_array().expect("tensors") {
        let name = t["name"].as_str().expect("name");
        let index = source.tensors().iter().position(|i| i.name == name).expect("tensor present");
        let view = source.view(index).expect("view");
        let got = analyzer.analyze(&view).expect("rank");
        let expected = t["rank"].as_i64().map_or(Value::Null, Value::Int);
        assert_eq!(got[0], expected, "rank of {name} in {}", path.display());
        compared += usize::from(expected != Value::Null);
    }
    compared
}

#[test]
fn ranks_match_the_fixture_references() {
    let fixtures = root().join("fixtures");
    let cases = [
        ("all-types.gguf", "all-types.gguf.json"),
        ("dtypes.safetensors", "dtypes.safetensors.json"),
        ("flax-tiny.npz", "flax-tiny.npz.json"),
        ("gpt2-tiny-legacy.bin", "gpt2-tiny-legacy.bin.json"),
        ("llama-tiny-q-00001-of-00002.gguf", "llama-tiny-q-00001-of-00002.gguf.json"),
        ("llama-tiny/model.safetensors.index.json", "llama-tiny__model.safetensors.index.json.json"),
        ("lowrank.npy", "lowrank.npy.json"),
        ("qwen-moe-tiny/pytorch_model.bin", "qwen-moe-tiny__pytorch_model.bin.json"),
        ("torch-quirks.pt", "torch-quirks.pt.json"),
    ];
    let compared: usize =
        cases.iter().map(|(m, r)| check(&fixtures.join(m), &fixtures.join("reference").join(r))).sum();
    assert!(compared >= 100, "only {compared} ranks compared");
}

#[test]
fn ranks_match_the_real_model_references() {
    let models = [
        ("data/models/all-MiniLM-L6-v2/model.safetensors", "all-MiniLM-L6-v2.safetensors.json", 41),
        ("data/models/gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf", "gemma-3-270m-q4_k_m.gguf.json", 127),
    ];
    for (model, reference, count) in models {
        let path = root().join(model);
        if !path.exists() {
            assert!(std::env::var_os("CI").is_none(), "{} is missing (run scripts/fetch-models.py)", path.display());
            eprintln!("skipping: {} is missing (run scripts/fetch-models.py)", path.display());
            continue;
        }
        assert_eq!(check(&path, &root().join("fixtures/reference").join(reference)), count, "{model}");
    }
}
