//! Loading a plugin library: open it, find the entry symbol, check the ABI version, then read and
//! validate the table. A library stays loaded as long as any [`Plugin`] or
//! [`PluginAnalyzer`](super::PluginAnalyzer) made from it is alive.

use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use weightlens_core::{Error, Result};
use weightlens_plugin_api::{
    is_valid_name, WlAbiHeader, WlAnalyzerV1, WlEntryV1, ENTRY_SYMBOL_V1, WL_ABI_MAJOR, WL_ANALYZER_V1_SIZE,
    WL_MAX_METRICS,
};

/// What a plugin says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInfo {
    /// The library file, as given to [`Plugin::load`].
    pub path: PathBuf,
    /// The plugin name (the column prefix).
    pub name: String,
    /// The plugin's own version string.
    pub version: String,
    /// The ABI major version of the table.
    pub abi_major: u32,
    /// The ABI minor version the plugin was built with.
    pub abi_minor: u32,
    /// The metric names, in output order.
    pub metrics: Vec<String>,
    /// Whether `analyze` may run on several threads at once.
    pub thread_safe: bool,
}

impl PluginInfo {
    /// The output column names: `<plugin>.<metric>`.
    pub fn column_names(&self) -> impl Iterator<Item = String> + '_ {
        self.metrics.iter().map(|m| format!("{}.{m}", self.name))
    }
}

/// A loaded library and its validated table.
pub(crate) struct Library {
    pub(crate) info: PluginInfo,
    /// A copy of the plugin's table; its function pointers are valid while `handle` is loaded.
    pub(crate) table: WlAnalyzerV1,
    /// Held around every call into a plugin that is not thread-safe.
    serial: Option<Mutex<()>>,
    /// Declared last: dropped (unloaded) after everything else.
    handle: libloading::Library,
}

impl Library {
    /// Serializes calls into a plugin that is not thread-safe; `None` for thread-safe plugins.
    pub(crate) fn serialize(&self) -> Option<MutexGuard<'_, ()>> {
        // The mutex guards no data, so a poisoned lock is still a valid lock.
        self.serial.as_ref().map(|m| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library").field("info", &self.info).field("handle", &self.handle).finish_non_exhaustive()
    }
}

/// A loaded plugin library. Cheap to clone; the library is unloaded when the last clone and the
/// last [`PluginAnalyzer`](super::PluginAnalyzer) made from it are dropped.
#[derive(Clone, Debug)]
pub struct Plugin {
    pub(crate) library: Arc<Library>,
}

/// Libraries loaded in this process by canonical path, so that loading a file twice shares one
/// library (and one lock for plugins that are not thread-safe).
fn loaded() -> &'static Mutex<HashMap<PathBuf, Weak<Library>>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Weak<Library>>>> = OnceLock::new();
    LOADED.get_or_init(Mutex::default)
}

/// The one-line error for a library that cannot be used.
pub(crate) fn load_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::malformed(path, None, format!("cannot load plugin: {message}"))
}

impl Plugin {
    /// Loads the plugin library at `path` and validates its table.
    ///
    /// Loading a shared library runs its initialization code: only load plugins you trust.
    /// Errors ([`Error::Malformed`], or [`Error::Io`] when the file cannot be read) name the
    /// library: not a shared library, no entry symbol, another ABI major version, an invalid table.
    pub fn load(path: &Path) -> Result<Plugin> {
        // Canonical so that dlopen never searches the system library path for a bare file name.
        let canonical = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
        let mut loaded = loaded().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(library) = loaded.get(&canonical).and_then(Weak::upgrade) {
            return Ok(Plugin { library });
        }
        let library = Arc::new(open(path, &canonical)?);
        loaded.retain(|_, weak| weak.strong_count() > 0);
        loaded.insert(canonical, Arc::downgrade(&library));
        tracing::debug!(path = %path.display(), name = %library.info.name, "plugin loaded");
        Ok(Plugin { library })
    }

    /// What the plugin says about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.library.info
    }
}

fn open(path: &Path, canonical: &Path) -> Result<Library> {
    // SAFETY: loading runs the library's initializers; plugins are trusted code by contract.
    let handle = unsafe { libloading::Library::new(canonical) }
        .map_err(|e| load_error(path, format!("not a loadable shared library ({e})")))?;
    let table_ptr = {
        // SAFETY: the symbol, if present, has the entry type by the ABI's definition.
        let entry = unsafe { handle.get::<WlEntryV1>(ENTRY_SYMBOL_V1.as_bytes()) }
            .map_err(|_| load_error(path, missing_entry_message(&handle)))?;
        // SAFETY: calling the entry is the first call the ABI defines; it takes no arguments.
        unsafe { entry() }
    };
    // SAFETY: a non-null result points to a static table that starts with the header (ABI); the
    // header is read before anything else, and the rest only after its checks.
    let table = unsafe { read_table(path, table_ptr, &ANALYZER_TABLE)? };
    let info = validate(path, &table)?;
    let serial = (!info.thread_safe).then(Mutex::default);
    Ok(Library { info, table, serial, handle })
}

/// Explains a missing `weightlens_analyzer_v1`: another ABI major version, or not a plugin.
fn missing_entry_message(handle: &libloading::Library) -> String {
    let other = (2..=9u32).find(|major| {
        let symbol = format!("weightlens_analyzer_v{major}");
        // SAFETY: only the symbol's presence is checked; it is never called.
        unsafe { handle.get::<*const ()>(symbol.as_bytes()) }.is_ok()
    });
    match other {
        Some(major) => format!(
            "it exports weightlens_analyzer_v{major} (plugin ABI {major}), this weightlens supports ABI {WL_ABI_MAJOR} ({ENTRY_SYMBOL_V1})"
        ),
        None => format!("no entry symbol {ENTRY_SYMBOL_V1}: not a weightlens plugin"),
    }
}

/// Which table [`read_table`] reads: its entry symbol, ABI major version and minimum size, and
/// how messages name the ABI (`plugin ABI` / `reader ABI`).
pub(crate) struct TableKind {
    pub(crate) entry: &'static str,
    pub(crate) major: u32,
    pub(crate) min_size: u64,
    pub(crate) built_for: &'static str,
    pub(crate) supports: &'static str,
}

/// The analyzer table.
const ANALYZER_TABLE: TableKind = TableKind {
    entry: ENTRY_SYMBOL_V1,
    major: WL_ABI_MAJOR,
    min_size: WL_ANALYZER_V1_SIZE,
    built_for: "plugin ABI",
    supports: "ABI",
};

/// Reads an entry table after checking, before anything else, its header: major version, size.
///
/// # Safety
/// `ptr` is NULL or points to a table of type `T` that starts with a [`WlAbiHeader`] and holds
/// `struct_size` readable bytes, as the ABI requires.
pub(crate) unsafe fn read_table<T: Copy>(path: &Path, ptr: *const T, kind: &TableKind) -> Result<T> {
    let entry = kind.entry;
    if ptr.is_null() {
        return Err(load_error(path, format!("{entry}() returned NULL")));
    }
    if !ptr.is_aligned() {
        return Err(load_error(path, format!("{entry}() returned a misaligned table")));
    }
    // SAFETY: non-null and aligned; every table starts with the header (caller).
    let header = unsafe { ptr.cast::<WlAbiHeader>().read() };
    let (major, supports) = (kind.major, kind.supports);
    if header.abi_major != major {
        return Err(load_error(
            path,
            format!(
                "built for {} {}.{}, this weightlens supports {supports} {major}.x",
                kind.built_for, header.abi_major, header.abi_minor
            ),
        ));
    }
    if header.struct_size < kind.min_size {
        return Err(load_error(
            path,
            format!("table is {} bytes, {supports} {major}.0 needs at least {}", header.struct_size, kind.min_size),
        ));
    }
    // SAFETY: the plugin declares at least this many readable bytes (checked just above).
    Ok(unsafe { ptr.read() })
}

/// Checks every pointer and name of the table and copies what it describes.
fn validate(path: &Path, table: &WlAnalyzerV1) -> Result<PluginInfo> {
    let err = |message: String| load_error(path, message);
    // SAFETY (for the string reads below): the ABI requires NUL-terminated strings that live as
    // long as the library; NULL is checked by `c_string`.
    let name = unsafe { c_string(table.name) }.ok_or_else(|| err("the table's name is NULL".into()))?;
    if !is_valid_name(name.as_bytes()) {
        return Err(err(format!("plugin name {name:?} is not 1 to 64 characters of [A-Za-z0-9_-]")));
    }
    let version = unsafe { c_string(table.version) }.ok_or_else(|| err("the table's version is NULL".into()))?;
    if table.n_metrics > WL_MAX_METRICS {
        return Err(err(format!("declares {} metrics, at most {WL_MAX_METRICS} are allowed", table.n_metrics)));
    }
    if table.n_metrics > 0 && (table.metric_names.is_null() || !table.metric_names.is_aligned()) {
        return Err(err("metric_names is NULL or misaligned".into()));
    }
    let mut metrics = Vec::new();
    let mut seen = HashSet::new();
    for i in 0..table.n_metrics as usize {
        // SAFETY: `metric_names` holds `n_metrics` (at most WL_MAX_METRICS) pointers (ABI).
        let ptr = unsafe { table.metric_names.add(i).read() };
        let metric = unsafe { c_string(ptr) }.ok_or_else(|| err(format!("metric name {i} is NULL")))?;
        if !is_valid_name(metric.as_bytes()) {
            return Err(err(format!("metric name {metric:?} is not 1 to 64 characters of [A-Za-z0-9_-]")));
        }
        if !seen.insert(metric.clone()) {
            return Err(err(format!("metric {metric:?} is declared twice")));
        }
        metrics.push(metric);
    }
    if table.create.is_none() || table.analyze.is_none() || table.last_error.is_none() || table.destroy.is_none() {
        return Err(err("a function pointer of the table is NULL".into()));
    }
    Ok(PluginInfo {
        path: path.to_path_buf(),
        name,
        version,
        abi_major: table.header.abi_major,
        abi_minor: table.header.abi_minor,
        metrics,
        thread_safe: table.thread_safe != 0,
    })
}

/// Longest message taken from a plugin; the rest is cut (a one-line error stays readable).
const MAX_MESSAGE: usize = 1000;

/// Copies a plugin's C string as one line of text: `None` for NULL, invalid UTF-8 replaced,
/// control characters turned into spaces, cut at [`MAX_MESSAGE`] characters.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn c_string(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated (caller).
    let text = unsafe { CStr::from_ptr(ptr) }.to_string_lossy();
    Some(text.chars().take(MAX_MESSAGE).map(|c| if c.is_control() { ' ' } else { c }).collect())
}
