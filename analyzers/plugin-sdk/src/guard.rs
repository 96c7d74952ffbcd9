//! Running plugin code so that a panic becomes an error status instead of unwinding into the
//! host (since Rust 1.81 a panic leaving an `extern "C"` function aborts the process).

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::api::{WL_STATUS_ERROR, WL_STATUS_PANIC};

thread_local! {
    /// True while this thread runs guarded plugin code.
    static IN_GUARD: Cell<bool> = const { Cell::new(false) };
    /// The message and location of the last guarded panic on this thread, from the panic hook.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs (once) a panic hook that records guarded panics silently: the host reports them with
/// the message and location, so printing them from a library would only duplicate that. Panics
/// outside guarded code go to the previous hook.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_GUARD.with(Cell::get) {
                let payload = payload_message(info.payload());
                let message = match info.location() {
                    Some(l) => format!("{payload} (at {}:{})", l.file(), l.line()),
                    None => payload,
                };
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(message));
            } else {
                previous(info);
            }
        }));
    });
}

fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Runs `f`; an error becomes `(WL_STATUS_ERROR, message)`, a panic `(WL_STATUS_PANIC, message)`.
pub(crate) fn guard<R>(f: impl FnOnce() -> Result<R, String>) -> Result<R, (i32, String)> {
    install_hook();
    let was_guarded = IN_GUARD.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    IN_GUARD.with(|g| g.set(was_guarded));
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(message)) => Err((WL_STATUS_ERROR, message)),
        Err(payload) => {
            let message =
                LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| payload_message(payload.as_ref()));
            // Dropping a payload runs foreign code that could itself panic.
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
            Err((WL_STATUS_PANIC, format!("panicked: {message}")))
        }
    }
}

/// Runs `f` where no status can be returned (entry, destroy): a panic is swallowed and `fallback`
/// returned instead.
pub(crate) fn guard_or<R>(fallback: R, f: impl FnOnce() -> R) -> R {
    guard(|| Ok(f())).unwrap_or(fallback)
}
