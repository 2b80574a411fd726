//! Change capture in the server: creating and removing buffers and triggers (SQL from
//! `pgt_cdc`), reading pending changes, storing frontiers and trimming buffers.

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgt_cdc::{
    buffer_table, cleanup_buffer, create_capture, drop_capture, sync_capture, Frontier,
    SourceColumn,
};
use pgt_sql::QualifiedName;

use crate::error::PgtResult;

/// Makes sure `source` has a change buffer and capture triggers, with every current column.
pub fn ensure_capture(source: pg_sys::Oid) -> PgtResult<()> {
    let _ddl = crate::guard::InternalDdl::enter();
    if buffer_exists(source)? {
        sync(source)?;
        return crate::cdc_partitions::sync(source, false);
    }
    let table = relation_name(source)?.expect("a source of a new stream table exists");
    let unlogged = crate::config::unlogged_change_buffers();
    for stmt in create_capture(
        source.to_u32(),
        &table,
        &columns_of(source, false)?,
        unlogged,
    ) {
        Spi::run(&stmt)?;
    }
    // (The stream table is filled from the tables as they are: rows already in a
    // partition need no marker.)
    crate::cdc_partitions::add_missing(source)?;
    crate::wal::register_source(source)
}

fn buffer_exists(source: pg_sys::Oid) -> PgtResult<bool> {
    Ok(Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
        &[buffer_table(source.to_u32()).to_string().into()],
    )?
    .unwrap_or(false))
}

/// The columns of a relation (or, with `buffer`, of its change buffer, without the buffer's
/// own bookkeeping columns; a stream table's hidden `__pgt_*` columns are real columns here).
fn columns_of(source: pg_sys::Oid, buffer: bool) -> PgtResult<Vec<SourceColumn>> {
    let rel = if buffer {
        format!(
            "to_regclass({})",
            pgt_sql::quote_literal(&buffer_table(source.to_u32()).to_string())
        )
    } else {
        "$1".into()
    };
    // Domains are replaced by their base type (recursively): a buffer column must never run
    // a domain's CHECK code when a row is copied into it, or when its type is changed. The
    // column's collation is kept, so every expression of a delta compares, sorts, groups
    // and case-maps buffered values exactly as the defining query does on the source.
    Spi::connect(|c| {
        let mut out = Vec::new();
        for row in c.select(
            &format!(
                "SELECT a.attname::text, \
                        (WITH RECURSIVE d(typ, typmod, depth) AS ( \
                             SELECT a.atttypid, a.atttypmod, 0 \
                             UNION ALL \
                             SELECT t.typbasetype, t.typtypmod, d.depth + 1 FROM d JOIN pg_catalog.pg_type t ON t.oid = d.typ \
                              WHERE t.typtype = 'd') \
                         SELECT pg_catalog.format_type(d.typ, d.typmod) \
                                || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation \
                                        THEN ' COLLATE ' || (SELECT pg_catalog.format('%I.%I', n.nspname, c.collname) \
                                                               FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace \
                                                              WHERE c.oid = a.attcollation) \
                                        ELSE '' END \
                           FROM d JOIN pg_catalog.pg_type t ON t.oid = d.typ ORDER BY d.depth DESC LIMIT 1) \
                   FROM pg_catalog.pg_attribute a \
                  WHERE a.attrelid = {rel} AND a.attnum > 0 AND NOT a.attisdropped \
                    AND a.attname NOT IN ('__pgt_change_id', '__pgt_xid', '__pgt_op') ORDER BY a.attnum"
            ),
            None,
            &[source.into()],
        )? {
            out.push(SourceColumn { name: row.get::<String>(1)?.unwrap_or_default(), type_sql: row.get::<String>(2)?.unwrap_or_default() });
        }
        Ok(out)
    })
}

/// Brings a source's buffer and capture function in line with its current columns.
pub fn sync(source: pg_sys::Oid) -> PgtResult<()> {
    let _ddl = crate::guard::InternalDdl::enter();
    let current = columns_of(source, false)?;
    let buffered = columns_of(source, true)?;
    for stmt in sync_capture(source.to_u32(), &current, &buffered) {
        Spi::run(&stmt)?;
    }
    Ok(())
}

/// Called by the `ddl_command_end` event trigger after ALTER TABLE and ALTER TRIGGER:
/// refuses DDL that would break pg_trickle's objects (change buffers, capture triggers,
/// stream tables' columns and guard triggers), keeps capture working, and puts stream
/// tables whose used columns (or source name) changed in ERROR with the reason.
#[pg_extern]
fn _on_source_ddl() {
    crate::error::or_report(on_source_ddl())
}

fn on_source_ddl() -> PgtResult<()> {
    if crate::guard::internal_ddl_in_progress() {
        return Ok(());
    }
    let relids = Spi::connect(|c| -> PgtResult<Vec<pg_sys::Oid>> {
        let mut out = Vec::new();
        for row in c.select(
            "SELECT DISTINCT CASE WHEN d.classid = 'pg_catalog.pg_trigger'::regclass \
                                  THEN (SELECT t.tgrelid FROM pg_catalog.pg_trigger t WHERE t.oid = d.objid) ELSE d.objid END \
               FROM pg_catalog.pg_event_trigger_ddl_commands() d \
              WHERE (d.classid = 'pg_catalog.pg_class'::regclass AND d.object_type IN ('table', 'table column')) \
                 OR d.classid = 'pg_catalog.pg_trigger'::regclass",
            None,
            &[],
        )? {
            if let Some(o) = row.get::<pg_sys::Oid>(1)? {
                out.push(o);
            }
        }
        Ok(out)
    })?;
    let mut changed = false;
    for relid in relids {
        check_not_a_buffer(relid)?;
        check_stream_table_storage(relid)?;
        check_stream_table_triggers(relid)?;
        // A partition (at any depth) of a captured partitioned source, or the source: the
        // partitions' capture triggers follow the tree.
        let roots = crate::cdc_partitions::captured_roots(relid)?;
        if roots.iter().any(|&r| r != relid) {
            crate::cdc_partitions::check_triggers(relid)?;
        }
        for root in roots {
            crate::cdc_partitions::sync(root, true)?;
            if root != relid {
                // A partition's REPLICA IDENTITY decides the source's WAL capture too.
                crate::wal::after_source_ddl(root)?;
            }
        }
        if buffer_exists(relid)? {
            check_capture_triggers(relid)?;
            check_source_columns(relid)?;
            sync(relid)?;
            crate::wal::after_source_ddl(relid)?;
        }
        // Stream tables whose used columns or source name no longer match.
        let broken = Spi::connect_mut(|c| {
            c.update(
            "WITH cur AS ( \
               SELECT d.pgt_id, d.source_schema, d.source_name, d.columns_signature, n.nspname AS cur_schema, c.relname AS cur_name, \
                      ARRAY(SELECT pgtrickle._column_signature(a.attrelid, a.attnum) \
                              FROM pg_catalog.pg_attribute a \
                             WHERE a.attrelid = d.source_relid AND NOT a.attisdropped AND a.attname = ANY(d.columns_used) \
                             ORDER BY a.attnum) AS cur_signature \
                 FROM pgtrickle.pgt_dependencies d \
                 JOIN pg_catalog.pg_class c ON c.oid = d.source_relid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                WHERE d.source_relid = $1), \
             broken AS ( \
               SELECT pgt_id, \
                      CASE WHEN (source_schema, source_name) IS DISTINCT FROM (cur_schema, cur_name) \
                           THEN format('source %I.%I was renamed to %I.%I', source_schema, source_name, cur_schema, cur_name) \
                           ELSE format('columns of source %I.%I that the query uses changed (was: %s; now: %s)', source_schema, source_name, \
                                       array_to_string(columns_signature, ', '), array_to_string(cur_signature, ', ')) END AS reason \
                 FROM cur \
                WHERE (source_schema, source_name) IS DISTINCT FROM (cur_schema, cur_name) \
                   OR (SELECT array_agg(x ORDER BY x) FROM unnest(columns_signature) x) \
                      IS DISTINCT FROM (SELECT array_agg(x ORDER BY x) FROM unnest(cur_signature) x)) \
             UPDATE pgtrickle.pgt_stream_tables s SET status = 'ERROR', status_reason = b.reason, updated_at = pg_catalog.now() \
               FROM broken b WHERE s.pgt_id = b.pgt_id AND s.status <> 'ERROR' \
             RETURNING 1",
            None,
            &[relid.into()],
        ).map(|t| t.len())
        })?;
        changed |= broken > 0;
    }
    if changed {
        crate::shmem::bump_catalog();
    }
    Ok(())
}

/// Change buffers are pg_trickle's alone: renaming, moving or altering one is refused.
fn check_not_a_buffer(relid: pg_sys::Oid) -> PgtResult<()> {
    let name = crate::catalog::first_value::<String>(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.oid = $1 AND (n.nspname = 'pgtrickle_changes' \
                OR pg_catalog.obj_description(c.oid, 'pg_class') LIKE 'pg\\_trickle change buffer for %')",
        &[relid.into()],
    )?;
    match name {
        Some(n) => Err(crate::error::PgtError::ProtectedObject {
            action: "alter",
            object: format!("pg_trickle change buffer \"{n}\""),
        }),
        None => Ok(()),
    }
}

/// A stream table's columns (user and hidden) and its guard triggers stay as pg_trickle
/// made them: ADD/DROP/RENAME/ALTER COLUMN and disabling a guard trigger are refused.
fn check_stream_table_storage(relid: pg_sys::Oid) -> PgtResult<()> {
    let row = Spi::connect(|c| -> PgtResult<Option<(String, bool, bool)>> {
        let rows = c.select(
            "SELECT s.pgt_relid::regclass::text, \
                    s.storage_columns IS DISTINCT FROM pgtrickle._storage_signature(s.pgt_relid), \
                    (SELECT count(*) FROM pg_catalog.pg_trigger t WHERE t.tgrelid = s.pgt_relid AND t.tgenabled = 'A' \
                        AND t.tgname IN ('__pgt_guard_dml', '__pgt_guard_truncate')) <> 2 \
               FROM pgtrickle.pgt_stream_tables s WHERE s.pgt_relid = $1 \
                -- A restore is still putting the table together (ADR-064).
                AND s.restored_at IS NULL",
            None,
            &[relid.into()],
        )?;
        Ok(match rows.into_iter().next() {
            Some(r) => Some((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<bool>(2)?.unwrap_or(false),
                r.get::<bool>(3)?.unwrap_or(false),
            )),
            None => None,
        })
    })?;
    match row {
        Some((name, true, _)) => Err(crate::error::PgtError::StorageDdl { name }),
        Some((name, _, true)) => Err(crate::error::PgtError::ProtectedObject {
            action: "disable, rename or drop",
            object: format!("the guard triggers of stream table \"{name}\""),
        }),
        _ => Ok(()),
    }
}

/// Users may put AFTER triggers on a stream table (ADR-006), not BEFORE … FOR EACH ROW
/// ones: those could change or skip the rows a refresh writes, and the stream table would
/// no longer equal its query.
fn check_stream_table_triggers(relid: pg_sys::Oid) -> PgtResult<()> {
    let found = crate::catalog::first_value::<String>(
        "SELECT pg_catalog.format('%I', t.tgname) FROM pg_catalog.pg_trigger t \
           JOIN pgtrickle.pgt_stream_tables s ON s.pgt_relid = t.tgrelid \
          WHERE t.tgrelid = $1 AND NOT t.tgisinternal AND (t.tgtype::int & 3) = 3 LIMIT 1",
        &[relid.into()],
    )?;
    match found {
        Some(trigger) => Err(crate::error::PgtError::BeforeRowTrigger {
            trigger,
            table: relation_name(relid)?
                .map(|n| n.to_string())
                .unwrap_or_default(),
        }),
        None => Ok(()),
    }
}

/// The first of a captured source's capture triggers that is missing or not enabled
/// always, if any.
fn broken_capture_trigger(relid: pg_sys::Oid) -> PgtResult<Option<String>> {
    // A WAL-captured source has one statement trigger noting its writers instead.
    let names: Vec<String> = if crate::wal::wal_sources(&[relid])?.is_empty() {
        pgt_cdc::capture_trigger_names()
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        vec![crate::wal::NOTE_TRIGGER.to_string()]
    };
    crate::catalog::first_value::<String>(
        "SELECT n.name FROM pg_catalog.unnest($2::text[]) WITH ORDINALITY AS n(name, i) \
          WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = $1 AND t.tgname = n.name AND t.tgenabled = 'A') \
          ORDER BY n.i LIMIT 1",
        &[relid.into(), names.into()],
    )
}

fn check_capture_triggers(relid: pg_sys::Oid) -> PgtResult<()> {
    match broken_capture_trigger(relid)? {
        Some(trigger) => Err(crate::error::PgtError::CaptureTampered {
            action: "disable, rename or drop",
            trigger,
            table: relation_name(relid)?
                .map(|n| n.to_string())
                .unwrap_or_default(),
        }),
        None => Ok(()),
    }
}

/// A captured source may not gain a column named like one of the buffer's own
/// (`__pgt_change_id`, `__pgt_xid`, `__pgt_op`).
fn check_source_columns(relid: pg_sys::Oid) -> PgtResult<()> {
    let col = crate::catalog::first_value::<String>(
        "SELECT a.attname::text FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 \
            AND NOT a.attisdropped AND a.attname IN ('__pgt_change_id', '__pgt_xid', '__pgt_op') ORDER BY a.attnum LIMIT 1",
        &[relid.into()],
    )?;
    match col {
        Some(column) => Err(crate::error::PgtError::ReservedSourceColumn {
            relation: relation_name(relid)?
                .map(|n| n.to_string())
                .unwrap_or_default(),
            column,
        }),
        None => Ok(()),
    }
}

/// Called by the `sql_drop` event trigger: dropping a capture trigger or guard trigger of a
/// table that still exists, or a change buffer, is refused unless pg_trickle does it.
#[pg_extern]
fn _check_sql_drop() {
    crate::error::or_report(check_sql_drop())
}

fn check_sql_drop() -> PgtResult<()> {
    if crate::guard::internal_ddl_in_progress() {
        return Ok(());
    }
    // A table dropped with capture triggers: if it was a partition of a captured source,
    // its rows left the source without a row change.
    let dropped_capture = crate::catalog::first_value::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() d \
                        WHERE d.object_type = 'trigger' AND NOT d.original AND d.address_names[3] = $1)",
        &[pgt_cdc::capture_trigger_names()[0].into()],
    )?
    .unwrap_or(false);
    if dropped_capture {
        crate::cdc_partitions::after_partitions_dropped()?;
    }
    let capture: Vec<String> = pgt_cdc::capture_trigger_names()
        .iter()
        .map(|s| s.to_string())
        .chain([crate::wal::NOTE_TRIGGER.to_string()])
        .collect();
    let found = Spi::connect(|c| -> PgtResult<Option<(String, String, String)>> {
        let rows = c.select(
            "SELECT d.object_type, coalesce(d.address_names[3], ''), \
                    coalesce(pg_catalog.format('%I.%I', d.address_names[1], d.address_names[2]), d.object_identity) \
               FROM pg_catalog.pg_event_trigger_dropped_objects() d \
              WHERE d.original AND ( \
                    (d.object_type = 'table' AND d.schema_name = 'pgtrickle_changes') \
                 OR (d.object_type = 'trigger' AND pg_catalog.cardinality(d.address_names) = 3 \
                     AND pg_catalog.to_regclass(pg_catalog.format('%I.%I', d.address_names[1], d.address_names[2])) IS NOT NULL \
                     AND ((d.address_names[3] = ANY ($1::text[]) \
                           AND (pg_catalog.to_regclass('pgtrickle_changes.changes_' \
                                    || pg_catalog.to_regclass(pg_catalog.format('%I.%I', d.address_names[1], d.address_names[2]))::oid::text) IS NOT NULL \
                                OR EXISTS (SELECT 1 FROM pg_catalog.pg_partition_ancestors(pg_catalog.to_regclass(pg_catalog.format('%I.%I', d.address_names[1], d.address_names[2]))) AS a(relid) \
                                        WHERE pg_catalog.to_regclass('pgtrickle_changes.changes_' || a.relid::pg_catalog.oid::text) IS NOT NULL))) \
                       OR (d.address_names[3] IN ('__pgt_guard_dml', '__pgt_guard_truncate') \
                           AND EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables s \
                                        WHERE s.pgt_relid = pg_catalog.to_regclass(pg_catalog.format('%I.%I', d.address_names[1], d.address_names[2]))))))) \
              LIMIT 1",
            None,
            &[capture.into()],
        )?;
        Ok(match rows.into_iter().next() {
            Some(r) => Some((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<String>(3)?.unwrap_or_default(),
            )),
            None => None,
        })
    })?;
    match found {
        None => Ok(()),
        Some((kind, _, name)) if kind == "table" => Err(crate::error::PgtError::ProtectedObject {
            action: "drop",
            object: if name.starts_with("pgtrickle_changes.state_") {
                format!("pg_trickle state table \"{name}\"")
            } else {
                format!("pg_trickle change buffer \"{name}\"")
            },
        }),
        Some((_, trigger, table)) if trigger.starts_with("__pgt_guard") => {
            Err(crate::error::PgtError::ProtectedObject {
                action: "drop",
                object: format!("the guard trigger \"{trigger}\" of stream table \"{table}\""),
            })
        }
        Some((_, trigger, table)) => Err(crate::error::PgtError::CaptureTampered {
            action: "drop",
            trigger,
            table,
        }),
    }
}

/// Backstop for sessions where event triggers did not run (`event_triggers = off`): before
/// a refresh, every change-captured source of `pgt_id` must have all its capture triggers,
/// enabled always. Missing or disabled ones are re-created, and every stream table reading
/// such a source forgets its frontiers (changes written meanwhile were not captured, so
/// the next refresh of each recomputes in full). Returns the repaired sources' names.
pub fn repair_capture(pgt_id: i64) -> PgtResult<Vec<String>> {
    forget_lost_buffers()?;
    let args = [
        pgt_id.into(),
        pgt_cdc::capture_trigger_names()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into(),
    ];
    let sources = crate::spi_cache::select_kept(
            "SELECT d.source_relid FROM pgtrickle.pgt_dependencies d \
              WHERE d.pgt_id = $1 AND pg_catalog.to_regclass('pgtrickle_changes.changes_' || d.source_relid::text) IS NOT NULL \
                AND NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_capture c WHERE c.source_relid = d.source_relid AND c.mode = 'WAL') \
                AND (SELECT count(*) FROM pg_catalog.pg_trigger t WHERE t.tgrelid = d.source_relid AND t.tgenabled = 'A' \
                        AND t.tgname = ANY ($2::text[])) <> pg_catalog.cardinality($2::text[])",
        &args,
        None,
        |rows| -> PgtResult<Vec<pg_sys::Oid>> {
        let mut out = Vec::new();
        for row in rows {
            if let Some(o) = row.get::<pg_sys::Oid>(1)? {
                out.push(o);
            }
        }
        Ok(out)
    })?;
    let mut repaired = Vec::new();
    for src in sources {
        let Some(name) = relation_name(src)? else {
            continue;
        };
        {
            let _ddl = crate::guard::InternalDdl::enter();
            for stmt in pgt_cdc::repair_triggers(src.to_u32(), &name) {
                Spi::run(&stmt)?;
            }
        }
        Spi::run_with_args(
            "UPDATE pgtrickle.pgt_dependencies SET frontier_snapshot = NULL, frontier_xid = NULL, frontier_change_id = NULL \
              WHERE pgt_id IN (SELECT d.pgt_id FROM pgtrickle.pgt_dependencies d WHERE d.source_relid = $1)",
            &[src.into()],
        )?;
        pgrx::warning!(
            "pg_trickle: the change capture triggers of {name} were missing or disabled; they were re-created and the stream tables reading it recompute in full"
        );
        repaired.push(name.to_string());
    }
    Ok(repaired)
}

/// Unlogged change buffers lose their rows in a crash (ADR-078). Every incremental refresh
/// starts here, before it reads a frontier: if the crash marker table is empty, the
/// frontiers on unlogged buffers are forgotten (those stream tables recompute in full) and
/// the marker is put back, in this refresh's transaction.
fn forget_lost_buffers() -> PgtResult<()> {
    let lost = crate::spi_cache::select_kept(&pgt_cdc::buffers_lost_check(), &[], None, |rows| {
        Ok(rows.first().get_one::<bool>()?.unwrap_or(false))
    })?;
    if !lost {
        return Ok(());
    }
    let readers =
        crate::spi_cache::update_kept(&pgt_cdc::forget_lost_buffers(), &[], None, |rows| {
            let mut ids = std::collections::BTreeSet::new();
            for row in rows {
                if let Some(id) = row.get::<i64>(1)? {
                    ids.insert(id);
                }
            }
            Ok(ids.len())
        })?;
    Spi::run(&pgt_cdc::buffers_intact_again())?;
    if readers > 0 {
        pgrx::log!(
            "pg_trickle: unlogged change buffers were emptied by a crash (or a promotion, or a restored base backup); {readers} stream table(s) reading them recompute in full at their next refresh"
        );
    }
    Ok(())
}

/// The name of a relation, or None when it no longer exists (a dropped source).
fn relation_name(oid: pg_sys::Oid) -> PgtResult<Option<QualifiedName>> {
    Spi::connect(|c| {
        let rows = c.select(
            "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
            None,
            &[oid.into()],
        )?;
        Ok(match rows.into_iter().next() {
            Some(row) => row
                .get::<String>(1)?
                .zip(row.get::<String>(2)?)
                .map(|(s, n)| QualifiedName::new(s, n)),
            None => None,
        })
    })
}

/// Removes buffers and triggers of sources no incrementally maintained stream table reads.
#[pg_extern]
fn _drop_unused_capture() {
    crate::error::or_report(drop_unused_capture())
}

thread_local! {
    /// Set while [`drop_unused_capture`] runs: its own DROPs fire the `sql_drop` event
    /// trigger, which calls it again.
    static DROPPING_CAPTURE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Clears [`DROPPING_CAPTURE`] on every exit path, an ERROR unwinding included.
struct DroppingCapture;

impl Drop for DroppingCapture {
    fn drop(&mut self) {
        DROPPING_CAPTURE.with(|d| d.set(false));
    }
}

fn drop_unused_capture() -> PgtResult<()> {
    if DROPPING_CAPTURE.with(|d| d.replace(true)) {
        return Ok(());
    }
    let _dropping = DroppingCapture;
    let _ddl = crate::guard::InternalDdl::enter();
    let unused = Spi::connect(|c| -> PgtResult<Vec<u32>> {
        let mut out = Vec::new();
        for row in c.select(
            "SELECT substr(c.relname, 9)::oid FROM pg_catalog.pg_class c \
              WHERE c.relnamespace = 'pgtrickle_changes'::regnamespace AND c.relkind = 'r' AND c.relname ~ '^changes_[0-9]+$' \
                AND NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables s ON s.pgt_id = d.pgt_id \
                                 WHERE d.source_relid = substr(c.relname, 9)::oid AND s.effective_refresh_mode = 'DIFFERENTIAL')",
            None,
            &[],
        )? {
            if let Some(oid) = row.get::<pg_sys::Oid>(1)? {
                out.push(oid.to_u32());
            }
        }
        Ok(out)
    })?;
    // State tables of groupings below the top (`pgt_dvm::state`) whose stream table is gone
    // or no longer maintained incrementally.
    let unused_states = Spi::connect(|c| -> PgtResult<Vec<String>> {
        let mut out = Vec::new();
        for row in c.select(
            "SELECT c.oid::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_class c \
              WHERE c.relnamespace = 'pgtrickle_changes'::regnamespace AND c.relkind = 'r' AND c.relname ~ '^state_[0-9]+_' \
                AND NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables s \
                                 WHERE s.pgt_relid = substring(c.relname from '^state_([0-9]+)_')::oid \
                                   AND s.effective_refresh_mode = 'DIFFERENTIAL')",
            None,
            &[],
        )? {
            if let Some(t) = row.get::<String>(1)? {
                out.push(t);
            }
        }
        Ok(out)
    })?;
    // `IF EXISTS` of objects already gone is not news to the user who dropped a stream
    // table.
    crate::settings::with_setting("client_min_messages", "warning", || {
        for oid in unused {
            let source = relation_name(pg_sys::Oid::from(oid))?;
            if source.is_some() {
                crate::cdc_partitions::drop_all(pg_sys::Oid::from(oid), false)?;
            }
            for stmt in drop_capture(source.as_ref()) {
                Spi::run(&stmt)?;
            }
            drop_internal_table(&pgt_cdc::buffer_table(oid).to_string())?;
            crate::wal::forget_source(oid)?;
        }
        for t in &unused_states {
            drop_internal_table(t)?;
        }
        crate::immediate::drop_stale_triggers()
    })
}

/// Each change-captured source with its frontier (None before the first refresh).
pub type SourceFrontiers = Vec<(pg_sys::Oid, Option<Frontier>)>;

/// The change-captured sources of a stream table with their frontiers (None before the
/// first refresh), and the current time, in one query.
pub fn frontiers(pgt_id: i64) -> PgtResult<(SourceFrontiers, TimestampWithTimeZone)> {
    let args = [pgt_id.into()];
    crate::spi_cache::select_kept(
            "SELECT d.source_relid, d.frontier_snapshot::text, d.frontier_xid::text, d.frontier_change_id, pg_catalog.clock_timestamp() \
               FROM pgtrickle.pgt_dependencies d \
              WHERE d.pgt_id = $1 AND pg_catalog.to_regclass('pgtrickle_changes.changes_' || d.source_relid::text) IS NOT NULL \
              ORDER BY d.source_relid",
        &args,
        None,
        |rows| {
        let mut out = Vec::new();
        let mut now = None;
        for row in rows {
            let oid = row.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::Oid::INVALID);
            let snap = row.get::<String>(2)?;
            let xid = row.get::<String>(3)?;
            let id = row.get::<i64>(4)?;
            now = row.get::<TimestampWithTimeZone>(5)?;
            out.push((
                oid,
                snap.map(|snapshot| Frontier {
                    snapshot,
                    own: xid.map(|x| (x, id.unwrap_or(0))),
                }),
            ));
        }
        let now = match now {
            Some(t) => t,
            None => Spi::get_one::<TimestampWithTimeZone>("SELECT pg_catalog.clock_timestamp()")?
                .expect("clock_timestamp() is not NULL"),
        };
        Ok((out, now))
    })
}

/// `LOCK TABLE … IN ACCESS SHARE MODE` on the change-captured sources of a refresh.
pub fn lock_sources(sources: &[pg_sys::Oid]) -> PgtResult<()> {
    if sources.is_empty() {
        return Ok(());
    }
    // In OID order, as `LOCK TABLE` of the names would take them, without a statement to
    // parse and plan (a refresh with nothing to do stays well under a millisecond).
    let mut sorted = sources.to_vec();
    sorted.sort_by_key(|o| o.to_u32());
    for oid in sorted {
        // SAFETY: LockRelationOid takes a heavyweight lock on an OID (reporting lock waits
        // and timeouts by ERROR, which pgrx's FFI guard turns into a Rust panic) and then
        // processes pending invalidations; it touches no memory of ours.
        unsafe { pg_sys::LockRelationOid(oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
    }
    Ok(())
}

/// What one source's buffer holds for a refresh, from one scan of it.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub source: pg_sys::Oid,
    /// Row changes past the frontier.
    pub changes: i64,
    /// A TRUNCATE past the frontier.
    pub truncated: bool,
    /// The last change this transaction itself buffered (None: none, or no xid yet). A
    /// refresh writes only into its own storage, never into its sources' buffers, so this
    /// is still the last one when the refresh advances its frontier.
    pub own_last: Option<i64>,
}

/// Pending changes of each source not yet consumed by its frontier (row changes, TRUNCATE
/// seen), with each buffer's last change of the current transaction, in one scan per
/// buffer.
pub fn pending_and_own(sources: &[(pg_sys::Oid, Frontier)]) -> PgtResult<Vec<Pending>> {
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    // Every row of the own transaction is visible to this statement and not consumed by
    // the snapshot part of any frontier, so it passes the unconsumed filter unless an
    // earlier refresh in this transaction consumed it; the max over the whole buffer is
    // taken separately only for the own rows (a second aggregate over the same scan).
    // The frontiers are parameters (three per source), so the statement's text depends only
    // on the sources, and its kept plan serves every refresh (see `crate::spi_cache`).
    let sql = sources
        .iter()
        .enumerate()
        .map(|(i, (oid, _))| {
            format!(
                "SELECT {oid}::oid, count(*) FILTER (WHERE b.__pgt_op <> 'T' AND {u}), coalesce(bool_or(b.__pgt_op = 'T' AND {u}), false), \
                        max(b.__pgt_change_id) FILTER (WHERE b.__pgt_xid = pg_catalog.pg_current_xact_id_if_assigned()) \
                   FROM {buf} AS b WHERE {range} AND (({u}) OR b.__pgt_xid = pg_catalog.pg_current_xact_id_if_assigned())",
                oid = oid.to_u32(),
                buf = buffer_table(oid.to_u32()),
                u = Frontier::unconsumed_predicate_params("b", 3 * i + 1),
                range = pgt_cdc::pending_range("b", 3 * i + 1)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let params: Vec<(String, String, i64)> = sources.iter().map(|(_, f)| f.params()).collect();
    let args = crate::spi_cache::frontier_args(&params);
    crate::spi_cache::select_kept(&sql, &args, None, |rows| {
        let mut out = Vec::new();
        for row in rows {
            out.push(Pending {
                source: row.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::Oid::INVALID),
                changes: row.get::<i64>(2)?.unwrap_or(0),
                truncated: row.get::<bool>(3)?.unwrap_or(false),
                own_last: row.get::<i64>(4)?,
            });
        }
        Ok(out)
    })
}

/// Whether `changes` exceed the configured share of the source's estimated size.
pub fn exceeds_change_ratio(source: pg_sys::Oid, changes: i64) -> PgtResult<bool> {
    let ratio = crate::config::differential_max_change_ratio();
    if ratio <= 0.0 {
        return Ok(false);
    }
    let reltuples = Spi::get_one_with_args::<f32>(
        "SELECT reltuples FROM pg_catalog.pg_class WHERE oid = $1",
        &[source.into()],
    )?
    .unwrap_or(-1.0);
    Ok(reltuples >= 0.0 && (changes as f64) > ratio * (reltuples as f64).max(1.0))
}

/// Records that `pgt_id` has consumed everything visible at `snapshot` (plus this
/// transaction's own changes so far) from `source`, then trims the source's buffer.
/// `own_last` is the last change this transaction buffered for the source, when the caller
/// already knows it (see [`Pending::own_last`]); otherwise the buffer is searched for it.
///
/// Trimming deletes the rows every reader has consumed, so it can delete more only when the
/// reader that consumed least advances: when another reader's frontier is strictly older
/// than this one's was, this refresh leaves the buffer as it is (that reader's next refresh
/// trims). Frontiers are snapshots, and a later snapshot sees every transaction an earlier
/// one saw, so their `xmax` orders them.
pub fn advance_frontier(
    pgt_id: i64,
    source: pg_sys::Oid,
    snapshot: &str,
    own_last: Option<Option<i64>>,
) -> PgtResult<()> {
    let laggard = Spi::get_one_with_args::<bool>(
        "SELECT NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies AS o \
                  JOIN pgtrickle.pgt_stream_tables AS s ON s.pgt_id OPERATOR(pg_catalog.=) o.pgt_id \
                 WHERE o.source_relid OPERATOR(pg_catalog.=) $2 AND o.pgt_id OPERATOR(pg_catalog.<>) $1 \
                   AND s.effective_refresh_mode OPERATOR(pg_catalog.=) 'DIFFERENTIAL' AND o.frontier_snapshot IS NOT NULL \
                   AND pg_catalog.pg_snapshot_xmax(o.frontier_snapshot) OPERATOR(pg_catalog.<) \
                       (SELECT pg_catalog.pg_snapshot_xmax(m.frontier_snapshot) FROM pgtrickle.pgt_dependencies AS m \
                         WHERE m.pgt_id OPERATOR(pg_catalog.=) $1 AND m.source_relid OPERATOR(pg_catalog.=) $2))",
        &[pgt_id.into(), source.into()],
    )?
    .unwrap_or(true);
    match own_last {
        Some(last) => Spi::run_with_args(
            "UPDATE pgtrickle.pgt_dependencies SET frontier_snapshot = $3::pg_snapshot, \
                    frontier_xid = pg_catalog.pg_current_xact_id_if_assigned(), frontier_change_id = $4 \
              WHERE pgt_id = $1 AND source_relid = $2",
            &[pgt_id.into(), source.into(), snapshot.into(), last.into()],
        )?,
        None => Spi::run_with_args(
            &format!(
                "UPDATE pgtrickle.pgt_dependencies SET frontier_snapshot = $3::pg_snapshot, \
                        frontier_xid = pg_catalog.pg_current_xact_id_if_assigned(), \
                        frontier_change_id = (SELECT max(b.__pgt_change_id) FROM {} AS b WHERE b.__pgt_xid = pg_catalog.pg_current_xact_id_if_assigned()) \
                  WHERE pgt_id = $1 AND source_relid = $2",
                buffer_table(source.to_u32())
            ),
            &[pgt_id.into(), source.into(), snapshot.into()],
        )?,
    }
    if laggard {
        Spi::run(&cleanup_buffer(source.to_u32()))?;
    }
    Ok(())
}

/// Makes what pg_trickle just created its own as far as pg_dump is concerned (ADR-064):
/// tables in `pgtrickle_changes` (change buffers, state tables) become members of the
/// extension, so they are neither dumped nor droppable by anyone else; pg_trickle's triggers
/// (`__pgt_cdc_*` and `__pgt_ivm_*` on sources, `__pgt_guard_*` on stream tables) become
/// internal triggers, which pg_dump skips
/// and `\d` does not list, and which only a superuser may disable by name. Run when the
/// outermost [`crate::guard::InternalDdl`] scope ends, as pg_trickle (a superuser).
pub fn settle_internal_objects() -> PgtResult<()> {
    let _pgt = crate::security::AsPgTrickle::enter();
    // There is no DDL for "internal"; the flag is what CreateTrigger sets for the triggers
    // of constraints. The UPDATE goes through the catalog's indexes and invalidates the
    // relation caches of the tables whose triggers change, like any catalog update.
    Spi::run(
        "UPDATE pg_catalog.pg_trigger SET tgisinternal = true \
          WHERE NOT tgisinternal AND tgname::pg_catalog.text OPERATOR(pg_catalog.~) '^__pgt_(cdc|ivm|guard)_'",
    )?;
    let strays = Spi::connect(|c| -> PgtResult<Vec<String>> {
        let mut out = Vec::new();
        for row in c.select(
            "SELECT c.oid::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_class c \
              WHERE c.relnamespace OPERATOR(pg_catalog.=) pg_catalog.to_regnamespace('pgtrickle_changes') AND c.relkind OPERATOR(pg_catalog.=) 'r' \
                AND EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_trickle') \
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                                 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass \
                                   AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.objsubid OPERATOR(pg_catalog.=) 0 \
                                   AND d.deptype OPERATOR(pg_catalog.=) 'e')",
            None,
            &[],
        )? {
            if let Some(t) = row.get::<String>(1)? {
                out.push(t);
            }
        }
        Ok(out)
    })?;
    for t in strays {
        Spi::run(&format!("ALTER EXTENSION pg_trickle ADD TABLE {t}"))?;
    }
    Ok(())
}

/// Removes table `t` (qualified name as SQL) from the extension if it is a member.
/// [`settle_internal_objects`] adds it back when the current internal-DDL scope ends.
pub fn detach_from_extension(t: &str) -> PgtResult<()> {
    if is_member(t)? == Some(true) {
        Spi::run(&format!("ALTER EXTENSION pg_trickle DROP TABLE {t}"))?;
    }
    Ok(())
}

/// Whether `t` is a member of the extension (None: no such table).
fn is_member(t: &str) -> PgtResult<Option<bool>> {
    crate::catalog::first_value::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass \
                           AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.objsubid OPERATOR(pg_catalog.=) 0 \
                           AND d.deptype OPERATOR(pg_catalog.=) 'e') \
           FROM (SELECT pg_catalog.to_regclass($1) AS oid) AS c WHERE c.oid IS NOT NULL",
        &[t.into()],
    )
}

/// Drops a change buffer or state table (`t`: its qualified name as SQL), detaching it from
/// the extension first. Nothing if it does not exist.
pub fn drop_internal_table(t: &str) -> PgtResult<()> {
    let Some(member) = is_member(t)? else {
        return Ok(());
    };
    let _ddl = crate::guard::InternalDdl::enter();
    if member {
        Spi::run(&format!("ALTER EXTENSION pg_trickle DROP TABLE {t}"))?;
    }
    Spi::run(&format!("DROP TABLE {t}"))?;
    Ok(())
}

/// Re-creates the guard triggers of stream table `relid` (`table`) if one is missing or not
/// enabled always: they are internal triggers, which `pg_upgrade` does not carry over and a
/// superuser without event triggers could drop. Returns whether it had to.
pub fn repair_guard_triggers(relid: pg_sys::Oid, table: &QualifiedName) -> PgtResult<bool> {
    let intact = crate::catalog::first_value::<bool>(
        "SELECT pg_catalog.count(*) OPERATOR(pg_catalog.=) 2 FROM pg_catalog.pg_trigger t \
          WHERE t.tgrelid OPERATOR(pg_catalog.=) $1 AND t.tgenabled OPERATOR(pg_catalog.=) 'A' \
            AND t.tgname OPERATOR(pg_catalog.=) ANY ('{__pgt_guard_dml,__pgt_guard_truncate}'::pg_catalog.name[])",
        &[relid.into()],
    )?
    .unwrap_or(false);
    if intact {
        return Ok(false);
    }
    let _ddl = crate::guard::InternalDdl::enter();
    crate::settings::with_setting("client_min_messages", "warning", || -> PgtResult<()> {
        for t in [
            pgt_sql::storage::GUARD_DML_TRIGGER,
            pgt_sql::storage::GUARD_TRUNCATE_TRIGGER,
        ] {
            Spi::run(&format!(
                "DROP TRIGGER IF EXISTS {} ON {table}",
                pgt_sql::quote_ident(t)
            ))?;
        }
        for stmt in pgt_sql::storage::create_guard_triggers(table) {
            Spi::run(&stmt)?;
        }
        Ok(())
    })?;
    Ok(true)
}
