//! 4-D convolution weights for the spectral metrics (`--conv`).
//!
//! By default (`--conv reshape`) a tensor of shape `[d0, d1, d2, d3]` is the `d0 x (d1 d2 d3)`
//! matrix of docs/output-spec.md, like every tensor of 2 or more dimensions. `--conv ww` treats it
//! as WeightWatcher 0.7.7 treats a `Conv2D` layer in its default `analyze()` (`pool=True`,
//! `conv2d_norm=True`, a PyTorch or state-dict model, whose channel flag is `CHANNELS.LAST`). From
//! its source (weightwatcher.py):
//! - `WWLayer.conv2D_Wmats(Wtensor, channels)`: the weight matrices are the `d2 * d3` slices
//!   `W[:, :, i, j]` (each `d0 x d1`), the receptive field `rf = d2 * d3`. When `d0 + d1 >= d2 +
//!   d3` (its detected `CHANNELS.LAST`, equal to the flag) it starts from `N, M = d0, d1` and swaps
//!   `N` and `M` once per slice whenever `d0 < d1`, so the final `(N, M)` is `(d1, d0)` for an odd
//!   number of slices and `(d0, d1)` for an even one; otherwise (detected `CHANNELS.FIRST`, flipped
//!   back to the flag) it takes the same slices and reports `N, M = d0, d1`. [`ww_conv_dims`]
//!   reproduces both, the swapping included;
//! - `WeightWatcher.apply_normalize_Wmats`: with `conv2d_norm` (the default) every slice of a
//!   `Conv2D` layer is multiplied by `sqrt(conv2d_count / 2)`, and `conv2d_count` is 1 in the
//!   pooled iterator, so by `sqrt(1/2)`: every eigenvalue is halved ([`CONV2D_NORM_SCALE`]).
//!   weightlens multiplies in `f64` (numpy 2 promotes the `float32` slice by the `float64`
//!   factor; numpy 1 kept `float32`, a relative difference near `1e-7`);
//! - `WeightWatcher.combined_eigenvalues`: all singular values of each slice (`n_comp = M * rf`
//!   keeps every one), squared, concatenated over the slices and sorted: one pooled spectrum of
//!   `rf * min(d0, d1)` eigenvalues, on which `apply_powerlaw`, `apply_norm_metrics` and
//!   `mp_fit` run as for a dense layer, with the layer's `N` and `M` where they use them
//!   (`matrix_entropy(sqrt(evals), N)`, `mp_fit`'s `Q = N / M` and Tracy-Widom `M^(-2/3)`);
//! - `WWLayerIterator.layer_supported`: the layer is analyzed when `min_evals <= M * rf <=
//!   max_evals` and `N <= max_N` ([`crate::spectral_summary`]).
//!
//! `apply_random_esd` (`rand_distance`) permutes each slice and pools the same way; weightlens
//! permutes each slice with its own seeded permutation ([`crate::rand_distance`]).

use std::str::FromStr;

/// WeightWatcher's `conv2d_norm` factor of a pooled `Conv2D` slice, `sqrt(conv2d_count / 2.0)`
/// with `conv2d_count = 1`.
pub const CONV2D_NORM_SCALE: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// How `--spectral` analyzes 4-D tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvMode {
    /// The `d0 x (d1 d2 d3)` matrix (docs/output-spec.md), as every other tensor.
    #[default]
    Reshape,
    /// WeightWatcher's pooled per-position slices ([the module doc](self)).
    Ww,
}

impl ConvMode {
    /// The name used on the command line and in `run_meta.json` (`reshape`, `ww`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConvMode::Reshape => "reshape",
            ConvMode::Ww => "ww",
        }
    }
}

/// An unknown `--conv` value.
#[derive(Debug, thiserror::Error)]
#[error("unknown conv mode {0:?} (expected reshape or ww)")]
pub struct UnknownConvMode(String);

impl FromStr for ConvMode {
    type Err = UnknownConvMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reshape" => Ok(ConvMode::Reshape),
            "ww" => Ok(ConvMode::Ww),
            other => Err(UnknownConvMode(other.to_string())),
        }
    }
}

/// WeightWatcher's view of a 4-D weight `[d0, d1, d2, d3]`: `rf` slices of `d0 x d1`, and the
/// layer's `N` and `M` as `conv2D_Wmats` leaves them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WwConvDims {
    /// Rows of each slice (`d0`).
    pub rows: usize,
    /// Columns of each slice (`d1`).
    pub cols: usize,
    /// The number of slices, `d2 * d3` (its receptive field size).
    pub rf: usize,
    /// WeightWatcher's `N`.
    pub n: usize,
    /// WeightWatcher's `M`.
    pub m: usize,
}

impl WwConvDims {
    /// The number of pooled eigenvalues WeightWatcher's size filter counts (`M * rf`).
    pub fn num_evals(&self) -> u64 {
        (self.m as u64).saturating_mul(self.rf as u64)
    }
}

/// [`WwConvDims`] of a tensor shape; `None` unless it has 4 dimensions that fit `usize`.
pub fn ww_conv_dims(shape: &[u64]) -> Option<WwConvDims> {
    let [d0, d1, d2, d3] = shape else { return None };
    let [d0, d1, d2, d3] = [*d0, *d1, *d2, *d3].map(usize::try_from);
    let (d0, d1, d2, d3) = (d0.ok()?, d1.ok()?, d2.ok()?, d3.ok()?);
    let rf = d2.checked_mul(d3)?;
    let detected_last = d0.checked_add(d1)? >= d2.checked_add(d3)?;
    let (n, m) = if detected_last && d0 < d1 && rf % 2 == 1 { (d1, d0) } else { (d0, d1) };
    Some(WwConvDims { rows: d0, cols: d1, rf, n, m })
}

/// Slice `index` (`i * d3 + j`, WeightWatcher's loop order) of a row-major `[d0, d1, d2, d3]`
/// tensor's values: the row-major `d0 x d1` matrix `W[:, :, i, j]` times `scale`, written into
/// `out` (resized).
pub fn ww_slice(data: &[f64], dims: &WwConvDims, index: usize, scale: f64, out: &mut Vec<f64>) {
    out.clear();
    out.extend((0..dims.rows * dims.cols).map(|k| data.get(k * dims.rf + index).copied().unwrap_or(0.0) * scale));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_follow_conv2d_wmats() {
        // out >= in: N = out, M = in.
        let d = ww_conv_dims(&[64, 3, 7, 7]).expect("4-d");
        assert_eq!((d.rows, d.cols, d.rf, d.n, d.m), (64, 3, 49, 64, 3));
        // out < in: swapped once per slice, 9 slices -> swapped.
        let d = ww_conv_dims(&[16, 32, 3, 3]).expect("4-d");
        assert_eq!((d.n, d.m, d.rf), (32, 16, 9));
        // ... 4 slices -> back to (out, in).
        let d = ww_conv_dims(&[8, 16, 2, 2]).expect("4-d");
        assert_eq!((d.n, d.m, d.rf), (8, 16, 4));
        // d0 + d1 < d2 + d3 (detected channels first, flipped back): (out, in) as they are.
        let d = ww_conv_dims(&[2, 3, 5, 5]).expect("4-d");
        assert_eq!((d.n, d.m, d.rf), (2, 3, 25));
        assert_eq!(d.num_evals(), 75);
        assert_eq!(ww_conv_dims(&[4, 4, 3]), None);
    }

    #[test]
    fn slices_are_per_kernel_position() {
        // [2, 2, 1, 2]: element (a, b, 0, j) = 10a + b + 100j.
        let data = [0.0, 100.0, 1.0, 101.0, 10.0, 110.0, 11.0, 111.0];
        let dims = ww_conv_dims(&[2, 2, 1, 2]).expect("4-d");
        let mut out = Vec::new();
        ww_slice(&data, &dims, 1, 0.5, &mut out);
        assert_eq!(out, [50.0, 50.5, 55.0, 55.5]);
        assert_eq!("ww".parse::<ConvMode>().ok(), Some(ConvMode::Ww));
        assert!("pool".parse::<ConvMode>().is_err());
    }
}
