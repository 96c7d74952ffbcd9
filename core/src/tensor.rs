//! [`TensorInfo`] (what a header says about a tensor) and [`TensorView`] (its bytes, borrowed).

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use crate::decode::{decode_plain_f32, decode_plain_f64};
use crate::dtype::{ByteOrder, Dtype, QuantType};
use crate::error::{Error, Result};
use crate::source::Framework;

/// What a file's header says about one tensor. Cheap to produce: no tensor data is read.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// The tensor's name (docs/output-spec.md "Names").
    pub name: String,
    /// The element type.
    pub dtype: Dtype,
    /// The storage type as the file names it (`BF16`, `bfloat16`, `Q4_K`, `complex64`...).
    pub dtype_name: Cow<'static, str>,
    /// The shape in row-major order (GGUF's `ne` reversed).
    pub shape: Vec<u64>,
    /// The file holding the data (one shard of a sharded model).
    pub file: Arc<Path>,
    /// Absolute byte offset of the tensor's data (or storage) in `file`.
    pub offset: u64,
    /// Bytes of data in `file` (compressed size for deflated archive members).
    pub len: u64,
}

impl TensorInfo {
    /// A tensor whose dtype name follows `framework`'s vocabulary.
    pub fn new(
        name: impl Into<String>,
        dtype: Dtype,
        framework: Framework,
        shape: Vec<u64>,
        file: Arc<Path>,
        offset: u64,
        len: u64,
    ) -> Self {
        TensorInfo {
            name: name.into(),
            dtype,
            dtype_name: Cow::Borrowed(dtype.name_in(framework)),
            shape,
            file,
            offset,
            len,
        }
    }

    /// The number of elements, or `None` if the product of the dimensions overflows `u64`.
    pub fn numel(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }

    /// `(rows, cols)` of the matrix view: `rows = shape[0]`, `cols = product(shape[1..])`;
    /// `None` for 0-d and 1-d tensors (docs/output-spec.md).
    pub fn matrix_dims(&self) -> Option<(u64, u64)> {
        let (&rows, rest) = self.shape.split_first()?;
        if rest.is_empty() {
            return None;
        }
        let cols = rest.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
        Some((rows, cols))
    }

    /// The shape as docs/output-spec.md writes it: `[11008, 4096]`, `[]` for a scalar.
    pub fn shape_string(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(u64::to_string).collect();
        format!("[{}]", dims.join(", "))
    }

    /// The info of slice `index` along the first dimension (e.g. one expert of a fused
    /// `[n_expert, rows, cols]` tensor): the same name, dtype and file, `shape[1..]`, and the
    /// slice's byte range when the stored bytes are contiguous per slice (plain dtypes, or
    /// quantized types whose slices hold whole blocks).
    pub fn leading_slice(&self, index: u64) -> Result<TensorInfo> {
        let (&count, rest) = self.shape.split_first().ok_or_else(|| self.error("a 0-d tensor has no slices"))?;
        if index >= count {
            return Err(self.error(format!("slice {index} is outside the first dimension ({count})")));
        }
        let shape = rest.to_vec();
        let slice_numel = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        let len = slice_numel.and_then(|n| self.dtype.byte_len(n)).ok_or_else(|| self.slice_error(&shape))?;
        let offset = index.checked_mul(len).and_then(|o| o.checked_add(self.offset));
        let offset = offset.ok_or_else(|| self.error(format!("slice {index} overflows the byte offset")))?;
        Ok(TensorInfo { shape, offset, len, ..self.clone() })
    }

    fn slice_error(&self, shape: &[u64]) -> Error {
        let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
        let block = match self.dtype {
            Dtype::Quant(q) => format!(" (not a whole number of {}-element {} blocks)", q.block_elems, q.name),
            _ => String::new(),
        };
        self.error(format!(
            "slices of shape [{}] of {} cannot be addressed separately{block}",
            dims.join(", "),
            self.dtype_name
        ))
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::tensor(self.file.as_ref(), self.name.clone(), message)
    }
}

/// Why a [`BlockDecoder`] could not decode (the view attaches the file and tensor).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The decoder has no kernel for this type.
    #[error("no {family} decoder for {quant} (type id {id})")]
    NoDecoder {
        /// The decoder family ("ggml").
        family: &'static str,
        /// The type's name.
        quant: &'static str,
        /// The type's id.
        id: u32,
    },
    /// `src` is not whole blocks, or `dst` not the matching number of values.
    #[error("{bytes} bytes of {quant} do not decode into {values} values (blocks of {block_bytes} bytes, {block_elems} values)")]
    Length {
        /// Bytes given.
        bytes: usize,
        /// The type's name.
        quant: &'static str,
        /// Values asked for.
        values: usize,
        /// Bytes per block.
        block_bytes: u32,
        /// Values per block.
        block_elems: u32,
    },
    /// The stored components of a computed tensor do not describe its values.
    #[error("{0}")]
    Components(String),
}

/// Decodes whole blocks of a quantized type to `f32`.
///
/// Implemented by readers of quantized formats. `src` holds `n` whole blocks and `dst` exactly
/// `n * block_elems` elements; implementations must not panic on any byte content.
pub trait BlockDecoder: Send + Sync {
    /// Decodes `src` into `dst`, or says why it cannot (e.g. an unsupported type).
    fn decode_blocks(&self, quant: &QuantType, src: &[u8], dst: &mut [f32]) -> Result<(), DecodeError>;
}

/// Computes element ranges of a tensor whose values come from several stored components (a
/// quantized weight with its scales and zero points, possibly in different files).
///
/// Implemented by readers of quantized checkpoints. Elements are numbered in row-major order of
/// the logical shape; implementations must not panic on any byte content.
pub trait ElementDecoder: Send + Sync {
    /// Computes elements `start .. start + out.len()` (the range is checked by the caller).
    fn decode_f64(&self, start: usize, out: &mut [f64]) -> Result<(), DecodeError>;
    /// The same elements rounded to `f32` (each exactly `decode_f64`'s value `as f32`). The
    /// default computes them in `f64` pieces; decoders override it to write `f32` directly.
    fn decode_f32(&self, start: usize, out: &mut [f32]) -> Result<(), DecodeError> {
        let mut scratch = vec![0f64; SCRATCH_ELEMS.min(out.len())];
        for (i, chunk) in out.chunks_mut(SCRATCH_ELEMS).enumerate() {
            let tmp = &mut scratch[..chunk.len()];
            self.decode_f64(start + i * SCRATCH_ELEMS, tmp)?;
            for (o, v) in chunk.iter_mut().zip(tmp.iter()) {
                *o = *v as f32;
            }
        }
        Ok(())
    }
    /// The packed (primary) component's bytes, for content hashing.
    fn packed_bytes(&self) -> &[u8];
}

#[derive(Clone)]
enum ViewData<'a> {
    Plain {
        bytes: Cow<'a, [u8]>,
        dtype: Dtype,
        order: ByteOrder,
    },
    Blocks {
        bytes: Cow<'a, [u8]>,
        quant: &'static QuantType,
        decoder: &'a dyn BlockDecoder,
    },
    /// Elements `base ..` of what `decoder` computes (`base` > 0 for a leading slice).
    Computed {
        decoder: Arc<dyn ElementDecoder + 'a>,
        base: usize,
    },
}

/// The bytes of one tensor, borrowed from its source (or owned when the reader had to decode,
/// decompress or gather them), in row-major element order.
#[derive(Clone)]
pub struct TensorView<'a> {
    info: &'a TensorInfo,
    numel: usize,
    data: ViewData<'a>,
    /// Told about stored bytes an analyzer is done with ([`TensorView::done_with`]).
    release: Option<&'a ReleaseFn<'a>>,
}

/// What a view calls with stored bytes that will not be read again soon (a memory-mapped
/// source drops their pages from resident memory: [`crate::TensorSource::release`]).
pub type ReleaseFn<'a> = dyn Fn(&[u8]) + Sync + 'a;

impl std::fmt::Debug for TensorView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorView")
            .field("name", &self.info.name)
            .field("dtype", &self.info.dtype)
            .field("numel", &self.numel)
            .finish_non_exhaustive()
    }
}

/// Elements decoded per step when a caller asks for a conversion it has no buffer for.
const SCRATCH_ELEMS: usize = 4096;

impl<'a> TensorView<'a> {
    /// A view of plain elements of `dtype` in `order`, contiguous and row-major.
    /// Fails if the byte length does not match the tensor's shape.
    pub fn plain(info: &'a TensorInfo, bytes: Cow<'a, [u8]>, dtype: Dtype, order: ByteOrder) -> Result<Self> {
        let numel = checked_numel(info)?;
        let expected = dtype
            .byte_len(numel as u64)
            .ok_or_else(|| info.error(format!("dtype {} cannot be decoded", info.dtype_name)))?;
        if bytes.len() as u64 != expected {
            return Err(info.error(format!(
                "data holds {} bytes, shape {} of {} needs {expected}",
                bytes.len(),
                info.shape_string(),
                info.dtype_name
            )));
        }
        Ok(TensorView { info, numel, data: ViewData::Plain { bytes, dtype, order }, release: None })
    }

    /// A view of whole blocks of a quantized type, decoded on demand by `decoder`.
    pub fn blocks(
        info: &'a TensorInfo,
        bytes: Cow<'a, [u8]>,
        quant: &'static QuantType,
        decoder: &'a dyn BlockDecoder,
    ) -> Result<Self> {
        let numel = checked_numel(info)?;
        let expected = Dtype::Quant(quant).byte_len(numel as u64).ok_or_else(|| {
            info.error(format!(
                "{} elements are not a whole number of {} blocks of {}",
                numel, quant.name, quant.block_elems
            ))
        })?;
        if bytes.len() as u64 != expected {
            return Err(info.error(format!(
                "data holds {} bytes, shape {} of {} needs {expected}",
                bytes.len(),
                info.shape_string(),
                quant.name
            )));
        }
        Ok(TensorView { info, numel, data: ViewData::Blocks { bytes, quant, decoder }, release: None })
    }

    /// A view of the elements `decoder` computes (a quantized weight made of several stored
    /// components), decoded on demand in any range.
    pub fn computed(info: &'a TensorInfo, decoder: Arc<dyn ElementDecoder + 'a>) -> Result<Self> {
        let numel = checked_numel(info)?;
        Ok(TensorView { info, numel, data: ViewData::Computed { decoder, base: 0 }, release: None })
    }

    /// A view of slice `index` along the first dimension, borrowing this view's bytes (no
    /// copy), described by `info` (from [`TensorInfo::leading_slice`] of this view's info).
    /// Fails when the slices do not hold whole quantization blocks or `info` does not fit.
    pub fn leading_slice<'b>(&'b self, index: u64, info: &'b TensorInfo) -> Result<TensorView<'b>> {
        let count = match self.info.shape.split_first() {
            Some((&count, rest)) if rest == info.shape.as_slice() && info.dtype == self.info.dtype => count,
            _ => return Err(self.info.error(format!("{} is not a slice of this tensor", info.shape_string()))),
        };
        if let ViewData::Computed { decoder, base } = &self.data {
            let slice_numel = checked_numel(info)?;
            let start = usize::try_from(index)
                .ok()
                .filter(|_| index < count)
                .and_then(|i| i.checked_mul(slice_numel)?.checked_add(*base))
                .ok_or_else(|| self.info.error(format!("slice {index} of {count} is outside the tensor")))?;
            return Ok(TensorView {
                info,
                numel: slice_numel,
                data: ViewData::Computed { decoder: decoder.clone(), base: start },
                release: self.release,
            });
        }
        // The bytes as held (possibly converted by the reader) split evenly into the slices.
        let total = self.raw_bytes().len() as u64;
        let len = total.checked_div(count).filter(|l| l.checked_mul(count) == Some(total));
        let range = len
            .filter(|_| index < count)
            .and_then(|len| Some((index.checked_mul(len)?, len)))
            .and_then(|(start, len)| Some(usize::try_from(start).ok()?..usize::try_from(start + len).ok()?));
        let bytes = range.and_then(|r| self.raw_bytes().get(r)).ok_or_else(|| {
            self.info.error(format!("slice {index} of {count} cannot be cut from {total} bytes of data"))
        })?;
        let slice = match &self.data {
            ViewData::Plain { dtype, order, .. } => TensorView::plain(info, Cow::Borrowed(bytes), *dtype, *order),
            ViewData::Blocks { quant, decoder, .. } => TensorView::blocks(info, Cow::Borrowed(bytes), quant, *decoder),
            ViewData::Computed { .. } => Err(self.info.error("computed views are sliced above")),
        }?;
        Ok(TensorView { release: self.release, ..slice })
    }

    /// This view, telling `release` about the stored bytes analyzers are done with
    /// ([`TensorView::done_with`]).
    pub fn with_release<'b>(self, release: &'b ReleaseFn<'b>) -> TensorView<'b>
    where
        'a: 'b,
    {
        TensorView { release: Some(release), ..self }
    }

    /// Whether [`TensorView::done_with`] hands bytes back: a release function is set and the
    /// elements are plain stored bytes. Streaming analyzers read in windows only then.
    pub fn releases(&self) -> bool {
        self.release.is_some() && matches!(self.data, ViewData::Plain { .. })
    }

    /// Says that elements `start .. start + len` will not be read again soon, so that their
    /// stored bytes can leave resident memory (reading them later still works: a memory map
    /// faults them in again). For analyzers streaming through a large tensor; does nothing
    /// without a release function ([`TensorView::with_release`]) and for views whose elements
    /// do not map to a byte range of their own (quantized components, computed elements).
    pub fn done_with(&self, start: usize, len: usize) {
        let (Some(release), ViewData::Plain { bytes, dtype, .. }) = (self.release, &self.data) else { return };
        let Some(size) = dtype.size() else { return };
        let range = start.checked_mul(size).zip(start.checked_add(len).and_then(|end| end.checked_mul(size)));
        if let Some(part) = range.and_then(|(from, to)| bytes.get(from..to)) {
            release(part);
        }
    }

    /// What the header says about this tensor.
    pub fn info(&self) -> &'a TensorInfo {
        self.info
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.numel
    }

    /// Decoding ranges must start at a multiple of this (the block size of quantized types, 1
    /// otherwise) and end at such a multiple or at the end of the tensor.
    pub fn granule(&self) -> usize {
        match &self.data {
            ViewData::Plain { .. } | ViewData::Computed { .. } => 1,
            ViewData::Blocks { quant, .. } => quant.block_elems as usize,
        }
    }

    /// The raw bytes, with their dtype and byte order, when the elements are plain (for fast
    /// paths that read the bytes directly, and for hashing).
    pub fn plain_bytes(&self) -> Option<(Dtype, ByteOrder, &[u8])> {
        match &self.data {
            ViewData::Plain { bytes, dtype, order } => Some((*dtype, *order, bytes)),
            ViewData::Blocks { .. } | ViewData::Computed { .. } => None,
        }
    }

    /// [`TensorView::plain_bytes`] when they are borrowed from the source (its memory map),
    /// so that they live as long as the source: what a zero-copy view may point at.
    pub fn borrowed_plain_bytes(&self) -> Option<(Dtype, ByteOrder, &'a [u8])> {
        match &self.data {
            ViewData::Plain { bytes: Cow::Borrowed(bytes), dtype, order } => Some((*dtype, *order, bytes)),
            _ => None,
        }
    }

    /// The stored bytes, whatever the encoding (of a computed view: its packed component).
    pub fn raw_bytes(&self) -> &[u8] {
        match &self.data {
            ViewData::Plain { bytes, .. } | ViewData::Blocks { bytes, .. } => bytes,
            ViewData::Computed { decoder, .. } => decoder.packed_bytes(),
        }
    }

    fn check_range(&self, start: usize, len: usize) -> Result<()> {
        let end = start.checked_add(len).filter(|&e| e <= self.numel);
        let granule = self.granule();
        match end {
            Some(end) if start.is_multiple_of(granule) && (end % granule == 0 || end == self.numel) => Ok(()),
            _ => Err(self.info.error(format!(
                "decode range {start}+{len} is outside the tensor ({} elements) or not aligned to {granule}",
                self.numel
            ))),
        }
    }

    /// Decodes elements `start .. start + out.len()` as `f32`.
    pub fn decode_f32(&self, start: usize, out: &mut [f32]) -> Result<()> {
        self.check_range(start, out.len())?;
        match &self.data {
            ViewData::Plain { bytes, dtype, order } => {
                let size = dtype.size().unwrap_or(1);
                let src = &bytes[start * size..(start + out.len()) * size];
                decode_plain_f32(*dtype, *order, src, out);
                Ok(())
            }
            ViewData::Blocks { bytes, quant, decoder } => {
                let per = quant.block_elems as usize;
                let first = start / per;
                let count = out.len().div_ceil(per);
                let bb = quant.block_bytes as usize;
                let src = &bytes[first * bb..(first + count) * bb];
                decoder.decode_blocks(quant, src, out).map_err(|e| self.info.error(e.to_string()))
            }
            // Computed in f64 (as the writing libraries do on float64 inputs), then rounded.
            ViewData::Computed { decoder, base } => {
                decoder.decode_f32(base + start, out).map_err(|m| self.info.error(m.to_string()))
            }
        }
    }

    /// Decodes elements `start .. start + out.len()` as `f64` (exact for every plain type;
    /// quantized types are defined by their `f32` dequantization and widened).
    pub fn decode_f64(&self, start: usize, out: &mut [f64]) -> Result<()> {
        self.check_range(start, out.len())?;
        match &self.data {
            ViewData::Plain { bytes, dtype, order } => {
                let size = dtype.size().unwrap_or(1);
                let src = &bytes[start * size..(start + out.len()) * size];
                decode_plain_f64(*dtype, *order, src, out);
                Ok(())
            }
            ViewData::Blocks { quant, .. } => {
                // Steps of whole blocks keep every intermediate range aligned.
                let per = quant.block_elems as usize;
                let step = (SCRATCH_ELEMS / per).max(1) * per;
                let mut scratch = vec![0f32; step.min(out.len())];
                for (i, chunk) in out.chunks_mut(step).enumerate() {
                    let tmp = &mut scratch[..chunk.len()];
                    self.decode_f32(start + i * step, tmp)?;
                    for (o, v) in chunk.iter_mut().zip(tmp.iter()) {
                        *o = f64::from(*v);
                    }
                }
                Ok(())
            }
            ViewData::Computed { decoder, base } => {
                decoder.decode_f64(base + start, out).map_err(|m| self.info.error(m.to_string()))
            }
        }
    }

    /// All elements as `f32`.
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        let mut out = vec![0f32; self.numel];
        self.decode_f32(0, &mut out)?;
        Ok(out)
    }

    /// All elements as `f64`.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        let mut out = vec![0f64; self.numel];
        self.decode_f64(0, &mut out)?;
        Ok(out)
    }
}

fn checked_numel(info: &TensorInfo) -> Result<usize> {
    info.numel()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| info.error(format!("shape {} overflows the element count", info.shape_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(dtype: Dtype, shape: Vec<u64>) -> TensorInfo {
        TensorInfo::new("t", dtype, Framework::SAFETENSORS, shape, Arc::from(Path::new("f")), 0, 0)
    }

    #[test]
    fn matrix_dims_follow_the_spec() {
        assert_eq!(info(Dtype::F32, vec![]).matrix_dims(), None);
        assert_eq!(info(Dtype::F32, vec![5]).matrix_dims(), None);
        assert_eq!(info(Dtype::F32, vec![8, 4, 3, 3]).matrix_dims(), Some((8, 36)));
        assert_eq!(info(Dtype::F32, vec![0, 4]).matrix_dims(), Some((0, 4)));
        assert_eq!(info(Dtype::F32, vec![8, 4, 3, 3]).shape_string(), "[8, 4, 3, 3]");
    }

    #[test]
    fn plain_view_checks_length_and_decodes() {
        let i = info(Dtype::F32, vec![2, 2]);
        let bytes: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert!(TensorView::plain(&i, Cow::Borrowed(&bytes[..12]), Dtype::F32, ByteOrder::Little).is_err());
        let v = TensorView::plain(&i, Cow::Borrowed(&bytes), Dtype::F32, ByteOrder::Little).unwrap();
        let mut out = [0.0; 2];
        v.decode_f64(2, &mut out).unwrap();
        assert_eq!(out, [3.0, 4.0]);
        assert!(v.decode_f64(3, &mut out).is_err());
    }

    #[test]
    fn overflowing_shape_is_an_error_not_a_panic() {
        let i = info(Dtype::F32, vec![u64::MAX, 3]);
        assert!(TensorView::plain(&i, Cow::Borrowed(&[]), Dtype::F32, ByteOrder::Little).is_err());
    }

    struct Halves;
    impl BlockDecoder for Halves {
        fn decode_blocks(&self, q: &QuantType, src: &[u8], dst: &mut [f32]) -> Result<(), DecodeError> {
            for (block, out) in src.chunks(q.block_bytes as usize).zip(dst.chunks_mut(q.block_elems as usize)) {
                for (o, b) in out.iter_mut().zip(block) {
                    *o = f32::from(*b) / 2.0;
                }
            }
            Ok(())
        }
    }

    #[test]
    fn block_view_decodes_aligned_ranges() {
        static Q: QuantType = QuantType { name: "H", id: 99, block_elems: 2, block_bytes: 2 };
        let i = info(Dtype::Quant(&Q), vec![3, 2]);
        let bytes = [2u8, 4, 6, 8, 10, 12];
        let v = TensorView::blocks(&i, Cow::Borrowed(&bytes), &Q, &Halves).unwrap();
        assert_eq!(v.to_f64_vec().unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let mut out = [0.0f32; 2];
        v.decode_f32(2, &mut out).unwrap();
        assert_eq!(out, [3.0, 4.0]);
        assert!(v.decode_f32(1, &mut out).is_err());
    }

    #[test]
    fn leading_slices_borrow_each_expert() {
        let i = info(Dtype::F32, vec![3, 2, 2]);
        let bytes: Vec<u8> = (0..12).flat_map(|v| (v as f32).to_le_bytes()).collect();
        let v = TensorView::plain(&i, Cow::Borrowed(&bytes), Dtype::F32, ByteOrder::Little).unwrap();
        let second = i.leading_slice(1).unwrap();
        assert_eq!((second.shape.clone(), second.len, second.offset), (vec![2, 2], 16, 16));
        let s = v.leading_slice(1, &second).unwrap();
        assert_eq!(s.to_f64_vec().unwrap(), vec![4.0, 5.0, 6.0, 7.0]);
        assert_eq!(s.raw_bytes().as_ptr(), bytes[16..].as_ptr(), "no copy");
        assert!(i.leading_slice(3).is_err());
        assert!(v.leading_slice(3, &second).is_err());
        let other = info(Dtype::F32, vec![4]);
        assert!(v.leading_slice(0, &other).is_err());
        assert!(info(Dtype::F32, vec![]).leading_slice(0).is_err());
    }

    #[test]
    fn leading_slices_of_blocks_need_whole_blocks() {
        static Q: QuantType = QuantType { name: "H", id: 99, block_elems: 2, block_bytes: 2 };
        let i = info(Dtype::Quant(&Q), vec![2, 1, 2]);
        let bytes = [2u8, 4, 6, 8];
        let v = TensorView::blocks(&i, Cow::Borrowed(&bytes), &Q, &Halves).unwrap();
        let e1 = i.leading_slice(1).unwrap();
        assert_eq!(v.leading_slice(1, &e1).unwrap().to_f64_vec().unwrap(), vec![3.0, 4.0]);
        // Three slices of one element each cannot hold whole 2-element blocks.
        let odd = info(Dtype::Quant(&Q), vec![2, 1, 1]);
        let message = odd.leading_slice(0).unwrap_err().to_string();
        assert!(message.contains("whole number"), "{message}");
    }
}
