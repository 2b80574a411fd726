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

#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;

use pgrx::pg_sys;
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

/// A plan prepared with `SPI_prepare` and kept (`SPI_keepplan`) for [`run_refresh_statement_at`].
struct RawPlan(pg_sys::SPIPlanPtr);

impl Drop for RawPlan {
    fn drop(&mut self) {
        // SAFETY: a kept plan is freed exactly once, here, when the cache forgets it.
        unsafe { pg_sys::SPI_freeplan(self.0) };
    }
}

thread_local! {
    static AT_SNAPSHOT: RefCell<HashMap<(String, Vec<u32>), RawPlan>> = RefCell::new(HashMap::new());
}

/// [`run_refresh_statement`] at a given snapshot (ADR-002: a refresh runs at the snapshot
/// it decided how its sources are captured at, and drained the slot for).
pub fn run_refresh_statement_at(
    sql: &str,
    params: &[(String, String, i64)],
    snapshot: pg_sys::Snapshot,
) -> PgtResult<(Option<String>, Option<i64>, Option<i64>)> {
    let args = frontier_args(params);
    let mut rows = rows_at(sql, &args, snapshot, 3)?;
    if rows.is_empty() {
        return Ok((None, None, None));
    }
    let mut row = rows.swap_remove(0).into_iter();
    let snap = row.next().flatten();
    let inserted = row.next().flatten().and_then(|v| v.parse().ok());
    let deleted = row.next().flatten().and_then(|v| v.parse().ok());
    Ok((snap, inserted, deleted))
}

/// Runs `sql` from its kept plan at `snapshot` and returns the first `columns` columns of
/// every row as text. `SPI_execute_snapshot` runs the statement at a copy of `snapshot`
/// whose command id is advanced to the current one, so the rows this transaction wrote
/// since are visible (the drained changes of a refresh); PostgreSQL's
/// referential-integrity triggers run their checks the same way. pgrx has no wrapper for
/// it, hence the raw SPI calls.
pub fn rows_at(
    sql: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
    snapshot: pg_sys::Snapshot,
    columns: i32,
) -> PgtResult<Vec<Vec<Option<String>>>> {
    let types: Vec<u32> = args.iter().map(|a| a.oid().to_u32()).collect();
    let key = (sql.to_string(), types.clone());
    let csql = std::ffi::CString::new(sql).map_err(|_| crate::error::PgtError::WalCapture {
        what: "statement text contains a NUL byte".into(),
    })?;
    Spi::connect_mut(|_c| {
        // SAFETY: SPI is connected for the closure's duration (Spi::connect_mut). The plan is
        // prepared from a valid C string and argument type array, kept in long-lived memory
        // by SPI_keepplan and freed by RawPlan's drop; the argument arrays live until
        // SPI_execute_snapshot returns; the snapshot is registered by the caller for longer
        // than this call. The result's tuple table and descriptor are read for the rows
        // the statement returned (at most `SPI_processed`), only for columns it has, and
        // SPI_getvalue's strings are copied before SPI finishes (which frees them).
        unsafe {
            let plan = AT_SNAPSHOT.with(|m| m.borrow().get(&key).map(|p| p.0));
            let plan = match plan {
                Some(p) => p,
                None => {
                    let mut oids: Vec<pg_sys::Oid> =
                        types.iter().map(|&t| pg_sys::Oid::from(t)).collect();
                    let p =
                        pg_sys::SPI_prepare(csql.as_ptr(), oids.len() as i32, oids.as_mut_ptr());
                    if p.is_null() {
                        return Err(crate::error::PgtError::WalCapture {
                            what: format!(
                                "SPI_prepare failed ({})",
                                std::ptr::addr_of!(pg_sys::SPI_result).read()
                            ),
                        });
                    }
                    pg_sys::SPI_keepplan(p);
                    AT_SNAPSHOT.with(|m| {
                        let mut m = m.borrow_mut();
                        if m.len() >= MAX_ENTRIES {
                            m.clear();
                        }
                        m.insert(key.clone(), RawPlan(p));
                    });
                    p
                }
            };
            let mut values: Vec<pg_sys::Datum> = Vec::with_capacity(args.len());
            let mut nulls: Vec<std::os::raw::c_char> = Vec::with_capacity(args.len());
            for a in args {
                match a.datum() {
                    Some(d) => {
                        values.push(d.sans_lifetime());
                        nulls.push(b' ' as std::os::raw::c_char);
                    }
                    None => {
                        values.push(pg_sys::Datum::from(0usize));
                        nulls.push(b'n' as std::os::raw::c_char);
                    }
                }
            }
            let rc = pg_sys::SPI_execute_snapshot(
                plan,
                values.as_mut_ptr(),
                nulls.as_mut_ptr(),
                snapshot,
                std::ptr::null_mut(),
                false,
                true,
                0,
            );
            if rc < 0 {
                return Err(crate::error::PgtError::WalCapture {
                    what: format!("a refresh statement failed to run (SPI code {rc})"),
                });
            }
            let tt = pg_sys::SPI_tuptable;
            let mut out = Vec::new();
            if tt.is_null() {
                return Ok(out);
            }
            let desc = (*tt).tupdesc;
            let width = columns.min((*desc).natts);
            for i in 0..pg_sys::SPI_processed as usize {
                let tuple = *(*tt).vals.add(i);
                let mut row = Vec::with_capacity(width as usize);
                for col in 1..=width {
                    let p = pg_sys::SPI_getvalue(tuple, desc, col);
                    row.push(if p.is_null() {
                        None
                    } else {
                        Some(std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
                    });
                }
                out.push(row);
            }
            Ok(out)
        }
    })
}
