//! Translations paid for once: each backend (a session, a scheduler worker) keeps the
//! translated, rewritten operator tree of every stream table it refreshed, keyed by the
//! stored defining query and the settings it is parsed under. Any catalog change that could
//! change a translation drops it: a change to one of its sources' definitions (columns,
//! keys, generated expressions, collations; relcache invalidation of that relation) drops
//! the translations reading it, and a function's, type's, operator's or collation's
//! (syscache invalidation) empties the cache. Those messages arrive when the
//! backend next reads invalidations, which it does before every refresh's catalog reads.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::pg_sys;

use crate::error::PgtResult;
use crate::frontend::Translation;

thread_local! {
    static CACHE: RefCell<HashMap<String, Rc<Translation>>> = RefCell::new(HashMap::new());
    static REGISTERED: Cell<bool> = const { Cell::new(false) };
}

/// Entries above this are dropped wholesale (a backend refreshing thousands of stream
/// tables keeps a bounded cache).
const MAX_ENTRIES: usize = 256;

/// A relation's definition changed: the translations that read it are dropped (all of
/// them for `InvalidOid`, "every relation"). Other relations' messages (the change buffers
/// analyzed before a large refresh, storage tables written by refreshes) leave the cache
/// alone: a translation reads nothing of a relation but its sources' definitions.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_relcache(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if relid == pg_sys::InvalidOid {
            c.clear();
        } else {
            let r = relid.to_u32();
            c.retain(|_, t| !t.sources.contains(&r));
        }
    });
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_syscache(
    _arg: pg_sys::Datum,
    _cacheid: std::ffi::c_int,
    _hash: u32,
) {
    CACHE.with(|c| c.borrow_mut().clear());
}

fn register() {
    if REGISTERED.with(|r| r.replace(true)) {
        return;
    }
    use pg_sys::SysCacheIdentifier as S;
    // SAFETY: registering invalidation callbacks is allowed at any time in a backend; the
    // callbacks only clear a thread-local map (never raise an ERROR or touch catalogs).
    // They stay registered for the life of the process, which is what the registry expects.
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache), pg_sys::Datum::from(0));
        for id in [S::PROCOID, S::TYPEOID, S::OPEROID, S::COLLOID] {
            pg_sys::CacheRegisterSyscacheCallback(
                id as std::ffi::c_int,
                Some(on_syscache),
                pg_sys::Datum::from(0),
            );
        }
    }
}

/// The planned translation of `defining_query` under `pinned` settings, from the cache when
/// nothing it depends on changed since.
pub fn translate(defining_query: &str, pinned: &[String]) -> PgtResult<Rc<Translation>> {
    register();
    // SAFETY: AcceptInvalidationMessages processes pending invalidations (running the
    // callbacks above); it is what every catalog access does first anyway.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    let key = format!("{}\u{0}{}", pinned.join("\u{1}"), defining_query);
    if let Some(t) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(t);
    }
    let t = Rc::new(crate::frontend::translate(defining_query)?);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_ENTRIES {
            c.clear();
        }
        c.insert(key, t.clone());
    });
    Ok(t)
}
