//! Quantized safetensors checkpoints: the stored components of each quantized weight
//! (`qweight`/`qzeros`/`scales`, `weight_packed`/`weight_scale`, `weight` + `weight_scale_inv`,
//! bitsandbytes quant states, MXFP4 blocks, MLX scales/biases) are grouped into one logical
//! tensor, named like the unquantized weight, whose view computes the effective weight as the
//! writing library's dequantization does.
//!
//! The scheme comes from `config.json` ([`config`]) and is confirmed by names, dtypes and
//! shapes; without a config, only self-describing layouts are grouped. A tensor that looks
//! packed or scaled but fits no known layout gets a row without statistics and a warning.

pub mod bnb;
pub mod config;
pub mod ct;
pub mod fp8;
pub mod gptq;
pub mod mlx;
pub mod mxfp4;
pub mod parts;
mod simd;

use std::collections::HashMap;
use std::sync::Arc;

use weightlens_core::{Dtype, ElementDecoder, QuantFacts, TensorInfo};

use self::config::{CtWeights, QuantConfig};
use self::ct::{Grouping, PackParams};
use self::gptq::GptqParams;
pub use self::parts::{LayoutError, Parts};

/// How one logical tensor is computed from its components.
#[derive(Clone, Debug, PartialEq)]
pub enum Scheme {
    /// Components: qweight, qzeros, scales, g_idx (if stored).
    Gptq(GptqParams),
    /// Components: qweight, qzeros, scales.
    Awq {
        /// Inputs per group.
        group_size: u64,
    },
    /// Components: weight, absmax, quant_map, [nested_absmax, nested_quant_map], quant_state.
    Bnb4(bnb::QuantState),
    /// Components: weight, SCB, weight_format (if stored).
    BnbInt8,
    /// Components: weight_packed, weight_scale, weight_shape, then zero point and g_idx.
    CtPack {
        /// Bits and grouping.
        params: PackParams,
        /// Words of `32 / bits` values (older compressed-tensors).
        legacy: bool,
        /// Component position of `weight_zero_point`.
        zero_point: Option<usize>,
        /// Component position of `weight_g_idx`.
        g_idx: Option<usize>,
    },
    /// Components: weight (FP8, or integers stored unpacked: `naive`/`int-quantized`),
    /// weight_scale, then zero point and g_idx where stored.
    CtFloat {
        /// How scales are shared.
        grouping: Grouping,
        /// Component position of `weight_zero_point`.
        zero_point: Option<usize>,
        /// Component position of `weight_g_idx`.
        g_idx: Option<usize>,
    },
    /// Components: weight_packed, weight_global_scale, weight_scale.
    CtNvfp4 {
        /// Inputs per scale.
        group_size: u64,
    },
    /// Components: weight_packed, weight_scale (E8M0).
    CtMxfp4,
    /// Components: weight, weight_scale_inv (or a block-strategy weight_scale).
    Fp8Block([u64; 2]),
    /// Components: blocks, scales.
    Mxfp4,
    /// Components: weight, scales, biases.
    Mlx {
        /// Bits.
        bits: u32,
        /// Inputs per group.
        group_size: u64,
    },
    /// Components: weight, scales (E8M0); MLX `mode: mxfp4` (bits 4) or `mxfp8` (bits 8).
    MlxFp {
        /// Bits.
        bits: u32,
    },
}

impl Scheme {
    /// The decoder of the effective weight of `shape` from `parts`.
    pub fn decoder<'a>(&self, parts: &Parts<'a>, shape: &[u64]) -> Result<Arc<dyn ElementDecoder + 'a>, LayoutError> {
        let boxed = match self {
            Scheme::Gptq(p) => gptq::gptq_decoder(p, parts, shape)?,
            Scheme::Awq { group_size } => gptq::awq_decoder(*group_size, parts, shape)?,
            Scheme::Bnb4(state) => bnb::decoder_4bit(state, parts)?,
            Scheme::BnbInt8 => bnb::decoder_int8(parts, shape)?,
            Scheme::CtPack { params, legacy, zero_point, g_idx } => {
                ct::pack_decoder(params, *legacy, parts, *zero_point, *g_idx, shape)?
            }
            Scheme::CtFloat { grouping, zero_point, g_idx } => {
                ct::float_decoder(*grouping, parts, *zero_point, *g_idx, shape)?
            }
            Scheme::CtNvfp4 { group_size } => ct::nvfp4_decoder(*group_size, parts, shape)?,
            Scheme::CtMxfp4 => ct::mxfp4_decoder(parts, shape)?,
            Scheme::Fp8Block(block) => fp8::block_decoder(*block, parts, shape)?,
            Scheme::Mxfp4 => mxfp4::mxfp4_decoder(parts, shape)?,
            Scheme::Mlx { bits, group_size } => mlx::mlx_decoder(*bits, *group_size, parts, shape)?,
            Scheme::MlxFp { bits } => mlx::mlx_fp_decoder(*bits, parts, shape)?,
        };
        Ok(Arc::from(boxed))
    }
}

/// What one logical tensor is.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// A stored tensor as is.
    Plain(usize),
    /// Computed from the stored tensors `parts` (indices into the stored list).
    Quant {
        /// How.
        scheme: Scheme,
        /// The components in the scheme's order.
        parts: Vec<usize>,
    },
    /// Looks quantized but cannot be computed: a row without statistics (the reason is in
    /// the tensor's [`QuantFacts::problem`]).
    Unreadable,
}

/// A logical tensor: its header, plan and quantization facts.
#[derive(Clone, Debug, PartialEq)]
pub struct Logical {
    /// Name, logical shape, the packed component's dtype and location.
    pub info: TensorInfo,
    /// How to read it.
    pub plan: Plan,
    /// The quantization columns, for quantized (or seemingly quantized) tensors.
    pub facts: Option<QuantFacts>,
}

/// The result of grouping a checkpoint's stored tensors.
#[derive(Debug, Default)]
pub struct Grouped {
    /// Logical tensors, in the order of their first stored component.
    pub tensors: Vec<Logical>,
    /// One line per tensor that looks quantized but is not readable.
    pub warnings: Vec<String>,
}

/// A recognised layout: the scheme, logical shape, `bits` and `group_size`.
type Decided = (Scheme, Vec<u64>, Option<u32>, Option<u64>);

/// A candidate grouping: the components (by stored index) and what to check.
struct Candidate {
    name: String,
    scheme_name: String,
    parts: Vec<usize>,
    result: Result<Decided, LayoutError>,
}

/// Groups `raw` (a checkpoint's stored tensors) under `config`. `small(i)` gives the bytes of
/// stored tensor `i` when it is small (quant-state JSON, `weight_shape`, `weight_format`).
pub fn group<'b>(raw: &[TensorInfo], config: &QuantConfig, small: &dyn Fn(usize) -> Option<&'b [u8]>) -> Grouped {
    let names: HashMap<&str, usize> = raw.iter().enumerate().map(|(i, t)| (t.name.as_str(), i)).collect();
    let find = |n: &str| names.get(n).copied();
    let mut used = vec![false; raw.len()];
    let mut candidates: Vec<(usize, Candidate)> = Vec::new();
    // Under a quantization weightlens does not know, names alone do not say how to dequantize:
    // nothing is grouped, and what looks packed gets a warning below.
    let known = !matches!(config, QuantConfig::Unknown(_));
    for (i, t) in raw.iter().enumerate().filter(|_| known) {
        if let Some(c) = candidate(i, t, raw, config, &find, small) {
            if c.parts.iter().any(|&p| used[p]) {
                continue;
            }
            for &p in &c.parts {
                used[p] = true;
            }
            candidates.push((i, c));
        }
    }
    let mut by_first: HashMap<usize, Candidate> = candidates.into_iter().collect();
    let mut out = Grouped::default();
    for (i, t) in raw.iter().enumerate() {
        if let Some(c) = by_first.remove(&i) {
            out.tensors.push(logical(c, raw, &mut out.warnings));
        } else if !used[i] {
            match looks_quantized(i, raw, config) {
                Some(reason) => {
                    let facts = QuantFacts {
                        scheme: "unknown".into(),
                        bits: None,
                        group_size: None,
                        stored_bytes: t.len,
                        components: vec![t.name.clone()],
                        problem: Some(reason.clone()),
                    };
                    out.warnings.push(format!("{}: tensor {}: {reason}; no statistics", t.file.display(), t.name));
                    out.tensors.push(Logical { info: t.clone(), plan: Plan::Unreadable, facts: Some(facts) });
                }
                None => out.tensors.push(Logical { info: t.clone(), plan: Plan::Plain(i), facts: None }),
            }
        }
    }
    out
}

fn logical(c: Candidate, raw: &[TensorInfo], warnings: &mut Vec<String>) -> Logical {
    let primary = &raw[c.parts[0]];
    let stored_bytes = c.parts.iter().map(|&p| raw[p].len).sum();
    let components = c.parts.iter().map(|&p| raw[p].name.clone()).collect();
    let mut info = TensorInfo { name: c.name, ..primary.clone() };
    match c.result {
        Ok((scheme, shape, bits, group_size)) => {
            info.shape = shape;
            let facts = QuantFacts { scheme: c.scheme_name, bits, group_size, stored_bytes, components, problem: None };
            Logical { info, plan: Plan::Quant { scheme, parts: c.parts }, facts: Some(facts) }
        }
        Err(reason) => {
            warnings.push(format!(
                "{}: tensor {}: {} layout not recognised: {reason}; no statistics",
                primary.file.display(),
                info.name,
                c.scheme_name
            ));
            let facts = QuantFacts {
                scheme: c.scheme_name,
                bits: None,
                group_size: None,
                stored_bytes,
                components,
                problem: Some(reason.to_string()),
            };
            Logical { info, plan: Plan::Unreadable, facts: Some(facts) }
        }
    }
}

/// The module prefix of `name` when it ends with `suffix`.
fn strip<'n>(name: &'n str, suffix: &str) -> Option<&'n str> {
    name.strip_suffix(suffix)
}

fn infos<'r>(raw: &'r [TensorInfo], parts: &[usize]) -> Vec<&'r TensorInfo> {
    parts.iter().map(|&p| &raw[p]).collect()
}

/// The grouping that starts at stored tensor `i`, if `i` is a primary component.
fn candidate<'b>(
    i: usize,
    t: &TensorInfo,
    raw: &[TensorInfo],
    config: &QuantConfig,
    find: &dyn Fn(&str) -> Option<usize>,
    small: &dyn Fn(usize) -> Option<&'b [u8]>,
) -> Option<Candidate> {
    let name = t.name.as_str();
    // compressed-tensors leaves the modules of its `ignore` list unquantized: their tensors are
    // never grouped (if one still looks packed, it gets the warning of an unknown packing).
    if let QuantConfig::Ct { ignore, .. } = config {
        if name.rsplit_once('.').is_some_and(|(module, _)| config::ct_ignored(ignore, module)) {
            return None;
        }
    }
    let cand = |name: String, scheme: &str, parts: Vec<usize>, result| Candidate {
        name,
        scheme_name: scheme.into(),
        parts,
        result,
    };

    // GPTQ / AWQ: <m>.qweight, <m>.qzeros, <m>.scales[, <m>.g_idx]
    if let Some(m) = strip(name, ".qweight") {
        let (qz, sc) = (find(&format!("{m}.qzeros"))?, find(&format!("{m}.scales"))?);
        let g_idx = find(&format!("{m}.g_idx"));
        let logical = format!("{m}.weight");
        let is_awq = match config {
            QuantConfig::Awq { .. } => true,
            QuantConfig::Gptq { .. } => false,
            // Without a config the shapes tell: GPTQ packs the input dim, AWQ the output dim.
            _ => raw[sc].shape.get(1).zip(t.shape.get(1)).is_some_and(|(&s, &q)| s != q && Some(s) == q.checked_mul(8)),
        };
        if is_awq {
            let parts = vec![i, qz, sc];
            let result = match config {
                QuantConfig::Awq { version, .. } if version != "gemm" => {
                    Err(format!("AWQ version {version:?} is not GEMM").into())
                }
                QuantConfig::Awq { bits, group_size, .. } => Ok((*bits, *group_size)),
                _ => awq_group_from_shapes(raw, i, sc),
            }
            .and_then(|(bits, gs)| {
                let shape = gptq::awq_shape(bits, gs, &infos(raw, &parts))?;
                Ok((Scheme::Awq { group_size: gs }, shape, Some(bits), Some(gs)))
            });
            return Some(cand(logical, "awq-gemm", parts, result));
        }
        let mut parts = vec![i, qz, sc];
        parts.extend(g_idx);
        let params = match config {
            QuantConfig::Gptq { bits, group_size, v2 } => {
                Ok(GptqParams { bits: *bits, group_size: *group_size, v2: *v2 })
            }
            _ => gptq_from_shapes(raw, i, sc, g_idx),
        };
        let result = params.and_then(|p| {
            let shape = gptq::gptq_shape(&p, &infos(raw, &parts))?;
            Ok((Scheme::Gptq(p.clone()), shape, Some(p.bits), p.group_size))
        });
        return Some(cand(logical, "gptq", parts, result));
    }

    // compressed-tensors packed: <m>.weight_packed (+ weight_shape or weight_global_scale)
    if let Some(m) = strip(name, ".weight_packed") {
        let logical = format!("{m}.weight");
        let scale = find(&format!("{m}.weight_scale"))?;
        if let Some(global) = find(&format!("{m}.weight_global_scale")) {
            let parts = vec![i, global, scale];
            let group_size = ct_weights(config, "nvfp4-pack-quantized").and_then(|w| w.group_size).unwrap_or(16);
            let result = ct::nvfp4_shape(group_size, t, &raw[global], &raw[scale])
                .map(|shape| (Scheme::CtNvfp4 { group_size }, shape, Some(4), Some(group_size)));
            return Some(cand(logical, "ct-nvfp4-pack-quantized", parts, result));
        }
        if t.dtype == Dtype::U8 && raw[scale].dtype == Dtype::U8 {
            let parts = vec![i, scale];
            let group_size = ct_weights(config, "mxfp4-pack-quantized").and_then(|w| w.group_size).unwrap_or(32);
            let result = if group_size == 32 {
                ct::mxfp4_shape(t, &raw[scale]).map(|shape| (Scheme::CtMxfp4, shape, Some(4), Some(32)))
            } else {
                Err(format!("mxfp4-pack-quantized with group_size {group_size}, not 32").into())
            };
            return Some(cand(logical, "ct-mxfp4-pack-quantized", parts, result));
        }
        let shape_at = find(&format!("{m}.weight_shape"))?;
        let zp = find(&format!("{m}.weight_zero_point"));
        let g_idx = find(&format!("{m}.weight_g_idx"));
        let mut parts = vec![i, scale, shape_at];
        let zero_point = zp.map(|z| {
            parts.push(z);
            parts.len() - 1
        });
        let g_pos = g_idx.map(|g| {
            parts.push(g);
            parts.len() - 1
        });
        let result = weight_shape(&raw[shape_at], small(shape_at)).and_then(|shape| {
            let weights = ct_weights(config, "pack-quantized");
            let (bits, grouping) = match weights {
                Some(w) => (w.num_bits, grouping_of(w)?),
                None => pack_from_shapes(t, &raw[scale], &shape)?,
            };
            let params = PackParams { bits, grouping };
            let legacy = ct::pack_check(&params, t, &raw[scale], zp.map(|z| &raw[z]), g_idx.map(|g| &raw[g]), &shape)?;
            let group_size = grouping.group_size();
            Ok((Scheme::CtPack { params, legacy, zero_point, g_idx: g_pos }, shape, Some(bits), group_size))
        });
        return Some(cand(logical, "ct-pack-quantized", parts, result));
    }

    // bitsandbytes 4-bit: <m>.weight + <m>.weight.quant_state.bitsandbytes__<type>
    if let Some(qtype) =
        ["nf4", "fp4"].iter().find(|q| find(&format!("{name}.quant_state.bitsandbytes__{q}")).is_some())
    {
        let state_at = find(&format!("{name}.quant_state.bitsandbytes__{qtype}"))?;
        let absmax = find(&format!("{name}.absmax"))?;
        let quant_map = find(&format!("{name}.quant_map"))?;
        let mut parts = vec![i, absmax, quant_map];
        let nested = (find(&format!("{name}.nested_absmax")), find(&format!("{name}.nested_quant_map")));
        if let (Some(a), Some(q)) = nested {
            parts.extend([a, q]);
        }
        parts.push(state_at);
        let result =
            small(state_at).ok_or_else(|| LayoutError::from("quant_state is too large to be one")).and_then(|bytes| {
                let state = bnb::parse_state(bytes)?;
                bnb::check_4bit(&state, &infos(raw, &parts[..parts.len() - 1]))?;
                let shape = state.shape.clone();
                let bs = state.blocksize;
                Ok((Scheme::Bnb4(state), shape, Some(4), Some(bs)))
            });
        return Some(cand(name.to_string(), &format!("bnb-{qtype}"), parts, result));
    }

    let m = strip(name, ".weight");
    // bitsandbytes LLM.int8: <m>.weight I8 + <m>.SCB
    if let Some(scb) = m.and_then(|m| find(&format!("{m}.SCB"))) {
        let format_at = m.and_then(|m| find(&format!("{m}.weight_format")));
        let mut parts = vec![i, scb];
        parts.extend(format_at);
        let result = bnb::check_int8(t, &raw[scb])
            .and_then(|()| match format_at {
                Some(f) => bnb::check_weight_format(small(f).unwrap_or(&[])),
                None => Ok(()),
            })
            .map(|()| (Scheme::BnbInt8, t.shape.clone(), Some(8), None));
        return Some(cand(name.to_string(), "bnb-int8", parts, result));
    }

    // Block-scaled FP8: <m>.weight + <m>.weight_scale_inv
    if let Some(inv) = m.and_then(|m| find(&format!("{m}.weight_scale_inv"))) {
        let parts = vec![i, inv];
        let block = match config {
            QuantConfig::Fp8 { block: Some(b) } => Some(*b),
            _ => fp8::infer_block(t, &raw[inv]),
        };
        let result = block
            .ok_or_else(|| {
                LayoutError::from("weight_block_size is not declared and the scale grid is not 128 x 128 blocks")
            })
            .and_then(|b| {
                fp8::block_check(b, t, &raw[inv])?;
                Ok((Scheme::Fp8Block(b), t.shape.clone(), Some(8), None))
            });
        return Some(cand(name.to_string(), "fp8-block", parts, result));
    }

    // compressed-tensors weights stored unquantized-shaped: <m>.weight F8 (float-quantized,
    // naive-quantized) or integers (int-quantized, naive-quantized: any bit width up to 8 in
    // int8) + <m>.weight_scale [+ weight_zero_point, weight_g_idx]
    let float = matches!(t.dtype, Dtype::F8E4M3 | Dtype::F8E5M2);
    let int = matches!(t.dtype, Dtype::I8 | Dtype::I16 | Dtype::I32);
    if let (Some(m), Some(scale), true) = (m, m.and_then(|m| find(&format!("{m}.weight_scale"))), float || int) {
        let mut parts = vec![i, scale];
        let zero_point = find(&format!("{m}.weight_zero_point")).map(|z| {
            parts.push(z);
            parts.len() - 1
        });
        let g_idx = find(&format!("{m}.weight_g_idx")).map(|g| {
            parts.push(g);
            parts.len() - 1
        });
        let kind = if float { "float" } else { "int" };
        let (format, weights) = match config {
            QuantConfig::Ct { groups, format, .. } => {
                let g = groups.iter().find(|(f, w)| !f.ends_with("pack-quantized") && w.kind == kind);
                (g.map_or(format.clone(), |(f, _)| f.clone()), g.map(|(_, w)| w.clone()))
            }
            _ if float => ("float-quantized".to_string(), None),
            _ => ("naive-quantized".to_string(), None),
        };
        let scheme_name = format!("ct-{format}");
        // FP8 is 8 bits; stored integers carry num_bits (int4 is stored in int8), which only
        // the config says.
        let bits = if float { Some(8) } else { weights.as_ref().map(|w| w.num_bits) };
        let result = match weights.as_ref().map(|w| w.strategy.as_str()) {
            Some("block") if float && parts.len() == 2 => weights
                .as_ref()
                .and_then(|w| w.block_structure)
                .ok_or_else(|| LayoutError::from("block strategy without block_structure"))
                .and_then(|b| {
                    fp8::block_check(b, t, &raw[scale])?;
                    Ok((Scheme::Fp8Block(b), t.shape.clone(), Some(8), None))
                }),
            _ => {
                let grouping = match &weights {
                    Some(w) => grouping_of(w),
                    None => float_grouping_from_shapes(t, &raw[scale]),
                };
                grouping.and_then(|g| {
                    let zp = zero_point.map(|z| &raw[parts[z]]);
                    ct::float_check(g, t, &raw[scale], zp, g_idx.map(|p| &raw[parts[p]]))?;
                    Ok((Scheme::CtFloat { grouping: g, zero_point, g_idx }, t.shape.clone(), bits, g.group_size()))
                })
            }
        };
        return Some(cand(name.to_string(), &scheme_name, parts, result));
    }

    // MLX: <m>.weight U32 + <m>.scales (+ <m>.biases for the affine mode)
    if let (Some(m), Dtype::U32, Some(s)) = (m, t.dtype, m.and_then(|m| find(&format!("{m}.scales")))) {
        let biases = find(&format!("{m}.biases"));
        let mut parts = vec![i, s];
        parts.extend(biases);
        let params = match config {
            QuantConfig::Mlx { bits, group_size, mode, section } => {
                Ok(config::mlx_for(section, m, *bits, *group_size, mode))
            }
            _ => Err(LayoutError::from(
                "MLX weights without a config.json `quantization` (bits and group size are not in the file)",
            )),
        };
        let (scheme_name, result) = match params {
            Ok((bits, gs, mode)) if mode == "affine" => {
                let result = biases
                    .ok_or_else(|| LayoutError::from("MLX affine weights without biases"))
                    .and_then(|_| mlx::mlx_shape(bits, gs, &infos(raw, &parts)))
                    .map(|shape| (Scheme::Mlx { bits, group_size: gs }, shape, Some(bits), Some(gs)));
                ("mlx-affine".to_string(), result)
            }
            Ok((bits, gs, mode)) if biases.is_none() && matches!(mode.as_str(), "mxfp4" | "mxfp8") => {
                let result = mlx::mlx_fp_shape(&mode, bits, gs, &raw[i], &raw[s])
                    .map(|shape| (Scheme::MlxFp { bits }, shape, Some(bits), Some(gs)));
                (format!("mlx-{mode}"), result)
            }
            Ok((_, _, mode)) => {
                (format!("mlx-{mode}"), Err(format!("MLX mode {mode:?} is not one this reader knows").into()))
            }
            Err(e) => ("mlx-affine".to_string(), Err(e)),
        };
        return Some(cand(name.to_string(), &scheme_name, parts, result));
    }

    // gpt-oss MXFP4: <name>_blocks + <name>_scales
    if let Some(base) = strip(name, "_blocks") {
        let scales = find(&format!("{base}_scales"))?;
        let parts = vec![i, scales];
        let result = mxfp4::mxfp4_shape(t, &raw[scales]).map(|shape| (Scheme::Mxfp4, shape, Some(4), Some(32)));
        return Some(cand(base.to_string(), "mxfp4", parts, result));
    }
    None
}

/// The compressed-tensors weight scheme of the first config group with `format`.
fn ct_weights<'c>(config: &'c QuantConfig, format: &str) -> Option<&'c CtWeights> {
    match config {
        QuantConfig::Ct { groups, .. } => groups.iter().find(|(f, _)| f == format).map(|(_, w)| w),
        _ => None,
    }
}

fn grouping_of(w: &CtWeights) -> Result<Grouping, LayoutError> {
    match (w.strategy.as_str(), w.group_size) {
        ("tensor", _) => Ok(Grouping::Tensor),
        ("channel", _) => Ok(Grouping::Channel),
        ("group" | "tensor_group", Some(g)) if g > 0 => Ok(Grouping::Group(g)),
        (s, g) => Err(format!("strategy {s:?} with group_size {g:?} is not a layout this reader knows").into()),
    }
}

/// The logical shape stored in a compressed-tensors `weight_shape` (I64/I32 `[2]`).
fn weight_shape(info: &TensorInfo, bytes: Option<&[u8]>) -> Result<Vec<u64>, LayoutError> {
    let bytes = bytes.ok_or("weight_shape is too large")?;
    let size = match info.dtype {
        Dtype::I64 => 8,
        Dtype::I32 => 4,
        _ => return Err(format!("weight_shape has dtype {}", info.dtype_name).into()),
    };
    if info.shape != [2] || bytes.len() != 2 * size {
        return Err(format!("weight_shape {} is not two integers", info.shape_string()).into());
    }
    bytes
        .chunks_exact(size)
        .map(|c| {
            let v = if size == 8 {
                i64::from_le_bytes(c.try_into().unwrap_or_default())
            } else {
                i64::from(i32::from_le_bytes(c.try_into().unwrap_or_default()))
            };
            u64::try_from(v).map_err(|_| LayoutError(format!("weight_shape holds {v}")))
        })
        .collect()
}

/// Bits and grouping of a pack-quantized weight without a config: the bit width is the one
/// whose dense row length matches, the grouping follows the scale's shape.
fn pack_from_shapes(packed: &TensorInfo, scale: &TensorInfo, shape: &[u64]) -> Result<(u32, Grouping), LayoutError> {
    let (&[_, cols], Some(&words)) = (shape, packed.shape.get(1)) else { return Err("weight_shape is not 2-D".into()) };
    let bits: Vec<u32> = (1..=8).filter(|&b| parts::dense_words(cols, b) == Some(words)).collect();
    let &[b] = bits.as_slice() else { return Err("without a config the bit width is ambiguous".into()) };
    let groups = scale.shape.get(1).copied().unwrap_or(1);
    let grouping = if groups <= 1 {
        Grouping::Channel
    } else if cols % groups == 0 {
        Grouping::Group(cols / groups)
    } else {
        return Err("without a config the group size is ambiguous".into());
    };
    Ok((b, grouping))
}

fn float_grouping_from_shapes(weight: &TensorInfo, scale: &TensorInfo) -> Result<Grouping, LayoutError> {
    let rows = weight.shape.first().copied().unwrap_or(0);
    match scale.shape.as_slice() {
        [] | [1] | [1, 1] => Ok(Grouping::Tensor),
        [r, 1] if *r == rows => Ok(Grouping::Channel),
        _ => Err(format!("without a config, weight_scale {} has no known layout", scale.shape_string()).into()),
    }
}

/// GPTQ parameters without a config: the bit width from `g_idx`'s length (the input count).
fn gptq_from_shapes(
    raw: &[TensorInfo],
    qweight: usize,
    scales: usize,
    g_idx: Option<usize>,
) -> Result<GptqParams, LayoutError> {
    let inputs = g_idx
        .and_then(|g| raw[g].shape.first().copied())
        .ok_or("without a config and g_idx the bit width is unknown")?;
    let words = raw[qweight].shape.first().copied().unwrap_or(0);
    let bits = [2u32, 3, 4, 8]
        .into_iter()
        .find(|&b| parts::dense_words(inputs, b) == Some(words))
        .ok_or("no bit width fits qweight")?;
    let groups = raw[scales].shape.first().copied().unwrap_or(1);
    let group_size = if groups <= 1 { None } else { Some(inputs.div_ceil(groups)) };
    Ok(GptqParams { bits, group_size, v2: false })
}

fn awq_group_from_shapes(raw: &[TensorInfo], qweight: usize, scales: usize) -> Result<(u32, u64), LayoutError> {
    let inputs = raw[qweight].shape.first().copied().unwrap_or(0);
    let groups = raw[scales]
        .shape
        .first()
        .copied()
        .filter(|&g| g > 0 && inputs % g == 0)
        .ok_or("scales do not divide the inputs")?;
    Ok((4, inputs / groups))
}

/// Why stored tensor `i`, left over after grouping, looks quantized: an integer or FP8 weight
/// with a `*scale*` sibling, or any tensor of a checkpoint whose quantization is unknown.
fn looks_quantized(i: usize, raw: &[TensorInfo], config: &QuantConfig) -> Option<String> {
    let t = &raw[i];
    let packed_dtype = matches!(
        t.dtype,
        Dtype::I32 | Dtype::U32 | Dtype::I8 | Dtype::U8 | Dtype::I16 | Dtype::U16 | Dtype::F8E4M3 | Dtype::F8E5M2
    );
    let (module, leaf) = t.name.rsplit_once('.')?;
    let weight_like = leaf.contains("weight") || leaf.starts_with('q') || leaf.ends_with("_blocks");
    if !packed_dtype || !weight_like || leaf.contains("scale") || leaf.contains("zero") {
        return None;
    }
    let prefix = format!("{module}.");
    let sibling = raw
        .iter()
        .find(|o| o.name.starts_with(&prefix) && o.name != t.name && o.name[prefix.len()..].contains("scale"))?;
    Some(match config {
        QuantConfig::Unknown(what) => {
            format!("stored as {} beside {} under an unknown quantization ({what})", t.dtype_name, sibling.name)
        }
        _ => format!("stored as {} beside {}, a packing this reader does not recognise", t.dtype_name, sibling.name),
    })
}

#[cfg(test)]
mod tests {
    use super::parts::tests_support::info;
    use super::*;

    #[test]
    fn unknown_packing_gets_a_warning_not_statistics() {
        let raw = vec![
            info("m.weight", Dtype::I32, vec![4, 4]),
            info("m.weight_scale", Dtype::F32, vec![4]),
            info("norm.weight", Dtype::F32, vec![4]),
        ];
        let g = group(&raw, &QuantConfig::Unknown("quant_method \"hqq\"".into()), &|_| None);
        assert_eq!(g.tensors.len(), 3);
        assert_eq!(g.tensors[0].plan, Plan::Unreadable);
        assert!(g.warnings[0].contains("m.weight") && g.warnings[0].contains("hqq"), "{:?}", g.warnings);
        assert_eq!(g.tensors[2].plan, Plan::Plain(2));
        // Even names of a known layout are not grouped under an unknown quant_method.
        let fp8 = vec![info("m.weight", Dtype::F8E4M3, vec![4, 4]), info("m.weight_scale", Dtype::F32, vec![1])];
        let g = group(&fp8, &QuantConfig::Unknown("quant_method \"fbgemm_fp8\"".into()), &|_| None);
        assert_eq!(g.tensors[0].plan, Plan::Unreadable);
        assert!(matches!(group(&fp8, &QuantConfig::None, &|_| None).tensors[0].plan, Plan::Quant { .. }));
    }

    #[test]
    fn gptq_components_group_into_one_weight() {
        let raw = vec![
            info("l.qweight", Dtype::I32, vec![8, 16]),
            info("l.qzeros", Dtype::I32, vec![2, 2]),
            info("l.scales", Dtype::F16, vec![2, 16]),
            info("l.g_idx", Dtype::I32, vec![64]),
            info("l.bias", Dtype::F16, vec![16]),
        ];
        let config = QuantConfig::Gptq { bits: 4, group_size: Some(32), v2: false };
        let g = group(&raw, &config, &|_| None);
        assert_eq!(g.tensors.len(), 2);
        let w = &g.tensors[0];
        assert_eq!((w.info.name.as_str(), w.info.shape.as_slice()), ("l.weight", &[16u64, 64][..]));
        assert_eq!(w.facts.as_ref().unwrap().components.len(), 4);
        // The same names without a config: inferred from g_idx.
        let g = group(&raw, &QuantConfig::None, &|_| None);
        assert!(matches!(&g.tensors[0].plan, Plan::Quant { scheme: Scheme::Gptq(p), .. } if p.bits == 4));
        // Wrong bits in the config: one row, no statistics, a warning.
        let g = group(&raw, &QuantConfig::Gptq { bits: 8, group_size: Some(32), v2: false }, &|_| None);
        assert_eq!(g.tensors[0].plan, Plan::Unreadable);
        assert_eq!(g.warnings.len(), 1);
    }

    #[test]
    fn ct_ignore_keeps_modules_plain_and_int_weights_group() {
        let raw = vec![
            info("a.weight", Dtype::I8, vec![4, 64]),
            info("a.weight_scale", Dtype::F32, vec![4, 1]),
            info("lm_head.weight", Dtype::I8, vec![4, 64]),
            info("lm_head.weight_scale", Dtype::F32, vec![4, 1]),
        ];
        let weights = CtWeights {
            num_bits: 4,
            kind: "int".into(),
            strategy: "channel".into(),
            group_size: None,
            block_structure: None,
        };
        let config = QuantConfig::Ct {
            format: "naive-quantized".into(),
            groups: vec![("naive-quantized".into(), weights)],
            ignore: vec!["lm_head".into()],
        };
        let g = group(&raw, &config, &|_| None);
        let a = &g.tensors[0];
        assert!(matches!(a.plan, Plan::Quant { scheme: Scheme::CtFloat { grouping: Grouping::Channel, .. }, .. }));
        let facts = a.facts.as_ref().unwrap();
        assert_eq!((facts.scheme.as_str(), facts.bits), ("ct-naive-quantized", Some(4)), "bits from num_bits");
        // The ignored module is not grouped; its integer weight beside a scale is flagged.
        let head = g.tensors.iter().find(|t| t.info.name == "lm_head.weight").unwrap();
        assert_eq!(head.plan, Plan::Unreadable);
        assert!(g.tensors.iter().any(|t| t.info.name == "lm_head.weight_scale" && t.plan == Plan::Plain(3)));
    }
}
