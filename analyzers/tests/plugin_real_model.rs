//! The `moments` example plugin on a real model (all-MiniLM-L6-v2, 22.7M F32 parameters), every
//! tensor checked against a direct computation and the numpy reference. The model is fetched by
//! `scripts/fetch-models.py`; without it the test fails under CI (`CI` set) and is skipped
//! locally with a notice.

mod common;

use std::time::Instant;

use common::*;
use weightlens_analyzers::plugin::PluginAnalyzer;
use weightlens_core::TensorAnalyzer;

#[test]
fn moments_plugin_on_all_minilm_l6_v2() {
    let path = workspace_root().join("data/models/all-MiniLM-L6-v2/model.safetensors");
    if !path.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing: run `python3 scripts/fetch-models.py`",
            path.display()
        );
        eprintln!("skipping: {} is missing (run `python3 scripts/fetch-models.py`)", path.display());
        return;
    }
    let moments = PluginAnalyzer::load(&moments_plugin()).unwrap();
    let source = weightlens_readers::open_path(&path).unwrap();
    let reference = reference_tensors("all-MiniLM-L6-v2.safetensors.json");
    assert_eq!(source.tensors().len(), reference.len());

    let started = Instant::now();
    let mut results = Vec::new();
    for i in 0..source.tensors().len() {
        let values = moments.analyze(&source.view(i).unwrap()).unwrap();
        results.push(values.iter().map(|v| v.as_f64().unwrap()).collect::<Vec<f64>>());
    }
    let numel: usize = source.tensors().iter().map(|t| t.numel().unwrap() as usize).sum();
    eprintln!("moments plugin: {} tensors, {numel} values in {:.2?}", results.len(), started.elapsed());

    for (i, (info, got)) in source.tensors().iter().zip(&results).enumerate() {
        let x = source.view(i).unwrap().to_f64_vec().unwrap();
        check_moments(&info.name, got, &x, &reference[&info.name]);
    }
}
