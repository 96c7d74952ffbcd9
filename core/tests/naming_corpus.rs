//! Naming against gguf-py's whole mapping: `data/naming_corpus.json`, written by
//! `scripts/gen_name_table.py` (every Hugging Face pattern and GGUF name at block 7 with its
//! kind, expected block type, stack and layer; gguf-py's own HF -> GGUF map for 25 architectures).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use weightlens_core::naming::{classify, gguf_to_hf_candidates, hf_to_gguf, BlockType, Stack, GGUF_PY_VERSION};

fn corpus() -> Value {
    let text = include_str!("data/naming_corpus.json");
    serde_json::from_str(text).expect("corpus parses")
}

struct Entry {
    name: String,
    kind: String,
    block_type: String,
    stack: String,
    layer: Option<u32>,
}

fn entries(c: &Value) -> Vec<Entry> {
    c["names"]
        .as_array()
        .expect("names")
        .iter()
        .map(|n| Entry {
            name: n["name"].as_str().expect("name").to_owned(),
            kind: n["kind"].as_str().expect("kind").to_owned(),
            block_type: n["block_type"].as_str().expect("block_type").to_owned(),
            stack: n["stack"].as_str().expect("stack").to_owned(),
            layer: n["layer"].as_u64().map(|l| u32::try_from(l).expect("small layer")),
        })
        .collect()
}

/// Block types the issue calls core: their kind has an obvious seed/refined type.
const CORE: &[&str] = &[
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "qkv_proj",
    "mlp_gate",
    "mlp_up",
    "mlp_down",
    "mlp_gate_up",
    "moe_router",
    "moe_expert",
    "moe_shared_expert",
    "norm",
    "embedding",
    "output",
];

fn pct(n: usize, of: usize) -> f64 {
    100.0 * n as f64 / of.max(1) as f64
}

#[test]
fn corpus_matches_the_installed_table() {
    assert_eq!(corpus()["gguf_py_version"].as_str(), Some(GGUF_PY_VERSION));
}

#[test]
fn criteria_over_gguf_py_mapping() {
    let c = corpus();
    let all = entries(&c);
    let (mut layer_ok, mut layer_n, mut core_ok, mut core_n, mut other) = (0, 0, 0, 0, 0);
    let mut misses = Vec::new();
    let mut stacks: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for e in &all {
        let got = classify(&e.name);
        if got.block_type == BlockType::Other {
            other += 1;
        }
        if e.layer.is_some() {
            layer_n += 1;
            layer_ok += usize::from(got.layer_index == e.layer);
        } else if got.layer_index.is_some() {
            misses.push(format!("{}: layer {:?}, a sub-module index", e.name, got.layer_index));
        }
        if CORE.contains(&e.block_type.as_str()) {
            core_n += 1;
            if got.block_type.as_str() == e.block_type {
                core_ok += 1;
            } else {
                misses.push(format!("{} ({}): {} != {}", e.name, e.kind, got.block_type, e.block_type));
            }
        }
        if got.stack.as_str() != e.stack {
            misses.push(format!("{} ({}): stack {:?} != {:?}", e.name, e.kind, got.stack.as_str(), e.stack));
        }
        stacks.entry(e.stack.clone()).or_default().insert(got.stack.as_str());
    }
    let stack_ok = all.iter().filter(|e| classify(&e.name).stack.as_str() == e.stack).count();
    println!(
        "{} names: layer_index right {}/{} ({:.1}%), core kinds right {}/{} ({:.1}%), other {} ({:.1}%), stack right {}/{} ({:.1}%)",
        all.len(),
        layer_ok,
        layer_n,
        pct(layer_ok, layer_n),
        core_ok,
        core_n,
        pct(core_ok, core_n),
        other,
        pct(other, all.len()),
        stack_ok,
        all.len(),
        pct(stack_ok, all.len())
    );
    for m in &misses {
        println!("miss: {m}");
    }
    assert!(pct(layer_ok, layer_n) >= 98.0, "layer_index right for {layer_ok}/{layer_n}");
    assert!(pct(core_ok, core_n) >= 98.0, "core kinds right for {core_ok}/{core_n}");
    assert!(pct(other, all.len()) <= 5.0, "other for {other}/{}", all.len());
    // Encoder, decoder, vision and audio names land in distinct stacks: every name of each is
    // classified into its own stack, so no two share one.
    for (want, got) in &stacks {
        if ["encoder", "decoder", "vision", "audio"].contains(&want.as_str()) {
            assert_eq!(got.iter().copied().collect::<Vec<_>>(), [want.as_str()], "names of stack {want}");
        }
    }
}

/// gguf-py's `TensorNameMap(arch).get_name(hf, try_suffixes=(".weight", ".bias"))` at block 7.
fn round_trip_pairs(c: &Value, arch: &str) -> Vec<(String, String)> {
    let map = c["hf_to_gguf"][arch].as_object().unwrap_or_else(|| panic!("{arch} in corpus"));
    map.iter().map(|(k, v)| (k.clone(), v.as_str().expect("gguf name").to_owned())).collect()
}

#[test]
fn hf_to_gguf_is_gguf_py_mapping() {
    let c = corpus();
    let archs: Vec<&String> = c["hf_to_gguf"].as_object().expect("archs").keys().collect();
    assert!(archs.len() >= 20);
    for arch in archs {
        for (hf, gguf) in round_trip_pairs(&c, arch) {
            assert_eq!(hf_to_gguf(arch, &hf).as_deref(), Some(gguf.as_str()), "{arch}: {hf}");
        }
    }
}

#[test]
fn gguf_to_hf_candidates_contain_every_mapped_name() {
    let c = corpus();
    // mistral converts as llama, mixtral too; the list is the issue's.
    for arch in ["llama", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "phi3", "gemma", "gemma2", "gemma3", "deepseek2"] {
        for (hf, gguf) in round_trip_pairs(&c, arch) {
            // Self-mappings, and one layer's tensor standing for a non-block one (`rope_freqs`).
            let has_digit = |s: &str| s.bytes().any(|b| b.is_ascii_digit());
            if hf == gguf || (has_digit(&hf) && !has_digit(&gguf)) {
                continue;
            }
            let back = gguf_to_hf_candidates(arch, &gguf);
            assert!(back.contains(&hf), "{arch}: {gguf} -> {back:?} lacks {hf}");
            for cand in &back {
                assert_eq!(hf_to_gguf(arch, cand).as_deref(), Some(gguf.as_str()), "{arch}: {cand}");
            }
        }
    }
}

#[test]
fn named_examples() {
    assert_eq!(hf_to_gguf("llama", "model.layers.7.self_attn.q_proj.weight").as_deref(), Some("blk.7.attn_q.weight"));
    assert_eq!(hf_to_gguf("llama", "model.layers.12.mlp.down_proj.bias").as_deref(), Some("blk.12.ffn_down.bias"));
    // Mixtral converts as llama: its experts map to the merged expert tensors.
    assert_eq!(
        hf_to_gguf("llama", "model.layers.3.block_sparse_moe.gate.weight").as_deref(),
        Some("blk.3.ffn_gate_inp.weight")
    );
    assert_eq!(hf_to_gguf("gemma3", "model.embed_tokens.weight").as_deref(), Some("token_embd.weight"));
    assert_eq!(hf_to_gguf("phi3", "model.layers.7.mlp.gate_up_proj.weight").as_deref(), Some("blk.7.ffn_up.weight"));
    assert_eq!(hf_to_gguf("no-such-arch", "model.embed_tokens.weight"), None);
    let back = gguf_to_hf_candidates("qwen2", "blk.0.attn_k.bias");
    assert!(back.contains(&"model.layers.0.self_attn.k_proj.bias".to_owned()), "{back:?}");
    assert!(gguf_to_hf_candidates("qwen2", "blk.x.attn_k.weight").is_empty());
    assert!(gguf_to_hf_candidates("qwen2", "v.blk.0.attn_k.weight").is_empty(), "not a qwen2 tensor");
    assert_eq!(Stack::from_column(""), Some(Stack::Main));
}
