//! Statements prepared once per backend and kept. A refresh with nothing to do runs half a
//! dozen small catalog statements (look up the stream table, lock its row, read its
//! frontiers, count pending changes, record the refresh); parsing, analyzing and planning
//! them again on every call was about a third of its time. Each distinct statement text
//! (with its argument types) is prepared on first use and kept; PostgreSQL's plan cache
//! revalidates a kept plan before each execution (DDL, `ANALYZE`, a changed
//! `search_path`), so a kept statement never runs a stale plan. Statement texts name
//! everything with its schema. Kept catalog statements run with their generic plan from the
//! first execution on ([`GenericPlans`]): left to itself, the plan cache plans each of the
//! first five executions afresh before it trusts the generic plan, which made the second to
//! fifth refresh of a session twice as slow as later ones (0.8–1.4 ms against 0.4–0.7 ms
//! for a refresh with nothing to do). Delta statements are kept the same way, in a cache of their
//! own (`crate::statement_cache`), since their plans are much larger.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::thread::LocalKey;

use pgrx::datum::DatumWithOid;
use pgrx::spi::{OwnedPreparedStatement, Spi, SpiTupleTable};
use pgrx::{pg_sys, PgOid};

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

/// While alive, the plan cache uses generic plans (`plan_cache_mode =
/// force_generic_plan`) for the statements executed: set on the variable itself and put
/// back on drop, including when an ERROR unwinds through it. A kept catalog statement's
/// parameters are keys of small catalog tables, so its generic plan is the plan for any
/// value; going through the GUC machinery (a nest level per statement) would cost more
/// than the planning it saves.
pub struct GenericPlans(i32);

impl GenericPlans {
    pub fn enter() -> Self {
        // SAFETY: a backend is single-threaded and `plan_cache_mode` is a plain int GUC
        // variable that the plan cache reads when it chooses a plan; any value of the enum
        // is valid, and the previous value is restored on drop.
        unsafe {
            let old = pg_sys::plan_cache_mode;
            pg_sys::plan_cache_mode =
                pg_sys::PlanCacheMode::PLAN_CACHE_MODE_FORCE_GENERIC_PLAN as i32;
            GenericPlans(old)
        }
    }
}

impl Drop for GenericPlans {
    fn drop(&mut self) {
        // SAFETY: as in `enter`; puts back the value read there.
        unsafe { pg_sys::plan_cache_mode = self.0 };
    }
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
    let _generic = GenericPlans::enter();
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
    let _generic = GenericPlans::enter();
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
