//! Stream tables are read-only for users. Two statement-level BEFORE triggers on every
//! storage table call [`_guard_stream_table`], which refuses INSERT, UPDATE, DELETE and
//! TRUNCATE unless this backend is inside a refresh, as marked by [`RefreshWriteGuard`].
//! The mark lives in backend-local memory, so no SQL (no GUC, no SET) can fake it.
//! [`InternalDdl`] marks pg_trickle's own DDL the same way, for the event triggers.

use std::cell::Cell;

use pgrx::prelude::*;
use pgrx::{PgSqlErrorCode, WhoAllocated};

thread_local! {
    static REFRESH_DEPTH: Cell<u32> = const { Cell::new(0) };
    static INTERNAL_DDL_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// While alive, DDL in this backend is pg_trickle's own (creating, syncing, repairing or
/// dropping buffers, capture triggers and storage tables): the event triggers that refuse
/// tampering with those objects let it through. Backend-local, like the write guard.
pub struct InternalDdl(());

impl InternalDdl {
    pub fn enter() -> Self {
        INTERNAL_DDL_DEPTH.with(|d| d.set(d.get() + 1));
        InternalDdl(())
    }
}

impl Drop for InternalDdl {
    fn drop(&mut self) {
        let depth = INTERNAL_DDL_DEPTH.with(|d| {
            d.set(d.get().saturating_sub(1));
            d.get()
        });
        // Leaving the outermost scope: whatever it created is made pg_trickle's for
        // pg_dump's purposes (ADR-064). Not while an ERROR unwinds: the (sub)transaction's
        // abort undoes the DDL anyway.
        if depth == 0 && !std::thread::panicking() {
            crate::error::or_report(crate::cdc::settle_internal_objects());
        }
    }
}

pub fn internal_ddl_in_progress() -> bool {
    INTERNAL_DDL_DEPTH.with(|d| d.get() > 0)
}

/// Is pg_trickle itself writing its catalog now (not a restore)? Used by the catalog's
/// restore trigger (`pgtrickle._on_stream_table_restore`).
#[pg_extern(volatile, parallel_unsafe)]
fn _internal_write() -> bool {
    internal_ddl_in_progress()
}

/// While alive, this backend may write to storage tables. Dropped on every exit path,
/// including an ERROR unwinding through it.
pub struct RefreshWriteGuard(());

impl RefreshWriteGuard {
    pub fn enter() -> Self {
        REFRESH_DEPTH.with(|d| d.set(d.get() + 1));
        RefreshWriteGuard(())
    }
}

impl Drop for RefreshWriteGuard {
    fn drop(&mut self) {
        REFRESH_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

fn refresh_in_progress() -> bool {
    REFRESH_DEPTH.with(|d| d.get() > 0)
}

/// Trigger function behind the guard triggers of every storage table.
#[pg_trigger]
fn _guard_stream_table<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, impl WhoAllocated>>, PgTriggerError> {
    if refresh_in_progress() {
        return Ok(None::<PgHeapTuple<'a, AllocatedByPostgres>>);
    }
    let op = match trigger.op()? {
        PgTriggerOperation::Insert => "INSERT",
        PgTriggerOperation::Update => "UPDATE",
        PgTriggerOperation::Delete => "DELETE",
        PgTriggerOperation::Truncate => "TRUNCATE",
    };
    let name = format!("{}.{}", trigger.table_schema()?, trigger.table_name()?);
    pgrx::pg_sys::panic::ErrorReport::new(
        PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
        format!("cannot {op} stream table \"{name}\""),
        "pg_trickle",
    )
    .set_detail("Stream tables are maintained by pg_trickle; their contents follow their defining query.")
    .set_hint("Change the source tables and refresh, or use pgtrickle.alter_stream_table / drop_stream_table.")
    .report(PgLogLevel::ERROR);
    unreachable!()
}
