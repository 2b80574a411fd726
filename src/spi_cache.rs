//! Statements prepared once per backend and kept. A refresh with nothing to do runs half a
//! dozen small catalog statements (look up the stream table, lock its row, read its
//! frontiers, count pending changes, record the refresh); parsing, analyzing and planning
//! them again on every call was about a third of its time. Each distinct statement text
//! (with its argument types) is prepared on first use and kept; PostgreSQL's plan cache
//! revalidates a kept plan before each execution (DDL, `ANALYZE`, a changed
//! `search_path`), so a kept statement never runs a stale plan. Statement texts name
//! everything with its schema. Delta statements are kept the same way, in a cache of their
//! own (`crate::statement_cache`), since their plans are much larger.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::thread::LocalKey;

use pgrx::datum::DatumWithOid;
use pgrx::spi::{OwnedPreparedStatement, Spi, SpiTupleTable};
use pgrx::PgOid;

use crate::error::PgtResult;

/// Kept statements by (text, argument type OIDs, whether it writes).
pub type Kept = RefCell<HashMap<(String, Vec<u32>, bool), Rc<OwnedPreparedStatement>>>;

thread_local! {
    static CATALOG: Kept = RefCell::new(HashMap::new());
}

/// Catalog statements above this are freed wholesale (texts that embed OIDs are one per
/// stream table or source).
const MAX_CATALOG: usize = 256;

/// The statement for `sql` with the types of `args` kept in `cache`, prepared now if this
/// backend has not yet; a cache holding `cap` statements is emptied first. `mutating`: the
/// statement writes or locks rows (run it with `SpiClient::update`).
pub fn kept_in(
    cache: &'static LocalKey<Kept>,
    cap: usize,
    sql: &str,
    args: &[DatumWithOid<'_>],
    mutating: bool,
) -> PgtResult<Rc<OwnedPreparedStatement>> {
    let types: Vec<u32> = args.iter().map(|a| a.oid().to_u32()).collect();
    let key = (sql.to_string(), types, mutating);
    if let Some(s) = cache.with(|m| m.borrow().get(&key).cloned()) {
        return Ok(s);
    }
    let oids: Vec<PgOid> = args.iter().map(|a| PgOid::from(a.oid())).collect();
    let stmt = Rc::new(Spi::connect(|c| -> PgtResult<OwnedPreparedStatement> {
        let p = if mutating {
            c.prepare_mut(sql, &oids)?
        } else {
            c.prepare(sql, &oids)?
        };
        Ok(p.keep())
    })?);
    cache.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= cap {
            m.clear();
        }
        m.insert(key, stmt.clone());
    });
    Ok(stmt)
}

/// [`kept_in`] the catalog statements' cache.
pub fn kept(
    sql: &str,
    args: &[DatumWithOid<'_>],
    mutating: bool,
) -> PgtResult<Rc<OwnedPreparedStatement>> {
    kept_in(&CATALOG, MAX_CATALOG, sql, args, mutating)
}

/// Runs the read-only statement `sql` from its kept plan and hands its rows (at most
/// `limit`) to `f`.
pub fn select_kept<R>(
    sql: &str,
    args: &[DatumWithOid<'_>],
    limit: Option<i64>,
    f: impl FnOnce(SpiTupleTable<'_>) -> PgtResult<R>,
) -> PgtResult<R> {
    let stmt = kept(sql, args, false)?;
    Spi::connect(|c| f(c.select(&*stmt, limit.map(|l| l as _), args)?))
}

/// [`select_kept`] for statements that write or lock rows (`FOR UPDATE`, `RETURNING`).
pub fn update_kept<R>(
    sql: &str,
    args: &[DatumWithOid<'_>],
    limit: Option<i64>,
    f: impl FnOnce(SpiTupleTable<'_>) -> PgtResult<R>,
) -> PgtResult<R> {
    let stmt = kept(sql, args, true)?;
    Spi::connect_mut(|c| f(c.update(&*stmt, limit.map(|l| l as _), args)?))
}

/// The arguments for frontier parameters (`pgt_cdc::Frontier::unconsumed_predicate_params`):
/// per frontier its snapshot (text), own xid (text) and own last change id (bigint).
pub fn frontier_args(params: &[(String, String, i64)]) -> Vec<DatumWithOid<'_>> {
    params
        .iter()
        .flat_map(|(snap, xid, id)| {
            [
                DatumWithOid::from(snap.as_str()),
                DatumWithOid::from(xid.as_str()),
                DatumWithOid::from(*id),
            ]
        })
        .collect()
}
