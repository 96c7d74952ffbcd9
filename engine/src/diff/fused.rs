//! Hugging Face checkpoints that store the experts of a layer already stacked in one 3-D tensor
//! (`mlp.experts.gate_up_proj`, `mlp.experts.down_proj`, gpt-oss's `_bias` vectors), and how
//! llama.cpp's converter turns them into the GGUF's `ffn_{gate,up,down}_exps`. Per converter
//! class (llama.cpp `conversion/`, read at the fixtures' commit and later):
//!
//! - `Qwen2MoeModel.modify_tensors` (qwen2moe and its subclasses qwen3moe, qwen3next): HF
//!   `gate_up_proj` is `[E, 2*n_ff, n_embd]`; gate = rows `[0, n_ff)`, up = rows `[n_ff, 2*n_ff)`
//!   of each expert, no transpose. `down_proj` `[E, n_embd, n_ff]` is written as it is.
//! - `Llama4Model.modify_tensors`: `gate_up_proj` `[E, n_embd, 2*n_ff]` is transposed to
//!   `[E, 2*n_ff, n_embd]` and split in halves on that row axis (gate first); `down_proj`
//!   `[E, n_ff, n_embd]` is transposed.
//! - `GptOssModel.modify_tensors` (non-MXFP4 checkpoints): the same transposes, but gate and up
//!   are interleaved: gate = rows `0, 2, 4, ...`, up = rows `1, 3, 5, ...` after the transpose;
//!   `gate_up_proj_bias` `[E, 2*n_ff]` splits the same way, `down_proj_bias` is kept.
//!
//! The GGUF side is then compared with the HF expert slice rearranged into the GGUF's layout,
//! one expert at a time.

use weightlens_core::{Error, Result};

/// Which rows (after the optional transpose) of a fused expert one GGUF tensor holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Select {
    /// All of them.
    All,
    /// Half `0` (first) or `1` (second) of the rows.
    Half(u8),
    /// Every other row starting at `0` (even) or `1` (odd).
    Interleaved(u8),
}

/// How one GGUF tensor is cut from one expert of a fused HF tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FusedPart {
    /// The expert's matrix is transposed first (a 1-d slice never is).
    pub transpose: bool,
    /// Then these rows (elements, for a 1-d slice) are taken.
    pub select: Select,
}

impl FusedPart {
    /// The text of the `transform` column.
    pub fn label(&self, n_expert: u64) -> String {
        let select = match self.select {
            Select::All => None,
            Select::Half(0) => Some("first half"),
            Select::Half(_) => Some("second half"),
            Select::Interleaved(0) => Some("even rows"),
            Select::Interleaved(_) => Some("odd rows"),
        };
        let mut parts = vec![format!("n_expert={n_expert}")];
        if self.transpose {
            parts.push("transpose".into());
        }
        parts.extend(select.map(str::to_string));
        format!("fused({})", parts.join(", "))
    }

    /// The shape of the GGUF expert slice cut from an HF expert slice of shape `hf` (1-d or
    /// 2-d), or `None` when it cannot be cut (odd row count for a split, other ranks).
    pub fn out_shape(&self, hf: &[u64]) -> Option<Vec<u64>> {
        let (rows, cols) = match *hf {
            [n] => (n, None),
            [r, c] if self.transpose => (c, Some(r)),
            [r, c] => (r, Some(c)),
            _ => return None,
        };
        let rows = match self.select {
            Select::All => rows,
            Select::Half(_) | Select::Interleaved(_) if rows % 2 == 0 => rows / 2,
            _ => return None,
        };
        Some(match cols {
            None => vec![rows],
            Some(c) => vec![rows, c],
        })
    }

    /// Cuts the GGUF expert slice out of the HF expert slice `values` of shape `hf`.
    pub fn extract(&self, hf: &[u64], values: &[f64], tensor: &str) -> Result<Vec<f64>> {
        let fail = || Error::tensor("", tensor, format!("a fused expert of shape {hf:?} cannot be cut as {self:?}"));
        let out = self.out_shape(hf).ok_or_else(fail)?;
        let (r, c) = match *hf {
            [n] => (n as usize, 1usize),
            [r, c] => (r as usize, c as usize),
            _ => return Err(fail()),
        };
        if r.checked_mul(c) != Some(values.len()) {
            return Err(fail());
        }
        // Element (i, j) of the matrix the rows are selected from.
        let transpose = self.transpose && hf.len() == 2;
        let at = |i: usize, j: usize| if transpose { values[j * c + i] } else { values[i * c + j] };
        let (rows_out, cols_out) = (out[0] as usize, out.get(1).map_or(1, |&v| v as usize));
        let source_row = |k: usize| match self.select {
            Select::All => k,
            Select::Half(h) => usize::from(h) * rows_out + k,
            Select::Interleaved(o) => 2 * k + usize::from(o),
        };
        let mut data = Vec::with_capacity(rows_out * cols_out);
        for k in 0..rows_out {
            let i = source_row(k);
            data.extend((0..cols_out).map(|j| at(i, j)));
        }
        Ok(data)
    }
}

/// The converter family that handles fused experts for GGUF architecture `arch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Qwen2Moe,
    Llama4,
    GptOss,
}

fn family(arch: &str) -> Option<Family> {
    match arch {
        "qwen2moe" | "qwen3moe" | "qwen3next" => Some(Family::Qwen2Moe),
        "llama4" => Some(Family::Llama4),
        "gpt-oss" => Some(Family::GptOss),
        _ => None,
    }
}

/// The GGUF tensors a fused HF tensor becomes: `(the HF name the converter maps, part)`, the
/// name then going through the ordinary HF -> GGUF map. Empty for anything else.
pub fn split(arch: &str, hf_name: &str) -> Vec<(String, FusedPart)> {
    let Some(family) = family(arch) else { return Vec::new() };
    let transpose = family != Family::Qwen2Moe;
    let halves = |o: u8| match family {
        Family::GptOss => Select::Interleaved(o),
        _ => Select::Half(o),
    };
    let base = hf_name.strip_suffix(".weight").unwrap_or(hf_name);
    if let Some(stem) = base.strip_suffix("mlp.experts.gate_up_proj") {
        return vec![
            (format!("{stem}mlp.experts.gate_proj.weight"), FusedPart { transpose, select: halves(0) }),
            (format!("{stem}mlp.experts.up_proj.weight"), FusedPart { transpose, select: halves(1) }),
        ];
    }
    if let Some(stem) = base.strip_suffix("mlp.experts.down_proj") {
        return vec![(format!("{stem}mlp.experts.down_proj.weight"), FusedPart { transpose, select: Select::All })];
    }
    if family == Family::GptOss {
        if let Some(stem) = hf_name.strip_suffix("mlp.experts.gate_up_proj_bias") {
            return vec![
                (format!("{stem}mlp.experts.gate_proj.bias"), FusedPart { transpose: false, select: halves(0) }),
                (format!("{stem}mlp.experts.up_proj.bias"), FusedPart { transpose: false, select: halves(1) }),
            ];
        }
        if let Some(stem) = hf_name.strip_suffix("mlp.experts.down_proj_bias") {
            let all = FusedPart { transpose: false, select: Select::All };
            return vec![(format!("{stem}mlp.experts.down_proj.bias"), all)];
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One expert, `[rows, cols]`, values `100 * i + j`.
    fn matrix(rows: usize, cols: usize) -> Vec<f64> {
        (0..rows).flat_map(|i| (0..cols).map(move |j| (100 * i + j) as f64)).collect()
    }

    #[test]
    fn qwen_moe_gate_up_splits_rows_in_halves_without_transpose() {
        // HF [2*n_ff = 4, n_embd = 3]: gate = rows 0..2, up = rows 2..4.
        let w = matrix(4, 3);
        let parts = split("qwen3moe", "model.layers.1.mlp.experts.gate_up_proj");
        assert_eq!(parts[0].0, "model.layers.1.mlp.experts.gate_proj.weight");
        assert_eq!(parts[1].0, "model.layers.1.mlp.experts.up_proj.weight");
        let (gate, up) = (parts[0].1, parts[1].1);
        assert_eq!(gate.out_shape(&[4, 3]), Some(vec![2, 3]));
        assert_eq!(gate.extract(&[4, 3], &w, "t").unwrap(), w[..6]);
        assert_eq!(up.extract(&[4, 3], &w, "t").unwrap(), w[6..]);
        let down = split("qwen3moe", "model.layers.1.mlp.experts.down_proj");
        assert_eq!(down[0].1, FusedPart { transpose: false, select: Select::All });
        assert_eq!(down[0].1.extract(&[3, 2], &matrix(3, 2), "t").unwrap(), matrix(3, 2));
    }

    #[test]
    fn gpt_oss_transposes_then_interleaves_and_llama4_transposes_then_halves() {
        // HF [n_embd = 2, 2*n_ff = 4]; after the transpose [4, 2], row k = HF column k.
        let w = matrix(2, 4);
        let parts = split("gpt-oss", "model.layers.0.mlp.experts.gate_up_proj");
        let (gate, up) = (parts[0].1, parts[1].1);
        assert_eq!(gate.out_shape(&[2, 4]), Some(vec![2, 2]));
        // gate = transposed rows 0 and 2 = HF columns 0 and 2.
        assert_eq!(gate.extract(&[2, 4], &w, "t").unwrap(), [0.0, 100.0, 2.0, 102.0]);
        assert_eq!(up.extract(&[2, 4], &w, "t").unwrap(), [1.0, 101.0, 3.0, 103.0]);
        let l4 = split("llama4", "model.layers.0.mlp.experts.gate_up_proj");
        assert_eq!(l4[0].1.extract(&[2, 4], &w, "t").unwrap(), [0.0, 100.0, 1.0, 101.0]);
        assert_eq!(l4[1].1.extract(&[2, 4], &w, "t").unwrap(), [2.0, 102.0, 3.0, 103.0]);
        let down = split("gpt-oss", "model.layers.0.mlp.experts.down_proj")[0].1;
        // HF [n_ff = 3, n_embd = 2] -> GGUF [2, 3].
        assert_eq!(down.out_shape(&[3, 2]), Some(vec![2, 3]));
        assert_eq!(down.extract(&[3, 2], &matrix(3, 2), "t").unwrap(), [0.0, 100.0, 200.0, 1.0, 101.0, 201.0]);
        let bias = split("gpt-oss", "model.layers.0.mlp.experts.gate_up_proj_bias");
        assert_eq!(bias[0].0, "model.layers.0.mlp.experts.gate_proj.bias");
        assert_eq!(bias[1].1.extract(&[4], &[0.0, 1.0, 2.0, 3.0], "t").unwrap(), [1.0, 3.0]);
        let down_bias = split("gpt-oss", "model.layers.0.mlp.experts.down_proj_bias");
        assert_eq!(down_bias[0].1.extract(&[2], &[5.0, 6.0], "t").unwrap(), [5.0, 6.0]);
    }

    #[test]
    fn other_architectures_and_bad_shapes_are_not_guessed() {
        assert!(split("llama", "model.layers.0.mlp.experts.gate_up_proj").is_empty());
        assert!(split("qwen3moe", "model.layers.0.mlp.experts.gate_up_proj_bias").is_empty());
        let gate = split("qwen3moe", "model.layers.0.mlp.experts.gate_up_proj")[0].1;
        assert_eq!(gate.out_shape(&[3, 4]), None);
        assert!(gate.extract(&[3, 4], &matrix(3, 4), "t").is_err());
        assert!(gate.extract(&[4, 3], &[0.0; 5], "t").is_err());
    }
}
