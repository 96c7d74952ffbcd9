//! The `extern "C"` functions of the plugin table, generic over the [`Analyzer`], and the entry
//! table itself. Every function runs its body through [`guard`] so nothing unwinds into the host.

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CString};
use std::ptr;
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;

use crate::api::{WlAbiHeader, WlAnalyzerV1, WlTensor, WL_ABI_MAJOR, WL_ABI_MINOR, WL_ANALYZER_V1_SIZE, WL_STATUS_OK};
use crate::guard::{guard, guard_or};
use crate::{Analyzer, Tensor};

/// The entry table with the C strings it points to (kept alive with it).
#[derive(Debug)]
pub struct Table {
    raw: WlAnalyzerV1,
    _strings: Vec<CString>,
    _metric_ptrs: Vec<*const c_char>,
}

// SAFETY: the table is built once and never changed; its pointers refer to the heap buffers of
// `_strings` and `_metric_ptrs`, which live (unchanged) as long as the table.
unsafe impl Sync for Table {}
// SAFETY: as above.
unsafe impl Send for Table {}

/// Where the entry keeps its table: built on the first call, `None` if it cannot be built.
pub type TableCell = OnceLock<Option<Table>>;

/// The body of the exported entry symbol: the table of `A`, or NULL if a name holds a NUL byte.
pub fn entry<A: Analyzer>(cell: &'static TableCell) -> *const WlAnalyzerV1 {
    guard_or(ptr::null(), || match cell.get_or_init(build_table::<A>) {
        Some(table) => &table.raw,
        None => ptr::null(),
    })
}

fn build_table<A: Analyzer>() -> Option<Table> {
    let name = CString::new(A::name()).ok()?;
    let version = CString::new(A::version()).ok()?;
    let metrics: Vec<CString> = A::metrics().iter().map(|m| CString::new(*m)).collect::<Result<_, _>>().ok()?;
    let metric_ptrs: Vec<*const c_char> = metrics.iter().map(|m| m.as_ptr()).collect();
    let raw = WlAnalyzerV1 {
        header: WlAbiHeader { abi_major: WL_ABI_MAJOR, abi_minor: WL_ABI_MINOR, struct_size: WL_ANALYZER_V1_SIZE },
        name: name.as_ptr(),
        version: version.as_ptr(),
        n_metrics: metric_ptrs.len() as u64,
        metric_names: metric_ptrs.as_ptr(),
        thread_safe: u32::from(A::THREAD_SAFE),
        reserved: 0,
        create: Some(create::<A>),
        analyze: Some(analyze::<A>),
        last_error: Some(last_error::<A>),
        destroy: Some(destroy::<A>),
    };
    // Moving the vectors into the table does not move their heap buffers, so the pointers hold.
    let mut strings = metrics;
    strings.push(name);
    strings.push(version);
    Some(Table { raw, _strings: strings, _metric_ptrs: metric_ptrs })
}

/// A context: the analyzer (absent when `create` failed) and the last error of each thread.
struct Context<A> {
    analyzer: Option<A>,
    // A CString's bytes live on the heap, so pointers handed out by `last_error` stay valid when
    // the map grows; an entry is replaced only by a later failure on the same thread.
    errors: Mutex<HashMap<ThreadId, CString>>,
}

impl<A> Context<A> {
    fn set_error(&self, message: String) {
        let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
        if let Ok(mut errors) = self.errors.lock() {
            errors.insert(std::thread::current().id(), message);
        }
    }
}

/// Message for `last_error(NULL)`: a failed `create` that produced no context.
static NO_CONTEXT: &std::ffi::CStr = c"plugin context is NULL (create failed)";

unsafe extern "C" fn create<A: Analyzer>(ctx_out: *mut *mut c_void) -> i32 {
    if ctx_out.is_null() {
        return crate::api::WL_STATUS_ERROR;
    }
    let (analyzer, failure) = match guard(A::create) {
        Ok(a) => (Some(a), None),
        Err(failure) => (None, Some(failure)),
    };
    let context = Context { analyzer, errors: Mutex::new(HashMap::new()) };
    let status = match failure {
        Some((status, message)) => {
            context.set_error(format!("create failed: {message}"));
            status
        }
        None => WL_STATUS_OK,
    };
    // SAFETY: `ctx_out` is non-null and points to writable storage per the ABI.
    unsafe { *ctx_out = Box::into_raw(Box::new(context)).cast::<c_void>() };
    status
}

unsafe extern "C" fn analyze<A: Analyzer>(
    ctx: *mut c_void,
    tensor: *const WlTensor,
    out_values: *mut f64,
    n_out: u64,
    n_written: *mut u64,
) -> i32 {
    // SAFETY: a non-null `ctx` was made by `create::<A>` and is not yet destroyed (ABI).
    let Some(context) = (unsafe { ctx.cast::<Context<A>>().as_ref() }) else {
        return crate::api::WL_STATUS_ERROR;
    };
    let result = guard(|| {
        let analyzer = context.analyzer.as_ref().ok_or("the plugin was not created successfully")?;
        // SAFETY: the host passes a valid tensor for the duration of this call (ABI).
        let raw = unsafe { tensor.as_ref() }.ok_or("tensor is NULL")?;
        // SAFETY: as above, for every pointer inside the tensor.
        let tensor = unsafe { Tensor::from_raw(raw)? };
        let values = analyzer.analyze(&tensor)?;
        let declared = A::metrics().len();
        if values.len() != declared {
            return Err(format!("analyze returned {} values for {declared} declared metrics", values.len()));
        }
        if (n_out as u128) < values.len() as u128 || out_values.is_null() || n_written.is_null() {
            return Err(format!("the host gave room for {n_out} values, {declared} are needed"));
        }
        // SAFETY: `out_values` holds `n_out >= values.len()` writable f64s and `n_written` is
        // writable (ABI); `values` is a separate allocation.
        unsafe {
            ptr::copy_nonoverlapping(values.as_ptr(), out_values, values.len());
            *n_written = values.len() as u64;
        }
        Ok(())
    });
    match result {
        Ok(()) => WL_STATUS_OK,
        Err((status, message)) => {
            context.set_error(message);
            status
        }
    }
}

unsafe extern "C" fn last_error<A: Analyzer>(ctx: *mut c_void) -> *const c_char {
    // SAFETY: as in `analyze`.
    let Some(context) = (unsafe { ctx.cast::<Context<A>>().as_ref() }) else {
        return NO_CONTEXT.as_ptr();
    };
    guard_or(ptr::null(), || match context.errors.lock() {
        Ok(errors) => errors.get(&std::thread::current().id()).map_or(ptr::null(), |m| m.as_ptr()),
        Err(_) => ptr::null(),
    })
}

unsafe extern "C" fn destroy<A: Analyzer>(ctx: *mut c_void) {
    if ctx.is_null() {
        return;
    }
    // SAFETY: `ctx` came from `Box::into_raw` in `create::<A>` and the host destroys it once,
    // after every other call on it (ABI).
    let context = unsafe { Box::from_raw(ctx.cast::<Context<A>>()) };
    guard_or((), move || drop(context));
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;
    use crate::api::{WL_STATUS_ERROR, WL_STATUS_PANIC};

    struct Sum;
    impl Analyzer for Sum {
        fn name() -> &'static str {
            "sum"
        }
        fn version() -> &'static str {
            "0.1"
        }
        fn metrics() -> &'static [&'static str] {
            &["sum", "ndim"]
        }
        fn create() -> Result<Self, String> {
            Ok(Sum)
        }
        fn analyze(&self, t: &Tensor<'_>) -> Result<Vec<f64>, String> {
            match t.name() {
                "panic" => panic!("boom on {}", t.dtype()),
                "error" => Err("bad tensor".into()),
                "short" => Ok(vec![1.0]),
                _ => Ok(vec![t.values().iter().map(|v| f64::from(*v)).sum(), t.shape().len() as f64]),
            }
        }
    }

    struct FailsToCreate;
    impl Analyzer for FailsToCreate {
        fn name() -> &'static str {
            "fails"
        }
        fn version() -> &'static str {
            "0"
        }
        fn metrics() -> &'static [&'static str] {
            &[]
        }
        fn create() -> Result<Self, String> {
            Err("no config".into())
        }
        fn analyze(&self, _: &Tensor<'_>) -> Result<Vec<f64>, String> {
            Ok(vec![])
        }
    }

    fn raw_tensor<'a>(values: &'a [f32], shape: &'a [u64], name: &'a str) -> WlTensor {
        WlTensor {
            values: values.as_ptr(),
            n_values: values.len() as u64,
            shape: shape.as_ptr(),
            ndim: shape.len() as u64,
            name: name.as_ptr().cast(),
            name_len: name.len() as u64,
            dtype: c"F32".as_ptr(),
            dtype_len: 3,
            layer_index: -1,
            block_type: c"other".as_ptr(),
            block_type_len: 5,
        }
    }

    /// Runs `analyze::<Sum>` on a 2x2 tensor named `name`: (status, values, n_written, error).
    fn run(name: &str) -> (i32, [f64; 3], u64, Option<String>) {
        let mut ctx = ptr::null_mut();
        // SAFETY: the calls follow the ABI: valid pointers, one destroy after the last call.
        unsafe {
            assert_eq!(create::<Sum>(&mut ctx), WL_STATUS_OK);
            let t = raw_tensor(&[1.0, 2.0, 3.5, -0.5], &[2, 2], name);
            let mut out = [f64::NAN; 3];
            let mut n = 0;
            let status = analyze::<Sum>(ctx, &t, out.as_mut_ptr(), 2, &mut n);
            let err = last_error::<Sum>(ctx);
            let err = (!err.is_null()).then(|| CStr::from_ptr(err).to_string_lossy().into_owned());
            destroy::<Sum>(ctx);
            (status, out, n, err)
        }
    }

    #[test]
    fn table_describes_the_analyzer() {
        static CELL: TableCell = TableCell::new();
        let table = entry::<Sum>(&CELL);
        // SAFETY: a non-null table from `entry` is static.
        let table = unsafe { &*table };
        assert_eq!(table.header, WlAbiHeader { abi_major: 1, abi_minor: 0, struct_size: WL_ANALYZER_V1_SIZE });
        // SAFETY: the strings are NUL-terminated and live with the table.
        unsafe {
            assert_eq!(CStr::from_ptr(table.name), c"sum");
            assert_eq!(CStr::from_ptr(table.version), c"0.1");
            let names = std::slice::from_raw_parts(table.metric_names, table.n_metrics as usize);
            let names: Vec<&CStr> = names.iter().map(|p| CStr::from_ptr(*p)).collect();
            assert_eq!(names, [c"sum", c"ndim"]);
        }
        assert_eq!(table.thread_safe, 1);
        assert_eq!(entry::<Sum>(&CELL), table as *const _, "the table is built once");
    }

    #[test]
    fn analyze_writes_every_metric() {
        let (status, out, n, err) = run("ok");
        assert_eq!((status, n, err), (WL_STATUS_OK, 2, None));
        assert_eq!(out[..2], [6.0, 2.0]);
        assert!(out[2].is_nan(), "nothing is written past the declared metrics");
    }

    #[test]
    fn errors_and_panics_become_statuses_with_messages() {
        let (status, _, _, err) = run("error");
        assert_eq!((status, err.as_deref()), (WL_STATUS_ERROR, Some("bad tensor")));

        let (status, _, _, err) = run("panic");
        assert_eq!(status, WL_STATUS_PANIC);
        let err = err.unwrap();
        assert!(err.starts_with("panicked: boom on F32 (at "), "{err}");
        assert!(err.contains("ffi.rs"), "{err}");

        let (status, _, _, err) = run("short");
        assert_eq!(status, WL_STATUS_ERROR);
        assert_eq!(err.as_deref(), Some("analyze returned 1 values for 2 declared metrics"));
    }

    #[test]
    fn a_too_small_output_buffer_is_refused() {
        let mut ctx = ptr::null_mut();
        // SAFETY: as in `run`.
        unsafe {
            assert_eq!(create::<Sum>(&mut ctx), WL_STATUS_OK);
            let t = raw_tensor(&[1.0], &[1], "ok");
            let mut out = [0.0; 1];
            let mut n = 0;
            assert_eq!(analyze::<Sum>(ctx, &t, out.as_mut_ptr(), 1, &mut n), WL_STATUS_ERROR);
            assert_eq!(n, 0);
            destroy::<Sum>(ctx);
        }
    }

    #[test]
    fn null_and_inconsistent_pointers_are_errors() {
        let mut ctx = ptr::null_mut();
        // SAFETY: as in `run`; the NULLs are what is under test.
        unsafe {
            assert_eq!(create::<Sum>(&mut ctx), WL_STATUS_OK);
            let mut out = [0.0; 2];
            let mut n = 0;
            assert_eq!(analyze::<Sum>(ctx, ptr::null(), out.as_mut_ptr(), 2, &mut n), WL_STATUS_ERROR);
            let mut t = raw_tensor(&[], &[0], "ok");
            t.values = ptr::null();
            assert_eq!(analyze::<Sum>(ctx, &t, out.as_mut_ptr(), 2, &mut n), WL_STATUS_OK, "empty may be NULL");
            t.n_values = 4;
            assert_eq!(analyze::<Sum>(ctx, &t, out.as_mut_ptr(), 2, &mut n), WL_STATUS_ERROR);
            assert_eq!(analyze::<Sum>(ptr::null_mut(), &t, out.as_mut_ptr(), 2, &mut n), WL_STATUS_ERROR);
            assert!(!last_error::<Sum>(ptr::null_mut()).is_null());
            destroy::<Sum>(ctx);
            assert_eq!(create::<Sum>(ptr::null_mut()), WL_STATUS_ERROR);
        }
    }

    #[test]
    fn a_failed_create_leaves_a_context_with_the_reason() {
        let mut ctx = ptr::null_mut();
        // SAFETY: as in `run`.
        unsafe {
            assert_eq!(create::<FailsToCreate>(&mut ctx), WL_STATUS_ERROR);
            assert!(!ctx.is_null());
            let err = CStr::from_ptr(last_error::<FailsToCreate>(ctx));
            assert_eq!(err, c"create failed: no config");
            destroy::<FailsToCreate>(ctx);
        }
    }
}
