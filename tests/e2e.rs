//! End-to-end tests of the `weightlens` binary against the fixtures and their references.

mod common;

use common::*;
use weightlens_core::Value;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn assert_matches(out: &std::path::Path, reference_name: &str) {
    let t = table(out);
    let refs = reference(reference_name);
    assert_eq!(t.rows.len(), refs.len(), "row count of {}", out.display());
    let problems = compare(&t, &refs);
    assert!(problems.is_empty(), "{} mismatches:\n{}", problems.len(), problems.join("\n"));
    assert_sorted(&t);
    let names: Vec<&str> = t.schema.columns().iter().take(16).map(|c| c.name.as_str()).collect();
    assert_eq!(names.join(","), SEED_COLUMNS);
}

#[test]
fn sharded_llama_matches_reference_in_every_format() {
    let dir = tmp();
    for ext in ["csv", "jsonl", "parquet"] {
        let out = dir.path().join(format!("out.{ext}"));
        let o = run(&["analyze", fixture("llama-tiny").to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
        assert!(o.status.success(), "{ext}: {}", String::from_utf8_lossy(&o.stderr));
        assert_matches(&out, "llama-tiny__model.safetensors.index.json.json");
        let t = table(&out);
        // One model through its index: model_path is the index, model_id the directory.
        let id = row_value(&t, "lm_head.weight", "model_id").cloned();
        assert_eq!(id, Some(Value::Str("llama-tiny".into())));
        assert_eq!(row_value(&t, "lm_head.weight", "framework"), Some(&Value::Str("safetensors".into())));
        assert_eq!(
            row_value(&t, "model.layers.1.mlp.up_proj.weight", "block_type"),
            Some(&Value::Str("mlp_up".into()))
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run_meta.json")).unwrap()).unwrap();
    for key in
        ["model_id", "revision", "model_path", "framework", "code_version", "environment", "cli_args", "thresholds"]
    {
        assert!(meta.get(key).is_some(), "run_meta.json lacks {key}");
    }
    assert_eq!(meta["validation"]["ok"], true);
    assert!(meta["limits"]["max_memory"].as_u64().is_some_and(|m| m > 0), "{}", meta["limits"]);
    assert_eq!(meta["limits"]["max_tensor_bytes"], 4u64 << 30);
    assert_eq!(meta["tensor_count"], 21);
    assert_eq!(meta["errors"].as_array().map(Vec::len), Some(0));
}

#[test]
fn every_safetensors_dtype_matches_reference() {
    let dir = tmp();
    let out = dir.path().join("dtypes.csv");
    let o = run(&["analyze", fixture("dtypes.safetensors").to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_matches(&out, "dtypes.safetensors.json");
}

#[test]
fn bad_safetensors_fail_cleanly_and_leave_no_output() {
    for bad in ["header-too-long.safetensors", "offsets-past-end.safetensors", "truncated.safetensors"] {
        let dir = tmp();
        let out = dir.path().join("out.csv");
        let path = fixture("bad").join(bad);
        let o = run(&["analyze", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{bad}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{bad}: one line expected: {stderr}");
        assert!(lines[0].contains(bad), "{bad}: the error names the file: {stderr}");
        assert!(!out.exists(), "{bad}: no output file");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        // run_meta.json and the run log say what failed.
        assert!(leftovers.iter().all(|n| n == "run_meta.json" || n == "out.csv.log"), "{bad}: left {leftovers:?}");
    }
    let expected = [
        ("header-too-long.safetensors", "exceeds file size"),
        ("offsets-past-end.safetensors", "tensor w data range"),
        ("truncated.safetensors", "truncated"),
    ];
    // Mixed with a good model: the good one is analyzed, the bad ones reported, exit 1.
    let dir = tmp();
    let out = dir.path().join("mixed.csv");
    let mut args = vec!["analyze".to_string(), fixture("dtypes.safetensors").display().to_string()];
    args.extend(expected.iter().map(|(b, _)| fixture("bad").join(b).display().to_string()));
    args.extend(["--out".into(), out.display().to_string()]);
    let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    for (bad, message) in expected {
        assert!(stderr.lines().any(|l| l.contains(bad) && l.contains(message)), "{bad}: {stderr}");
    }
    assert_eq!(table(&out).rows.len(), reference("dtypes.safetensors.json").len());
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run_meta.json")).unwrap()).unwrap();
    assert_eq!(meta["errors"].as_array().map(Vec::len), Some(3));
}

#[test]
fn ls_lists_tensors_from_headers() {
    let o = run(&["ls", fixture("llama-tiny").to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let tensors = json["models"][0]["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 21);
    let embed = tensors.iter().find(|t| t["name"] == "model.embed_tokens.weight").unwrap();
    assert_eq!(embed["dtype"], "BF16");
    assert_eq!(embed["shape"], serde_json::json!([320, 64]));
    assert_eq!(embed["bytes"], 320 * 64 * 2);
    let text = run(&["ls", fixture("dtypes.safetensors").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("w.f8_e4m3"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["analyze"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn filter_and_rank_none() {
    let dir = tmp();
    let out = dir.path().join("f.jsonl");
    let o = run(&[
        "analyze",
        fixture("llama-tiny").to_str().unwrap(),
        "--filter",
        r"layers\.1\.",
        "--rank",
        "none",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let t = table(&out);
    assert_eq!(t.rows.len(), 9);
    assert!(t.rows.iter().all(|r| r.get(&t.schema, "rank") == Some(&Value::Null)));
}

#[test]
fn spectral_columns_follow_the_builtin_ones_and_agree_with_the_moments() {
    let dir = tmp();
    let out = dir.path().join("s.csv");
    let o =
        run(&["analyze", fixture("llama-tiny").to_str().unwrap(), "--spectral", "--out", out.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The ranks are still the reference's (computed from the spectral decomposition now).
    assert_matches(&out, "llama-tiny__model.safetensors.index.json.json");
    let t = table(&out);
    let names: Vec<&str> = t.schema.columns().iter().map(|c| c.name.as_str()).collect();
    let builtin = weightlens_core::table::BUILTIN_COLUMNS.len();
    assert_eq!(
        names[..builtin].iter().zip(weightlens_core::table::BUILTIN_COLUMNS).filter(|(a, b)| **a == b.0).count(),
        builtin
    );
    let spectral: Vec<&str> = weightlens_analyzers::spectral::columns::ALL.iter().map(|(n, _)| *n).collect();
    assert_eq!(names[builtin..], spectral);
    assert_eq!(
        spectral[..7],
        ["sigma_max", "frobenius_norm", "stable_rank", "effective_rank", "condition_number", "alpha", "alpha_weighted"]
    );
    let mut matrices = 0;
    for row in &t.rows {
        let get = |c: &str| row.get(&t.schema, c).and_then(Value::as_f64);
        let name = row.get(&t.schema, "param_name").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(fro) = get("frobenius_norm") else {
            assert!(get("rows").is_none(), "{name}: a matrix without spectral values");
            continue;
        };
        let (numel, var, mean) = (get("numel").unwrap(), get("var").unwrap(), get("mean").unwrap());
        let want = (numel * (var + mean * mean)).sqrt();
        assert!((fro - want).abs() <= 1e-9 * want, "{name}: frobenius_norm {fro} vs {want}");
        let sigma_max = get("sigma_max").unwrap();
        assert!(sigma_max > 0.0 && sigma_max <= fro * (1.0 + 1e-12), "{name}: sigma_max {sigma_max}");
        let rank = get("rank").unwrap();
        assert!(get("effective_rank").unwrap() <= rank + 1e-9, "{name}: effective rank above rank");
        matrices += 1;
    }
    assert!(matrices >= 14, "only {matrices} matrices");

    // Without --spectral the table has no spectral columns.
    let plain = dir.path().join("p.csv");
    assert!(run(&["analyze", fixture("llama-tiny").to_str().unwrap(), "--out", plain.to_str().unwrap(), "-q"])
        .status
        .success());
    assert!(table(&plain).schema.index_of("sigma_max").is_none());

    // --spectral=full: rand_distance last, a Jensen-Shannon distance (0..sqrt(ln 2)), seeded.
    let full = |name: &str| {
        let path = dir.path().join(name);
        let o = run(&[
            "analyze",
            fixture("llama-tiny").to_str().unwrap(),
            "--spectral=full",
            "--out",
            path.to_str().unwrap(),
            "-q",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        table(&path)
    };
    let (a, b) = (full("f1.csv"), full("f2.csv"));
    assert_eq!(a.schema.columns().last().map(|c| c.name.as_str()), Some("rand_distance"));
    let distances: Vec<f64> =
        a.rows.iter().filter_map(|r| r.get(&a.schema, "rand_distance").and_then(Value::as_f64)).collect();
    assert!(distances.len() >= 14, "only {} rand_distance values", distances.len());
    assert!(distances.iter().all(|d| (0.0..=std::f64::consts::LN_2.sqrt()).contains(d)), "{distances:?}");
    let again: Vec<f64> =
        b.rows.iter().filter_map(|r| r.get(&b.schema, "rand_distance").and_then(Value::as_f64)).collect();
    assert_eq!(distances, again, "the permutation is seeded");
}

#[test]
fn approx_and_auto_ranks_say_what_they_used() {
    let dir = tmp();
    for (mode, method) in [("approx", "approx"), ("auto", "exact")] {
        let out = dir.path().join(format!("{mode}.csv"));
        let o = run(&[
            "analyze",
            fixture("llama-tiny").to_str().unwrap(),
            "--rank",
            mode,
            "--out",
            out.to_str().unwrap(),
            "-q",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // The fixture's ranks are far from the threshold: approx equals exact here.
        assert_matches(&out, "llama-tiny__model.safetensors.index.json.json");
        let t = table(&out);
        for row in &t.rows {
            let has_rank = !row.get(&t.schema, "rank").is_none_or(Value::is_null);
            let got = row.get(&t.schema, "rank_method").and_then(Value::as_str);
            assert_eq!(got, has_rank.then_some(method), "--rank {mode}");
        }
    }
}

#[test]
fn conv_ww_through_the_binary_matches_the_reference() {
    let text = std::fs::read_to_string(fixture("reference/conv-ww.safetensors.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let dir = tmp();
    for mode in ["ww", "reshape"] {
        let out = dir.path().join(format!("{mode}.csv"));
        let o = run(&[
            "analyze",
            fixture("conv-ww.safetensors").to_str().unwrap(),
            "--spectral",
            "--conv",
            mode,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let t = table(&out);
        for r in reference["tensors"].as_array().unwrap() {
            let name = r["name"].as_str().unwrap();
            let want = &r[mode];
            for column in ["alpha", "log_norm", "xmin", "entropy", "mp_softrank", "sigma_max"] {
                let got = row_value(&t, name, column).and_then(Value::as_f64).unwrap();
                let w = want[column].as_f64().unwrap();
                assert!((got - w).abs() <= 1e-6 * w.abs().max(1.0), "--conv {mode} {name} {column}: {got} vs {w}");
            }
            // Read back from CSV, a column outside the built-in ones is typed as numeric (float).
            let spikes = row_value(&t, name, "num_pl_spikes").and_then(Value::as_f64);
            assert_eq!(spikes, want["num_pl_spikes"].as_f64(), "--conv {mode} {name}");
            // The rank is the matrix's in both modes.
            let rank = row_value(&t, name, "rank").and_then(Value::as_i64).unwrap();
            let shape: Vec<u64> = r["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
            assert_eq!(
                rank as u64,
                shape[0].min(shape[1..].iter().product()),
                "{name}: a Gaussian tensor has full rank"
            );
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("run_meta.json")).unwrap()).unwrap();
        assert_eq!(meta["thresholds"]["conv"], mode);
        // The model summary counts what WeightWatcher analyzes: every tensor has >= 8 pooled
        // eigenvalues under ww (the fewest: conv_pointwise, 16); reshaped, conv_kernel [2, 75]
        // has only 2.
        let matrices = meta["spectral_summary"][0]["matrices"].as_u64().unwrap();
        assert_eq!(matrices, if mode == "ww" { 7 } else { 6 }, "--conv {mode}");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains(&format!("({matrices} matrices")), "{stdout}");
    }
}
