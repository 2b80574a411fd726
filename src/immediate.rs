//! IMMEDIATE refresh mode (ADR-024): the stream table is maintained inside every
//! transaction that writes one of its sources.
//!
//! Each source keeps its statement capture triggers (they fill the change buffer from the
//! statement's transition tables), and gets one more statement trigger per IMMEDIATE
//! stream table reading it, `__pgt_ivm_<pgt_id>`. Triggers of one event fire in name
//! order, so it runs after the capture triggers (`__pgt_cdc_*`) and performs an ordinary
//! incremental refresh of the stream table in the writing transaction. That refresh
//! consumes the transaction's own buffered changes through the frontier's own-transaction
//! part (ADR-005), with the same delta rules as DIFFERENTIAL. So:
//!
//! * the writer sees its own effect at once, and a rolled-back statement or transaction
//!   rolls the stream table back with it;
//! * concurrent writers serialize on the stream table: a refresh locks its catalog row and
//!   storage until its transaction ends, so the second writer's refresh waits, then (READ
//!   COMMITTED) reads the first's committed changes and frontier: nothing is lost or
//!   applied twice. Under REPEATABLE READ or SERIALIZABLE its snapshot predates the first
//!   writer's commit, and locking the catalog row the first one updated raises a
//!   serialization failure (`40001`): retry, as for any such conflict;
//! * the IMMEDIATE stream tables connected through shared sources are locked together,
//!   in id order, whichever source a transaction writes first: no deadlock between two
//!   stream tables over the same sources.
//!
//! Sources of an IMMEDIATE stream table stay on trigger capture (a WAL-captured change is
//! decoded only after its transaction commits, too late), and must be tables: another
//! stream table's changes happen inside its refresh.

use pgrx::prelude::*;

use crate::error::PgtResult;

/// The trigger of IMMEDIATE stream table `pgt_id` on each of its sources.
pub fn trigger_name(pgt_id: i64) -> String {
    format!("__pgt_ivm_{pgt_id}")
}

/// Refreshes IMMEDIATE stream table `pgt_id` in the current (writing) transaction. Called
/// by the SECURITY DEFINER trigger function `pgtrickle._immediate_maintenance()`.
#[pg_extern]
fn _refresh_immediate(pgt_id: i64) {
    crate::error::or_report(refresh_immediate(pgt_id))
}

fn refresh_immediate(pgt_id: i64) -> PgtResult<()> {
    let Some(st) = crate::catalog::lookup_by_id(pgt_id)? else {
        return Ok(()); // dropped in this transaction
    };
    if st.refresh_mode != "IMMEDIATE" || st.status != "ACTIVE" {
        return Ok(());
    }
    // Lock, in id order, every IMMEDIATE stream table connected to this one through shared
    // sources. Maintenance of a source locks a subset of them, and without one global
    // order, a writer of `a` then `b` and a writer of `b` then `a` would each hold what
    // the other's next statement needs.
    crate::catalog::first_value_mut::<i64>(
        "WITH RECURSIVE comp(pgt_id) AS ( \
             SELECT $1::pg_catalog.int8 \
             UNION \
             SELECT d2.pgt_id FROM comp \
               JOIN pgtrickle.pgt_dependencies d1 ON d1.pgt_id OPERATOR(pg_catalog.=) comp.pgt_id \
               JOIN pgtrickle.pgt_dependencies d2 ON d2.source_relid OPERATOR(pg_catalog.=) d1.source_relid \
               JOIN pgtrickle.pgt_stream_tables s2 ON s2.pgt_id OPERATOR(pg_catalog.=) d2.pgt_id \
                    AND s2.refresh_mode OPERATOR(pg_catalog.=) 'IMMEDIATE') \
         SELECT pg_catalog.count(*) FROM (SELECT s.pgt_id FROM pgtrickle.pgt_stream_tables s \
                 WHERE s.pgt_id IN (SELECT comp.pgt_id FROM comp) ORDER BY s.pgt_id FOR NO KEY UPDATE OF s) AS locked",
        &[pgt_id.into()],
    )?;
    crate::refresh::refresh(&st, crate::refresh::Initiator::Immediate, true)?;
    Ok(())
}

/// Creates the maintenance trigger of `pgt_id` on each of its sources (after returning
/// WAL-captured ones to triggers).
pub fn install(pgt_id: i64, sources: &[u32]) -> PgtResult<()> {
    let _ddl = crate::guard::InternalDdl::enter();
    for &src in sources {
        let oid = pg_sys::Oid::from(src);
        crate::wal::return_to_triggers(oid, "read by an IMMEDIATE stream table")?;
        let table = Spi::get_one_with_args::<String>(
            "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c \
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.oid OPERATOR(pg_catalog.=) $1",
            &[oid.into()],
        )?
        .unwrap_or_default();
        let t = pgt_sql::quote_ident(&trigger_name(pgt_id));
        crate::settings::with_setting("client_min_messages", "warning", || {
            Spi::run(&format!("DROP TRIGGER IF EXISTS {t} ON {table}"))
        })?;
        Spi::run(&format!(
            "CREATE TRIGGER {t} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} \
             FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._immediate_maintenance({pgt_id})"
        ))?;
        Spi::run(&format!("ALTER TABLE {table} ENABLE ALWAYS TRIGGER {t}"))?;
    }
    Ok(())
}

/// Drops maintenance triggers whose stream table is gone or no longer IMMEDIATE.
pub fn drop_stale_triggers() -> PgtResult<()> {
    let stale = Spi::connect(|c| -> PgtResult<Vec<String>> {
        let mut out = Vec::new();
        for r in c.select(
            "SELECT pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.tgrelid::pg_catalog.regclass) \
               FROM pg_catalog.pg_trigger t \
              WHERE t.tgname::pg_catalog.text ~ '^__pgt_ivm_[0-9]+$' \
                AND NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables s JOIN pgtrickle.pgt_dependencies d ON d.pgt_id = s.pgt_id \
                                 WHERE s.pgt_id = substr(t.tgname, 11)::bigint AND s.refresh_mode = 'IMMEDIATE' \
                                   AND d.source_relid = t.tgrelid)",
            None,
            &[],
        )? {
            if let Some(s) = r.get::<String>(1)? {
                out.push(s);
            }
        }
        Ok(out)
    })?;
    let _ddl = crate::guard::InternalDdl::enter();
    for stmt in stale {
        Spi::run(&stmt)?;
    }
    Ok(())
}
