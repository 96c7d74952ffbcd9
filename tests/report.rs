//! The HTML report, rendered for real: analyze the fixtures, write the report, open it in
//! headless Chromium and check that every chart drew and no script failed; the numbers in the
//! heatmap are checked against the numpy reference. Also the run log and the anomaly summary.

#![allow(clippy::unwrap_used, clippy::print_stderr)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use weightlens_core::classify;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn analyze(input: &Path, out: &Path) -> String {
    let o = run(&["analyze", input.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "analyze {}: {}", input.display(), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Chromium from WEIGHTLENS_CHROMIUM or PATH; under CI its absence is a failure.
fn chromium() -> Option<PathBuf> {
    let candidates = std::env::var_os("WEIGHTLENS_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["chromium", "chromium-browser", "google-chrome"].map(PathBuf::from));
    for c in candidates {
        if Command::new(&c).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return Some(c);
        }
    }
    assert!(std::env::var_os("CI").is_none(), "chromium is missing (apt-get install -y chromium)");
    eprintln!("NOTICE: chromium not found, the browser check is skipped (install it: apt-get install -y chromium)");
    None
}

fn headless(browser: &Path, extra: &[&str], page: &Path) -> std::process::Output {
    let url = format!("file://{}", page.canonicalize().expect("page path").display());
    let profile = tmp();
    Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=3000", "--hide-scrollbars"])
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium")
}

/// Values of the heatmap cells: `(block_type, layer) -> value` from the `<title>`s.
fn heatmap_cells(html: &str, metric: &str) -> BTreeMap<(String, i64), f64> {
    // The title holds the raw value, then the robust z-score the cell is colored by.
    let re = regex::Regex::new(&format!(
        r"<title>([a-z_]+) layer (\d+): {metric} ([-0-9.e]+) \(robust z -?[0-9.]+\)</title>"
    ))
    .unwrap();
    re.captures_iter(html).map(|c| ((c[1].to_string(), c[2].parse().unwrap()), c[3].parse().unwrap())).collect()
}

#[test]
fn report_renders_in_headless_chromium_with_reference_numbers() {
    let dir = tmp();
    let table = dir.path().join("llama.parquet");
    let quant_dir = dir.path().join("q");
    std::fs::create_dir(&quant_dir).unwrap();
    let quant = quant_dir.join("llama-q.csv");
    analyze(&fixture("llama-tiny"), &table);
    analyze(&fixture("llama-tiny-q-00001-of-00002.gguf"), &quant);
    let page = dir.path().join("report.html");
    let o = run(&["report", table.to_str().unwrap(), quant.to_str().unwrap(), "--out", page.to_str().unwrap()]);
    assert!(o.status.success(), "report: {}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();

    // Self-contained: nothing fetched (the only URL is the SVG namespace).
    let without_ns = html.replace("http://www.w3.org/2000/svg", "");
    for needle in ["http://", "https://", " src=", "<link", "@import"] {
        assert!(!without_ns.contains(needle), "the report refers to something outside: {needle}");
    }
    // Run metadata from run_meta.json beside each table.
    assert!(html.contains("llama-tiny") && html.contains("started_at"), "metadata missing");

    // The heatmap's std per (block type, layer) is the mean of the reference std of its tensors.
    let mut expected: BTreeMap<(String, i64), Vec<f64>> = BTreeMap::new();
    for t in reference("llama-tiny__model.safetensors.index.json.json") {
        let c = classify(&t.name);
        if let (Some(layer), Some(std)) = (c.layer_index, t.std) {
            // Norms are rows of their own, named after the layer number.
            let series = match c.block_type.as_str() {
                "norm" => t.name.rsplit('.').nth(1).unwrap().to_string(),
                block => block.to_string(),
            };
            expected.entry((series, i64::from(layer))).or_default().push(std);
        }
    }
    let first_table = html.split("<h3>").find(|s| s.contains("class=\"heatmap\"")).expect("a heatmap");
    let cells = heatmap_cells(first_table, "std");
    assert_eq!(cells.len(), expected.len(), "heatmap cells {cells:?}");
    for (key, stds) in &expected {
        let want = stds.iter().sum::<f64>() / stds.len() as f64;
        let got = cells[key];
        // The title shows 4 decimals (or 3 significant digits in scientific notation).
        assert!((got - want).abs() <= 6e-5 + 5e-3 * want.abs(), "{key:?}: report {got}, reference {want}");
    }

    let Some(browser) = chromium() else { return };
    let o = headless(&browser, &["--dump-dom"], &page);
    let dom = String::from_utf8_lossy(&o.stdout);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "chromium failed: {log}");
    let svgs = html.matches("<svg").count();
    // Per layer: rank ratio, std and sparsity of the matrices, std and sparsity of the norms (in
    // their own panel); one heatmap per table; 4 histograms.
    assert_eq!(svgs, 3 + 2 + 2 + 4, "charts");
    assert!(html.contains("<h3>norm weights</h3>") && html.contains("<h3>weight matrices</h3>"), "panels");
    assert!(
        dom.contains("selfcheck:ok"),
        "self-check failed: {}",
        dom.lines().find(|l| l.contains("selfcheck")).unwrap_or("")
    );
    assert!(dom.contains(&format!("data-drawn=\"{svgs}\"")), "not every chart drew");
    assert!(dom.contains("data-errors=\"0\""));
    for line in log.lines() {
        assert!(!line.contains("CONSOLE") && !line.contains("Uncaught"), "console output: {line}");
    }
}

#[test]
fn summary_lists_every_kind_of_anomaly_and_the_log_is_written() {
    let dir = tmp();
    let model = dir.path().join("odd.safetensors");
    let random: Vec<f32> = (0..16).map(|i| ((i * 7919 % 17) as f32 - 8.0) / 8.0).collect();
    let rank_one: Vec<f32> = (0..16).map(|i| ((i / 4 + 1) * (i % 4 + 1)) as f32).collect();
    let mut with_nan = random.clone();
    with_nan[3] = f32::NAN;
    write_safetensors(
        &model,
        &[
            ("model.embed_tokens.weight", &[4, 4], random.clone()),
            ("lm_head.weight", &[4, 4], random.clone()),
            ("model.layers.0.self_attn.q_proj.weight", &[4, 4], rank_one),
            ("model.layers.0.self_attn.k_proj.weight", &[4, 4], with_nan),
            ("model.layers.0.mlp.up_proj.weight", &[4, 4], vec![0.0; 16]),
            ("model.layers.0.input_layernorm.weight", &[4], vec![3.0; 4]),
            ("model.layers.0.post_attention_layernorm.weight", &[4], vec![1.0; 4]),
        ],
    );
    let out = dir.path().join("odd.csv");
    let o = run(&["analyze", model.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    // Progress bars only on a terminal: the captured stderr holds none.
    assert!(!String::from_utf8_lossy(&o.stderr).contains("tensors in"), "progress on a pipe");
    // The lines of one kind: its header, then the lines indented deeper.
    let section = |kind: &str| {
        let mut lines = stdout.lines().skip_while(|l| !l.starts_with(&format!("  {kind} (")));
        let header = lines.next().unwrap_or_else(|| panic!("no {kind} in:\n{stdout}"));
        let body: Vec<&str> = lines.take_while(|l| l.starts_with("    ")).collect();
        format!("{header}\n{}", body.join("\n"))
    };
    assert!(section("nan/inf").contains("k_proj") && section("nan/inf").contains("1 NaN"));
    assert!(section("all zero").contains("mlp.up_proj"));
    // One layer: no peers, so no peer rules; both norms hold one value each.
    let same = section("all identical");
    assert!(same.contains("input_layernorm") && same.contains("all 3"), "{same}");
    assert!(!stdout.contains("rank below peers") && !stdout.contains("outlier"), "{stdout}");
    let dup = section("duplicate");
    assert!(dup.contains("lm_head.weight, model.embed_tokens.weight") && dup.contains("2 copies of 64 bytes"), "{dup}");
    assert!(stdout.contains("anomalies: 5"), "{stdout}");

    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run_meta.json")).unwrap()).unwrap();
    let kinds: Vec<&str> = meta["anomalies"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["nan_inf", "all_zero", "all_identical", "all_identical", "duplicate"]);
    assert_eq!(meta["anomalies"][2]["value"], serde_json::json!(3.0));
    assert_eq!(meta["duplicates"][0]["tensors"], serde_json::json!(["lm_head.weight", "model.embed_tokens.weight"]));

    let log = std::fs::read_to_string(dir.path().join("odd.csv.log")).expect("run log");
    for needle in [
        "INFO",
        "operation=\"discover\"",
        "operation=\"open\"",
        "operation=\"analyze\"",
        "operation=\"write\"",
        "duration_ms=",
        "version=\"",
        env!("CARGO_PKG_VERSION"),
    ] {
        assert!(log.contains(needle), "log lacks {needle}:\n{log}");
    }
}

/// A 70B-class layout: 80 layers of 7 projections and 2 norms, plus embeddings, final norm and
/// head (723 tensors; small matrices, since only the table's size matters to the report).
#[test]
fn report_of_an_80_layer_model_stays_small_and_renders() {
    let dir = tmp();
    let model = dir.path().join("big.safetensors");
    let values = |seed: usize, n: usize, scale: f32| -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 + seed * 104_729) % 257) as f32 / 257.0 * scale - scale / 2.0).collect()
    };
    let mut names: Vec<(String, Vec<u64>, Vec<f32>)> = Vec::new();
    names.push(("model.embed_tokens.weight".into(), vec![32, 8], values(1, 256, 0.1)));
    for layer in 0..80 {
        for (k, proj) in [
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
        ]
        .iter()
        .enumerate()
        {
            names.push((format!("model.layers.{layer}.{proj}.weight"), vec![8, 8], values(layer * 10 + k, 64, 0.05)));
        }
        for norm in ["input_layernorm", "post_attention_layernorm"] {
            names.push((
                format!("model.layers.{layer}.{norm}.weight"),
                vec![8],
                values(layer, 8, 0.2).iter().map(|v| v + 1.0).collect(),
            ));
        }
    }
    names.push(("model.norm.weight".into(), vec![8], vec![1.0; 8]));
    names.push(("lm_head.weight".into(), vec![32, 8], values(2, 256, 0.1)));
    assert_eq!(names.len(), 723);
    let borrowed: Vec<(&str, &[u64], Vec<f32>)> =
        names.iter().map(|(n, s, v)| (n.as_str(), s.as_slice(), v.clone())).collect();
    write_safetensors(&model, &borrowed);
    let table = dir.path().join("big.csv");
    analyze(&model, &table);
    let page = dir.path().join("big.html");
    let o = run(&["report", table.to_str().unwrap(), "--out", page.to_str().unwrap()]);
    assert!(o.status.success(), "report: {}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.len() < 5 << 20, "report is {} bytes", html.len());
    // Every layer of every series is in the heatmap: 7 projections and 2 norms x 80 layers.
    assert_eq!(heatmap_cells(&html, "std").len(), 9 * 80);

    let Some(browser) = chromium() else { return };
    let o = headless(&browser, &["--dump-dom"], &page);
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "chromium failed: {}", String::from_utf8_lossy(&o.stderr));
    assert!(dom.contains("selfcheck:ok"), "{}", dom.lines().find(|l| l.contains("selfcheck")).unwrap_or(""));
    assert!(dom.contains("data-errors=\"0\""));
}

/// The reports of the two fetched real models render, with norms in their own panel and the
/// int64 `position_ids` buffer out of the charts.
#[test]
fn real_model_reports_render_in_headless_chromium() {
    for id in ["all-MiniLM-L6-v2", "gemma-3-270m-q4_k_m"] {
        let Some(model) = real_model(id) else { continue };
        let dir = tmp();
        let table = dir.path().join("t.parquet");
        analyze(&model, &table);
        let page = dir.path().join("r.html");
        let o = run(&["report", table.to_str().unwrap(), "--out", page.to_str().unwrap()]);
        assert!(o.status.success(), "report {id}: {}", String::from_utf8_lossy(&o.stderr));
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(html.contains("<h3>norm weights</h3>") && html.contains("<h3>weight matrices</h3>"), "{id}: panels");
        assert!(!html.contains("<title>position_ids"), "{id}: integer buffer charted");
        let Some(browser) = chromium() else { return };
        let o = headless(&browser, &["--dump-dom"], &page);
        let dom = String::from_utf8_lossy(&o.stdout);
        assert!(dom.contains("selfcheck:ok"), "{id}: {}", dom.lines().find(|l| l.contains("selfcheck")).unwrap_or(""));
        assert!(dom.contains("data-errors=\"0\""), "{id}");
    }
}

/// `--esd`: one log-log ESD per matching matrix of a `--spectral --conv ww` table, its bars
/// counting every pooled eigenvalue and its power law the reference's fit
/// (`fixtures/reference/conv-ww.safetensors.json`); a model that moved is named instead.
#[test]
fn esd_charts_draw_the_reference_spectra() {
    let text = std::fs::read_to_string(fixture("reference/conv-ww.safetensors.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let dir = tmp();
    let model = dir.path().join("conv.safetensors");
    std::fs::copy(fixture("conv-ww.safetensors"), &model).unwrap();
    let table = dir.path().join("t.csv");
    let page = dir.path().join("esd.html");
    let o = run(&[
        "analyze",
        model.to_str().unwrap(),
        "--spectral",
        "--conv",
        "ww",
        "--out",
        table.to_str().unwrap(),
        "-q",
        "--report",
        page.to_str().unwrap(),
        "--esd",
        "^(conv_heavy|conv_first|dense)\\.",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    let esd =
        html.split(r#"<section id="esd">"#).nth(1).and_then(|s| s.split("</section>").next()).expect("ESD section");
    assert!(esd.contains("--conv ww") && esd.contains("3 matching matrices"), "{esd}");
    let charts: Vec<&str> = esd.split("<h4>").skip(1).collect();
    assert_eq!(charts.len(), 3);
    let bar = regex::Regex::new(r"<title>(\d+) eigenvalues in \[").unwrap();
    let line = regex::Regex::new(r"<title>power law alpha ([-0-9.e]+) from xmin ([-0-9.e]+) to xmax").unwrap();
    for chart in charts {
        let name = chart.split_whitespace().next().unwrap();
        let r = reference["tensors"].as_array().unwrap().iter().find(|t| t["name"] == name).expect(name);
        let want = &r["ww"];
        // Every eigenvalue is in a bar (none of these is zero).
        let counted: u64 = bar.captures_iter(chart).map(|c| c[1].parse::<u64>().unwrap()).sum();
        assert_eq!(counted, want["num_evals"].as_u64().unwrap(), "{name}");
        let c = line.captures(chart).unwrap_or_else(|| panic!("{name}: no power law"));
        let close = |got: &str, w: f64| (got.parse::<f64>().unwrap() - w).abs() <= 6e-5 + 5e-4 * w.abs();
        assert!(close(&c[1], want["alpha"].as_f64().unwrap()), "{name}: alpha {} vs {}", &c[1], want["alpha"]);
        assert!(close(&c[2], want["xmin"].as_f64().unwrap()), "{name}: xmin {} vs {}", &c[2], want["xmin"]);
        assert!(chart.contains(&format!("{} of {} eigenvalues in the tail", want["num_pl_spikes"], want["num_evals"])));
    }
    // The model summary of the same run (all 7 tensors have >= 8 pooled eigenvalues).
    assert!(html.contains("<td>conv</td><td>7</td>"), "spectral summary");

    // The model moved: the report names it instead of drawing.
    std::fs::remove_file(&model).unwrap();
    let again = dir.path().join("again.html");
    let o = run(&["report", table.to_str().unwrap(), "--out", again.to_str().unwrap(), "--esd", "conv_first"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&again).unwrap();
    assert!(html.contains("no model at "), "moved model not reported");

    let Some(browser) = chromium() else { return };
    let o = headless(&browser, &["--dump-dom"], &page);
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(dom.contains("selfcheck:ok"), "{}", dom.lines().find(|l| l.contains("selfcheck")).unwrap_or(""));
    assert!(dom.contains("data-errors=\"0\""));
}
