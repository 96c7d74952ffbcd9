//! Quantized safetensors: a safetensors file from the fuzzer's bytes, its tensors grouped under
//! one of several declared schemes (the first byte picks it), and every grouped weight decoded.
//! Grouping validates the components against each other; decoding must never panic or read out
//! of bounds, whatever the headers and bytes say.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use weightlens_core::{Framework, TensorInfo};
use weightlens_readers::safetensors::parse_header;
use weightlens_readers::safetensors::quant::config::parse;
use weightlens_readers::safetensors::quant::{group, Parts, Plan};

/// Elements decoded per weight at most (keeps each run short).
const MAX_DECODE: u64 = 1 << 16;

const CONFIGS: &[&str] = &[
    "{}",
    r#"{"quantization_config":{"quant_method":"gptq","bits":4,"group_size":32}}"#,
    r#"{"quantization_config":{"quant_method":"gptq","bits":3,"group_size":-1,"checkpoint_format":"gptq_v2"}}"#,
    r#"{"quantization_config":{"quant_method":"awq","bits":4,"group_size":32,"version":"gemm"}}"#,
    r#"{"quantization_config":{"quant_method":"bitsandbytes"}}"#,
    r#"{"quantization_config":{"quant_method":"compressed-tensors","format":"pack-quantized","config_groups":{"g":{"weights":{"num_bits":5,"type":"int","strategy":"group","group_size":8}}}}}"#,
    r#"{"quantization_config":{"quant_method":"compressed-tensors","format":"float-quantized","config_groups":{"g":{"weights":{"num_bits":8,"type":"float","strategy":"channel"}}}}}"#,
    r#"{"quantization_config":{"quant_method":"fp8","weight_block_size":[3,5]}}"#,
    r#"{"quantization_config":{"quant_method":"mxfp4"}}"#,
    r#"{"quantization":{"bits":3,"group_size":32}}"#,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else { return };
    let Ok(config) = serde_json::from_str(CONFIGS[usize::from(pick) % CONFIGS.len()]) else { return };
    let config = parse(&config);
    let Ok(header) = parse_header(file, Path::new("fuzz.safetensors")) else { return };
    let path: Arc<Path> = Arc::from(Path::new("fuzz.safetensors"));
    let raw: Vec<TensorInfo> = header
        .entries
        .iter()
        .map(|e| TensorInfo::new(&e.name, e.dtype, Framework::SAFETENSORS, e.shape.clone(), path.clone(), e.start, e.end - e.start))
        .collect();
    let bytes = |i: usize| -> Option<&[u8]> {
        let e = header.entries.get(i)?;
        file.get(usize::try_from(e.start).ok()?..usize::try_from(e.end).ok()?)
    };
    let grouped = group(&raw, &config, &bytes);
    for t in &grouped.tensors {
        let Plan::Quant { scheme, parts } = &t.plan else { continue };
        let infos = parts.iter().map(|&p| &raw[p]).collect();
        let Some(slices) = parts.iter().map(|&p| bytes(p)).collect::<Option<Vec<_>>>() else { continue };
        let Ok(decoder) = scheme.decoder(&Parts::new(infos, slices), &t.info.shape) else { continue };
        let numel = t.info.numel().unwrap_or(0).min(MAX_DECODE) as usize;
        let mut out = vec![0f64; numel];
        let _ = decoder.decode_f64(0, &mut out);
    }
});
