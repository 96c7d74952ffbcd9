//! Reader plugins: a shared library implementing the reader ABI of
//! `weightlens_plugin_api::reader`, seen by weightlens as a [`FormatReader`] whose sources are
//! [`TensorSource`]s. Every string, count and length the plugin reports is validated before it
//! is used; calls into one source are serialized.

use std::borrow::Cow;
use std::ffi::{c_char, c_void};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use weightlens_core::{
    ByteOrder, Dtype, DtypeNames, Error, FormatReader, Framework, Identify, OpenOptions, Result, TensorInfo,
    TensorSource, TensorView,
};
use weightlens_plugin_api::reader::{
    WlReaderEntryV1, WlReaderTensorV1, WlReaderV1, READER_ENTRY_SYMBOL_V1, WL_IDENTIFY_MAYBE, WL_IDENTIFY_YES,
    WL_READER_ABI_MAJOR, WL_READER_MAX_METADATA, WL_READER_MAX_NAME, WL_READER_MAX_NDIM, WL_READER_MAX_TENSORS,
    WL_READER_V1_SIZE, WL_STATUS_NEED_BUFFER,
};
use weightlens_plugin_api::{is_valid_name, WL_STATUS_OK, WL_STATUS_PANIC};

use super::library::{c_string, load_error, read_table, TableKind};

/// A loaded reader plugin.
#[derive(Clone)]
pub struct ReaderPlugin {
    inner: Arc<ReaderLibrary>,
}

struct ReaderLibrary {
    path: PathBuf,
    table: WlReaderV1,
    framework: Framework,
    name: String,
    version: String,
    extensions: Vec<&'static str>,
    magic: String,
    /// Declared last: unloaded after everything else.
    _handle: libloading::Library,
}

impl std::fmt::Debug for ReaderPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderPlugin")
            .field("path", &self.inner.path)
            .field("id", &self.inner.framework.as_str())
            .finish()
    }
}

/// True when the library at `path` exports `symbol` (it is looked up, never called).
pub(crate) fn exports(path: &Path, symbol: &str) -> bool {
    let Ok(canonical) = std::fs::canonicalize(path) else { return false };
    // SAFETY: loading runs the library's initializers; plugins are trusted code by contract.
    let Ok(handle) = (unsafe { libloading::Library::new(canonical) }) else { return false };
    // SAFETY: only the symbol's presence is checked; it is never called.
    unsafe { handle.get::<*const ()>(symbol.as_bytes()) }.is_ok()
}

/// True when the library at `path` exports the analyzer entry symbol.
pub fn has_analyzer_entry(path: &Path) -> bool {
    exports(path, weightlens_plugin_api::ENTRY_SYMBOL_V1)
}

/// True when the library at `path` exports the reader entry symbol.
pub fn has_reader_entry(path: &Path) -> bool {
    exports(path, READER_ENTRY_SYMBOL_V1)
}

impl ReaderPlugin {
    /// Loads the reader plugin at `path`: entry symbol, ABI version (checked before anything
    /// else), then every string and function of the table.
    pub fn load(path: &Path) -> Result<ReaderPlugin> {
        let canonical = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: loading runs the library's initializers; plugins are trusted code by contract.
        let handle = unsafe { libloading::Library::new(&canonical) }
            .map_err(|e| load_error(path, format!("not a loadable shared library ({e})")))?;
        let ptr = {
            // SAFETY: the symbol, if present, has the entry type by the ABI's definition.
            let entry = unsafe { handle.get::<WlReaderEntryV1>(READER_ENTRY_SYMBOL_V1.as_bytes()) }.map_err(|_| {
                load_error(path, format!("no entry symbol {READER_ENTRY_SYMBOL_V1}: not a reader plugin"))
            })?;
            // SAFETY: the entry takes no arguments and is the first call of the ABI.
            unsafe { entry() }
        };
        let kind = TableKind {
            entry: READER_ENTRY_SYMBOL_V1,
            major: WL_READER_ABI_MAJOR,
            min_size: WL_READER_V1_SIZE,
            built_for: "reader ABI",
            supports: "reader ABI",
        };
        // SAFETY: a non-null result points to a static table starting with the header (ABI).
        let table = unsafe { read_table(path, ptr, &kind)? };
        let text = |p: *const c_char, what: &str| {
            // SAFETY: the ABI requires NUL-terminated strings living as long as the library.
            unsafe { c_string(p) }.ok_or_else(|| load_error(path, format!("the reader table's {what} is NULL")))
        };
        let id = text(table.id, "id")?;
        if !is_valid_name(id.as_bytes()) {
            return Err(load_error(path, format!("reader id {id:?} is not 1 to 64 characters of [A-Za-z0-9_-]")));
        }
        let name = text(table.name, "name")?;
        let version = text(table.version, "version")?;
        let extensions = text(table.extensions, "extensions")?;
        let magic = text(table.magic, "magic")?;
        let functions = [
            table.identify.is_some(),
            table.open.is_some(),
            table.tensor_count.is_some(),
            table.tensor_info.is_some(),
            table.tensor_data.is_some(),
            table.last_error.is_some(),
            table.close.is_some(),
        ];
        if functions.contains(&false) {
            return Err(load_error(path, "a function pointer of the reader table is NULL"));
        }
        // The id and extensions live as long as the process: `Framework` and `FormatReader`
        // hand out `&'static str`, and a few bytes per loaded plugin is what they cost.
        let id: &'static str = Box::leak(id.into_boxed_str());
        let extensions = extensions
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| &*Box::leak(e.to_ascii_lowercase().into_boxed_str()))
            .collect();
        tracing::debug!(path = %path.display(), id, "reader plugin loaded");
        Ok(ReaderPlugin {
            inner: Arc::new(ReaderLibrary {
                path: path.to_path_buf(),
                table,
                framework: Framework::new(id, DtypeNames::Safetensors),
                name,
                version,
                extensions,
                magic,
                _handle: handle,
            }),
        })
    }

    /// The library file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The plugin's version string.
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    fn last_error(&self, src: *mut c_void) -> String {
        let Some(f) = self.inner.table.last_error else { return "no message".into() };
        // SAFETY: last_error accepts the source (or NULL) and returns NULL or a C string (ABI).
        unsafe { c_string(f(src)) }.unwrap_or_else(|| "no message".into())
    }

    fn failure(&self, status: i32, src: *mut c_void) -> String {
        let message = self.last_error(src);
        if status == WL_STATUS_PANIC {
            format!("reader plugin {} panicked: {message}", self.inner.framework)
        } else {
            format!("reader plugin {}: {message}", self.inner.framework)
        }
    }
}

impl FormatReader for ReaderPlugin {
    fn id(&self) -> &str {
        self.inner.framework.as_str()
    }
    fn name(&self) -> &str {
        &self.inner.name
    }
    fn extensions(&self) -> &[&str] {
        &self.inner.extensions
    }
    fn magic(&self) -> &str {
        &self.inner.magic
    }
    fn identify(&self, head: &[u8], path: &Path) -> Identify {
        let Some(f) = self.inner.table.identify else { return Identify::No };
        let p = path.as_os_str().as_encoded_bytes();
        // SAFETY: both buffers are valid for the lengths passed, for the duration of the call.
        match unsafe { f(head.as_ptr(), head.len() as u64, p.as_ptr().cast(), p.len() as u64) } {
            WL_IDENTIFY_YES => Identify::Yes,
            WL_IDENTIFY_MAYBE => Identify::Maybe,
            _ => Identify::No,
        }
    }
    fn open(&self, path: &Path, options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
        Ok(Box::new(PluginSource::open(self.clone(), path, options)?))
    }
}

/// A model opened by a reader plugin.
pub struct PluginSource {
    plugin: ReaderPlugin,
    /// The plugin's source context; every call on it holds this lock.
    ctx: Mutex<*mut c_void>,
    path: PathBuf,
    tensors: Vec<TensorInfo>,
    metadata: serde_json::Value,
    warnings: Vec<String>,
    limit: u64,
}

// SAFETY: the context is only used under the mutex (calls serialized, as the ABI promises the
// plugin), and the bytes it lends stay valid and unchanged until `close`, which runs in `drop`.
unsafe impl Send for PluginSource {}
// SAFETY: as above.
unsafe impl Sync for PluginSource {}

impl std::fmt::Debug for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSource").field("plugin", &self.plugin).field("path", &self.path).finish_non_exhaustive()
    }
}

impl Drop for PluginSource {
    fn drop(&mut self) {
        let ctx = *self.ctx.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(close) = self.plugin.inner.table.close {
            // SAFETY: the context came from `open` and this is its last use.
            unsafe { close(ctx) };
        }
    }
}

/// A plugin-owned byte string of `len` bytes, capped at `cap`.
///
/// # Safety
/// `ptr` is NULL or valid for `len` bytes (ABI).
unsafe fn plugin_bytes<'a>(
    ptr: *const c_char,
    len: u64,
    cap: u64,
    what: &str,
) -> std::result::Result<&'a [u8], String> {
    if len > cap {
        return Err(format!("{what} is {len} bytes, more than the {cap}-byte limit"));
    }
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(format!("{what} is NULL with length {len}"));
    }
    // SAFETY: non-null and valid for `len` bytes (caller).
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize) })
}

impl PluginSource {
    fn open(plugin: ReaderPlugin, path: &Path, options: &OpenOptions) -> Result<Self> {
        let t = plugin.inner.table;
        let (Some(open), Some(count), Some(info_fn)) = (t.open, t.tensor_count, t.tensor_info) else {
            return Err(Error::malformed(path, None, "reader plugin table lost a function"));
        };
        let p = path.as_os_str().as_encoded_bytes();
        let mut ctx: *mut c_void = std::ptr::null_mut();
        // SAFETY: the path buffer is valid for the call; `ctx` is a valid out pointer.
        let status = unsafe { open(p.as_ptr().cast(), p.len() as u64, &mut ctx) };
        if status != WL_STATUS_OK {
            let message = plugin.failure(status, ctx);
            if !ctx.is_null() {
                if let Some(close) = t.close {
                    // SAFETY: a context written by a failed open is closed once (ABI).
                    unsafe { close(ctx) };
                }
            }
            return Err(Error::malformed(path, None, message));
        }
        // From here the source owns the context: an error below drops it, which closes it.
        let mut source = PluginSource {
            plugin: plugin.clone(),
            ctx: Mutex::new(ctx),
            path: path.to_path_buf(),
            tensors: Vec::new(),
            metadata: serde_json::Value::Null,
            warnings: Vec::new(),
            limit: options.max_tensor_bytes,
        };
        let bad =
            |msg: String| Error::malformed(path, None, format!("reader plugin {}: {msg}", plugin.inner.framework));
        // SAFETY: the context is live.
        let n = unsafe { count(ctx) };
        if n > WL_READER_MAX_TENSORS {
            return Err(bad(format!("reports {n} tensors, more than the limit of {WL_READER_MAX_TENSORS}")));
        }
        let file: Arc<Path> = Arc::from(path);
        let mut metadata = serde_json::Map::new();
        for i in 0..n {
            let mut raw = std::mem::MaybeUninit::<WlReaderTensorV1>::zeroed();
            // SAFETY: `raw` is a valid out pointer; the context is live.
            let status = unsafe { info_fn(ctx, i, raw.as_mut_ptr()) };
            if status != WL_STATUS_OK {
                return Err(bad(format!("tensor #{i}: {}", plugin.failure(status, ctx))));
            }
            // SAFETY: zero-initialized, then written by the plugin; every field is plain data.
            let raw = unsafe { raw.assume_init() };
            let info = describe(&raw, &file).map_err(|m| bad(format!("tensor #{i}: {m}")))?;
            // SAFETY: pointer and length from the plugin, capped.
            match unsafe { plugin_bytes(raw.metadata_json, raw.metadata_len, WL_READER_MAX_METADATA, "metadata") } {
                Ok([]) => {}
                Ok(json) => match serde_json::from_slice::<serde_json::Value>(json) {
                    Ok(v) => {
                        metadata.insert(info.name.clone(), v);
                    }
                    Err(e) => source.warnings.push(format!(
                        "{}: tensor {}: metadata is not JSON ({e})",
                        path.display(),
                        info.name
                    )),
                },
                Err(m) => return Err(bad(format!("tensor {}: {m}", info.name))),
            }
            source.tensors.push(info);
        }
        source.metadata = serde_json::json!({
            "reader_plugin": { "path": plugin.inner.path, "id": plugin.id(), "version": plugin.inner.version },
            "tensors": metadata,
        });
        Ok(source)
    }
}

/// Validates one tensor description: name, rank, dtype, and a byte length equal to shape x dtype.
fn describe(raw: &WlReaderTensorV1, file: &Arc<Path>) -> std::result::Result<TensorInfo, String> {
    // SAFETY (all three): pointers and lengths from the plugin, each capped before the read.
    let name = unsafe { plugin_bytes(raw.name, raw.name_len, WL_READER_MAX_NAME, "name") }?;
    let name = String::from_utf8_lossy(name).into_owned();
    let dtype_name = unsafe { plugin_bytes(raw.dtype, raw.dtype_len, 64, "dtype") }?;
    let dtype_name = String::from_utf8_lossy(dtype_name).into_owned();
    if raw.ndim > WL_READER_MAX_NDIM {
        return Err(format!("{name}: {} dimensions, more than {WL_READER_MAX_NDIM}", raw.ndim));
    }
    let shape: Vec<u64> = if raw.ndim == 0 {
        Vec::new()
    } else if raw.shape.is_null() || !raw.shape.is_aligned() {
        return Err(format!("{name}: shape is NULL or misaligned"));
    } else {
        // SAFETY: non-null, aligned, `ndim` (capped) elements (ABI).
        unsafe { std::slice::from_raw_parts(raw.shape, raw.ndim as usize) }.to_vec()
    };
    let dtype = Dtype::from_safetensors_name(&dtype_name).ok_or_else(|| {
        format!("{name}: dtype {dtype_name:?} is not in weightlens' vocabulary (F32, BF16, I8, BOOL, ...)")
    })?;
    let numel = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let expected = numel.and_then(|n| dtype.byte_len(n)).ok_or_else(|| format!("{name}: size overflows"))?;
    if raw.byte_len != expected {
        return Err(format!(
            "{name}: reports {} bytes, shape {:?} of {dtype_name} needs {expected}",
            raw.byte_len, shape
        ));
    }
    let mut info = TensorInfo::new(name, dtype, Framework::SAFETENSORS, shape, Arc::clone(file), 0, expected);
    info.dtype_name = Cow::Owned(dtype_name);
    Ok(info)
}

impl TensorSource for PluginSource {
    fn framework(&self) -> Framework {
        self.plugin.inner.framework
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
        let err = |m: String| Error::tensor(&self.path, &info.name, m);
        let Some(data) = self.plugin.inner.table.tensor_data else {
            return Err(err("reader plugin table lost tensor_data".into()));
        };
        let ctx = self.ctx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut borrowed: *const u8 = std::ptr::null();
        let mut written: u64 = 0;
        // SAFETY: out pointers are valid; no buffer is offered (NULL, 0).
        let status = unsafe { data(*ctx, index as u64, &mut borrowed, std::ptr::null_mut(), 0, &mut written) };
        let bytes: Cow<'_, [u8]> = match status {
            WL_STATUS_OK => {
                if borrowed.is_null() && info.len != 0 {
                    return Err(err("reader plugin lent a NULL pointer".into()));
                }
                if written != info.len {
                    return Err(err(format!("reader plugin lent {written} bytes, the tensor has {}", info.len)));
                }
                if info.len == 0 {
                    Cow::Borrowed(&[][..])
                } else {
                    // SAFETY: the plugin lends `info.len` bytes valid until `close`, which runs
                    // only when this source (and so every view borrowing it) is gone.
                    Cow::Borrowed(unsafe { std::slice::from_raw_parts(borrowed, info.len as usize) })
                }
            }
            WL_STATUS_NEED_BUFFER => {
                if info.len > self.limit {
                    return Err(err(format!(
                        "needs {} bytes in memory, more than the limit of {} (max_tensor_bytes)",
                        info.len, self.limit
                    )));
                }
                let len = usize::try_from(info.len).map_err(|_| err("tensor exceeds the address space".into()))?;
                let mut buf = vec![0u8; len];
                let mut written: u64 = 0;
                // SAFETY: `buf` is valid for `len` bytes; out pointers are valid.
                let status =
                    unsafe { data(*ctx, index as u64, &mut borrowed, buf.as_mut_ptr(), len as u64, &mut written) };
                if status != WL_STATUS_OK {
                    return Err(err(self.plugin.failure(status, *ctx)));
                }
                if written != info.len {
                    return Err(err(format!(
                        "reader plugin wrote {written} bytes into a buffer of {len} (the tensor has {})",
                        info.len
                    )));
                }
                Cow::Owned(buf)
            }
            other => return Err(err(self.plugin.failure(other, *ctx))),
        };
        drop(ctx);
        TensorView::plain(info, bytes, info.dtype, ByteOrder::Little)
    }

    fn metadata(&self) -> serde_json::Value {
        self.metadata.clone()
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}
