//! Running pg_trickle's generated SQL with exactly the rights it should have (ADR-074).
//!
//! * [`PinnedSearchPath`]: while alive, `search_path` is `pg_catalog, pg_temp`, so no name in
//!   generated SQL can resolve to an object a user planted in `public` or any other schema.
//!   It is a GUC nest level, as a function's `SET search_path` clause is: leaving the scope
//!   restores the caller's setting, and an ERROR's (sub)transaction abort unwinds it.
//! * [`AsOwner`]: while alive, the current user is the stream table's owner, under
//!   `SECURITY_RESTRICTED_OPERATION` and a pinned search path — exactly what
//!   `REFRESH MATERIALIZED VIEW` does around its query. The defining query then runs with
//!   the owner's rights, never with those of whoever (or whichever worker) asked for the
//!   refresh, and code it reaches cannot change roles, create temporary objects or leave
//!   settings behind.
//! * [`AsPgTrickle`]: while alive, the current user is the bootstrap superuser — the
//!   identity the scheduler runs under — with a pinned search path. Management functions
//!   called by a stream table's (non-superuser) owner enter it after their privilege checks,
//!   to do what only pg_trickle may do (catalog rows, change buffers, capture triggers on
//!   sources); everything that evaluates user code inside still runs under [`AsOwner`].
#![allow(unsafe_code)]

use pgrx::pg_sys;

/// `search_path = pg_catalog, pg_temp` for the lifetime of the value.
pub struct PinnedSearchPath {
    nest: i32,
}

impl PinnedSearchPath {
    pub fn enter() -> Self {
        // SAFETY: NewGUCNestLevel only increments the GUC nest counter; RestrictSearchPath
        // sets search_path with GUC_ACTION_SAVE at that level (PostgreSQL's own helper for
        // maintenance commands). Both need a transaction, which every caller is inside.
        let nest = unsafe { pg_sys::NewGUCNestLevel() };
        unsafe { pg_sys::RestrictSearchPath() };
        PinnedSearchPath { nest }
    }
}

impl Drop for PinnedSearchPath {
    fn drop(&mut self) {
        // During an ERROR's unwinding the (sub)transaction abort pops this level; calling
        // into the GUC machinery in the middle of error recovery is not needed and not safe.
        if !std::thread::panicking() {
            // SAFETY: pops exactly the level `enter` pushed (levels nest like scopes).
            unsafe { pg_sys::AtEOXact_GUC(true, self.nest) };
        }
    }
}

/// Runs as `owner` under `SECURITY_RESTRICTED_OPERATION` for the lifetime of the value.
pub struct AsOwner {
    prev_user: pg_sys::Oid,
    prev_context: i32,
    nest: i32,
}

impl AsOwner {
    pub fn enter(owner: pg_sys::Oid) -> Self {
        let mut prev_user = pg_sys::Oid::INVALID;
        let mut prev_context = 0i32;
        // SAFETY: Get/SetUserIdAndSecContext read and write two backend-global variables;
        // PostgreSQL's transaction and subtransaction abort restore the values saved at
        // their start, so an ERROR inside can never leave the owner's identity in place.
        // The GUC nest level is handled as in PinnedSearchPath.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut prev_user, &mut prev_context);
            pg_sys::SetUserIdAndSecContext(
                owner,
                prev_context
                    | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                    | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
            );
        }
        let nest = unsafe { pg_sys::NewGUCNestLevel() };
        unsafe { pg_sys::RestrictSearchPath() };
        // Change buffers let a reader see rows only while it may read their source (a
        // row-level security policy, ADR-014); a session's `row_security = off` would turn
        // that into an ERROR instead of applying it.
        crate::settings::set_saved("row_security", "on", pg_sys::GucContext::PGC_USERSET);
        AsOwner {
            prev_user,
            prev_context,
            nest,
        }
    }
}

impl Drop for AsOwner {
    fn drop(&mut self) {
        // SAFETY: see `enter`. Settings the owner's code changed are discarded (isCommit =
        // false), as REFRESH MATERIALIZED VIEW does.
        unsafe {
            if !std::thread::panicking() {
                pg_sys::AtEOXact_GUC(false, self.nest);
            }
            pg_sys::SetUserIdAndSecContext(self.prev_user, self.prev_context);
        }
    }
}

/// Runs as the bootstrap superuser, with a pinned search path, for the lifetime of the value.
pub struct AsPgTrickle {
    prev_user: pg_sys::Oid,
    prev_context: i32,
    nest: i32,
}

impl AsPgTrickle {
    /// Callers have checked that the current user may perform the management action, and
    /// run no user code inside except under [`AsOwner`].
    pub fn enter() -> Self {
        let mut prev_user = pg_sys::Oid::INVALID;
        let mut prev_context = 0i32;
        // SAFETY: as in `AsOwner::enter`: two backend-global variables that transaction and
        // subtransaction abort restore. SECURITY_LOCAL_USERID_CHANGE keeps SET ROLE and
        // SET SESSION AUTHORIZATION from being used to leave (or see) the switch.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut prev_user, &mut prev_context);
            pg_sys::SetUserIdAndSecContext(
                pg_sys::Oid::from(pg_sys::BOOTSTRAP_SUPERUSERID),
                prev_context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32,
            );
        }
        let nest = unsafe { pg_sys::NewGUCNestLevel() };
        unsafe { pg_sys::RestrictSearchPath() };
        AsPgTrickle {
            prev_user,
            prev_context,
            nest,
        }
    }
}

impl Drop for AsPgTrickle {
    fn drop(&mut self) {
        // SAFETY: see `AsOwner::drop`; pg_trickle's own settings inside are kept (isCommit).
        unsafe {
            if !std::thread::panicking() {
                pg_sys::AtEOXact_GUC(true, self.nest);
            }
            pg_sys::SetUserIdAndSecContext(self.prev_user, self.prev_context);
        }
    }
}

/// The role running the current statement (the caller of a management function).
pub fn current_user() -> pg_sys::Oid {
    // SAFETY: reads a backend-global variable.
    unsafe { pg_sys::GetUserId() }
}
