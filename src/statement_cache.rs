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
use std::rc::Rc;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::PgBuiltInOids;
use pgrx::spi::{OwnedPreparedStatement, Spi};
use pgrx::PgOid;

use crate::error::PgtResult;

thread_local! {
    static STATEMENTS: RefCell<HashMap<String, Rc<OwnedPreparedStatement>>> =
        RefCell::new(HashMap::new());
}

/// Kept plans above this are freed wholesale (a backend refreshing many stream tables keeps
/// a bounded amount of plan memory).
const MAX_ENTRIES: usize = 64;

/// The kept statement for `sql`, whose parameters are `frontiers` triples of
/// (snapshot text, own xid text, own change id), prepared now if this backend has not yet.
fn prepared(sql: &str, frontiers: usize) -> PgtResult<Rc<OwnedPreparedStatement>> {
    if let Some(s) = STATEMENTS.with(|m| m.borrow().get(sql).cloned()) {
        return Ok(s);
    }
    let types: Vec<PgOid> = (0..frontiers)
        .flat_map(|_| {
            [
                PgOid::BuiltIn(PgBuiltInOids::TEXTOID),
                PgOid::BuiltIn(PgBuiltInOids::TEXTOID),
                PgOid::BuiltIn(PgBuiltInOids::INT8OID),
            ]
        })
        .collect();
    let stmt = Rc::new(Spi::connect(|c| -> PgtResult<OwnedPreparedStatement> {
        Ok(c.prepare_mut(sql, &types)?.keep())
    })?);
    STATEMENTS.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(sql.to_string(), stmt.clone());
    });
    Ok(stmt)
}

/// Runs the refresh statement `sql` (one row: snapshot, rows inserted, rows deleted) with
/// these frontier parameters, from its kept plan.
pub fn run_refresh_statement(
    sql: &str,
    params: &[(String, String, i64)],
) -> PgtResult<(Option<String>, Option<i64>, Option<i64>)> {
    let stmt = prepared(sql, params.len())?;
    let args: Vec<DatumWithOid> = params
        .iter()
        .flat_map(|(snap, xid, id)| {
            [
                DatumWithOid::from(snap.as_str()),
                DatumWithOid::from(xid.as_str()),
                DatumWithOid::from(*id),
            ]
        })
        .collect();
    Spi::connect_mut(|c| {
        let table = c.update(&*stmt, None, &args)?;
        Ok(table.first().get_three::<String, i64, i64>()?)
    })
}
