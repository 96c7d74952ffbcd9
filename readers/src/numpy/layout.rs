//! Element order: presenting Fortran-order (column-major) arrays in row-major order.

/// True when a Fortran-order array of `shape` has a different byte layout from the same array
/// in C order, which is the case only when two or more dimensions exceed 1.
pub fn fortran_differs(shape: &[u64]) -> bool {
    shape.iter().filter(|&&d| d > 1).count() > 1
}

/// Copies the elements of a column-major array of `shape` (elements of `elem` bytes in `src`)
/// into row-major order. `src` must hold exactly `numel * elem` bytes; `None` if it does not or
/// a dimension does not fit in memory (callers validate both first).
pub fn fortran_to_c(src: &[u8], elem: usize, shape: &[u64]) -> Option<Vec<u8>> {
    let dims: Vec<usize> = shape.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    let numel = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    if numel.checked_mul(elem)? != src.len() {
        return None;
    }
    // In column-major order the first index varies fastest: its stride is 1 element.
    let mut strides = Vec::with_capacity(dims.len());
    let mut stride = 1usize;
    for &d in &dims {
        strides.push(stride);
        stride = stride.checked_mul(d)?;
    }
    let mut out = Vec::with_capacity(src.len());
    if numel == 0 {
        return Some(out);
    }
    // Walk the row-major index space like an odometer (last index fastest), keeping the
    // column-major element offset of the current index in `pos`.
    let mut index = vec![0usize; dims.len()];
    let mut pos = 0usize;
    for _ in 0..numel {
        let start = pos.checked_mul(elem)?;
        out.extend_from_slice(src.get(start..start.checked_add(elem)?)?);
        for k in (0..dims.len()).rev() {
            index[k] += 1;
            pos += strides[k];
            if index[k] < dims[k] {
                break;
            }
            pos -= dims[k] * strides[k];
            index[k] = 0;
        }
    }
    Some(out)
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
