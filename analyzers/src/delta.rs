//! The difference of two tensors (`weightlens diff`): error metrics of `D = B - A` in `f64`,
//! accumulated over row blocks so that no pair of tensors has to be held whole, and the inverse
//! of the converter transformations (llama.cpp's q/k row permutation, Gemma's norm shift) that
//! are undone on one side before comparing.
//!
//! Definitions (docs/output-spec.md "diff"): `rel_l2 = ||D|| / ||A||`,
//! `cosine = <A,B> / (||A|| ||B||)`, `snr_db = 10 log10(sum A^2 / sum D^2)`, `max_abs`,
//! `mean_abs`, `delta_mean` and the population `delta_std` of `D`.

/// Running sums over the element pairs seen so far. Blocks are merged in order, so a run is
/// deterministic whatever the parallelism across tensor pairs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DeltaSums {
    n: u64,
    sum_a2: f64,
    sum_b2: f64,
    sum_ab: f64,
    sum_d2: f64,
    sum_abs_d: f64,
    max_abs_d: f64,
    /// Mean and sum of squared deviations of D (Chan et al.'s merge: no cancellation in
    /// `delta_std` when D is tiny against its mean).
    mean_d: f64,
    m2_d: f64,
    non_finite: u64,
}

impl DeltaSums {
    /// Adds the pairs `(a[i], b[i])` (same length; extra elements of the longer are ignored).
    pub fn add(&mut self, a: &[f64], b: &[f64]) {
        let mut block = DeltaSums::default();
        let mut sum_d = 0.0;
        for (&x, &y) in a.iter().zip(b) {
            if !x.is_finite() || !y.is_finite() {
                block.non_finite += 1;
                continue;
            }
            let d = y - x;
            block.n += 1;
            block.sum_a2 += x * x;
            block.sum_b2 += y * y;
            block.sum_ab += x * y;
            block.sum_d2 += d * d;
            block.sum_abs_d += d.abs();
            block.max_abs_d = block.max_abs_d.max(d.abs());
            sum_d += d;
        }
        if block.n > 0 {
            // Second pass over the block for its deviations (the block is in cache).
            block.mean_d = sum_d / block.n as f64;
            block.m2_d = a
                .iter()
                .zip(b)
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|(x, y)| {
                    let e = (y - x) - block.mean_d;
                    e * e
                })
                .sum();
        }
        *self = self.merge(block);
    }

    /// The sums of `self`'s elements followed by `other`'s.
    pub fn merge(self, other: DeltaSums) -> DeltaSums {
        let n = self.n + other.n;
        let (mean_d, m2_d) = if n == 0 {
            (0.0, 0.0)
        } else {
            let delta = other.mean_d - self.mean_d;
            let (na, nb, nt) = (self.n as f64, other.n as f64, n as f64);
            (self.mean_d + delta * nb / nt, self.m2_d + other.m2_d + delta * delta * na * nb / nt)
        };
        DeltaSums {
            n,
            sum_a2: self.sum_a2 + other.sum_a2,
            sum_b2: self.sum_b2 + other.sum_b2,
            sum_ab: self.sum_ab + other.sum_ab,
            sum_d2: self.sum_d2 + other.sum_d2,
            sum_abs_d: self.sum_abs_d + other.sum_abs_d,
            max_abs_d: self.max_abs_d.max(other.max_abs_d),
            mean_d,
            m2_d,
            non_finite: self.non_finite + other.non_finite,
        }
    }

    /// Element pairs where A or B was NaN or infinite (left out of every sum).
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// The metrics; `None` where a value is undefined (see [`DeltaMetrics`]). When any element
    /// was not finite, every metric is `None`: a number over part of the tensor would be a guess.
    pub fn metrics(&self) -> DeltaMetrics {
        if self.non_finite > 0 || self.n == 0 {
            return DeltaMetrics::default();
        }
        let n = self.n as f64;
        let norm_a = self.sum_a2.sqrt();
        let norm_b = self.sum_b2.sqrt();
        DeltaMetrics {
            rel_l2: (norm_a > 0.0).then(|| self.sum_d2.sqrt() / norm_a),
            cosine: (norm_a > 0.0 && norm_b > 0.0).then(|| self.sum_ab / (norm_a * norm_b)),
            snr_db: (self.sum_d2 > 0.0 && self.sum_a2 > 0.0).then(|| 10.0 * (self.sum_a2 / self.sum_d2).log10()),
            max_abs: Some(self.max_abs_d),
            mean_abs: Some(self.sum_abs_d / n),
            delta_mean: Some(self.mean_d),
            delta_std: Some((self.m2_d / n).max(0.0).sqrt()),
        }
    }
}

/// The metrics of one compared pair; `None` is "undefined" (an empty cell).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DeltaMetrics {
    /// `||D|| / ||A||`; undefined when `||A|| = 0`.
    pub rel_l2: Option<f64>,
    /// `<A,B> / (||A|| ||B||)`; undefined when either norm is 0.
    pub cosine: Option<f64>,
    /// `10 log10(sum A^2 / sum D^2)`; undefined when `D = 0` (infinite) or `A = 0`.
    pub snr_db: Option<f64>,
    /// `max |D|`.
    pub max_abs: Option<f64>,
    /// `mean |D|`.
    pub mean_abs: Option<f64>,
    /// `mean D`.
    pub delta_mean: Option<f64>,
    /// Population standard deviation of `D`.
    pub delta_std: Option<f64>,
}

/// Error sums weighted by the importance of each input column (`weightlens diff --imatrix`):
/// `sum w_j A_ij^2` and `sum w_j D_ij^2`, with `j` the innermost (ggml `ne0`) index.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WeightedSums {
    sum_wa2: f64,
    sum_wd2: f64,
    non_finite: u64,
}

impl WeightedSums {
    /// Adds the pairs `(a[i], b[i])` sitting at flat indices `start + i` of a tensor whose rows
    /// are `ne0` long and whose matrices are `plane` elements (`ne0 * ne1`); `weights` holds
    /// `ne0` weights per matrix, matrix after matrix. Indices beyond `weights` are skipped.
    pub fn add(&mut self, a: &[f64], b: &[f64], start: u64, ne0: u64, plane: u64, weights: &[f64]) {
        let (ne0, plane) = (ne0.max(1), plane.max(1));
        for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
            let k = start + i as u64;
            let Some(&w) = usize::try_from((k / plane) * ne0 + k % ne0).ok().and_then(|j| weights.get(j)) else {
                continue;
            };
            if !x.is_finite() || !y.is_finite() {
                self.non_finite += 1;
                continue;
            }
            let d = y - x;
            self.sum_wa2 += w * x * x;
            self.sum_wd2 += w * d * d;
        }
    }

    /// The sums of `self`'s elements followed by `other`'s.
    pub fn merge(self, other: WeightedSums) -> WeightedSums {
        WeightedSums {
            sum_wa2: self.sum_wa2 + other.sum_wa2,
            sum_wd2: self.sum_wd2 + other.sum_wd2,
            non_finite: self.non_finite + other.non_finite,
        }
    }

    /// `imatrix_rel_l2 = sqrt(sum w D^2 / sum w A^2)` (undefined when `sum w A^2 = 0`) and
    /// `imatrix_snr_db = 10 log10(sum w A^2 / sum w D^2)` (undefined when either sum is 0);
    /// both undefined when any element was not finite.
    pub fn metrics(&self) -> (Option<f64>, Option<f64>) {
        if self.non_finite > 0 {
            return (None, None);
        }
        let rel = (self.sum_wa2 > 0.0).then(|| (self.sum_wd2 / self.sum_wa2).sqrt());
        let snr = (self.sum_wa2 > 0.0 && self.sum_wd2 > 0.0).then(|| 10.0 * (self.sum_wa2 / self.sum_wd2).log10());
        (rel, snr)
    }
}

/// A transformation that does not fit the tensor it would be undone on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{rows} rows cannot be split into {n_head} heads of an even number of rows")]
pub struct TransformShapeError {
    /// Rows of the tensor.
    pub rows: u64,
    /// Heads of the permutation.
    pub n_head: u64,
}

/// A transformation a converter applied to one side, undone on that side before comparing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transform {
    /// Nothing to undo.
    None,
    /// llama.cpp's `LlamaModel.permute(W, n_head, n_kv_head)` of q/k rows (and biases): within
    /// each of `n_head` heads (the count that was passed after the `n_kv_head` substitution),
    /// the rows `[half 0 | half 1]` became interleaved pairs.
    Permute {
        /// The head count the rows were permuted with.
        n_head: u64,
    },
    /// The converter added `shift` to every value (Gemma's norm weights: `+1`).
    NormShift {
        /// The value that was added.
        shift: f64,
    },
}

impl Transform {
    /// The text of the `transform` column: `none`, `permute(n_head=8)`, `norm_shift(+1)`.
    pub fn label(&self) -> String {
        match self {
            Transform::None => "none".into(),
            Transform::Permute { n_head } => format!("permute(n_head={n_head})"),
            Transform::NormShift { shift } => format!("norm_shift({shift:+})"),
        }
    }

    /// Rows that must be read together to undo the transform on a tensor of `rows` rows (a
    /// whole head for the permutation), or why it cannot be undone on that shape.
    pub fn row_group(&self, rows: u64) -> Result<u64, TransformShapeError> {
        match *self {
            Transform::Permute { n_head } => {
                let per_head = rows.checked_div(n_head).unwrap_or(0);
                if n_head == 0 || !rows.is_multiple_of(n_head) || per_head % 2 != 0 {
                    return Err(TransformShapeError { rows, n_head });
                }
                Ok(per_head)
            }
            _ => Ok(1),
        }
    }

    /// Undoes the transform in place on `block`, whole groups of `group_rows` rows
    /// ([`Transform::row_group`]) of `cols` values each, as the converted side stored them.
    pub fn undo(&self, block: &mut [f64], cols: usize, group_rows: usize, scratch: &mut Vec<f64>) {
        match *self {
            Transform::None => {}
            Transform::NormShift { shift } => block.iter_mut().for_each(|v| *v -= shift),
            Transform::Permute { .. } => unpermute_head_rows(block, group_rows, cols, scratch),
        }
    }
}

/// Inverts the interleaving of one or more heads' rows in `block`, each head `head_rows` rows
/// of `cols` values, `block.len()` a multiple of `head_rows * cols`. The converter's row map
/// is `gguf[2i + j] = hf[j * head_rows/2 + i]` within a head (`i < head_rows/2`, `j` in 0, 1),
/// so the HF row `j * half + i` is read back from converted row `2i + j`.
pub fn unpermute_head_rows(block: &mut [f64], head_rows: usize, cols: usize, scratch: &mut Vec<f64>) {
    let head_len = head_rows * cols;
    if head_len == 0 || !head_rows.is_multiple_of(2) {
        return;
    }
    let half = head_rows / 2;
    for head in block.chunks_exact_mut(head_len) {
        scratch.clear();
        scratch.extend_from_slice(head);
        for j in 0..2 {
            for i in 0..half {
                let hf = (j * half + i) * cols;
                let conv = (2 * i + j) * cols;
                head[hf..hf + cols].copy_from_slice(&scratch[conv..conv + cols]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The converter's forward permutation, written from its definition
    /// `W.reshape(n, 2, rows/n/2, cols).swapaxes(1, 2).reshape(rows, cols)`.
    fn permute_forward(w: &[f64], rows: usize, cols: usize, n: usize) -> Vec<f64> {
        let half = rows / n / 2;
        let mut out = vec![0.0; w.len()];
        for h in 0..n {
            for i in 0..half {
                for j in 0..2 {
                    // Output index (h, i, j) after the swap reads input (h, j, i).
                    let dst = h * 2 * half + i * 2 + j;
                    let src = h * 2 * half + j * half + i;
                    out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[src * cols..(src + 1) * cols]);
                }
            }
        }
        out
    }

    #[test]
    fn unpermute_inverts_the_converter_permutation() {
        for (rows, cols, n) in [(8, 3, 2), (32, 4, 4), (12, 1, 3), (64, 2, 2)] {
            let w: Vec<f64> = (0..rows * cols).map(|v| v as f64).collect();
            let mut converted = permute_forward(&w, rows, cols, n);
            assert_ne!(converted, w);
            let t = Transform::Permute { n_head: n as u64 };
            let group = t.row_group(rows as u64).unwrap() as usize;
            let mut scratch = Vec::new();
            for block in converted.chunks_mut(2 * group * cols) {
                t.undo(block, cols, group, &mut scratch);
            }
            assert_eq!(converted, w, "rows {rows} heads {n}");
        }
    }

    #[test]
    fn permutation_row_map_matches_the_documented_formula() {
        // gguf[h*hd + 2i + j] = hf[h*hd + j*hd/2 + i] for hd = 4, one column.
        let hf: Vec<f64> = (0..8).map(f64::from).collect();
        let gguf = permute_forward(&hf, 8, 1, 2);
        assert_eq!(gguf, [0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]);
    }

    #[test]
    fn permutation_rejects_rows_that_do_not_split_into_heads() {
        assert!(Transform::Permute { n_head: 3 }.row_group(8).is_err());
        assert!(Transform::Permute { n_head: 4 }.row_group(12).is_err()); // 3 rows per head
        assert!(Transform::Permute { n_head: 0 }.row_group(8).is_err());
        assert_eq!(Transform::Permute { n_head: 2 }.row_group(8), Ok(4));
    }

    #[test]
    fn norm_shift_is_subtracted() {
        let mut v = vec![1.5, 0.0];
        Transform::NormShift { shift: 1.0 }.undo(&mut v, 1, 1, &mut Vec::new());
        assert_eq!(v, [0.5, -1.0]);
        assert_eq!(Transform::NormShift { shift: 1.0 }.label(), "norm_shift(+1)");
    }

    #[test]
    fn metrics_match_their_definitions() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [1.0, 2.5, 2.0, 4.0];
        let mut s = DeltaSums::default();
        s.add(&a[..1], &b[..1]);
        s.add(&a[1..], &b[1..]);
        let m = s.metrics();
        let d = [0.0, 0.5, -1.0, 0.0];
        let sum_d2: f64 = d.iter().map(|x| x * x).sum();
        let sum_a2: f64 = a.iter().map(|x| x * x).sum();
        let sum_b2: f64 = b.iter().map(|x| x * x).sum();
        let dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(m.rel_l2, Some(sum_d2.sqrt() / sum_a2.sqrt()));
        assert_eq!(m.cosine, Some(dot / (sum_a2.sqrt() * sum_b2.sqrt())));
        assert_eq!(m.snr_db, Some(10.0 * (sum_a2 / sum_d2).log10()));
        assert_eq!(m.max_abs, Some(1.0));
        assert_eq!(m.mean_abs, Some(1.5 / 4.0));
        assert_eq!(m.delta_mean, Some(-0.125));
        let var = d.iter().map(|x| (x + 0.125) * (x + 0.125)).sum::<f64>() / 4.0;
        assert!((m.delta_std.unwrap() - var.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn identical_tensors_have_no_snr_and_zero_error() {
        let mut s = DeltaSums::default();
        s.add(&[1.0, -2.0], &[1.0, -2.0]);
        let m = s.metrics();
        assert_eq!((m.rel_l2, m.snr_db, m.max_abs, m.delta_std), (Some(0.0), None, Some(0.0), Some(0.0)));
    }

    #[test]
    fn zero_reference_leaves_relative_metrics_empty_and_non_finite_leaves_all() {
        let mut s = DeltaSums::default();
        s.add(&[0.0, 0.0], &[1.0, 0.0]);
        let m = s.metrics();
        assert_eq!((m.rel_l2, m.cosine, m.snr_db), (None, None, None));
        assert_eq!(m.max_abs, Some(1.0));
        let mut s = DeltaSums::default();
        s.add(&[1.0, f64::NAN], &[1.0, 0.0]);
        assert_eq!(s.non_finite(), 1);
        assert_eq!(s.metrics(), DeltaMetrics::default());
    }
}
