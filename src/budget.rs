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
        restore(std::mem::replace(&mut self.timer, TimerState::Untouched));
    }
}

/// Why [`within_delta_budget`] stopped a delta statement (its subtransaction rolled back).
#[derive(Debug)]
pub enum Stopped {
    /// Over one of the budget's limits; says which.
    OverBudget(String),
    /// Ran past AUTO's probation budget (`pgt_core::cost::probation_ms`) after this many
    /// milliseconds.
    Probation(f64),
    /// A source whose terms the statement left out changed after all
    /// (`pgt_dvm::operators::QUIET_SOURCE_CHANGED`): run the statement with them.
    QuietSourceChanged,
}

/// Runs `f` (the delta statement) in a subtransaction under the delta's own budget:
/// `pg_trickle.differential_temp_file_limit` and `pg_trickle.differential_statement_timeout`.
/// `probation_ms`, when given, is a tighter time limit of its own (AUTO's first incremental
/// attempt). Returns `Ok(Err(why))`, with the subtransaction rolled back, when the statement
/// hit a limit or found a quiet source changed; any other error propagates as usual.
pub fn within_delta_budget<T>(
    probation_ms: Option<f64>,
    f: impl FnOnce() -> crate::error::PgtResult<T>,
) -> crate::error::PgtResult<Result<T, Stopped>> {
    use pgrx::pg_sys::panic::CaughtError;
    use pgrx::PgSqlErrorCode;

    let temp_kb = crate::config::differential_temp_file_limit_kb();
    let configured_ms = crate::config::differential_statement_timeout_ms();
    let probation_ms = probation_ms
        .map(|ms| ms.ceil().clamp(1.0, f64::from(i32::MAX)) as i32)
        .filter(|&p| configured_ms <= 0 || p < configured_ms);
    let timeout_ms = probation_ms.unwrap_or(configured_ms);
    let started = std::time::Instant::now();
    // SAFETY: GUC nest levels and the internal-subtransaction protocol, as PL/pgSQL's
    // exception blocks use them: the nest level is opened before the subtransaction and
    // closed after it ends (so the subtransaction's abort never pops it); the memory
    // context and resource owner are restored after the subtransaction is released or
    // rolled back. `f` returns owned Rust values. The timer calls only reprogram the
    // process's interval timer (see `arm`).
    unsafe {
        let nest = pg_sys::NewGUCNestLevel();
        if temp_kb >= 0 && pg_sys::superuser() {
            set_saved(
                "temp_file_limit",
                &format!("{temp_kb}"),
                pg_sys::GucContext::PGC_SUSET,
            );
        }
        let timer = arm(timeout_ms);
        let ctx = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(ctx);
        // An ERROR inside `f` is caught below and its subtransaction rolled back, so no
        // state `f` touched is observed half-done.
        let f = std::panic::AssertUnwindSafe(f);
        let outcome = pgrx::PgTryBuilder::new(move || {
            let r = f();
            pg_sys::ReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(ctx);
            pg_sys::CurrentResourceOwner = owner;
            r.map(Ok)
        })
        .catch_others(|e| {
            pg_sys::MemoryContextSwitchTo(ctx);
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(ctx);
            pg_sys::CurrentResourceOwner = owner;
            let over = match &e {
                CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => {
                    match r.sql_error_code() {
                        PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED
                            if r.message().contains("temp_file_limit") =>
                        {
                            Some(Stopped::OverBudget(format!(
                                "would write more temporary files than pg_trickle.differential_temp_file_limit = {temp_kb}kB"
                            )))
                        }
                        PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE
                            if r.message() == pgt_dvm::operators::QUIET_SOURCE_CHANGED =>
                        {
                            Some(Stopped::QuietSourceChanged)
                        }
                        // A user's cancel request is not a budget: only our timer counts.
                        PgSqlErrorCode::ERRCODE_QUERY_CANCELED
                            if timeout_ms > 0 && r.message().contains("statement timeout") =>
                        {
                            Some(match probation_ms {
                                Some(_) => Stopped::Probation(started.elapsed().as_secs_f64() * 1000.0),
                                None => Stopped::OverBudget(format!(
                                    "ran longer than pg_trickle.differential_statement_timeout = {timeout_ms}ms"
                                )),
                            })
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            match over {
                Some(what) => Ok(Err(what)),
                None => e.rethrow(),
            }
        })
        .execute();
        restore(timer);
        pg_sys::AtEOXact_GUC(true, nest);
        outcome
    }
}

fn restore(timer: TimerState) {
    // SAFETY: see `arm`.
    unsafe {
        match timer {
            TimerState::Untouched => {}
            TimerState::Armed => guarded(|| disable_timeout(STATEMENT_TIMEOUT, false)),
            TimerState::Replaced(theirs) => {
                guarded(|| enable_timeout_at(STATEMENT_TIMEOUT, theirs))
            }
        }
    }
}
