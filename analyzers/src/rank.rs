//! Numerical rank (SPEC.md): the number of singular values of the full `rows x cols` matrix
//! greater than `1e-6 * sigma_max`, computed in `f64`.
//!
//! The matrix is decoded to `f64` first: an `f32` SVD has a noise floor near `1e-7 * sigma_max`,
//! too close to the threshold to give exact ranks.

use faer::MatRef;
use weightlens_core::table::columns;
use weightlens_core::{Column, ColumnType, Error, Result, TensorAnalyzer, TensorView, Value};

/// Singular values above `RANK_RTOL * sigma_max` count toward the rank.
pub const RANK_RTOL: f64 = 1e-6;

/// Which rank to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RankMode {
    /// The exact numerical rank from all singular values in `f64`.
    #[default]
    Exact,
    /// No rank (the column stays empty).
    None,
}

impl RankMode {
    /// The `rank_method` column value.
    pub fn as_str(self) -> &'static str {
        match self {
            RankMode::Exact => "exact",
            RankMode::None => "none",
        }
    }
}

/// The numerical rank of the row-major `rows x cols` matrix in `data` (all values finite).
pub fn numerical_rank(data: &[f64], rows: usize, cols: usize) -> std::result::Result<usize, String> {
    if rows == 0 || cols == 0 {
        return Ok(0);
    }
    if data.len() != rows * cols {
        return Err(format!("{} values for a {rows}x{cols} matrix", data.len()));
    }
    // A row-major rows x cols matrix is the column-major cols x rows transpose: same singular
    // values, no copy.
    let m = MatRef::from_column_major_slice(data, cols, rows);
    let sv = m.singular_values().map_err(|e| format!("SVD did not converge: {e:?}"))?;
    Ok(count_above(&sv))
}

/// The number of singular values above the rank threshold (`sv` in any order).
pub fn count_above(sv: &[f64]) -> usize {
    let sigma_max = sv.iter().copied().fold(0.0, f64::max);
    if sigma_max <= 0.0 {
        return 0;
    }
    let threshold = RANK_RTOL * sigma_max;
    sv.iter().filter(|&&s| s > threshold).count()
}

/// The built-in rank analyzer.
#[derive(Clone, Copy, Debug, Default)]
pub struct RankAnalyzer {
    mode: RankMode,
}

impl RankAnalyzer {
    /// An analyzer computing ranks as `mode` says.
    pub fn new(mode: RankMode) -> Self {
        RankAnalyzer { mode }
    }
}

impl TensorAnalyzer for RankAnalyzer {
    fn name(&self) -> &str {
        "rank"
    }

    fn columns(&self) -> Vec<Column> {
        vec![Column::new(columns::RANK, ColumnType::Int), Column::new(columns::RANK_METHOD, ColumnType::Str)]
    }

    fn analyze(&self, view: &TensorView<'_>) -> Result<Vec<Value>> {
        let info = view.info();
        let none = || Ok(vec![Value::Null, Value::Null]);
        if self.mode == RankMode::None {
            return none();
        }
        let Some((rows, cols)) = info.matrix_dims() else { return none() };
        let method = Value::Str(self.mode.as_str().into());
        if rows == 0 || cols == 0 {
            return Ok(vec![Value::Int(0), method]);
        }
        let data = view.to_f64_vec()?;
        if !data.iter().all(|x| x.is_finite()) {
            return none();
        }
        let rank = numerical_rank(&data, rows as usize, cols as usize)
            .map_err(|m| Error::tensor(info.file.as_ref(), &info.name, m))?;
        Ok(vec![Value::Int(rank as i64), method])
    }

    fn cost_hint(&self, view: &TensorView<'_>) -> f64 {
        match view.info().matrix_dims() {
            Some((r, c)) if self.mode != RankMode::None => {
                let (small, large) = (r.min(c) as f64, r.max(c) as f64);
                small * small * large
            }
            _ => view.numel() as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_of_simple_matrices() {
        assert_eq!(numerical_rank(&[1.0, 0.0, 0.0, 1.0], 2, 2), Ok(2));
        assert_eq!(numerical_rank(&[1.0, 2.0, 2.0, 4.0], 2, 2), Ok(1));
        assert_eq!(numerical_rank(&[0.0; 6], 2, 3), Ok(0));
        assert_eq!(numerical_rank(&[], 0, 3), Ok(0));
        // Outer product of (1,2,3) and (1,1): rank 1 in a tall matrix.
        assert_eq!(numerical_rank(&[1.0, 1.0, 2.0, 2.0, 3.0, 3.0], 3, 2), Ok(1));
        // A singular value just above / below the threshold.
        assert_eq!(numerical_rank(&[1.0, 0.0, 0.0, 2e-6], 2, 2), Ok(2));
        assert_eq!(numerical_rank(&[1.0, 0.0, 0.0, 5e-7], 2, 2), Ok(1));
    }
}
