//! Change capture of partitioned sources (ADR-001).
//!
//! A statement fires the statement triggers of the table it names, and only those: an
//! `INSERT INTO` a partition, or an `UPDATE`/`DELETE`/`TRUNCATE` of one, never fires its
//! partitioned table's triggers. So every partition of a trigger-captured partitioned
//! source (at any depth) carries the four capture triggers too, each passing the source's
//! OID: the rows land in the source's buffer (columns matched by name, so a partition's own
//! column order or dropped columns do not matter). A statement on the source fires only the
//! source's triggers, with every routed row in its transition tables; nothing is captured
//! twice.
//!
//! The partition tree changes by DDL, and rows can enter or leave the source without any
//! row-level statement: `ATTACH PARTITION` of a table that has rows, `DETACH PARTITION`,
//! `DROP TABLE` of a partition. Each of those writes a `T` row into the source's buffer, so
//! the stream tables reading it recompute in full (as after a `TRUNCATE`). A partition that
//! joins the tree gets the triggers, one that leaves loses them.
//!
//! Under WAL capture (ADR-002) partitions have no capture triggers: the publication
//! publishes their changes as the partitioned table's (`publish_via_partition_root`), and
//! the source qualifies only while every partition has `REPLICA IDENTITY FULL`. Each
//! partition has the statement trigger noting its writers instead, with the source's OID.

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgt_sql::QualifiedName;

use crate::error::{PgtError, PgtResult};

/// The captured partitioned sources whose tree holds `relid` (itself included).
pub fn captured_roots(relid: pg_sys::Oid) -> PgtResult<Vec<pg_sys::Oid>> {
    Spi::connect(|c| {
        let mut out = Vec::new();
        for r in c.select(
            "SELECT a.relid::pg_catalog.oid FROM pg_catalog.pg_partition_ancestors($1) AS a(relid) \
               JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) a.relid::pg_catalog.oid \
              WHERE k.relkind OPERATOR(pg_catalog.=) 'p' \
                AND pg_catalog.to_regclass('pgtrickle_changes.changes_' OPERATOR(pg_catalog.||) a.relid::pg_catalog.oid::pg_catalog.text) IS NOT NULL",
            None,
            &[relid.into()],
        )? {
            if let Some(o) = r.get::<pg_sys::Oid>(1)? {
                out.push(o);
            }
        }
        Ok(out)
    })
}

/// Brings the capture triggers of `source`'s partitions in line with its tree and its
/// capture mode; a partition that joined with rows, or one that left, makes the source's
/// stream tables recompute.
///
/// Under WAL capture the partitions have no triggers to tell a new partition from an old
/// one, so DDL on the tree (`after_ddl`) always makes the stream tables recompute: a table
/// attached with rows is otherwise indistinguishable.
pub fn sync(source: pg_sys::Oid, after_ddl: bool) -> PgtResult<()> {
    if !is_partitioned(source)? {
        return Ok(());
    }
    let wal = !crate::wal::wal_sources(&[source])?.is_empty();
    let mut recompute = false;
    if wal {
        drop_all(source, true)?;
        recompute |= after_ddl;
    } else {
        recompute |= add_missing(source)?;
    }
    recompute |= release_departed(source)?;
    if recompute {
        truncate_marker(source)?;
    }
    Ok(())
}

fn is_partitioned(source: pg_sys::Oid) -> PgtResult<bool> {
    Ok(crate::catalog::first_value::<bool>(
        "SELECT c.relkind OPERATOR(pg_catalog.=) 'p' FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1",
        &[source.into()],
    )?
    .unwrap_or(false))
}

/// A partition of a source: OID, name, whether it has the capture triggers, whether it has
/// the WAL note trigger.
type Partition = (pg_sys::Oid, QualifiedName, bool, bool);

/// The partitions (any depth) of `source`.
fn partitions(source: pg_sys::Oid) -> PgtResult<Vec<Partition>> {
    Spi::connect(|c| {
        let mut out = Vec::new();
        for r in c.select(
            "SELECT t.relid::pg_catalog.oid, n.nspname::pg_catalog.text, k.relname::pg_catalog.text, \
                    EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g WHERE g.tgrelid OPERATOR(pg_catalog.=) t.relid \
                               AND g.tgname OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.name[])), \
                    EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g WHERE g.tgrelid OPERATOR(pg_catalog.=) t.relid \
                               AND g.tgname OPERATOR(pg_catalog.=) $3) \
               FROM pg_catalog.pg_partition_tree($1) AS t \
               JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) t.relid::pg_catalog.oid \
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace \
              WHERE t.level OPERATOR(pg_catalog.>) 0",
            None,
            &[
                source.into(),
                trigger_names().into(),
                pgt_cdc::NOTE_TRIGGER.into(),
            ],
        )? {
            out.push((
                r.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid),
                QualifiedName::new(
                    r.get::<String>(2)?.unwrap_or_default(),
                    r.get::<String>(3)?.unwrap_or_default(),
                ),
                r.get::<bool>(4)?.unwrap_or(false),
                r.get::<bool>(5)?.unwrap_or(false),
            ));
        }
        Ok(out)
    })
}

fn trigger_names() -> Vec<String> {
    pgt_cdc::capture_trigger_names()
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Creates the capture triggers on partitions that lack them; true when one of those
/// already had rows (it was attached: its rows entered the source uncaptured).
pub fn add_missing(source: pg_sys::Oid) -> PgtResult<bool> {
    let mut had_rows = false;
    for (_, name, has, noted) in partitions(source)? {
        if has {
            continue;
        }
        {
            let _ddl = crate::guard::InternalDdl::enter();
            if noted {
                drop_note_trigger(&name)?;
            }
            for stmt in pgt_cdc::capture_trigger_ddl(source.to_u32(), &name) {
                Spi::run(&stmt)?;
            }
        }
        // A partitioned partition holds no rows itself; its own partitions are checked in
        // their turn.
        had_rows |= crate::catalog::first_value::<bool>(
            &format!("SELECT EXISTS (SELECT 1 FROM ONLY {name})"),
            &[],
        )?
        .unwrap_or(false);
    }
    Ok(had_rows)
}

/// Drops the capture triggers of every partition (the source went over to WAL capture, or
/// is no longer captured); with `note`, each partition gets the statement trigger noting
/// its writers instead (ADR-002: a refresh in a transaction that wrote the source
/// recomputes).
pub fn drop_all(source: pg_sys::Oid, note: bool) -> PgtResult<()> {
    let _ddl = crate::guard::InternalDdl::enter();
    for (_, name, has, noted) in partitions(source)? {
        if has {
            for stmt in pgt_cdc::drop_capture_trigger_ddl(&name) {
                Spi::run(&stmt)?;
            }
        }
        if note && !noted {
            crate::wal::create_note_trigger_for(&name.to_string(), Some(source.to_u32()))?;
        } else if !note && noted {
            drop_note_trigger(&name)?;
        }
    }
    Ok(())
}

fn drop_note_trigger(table: &QualifiedName) -> PgtResult<()> {
    crate::settings::with_setting("client_min_messages", "warning", || {
        Spi::run(&format!(
            "DROP TRIGGER IF EXISTS {} ON {table}",
            pgt_sql::quote_ident(pgt_cdc::NOTE_TRIGGER)
        ))
    })?;
    Ok(())
}

/// Drops the capture triggers of tables that carry `source`'s but left its tree
/// (detached); true when there was one.
fn release_departed(source: pg_sys::Oid) -> PgtResult<bool> {
    let departed = Spi::connect(|c| -> PgtResult<Vec<QualifiedName>> {
        let mut out = Vec::new();
        for r in c.select(
            "SELECT DISTINCT n.nspname::pg_catalog.text, k.relname::pg_catalog.text \
               FROM pg_catalog.pg_trigger g \
               JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) g.tgrelid \
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace \
              WHERE g.tgname OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.name[]) AND g.tgargs OPERATOR(pg_catalog.=) $3 \
                AND g.tgrelid OPERATOR(pg_catalog.<>) $1 \
                AND g.tgrelid OPERATOR(pg_catalog.<>) ALL (ARRAY(SELECT t.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree($1) AS t))",
            None,
            &[
                source.into(),
                trigger_names().into(),
                pgt_cdc::capture_trigger_args(source.to_u32()).into(),
            ],
        )? {
            out.push(QualifiedName::new(
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<String>(2)?.unwrap_or_default(),
            ));
        }
        Ok(out)
    })?;
    let _ddl = crate::guard::InternalDdl::enter();
    for name in &departed {
        for stmt in pgt_cdc::drop_capture_trigger_ddl(name) {
            Spi::run(&stmt)?;
        }
    }
    Ok(!departed.is_empty())
}

/// Writes a `T` (TRUNCATE) row into `source`'s buffer: rows entered or left it without a
/// row change, so its stream tables recompute in full.
pub fn truncate_marker(source: pg_sys::Oid) -> PgtResult<()> {
    Spi::run(&format!(
        "INSERT INTO {} (__pgt_op) VALUES ('T')",
        pgt_cdc::buffer_table(source.to_u32())
    ))?;
    Ok(())
}

/// Refuses DDL that disabled or renamed a capture trigger of a partition of a captured
/// source (its writes would no longer be captured, or be captured twice).
pub fn check_triggers(relid: pg_sys::Oid) -> PgtResult<()> {
    let broken = crate::catalog::first_value::<String>(
        "SELECT g.tgname::pg_catalog.text FROM pg_catalog.pg_trigger g \
          WHERE g.tgrelid OPERATOR(pg_catalog.=) $1 \
            AND g.tgfoid OPERATOR(pg_catalog.=) ANY (ARRAY['pgtrickle._capture_changes()'::pg_catalog.regprocedure, 'pgtrickle._note_source_write()'::pg_catalog.regprocedure]::pg_catalog.oid[]) \
            AND (g.tgname OPERATOR(pg_catalog.<>) ALL ($2::pg_catalog.name[]) OR g.tgenabled OPERATOR(pg_catalog.<>) 'A') \
          LIMIT 1",
        &[
            relid.into(),
            trigger_names()
                .into_iter()
                .chain([pgt_cdc::NOTE_TRIGGER.to_string()])
                .collect::<Vec<_>>()
                .into(),
        ],
    )?;
    match broken {
        Some(trigger) => Err(PgtError::CaptureTampered {
            action: "disable, rename or drop",
            trigger,
            table: crate::catalog::first_value::<String>(
                "SELECT $1::pg_catalog.regclass::pg_catalog.text",
                &[relid.into()],
            )?
            .unwrap_or_default(),
        }),
        None => Ok(()),
    }
}

/// After `DROP TABLE` of tables that carried capture triggers of a partitioned source
/// (their rows left the source): every captured partitioned source whose buffer still
/// exists recomputes. (The dropped triggers no longer say which source they wrote to.)
pub fn after_partitions_dropped() -> PgtResult<()> {
    let sources = Spi::connect(|c| -> PgtResult<Vec<pg_sys::Oid>> {
        let mut out = Vec::new();
        for r in c.select(
            "SELECT k.oid FROM pg_catalog.pg_class k \
              WHERE k.relkind OPERATOR(pg_catalog.=) 'p' \
                AND pg_catalog.to_regclass('pgtrickle_changes.changes_' OPERATOR(pg_catalog.||) k.oid::pg_catalog.text) IS NOT NULL",
            None,
            &[],
        )? {
            if let Some(o) = r.get::<pg_sys::Oid>(1)? {
                out.push(o);
            }
        }
        Ok(out)
    })?;
    for s in sources {
        truncate_marker(s)?;
    }
    Ok(())
}
