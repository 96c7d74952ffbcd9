//! `weightlens diff` against the diff references (`fixtures/diff/reference/*.json`: numpy
//! float64 metrics of pairs made with llama.cpp's converter and llama-quantize, and a
//! LoRA-merged fine-tune): the matching exactly as the reference lists it, the metrics within
//! 1e-9 relative, the delta rank exactly.

mod common;

use std::path::Path;

use common::{fixture, run, table, write_safetensors};
use weightlens_core::Value;
use weightlens_engine::export::Table;

fn text<'t>(t: &'t Table, row: usize, column: &str) -> Option<&'t str> {
    t.rows[row].get(&t.schema, column).and_then(Value::as_str)
}

fn num(t: &Table, row: usize, column: &str) -> Option<f64> {
    t.rows[row].get(&t.schema, column).and_then(Value::as_f64)
}

/// Runs the diff of a reference pair into `dir` and checks it against the reference.
// A helper of the tests below (clippy allows unwrap only inside #[test] functions themselves).
#[allow(clippy::unwrap_used)]
fn check_pair(pair: &str, dir: &Path) {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(&format!("diff/reference/{pair}.json"))).unwrap())
            .unwrap();
    let a = fixture(&format!("diff/{}", reference["a"].as_str().unwrap()));
    let b = fixture(&format!("diff/{}", reference["b"].as_str().unwrap()));
    let out = dir.join(format!("{pair}.csv"));
    let o = run(&["-q", "diff", a.to_str().unwrap(), b.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{pair}: {}", String::from_utf8_lossy(&o.stderr));
    let t = table(&out);
    let rows_of = |kind: &str| (0..t.rows.len()).filter(|&i| text(&t, i, "match") == Some(kind)).collect::<Vec<_>>();
    let matched = rows_of("matched");
    let want = reference["matched"].as_array().unwrap();
    assert_eq!(matched.len(), want.len(), "{pair}: matched count");
    for m in want {
        let name_b = m["name_b"].as_str().unwrap();
        let name_a = m["name_a"].as_str().unwrap();
        let row = *matched.iter().find(|&&i| text(&t, i, "name_b") == Some(name_b)).unwrap_or_else(|| {
            panic!("{pair}: no row for {name_b}");
        });
        assert_eq!(text(&t, row, "name_a"), Some(name_a), "{pair}: {name_b}");
        for key in ["rel_l2", "cosine", "snr_db", "max_abs", "mean_abs", "delta_mean", "delta_std"] {
            let (got, want) = (num(&t, row, key), m[key].as_f64());
            match (got, want) {
                (None, None) => {}
                (Some(g), Some(w)) => {
                    let tol = 1e-12f64.max(1e-9 * g.abs().max(w.abs()));
                    assert!((g - w).abs() <= tol, "{pair} {name_b} {key}: {g} vs {w}");
                }
                _ => panic!("{pair} {name_b} {key}: {got:?} vs {want:?}"),
            }
        }
        // Read back from CSV, an integer column comes back as a number.
        let rank = num(&t, row, "delta_rank");
        assert_eq!(rank, m["delta_rank"].as_f64(), "{pair} {name_b} delta_rank");
        let transform = m["transform"].as_str().unwrap();
        let got = text(&t, row, "transform").unwrap_or_default();
        assert_eq!(transform.starts_with("permute"), got.starts_with("permute"), "{pair} {name_b}: {got}");
        if transform.starts_with("permute") {
            assert_eq!(got, transform, "{pair} {name_b}");
        }
    }
    let names = |kind: &str, column: &str| -> Vec<String> {
        let mut v: Vec<String> = rows_of(kind).iter().filter_map(|&i| text(&t, i, column).map(String::from)).collect();
        v.sort();
        v
    };
    let list = |key: &str| -> Vec<String> {
        let mut v: Vec<String> =
            reference[key].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(names("only_in_a", "name_a"), list("only_in_a"), "{pair}");
    assert_eq!(names("only_in_b", "name_b"), list("only_in_b"), "{pair}");
    let mut mismatched: Vec<String> =
        reference["shape_mismatch"].as_array().unwrap().iter().map(|m| m["name_a"].as_str().unwrap().into()).collect();
    mismatched.sort();
    assert_eq!(names("shape_mismatch", "name_a"), mismatched, "{pair}");
    common::assert_sorted(&t);
    // run_meta.json names both sides and the unmatched tensors.
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run_meta.json")).unwrap()).unwrap();
    assert_eq!(meta["a"]["model_path"].as_str(), a.to_str());
    assert_eq!(meta["b"]["model_path"].as_str(), b.to_str());
    assert_eq!(meta["matched"].as_u64(), Some(want.len() as u64));
    assert_eq!(meta["only_in_b"].as_array().map(Vec::len), Some(list("only_in_b").len()));
}

#[test]
fn every_reference_pair_is_reproduced() {
    let mut pairs: Vec<String> = std::fs::read_dir(fixture("diff/reference"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") && !n.starts_with('_'))
        .map(|n| n.trim_end_matches(".json").to_string())
        .collect();
    pairs.sort();
    assert_eq!(pairs.len(), 9);
    for pair in pairs {
        let dir = tempfile::tempdir().unwrap();
        check_pair(&pair, dir.path());
    }
}

#[test]
fn swapped_sides_undo_the_permutation_on_a() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d.csv");
    let (hf, gguf) = (fixture("diff/models/llama_tiny"), fixture("diff/gguf/llama_tiny.f32.gguf"));
    let o = run(&["-q", "diff", gguf.to_str().unwrap(), hf.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = table(&out);
    let q = (0..t.rows.len()).find(|&i| text(&t, i, "name_a") == Some("blk.0.attn_q.weight")).unwrap();
    assert_eq!(text(&t, q, "transform"), Some("permute(n_head=4)"));
    assert_eq!(num(&t, q, "max_abs"), Some(0.0));
    assert_eq!(t.rows.len(), 21);
}

#[test]
fn models_with_nothing_in_common_fail_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (dir.path().join("x.safetensors"), dir.path().join("y.safetensors"));
    write_safetensors(&x, &[("a.weight", &[2], vec![1.0, 2.0])]);
    write_safetensors(&y, &[("b.weight", &[2], vec![1.0, 2.0])]);
    let out = dir.path().join("d.csv");
    let o = run(&["-q", "diff", x.to_str().unwrap(), y.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("x.safetensors") && err.contains("y.safetensors") && err.contains("no tensor in common"),
        "{err}"
    );
    assert!(!out.exists(), "no table when nothing was compared");
}

#[test]
fn a_user_map_pairs_renamed_tensors_and_undoes_its_transform() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (dir.path().join("x.safetensors"), dir.path().join("y.safetensors"));
    write_safetensors(&x, &[("norm", &[3], vec![0.5, -0.25, 0.0]), ("same", &[1], vec![2.0])]);
    write_safetensors(&y, &[("shifted_norm", &[3], vec![1.5, 0.75, 1.0]), ("same", &[1], vec![2.0])]);
    let map = dir.path().join("map.toml");
    std::fs::write(&map, "[[pair]]\na = \"norm\"\nb = \"shifted_norm\"\ntransform = \"norm_shift(+1)\"\n").unwrap();
    let out = dir.path().join("d.jsonl");
    let args = ["-q", "diff", x.to_str().unwrap(), y.to_str().unwrap(), "--map", map.to_str().unwrap()];
    let o = run(&[&args[..], &["-o", out.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = table(&out);
    let row = (0..t.rows.len()).find(|&i| text(&t, i, "name_b") == Some("shifted_norm")).unwrap();
    assert_eq!(text(&t, row, "transform"), Some("norm_shift(+1)"));
    assert_eq!((num(&t, row, "max_abs"), num(&t, row, "rel_l2")), (Some(0.0), Some(0.0)));
    assert_eq!(t.rows.len(), 2);
}

#[test]
fn a_truncated_side_fails_with_a_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (dir.path().join("x.safetensors"), dir.path().join("y.safetensors"));
    write_safetensors(&x, &[("w", &[2], vec![1.0, 2.0]), ("v", &[2], vec![1.0, 2.0])]);
    write_safetensors(&y, &[("w", &[2], vec![1.0, 2.5]), ("v", &[2], vec![1.0, 2.0])]);
    // Truncate y inside the data of its last tensor ("v" is stored last).
    let bytes = std::fs::read(&y).unwrap();
    std::fs::write(&y, &bytes[..bytes.len() - 4]).unwrap();
    let out = dir.path().join("d.csv");
    let o = run(&["-q", "diff", x.to_str().unwrap(), y.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("y.safetensors"), "{err}");
}

#[test]
fn the_report_shows_layers_worst_tensors_and_unmatched() {
    let dir = tempfile::tempdir().unwrap();
    let (out, html) = (dir.path().join("d.csv"), dir.path().join("r.html"));
    let (a, b) =
        (fixture("diff/models/llama_tiny/model.safetensors"), fixture("diff/models/llama_tiny_ft/model.safetensors"));
    let args = ["-q", "diff", a.to_str().unwrap(), b.to_str().unwrap(), "-o", out.to_str().unwrap()];
    let o = run(&[&args[..], &["--report", html.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(&html).unwrap();
    for needle in
        ["id=\"per-layer\"", "id=\"worst\"", "value_head.weight", "shape_mismatch", "q_proj.weight", "<polyline"]
    {
        assert!(page.contains(needle), "report lacks {needle}");
    }
}
