//! Faults injected into a copy of the real MiniLM model are each reported, with the kind that
//! fits, in run_meta.json (issue: "no false alarms", and true alarms for real faults).

#![allow(clippy::print_stderr)]

mod common;

use common::*;

/// The (dtype, start, end) of `name`'s bytes in a safetensors file.
fn locate(bytes: &[u8], name: &str) -> (String, usize, usize) {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("JSON header");
    let t = &header[name];
    let off = t["data_offsets"].as_array().expect("data_offsets");
    let base = 8 + n;
    (
        t["dtype"].as_str().expect("dtype").to_string(),
        base + off[0].as_u64().expect("offset") as usize,
        base + off[1].as_u64().expect("offset") as usize,
    )
}

/// Applies `f` to every F32 value of `name`.
fn patch(bytes: &mut [u8], name: &str, f: impl Fn(usize, f32) -> f32) {
    let (dtype, start, end) = locate(bytes, name);
    assert_eq!(dtype, "F32", "{name}");
    for (i, chunk) in bytes[start..end].chunks_exact_mut(4).enumerate() {
        let v = f32::from_le_bytes(chunk.try_into().expect("4 bytes"));
        chunk.copy_from_slice(&f(i, v).to_le_bytes());
    }
}

#[test]
fn injected_faults_are_each_reported() {
    let Some(path) = real_model("all-MiniLM-L6-v2/model.safetensors") else { return };
    let mut bytes = std::fs::read(&path).unwrap();
    let scaled = "encoder.layer.3.attention.self.query.weight";
    let zeroed = "encoder.layer.2.output.dense.weight";
    let nan = "encoder.layer.1.intermediate.dense.weight";
    let norm = "encoder.layer.4.attention.output.LayerNorm.weight";
    let (src, dst) = ("encoder.layer.4.attention.self.key.weight", "encoder.layer.5.attention.self.key.weight");
    patch(&mut bytes, scaled, |_, v| v * 100.0);
    patch(&mut bytes, zeroed, |_, _| 0.0);
    patch(&mut bytes, nan, |i, v| if i == 17 { f32::NAN } else { v });
    patch(&mut bytes, norm, |_, v| v * 50.0);
    let (_, s0, s1) = locate(&bytes, src);
    let (_, d0, _) = locate(&bytes, dst);
    let copy = bytes[s0..s1].to_vec();
    bytes[d0..d0 + copy.len()].copy_from_slice(&copy);

    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.safetensors");
    std::fs::write(&model, &bytes).unwrap();
    let out = dir.path().join("t.csv");
    let o = run(&["analyze", model.to_str().unwrap(), "--rank", "none", "--out", out.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run_meta.json")).unwrap()).unwrap();
    let found: Vec<(String, String)> = meta["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["kind"].as_str().unwrap().to_string(), a["tensor"].as_str().unwrap().to_string()))
        .collect();
    let has = |kind: &str, tensor: &str| found.iter().any(|(k, t)| k.starts_with(kind) && t.contains(tensor));
    assert!(has("outlier_", scaled), "x100 projection not reported: {found:?}");
    assert!(has("all_zero", zeroed), "zeroed projection not reported: {found:?}");
    assert!(has("nan_inf", nan), "NaN not reported: {found:?}");
    assert!(has("outlier_", norm), "x50 norm not reported: {found:?}");
    assert!(has("duplicate", dst) && has("duplicate", src), "copied tensor not reported: {found:?}");
    // The true finding of the unmodified model is still there, and nothing beyond the faults.
    assert!(has("all_zero", "pooler.dense.bias"), "{found:?}");
    let faults = [scaled, zeroed, nan, norm, src, "pooler.dense.bias"];
    let extra: Vec<_> = found.iter().filter(|(_, t)| !faults.iter().any(|f| t.contains(f))).collect();
    assert!(extra.is_empty(), "false alarms: {extra:?}");
}
