//! Writing a standard `.npy` file (little-endian, C order) that `numpy.load` reads.

use std::io::{self, Write};

use weightlens_core::Dtype;

use super::header::MAGIC;

/// numpy aligns the start of the data to this many bytes (`numpy.lib.format.ARRAY_ALIGN`).
const ARRAY_ALIGN: usize = 64;

/// The numpy descriptor of `dtype` in little-endian order; `None` for types numpy lacks
/// (bfloat16, float8, quantized).
pub fn descr_of(dtype: Dtype) -> Option<&'static str> {
    Some(match dtype {
        Dtype::F64 => "<f8",
        Dtype::F32 => "<f4",
        Dtype::F16 => "<f2",
        Dtype::I64 => "<i8",
        Dtype::I32 => "<i4",
        Dtype::I16 => "<i2",
        Dtype::I8 => "|i1",
        Dtype::U64 => "<u8",
        Dtype::U32 => "<u4",
        Dtype::U16 => "<u2",
        Dtype::U8 => "|u1",
        Dtype::Bool => "|b1",
        _ => return None,
    })
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Writes `data` (the elements of `dtype` in little-endian byte order, row-major) as an `.npy`
/// array of `shape`: format version 1.0, or 2.0 when the header does not fit in 1.0's 16-bit
/// length. Fails with `InvalidInput` when numpy has no such dtype or `data` does not hold
/// exactly the elements `shape` describes.
pub fn write_npy(w: &mut impl Write, dtype: Dtype, shape: &[u64], data: &[u8]) -> io::Result<()> {
    let descr = descr_of(dtype).ok_or_else(|| invalid(format!("numpy has no dtype for {dtype}")))?;
    let expected = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .and_then(|n| dtype.byte_len(n))
        .ok_or_else(|| invalid(format!("shape {shape:?} of {dtype} overflows")))?;
    if data.len() as u64 != expected {
        return Err(invalid(format!(
            "{} bytes of data for shape {shape:?} of {dtype}, which needs {expected}",
            data.len()
        )));
    }
    // Python's repr of a tuple: `()`, `(3,)`, `(2, 3)`.
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let shape_repr = match dims.len() {
        1 => format!("({},)", dims.join("")),
        _ => format!("({})", dims.join(", ")),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_repr}, }}");
    // Preamble: magic, 2 version bytes, and a 2-byte (v1.0) or 4-byte (v2.0) header length.
    let padded = |preamble: usize| (preamble + dict.len() + 1).next_multiple_of(ARRAY_ALIGN) - preamble;
    let v1_len = padded(MAGIC.len() + 4);
    let mut out = Vec::with_capacity(v1_len + 16);
    out.extend_from_slice(MAGIC);
    let header_len = match u16::try_from(v1_len) {
        Ok(len) => {
            out.extend_from_slice(&[1, 0]);
            out.extend_from_slice(&len.to_le_bytes());
            v1_len
        }
        Err(_) => {
            let len = padded(MAGIC.len() + 6);
            let len32 = u32::try_from(len).map_err(|_| invalid("header too long for .npy".into()))?;
            out.extend_from_slice(&[2, 0]);
            out.extend_from_slice(&len32.to_le_bytes());
            len
        }
    };
    out.extend_from_slice(dict.as_bytes());
    out.resize(out.len() + header_len - dict.len() - 1, b' ');
    out.push(b'\n');
    w.write_all(&out)?;
    w.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numpy::header::{parse_header, Element};
    use weightlens_core::ByteOrder;

    fn written(dtype: Dtype, shape: &[u64], data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_npy(&mut out, dtype, shape, data).unwrap();
        out
    }

    #[test]
    fn writes_what_numpy_writes() {
        let out = written(Dtype::F32, &[3], &[0; 12]);
        // Byte-exact with `np.save` of a float32 array of shape (3,).
        let mut expected =
            b"\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }".to_vec();
        expected.resize(127, b' ');
        expected.push(b'\n');
        expected.extend([0; 12]);
        assert_eq!(out, expected);
        let h = parse_header(&written(Dtype::Bool, &[], &[1])).unwrap();
        assert_eq!((h.element, h.shape, h.data_offset), (Element::Plain(Dtype::Bool, ByteOrder::Little), vec![], 128));
        let h = parse_header(&written(Dtype::I16, &[2, 0, 3], &[])).unwrap();
        assert_eq!(h.shape, vec![2, 0, 3]);
    }

    #[test]
    fn switches_to_version_2_for_long_headers() {
        // 30,000 dimensions of 1 make a header over 65,535 bytes (more dims than numpy allows to
        // load, but the writer's layout rule is what is tested here).
        let shape = vec![1u64; 30_000];
        let out = written(Dtype::U8, &shape, &[5]);
        let pre = crate::numpy::header::parse_preamble(&out).unwrap();
        assert_eq!(pre.version, (2, 0));
        assert_eq!(pre.data_offset % 64, 0);
        assert_eq!(out.get(pre.data_offset - 1..), Some(&b"\n\x05"[..]));
    }

    #[test]
    fn rejects_what_numpy_cannot_hold() {
        let mut out = Vec::new();
        assert!(write_npy(&mut out, Dtype::BF16, &[1], &[0, 0]).is_err());
        assert!(write_npy(&mut out, Dtype::F32, &[2], &[0; 4]).is_err());
        assert!(write_npy(&mut out, Dtype::F32, &[u64::MAX, 2], &[]).is_err());
        assert!(out.is_empty());
    }
}
