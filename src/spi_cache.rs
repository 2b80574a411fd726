//! Catalog statements prepared once per backend. A refresh with nothing to do runs half a
//! dozen small statements (look up the stream table, lock its row, read its frontiers,
//! count pending changes, record the refresh); parsing, analyzing and planning them again
//! on every call was about a third of its time. Each distinct statement text (with its
//! argument types) is prepared on first use and kept; PostgreSQL's plan cache revalidates
//! a kept plan before each execution (DDL, `ANALYZE`, a changed `search_path`), so a kept
//! statement never runs a stale plan. Statement texts name everything with its schema.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::datum::DatumWithOid;
use pgrx::spi::{OwnedPreparedStatement, Spi};
use pgrx::PgOid;

use crate::error::PgtResult;

type Key = (String, Vec<u32>, bool);

thread_local! {
    static KEPT: RefCell<HashMap<Key, Rc<OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
}

/// Kept statements above this are freed wholesale (texts that embed OIDs are one per
/// stream table or source).
const MAX_ENTRIES: usize = 256;

/// The kept statement for `sql` with the types of `args`, prepared now if this backend has
/// not yet. `mutating`: the statement writes or locks rows (then run it with
/// `SpiClient::update`).
pub fn kept(
    sql: &str,
    args: &[DatumWithOid<'_>],
    mutating: bool,
) -> PgtResult<Rc<OwnedPreparedStatement>> {
    let types: Vec<u32> = args.iter().map(|a| a.oid().to_u32()).collect();
    let key = (sql.to_string(), types, mutating);
    if let Some(s) = KEPT.with(|m| m.borrow().get(&key).cloned()) {
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
    KEPT.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(key, stmt.clone());
    });
    Ok(stmt)
}
