//! Refreshing a stream table. A FULL refresh is one statement (see
//! `pgt_sql::full_refresh`) run in the caller's transaction: readers keep seeing the old
//! contents until it commits, never a half-refreshed table. An EXCLUSIVE lock on the
//! storage table serializes refreshes of the same stream table while letting readers in.

use pgrx::prelude::*;
use pgt_core::OutputColumn;
use pgt_sql::full_refresh::full_refresh_statement;

use crate::catalog::{self, HistoryEntry, StreamTable};
use crate::error::PgtResult;
use crate::guard::RefreshWriteGuard;

/// Who asked for a refresh, as recorded in `pgt_refresh_history.initiated_by`.
#[derive(Debug, Clone, Copy)]
pub enum Initiator {
    Create,
    Manual,
}

impl Initiator {
    fn as_str(self) -> &'static str {
        match self {
            Initiator::Create => "CREATE",
            Initiator::Manual => "MANUAL",
        }
    }
}

/// What a refresh changed.
#[derive(Debug, Clone, Copy)]
pub struct RefreshOutcome {
    pub rows_inserted: i64,
    pub rows_deleted: i64,
}

/// Recomputes the defining query and applies the difference to the storage table.
pub fn full_refresh(st: &StreamTable, initiator: Initiator, reason: Option<&str>) -> PgtResult<RefreshOutcome> {
    Spi::run(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", st.table))?;
    let started_at = Spi::get_one::<TimestampWithTimeZone>("SELECT pg_catalog.clock_timestamp()")?
        .expect("clock_timestamp() is not NULL");

    let columns: Vec<OutputColumn> = catalog::storage_columns(st.relid)?
        .into_iter()
        .map(|name| OutputColumn { name, type_sql: String::new(), collation_sql: None, is_pseudo_type: false })
        .collect();
    let sql = full_refresh_statement(&st.table, &columns, &st.defining_query);
    let (deleted, inserted) = {
        let _writing = RefreshWriteGuard::enter();
        Spi::get_two::<i64, i64>(&sql)?
    };
    let outcome = RefreshOutcome { rows_inserted: inserted.unwrap_or(0), rows_deleted: deleted.unwrap_or(0) };

    catalog::mark_refreshed(st.pgt_id, started_at)?;
    catalog::insert_history(&HistoryEntry {
        pgt_id: st.pgt_id,
        action: "FULL",
        status: "COMPLETED",
        started_at,
        rows_inserted: outcome.rows_inserted,
        rows_deleted: outcome.rows_deleted,
        error_message: None,
        reason,
        initiated_by: initiator.as_str(),
    })?;
    Ok(outcome)
}
