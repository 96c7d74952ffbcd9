//! Reader plugins in safe Rust: implement [`Reader`] and invoke
//! [`export_reader!`](crate::export_reader). Every `extern "C"` function of the reader table runs
//! inside the panic guard: a panic becomes `WL_STATUS_PANIC` with its message, never an unwind
//! into the host.

use std::ffi::{c_char, c_void, CString};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{Mutex, OnceLock};

use crate::api::reader::{
    WlReaderTensorV1, WlReaderV1, WL_IDENTIFY_MAYBE, WL_IDENTIFY_NO, WL_IDENTIFY_YES, WL_READER_ABI_MAJOR,
    WL_READER_ABI_MINOR, WL_READER_V1_SIZE, WL_STATUS_NEED_BUFFER,
};
use crate::api::{WlAbiHeader, WL_STATUS_ERROR, WL_STATUS_OK};
use crate::guard::{guard, guard_or};

/// How sure a reader is that a file is its format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identify {
    /// Not this format.
    No,
    /// A weak signature.
    Maybe,
    /// Surely this format.
    Yes,
}

/// One tensor as a reader describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorEntry {
    /// The name.
    pub name: String,
    /// Row-major dimensions.
    pub shape: Vec<u64>,
    /// weightlens' dtype name (`F32`, `F16`, `BF16`, `I8`, `BOOL`...).
    pub dtype: String,
    /// Bytes of data: element count x dtype size (the host checks).
    pub byte_len: u64,
    /// Optional metadata, a JSON object.
    pub metadata_json: Option<String>,
}

/// The bytes of one tensor.
#[derive(Debug)]
pub enum TensorBytes<'a> {
    /// Lent from the source (valid as long as it is open): zero-copy.
    Borrowed(&'a [u8]),
    /// Made on request; copied into the host's buffer.
    Owned(Vec<u8>),
}

/// A reader plugin: a file format as weightlens sees it.
pub trait Reader: Sized + Send + 'static {
    /// The id, also the `framework` column value: `[A-Za-z0-9_-]`, 1 to 64 bytes.
    fn id() -> &'static str;
    /// A human name.
    fn name() -> &'static str;
    /// The plugin version.
    fn version() -> &'static str;
    /// Lower-case extensions without dots.
    fn extensions() -> &'static [&'static str];
    /// What [`Reader::identify`] looks for.
    fn magic() -> &'static str;
    /// Whether the file at `path` (first bytes `head`) is this format.
    fn identify(head: &[u8], path: &Path) -> Identify;
    /// Opens the file.
    fn open(path: &Path) -> Result<Self, String>;
    /// Every tensor, in order.
    fn tensors(&self) -> &[TensorEntry];
    /// The bytes of tensor `index`.
    fn data(&self, index: usize) -> Result<TensorBytes<'_>, String>;
}

/// The reader table with the C strings it points to.
#[derive(Debug)]
pub struct ReaderTable {
    raw: WlReaderV1,
    _strings: Vec<CString>,
}

// SAFETY: built once and never changed; its pointers refer to the heap buffers of `_strings`.
unsafe impl Sync for ReaderTable {}
// SAFETY: as above.
unsafe impl Send for ReaderTable {}

/// Where the exported entry keeps its table.
pub type ReaderTableCell = OnceLock<Option<ReaderTable>>;

/// The body of the exported `weightlens_reader_v1`.
pub fn reader_entry<R: Reader>(cell: &'static ReaderTableCell) -> *const WlReaderV1 {
    guard_or(ptr::null(), || match cell.get_or_init(build::<R>) {
        Some(t) => &t.raw,
        None => ptr::null(),
    })
}

fn build<R: Reader>() -> Option<ReaderTable> {
    let strings = [
        R::id().to_string(),
        R::name().to_string(),
        R::version().to_string(),
        R::extensions().join(","),
        R::magic().to_string(),
    ];
    let strings: Vec<CString> = strings.into_iter().map(CString::new).collect::<Result<_, _>>().ok()?;
    let raw = WlReaderV1 {
        header: WlAbiHeader {
            abi_major: WL_READER_ABI_MAJOR,
            abi_minor: WL_READER_ABI_MINOR,
            struct_size: WL_READER_V1_SIZE,
        },
        id: strings[0].as_ptr(),
        name: strings[1].as_ptr(),
        version: strings[2].as_ptr(),
        extensions: strings[3].as_ptr(),
        magic: strings[4].as_ptr(),
        identify: Some(identify::<R>),
        open: Some(open::<R>),
        tensor_count: Some(tensor_count::<R>),
        tensor_info: Some(tensor_info::<R>),
        tensor_data: Some(tensor_data::<R>),
        last_error: Some(last_error::<R>),
        close: Some(close::<R>),
    };
    Some(ReaderTable { raw, _strings: strings })
}

/// An open source: the reader, its tensors' C-side descriptions and the last error.
struct Source<R> {
    reader: Option<R>,
    shapes: Vec<Vec<u64>>,
    error: Mutex<CString>,
}

impl<R> Source<R> {
    fn set_error(&self, message: String) {
        if let Ok(mut e) = self.error.lock() {
            *e = CString::new(message.replace('\0', " ")).unwrap_or_default();
        }
    }
}

/// The error of a failed `open` that could not make a source.
static OPEN_ERROR: Mutex<Option<CString>> = Mutex::new(None);

/// # Safety
/// `ptr` is valid for `len` bytes (ABI).
unsafe fn path_of(ptr: *const c_char, len: u64) -> Result<PathBuf, String> {
    if ptr.is_null() {
        return Err("path is NULL".into());
    }
    // SAFETY: valid for `len` bytes (caller).
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize) };
    std::str::from_utf8(bytes).map(PathBuf::from).map_err(|_| "path is not UTF-8".into())
}

unsafe extern "C" fn identify<R: Reader>(head: *const u8, head_len: u64, path: *const c_char, path_len: u64) -> i32 {
    let answer = guard(|| {
        // SAFETY: the host passes buffers valid for their lengths (ABI).
        let head =
            if head.is_null() { &[][..] } else { unsafe { std::slice::from_raw_parts(head, head_len as usize) } };
        // SAFETY: as above.
        let path = unsafe { path_of(path, path_len) }?;
        Ok(R::identify(head, &path))
    });
    match answer {
        Ok(Identify::Yes) => WL_IDENTIFY_YES,
        Ok(Identify::Maybe) => WL_IDENTIFY_MAYBE,
        _ => WL_IDENTIFY_NO,
    }
}

unsafe extern "C" fn open<R: Reader>(path: *const c_char, path_len: u64, src_out: *mut *mut c_void) -> i32 {
    if src_out.is_null() {
        return WL_STATUS_ERROR;
    }
    // SAFETY: the host passes a path valid for `path_len` bytes (ABI).
    let result = guard(|| R::open(&unsafe { path_of(path, path_len) }?));
    match result {
        Ok(reader) => {
            let shapes = reader.tensors().iter().map(|t| t.shape.clone()).collect();
            let source = Source { reader: Some(reader), shapes, error: Mutex::new(CString::default()) };
            // SAFETY: `src_out` is non-null and writable (ABI).
            unsafe { *src_out = Box::into_raw(Box::new(source)).cast::<c_void>() };
            WL_STATUS_OK
        }
        Err((status, message)) => {
            if let Ok(mut e) = OPEN_ERROR.lock() {
                *e = CString::new(message.replace('\0', " ")).ok();
            }
            status
        }
    }
}

/// # Safety
/// `src` is NULL or a live source of `R`.
unsafe fn source<'a, R: Reader>(src: *mut c_void) -> Option<&'a Source<R>> {
    // SAFETY: a non-null `src` was made by `open::<R>` and is not yet closed (caller).
    unsafe { src.cast::<Source<R>>().as_ref() }
}

unsafe extern "C" fn tensor_count<R: Reader>(src: *mut c_void) -> u64 {
    // SAFETY: the host passes a live source (ABI).
    let Some(s) = (unsafe { source::<R>(src) }) else { return 0 };
    guard_or(0, || s.reader.as_ref().map_or(0, |r| r.tensors().len() as u64))
}

unsafe extern "C" fn tensor_info<R: Reader>(src: *mut c_void, index: u64, out: *mut WlReaderTensorV1) -> i32 {
    // SAFETY: the host passes a live source (ABI).
    let Some(s) = (unsafe { source::<R>(src) }) else { return WL_STATUS_ERROR };
    let result = guard(|| {
        let reader = s.reader.as_ref().ok_or("source is not open")?;
        let i = usize::try_from(index).map_err(|_| "index out of range")?;
        let (t, shape) = reader.tensors().get(i).zip(s.shapes.get(i)).ok_or("index out of range")?;
        if out.is_null() {
            return Err("out is NULL".into());
        }
        let (meta, meta_len) = t.metadata_json.as_ref().map_or((ptr::null(), 0), |m| (m.as_ptr(), m.len() as u64));
        // SAFETY: `out` is non-null and writable (ABI); every pointer written refers to data
        // owned by the source, which lives until `close`.
        unsafe {
            *out = WlReaderTensorV1 {
                name: t.name.as_ptr().cast(),
                name_len: t.name.len() as u64,
                shape: shape.as_ptr(),
                ndim: shape.len() as u64,
                dtype: t.dtype.as_ptr().cast(),
                dtype_len: t.dtype.len() as u64,
                byte_len: t.byte_len,
                metadata_json: meta.cast(),
                metadata_len: meta_len,
            };
        }
        Ok(())
    });
    match result {
        Ok(()) => WL_STATUS_OK,
        Err((status, message)) => {
            s.set_error(message);
            status
        }
    }
}

unsafe extern "C" fn tensor_data<R: Reader>(
    src: *mut c_void,
    index: u64,
    borrowed_out: *mut *const u8,
    buf: *mut u8,
    buf_len: u64,
    n_written: *mut u64,
) -> i32 {
    // SAFETY: the host passes a live source (ABI).
    let Some(s) = (unsafe { source::<R>(src) }) else { return WL_STATUS_ERROR };
    let result = guard(|| {
        let reader = s.reader.as_ref().ok_or("source is not open")?;
        let i = usize::try_from(index).map_err(|_| "index out of range")?;
        if borrowed_out.is_null() || n_written.is_null() {
            return Err("out pointers are NULL".into());
        }
        match reader.data(i)? {
            TensorBytes::Borrowed(bytes) => {
                // SAFETY: out pointers are writable (checked, ABI); the bytes live in the source.
                unsafe {
                    *borrowed_out = bytes.as_ptr();
                    *n_written = bytes.len() as u64;
                }
                Ok(WL_STATUS_OK)
            }
            TensorBytes::Owned(_) if buf.is_null() => Ok(WL_STATUS_NEED_BUFFER),
            TensorBytes::Owned(bytes) => {
                if bytes.len() as u64 > buf_len {
                    return Err(format!("tensor has {} bytes, the buffer {buf_len}", bytes.len()));
                }
                // SAFETY: `buf` holds `buf_len >= bytes.len()` writable bytes (ABI, checked).
                unsafe {
                    ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len());
                    *borrowed_out = ptr::null();
                    *n_written = bytes.len() as u64;
                }
                Ok(WL_STATUS_OK)
            }
        }
    });
    match result {
        Ok(status) => status,
        Err((status, message)) => {
            s.set_error(message);
            status
        }
    }
}

unsafe extern "C" fn last_error<R: Reader>(src: *mut c_void) -> *const c_char {
    // SAFETY: NULL or a live source (ABI).
    match unsafe { source::<R>(src) } {
        Some(s) => guard_or(ptr::null(), || s.error.lock().map_or(ptr::null(), |e| e.as_ptr())),
        // The pointer stays valid until the next failed open replaces the message.
        None => guard_or(ptr::null(), || {
            OPEN_ERROR.lock().ok().and_then(|e| e.as_ref().map(|m| m.as_ptr())).unwrap_or(ptr::null())
        }),
    }
}

unsafe extern "C" fn close<R: Reader>(src: *mut c_void) {
    if src.is_null() {
        return;
    }
    // SAFETY: `src` came from `Box::into_raw` in `open::<R>`, closed once (ABI).
    let source = unsafe { Box::from_raw(src.cast::<Source<R>>()) };
    guard_or((), move || drop(source));
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;
    use crate::api::WL_STATUS_PANIC;

    struct Panics {
        tensors: Vec<TensorEntry>,
    }

    impl Reader for Panics {
        fn id() -> &'static str {
            "panics"
        }
        fn name() -> &'static str {
            "panics"
        }
        fn version() -> &'static str {
            "0"
        }
        fn extensions() -> &'static [&'static str] {
            &[]
        }
        fn magic() -> &'static str {
            ""
        }
        fn identify(_head: &[u8], _path: &Path) -> Identify {
            panic!("identify panicked")
        }
        fn open(path: &Path) -> Result<Self, String> {
            if path.ends_with("missing") {
                return Err("no such model".into());
            }
            let t =
                TensorEntry { name: "t".into(), shape: vec![1], dtype: "F32".into(), byte_len: 4, metadata_json: None };
            Ok(Panics { tensors: vec![t] })
        }
        fn tensors(&self) -> &[TensorEntry] {
            &self.tensors
        }
        fn data(&self, _index: usize) -> Result<TensorBytes<'_>, String> {
            panic!("data panicked")
        }
    }

    #[test]
    fn panics_and_errors_become_statuses() {
        let path = b"/m/model";
        // SAFETY (all calls): valid buffers and out pointers, the source used until closed.
        unsafe {
            assert_eq!(identify::<Panics>(ptr::null(), 0, path.as_ptr().cast(), 8), WL_IDENTIFY_NO);
            let mut src = ptr::null_mut();
            let missing = b"/m/missing";
            assert_eq!(open::<Panics>(missing.as_ptr().cast(), 10, &mut src), WL_STATUS_ERROR);
            let message = CStr::from_ptr(last_error::<Panics>(ptr::null_mut())).to_string_lossy().into_owned();
            assert!(message.contains("no such model"), "{message}");
            assert_eq!(open::<Panics>(path.as_ptr().cast(), 8, &mut src), WL_STATUS_OK);
            assert_eq!(tensor_count::<Panics>(src), 1);
            let mut info = std::mem::MaybeUninit::<WlReaderTensorV1>::zeroed();
            assert_eq!(tensor_info::<Panics>(src, 0, info.as_mut_ptr()), WL_STATUS_OK);
            assert_eq!(info.assume_init().byte_len, 4);
            assert_eq!(tensor_info::<Panics>(src, 5, info.as_mut_ptr()), WL_STATUS_ERROR);
            let (mut lent, mut n) = (ptr::null(), 0u64);
            assert_eq!(tensor_data::<Panics>(src, 0, &mut lent, ptr::null_mut(), 0, &mut n), WL_STATUS_PANIC);
            let message = CStr::from_ptr(last_error::<Panics>(src)).to_string_lossy().into_owned();
            assert!(message.contains("panicked: data panicked"), "{message}");
            close::<Panics>(src);
        }
    }
}
