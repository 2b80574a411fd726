//! Stream tables that arrived through `pg_dump` / `pg_restore` (ADR-064).
//!
//! A dump holds what a stream table *is* — its storage table with the rows of its last
//! refresh (an ordinary table of its schema, with its primary key, users' indexes, grants
//! and triggers) and its row of `pgtrickle.pgt_stream_tables` (a configuration table of
//! the extension) — and none of what pg_trickle derives from it: dependencies, change
//! buffers, state tables, capture and guard triggers (extension members and internal
//! triggers are not dumped), frontiers and history (meaningless in another database). The catalog row's restore trigger binds it
//! to the storage table of the same name and sets `restored_at`.
//!
//! [`rebind_restored`] then re-creates the rest, as `create_stream_table` would, without
//! touching the storage: it re-analyzes the stored query (names resolve to this database's
//! objects), records the dependencies, creates buffers, capture triggers and state tables,
//! creates the guard triggers, and leaves no frontier, so the next refresh recomputes in
//! full. It waits until the storage table's primary key exists: pg_dump restores it after
//! the table's rows (post-data), so no refresh can run before the dumped rows are in, and
//! a later `COPY` could never add them to a recomputed table. Sources restored after that point are
//! captured from then on; their rows committed before are read by the full refresh.
//!
//! Called by the scheduler whenever it reloads the catalog, and by every management
//! function for the stream table it names.

use pgrx::prelude::*;
use pgt_core::RefreshMode;
use pgt_sql::QualifiedName;

use crate::api::Resolved;
use crate::error::PgtResult;
use crate::security::{AsOwner, AsPgTrickle};

/// Restored stream tables whose storage is complete (its primary key exists), by id.
fn ready(only: Option<i64>) -> PgtResult<Vec<i64>> {
    Spi::connect(|c| -> PgtResult<Vec<i64>> {
        let mut out = Vec::new();
        for row in c.select(
            "SELECT s.pgt_id FROM pgtrickle.pgt_stream_tables s \
              WHERE s.restored_at IS NOT NULL AND s.status OPERATOR(pg_catalog.<>) 'ERROR' \
                AND ($1::pg_catalog.int8 IS NULL OR s.pgt_id OPERATOR(pg_catalog.=) $1) \
                AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i \
                             WHERE i.indrelid OPERATOR(pg_catalog.=) s.pgt_relid AND i.indisprimary) \
              ORDER BY s.pgt_id",
            None,
            &[only.into()],
        )? {
            if let Some(id) = row.get::<i64>(1)? {
                out.push(id);
            }
        }
        Ok(out)
    })
}

/// Rebinds every restored stream table that is ready (or only `only`). One that cannot be
/// rebound (a source was not restored, its owner may no longer read one, …) is set to
/// ERROR with the reason. Returns how many were rebound.
pub fn rebind_restored(only: Option<i64>) -> PgtResult<usize> {
    let ids = ready(only)?;
    if ids.is_empty() {
        return Ok(0);
    }
    let _pgt = AsPgTrickle::enter();
    let mut done = 0;
    for id in ids {
        match crate::subtransaction::attempt(|| rebind_one(id)) {
            Ok(()) => done += 1,
            Err(message) => {
                Spi::run_with_args(
                    "UPDATE pgtrickle.pgt_stream_tables \
                        SET status = 'ERROR', updated_at = pg_catalog.now(), \
                            status_reason = 'could not re-create its change capture after a restore: ' OPERATOR(pg_catalog.||) $2 \
                      WHERE pgt_id OPERATOR(pg_catalog.=) $1",
                    &[id.into(), message.into()],
                )?;
            }
        }
    }
    crate::shmem::bump_catalog();
    Ok(done)
}

fn rebind_one(pgt_id: i64) -> PgtResult<()> {
    // The scheduler and a management call may both get here: the first locks the row, the
    // second waits and then finds it rebound (READ COMMITTED re-checks the condition).
    let Some(mode) = crate::catalog::first_value_mut::<String>(
        "SELECT s.refresh_mode FROM pgtrickle.pgt_stream_tables s \
          WHERE s.pgt_id OPERATOR(pg_catalog.=) $1 AND s.restored_at IS NOT NULL FOR UPDATE",
        &[pgt_id.into()],
    )?
    else {
        return Ok(());
    };
    let mode: RefreshMode = mode.parse()?;
    let Some(st) = crate::catalog::lookup_by_id(pgt_id)? else {
        return Ok(());
    };
    let table: QualifiedName = st.table.clone();
    // The stored query is analyzed under the settings it was created with, as its owner.
    let _scope = crate::budget::RefreshScope::enter(&st.pinned_settings);
    let _ddl = crate::guard::InternalDdl::enter();
    let (analyzed, resolved) = {
        let _owner = AsOwner::enter(st.owner);
        let analyzed = crate::analyze::analyze_defining_query(&st.defining_query)?;
        let resolved = crate::api::resolve(mode, &analyzed.deparsed, &table)?;
        (analyzed, resolved)
    };
    let sources: Vec<pg_sys::Oid> = analyzed.sources.iter().map(|s| s.relid).collect();
    crate::ownership::check_owner_can_read(
        st.owner,
        &st.display_name(),
        &sources,
        mode == RefreshMode::Immediate,
    )?;
    Spi::run_with_args(
        "DELETE FROM pgtrickle.pgt_dependencies WHERE pgt_id OPERATOR(pg_catalog.=) $1",
        &[pgt_id.into()],
    )?;
    crate::catalog::insert_dependencies(pgt_id, &analyzed.sources)?;
    Spi::run_with_args(
        "UPDATE pgtrickle.pgt_stream_tables \
            SET effective_refresh_mode = $2, refresh_mode_reason = $3, restored_at = NULL, \
                consecutive_errors = 0, updated_at = pg_catalog.now() \
          WHERE pgt_id OPERATOR(pg_catalog.=) $1",
        &[
            pgt_id.into(),
            resolved.effective().into(),
            resolved.reason().into(),
        ],
    )?;
    if let Resolved::Differential { translation, spec } = &resolved {
        crate::api::prepare_incremental(&table, translation, spec, true)?;
        if mode == RefreshMode::Immediate {
            crate::immediate::install(pgt_id, &translation.sources)?;
        }
    }
    crate::cdc::repair_guard_triggers(st.relid, &table)?;
    crate::catalog::record_storage_columns(pgt_id)?;
    crate::catalog::reset_frontiers(pgt_id)?;
    Ok(())
}
