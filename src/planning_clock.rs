//! How long this backend has spent in the planner, so that a refresh can tell its one-time
//! costs from its recurring ones.
//!
//! A delta statement is prepared once per backend and run from its kept generic plan
//! (`crate::statement_cache`): planning it is paid by the first refresh in a session, not
//! by the following ones. AUTO's cost model (`pgt_core::cost`) must compare what the next
//! refresh will cost, so each history row records the time it spent on such one-time work
//! (`setup_ms`: translating the query, planning kept statements), and the model subtracts
//! it. PostgreSQL reports planning time only to EXPLAIN, so this module chains a
//! `planner_hook` that adds the time of every planner call to a per-backend counter, the
//! way `pg_stat_statements` measures planning.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::time::{Duration, Instant};

use pgrx::pg_sys;

thread_local! {
    static PLANNING: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

static mut PREVIOUS: pg_sys::planner_hook_type = None;

/// Installs the hook (from `_PG_init`, once per process).
pub fn install() {
    // SAFETY: `_PG_init` runs once per process, single-threaded, before any query of this
    // backend is planned; the previous hook is kept and called, so other extensions' hooks
    // keep working.
    unsafe {
        PREVIOUS = pg_sys::planner_hook;
        pg_sys::planner_hook = Some(timed_planner);
    }
}

/// Total time this backend has spent planning since it loaded the extension.
pub fn total() -> Duration {
    PLANNING.with(|p| p.get())
}

/// Runs `f` and returns its result with the planning time spent inside it.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let before = total();
    let out = f();
    (out, total().saturating_sub(before))
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn timed_planner(
    parse: *mut pg_sys::Query,
    query_string: *const std::ffi::c_char,
    cursor_options: std::ffi::c_int,
    bound_params: pg_sys::ParamListInfo,
) -> *mut pg_sys::PlannedStmt {
    let start = Instant::now();
    // SAFETY: the arguments are the planner's own, passed on unchanged to the previous hook
    // or to standard_planner. An ERROR raised there crosses this frame as a Rust panic
    // (pg_guard_ffi_boundary for the hook's function pointer; pgrx's own guard for
    // standard_planner) and is turned back into an ERROR at this function's boundary by
    // `pg_guard`; nothing here needs cleaning up (the time of a failed call is not counted).
    let plan = unsafe {
        match PREVIOUS {
            Some(previous) => pg_sys::ffi::pg_guard_ffi_boundary(|| {
                previous(parse, query_string, cursor_options, bound_params)
            }),
            None => pg_sys::standard_planner(parse, query_string, cursor_options, bound_params),
        }
    };
    PLANNING.with(|p| p.set(p.get() + start.elapsed()));
    plan
}
