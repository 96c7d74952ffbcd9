//! The real public models (fetched by `python3 scripts/fetch-models.py` into data/models/)
//! against their independent references. Under CI a missing model is a failure, not a skip.

#![allow(clippy::print_stderr)]

mod common;

use common::*;

#[test]
fn minilm_matches_reference() {
    let Some(path) = real_model("all-MiniLM-L6-v2/model.safetensors") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("minilm.parquet");
    let o = run(&["analyze", path.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = table(&out);
    let refs = reference("all-MiniLM-L6-v2.safetensors.json");
    assert_eq!(refs.len(), 104);
    assert_eq!(t.rows.len(), 104);
    let problems = compare(&t, &refs);
    assert!(problems.is_empty(), "{} mismatches:\n{}", problems.len(), problems.join("\n"));
    assert_sorted(&t);
    // A healthy model: the one true finding is the all-zero pooler bias, no false alarm.
    assert_eq!(anomalies(dir.path()), [("all_zero".to_string(), "pooler.dense.bias".to_string())]);
}

/// The (kind, tensor) of every anomaly in the run_meta.json of the run in `dir`.
fn anomalies(dir: &std::path::Path) -> Vec<(String, String)> {
    let text = std::fs::read(dir.join("run_meta.json")).expect("run_meta.json written");
    let meta: serde_json::Value = serde_json::from_slice(&text).expect("run_meta.json is JSON");
    meta["anomalies"]
        .as_array()
        .expect("anomalies list")
        .iter()
        .map(|a| (a["kind"].as_str().expect("kind").to_string(), a["tensor"].as_str().expect("tensor").to_string()))
        .collect()
}

#[test]
fn gemma_gguf_matches_reference() {
    let Some(path) = real_model("gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gemma.csv");
    let o = run(&["analyze", path.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = table(&out);
    let refs = reference("gemma-3-270m-q4_k_m.gguf.json");
    assert_eq!(refs.len(), 236);
    assert_eq!(t.rows.len(), 236);
    let problems = compare(&t, &refs);
    assert!(problems.is_empty(), "{} mismatches:\n{}", problems.len(), problems.join("\n"));
    assert_sorted(&t);
    // Healthy, and Gemma's GGUF norms (multipliers with means far from 1) are judged against
    // their sibling norms: no anomaly at all.
    assert_eq!(anomalies(dir.path()), Vec::<(String, String)>::new());
}

/// Shards of a real model (tensors of many chunks, parallel inside) merge into exactly the
/// table of one run, floats bit for bit.
#[test]
fn gemma_shards_merge_into_the_whole_run() {
    let Some(path) = real_model("gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf") else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = path.to_str().unwrap();
    let out = |name: &str| dir.path().join(name).join("params.csv");
    let analyze = |extra: &[&str], to: &std::path::Path| {
        let mut args = vec!["analyze", model, "--rank", "none", "-q", "--out", to.to_str().unwrap()];
        args.extend(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    analyze(&[], &out("whole"));
    let mut merge = vec!["merge".to_string(), out("merged").display().to_string()];
    for k in 0..3 {
        analyze(&["--shard", &format!("{k}/3")], &out(&format!("shard{k}")));
        merge.push(out(&format!("shard{k}")).display().to_string());
    }
    let o = run(&merge.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (whole, merged) = (table(&out("whole")), table(&out("merged")));
    assert_eq!(whole.rows.len(), 236);
    assert_same_table(&whole, &merged);
}
