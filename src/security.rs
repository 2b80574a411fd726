//! Running pg_trickle's generated SQL with exactly the rights it should have (ADR-015).
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
