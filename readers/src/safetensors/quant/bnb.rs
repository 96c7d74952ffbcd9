//! bitsandbytes, as transformers saves `Linear4bit` / `Linear8bitLt` (bitsandbytes
//! `functional.py`, `QuantState.as_dict(packed=True)` / `from_dict`, `dequantize_4bit`,
//! `int8_vectorwise_dequant`).
//!
//! - NF4/FP4: `weight` U8 holds the flattened weight two codes per byte, element `2k` in the
//!   HIGH nibble; `weight.quant_map` `[16]` maps codes to values; `weight.absmax` one scale per
//!   `blocksize` consecutive elements; `weight.quant_state.bitsandbytes__<type>` is UTF-8 JSON
//!   with `blocksize` and the logical `shape`. `W = quant_map[code] * absmax[k / blocksize]`.
//!   Double quantization stores `absmax` as U8 codes of a blockwise 8-bit quantization:
//!   `absmax[b] = nested_quant_map[code[b]] * nested_absmax[b / nested_blocksize] + nested_offset`.
//!   bitsandbytes computes all of it in `float32`, and so does this decoder.
//! - LLM.int8: `weight` I8 `[out, in]`, `SCB` `[out]`: `W = weight * SCB[row] * (1/127 as f32)`
//!   (the library multiplies by the constant 7.874015718698502e-3, in `float32`).

use super::parts::LayoutError;
use serde::Deserialize;
use weightlens_core::{Dtype, ElementDecoder, TensorInfo};

use super::parts::{
    dims2, expect_dtype, expect_shape, for_rows, for_runs, fused, map_nibbles, to_usize, Kernel, Out, Parts, RUN,
};

/// A quant-state JSON larger than this is not one.
pub const MAX_STATE_BYTES: u64 = 64 << 10;

/// The fields of the packed quant state this decoder needs.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct QuantState {
    /// `nf4` or `fp4`.
    pub quant_type: String,
    /// Elements per absmax.
    pub blocksize: u64,
    /// The logical shape.
    pub shape: Vec<u64>,
    /// Absmax codes per nested absmax (double quantization).
    #[serde(default)]
    pub nested_blocksize: Option<u64>,
    /// Added to every dequantized absmax (double quantization).
    #[serde(default)]
    pub nested_offset: Option<f64>,
}

/// Parses the quant-state JSON stored in a U8 tensor.
pub fn parse_state(bytes: &[u8]) -> Result<QuantState, LayoutError> {
    let state: QuantState = serde_json::from_slice(bytes).map_err(|e| format!("quant_state is not valid JSON: {e}"))?;
    if !matches!(state.quant_type.as_str(), "nf4" | "fp4") {
        return Err(format!("quant_state quant_type {:?} is not nf4 or fp4", state.quant_type).into());
    }
    if state.blocksize == 0 || state.nested_blocksize == Some(0) {
        return Err("quant_state has a zero blocksize".into());
    }
    if state.nested_blocksize.is_some() != state.nested_offset.is_some() {
        return Err("quant_state has only one of nested_blocksize and nested_offset".into());
    }
    Ok(state)
}

/// Checks the components of a 4-bit weight: weight, absmax, quant_map, then (double
/// quantization) nested_absmax and nested_quant_map. Returns the element count.
pub fn check_4bit(state: &QuantState, parts: &[&TensorInfo]) -> Result<u64, LayoutError> {
    let numel = state.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).ok_or("quant_state shape overflows")?;
    let [weight, absmax, quant_map, nested @ ..] = parts else {
        return Err("4-bit weight needs absmax and quant_map".into());
    };
    expect_dtype(weight, &[Dtype::U8])?;
    if weight.numel() != Some(numel.div_ceil(2)) {
        return Err(format!(
            "{} holds {} codes, quant_state shape {:?} needs {}",
            weight.name,
            weight.shape_string(),
            state.shape,
            numel.div_ceil(2)
        )
        .into());
    }
    expect_dtype(quant_map, &[Dtype::F32])?;
    expect_shape(quant_map, &[16])?;
    let blocks = numel.div_ceil(state.blocksize);
    match (nested, state.nested_blocksize) {
        ([], None) => {
            expect_dtype(absmax, &[Dtype::F32])?;
            expect_shape(absmax, &[blocks])?;
        }
        ([nested_absmax, nested_map], Some(nb)) => {
            expect_dtype(absmax, &[Dtype::U8])?;
            expect_shape(absmax, &[blocks])?;
            expect_dtype(nested_absmax, &[Dtype::F32])?;
            expect_shape(nested_absmax, &[blocks.div_ceil(nb)])?;
            expect_dtype(nested_map, &[Dtype::F32])?;
            expect_shape(nested_map, &[256])?;
        }
        _ => {
            return Err("double quantization needs nested_absmax, nested_quant_map and nested_* fields together".into())
        }
    }
    Ok(numel)
}

struct FourBit<'a> {
    codes: &'a [u8],
    quant_map: Vec<f32>,
    absmax: Vec<f32>,
    blocksize: usize,
}

/// The decoder of a 4-bit weight checked by [`check_4bit`].
pub fn decoder_4bit<'a>(state: &QuantState, parts: &Parts<'a>) -> Result<Box<dyn ElementDecoder + 'a>, LayoutError> {
    let absmax = match state.nested_blocksize {
        None => parts.values_f32(1)?,
        Some(nb) => {
            let nb = to_usize(nb)?;
            let nested_absmax = parts.values_f32(3)?;
            let nested_map = parts.values_f32(4)?;
            let offset = state.nested_offset.unwrap_or(0.0) as f32;
            let codes = parts.bytes(1)?;
            codes
                .iter()
                .enumerate()
                .map(|(b, &c)| {
                    nested_map[usize::from(c)] * nested_absmax.get(b / nb).copied().unwrap_or(f32::NAN) + offset
                })
                .collect()
        }
    };
    Ok(fused(FourBit {
        codes: parts.bytes(0)?,
        quant_map: parts.values_f32(2)?,
        absmax,
        blocksize: to_usize(state.blocksize)?,
    }))
}

impl Kernel for FourBit<'_> {
    fn run<O: Out>(&self, start: usize, out: &mut [O]) {
        let mut codes = [0u8; RUN];
        // The flattened weight: one row, blocks of `blocksize` elements sharing an absmax.
        for_runs(self.blocksize, start, out, |e, block, run| {
            let scale = self.absmax.get(block).copied().unwrap_or(f32::NAN);
            map_nibbles(self.codes, true, e, run, &mut codes, |code| {
                O::of(f64::from(self.quant_map.get(usize::from(code)).copied().unwrap_or(f32::NAN) * scale))
            });
        });
    }

    fn packed(&self) -> &[u8] {
        self.codes
    }
}

/// Checks an LLM.int8 weight (weight, SCB, then weight_format if stored).
pub fn check_int8(weight: &TensorInfo, scb: &TensorInfo) -> Result<(), LayoutError> {
    expect_dtype(weight, &[Dtype::I8])?;
    expect_dtype(scb, &[Dtype::F32, Dtype::F16, Dtype::BF16])?;
    let (rows, _) = dims2(weight)?;
    expect_shape(scb, &[rows])
}

/// Checks the `weight_format` byte: only 0 (row-major) is a layout this decoder knows.
pub fn check_weight_format(bytes: &[u8]) -> Result<(), LayoutError> {
    match bytes {
        [0] => Ok(()),
        other => {
            Err(format!("weight_format {other:?} is not 0 (row-major), the only layout bitsandbytes saves today")
                .into())
        }
    }
}

struct Int8<'a> {
    weight: &'a [u8],
    cols: usize,
    scb: Vec<f32>,
}

/// The decoder of an LLM.int8 weight checked by [`check_int8`].
pub fn decoder_int8<'a>(parts: &Parts<'a>, shape: &[u64]) -> Result<Box<dyn ElementDecoder + 'a>, LayoutError> {
    Ok(fused(Int8 { weight: parts.bytes(0)?, cols: to_usize(shape[1])?, scb: parts.values_f32(1)? }))
}

/// bitsandbytes' `1/127` constant, as the float32 it multiplies with.
const INV_127: f32 = 7.874_015_718_698_502e-3_f64 as f32;

impl Kernel for Int8<'_> {
    fn run<O: Out>(&self, start: usize, out: &mut [O]) {
        for_rows(self.cols, start, out, |r, c0, seg| {
            let s = self.scb.get(r).copied().unwrap_or(f32::NAN);
            let from = r * self.cols + c0;
            let row = self.weight.get(from..from + seg.len()).unwrap_or(&[]);
            for (v, &q) in seg.iter_mut().zip(row) {
                *v = O::of(f64::from(f32::from(q as i8) * s * INV_127));
            }
        });
    }

    fn packed(&self) -> &[u8] {
        self.weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safetensors::quant::parts::tests_support::info;

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn four_bit_high_nibble_first_with_double_quant() {
        let state = parse_state(br#"{"quant_type":"nf4","blocksize":2,"dtype":"bfloat16","shape":[2,2],"nested_blocksize":1,"nested_offset":0.5}"#).unwrap();
        let infos = [
            info("w", Dtype::U8, vec![2, 1]),
            info("w.absmax", Dtype::U8, vec![2]),
            info("w.quant_map", Dtype::F32, vec![16]),
            info("w.nested_absmax", Dtype::F32, vec![2]),
            info("w.nested_quant_map", Dtype::F32, vec![256]),
        ];
        assert_eq!(check_4bit(&state, &infos.iter().collect::<Vec<_>>()).unwrap(), 4);
        let map: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let nested_map: Vec<f32> = (0..256).map(|i| i as f32 / 256.0).collect();
        let bytes = [vec![0x12u8, 0x34], vec![128, 64], f32s(&map), f32s(&[2.0, 4.0]), f32s(&nested_map)];
        let parts = Parts::new(infos.iter().collect(), bytes.iter().map(Vec::as_slice).collect());
        let d = decoder_4bit(&state, &parts).unwrap();
        let mut w = vec![0f64; 4];
        d.decode_f64(0, &mut w).unwrap();
        // absmax = [0.5 * 2 + 0.5, 0.25 * 4 + 0.5] = [1.5, 1.5]
        assert_eq!(w, [1.5, 3.0, 4.5, 6.0]);
        assert!(parse_state(br#"{"quant_type":"int2","blocksize":2,"shape":[2]}"#).is_err());
        assert!(parse_state(br#"{"quant_type":"nf4","blocksize":0,"shape":[2]}"#).is_err());
        let lying = parse_state(br#"{"quant_type":"nf4","blocksize":2,"shape":[2,200]}"#).unwrap();
        assert!(check_4bit(&lying, &infos[..3].iter().collect::<Vec<_>>()).is_err());
    }

    #[test]
    fn int8_scales_rows() {
        let weight = info("w", Dtype::I8, vec![2, 2]);
        let scb = info("SCB", Dtype::F32, vec![2]);
        check_int8(&weight, &scb).unwrap();
        let bytes = [vec![127u8, 0x81, 127, 0], f32s(&[1.0, 254.0])];
        let parts = Parts::new(vec![&weight, &scb], bytes.iter().map(Vec::as_slice).collect());
        let d = decoder_int8(&parts, &[2, 2]).unwrap();
        let mut w = vec![0f64; 4];
        d.decode_f64(0, &mut w).unwrap();
        assert_eq!(w[1], f64::from(-127f32 * INV_127));
        assert_eq!(w[2], f64::from(127f32 * 254.0 * INV_127));
        assert!(check_weight_format(&[1]).is_err());
    }
}
