//! Pickle-based files read as torch reads them, and `weightlens scan`'s allow-list verdicts,
//! against the files of `fixtures/pickle/` (written by `fixtures/generator/make_pickle_fixtures.py`).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;

use common::*;

/// `scan --format jsonl` of `paths`: (exit code, one JSON object per file).
fn scan(paths: &[&str]) -> (Option<i32>, Vec<serde_json::Value>) {
    let mut args = vec!["scan", "--format", "jsonl"];
    args.extend_from_slice(paths);
    let o = run(&args);
    let stdout = String::from_utf8(o.stdout).unwrap();
    let lines = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (o.status.code(), lines)
}

fn expected() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(fixture("pickle/EXPECTED.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_fixture_gets_its_verdict_and_nothing_runs() {
    let (code, scans) = scan(&[fixture("pickle").to_str().unwrap()]);
    let expected = expected();
    assert_eq!(scans.len(), expected.len(), "one line per file: {scans:?}");
    let root = fixture("pickle");
    for s in &scans {
        let path = std::path::Path::new(s["path"].as_str().unwrap());
        let rel = path.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        let want = expected.get(&rel).unwrap_or_else(|| panic!("{rel} is not in EXPECTED.json"));
        assert_eq!(s["verdict"].as_str(), Some(want.as_str()), "{rel}: {s}");
        if rel.starts_with("malicious/") {
            assert_ne!(s["verdict"], "safe", "{rel}");
            assert_ne!(s["format"], "unrecognised", "{rel}: a hostile file must never be an unknown format");
        }
        if want != "safe" {
            assert!(!s["findings"].as_array().unwrap().is_empty(), "{rel}: a verdict names what decided it");
        }
    }
    assert_eq!(code, Some(3), "a dangerous file makes exit code 3");
}

#[test]
fn findings_name_the_global_and_where_it_is() {
    let (_, scans) = scan(&[fixture("pickle/malicious/memo-indirection.pkl").to_str().unwrap()]);
    let f = &scans[0]["findings"][0];
    assert_eq!(f["what"], "subprocess.check_call");
    assert_eq!(f["verdict"], "dangerous");
    assert!(f["offset"].as_u64().is_some());
    let (_, scans) = scan(&[fixture("pickle/malicious/torch-zip-system.pt").to_str().unwrap()]);
    assert_eq!(scans[0]["findings"][0]["member"], "archive/data.pkl");
    let (_, scans) = scan(&[fixture("pickle/malicious/nested-bytes.pkl").to_str().unwrap()]);
    assert_eq!(scans[0]["findings"][0]["nested"], 1, "{}", scans[0]);
    let (_, scans) = scan(&[fixture("pickle/malicious/second-stream.pkl").to_str().unwrap()]);
    let what: Vec<&str> =
        scans[0]["findings"].as_array().unwrap().iter().map(|f| f["what"].as_str().unwrap()).collect();
    assert!(what.contains(&"second pickle stream after STOP") && what.contains(&"os.system"), "{what:?}");
}

#[test]
fn exit_codes_follow_the_worst_verdict() {
    let safe =
        [fixture("pickle/numpy-weights-p4.pkl"), fixture("pickle/torch-tensors.pt"), fixture("dtypes.safetensors")];
    let safe: Vec<&str> = safe.iter().map(|p| p.to_str().unwrap()).collect();
    let (code, scans) = scan(&safe);
    assert_eq!(code, Some(0), "{scans:?}");
    let unknown = fixture("pickle/torch-module.pt");
    let mut args = safe.clone();
    args.push(unknown.to_str().unwrap());
    assert_eq!(scan(&args).0, Some(1));
    let o = run(&["scan", fixture("pickle/malicious/posix-alias.pkl").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    let line = String::from_utf8(o.stdout).unwrap();
    assert!(line.starts_with("dangerous") && line.contains("posix.system"), "{line}");
}

#[test]
fn numpy_pickles_of_every_protocol_match_their_reference() {
    let dir = tempfile::tempdir().unwrap();
    for p in [2, 4, 5] {
        let name = format!("numpy-weights-p{p}.pkl");
        let out = dir.path().join(format!("{name}.csv"));
        let o = run(&[
            "analyze",
            fixture(&format!("pickle/{name}")).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        let t = table(&out);
        let refs = reference(&format!("pickle__{name}.json"));
        assert_eq!(t.rows.len(), refs.len(), "{name}: one row per array");
        let problems = compare(&t, &refs);
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
        assert_eq!(
            row_value(&t, "encoder.layers.0.weight", "framework"),
            Some(&weightlens_core::Value::Str("pkl".into()))
        );
    }
}

#[test]
fn torch_tensors_pickled_without_torch_save_match_their_reference() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.csv");
    let path = fixture("pickle/torch-pickle-dumps.pkl");
    let o = run(&["analyze", path.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let t = table(&out);
    let refs = reference("pickle__torch-pickle-dumps.pkl.json");
    assert_eq!(t.rows.len(), refs.len());
    let problems = compare(&t, &refs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn torchscript_parameters_match_state_dict() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ts.csv");
    let o = run(&["analyze", fixture("pickle/torchscript.pt").to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let t = table(&out);
    let refs = reference("pickle__torchscript.pt.json");
    assert!(refs.iter().any(|r| r.name == "model.encoder.0.weight"));
    assert_eq!(t.rows.len(), refs.len());
    let problems = compare(&t, &refs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn string_members_of_an_npz_are_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.csv");
    let o = run(&["analyze", fixture("pickle/strings.npz").to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("vocab.npy") && stderr.contains("str"), "{stderr}");
    assert!(stderr.contains("raw.npy") && stderr.contains("bytes"), "{stderr}");
    let t = table(&out);
    let problems = compare(&t, &reference("pickle__strings.npz.json"));
    assert!(problems.is_empty() && t.rows.len() == 1, "{}", problems.join("\n"));
}

#[test]
fn a_local_header_that_lies_is_read_through_the_central_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.csv");
    let path = fixture("pickle/zip-local-header-mismatch.pt");
    let o = run(&["analyze", path.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let meta = std::fs::read_to_string(dir.path().join("run_meta.json")).unwrap();
    assert!(meta.contains("datap.kl") && meta.contains("central directory"), "{meta}");
    assert_eq!(row_value(&table(&out), "w", "mean"), Some(&weightlens_core::Value::Float(1.0)));
}

#[test]
fn dangerous_bare_pickles_are_refused_by_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.csv");
    let o = run(&[
        "analyze",
        fixture("pickle/malicious/nested-bytes.pkl").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the nested pickle is a bytes value, never unpickled: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&[
        "analyze",
        fixture("pickle/malicious/posix-alias.pkl").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr.contains("posix.system") && stderr.contains("refused"), "{stderr}");
}
