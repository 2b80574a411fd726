//! Every refresh runs within a budget, so that a runaway delta (a huge join, a query that
//! writes temporary files without end) fails cleanly with PostgreSQL's own error instead of
//! exhausting the server:
//!
//! * `pg_trickle.refresh_statement_timeout`: PostgreSQL's statement timeout, armed for the
//!   refresh (for manual refreshes: never later than the session's own statement timeout
//!   would fire). It works in the scheduler too, which has no top-level statement.
//! * `pg_trickle.refresh_work_mem` and `pg_trickle.refresh_temp_file_limit`: `work_mem` and
//!   `temp_file_limit` for the refresh, at a GUC nest level that the end of the refresh (or
//!   its abort) pops.
//! * The planner's search limits (`join_collapse_limit`, `from_collapse_limit`, `geqo`,
//!   `geqo_threshold`) at PostgreSQL's defaults, whatever the session has: planning effort
//!   is not bounded by `work_mem`.
//!
//! [`RefreshScope`] also pins `search_path` (see [`crate::security`]) and the stream table's
//! pinned session settings (see [`crate::settings`]).
#![allow(unsafe_code)]

use pgrx::pg_sys;

use crate::settings::set_saved;

/// `TimeoutId` values of `utils/timeout.h` (not in pgrx's bindings).
const STATEMENT_TIMEOUT: i32 = 3;

// PostgreSQL's timeout module (`utils/timeout.h`), which pgrx does not bind. None of these
// raise ERRORs for a registered timeout id; each call still goes through pgrx's FFI
// boundary guard (`guarded`), so one never unwinds through Rust frames by longjmp.
unsafe extern "C-unwind" {
    fn enable_timeout_after(id: i32, delay_ms: i32);
    fn enable_timeout_at(id: i32, fin_time: pg_sys::TimestampTz);
    fn disable_timeout(id: i32, keep_indicator: bool);
    fn get_timeout_active(id: i32) -> bool;
    fn get_timeout_finish_time(id: i32) -> pg_sys::TimestampTz;
}

/// SAFETY: `f` must call only PostgreSQL functions that are safe to call here.
unsafe fn guarded<T>(f: impl FnOnce() -> T) -> T {
    pg_sys::submodules::ffi::pg_guard_ffi_boundary(f)
}

/// While alive: pinned search_path, the refresh's work_mem and temp_file_limit, and its
/// statement timeout.
pub struct RefreshScope {
    _path: crate::security::PinnedSearchPath,
    timer: TimerState,
}

enum TimerState {
    /// We did not arm anything (no budget, or an earlier deadline was already armed).
    Untouched,
    /// We armed the timer; there was none before.
    Armed,
    /// We moved an armed deadline earlier; this is the one to restore.
    Replaced(pg_sys::TimestampTz),
}

impl RefreshScope {
    /// `pinned` are the stream table's pinned settings (`crate::settings`).
    pub fn enter(pinned: &[String]) -> Self {
        let path = crate::security::PinnedSearchPath::enter();
        crate::settings::apply(pinned);
        // SAFETY: superuser() reads the current user id and its pg_authid row.
        let context = if unsafe { pg_sys::superuser() } {
            pg_sys::GucContext::PGC_SUSET
        } else {
            pg_sys::GucContext::PGC_USERSET
        };
        let work_mem = crate::config::refresh_work_mem_kb();
        if work_mem > 0 {
            set_saved("work_mem", &format!("{work_mem}kB"), context);
        }
        if context == pg_sys::GucContext::PGC_SUSET {
            let limit = crate::config::refresh_temp_file_limit_kb();
            set_saved("temp_file_limit", &format!("{limit}"), context);
        }
        // The planner's own search effort is not bounded by work_mem: a session with
        // join_collapse_limit = 32 and GEQO off can make planning one delta statement of
        // a long join chain exhaust memory. Refreshes plan with PostgreSQL's defaults.
        for (name, value) in [
            ("join_collapse_limit", "8"),
            ("from_collapse_limit", "8"),
            ("geqo", "on"),
            ("geqo_threshold", "12"),
        ] {
            set_saved(name, value, pg_sys::GucContext::PGC_USERSET);
        }
        let timer = arm(crate::config::refresh_statement_timeout_ms());
        RefreshScope { _path: path, timer }
    }
}

fn arm(ms: i32) -> TimerState {
    if ms <= 0 {
        return TimerState::Untouched;
    }
    // SAFETY: the timeout module's functions only read and reprogram the process's
    // interval timer and its table of registered timeouts; STATEMENT_TIMEOUT is registered
    // by InitPostgres in every backend and background worker with a database connection.
    unsafe {
        guarded(|| {
            let ours = pg_sys::GetCurrentTimestamp() + i64::from(ms) * 1000;
            if get_timeout_active(STATEMENT_TIMEOUT) {
                let theirs = get_timeout_finish_time(STATEMENT_TIMEOUT);
                if theirs <= ours {
                    return TimerState::Untouched;
                }
                enable_timeout_at(STATEMENT_TIMEOUT, ours);
                return TimerState::Replaced(theirs);
            }
            enable_timeout_after(STATEMENT_TIMEOUT, ms);
            TimerState::Armed
        })
    }
}

impl Drop for RefreshScope {
    fn drop(&mut self) {
        // Also during an ERROR's unwinding: a timer left armed would cancel whatever the
        // session (or the scheduler) runs next. These calls only reprogram the timer.
        // SAFETY: see `arm`.
        unsafe {
            match self.timer {
                TimerState::Untouched => {}
                TimerState::Armed => guarded(|| disable_timeout(STATEMENT_TIMEOUT, false)),
                TimerState::Replaced(theirs) => {
                    guarded(|| enable_timeout_at(STATEMENT_TIMEOUT, theirs))
                }
            }
        }
    }
}
