//! `weightlens analyze hf://...` end to end against the fake hub on loopback.

#![allow(clippy::unwrap_used)]

// The fake hub is the hub crate's test server, shared rather than copied.
mod common;
#[path = "../hub/tests/support/fake_hub.rs"]
mod fake_hub;

use std::process::Command;

use fake_hub::{FakeHub, State, COMMIT, MODEL_ID};
use weightlens_core::Value;

fn analyze(hub: &str, cache: &std::path::Path, out: &std::path::Path, offline: bool) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weightlens"));
    cmd.args(["analyze", &format!("hf://{MODEL_ID}"), "--out", out.to_str().unwrap(), "-q"])
        .env("HF_ENDPOINT", hub)
        .env("HF_HUB_CACHE", cache)
        .env_remove("HF_TOKEN");
    if offline {
        cmd.env("HF_HUB_OFFLINE", "1");
    }
    cmd.output().unwrap()
}

#[test]
fn analyze_a_hub_model_then_again_offline() {
    let hub = FakeHub::start(State::llama_tiny());
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("hub");
    let out = dir.path().join("out.csv");
    let o = analyze(&hub.url, &cache, &out, false);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = common::table(&out);
    let refs = common::reference("llama-tiny__model.safetensors.index.json.json");
    assert_eq!(t.rows.len(), refs.len());
    let problems = common::compare(&t, &refs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for r in &t.rows {
        assert_eq!(r.get(&t.schema, "model_id"), Some(&Value::Str(MODEL_ID.into())));
        assert_eq!(r.get(&t.schema, "revision"), Some(&Value::Str(COMMIT.into())), "the resolved commit");
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run_meta.json")).unwrap()).unwrap();
    assert_eq!(meta["revision"][0], COMMIT);

    // Offline, from the cache, without touching the server.
    let before = hub.state.requests().len();
    let out2 = dir.path().join("offline.csv");
    let o = analyze(&hub.url, &cache, &out2, true);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(common::table(&out2).rows.len(), refs.len());
    assert_eq!(hub.state.requests().len(), before, "offline mode sends no request");
}
