//! What every scheme's decoder needs: the stored components' bytes and headers, small
//! components decoded into vectors (after their sizes were checked), bit fields of packed
//! words, and the walk over a row-major element range.

use weightlens_core::decode::decode_plain_f64;
use weightlens_core::{ByteOrder, Dtype, TensorInfo};

/// Why stored components do not form a quantized weight (one line, naming the component).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LayoutError(pub String);

impl From<String> for LayoutError {
    fn from(message: String) -> Self {
        LayoutError(message)
    }
}

impl From<&str> for LayoutError {
    fn from(message: &str) -> Self {
        LayoutError(message.to_string())
    }
}

impl From<LayoutError> for weightlens_core::DecodeError {
    fn from(e: LayoutError) -> Self {
        weightlens_core::DecodeError::Components(e.0)
    }
}

/// Small components (scales, zero points, group indices) are decoded into memory; a component
/// claiming more elements than this is refused before anything is allocated.
pub const MAX_SIDE_ELEMS: u64 = 1 << 30;

/// The stored tensors of one logical tensor: header and bytes of each.
#[derive(Debug)]
pub struct Parts<'a> {
    infos: Vec<&'a TensorInfo>,
    bytes: Vec<&'a [u8]>,
}

impl<'a> Parts<'a> {
    /// Components in the order the scheme listed them.
    pub fn new(infos: Vec<&'a TensorInfo>, bytes: Vec<&'a [u8]>) -> Self {
        Parts { infos, bytes }
    }

    /// Header of component `i`.
    pub fn info(&self, i: usize) -> Result<&'a TensorInfo, LayoutError> {
        self.infos.get(i).copied().ok_or_else(|| LayoutError(format!("component #{i} is missing")))
    }

    /// Bytes of component `i`.
    pub fn bytes(&self, i: usize) -> Result<&'a [u8], LayoutError> {
        self.bytes.get(i).copied().ok_or_else(|| LayoutError(format!("component #{i} is missing")))
    }

    /// Component `i` decoded to `f64` (any plain dtype), with its byte length checked.
    pub fn values(&self, i: usize) -> Result<Vec<f64>, LayoutError> {
        let info = self.info(i)?;
        let bytes = self.bytes(i)?;
        let numel = info.numel().filter(|&n| n <= MAX_SIDE_ELEMS).ok_or_else(|| {
            format!("{} has {} elements, more than the {MAX_SIDE_ELEMS} allowed", info.name, info.shape_string())
        })?;
        let size = info.dtype.size().ok_or_else(|| format!("{} has dtype {}", info.name, info.dtype_name))?;
        let numel = usize::try_from(numel).map_err(|_| format!("{} is too large", info.name))?;
        if numel.checked_mul(size) != Some(bytes.len()) {
            return Err(format!("{} holds {} bytes, not {numel} elements", info.name, bytes.len()).into());
        }
        let mut out = vec![0f64; numel];
        decode_plain_f64(info.dtype, ByteOrder::Little, bytes, &mut out);
        Ok(out)
    }

    /// Component `i` as `f32` values (schemes whose library computes in `f32`).
    pub fn values_f32(&self, i: usize) -> Result<Vec<f32>, LayoutError> {
        // Every float dtype a scheme stores (F32, F16, BF16, F8) is exact in f32.
        Ok(self.values(i)?.into_iter().map(|v| v as f32).collect())
    }

    /// Component `i` as integers (for zero points and group indices stored as integers).
    pub fn integers(&self, i: usize) -> Result<Vec<i64>, LayoutError> {
        let info = self.info(i)?;
        if info.dtype.is_float() {
            return Err(format!("{} has dtype {}, not an integer type", info.name, info.dtype_name).into());
        }
        // Integers of up to 53 bits are exact in f64; wider ones are out of any valid range.
        Ok(self.values(i)?.into_iter().map(|v| v as i64).collect())
    }
}

/// The 32-bit little-endian word `index` of `bytes` (0 past the end: callers check sizes
/// beforehand, this keeps a miscount from reading out of bounds).
#[inline]
pub fn word(bytes: &[u8], index: usize) -> u32 {
    let at = index.wrapping_mul(4);
    match bytes.get(at..at.wrapping_add(4)) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

/// Value `i` of a dense LSB-first bit stream of `bits`-bit values whose `w`-th 32-bit word is
/// `word_at(w)`: it starts at bit `i * bits` and may straddle two words.
#[inline]
pub fn stream_field(word_at: impl Fn(usize) -> u32, i: usize, bits: u32) -> u32 {
    let bit = i * bits as usize;
    let (w, shift) = (bit / 32, (bit % 32) as u32);
    let mut v = u64::from(word_at(w)) >> shift;
    if shift + bits > 32 {
        v |= u64::from(word_at(w + 1)) << (32 - shift);
    }
    (v & ((1u64 << bits) - 1)) as u32
}

/// Value `i` of `bits`-bit values packed `32 / bits` per word without straddling (the layout
/// of older compressed-tensors versions; equal to the dense stream for 1, 2, 4 and 8 bits).
#[inline]
pub fn word_field(word_at: impl Fn(usize) -> u32, i: usize, bits: u32) -> u32 {
    let per = (32 / bits) as usize;
    let shift = (i % per) as u32 * bits;
    (word_at(i / per) >> shift) & ((1u32 << bits) - 1)
}

/// 32-bit words needed for `n` values of `bits` bits in a dense stream.
pub fn dense_words(n: u64, bits: u32) -> Option<u64> {
    n.checked_mul(u64::from(bits)).map(|b| b.div_ceil(32))
}

/// Calls `f(row, first_col, segment)` for each row-piece of the row-major range of `out`
/// starting at element `start` of a matrix with `cols` columns.
pub fn for_rows(cols: usize, start: usize, out: &mut [f64], mut f: impl FnMut(usize, usize, &mut [f64])) {
    if cols == 0 {
        return;
    }
    let mut pos = start;
    let mut rest = out;
    while !rest.is_empty() {
        let (row, col) = (pos / cols, pos % cols);
        let n = (cols - col).min(rest.len());
        let (seg, tail) = rest.split_at_mut(n);
        f(row, col, seg);
        pos += n;
        rest = tail;
    }
}

/// E2M1 (FP4) values by code: bit 3 is the sign (NVFP4 and MXFP4).
pub const E2M1: [f64; 16] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0];

/// `shape` as `(rows, cols)` of a 2-D tensor.
pub fn dims2(info: &TensorInfo) -> Result<(u64, u64), LayoutError> {
    match info.shape.as_slice() {
        &[r, c] => Ok((r, c)),
        _ => Err(format!("{} has shape {}, expected 2 dimensions", info.name, info.shape_string()).into()),
    }
}

/// Fails unless component `info` has one of `dtypes`.
pub fn expect_dtype(info: &TensorInfo, dtypes: &[Dtype]) -> Result<(), LayoutError> {
    if dtypes.contains(&info.dtype) {
        Ok(())
    } else {
        Err(format!("{} has dtype {}, which this scheme does not store there", info.name, info.dtype_name).into())
    }
}

/// Fails unless component `info` has shape `shape`.
pub fn expect_shape(info: &TensorInfo, shape: &[u64]) -> Result<(), LayoutError> {
    if info.shape == shape {
        Ok(())
    } else {
        let want: Vec<String> = shape.iter().map(u64::to_string).collect();
        Err(format!("{} has shape {}, the layout needs [{}]", info.name, info.shape_string(), want.join(", ")).into())
    }
}

/// Converts to `usize`, refusing sizes this machine cannot address.
pub fn to_usize(v: u64) -> Result<usize, LayoutError> {
    usize::try_from(v).map_err(|_| LayoutError(format!("size {v} does not fit this machine")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_stream_straddles_words() {
        // 3-bit values 0..=7 repeated: value i at bit 3i.
        let values: Vec<u32> = (0..64).map(|i| i % 8).collect();
        let mut words = vec![0u32; dense_words(64, 3).unwrap() as usize];
        for (i, v) in values.iter().enumerate() {
            let bit = i * 3;
            words[bit / 32] |= v << (bit % 32);
            if bit % 32 > 29 {
                words[bit / 32 + 1] |= v >> (32 - bit % 32);
            }
        }
        for (i, v) in values.iter().enumerate() {
            assert_eq!(stream_field(|w| words[w], i, 3), *v, "value {i}");
        }
    }

    #[test]
    fn rows_split_ranges() {
        let mut seen = Vec::new();
        let mut out = [0.0; 7];
        for_rows(3, 2, &mut out, |r, c, seg| seen.push((r, c, seg.len())));
        assert_eq!(seen, [(0, 2, 1), (1, 0, 3), (2, 0, 3)]);
        assert_eq!(word(&[1, 0, 0, 0], 1), 0, "past the end reads 0");
    }
}

/// Builders shared by the schemes' unit tests.
#[cfg(test)]
pub mod tests_support {
    use std::path::Path;
    use std::sync::Arc;

    use weightlens_core::{Dtype, Framework, TensorInfo};

    /// A header-only tensor.
    pub fn info(name: &str, dtype: Dtype, shape: Vec<u64>) -> TensorInfo {
        TensorInfo::new(name, dtype, Framework::SAFETENSORS, shape, Arc::from(Path::new("t.safetensors")), 0, 0)
    }

    /// Little-endian bytes of 32-bit words.
    pub fn le_words(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}
