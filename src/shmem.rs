//! Shared-memory counters, available when pg_trickle is in `shared_preload_libraries`.
//!
//! * the *launcher generation* is bumped by `CREATE EXTENSION pg_trickle`, so the launcher
//!   starts a scheduler for that database at once;
//! * the *catalog generation* is bumped by every create/alter/drop/resume, so schedulers
//!   reload their view of the catalog only when it changed.
//!
//! Both bumps happen when the calling transaction **commits**, never before: a worker that
//! woke up on a bump made inside a still-open transaction would read the old catalog,
//! remember the new generation, and miss the change until the next one.
#![allow(unsafe_code)]
// pgrx's pg_shmem_init! checks cfgs of older PostgreSQL versions this crate does not define.
#![allow(unexpected_cfgs)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pgrx::prelude::*;
use pgrx::{pg_shmem_init, pg_sys, register_xact_callback, PgAtomic, PgXactCallbackEvent};

// SAFETY: the names are unique to pg_trickle and registered once, in _PG_init.
static LAUNCHER_GENERATION: PgAtomic<AtomicU64> =
    unsafe { PgAtomic::new(c"pg_trickle_launcher_generation") };
static CATALOG_GENERATION: PgAtomic<AtomicU64> =
    unsafe { PgAtomic::new(c"pg_trickle_catalog_generation") };

/// Set in the postmaster (and inherited by every child) when shared memory was requested.
static READY: AtomicBool = AtomicBool::new(false);

/// Requests shared memory; only possible while shared_preload_libraries is processed.
pub fn init() -> bool {
    // SAFETY: reading a postmaster global that PostgreSQL sets before calling _PG_init.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return false;
    }
    pg_shmem_init!(LAUNCHER_GENERATION);
    pg_shmem_init!(CATALOG_GENERATION);
    READY.store(true, Ordering::SeqCst);
    true
}

/// Bumps the launcher generation when the current transaction commits.
pub fn bump_launcher() {
    on_commit(&PENDING_LAUNCHER, || {
        LAUNCHER_GENERATION.get().fetch_add(1, Ordering::SeqCst);
    });
}

pub fn launcher_generation() -> u64 {
    if READY.load(Ordering::SeqCst) {
        LAUNCHER_GENERATION.get().load(Ordering::SeqCst)
    } else {
        0
    }
}

/// Bumps the catalog generation when the current transaction commits.
pub fn bump_catalog() {
    on_commit(&PENDING_CATALOG, || {
        CATALOG_GENERATION.get().fetch_add(1, Ordering::SeqCst);
    });
}

// Whether this backend's current transaction already has a bump of that counter pending
// (backends are single-threaded; the flags only keep one callback per transaction).
static PENDING_LAUNCHER: AtomicBool = AtomicBool::new(false);
static PENDING_CATALOG: AtomicBool = AtomicBool::new(false);

fn on_commit(pending: &'static AtomicBool, bump: fn()) {
    if !READY.load(Ordering::SeqCst) || pending.swap(true, Ordering::SeqCst) {
        return;
    }
    // Neither callback can raise an error: they only touch atomics.
    register_xact_callback(PgXactCallbackEvent::Commit, move || {
        pending.store(false, Ordering::SeqCst);
        bump();
    });
    register_xact_callback(PgXactCallbackEvent::Abort, move || {
        pending.store(false, Ordering::SeqCst)
    });
}

pub fn catalog_generation() -> u64 {
    if READY.load(Ordering::SeqCst) {
        CATALOG_GENERATION.get().load(Ordering::SeqCst)
    } else {
        0
    }
}
