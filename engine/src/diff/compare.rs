//! One matched pair: both sides decoded to `f64` in row blocks (memory-mapped, never whole),
//! the converter's transformation undone on the converted side, the error sums accumulated,
//! and, with a rank mode, `D = B - A` kept for its numerical rank (per expert when stacked).

use std::borrow::Cow;
use weightlens_analyzers::delta::{DeltaMetrics, DeltaSums, WeightedSums};
use weightlens_analyzers::rank::{exact_or_approx_rank, numerical_rank, rank_working_bytes};
use weightlens_analyzers::rank_approx::approx_rank;
use weightlens_analyzers::RankMode;

use weightlens_core::{ByteOrder, Dtype, Error, Result, TensorInfo, TensorSource, TensorView};

use super::importance::PairWeights;
use super::matching::{PairPlan, Side, Slice};

/// Elements decoded per side and block (8 MiB of `f64` each).
const BLOCK_ELEMS: u64 = 1 << 20;

/// How pairs are compared.
#[derive(Clone, Copy, Debug)]
pub struct CompareOptions {
    /// The rank of `D` (`None`: no rank).
    pub rank: RankMode,
    /// Largest working memory a delta rank may take (bytes).
    pub max_rank_bytes: u64,
}

/// What one pair gave.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PairResult {
    /// The metrics over all elements (all slices).
    pub metrics: DeltaMetrics,
    /// Elements compared.
    pub numel: u64,
    /// Element pairs where a side was NaN or infinite (the metrics are then empty).
    pub non_finite: u64,
    /// The rank of `D` as one matrix (not for stacked experts or 0/1-d tensors).
    pub delta_rank: Option<u64>,
    /// The rank of each expert's `D` (stacked experts only).
    pub delta_rank_per_slice: Option<Vec<u64>>,
    /// How the rank was computed (`exact`, `approx`), when there is one.
    pub rank_method: Option<&'static str>,
    /// `(imatrix_rel_l2, imatrix_snr_db)`, when the pair has imatrix weights.
    pub imatrix: Option<(Option<f64>, Option<f64>)>,
}

/// Compares the pair `pair` of `a` and `b`.
pub fn compare_pair(
    a: &dyn TensorSource,
    b: &dyn TensorSource,
    pair: &PairPlan,
    options: &CompareOptions,
    weights: &PairWeights,
) -> Result<PairResult> {
    let mut sums = DeltaSums::default();
    let mut weighted = WeightedSums::default();
    let mut ranks = Vec::new();
    let mut method = None;
    let mut numel = 0u64;
    for (i, (sa, sb)) in pair.a.iter().zip(&pair.b).enumerate() {
        let w = weights.slice(i);
        with_slice(a, sa, &mut |va| {
            with_slice(b, sb, &mut |vb| {
                let (s, ws, rank) = compare_views(va, vb, pair, options, w)?;
                sums = sums.merge(s);
                weighted = weighted.merge(ws);
                numel += va.numel() as u64;
                if let Some((r, m)) = rank {
                    ranks.push(r);
                    method = Some(m);
                }
                Ok(())
            })
        })?;
    }
    let has_rank = method.is_some() && ranks.len() == pair.a.len();
    let (delta_rank, delta_rank_per_slice) = match (has_rank, pair.stacked) {
        (false, _) => (None, None),
        (true, true) => (None, Some(ranks)),
        (true, false) => (ranks.first().copied(), None),
    };
    Ok(PairResult {
        metrics: sums.metrics(),
        numel,
        non_finite: sums.non_finite(),
        delta_rank,
        delta_rank_per_slice,
        rank_method: if has_rank { method } else { None },
        imatrix: matches!(weights, PairWeights::Slices(_)).then(|| weighted.metrics()),
    })
}

/// Calls `f` with the view of `slice` (a whole tensor or one expert of a 3-D tensor).
fn with_slice(
    source: &dyn TensorSource,
    slice: &Slice,
    f: &mut dyn FnMut(&TensorView<'_>) -> Result<()>,
) -> Result<()> {
    let view = source.view(slice.tensor)?;
    match (slice.expert, slice.fused) {
        (None, _) => f(&view),
        (Some(e), None) => {
            let info = view.info().leading_slice(e)?;
            let part = view.leading_slice(e, &info)?;
            f(&part)
        }
        (Some(e), Some(cut)) => {
            // One expert of a fused HF tensor, rearranged into the GGUF tensor's layout.
            let info = view.info().leading_slice(e)?;
            let values = view.leading_slice(e, &info)?.to_f64_vec()?;
            let mut out = info.clone();
            out.shape = cut
                .out_shape(&info.shape)
                .ok_or_else(|| Error::tensor(info.file.as_ref(), info.name.clone(), "fused expert shape"))?;
            out.dtype = Dtype::F64;
            let data = cut.extract(&info.shape, &values, &info.name)?;
            drop(values);
            let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
            drop(data);
            let part = TensorView::plain(&out, Cow::Owned(bytes), Dtype::F64, ByteOrder::Little)?;
            f(&part)
        }
    }
}

/// `(rows, cols)` of the row layout the transforms work on: `shape[0]` rows of the rest (a
/// 1-d tensor is a column, as the converter's permutation of a bias sees it).
fn row_layout(info: &TensorInfo) -> Option<(u64, u64)> {
    match info.shape.split_first() {
        None => Some((1, 1)),
        Some((&rows, rest)) => Some((rows, rest.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?)),
    }
}

fn gcd(mut x: u64, mut y: u64) -> u64 {
    while y != 0 {
        (x, y) = (y, x % y);
    }
    x
}

fn lcm(x: u64, y: u64) -> Option<u64> {
    (x / gcd(x, y).max(1)).checked_mul(y)
}

/// Rows per decoded block: whole transform groups, starting on whole quantization blocks of
/// both sides, about [`BLOCK_ELEMS`] elements.
fn block_rows(group: u64, cols: u64, granules: [u64; 2]) -> Option<u64> {
    let mut step = group.max(1);
    for g in granules {
        let g = g.max(1);
        step = lcm(step, g / gcd(g, cols.max(1)))?;
    }
    let per_block = step.checked_mul(cols.max(1))?;
    step.checked_mul((BLOCK_ELEMS / per_block).max(1))
}

type SliceRank = Option<(u64, &'static str)>;

fn compare_views(
    va: &TensorView<'_>,
    vb: &TensorView<'_>,
    pair: &PairPlan,
    options: &CompareOptions,
    weights: Option<&[f64]>,
) -> Result<(DeltaSums, WeightedSums, SliceRank)> {
    let info = va.info();
    let fail = |m: String| Error::tensor(vb.info().file.as_ref(), vb.info().name.clone(), m);
    if va.numel() != vb.numel() {
        return Err(fail(format!("{} elements against {} in {}", vb.numel(), va.numel(), info.name)));
    }
    let (rows, cols) = row_layout(info).ok_or_else(|| fail("shape overflows".into()))?;
    let group = pair.transform.row_group(rows).map_err(|e| fail(e.to_string()))?;
    let step = block_rows(group, cols, [va.granule() as u64, vb.granule() as u64])
        .ok_or_else(|| fail("block size overflows".into()))?;
    // The rank of D needs all of it; refused (an error naming the tensor) beyond the budget.
    let matrix = info.matrix_dims().filter(|_| options.rank != RankMode::None);
    let mut delta = match matrix {
        Some((r, c)) => {
            let needed = rank_working_bytes(r, c);
            if needed > options.max_rank_bytes {
                return Err(fail(format!(
                    "the rank of D ({r}x{c}) needs {needed} bytes, more than --max-memory {}",
                    options.max_rank_bytes
                )));
            }
            Some(Vec::with_capacity(usize::try_from(r * c).map_err(|_| fail("matrix too large".into()))?))
        }
        None => None,
    };
    let cap = usize::try_from(step.saturating_mul(cols).min(rows.saturating_mul(cols)))
        .map_err(|_| fail("block too large".into()))?;
    let (mut buf_a, mut buf_b, mut scratch) = (vec![0.0f64; cap], vec![0.0f64; cap], Vec::new());
    let mut sums = DeltaSums::default();
    let mut weighted = WeightedSums::default();
    // The imatrix weighs input column j = the innermost index (ggml ne0), per matrix.
    let ne0 = info.shape.last().copied().unwrap_or(1);
    let plane = ne0.saturating_mul(if info.shape.len() >= 2 { info.shape[info.shape.len() - 2] } else { 1 });
    let mut r0 = 0u64;
    while r0 < rows {
        let r1 = rows.min(r0 + step);
        let (start, n) = ((r0 * cols) as usize, ((r1 - r0) * cols) as usize);
        let (a, b) = (&mut buf_a[..n], &mut buf_b[..n]);
        va.decode_f64(start, a)?;
        vb.decode_f64(start, b)?;
        let converted = if pair.transform_on == Side::A { &mut *a } else { &mut *b };
        pair.transform.undo(converted, cols as usize, group as usize, &mut scratch);
        sums.add(a, b);
        if let Some(w) = weights {
            weighted.add(a, b, start as u64, ne0, plane, w);
        }
        if let Some(d) = delta.as_mut() {
            d.extend(a.iter().zip(b.iter()).map(|(x, y)| y - x));
        }
        r0 = r1;
    }
    let rank = match (matrix, delta) {
        (Some((r, c)), Some(d)) if sums.non_finite() == 0 => {
            let (r, c) = (r as usize, c as usize);
            let mode = options.rank.for_matrix(r as u64, c as u64);
            let rank = match mode {
                RankMode::Approx => approx_rank(&d, r, c).map(|x| (x, mode)),
                RankMode::Auto => exact_or_approx_rank(&d, r, c),
                _ => numerical_rank(&d, r, c).map(|x| (x, RankMode::Exact)),
            };
            let (rank, method) = rank.map_err(|e| fail(e.to_string()))?;
            Some((rank as u64, method.as_str()))
        }
        _ => None,
    };
    Ok((sums, weighted, rank))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_hold_whole_heads_and_whole_quant_blocks() {
        // 64-wide rows of Q4_K (256 elements per block): 4 rows per quant block.
        let step = block_rows(8, 64, [1, 256]).unwrap();
        assert_eq!(step % 8, 0);
        assert_eq!((step * 64) % 256, 0);
        assert!(step * 64 <= BLOCK_ELEMS);
        assert_eq!(block_rows(1, 1, [1, 1]), Some(BLOCK_ELEMS));
    }
}
