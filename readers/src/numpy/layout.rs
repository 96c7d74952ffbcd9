//! Element order: presenting Fortran-order (column-major) arrays in row-major order.

/// True when a Fortran-order array of `shape` has a different byte layout from the same array
/// in C order, which is the case only when two or more dimensions exceed 1.
pub fn fortran_differs(shape: &[u64]) -> bool {
    shape.iter().filter(|&&d| d > 1).count() > 1
}

/// Elements per side of the square tiles the transposition copies at a time, so that both the
/// rows read and the rows written stay in cache.
const TILE: usize = 32;

/// Copies the elements of a column-major array of `shape` (elements of `elem` bytes in `src`)
/// into row-major order. `src` must hold exactly `numel * elem` bytes; `None` if it does not or
/// a dimension does not fit in memory (callers validate both first).
pub fn fortran_to_c(src: &[u8], elem: usize, shape: &[u64]) -> Option<Vec<u8>> {
    let dims: Vec<usize> = shape.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    let numel = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    if numel.checked_mul(elem)? != src.len() {
        return None;
    }
    let mut out = vec![0u8; src.len()];
    let (Some(&first), Some(&last)) = (dims.first(), dims.last()) else {
        out.copy_from_slice(src);
        return Some(out);
    };
    if dims.len() < 2 || numel == 0 {
        out.copy_from_slice(src);
        return Some(out);
    }
    // Element strides: column-major in the source (first index fastest), row-major in the
    // output (last index fastest).
    let src_strides: Vec<usize> = dims.iter().scan(1usize, |acc, &d| Some(std::mem::replace(acc, *acc * d))).collect();
    let mut out_strides: Vec<usize> =
        dims.iter().rev().scan(1usize, |acc, &d| Some(std::mem::replace(acc, *acc * d))).collect();
    out_strides.reverse();
    let plane =
        Plane { rows: first, cols: last, src_col_stride: *src_strides.last()?, out_row_stride: *out_strides.first()? };
    // The middle dimensions select one `first x last` plane at a time (odometer over them).
    let middle = dims.len() - 2;
    let mut index = vec![0usize; middle];
    let (mut src_base, mut out_base) = (0usize, 0usize);
    for _ in 0..numel / (first * last) {
        match elem {
            1 => plane.copy::<1>(src, &mut out, src_base, out_base)?,
            2 => plane.copy::<2>(src, &mut out, src_base, out_base)?,
            4 => plane.copy::<4>(src, &mut out, src_base, out_base)?,
            8 => plane.copy::<8>(src, &mut out, src_base, out_base)?,
            _ => return None,
        }
        for k in (0..middle).rev() {
            let (d, s, o) = (dims[k + 1], src_strides[k + 1], out_strides[k + 1]);
            index[k] += 1;
            src_base += s;
            out_base += o;
            if index[k] < d {
                break;
            }
            index[k] = 0;
            src_base -= d * s;
            out_base -= d * o;
        }
    }
    Some(out)
}

/// One plane of the transposition: `rows x cols` elements, read with the row index fastest
/// and written with the column index fastest.
struct Plane {
    rows: usize,
    cols: usize,
    src_col_stride: usize,
    out_row_stride: usize,
}

impl Plane {
    /// Copies the plane at element offsets `src_base` / `out_base`, tile by tile.
    fn copy<const N: usize>(&self, src: &[u8], out: &mut [u8], src_base: usize, out_base: usize) -> Option<()> {
        for r0 in (0..self.rows).step_by(TILE) {
            for c0 in (0..self.cols).step_by(TILE) {
                for r in r0..(r0 + TILE).min(self.rows) {
                    for c in c0..(c0 + TILE).min(self.cols) {
                        let s = (src_base + r + c * self.src_col_stride) * N;
                        let o = (out_base + r * self.out_row_stride + c) * N;
                        let value: [u8; N] = src.get(s..s + N)?.try_into().ok()?;
                        out.get_mut(o..o + N)?.copy_from_slice(&value);
                    }
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_the_index_mapping() {
        // numpy: np.arange(6).reshape(2, 3) in Fortran order is stored as 0 3 1 4 2 5.
        let src = [0u8, 3, 1, 4, 2, 5];
        assert_eq!(fortran_to_c(&src, 1, &[2, 3]).unwrap(), vec![0, 1, 2, 3, 4, 5]);
        // 3-D, 2-byte elements: element (i, j, k) of shape (2, 2, 2) holds 4i + 2j + k, stored
        // column-major at offset i + 2j + 4k.
        let mut src = vec![0u8; 16];
        for i in 0..2 {
            for j in 0..2 {
                for k in 0..2 {
                    let v = (4 * i + 2 * j + k) as u16;
                    let at = 2 * (i + 2 * j + 4 * k);
                    src[at..at + 2].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        let out = fortran_to_c(&src, 2, &[2, 2, 2]).unwrap();
        let values: Vec<u16> = out.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        assert_eq!(values, (0..8).collect::<Vec<u16>>());
    }

    /// The definition: output element (i0, .., in) is source element sum(ik * prod(d0..dk)).
    fn naive(src: &[u8], elem: usize, dims: &[usize]) -> Vec<u8> {
        let numel: usize = dims.iter().product();
        let mut out = Vec::new();
        for flat in 0..numel {
            let (mut rest, mut index) = (flat, vec![0; dims.len()]);
            for k in (0..dims.len()).rev() {
                index[k] = rest % dims[k];
                rest /= dims[k];
            }
            let (mut pos, mut stride) = (0, 1);
            for k in 0..dims.len() {
                pos += index[k] * stride;
                stride *= dims[k];
            }
            out.extend_from_slice(&src[pos * elem..(pos + 1) * elem]);
        }
        out
    }

    #[test]
    fn matches_the_definition_across_tiles_and_dims() {
        for (dims, elem) in
            [(vec![70usize, 45], 4usize), (vec![3, 5, 7, 2], 2), (vec![33, 1, 65], 8), (vec![2, 3, 4, 5, 6], 1)]
        {
            let bytes: Vec<u8> = (0..dims.iter().product::<usize>() * elem).map(|i| (i * 7 + i / 251) as u8).collect();
            let shape: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
            assert_eq!(fortran_to_c(&bytes, elem, &shape).unwrap(), naive(&bytes, elem, &dims), "{dims:?}");
        }
        assert!(fortran_to_c(&[0; 6], 3, &[2, 1]).is_none(), "element sizes numpy lacks");
    }

    #[test]
    fn handles_degenerate_shapes_and_bad_lengths() {
        assert_eq!(fortran_to_c(&[], 4, &[0, 5]).unwrap(), Vec::<u8>::new());
        assert_eq!(fortran_to_c(&[7], 1, &[]).unwrap(), vec![7]);
        assert!(fortran_to_c(&[1, 2, 3], 1, &[2, 2]).is_none());
        assert!(fortran_to_c(&[], 1, &[u64::MAX, 2]).is_none());
        assert!(!fortran_differs(&[1, 7, 1]));
        assert!(fortran_differs(&[2, 7]));
    }
}
