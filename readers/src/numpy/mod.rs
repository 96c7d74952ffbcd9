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

use crate::mmap::MappedFile;
use header::{Element, NpyHeader};

pub use npz::NpzSource;
pub use write::write_npy;

/// The largest tensor (in bytes) that is inflated or reordered into memory by default: 16 GiB.
pub const DEFAULT_MAX_TENSOR_BYTES: u64 = 16 << 30;

/// The message for object arrays, whose elements are pickled Python objects.
const OBJECT_ARRAYS: &str = "object arrays (descr '|O') need pickle, which weightlens does not run";

/// The `TensorInfo` of an array described by `header`, its data at `offset` (`len` bytes).
fn tensor_info(
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
fn unsupported(header: &NpyHeader) -> Option<String> {
    match &header.element {
        Element::Plain(..) => None,
        Element::Unsupported { name, .. } => Some(format!("unsupported dtype {name}")),
        Element::Object => Some(OBJECT_ARRAYS.into()),
    }
}

/// True when presenting the data needs an owned, reordered copy.
fn needs_gather(header: &NpyHeader) -> bool {
    header.fortran_order && layout::fortran_differs(&header.shape)
}

/// A view of `data` (exactly the array's bytes, in the file's order) in row-major order.
fn array_view<'a>(info: &'a TensorInfo, header: &NpyHeader, data: Cow<'a, [u8]>, limit: u64) -> Result<TensorView<'a>> {
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

/// Refuses to allocate `bytes` for a tensor beyond the `max_tensor_bytes` limit.
fn check_limit(info: &TensorInfo, bytes: u64, limit: u64) -> Result<()> {
    if bytes > limit {
        return Err(Error::tensor(
            info.file.as_ref(),
            &info.name,
            format!("needs {bytes} bytes in memory, more than the limit of {limit} (max_tensor_bytes)"),
        ));
    }
    Ok(())
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
        let info = tensor_info(name, &header, Framework::Npy, &file, header.data_offset, len);
        for w in &warnings {
            tracing::warn!(path = %path.display(), "{w}");
        }
        Ok(NpySource { path: path.to_path_buf(), file, header, tensors: vec![info], limit: max_tensor_bytes, warnings })
    }
}

impl TensorSource for NpySource {
    fn framework(&self) -> Framework {
        Framework::Npy
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
