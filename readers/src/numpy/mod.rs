//! NumPy arrays: bare `.npy` files and `.npz` archives.
//!
//! - [`header`] parses the `.npy` header (versions 1.0, 2.0 and 3.0) with a strict literal parser;
//! - [`NpySource`] serves a bare `.npy` as one tensor named after the file stem;
//! - [`npz::NpzSource`] serves each `.npy` member of an `.npz` zip archive;
//! - [`write::write_npy`] writes a standard `.npy` that numpy loads.
//!
//! C-order data is served zero-copy from the memory map. Fortran-order data is gathered into
//! row-major order, and deflated `.npz` members are inflated: both need an owned buffer of the
//! tensor's size, which is first checked against a `max_tensor_bytes` limit.

pub mod header;
pub mod layout;
pub mod npz;
pub mod write;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use weightlens_core::{Dtype, Error, Framework, Result, TensorInfo, TensorSource, TensorView};

use crate::limits::check_limit;
use crate::mmap::MappedFile;
use header::{Element, NpyHeader};

pub use npz::NpzSource;
pub use write::write_npy;

pub use crate::limits::DEFAULT_MAX_TENSOR_BYTES;

/// The message for object arrays, whose elements are pickled Python objects.
const OBJECT_ARRAYS: &str = "object arrays (descr '|O') need pickle, which weightlens does not run";

/// The `TensorInfo` of an array described by `header`, its data at `offset` (`len` bytes).
pub(crate) fn tensor_info(
    name: String,
    header: &NpyHeader,
    framework: Framework,
    file: &MappedFile,
    offset: u64,
    len: u64,
) -> TensorInfo {
    let (dtype, dtype_name) = match &header.element {
        Element::Plain(dtype, _) => (*dtype, Cow::Borrowed(dtype.name_in(framework))),
        Element::Unsupported { name, .. } => (Dtype::Unsupported, Cow::Owned(name.clone())),
        Element::Object => (Dtype::Unsupported, Cow::Borrowed("object")),
    };
    let mut info = TensorInfo::new(name, dtype, framework, header.shape.clone(), file.path().clone(), offset, len);
    info.dtype_name = dtype_name;
    info
}

/// Why the data of `header` cannot be analyzed, if it cannot.
pub(crate) fn unsupported(header: &NpyHeader) -> Option<String> {
    match &header.element {
        Element::Plain(..) => None,
        Element::Unsupported { name, .. } => Some(format!("unsupported dtype {name}")),
        Element::Object => Some(OBJECT_ARRAYS.into()),
    }
}

/// The dtype name of an element type that holds no numbers (strings, bytes, records, dates,
/// objects): such arrays are skipped with a warning rather than reported as errors.
pub(crate) fn non_numeric(element: &Element) -> Option<String> {
    match element {
        Element::Object => Some("object".into()),
        Element::Unsupported { name, .. } if !name.starts_with("complex") && !name.starts_with("float") => {
            Some(name.clone())
        }
        _ => None,
    }
}

/// True when presenting the data needs an owned, reordered copy.
fn needs_gather(header: &NpyHeader) -> bool {
    header.fortran_order && layout::fortran_differs(&header.shape)
}

/// A view of `data` (exactly the array's bytes, in the file's order) in row-major order.
pub(crate) fn array_view<'a>(
    info: &'a TensorInfo,
    header: &NpyHeader,
    data: Cow<'a, [u8]>,
    limit: u64,
) -> Result<TensorView<'a>> {
    let tensor_error = |m: String| Error::tensor(info.file.as_ref(), &info.name, m);
    let Element::Plain(dtype, order) = header.element else {
        return Err(tensor_error(unsupported(header).unwrap_or_default()));
    };
    if !needs_gather(header) {
        return TensorView::plain(info, data, dtype, order);
    }
    check_limit(info, data.len() as u64, limit)?;
    let elem = dtype.size().unwrap_or(1);
    let Some(gathered) = layout::fortran_to_c(&data, elem, &header.shape) else {
        return Err(tensor_error(format!(
            "data holds {} bytes, which does not match shape {} of {}",
            data.len(),
            info.shape_string(),
            info.dtype_name
        )));
    };
    TensorView::plain(info, Cow::Owned(gathered), dtype, order)
}

/// Checks that `available` bytes hold the `needed` bytes of data the header describes.
/// Returns a warning when there are bytes left over (numpy ignores them too).
fn check_data_len(available: u64, needed: Option<u64>, what: &str) -> std::result::Result<Option<String>, String> {
    match needed {
        Some(n) if available < n => Err(format!("{what}: data holds {available} bytes, the header describes {n}")),
        Some(n) if available > n => {
            Ok(Some(format!("{what}: {} bytes after the array data are ignored", available - n)))
        }
        _ => Ok(None),
    }
}

/// A bare `.npy` file: one tensor named after the file stem.
#[derive(Debug)]
pub struct NpySource {
    path: PathBuf,
    file: MappedFile,
    header: NpyHeader,
    tensors: Vec<TensorInfo>,
    limit: u64,
    warnings: Vec<String>,
}

impl NpySource {
    /// Opens `path` with the default [`DEFAULT_MAX_TENSOR_BYTES`] limit.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_limit(path, DEFAULT_MAX_TENSOR_BYTES)
    }

    /// Opens `path`; a Fortran-order array larger than `max_tensor_bytes` is listed, but
    /// viewing it is an error (it would need a reordered copy in memory).
    pub fn open_with_limit(path: &Path, max_tensor_bytes: u64) -> Result<Self> {
        let file = MappedFile::open(path)?;
        let header =
            header::parse_header(file.bytes()).map_err(|e| Error::malformed(path, Some(e.offset), e.message))?;
        if header.element == Element::Object {
            return Err(Error::Refused { path: path.to_path_buf(), message: OBJECT_ARRAYS.into() });
        }
        let available = file.len() - header.data_offset.min(file.len());
        let mut warnings = Vec::new();
        match check_data_len(available, header.data_len, "array") {
            Ok(w) => warnings.extend(w),
            Err(m) => return Err(Error::malformed(path, Some(header.data_offset), format!("truncated: {m}"))),
        }
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let len = header.data_len.unwrap_or(available);
        let info = tensor_info(name, &header, Framework::NPY, &file, header.data_offset, len);
        for w in &warnings {
            tracing::warn!(path = %path.display(), "{w}");
        }
        Ok(NpySource { path: path.to_path_buf(), file, header, tensors: vec![info], limit: max_tensor_bytes, warnings })
    }
}

impl TensorSource for NpySource {
    fn framework(&self) -> Framework {
        Framework::NPY
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    fn view(&self, index: usize) -> Result<TensorView<'_>> {
        let Some(info) = self.tensors.get(index) else {
            return Err(Error::malformed(&self.path, None, format!("no tensor #{index}")));
        };
        if let Some(why) = unsupported(&self.header) {
            return Err(Error::tensor(info.file.as_ref(), &info.name, why));
        }
        let data = self.file.slice(info.offset, info.len, &info.name)?;
        array_view(info, &self.header, Cow::Borrowed(data), self.limit)
    }

    fn metadata(&self) -> serde_json::Value {
        let (major, minor) = self.header.version;
        serde_json::json!({ "npy_version": format!("{major}.{minor}"), "fortran_order": self.header.fortran_order })
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A v1.0 `.npy` file: header `dict` (padded like numpy pads it), then `data`.
    pub(crate) fn npy_bytes(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut text = dict.as_bytes().to_vec();
        let total = (10 + text.len() + 1).next_multiple_of(64);
        text.resize(total - 11, b' ');
        text.push(b'\n');
        let mut out = header::MAGIC.to_vec();
        out.extend([1, 0]);
        out.extend((text.len() as u16).to_le_bytes());
        out.extend(text);
        out.extend(data);
        out
    }

    fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::File::create(&path).unwrap().write_all(bytes).unwrap();
        (dir, path)
    }

    fn open_err(bytes: &[u8]) -> String {
        let (_dir, path) = temp_file("bad.npy", bytes);
        NpySource::open(&path).unwrap_err().to_string()
    }

    #[test]
    fn reads_fortran_order_and_big_endian_as_row_major() {
        // np.arange(6, dtype='>i2').reshape(2, 3) saved in Fortran order: 0 3 1 4 2 5.
        let data: Vec<u8> = [0i16, 3, 1, 4, 2, 5].iter().flat_map(|v| v.to_be_bytes()).collect();
        let bytes = npy_bytes("{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }", &data);
        let (_dir, path) = temp_file("arange.npy", &bytes);
        let source = NpySource::open(&path).unwrap();
        let info = &source.tensors()[0];
        assert_eq!((info.name.as_str(), info.dtype_name.as_ref()), ("arange", "int16"));
        assert_eq!(source.view(0).unwrap().to_f64_vec().unwrap(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        // Over the limit, the reordered copy is refused rather than allocated.
        let limited = NpySource::open_with_limit(&path, 8).unwrap();
        assert!(limited.view(0).unwrap_err().to_string().contains("max_tensor_bytes"));
        // A Fortran-order vector has the C layout: served from the map whatever the limit.
        let bytes = npy_bytes("{'descr': '<u1', 'fortran_order': True, 'shape': (1, 3), }", &[7, 8, 9]);
        let (_dir, path) = temp_file("v.npy", &bytes);
        let source = NpySource::open_with_limit(&path, 0).unwrap();
        assert_eq!(source.view(0).unwrap().to_f64_vec().unwrap(), vec![7.0, 8.0, 9.0]);
    }

    #[test]
    fn unsupported_dtypes_are_listed_and_fail_per_tensor() {
        let bytes = npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", &[0; 16]);
        let (_dir, path) = temp_file("z.npy", &bytes);
        let source = NpySource::open(&path).unwrap();
        assert_eq!(source.tensors()[0].dtype_name, "complex64");
        let err = source.view(0).unwrap_err();
        assert_eq!(err.tensor_name(), Some("z"));
        assert!(err.to_string().contains("unsupported dtype complex64"));
    }

    #[test]
    fn rejects_malformed_files() {
        let ok = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", &[0; 16]);
        assert!(open_err(&ok[..20]).contains("truncated"));
        assert!(open_err(&ok[..7]).contains("truncated"));
        let mut huge = ok.clone();
        huge[6] = 2;
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(open_err(&huge).contains("exceeds the"));
        assert!(open_err(&ok[..ok.len() - 1]).contains("data holds 15 bytes, the header describes 16"));
        let overflow =
            npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 2), }", &[]);
        assert!(open_err(&overflow).contains("more than 2^64"));
        let bytes_overflow =
            npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }", &[]);
        assert!(open_err(&bytes_overflow).contains("bytes"));
        let object = npy_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", b"\x80\x02");
        assert!(open_err(&object).contains("refused: object arrays"));
        assert!(open_err(b"").contains("truncated"));
    }

    #[test]
    fn trailing_bytes_are_a_warning() {
        let bytes = npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", &[1, 2, 3]);
        let (_dir, path) = temp_file("t.npy", &bytes);
        let source = NpySource::open(&path).unwrap();
        assert_eq!(source.view(0).unwrap().to_f64_vec().unwrap(), vec![1.0, 2.0]);
        assert!(source.warnings()[0].contains("1 bytes after the array data"));
    }

    #[test]
    fn write_npy_round_trips_through_the_reader() {
        let cases: Vec<(Dtype, Vec<f64>)> = vec![
            (Dtype::F64, vec![1.5, -2.25, f64::INFINITY, 0.0, 1e-300, 7.0]),
            (Dtype::F32, vec![1.5, -2.25, 3.0, 0.0, 0.125, 7.0]),
            (Dtype::F16, vec![1.5, -2.25, 3.0, 0.0, 0.125, 7.0]),
            (Dtype::I64, vec![-9e15, 1.0, 2.0, 3.0, 4.0, 5.0]),
            (Dtype::I32, vec![-7.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
            (Dtype::I16, vec![-7.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
            (Dtype::I8, vec![-7.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
            (Dtype::U64, vec![9e15, 1.0, 2.0, 3.0, 4.0, 5.0]),
            (Dtype::U32, vec![7.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
            (Dtype::U16, vec![7.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
            (Dtype::U8, vec![7.0, 1.0, 2.0, 3.0, 4.0, 255.0]),
            (Dtype::Bool, vec![1.0, 0.0, 1.0, 1.0, 0.0, 0.0]),
        ];
        for (dtype, values) in cases {
            let data: Vec<u8> = values
                .iter()
                .flat_map(|&v| match dtype {
                    Dtype::F64 => v.to_le_bytes().to_vec(),
                    Dtype::F32 => (v as f32).to_le_bytes().to_vec(),
                    Dtype::F16 => half::f16::from_f64(v).to_le_bytes().to_vec(),
                    Dtype::I64 => (v as i64).to_le_bytes().to_vec(),
                    Dtype::I32 => (v as i32).to_le_bytes().to_vec(),
                    Dtype::I16 => (v as i16).to_le_bytes().to_vec(),
                    Dtype::I8 => (v as i8).to_le_bytes().to_vec(),
                    Dtype::U64 => (v as u64).to_le_bytes().to_vec(),
                    Dtype::U32 => (v as u32).to_le_bytes().to_vec(),
                    Dtype::U16 => (v as u16).to_le_bytes().to_vec(),
                    _ => vec![v as u8],
                })
                .collect();
            let mut out = Vec::new();
            write_npy(&mut out, dtype, &[2, 3], &data).unwrap();
            let (_dir, path) = temp_file("rt.npy", &out);
            let source = NpySource::open(&path).unwrap();
            let info = &source.tensors()[0];
            assert_eq!((info.dtype, info.shape.as_slice()), (dtype, &[2u64, 3][..]));
            assert_eq!(source.view(0).unwrap().to_f64_vec().unwrap(), values, "{dtype}");
            assert!(source.warnings().is_empty());
        }
    }
}
