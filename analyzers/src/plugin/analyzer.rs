//! [`PluginAnalyzer`]: one plugin context as a [`TensorAnalyzer`].

use std::ffi::c_void;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use weightlens_core::{classify, Column, ColumnType, Error, Result, TensorAnalyzer, TensorView, Value};
use weightlens_plugin_api::{WlTensor, WL_STATUS_OK, WL_STATUS_PANIC};

use super::library::{c_string, load_error, Library, Plugin, PluginInfo};

/// The bits the host writes into every output slot before `analyze`: a NaN with a payload no
/// arithmetic produces, so a slot still holding it after the call was not written.
const UNWRITTEN: u64 = 0x7ff8_dead_beef_cafe;

/// A plugin context created by `create`, destroyed exactly once on drop.
struct Context(NonNull<c_void>);

// SAFETY: the context is only passed to the plugin's own functions. A plugin that does not declare
// itself thread-safe gets every call serialized by its library's lock (including `destroy`), and a
// thread-safe one allows concurrent `analyze` calls on one context by the ABI's definition.
unsafe impl Send for Context {}
// SAFETY: as above.
unsafe impl Sync for Context {}

/// A plugin analyzer: fills the columns `<plugin>.<metric>` (floats, NaN kept as NaN).
///
/// Each tensor is decoded to `f32` and handed to the plugin with its shape, name, dtype name,
/// layer index and block type. The library stays loaded while this value lives.
pub struct PluginAnalyzer {
    context: Context,
    columns: Vec<Column>,
    // Declared after `context`; `Drop` destroys the context before the library can be unloaded.
    library: Arc<Library>,
}

impl std::fmt::Debug for PluginAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginAnalyzer").field("info", &self.library.info).finish_non_exhaustive()
    }
}

impl PluginAnalyzer {
    /// Loads the library at `path` and creates an analyzer from it (see [`Plugin::load`]).
    pub fn load(path: &Path) -> Result<PluginAnalyzer> {
        Plugin::load(path)?.analyzer()
    }

    /// What the plugin says about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.library.info
    }

    /// Wraps a failure of `analyze` on the tensor of `view`.
    fn error(&self, view: &TensorView<'_>, message: impl std::fmt::Display) -> Error {
        let info = view.info();
        Error::Analyzer {
            path: info.file.to_path_buf(),
            tensor: info.name.clone(),
            analyzer: self.library.info.name.clone(),
            message: format!("plugin {}: {message}", self.library.info.path.display()),
        }
    }

    /// The plugin's `last_error` message after a failed call on `ctx`.
    fn last_error(&self, ctx: *mut c_void) -> String {
        let Some(last_error) = self.library.table.last_error else { return String::new() };
        // SAFETY: called right after the failed call, on the same thread, under the same lock;
        // the returned string is copied before any other call (ABI).
        unsafe { c_string(last_error(ctx)) }.unwrap_or_else(|| "no message".into())
    }
}

impl Plugin {
    /// Creates an analyzer (a plugin context). Fails, naming the library, when `create` does.
    pub fn analyzer(&self) -> Result<PluginAnalyzer> {
        let library = Arc::clone(&self.library);
        let info = &library.info;
        let (Some(create), Some(destroy)) = (library.table.create, library.table.destroy) else {
            return Err(load_error(&info.path, "the table has no create/destroy function"));
        };
        let mut raw: *mut c_void = ptr::null_mut();
        {
            let _serial = library.serialize();
            // SAFETY: `raw` is a writable out-pointer, as `create` requires.
            let status = unsafe { create(&mut raw) };
            if status != WL_STATUS_OK {
                // SAFETY: `raw` is NULL or the failed context `create` left to read the reason
                // from; it is destroyed once, after that read.
                let reason = unsafe {
                    let reason = library.table.last_error.and_then(|last_error| c_string(last_error(raw)));
                    if !raw.is_null() {
                        destroy(raw);
                    }
                    reason
                };
                let reason = reason.unwrap_or_else(|| "no message".into());
                return Err(load_error(&info.path, format!("create failed with status {status}: {reason}")));
            }
        }
        let Some(context) = NonNull::new(raw) else {
            return Err(load_error(&info.path, "create succeeded but returned a NULL context"));
        };
        let columns = info.column_names().map(|name| Column::new(name, ColumnType::Float)).collect();
        Ok(PluginAnalyzer { context: Context(context), columns, library })
    }
}

impl Drop for PluginAnalyzer {
    fn drop(&mut self) {
        if let Some(destroy) = self.library.table.destroy {
            let _serial = self.library.serialize();
            // SAFETY: the context was created by this library's `create`; this is the last call.
            unsafe { destroy(self.context.0.as_ptr()) };
        }
    }
}

/// `text` followed by a NUL byte (the ABI passes strings with a length and a terminator).
fn nul_terminated(text: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(0);
    bytes
}

impl TensorAnalyzer for PluginAnalyzer {
    fn name(&self) -> &str {
        &self.library.info.name
    }

    fn columns(&self) -> Vec<Column> {
        self.columns.clone()
    }

    fn analyze(&self, view: &TensorView<'_>) -> Result<Vec<Value>> {
        let Some(analyze) = self.library.table.analyze else {
            return Err(self.error(view, "the table has no analyze function"));
        };
        let info = view.info();
        let values = view.to_f32_vec()?;
        let class = classify(&info.name);
        let name = nul_terminated(&info.name);
        let dtype = nul_terminated(&info.dtype_name);
        let block_type = nul_terminated(class.block_type.as_str());
        let tensor = WlTensor {
            values: values.as_ptr(),
            n_values: values.len() as u64,
            shape: info.shape.as_ptr(),
            ndim: info.shape.len() as u64,
            name: name.as_ptr().cast(),
            name_len: info.name.len() as u64,
            dtype: dtype.as_ptr().cast(),
            dtype_len: info.dtype_name.len() as u64,
            layer_index: class.layer_index.map_or(-1, i64::from),
            block_type: block_type.as_ptr().cast(),
            block_type_len: class.block_type.as_str().len() as u64,
        };

        // One slot more than declared: a plugin that ignores `n_out` by one value is caught.
        let declared = self.columns.len();
        let mut out = vec![f64::from_bits(UNWRITTEN); declared + 1];
        let mut n_written = u64::MAX;
        let ctx = self.context.0.as_ptr();
        {
            let _serial = self.library.serialize();
            // SAFETY: every pointer is valid for this call: `tensor` and what it points to,
            // `out` with room for `declared + 1` values, `n_written`; `ctx` is live.
            let status = unsafe { analyze(ctx, &tensor, out.as_mut_ptr(), declared as u64, &mut n_written) };
            if status != WL_STATUS_OK {
                let kind = if status == WL_STATUS_PANIC { "panicked" } else { "failed" };
                let message = self.last_error(ctx);
                return Err(self.error(view, format!("analyze {kind} (status {status}): {message}")));
            }
        }

        let guard_written = out.pop().is_some_and(|v| v.to_bits() != UNWRITTEN);
        let unwritten = out.iter().filter(|v| v.to_bits() == UNWRITTEN).count();
        if guard_written || n_written != declared as u64 || unwritten > 0 {
            let wrote = if guard_written { format!("more than {declared}") } else { n_written.to_string() };
            return Err(self.error(
                view,
                format!(
                    "declares {declared} metrics but wrote {wrote} values (n_written = {n_written}, {unwritten} slots left unwritten)"
                ),
            ));
        }
        Ok(out.into_iter().map(Value::Float).collect())
    }
}
