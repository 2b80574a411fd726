//! Delta statements prepared once per backend and reused. A small refresh's time is mostly
//! PostgreSQL planning its delta statement (a 5-way join: several milliseconds; an 8-way
//! join with its CTEs: 80 ms), so the delta statement is written with its frontiers as
//! parameters
//! (`pgt_cdc::Frontier::unconsumed_predicate_params`), prepared once, and executed with a
//! generic plan: the parameters occur only in the change-buffer conditions, whose
//! estimates do not depend on their values, so a plan for one set of values is the plan
//! for every set.
//!
//! PostgreSQL's plan cache revalidates a kept plan before every execution: DDL on anything
//! it reads, an `ANALYZE` of a table or buffer, or a changed function replans it. The cache
//! is keyed by the statement's text, so a stream table whose tree, storage or pending
//! shape changed gets a statement of its own. A generic plan sees the same statistics a
//! fresh plan would: the buffers of large deltas are analyzed before the statement runs
//! (when their statistics are stale), and that invalidates the kept plan, which is then
//! planned again with the new statistics.

use std::cell::RefCell;
use std::collections::HashMap;

use pgrx::spi::Spi;

use crate::error::PgtResult;
use crate::spi_cache::{frontier_args, kept_in, Kept};

thread_local! {
    static STATEMENTS: Kept = RefCell::new(HashMap::new());
}

/// Kept plans above this are freed wholesale (a backend refreshing many stream tables keeps
/// a bounded amount of plan memory).
const MAX_ENTRIES: usize = 64;

/// Runs the refresh statement `sql` (one row: snapshot, rows inserted, rows deleted) with
/// these frontier parameters, from its kept plan (prepared now if this backend has not yet).
pub fn run_refresh_statement(
    sql: &str,
    params: &[(String, String, i64)],
) -> PgtResult<(Option<String>, Option<i64>, Option<i64>)> {
    let args = frontier_args(params);
    let stmt = kept_in(&STATEMENTS, MAX_ENTRIES, sql, &args, true)?;
    Spi::connect_mut(|c| {
        let table = c.update(&*stmt, None, &args)?;
        Ok(table.first().get_three::<String, i64, i64>()?)
    })
}
