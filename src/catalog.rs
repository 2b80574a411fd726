//! Reading and writing pg_trickle's catalog tables (`pgtrickle.pgt_*`) through SPI.
//! All statements are constant text with parameters; no value is spliced into SQL.

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgt_sql::QualifiedName;

use crate::analyze::SourceRelation;
use crate::error::{PgtError, PgtResult};

/// A stream table's catalog row, with its current (rename-proof) relation name.
#[derive(Debug, Clone)]
pub struct StreamTable {
    pub pgt_id: i64,
    pub relid: pg_sys::Oid,
    /// The storage table's owner: refreshes run the defining query as this role.
    pub owner: pg_sys::Oid,
    pub table: QualifiedName,
    pub defining_query: String,
    /// The requested mode: `FULL`, `DIFFERENTIAL` or `AUTO`.
    pub refresh_mode: String,
    pub effective_refresh_mode: String,
    pub refresh_mode_reason: Option<String>,
    /// `name=value` settings every refresh runs under (see [`crate::settings`]).
    pub pinned_settings: Vec<String>,
    pub status: String,
    pub status_reason: Option<String>,
    /// Restored by pg_restore and not yet rebound to this database (see `crate::restore`).
    pub restored: bool,
}

impl StreamTable {
    /// `schema.name` for messages.
    pub fn display_name(&self) -> String {
        format!(
            "{}.{}",
            self.table.schema.as_deref().unwrap_or(""),
            self.table.name
        )
    }
}

/// Splits a user-supplied relation name as PostgreSQL reads identifiers (quoting, case
/// folding, truncation to 63 bytes with PostgreSQL's NOTICE); malformed names are 42602.
pub fn parse_name(name: &str) -> PgtResult<pgt_core::RelationName> {
    let parsed = pgt_core::parse_relation_name(name)?;
    // `database.schema.name` is accepted for the current database only, as PostgreSQL does.
    if let Some(db) = &parsed.database {
        let current =
            first_value::<String>("SELECT pg_catalog.current_database()::pg_catalog.text", &[])?
                .unwrap_or_default();
        if *db != current {
            return Err(PgtError::CrossDatabase {
                name: name.to_string(),
            });
        }
    }
    for (given, kept) in &parsed.truncated {
        pgrx::pg_sys::panic::ErrorReport::new(
            pgrx::PgSqlErrorCode::ERRCODE_NAME_TOO_LONG,
            format!("identifier \"{given}\" will be truncated to \"{kept}\""),
            "pg_trickle",
        )
        .report(pgrx::PgLogLevel::NOTICE);
    }
    Ok(parsed)
}

/// Resolves a (possibly schema-qualified, possibly quoted) name to a stream table, in one
/// query (refreshes with nothing to do must stay cheap).
pub fn lookup(name: &str) -> PgtResult<StreamTable> {
    let parsed = parse_name(name)?;
    let quoted = match &parsed.schema {
        Some(s) => format!(
            "{}.{}",
            pgt_sql::quote_ident(s),
            pgt_sql::quote_ident(&parsed.name)
        ),
        None => pgt_sql::quote_ident(&parsed.name),
    };
    // The name is resolved under the caller's search_path, as the caller means it; this
    // statement names nothing else, and everything after it runs with a pinned path.
    let oid = first_value::<pg_sys::Oid>(
        "SELECT pg_catalog.to_regclass($1)::pg_catalog.oid",
        &[quoted.into()],
    )?;
    // The name was resolved as the caller; the catalog row is read as pg_trickle (it holds
    // columns not every role may read; management functions check rights on the result).
    let _pgt = crate::security::AsPgTrickle::enter();
    match oid {
        Some(oid) => lookup_oid(name, oid),
        None => Err(PgtError::NotFound {
            name: name.to_string(),
        }),
    }
}

const LOOKUP_OID: &str = "SELECT c.oid, n.nspname::text, c.relname::text, s.pgt_id, s.defining_query, s.refresh_mode_reason, s.status, \
                    s.status_reason, s.effective_refresh_mode, \
                    (s.pgt_schema, s.pgt_name) IS DISTINCT FROM (n.nspname, c.relname), c.relowner, s.pinned_settings, s.refresh_mode, s.restored_at IS NOT NULL \
               FROM pg_catalog.pg_class c \
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
               LEFT JOIN pgtrickle.pgt_stream_tables s ON s.pgt_relid = c.oid \
              WHERE c.oid = $1";

fn lookup_oid(name: &str, oid: pg_sys::Oid) -> PgtResult<StreamTable> {
    let args = [oid.into()];
    let found = crate::spi_cache::select_kept(
        LOOKUP_OID,
        &args,
        Some(1),
        |rows| -> PgtResult<Option<(Option<StreamTable>, bool)>> {
            let Some(row) = rows.into_iter().next() else {
                return Ok(None);
            };
            let Some(pgt_id) = row.get::<i64>(4)? else {
                return Ok(Some((None, false)));
            };
            Ok(Some((
                Some(StreamTable {
                    pgt_id,
                    relid: row.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::Oid::INVALID),
                    owner: row.get::<pg_sys::Oid>(11)?.unwrap_or(pg_sys::Oid::INVALID),
                    table: QualifiedName::new(
                        row.get::<String>(2)?.unwrap_or_default(),
                        row.get::<String>(3)?.unwrap_or_default(),
                    ),
                    defining_query: row.get::<String>(5)?.unwrap_or_default(),
                    refresh_mode_reason: row.get::<String>(6)?,
                    pinned_settings: row.get::<Vec<String>>(12)?.unwrap_or_default(),
                    refresh_mode: row.get::<String>(13)?.unwrap_or_default(),
                    status: row.get::<String>(7)?.unwrap_or_default(),
                    status_reason: row.get::<String>(8)?,
                    effective_refresh_mode: row.get::<String>(9)?.unwrap_or_default(),
                    restored: row.get::<bool>(14)?.unwrap_or(false),
                }),
                row.get::<bool>(10)?.unwrap_or(false),
            )))
        },
    )?;
    let (st, renamed) = match found {
        None => {
            return Err(PgtError::NotFound {
                name: name.to_string(),
            })
        }
        Some((None, _)) => {
            return Err(PgtError::NotAStreamTable {
                name: name.to_string(),
            })
        }
        Some((Some(st), renamed)) => (st, renamed),
    };
    if renamed {
        // Keep the cached name current when the storage table was renamed or moved.
        Spi::run_with_args(
            "UPDATE pgtrickle.pgt_stream_tables SET pgt_schema = $2::name, pgt_name = $3::name WHERE pgt_id = $1",
            &[st.pgt_id.into(), st.table.schema.clone().into(), st.table.name.clone().into()],
        )?;
    }
    Ok(st)
}

/// The stream table with this id, if it still exists.
pub fn lookup_by_id(pgt_id: i64) -> PgtResult<Option<StreamTable>> {
    let oid = first_value::<pg_sys::Oid>(
        "SELECT s.pgt_relid FROM pgtrickle.pgt_stream_tables s WHERE s.pgt_id = $1",
        &[pgt_id.into()],
    )?;
    oid.map(|o| lookup_oid(&format!("stream table {pgt_id}"), o))
        .transpose()
}

/// The dependency graph (`pgt_dag`): stream tables by id, base tables by negative OID.
pub fn stream_table_graph() -> PgtResult<pgt_dag::Dag> {
    Spi::connect(|c| {
        let mut g = pgt_dag::Dag::new();
        for row in c.select("SELECT pgt_id FROM pgtrickle.pgt_stream_tables", None, &[])? {
            g.add_node(row.get::<i64>(1)?.unwrap_or_default());
        }
        // Edges from stream-table sources use their ids; base tables are nodes too (with
        // negative ids), so diamonds forking at a base table are found. Only positive ids
        // are stream tables.
        for row in c.select(
            "SELECT coalesce(src.pgt_id, -(d.source_relid::bigint)), d.pgt_id FROM pgtrickle.pgt_dependencies d \
               LEFT JOIN pgtrickle.pgt_stream_tables src ON src.pgt_relid = d.source_relid",
            None,
            &[],
        )? {
            g.add_edge(row.get::<i64>(1)?.unwrap_or_default(), row.get::<i64>(2)?.unwrap_or_default());
        }
        Ok(g)
    })
}

/// `schema.name` of stream tables, for messages.
pub fn display_names(ids: &std::collections::BTreeSet<i64>) -> PgtResult<Vec<String>> {
    let ids: Vec<i64> = ids.iter().copied().collect();
    Ok(Spi::get_one_with_args::<Vec<String>>(
        "SELECT coalesce(array_agg(pgt_relid::regclass::text ORDER BY pgt_id), '{}') FROM pgtrickle.pgt_stream_tables WHERE pgt_id = ANY($1)",
        &[ids.into()],
    )?
    .unwrap_or_default())
}

/// Everything `insert_stream_table` records.
pub struct NewStreamTable<'a> {
    pub relid: pg_sys::Oid,
    pub table: &'a QualifiedName,
    pub original_query: &'a str,
    pub defining_query: &'a str,
    pub schedule: Option<String>,
    pub refresh_mode: &'a str,
    pub effective_refresh_mode: &'a str,
    pub refresh_mode_reason: Option<&'a str>,
    pub pinned_settings: &'a [String],
    pub sources: &'a [SourceRelation],
}

/// Inserts the catalog row and dependency rows of a new stream table; returns its id.
pub fn insert_stream_table(new: &NewStreamTable<'_>) -> PgtResult<i64> {
    let pgt_id = Spi::get_one_with_args::<i64>(
        "INSERT INTO pgtrickle.pgt_stream_tables \
            (pgt_relid, pgt_schema, pgt_name, original_query, defining_query, schedule, \
             refresh_mode, effective_refresh_mode, refresh_mode_reason, pinned_settings) \
         VALUES ($1, $2::name, $3::name, $4, $5, $6, $7, $8, $9, $10) RETURNING pgt_id",
        &[
            new.relid.into(),
            new.table.schema.clone().into(),
            new.table.name.clone().into(),
            new.original_query.into(),
            new.defining_query.into(),
            new.schedule.clone().into(),
            new.refresh_mode.into(),
            new.effective_refresh_mode.into(),
            new.refresh_mode_reason.into(),
            new.pinned_settings.to_vec().into(),
        ],
    )?
    .expect("INSERT ... RETURNING returns a row");
    insert_dependencies(pgt_id, new.sources)?;
    Ok(pgt_id)
}

/// Records what stream table `pgt_id` reads (no frontiers yet: its next refresh is full).
pub fn insert_dependencies(
    pgt_id: i64,
    sources: &[crate::analyze::SourceRelation],
) -> PgtResult<()> {
    for src in sources {
        Spi::run_with_args(
            "INSERT INTO pgtrickle.pgt_dependencies \
                (pgt_id, source_relid, source_schema, source_name, source_type, columns_used, columns_signature) \
             VALUES ($1, $2, $3::name, $4::name, $5, $6, $7)",
            &[
                pgt_id.into(),
                src.relid.into(),
                src.schema.clone().into(),
                src.name.clone().into(),
                src.source_type.into(),
                src.columns_used.clone().into(),
                src.columns_signature.clone().into(),
            ],
        )?;
    }
    Ok(())
}

/// The OID of `schema.name`, if such a relation exists.
pub fn relation_oid(table: &QualifiedName) -> PgtResult<Option<pg_sys::Oid>> {
    first_value::<pg_sys::Oid>(
        "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = $1 AND c.relname = $2",
        &[table.schema.clone().into(), table.name.clone().into()],
    )
}

/// Forgets what a stream table consumed from its sources: its next refresh recomputes in
/// full (after a mode change, or a fill whose snapshot predates change capture).
pub fn reset_frontiers(pgt_id: i64) -> PgtResult<()> {
    Spi::run_with_args(
        "UPDATE pgtrickle.pgt_dependencies SET frontier_snapshot = NULL, frontier_xid = NULL, frontier_change_id = NULL WHERE pgt_id = $1",
        &[pgt_id.into()],
    )?;
    Ok(())
}

/// Records the storage table's current columns as the ones DDL may not change.
pub fn record_storage_columns(pgt_id: i64) -> PgtResult<()> {
    Spi::run_with_args(
        "UPDATE pgtrickle.pgt_stream_tables s SET storage_columns = pgtrickle._storage_signature(s.pgt_relid) WHERE s.pgt_id = $1",
        &[pgt_id.into()],
    )?;
    Ok(())
}

/// The user-visible column names of a storage table, in order.
pub fn storage_columns(relid: pg_sys::Oid) -> PgtResult<Vec<String>> {
    Ok(Spi::get_one_with_args::<Vec<String>>(
        "SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum), '{}') FROM pg_catalog.pg_attribute a \
          WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT LIKE '\\_\\_pgt\\_%'",
        &[relid.into()],
    )?
    .unwrap_or_default())
}

/// One row of `pgt_refresh_history`.
pub struct HistoryEntry<'a> {
    pub pgt_id: i64,
    pub action: &'a str,
    pub status: &'a str,
    pub started_at: TimestampWithTimeZone,
    pub rows_inserted: i64,
    pub rows_deleted: i64,
    /// Source changes consumed (0 for FULL).
    pub changes: i64,
    /// One-time work included in the duration (see [`crate::refresh::RefreshOutcome`]).
    pub setup_ms: f64,
    /// How long an incremental attempt stopped on probation ran (then `action` is FULL).
    pub abandoned_ms: Option<f64>,
    pub error_message: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub initiated_by: &'a str,
}

/// Records a completed refresh: the stream table's row (populated, data timestamp, errors
/// reset) and its history row, in one statement.
pub fn record_refresh(e: &HistoryEntry<'_>) -> PgtResult<()> {
    run_kept(
        "WITH st AS (UPDATE pgtrickle.pgt_stream_tables \
                        SET is_populated = true, data_timestamp = $4, last_refresh_at = pg_catalog.clock_timestamp(), \
                            consecutive_errors = 0, updated_at = pg_catalog.now() \
                      WHERE pgt_id = $1 RETURNING pgt_id) \
         INSERT INTO pgtrickle.pgt_refresh_history \
            (pgt_id, action, status, started_at, ended_at, rows_inserted, rows_deleted, error_message, reason, initiated_by, changes, setup_ms, abandoned_delta_ms) \
         SELECT st.pgt_id, $2, $3, $4, pg_catalog.clock_timestamp(), $5, $6, $7, $8, $9, $10, $11, $12 FROM st",
        &[
            e.pgt_id.into(),
            e.action.into(),
            e.status.into(),
            e.started_at.into(),
            e.rows_inserted.into(),
            e.rows_deleted.into(),
            e.error_message.into(),
            e.reason.into(),
            e.initiated_by.into(),
            e.changes.into(),
            e.setup_ms.into(),
            e.abandoned_ms.into(),
        ],
    )?;
    Ok(())
}

/// Runs the statement `sql` (which writes) from its kept plan (see [`crate::spi_cache`]).
pub fn run_kept(sql: &str, args: &[pgrx::datum::DatumWithOid<'_>]) -> PgtResult<()> {
    crate::spi_cache::update_kept(sql, args, None, |_| Ok(()))
}

/// This stream table's recent completed refreshes, newest first, for the cost model.
pub fn recent_refreshes(pgt_id: i64) -> PgtResult<Vec<pgt_core::cost::PastRefresh>> {
    Spi::connect(|c| {
        let mut out = Vec::new();
        for row in c.select(
            "SELECT h.action OPERATOR(pg_catalog.=) 'DIFFERENTIAL', h.changes, \
                    pg_catalog.float8larger((pg_catalog.date_part('epoch', h.ended_at OPERATOR(pg_catalog.-) h.started_at) OPERATOR(pg_catalog.*) 1000)::pg_catalog.float8 \
                                            OPERATOR(pg_catalog.-) h.setup_ms, 0), h.abandoned_delta_ms \
               FROM pgtrickle.pgt_refresh_history h \
              WHERE h.pgt_id OPERATOR(pg_catalog.=) $1 AND h.status OPERATOR(pg_catalog.=) 'COMPLETED' AND h.ended_at IS NOT NULL \
              ORDER BY h.started_at DESC LIMIT 64",
            None,
            &[pgt_id.into()],
        )? {
            out.push(pgt_core::cost::PastRefresh {
                differential: row.get::<bool>(1)?.unwrap_or(false),
                changes: row.get::<i64>(2)?.unwrap_or(0),
                millis: row.get::<f64>(3)?.unwrap_or(f64::NAN),
                abandoned_ms: row.get::<f64>(4)?,
            });
        }
        Ok(out)
    })
}

/// The first column of the first row of `sql`, or None when it returns no rows (pgrx's
/// `Spi::get_one` treats an empty result as an error).
pub fn first_value<T: pgrx::FromDatum + pgrx::IntoDatum>(
    sql: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
) -> PgtResult<Option<T>> {
    crate::spi_cache::select_kept(sql, args, Some(1), |rows| match rows.into_iter().next() {
        Some(r) => Ok(r.get::<T>(1)?),
        None => Ok(None),
    })
}

/// [`first_value`] for statements that write or lock rows (`FOR UPDATE`, `RETURNING`).
pub fn first_value_mut<T: pgrx::FromDatum + pgrx::IntoDatum>(
    sql: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
) -> PgtResult<Option<T>> {
    crate::spi_cache::update_kept(sql, args, Some(1), |rows| match rows.into_iter().next() {
        Some(r) => Ok(r.get::<T>(1)?),
        None => Ok(None),
    })
}
