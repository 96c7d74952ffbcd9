//! llama.cpp importance matrices: `diff --imatrix` against the numpy references of
//! `fixtures/diff/imatrix/reference.json` (fixtures/generator/make_imatrix_fixtures.py), and
//! `analyze` of imatrix files (GGUF and legacy `.dat`) against the statistics of their importance
//! values; malformed imatrix files fail with a line naming them.

mod common;

use common::{compare, fixture, reference, run, table};
use weightlens_core::Value;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn imatrix_weighted_metrics_match_numpy_for_gguf_and_dat() {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("diff/imatrix/reference.json")).unwrap()).unwrap();
    let dir = tmp();
    let pairs = doc["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 4);
    for p in pairs {
        let (a, b, im) = (
            fixture(&format!("diff/{}", p["a"].as_str().unwrap())),
            fixture(&format!("diff/{}", p["b"].as_str().unwrap())),
            fixture(&format!("diff/{}", p["imatrix"].as_str().unwrap())),
        );
        let out = dir.path().join("d.csv");
        let args = ["-q", "diff", a.to_str().unwrap(), b.to_str().unwrap(), "--imatrix", im.to_str().unwrap()];
        let o = run(&[&args[..], &["--rank", "none", "-o", out.to_str().unwrap()]].concat());
        let what = format!("{} with {}", p["pair"], p["imatrix"]);
        assert!(o.status.success(), "{what}: {}", String::from_utf8_lossy(&o.stderr));
        let t = table(&out);
        let rows = p["rows"].as_array().unwrap();
        let mut weighted = 0;
        for r in rows {
            let name_b = r["name_b"].as_str().unwrap();
            let row = t
                .rows
                .iter()
                .find(|row| row.get(&t.schema, "name_b").and_then(Value::as_str) == Some(name_b))
                .unwrap_or_else(|| panic!("{what}: no row for {name_b}"));
            assert_eq!(row.get(&t.schema, "name_a").and_then(Value::as_str), r["name_a"].as_str(), "{what}");
            for key in ["imatrix_rel_l2", "imatrix_snr_db"] {
                let got = row.get(&t.schema, key).and_then(Value::as_f64);
                match (got, r[key].as_f64()) {
                    (None, None) => {}
                    (Some(g), Some(w)) => {
                        let tol = 1e-12f64.max(1e-9 * g.abs().max(w.abs()));
                        assert!((g - w).abs() <= tol, "{what} {name_b} {key}: {g} vs {w}");
                    }
                    (g, w) => panic!("{what} {name_b} {key}: {g:?} vs {w:?}"),
                }
            }
            match r["note"].as_str() {
                Some(note) => assert_eq!(row.get(&t.schema, "note").and_then(Value::as_str), Some(note), "{what}"),
                None => weighted += 1,
            }
        }
        assert_eq!(weighted, 14, "{what}: every blk.* matrix is weighted");
        // Tensors the imatrix does not cover (norms) get an empty cell and a note.
        let norm = t
            .rows
            .iter()
            .find(|row| row.get(&t.schema, "name_b").and_then(Value::as_str) == Some("blk.0.attn_norm.weight"))
            .unwrap();
        assert_eq!(norm.get(&t.schema, "imatrix_rel_l2"), Some(&Value::Null));
        assert!(norm.get(&t.schema, "note").and_then(Value::as_str).unwrap().starts_with("no imatrix entry"));
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("run_meta.json")).unwrap()).unwrap();
        assert!(meta["imatrix"].as_str().unwrap().ends_with(p["imatrix"].as_str().unwrap()), "{meta}");
    }
}

#[test]
fn without_imatrix_the_weighted_columns_are_empty() {
    let dir = tmp();
    let out = dir.path().join("d.csv");
    let (a, b) = (fixture("diff/models/llama_tiny"), fixture("diff/gguf/llama_tiny.q8_0.gguf"));
    let o =
        run(&["-q", "diff", a.to_str().unwrap(), b.to_str().unwrap(), "--rank", "none", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = table(&out);
    assert!(t.rows.iter().all(|r| r.get(&t.schema, "imatrix_rel_l2") == Some(&Value::Null)));
    assert!(t.rows.iter().all(|r| r.get(&t.schema, "note") == Some(&Value::Null)));
}

#[test]
fn analyze_of_an_imatrix_gives_one_row_per_weight_with_its_importance_statistics() {
    for file in ["llama_tiny.imatrix.gguf", "llama_tiny.imatrix.dat"] {
        let dir = tmp();
        let out = dir.path().join("a.csv");
        let path = fixture(&format!("diff/imatrix/{file}"));
        let o = run(&["analyze", path.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
        assert!(o.status.success(), "{file}: {}", String::from_utf8_lossy(&o.stderr));
        let t = table(&out);
        let refs = reference(&format!("diff__imatrix__{file}.json"));
        assert_eq!(t.rows.len(), refs.len(), "{file}: one row per weight");
        let problems = compare(&t, &refs);
        assert!(problems.is_empty(), "{file}:\n{}", problems.join("\n"));
        let framework = t.rows[0].get(&t.schema, "framework").and_then(Value::as_str);
        assert_eq!(framework, Some("imatrix"), "{file}");
        let ls = run(&["ls", path.to_str().unwrap()]);
        assert!(ls.status.success(), "{file}: {}", String::from_utf8_lossy(&ls.stderr));
        assert!(String::from_utf8_lossy(&ls.stdout).contains("blk.1.ffn_down.weight"), "{file}");
    }
}

#[test]
fn malformed_imatrix_files_fail_with_a_line_naming_them() {
    let dir = tmp();
    let (a, b) = (fixture("diff/models/llama_tiny"), fixture("diff/gguf/llama_tiny.f32.gguf"));
    let out = dir.path().join("d.csv");
    let diff_with = |im: &std::path::Path| {
        run(&[
            "-q",
            "diff",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--imatrix",
            im.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
    };
    // A sums tensor without its counts (imatrix.cpp's load_imatrix refuses it too).
    let no_counts = fixture("diff/imatrix/bad-no-counts.imatrix.gguf");
    let o = diff_with(&no_counts);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0));
    assert!(err.contains("bad-no-counts.imatrix.gguf") && err.contains("blk.0.attn_q.weight"), "{err}");
    let o = run(&["analyze", no_counts.to_str().unwrap(), "--out", dir.path().join("x.csv").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    // A truncated .dat no longer parses to its end: not an imatrix, and not taken for one.
    let good = std::fs::read(fixture("diff/imatrix/llama_tiny.imatrix.dat")).unwrap();
    let cut = dir.path().join("cut.dat");
    std::fs::write(&cut, &good[..good.len() / 2]).unwrap();
    let o = diff_with(&cut);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0));
    assert!(err.contains("cut.dat"), "{err}");
    let o = run(&["analyze", cut.to_str().unwrap(), "--out", dir.path().join("y.csv").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown format"), "{err}");
}
