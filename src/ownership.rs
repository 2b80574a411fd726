//! Who may manage a stream table (ADR-014), modelled on materialized views:
//!
//! * **create**: any role with `SELECT` on every table the query reads (and `CREATE` on the
//!   target schema, checked by PostgreSQL when the storage table is created as that role).
//!   The creator owns the stream table. `SELECT` on the whole table is required, not on
//!   the columns read: a change buffer holds whole rows. An IMMEDIATE stream table also
//!   needs `TRIGGER` on its sources, because its maintenance runs (as its owner) inside
//!   every transaction that writes them, as a trigger of the owner's would.
//! * **refresh** and **explain**: roles with `MAINTAIN` on the stream table — its owner,
//!   members of the owner's role, members of `pg_maintain`, and roles granted `MAINTAIN` —
//!   as for `REFRESH MATERIALIZED VIEW`. The refresh runs as the owner whoever asks.
//! * **alter, resume, drop**: the owner and members of its role (as `ALTER`/`DROP` of any
//!   table).
//! * Superusers may do everything.
//!
//! Each refresh checks again that the owner may still read every source: a DIFFERENTIAL
//! refresh reads only change buffers, so without the check an owner whose `SELECT` was
//! revoked would keep receiving the source's new rows.
#![allow(unsafe_code)]

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::catalog::StreamTable;
use crate::error::{PgtError, PgtResult};

/// Does `role` have table privilege `mode` (an `ACL_*` bit) on relation `relid`? A missing
/// relation counts as "yes": the caller's own checks report it more precisely.
fn has_table_privilege(relid: pg_sys::Oid, role: pg_sys::Oid, mode: u32) -> bool {
    let mut missing = false;
    // SAFETY: pg_class_aclcheck_ext reads the catalogs and, given `is_missing`, reports a
    // dropped relation through it instead of raising an error.
    let result = unsafe {
        pg_sys::pg_class_aclcheck_ext(relid, role, mode as pg_sys::AclMode, &mut missing)
    };
    missing || result == pg_sys::AclResult::ACLCHECK_OK
}

fn role_name(role: pg_sys::Oid) -> String {
    Spi::get_one_with_args::<String>(
        "SELECT r.rolname::pg_catalog.text FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) $1",
        &[role.into()],
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| format!("role {}", role.to_u32()))
}

fn relation_name(relid: pg_sys::Oid) -> String {
    Spi::get_one_with_args::<String>(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c \
           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
          WHERE c.oid OPERATOR(pg_catalog.=) $1",
        &[relid.into()],
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| relid.to_u32().to_string())
}

/// Refuses unless `owner` may read every source (and, for IMMEDIATE, put triggers on it).
pub fn check_owner_can_read(
    owner: pg_sys::Oid,
    stream_table: &str,
    sources: &[pg_sys::Oid],
    immediate: bool,
) -> PgtResult<()> {
    for &src in sources {
        let needs: &[(u32, &'static str)] = if immediate {
            &[
                (pg_sys::ACL_SELECT, "SELECT"),
                (pg_sys::ACL_TRIGGER, "TRIGGER"),
            ]
        } else {
            &[(pg_sys::ACL_SELECT, "SELECT")]
        };
        for &(mode, privilege) in needs {
            if !has_table_privilege(src, owner, mode) {
                return Err(PgtError::SourcePrivilege {
                    role: role_name(owner),
                    stream_table: stream_table.to_string(),
                    table: relation_name(src),
                    privilege,
                });
            }
        }
    }
    Ok(())
}

/// Refuses unless the current user has the rights of the stream table's owner.
pub fn require_owner(st: &StreamTable, action: &'static str) -> PgtResult<()> {
    let me = crate::security::current_user();
    // SAFETY: has_privs_of_role reads role memberships (superusers have every role's).
    if unsafe { pg_sys::has_privs_of_role(me, st.owner) } {
        return Ok(());
    }
    Err(PgtError::NotOwner {
        action,
        name: st.display_name(),
        owner: role_name(st.owner),
        maintain: false,
    })
}

/// Refuses unless the current user has `MAINTAIN` on the stream table.
pub fn require_maintain(st: &StreamTable, action: &'static str) -> PgtResult<()> {
    let me = crate::security::current_user();
    if has_table_privilege(st.relid, me, pg_sys::ACL_MAINTAIN) {
        return Ok(());
    }
    Err(PgtError::NotOwner {
        action,
        name: st.display_name(),
        owner: role_name(st.owner),
        maintain: true,
    })
}
