//! Subtransactions around Rust code, with PostgreSQL's internal-subtransaction protocol
//! (as PL/pgSQL's exception blocks use it).
#![allow(unsafe_code)]

use pgrx::pg_sys;

use crate::error::PgtResult;

/// Runs `f` in a subtransaction; an ERROR inside rolls it back and comes back as its
/// message.
pub fn attempt<T>(f: impl FnOnce() -> PgtResult<T>) -> Result<T, String> {
    // SAFETY: the internal-subtransaction protocol as PL/pgSQL's exception blocks use it:
    // the memory context and resource owner are saved before the subtransaction begins and
    // restored after it is released or rolled back, on every path; `f` returns owned values,
    // nothing allocated in the subtransaction's memory.
    unsafe {
        let ctx = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(ctx);
        let f = std::panic::AssertUnwindSafe(f);
        pgrx::PgTryBuilder::new(move || {
            let r = f();
            match r {
                Ok(v) => {
                    pg_sys::ReleaseCurrentSubTransaction();
                    pg_sys::MemoryContextSwitchTo(ctx);
                    pg_sys::CurrentResourceOwner = owner;
                    Ok(v)
                }
                Err(e) => {
                    pg_sys::RollbackAndReleaseCurrentSubTransaction();
                    pg_sys::MemoryContextSwitchTo(ctx);
                    pg_sys::CurrentResourceOwner = owner;
                    Err(e.to_string())
                }
            }
        })
        .catch_others(|e| {
            pg_sys::MemoryContextSwitchTo(ctx);
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(ctx);
            pg_sys::CurrentResourceOwner = owner;
            Err(match e {
                pgrx::pg_sys::panic::CaughtError::PostgresError(r)
                | pgrx::pg_sys::panic::CaughtError::ErrorReport(r) => r.message().to_string(),
                other => format!("{other:?}"),
            })
        })
        .execute()
    }
}

/// Runs `f` in a subtransaction that is rolled back afterwards, whatever `f` changed (an
/// error inside `f` aborts the caller's transaction as usual).
pub fn rolled_back<T>(f: impl FnOnce() -> PgtResult<T>) -> PgtResult<T> {
    // SAFETY: the standard internal-subtransaction protocol (as PL/pgSQL's exception
    // blocks use it): remember the memory context and resource owner, begin, run, roll
    // back and release, restore both. `f` returns owned Rust values, so nothing allocated
    // in the subtransaction's memory is used after it ends.
    unsafe {
        let ctx = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(ctx);
        let r = f();
        pg_sys::RollbackAndReleaseCurrentSubTransaction();
        pg_sys::MemoryContextSwitchTo(ctx);
        pg_sys::CurrentResourceOwner = owner;
        r
    }
}
