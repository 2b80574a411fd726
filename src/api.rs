//! The SQL API in schema `pgtrickle`: thin `#[pg_extern]` glue that validates arguments
//! with `pgt_core`, builds SQL with `pgt_sql` / `pgt_dvm` / `pgt_cdc`, and reports errors
//! in one place.

use pgrx::prelude::*;
use pgt_core::{validate_output_columns, RefreshMode, Schedule, StreamTableStatus};
use pgt_dvm::driver::StorageSpec;
use pgt_dvm::DvmError;
use pgt_sql::storage::{create_guard_triggers, create_storage_table};
use pgt_sql::{quote_ident, QualifiedName};

use crate::analyze::analyze_defining_query;
use crate::catalog::{self, NewStreamTable};
use crate::cdc;
use crate::config::{volatile_function_policy, VolatileFunctionPolicy};
use crate::error::{or_report, required, PgtError, PgtResult};
use crate::frontend::{self, Translation};
use crate::ownership::{check_owner_can_read, require_maintain, require_owner};
use crate::refresh::{refresh, Initiator};
use crate::security::{AsOwner, AsPgTrickle};

/// How a requested refresh mode resolves for a query.
pub(crate) enum Resolved {
    Full {
        reason: Option<String>,
    },
    Differential {
        translation: Translation,
        spec: StorageSpec,
    },
}

impl Resolved {
    pub(crate) fn effective(&self) -> &'static str {
        match self {
            Resolved::Full { .. } => "FULL",
            Resolved::Differential { .. } => "DIFFERENTIAL",
        }
    }

    pub(crate) fn reason(&self) -> Option<&str> {
        match self {
            Resolved::Full { reason } => reason.as_deref(),
            Resolved::Differential { .. } => None,
        }
    }
}

/// Can `query` (as stored: deparsed, qualified) be maintained incrementally into `table`?
fn try_incremental(query: &str, table: &QualifiedName) -> PgtResult<(Translation, StorageSpec)> {
    let translation = frontend::translate(query)?;
    if translation.volatile {
        match volatile_function_policy() {
            VolatileFunctionPolicy::Reject => {
                return Err(PgtError::Dvm(DvmError::unsupported(
                    "a volatile function (random(), clock_timestamp(), nextval(), …)",
                    "Its result differs on every call, so a delta cannot reproduce the query's result; pg_trickle.volatile_function_policy is 'reject'.",
                )))
            }
            VolatileFunctionPolicy::Warn => pgrx::warning!(
                "stream table \"{}\" calls volatile functions; incremental refresh evaluates them only for changed rows",
                table.name
            ),
            VolatileFunctionPolicy::Allow => {}
        }
    }
    let spec = pgt_dvm::driver::storage_spec(&translation.tree, table)?;
    Ok((translation, spec))
}

pub(crate) fn resolve(
    mode: RefreshMode,
    query: &str,
    table: &QualifiedName,
) -> PgtResult<Resolved> {
    if mode == RefreshMode::Full {
        return Ok(Resolved::Full { reason: None });
    }
    let attempt = try_incremental(query, table).and_then(|(translation, spec)| {
        if mode == RefreshMode::Immediate {
            immediate_sources(&translation)?;
        }
        Ok((translation, spec))
    });
    match attempt {
        Ok((translation, spec)) => Ok(Resolved::Differential { translation, spec }),
        Err(PgtError::Dvm(cause)) if mode.requires_incremental() => Err(PgtError::CannotMaintain {
            name: format!("{}.{}", table.schema.as_deref().unwrap_or(""), table.name),
            cause,
        }),
        Err(PgtError::Dvm(cause)) => Ok(Resolved::Full {
            reason: Some(format!("AUTO chose FULL: {}", cause.reason_line())),
        }),
        Err(other) => Err(other),
    }
}

/// An IMMEDIATE stream table reads tables only: another stream table changes inside its
/// own refresh, not in the transaction that wrote what it reads (ADR-024).
fn immediate_sources(translation: &Translation) -> PgtResult<()> {
    let sources: Vec<pgrx::pg_sys::Oid> = translation
        .sources
        .iter()
        .map(|&s| pgrx::pg_sys::Oid::from(s))
        .collect();
    let st = catalog::first_value::<String>(
        "SELECT s.pgt_relid::pg_catalog.regclass::pg_catalog.text FROM pgtrickle.pgt_stream_tables s \
          WHERE s.pgt_relid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[]) LIMIT 1",
        &[sources.into()],
    )?;
    if let Some(name) = st {
        return Err(PgtError::Dvm(DvmError::unsupported(
            format!("stream table {name} as a source of an IMMEDIATE stream table"),
            "A stream table changes inside its own refresh, not in the transaction that wrote its sources, so it cannot feed maintenance inside that transaction.",
        )));
    }
    let parted = catalog::first_value::<String>(
        "SELECT c.oid::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_class c \
          WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[]) AND c.relkind OPERATOR(pg_catalog.=) 'p' LIMIT 1",
        &[translation
            .sources
            .iter()
            .map(|&s| pgrx::pg_sys::Oid::from(s))
            .collect::<Vec<_>>()
            .into()],
    )?;
    match parted {
        Some(name) => Err(PgtError::Dvm(DvmError::unsupported(
            format!("the partitioned table {name} as a source of an IMMEDIATE stream table"),
            "A statement on one of its partitions fires that partition's triggers only; use DIFFERENTIAL (its partitions' changes are captured) or FULL.",
        ))),
        None => Ok(()),
    }
}

/// Refuses duration schedules shorter than `pg_trickle.min_schedule_seconds`.
fn check_schedule_core(s: Schedule) -> Result<Schedule, pgt_core::CoreError> {
    let min = crate::config::min_schedule_seconds().max(1) as u64;
    match s.period_secs() {
        Some(p) if p < min => Err(pgt_core::CoreError::InvalidSchedule {
            given: s.to_string(),
            reason: format!("It is shorter than pg_trickle.min_schedule_seconds ({min} s)."),
        }),
        _ => Ok(s),
    }
}

fn check_schedule(s: Schedule) -> PgtResult<Schedule> {
    Ok(check_schedule_core(s)?)
}

/// Schemas no stream table may be created in: PostgreSQL's own (`pg_*`, which users cannot
/// create either), `information_schema`, and pg_trickle's.
fn check_creation_schema(table: &QualifiedName) -> PgtResult<()> {
    let schema = table.schema.as_deref().unwrap_or("");
    let name = table.name.clone();
    if schema == "pg_temp" || schema.starts_with("pg_temp_") || schema.starts_with("pg_toast_temp_")
    {
        return Err(PgtError::TemporaryStreamTable { name });
    }
    if schema.starts_with("pg_")
        || ["information_schema", "pgtrickle", pgt_cdc::CHANGES_SCHEMA].contains(&schema)
    {
        return Err(PgtError::ReservedSchema {
            name,
            schema: schema.to_string(),
        });
    }
    Ok(())
}

/// Adds what incremental maintenance needs to an existing storage table and sources.
pub(crate) fn prepare_incremental(
    table: &QualifiedName,
    translation: &Translation,
    spec: &StorageSpec,
    add_columns: bool,
) -> PgtResult<()> {
    if add_columns {
        for (name, ty) in &spec.hidden_columns {
            Spi::run(&format!(
                "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {} {ty}",
                quote_ident(name)
            ))?;
        }
    }
    for ddl in &spec.extra_ddl {
        Spi::run(ddl)?;
    }
    for &src in &translation.sources {
        cdc::ensure_capture(pgrx::pg_sys::Oid::from(src))?;
    }
    Ok(())
}

/// Creates a stream table named `name` holding the result of `query`.
#[pg_extern]
fn create_stream_table(
    name: Option<&str>,
    query: Option<&str>,
    schedule: default!(Option<&str>, "'1m'"),
    refresh_mode: default!(Option<&str>, "'AUTO'"),
    initialize: default!(Option<bool>, true),
) {
    or_report(create_impl(name, query, schedule, refresh_mode, initialize))
}

fn create_impl(
    name: Option<&str>,
    query: Option<&str>,
    schedule: Option<&str>,
    refresh_mode: Option<&str>,
    initialize: Option<bool>,
) -> PgtResult<()> {
    let name = required(name, "name")?;
    let query = required(query, "query")?;
    let mode: RefreshMode = required(refresh_mode, "refresh_mode")?.parse()?;
    let initialize = required(initialize, "initialize")?;
    let schedule = check_schedule(Schedule::parse(schedule)?)?;
    let parsed = catalog::parse_name(name)?;
    let (schema, relname) = (parsed.schema, parsed.name);

    // The settings the query is analyzed under are the ones every refresh will use.
    let pinned = crate::settings::capture()?;
    let analyzed = analyze_defining_query(query)?;
    validate_output_columns(&analyzed.columns)?;

    let schema = match schema {
        Some(s) => s,
        None => Spi::get_one::<String>("SELECT pg_catalog.current_schema()::pg_catalog.text")?
            .ok_or_else(|| PgtError::NoCreationSchema {
                name: name.to_string(),
            })?,
    };
    let table = QualifiedName::new(schema, relname);
    check_creation_schema(&table)?;
    // The creator owns the stream table (ADR-014): it must be able to read every source.
    let owner = crate::security::current_user();
    let sources: Vec<pgrx::pg_sys::Oid> = analyzed.sources.iter().map(|s| s.relid).collect();
    check_owner_can_read(
        owner,
        &table.to_string(),
        &sources,
        mode == RefreshMode::Immediate,
    )?;
    // From here on every name in generated SQL is pg_trickle's or qualified: nothing may
    // resolve through the caller's search_path (the query itself was analyzed under it).
    let _path = crate::security::PinnedSearchPath::enter();
    let _ddl = crate::guard::InternalDdl::enter();
    let resolved = {
        // Translation folds constants, which can call the owner's immutable functions.
        let _owner = AsOwner::enter(owner);
        resolve(mode, &analyzed.deparsed, &table)?
    };

    let hidden = match &resolved {
        Resolved::Differential { spec, .. } => spec.hidden_columns.clone(),
        Resolved::Full { .. } => Vec::new(),
    };
    // Created as the caller, who owns it: PostgreSQL checks CREATE on the schema and
    // USAGE on the column types.
    Spi::run(&create_storage_table(&table, &analyzed.columns, &hidden))?;
    // The rest is pg_trickle's: catalog rows, change buffers, capture triggers on sources
    // the caller need not own. No user code runs in it except under `AsOwner`.
    let _pgt = AsPgTrickle::enter();
    crate::wal::ensure_publication(true)?;
    for trigger in create_guard_triggers(&table) {
        Spi::run(&trigger)?;
    }
    if let Resolved::Differential { translation, spec } = &resolved {
        prepare_incremental(&table, translation, spec, false)?;
    }
    let relid = catalog::relation_oid(&table)?.ok_or_else(|| PgtError::NotFound {
        name: table.to_string(),
    })?;
    let pgt_id = catalog::insert_stream_table(&NewStreamTable {
        relid,
        table: &table,
        original_query: query,
        defining_query: &analyzed.deparsed,
        schedule: schedule.to_catalog_text(),
        refresh_mode: mode.as_str(),
        effective_refresh_mode: resolved.effective(),
        refresh_mode_reason: resolved.reason(),
        pinned_settings: &pinned,
        sources: &analyzed.sources,
    })?;
    catalog::record_storage_columns(pgt_id)?;
    if let (RefreshMode::Immediate, Resolved::Differential { translation, .. }) = (mode, &resolved)
    {
        crate::immediate::install(pgt_id, &translation.sources)?;
    }
    if initialize {
        let st = catalog::lookup(&table.to_string())?;
        refresh(&st, Initiator::Create, true)?;
        // Under REPEATABLE READ or SERIALIZABLE the fill read the transaction's snapshot,
        // taken before the capture triggers existed: a write committed in between would be
        // neither visible nor captured. Recording no frontier makes the next refresh
        // recompute in full, at a snapshot taken after capture began.
        if resolved.effective() == "DIFFERENTIAL"
            && Spi::get_one::<bool>(
                "SELECT pg_catalog.current_setting('transaction_isolation') <> 'read committed'",
            )?
            .unwrap_or(false)
        {
            catalog::reset_frontiers(st.pgt_id)?;
        }
    }
    crate::shmem::bump_catalog();
    Ok(())
}

/// Brings a stream table up to date with its defining query now.
#[pg_extern]
fn refresh_stream_table(name: Option<&str>) {
    or_report(refresh_impl(name))
}

fn refresh_impl(name: Option<&str>) -> PgtResult<()> {
    let st = catalog::lookup(required(name, "name")?)?;
    require_maintain(&st, "refresh")?;
    let st = rebound(st)?;
    refuse_if_in_error(&st)?;
    let _pgt = AsPgTrickle::enter();
    refresh(&st, Initiator::Manual, true)?;
    Ok(())
}

/// How a stream table is maintained: its refresh mode, its operator tree as written and
/// after the rewrite rules, the statement its next refresh would run for the changes
/// pending now, and PostgreSQL's plan for that statement. One line per row.
/// With `actual`, the statement is executed under `EXPLAIN (ANALYZE, BUFFERS)` in a
/// subtransaction that is rolled back (nothing is consumed or changed).
#[pg_extern]
fn explain_stream_table(
    name: Option<&str>,
    actual: default!(Option<bool>, false),
) -> SetOfIterator<'static, String> {
    let lines = or_report((|| {
        let st = catalog::lookup(required(name, "name")?)?;
        require_maintain(&st, "explain")?;
        let st = rebound(st)?;
        let _pgt = AsPgTrickle::enter();
        crate::refresh::explain(&st, actual.unwrap_or(false))
    })());
    SetOfIterator::new(lines)
}

/// The operator tree the extension's frontend builds for `query`, as written (before the
/// rewrite rules), printed in full: every operator's fields, every column's type and key
/// properties. The sidecar's frontend (`pgt_pgquery`) is tested against it
/// (`tests/pgquery_frontend.rs`). Translation reads only the catalog, as the caller.
#[pg_extern(volatile, parallel_unsafe)]
fn _operator_tree(query: Option<&str>) -> String {
    or_report((|| {
        use pgt_dvm::frontend::ParseFrontend;
        let t = frontend::PgFrontend.translate(required(query, "query")?)?;
        Ok(pgt_dvm::explain::tree_debug(&t.tree))
    })())
}

/// Changes the given settings of a stream table; NULL arguments leave a setting as it is.
#[pg_extern]
fn alter_stream_table(
    name: Option<&str>,
    schedule: default!(Option<&str>, "NULL"),
    refresh_mode: default!(Option<&str>, "NULL"),
    status: default!(Option<&str>, "NULL"),
) {
    or_report(alter_impl(name, schedule, refresh_mode, status))
}

fn alter_impl(
    name: Option<&str>,
    schedule: Option<&str>,
    refresh_mode: Option<&str>,
    status: Option<&str>,
) -> PgtResult<()> {
    let st = catalog::lookup(required(name, "name")?)?;
    require_owner(&st, "alter")?;
    let st = rebound(st)?;
    // Validate everything before changing anything.
    let schedule = schedule
        .map(|s| Schedule::parse(Some(s)).and_then(check_schedule_core))
        .transpose()?;
    let mode = refresh_mode.map(str::parse::<RefreshMode>).transpose()?;
    let status = status
        .map(StreamTableStatus::parse_user_settable)
        .transpose()?;
    // The stored query is translated under the settings it was created with.
    let _scope = crate::budget::RefreshScope::enter(&st.pinned_settings);
    let _ddl = crate::guard::InternalDdl::enter();
    let resolved = {
        let _owner = AsOwner::enter(st.owner);
        mode.map(|m| resolve(m, &st.defining_query, &st.table))
            .transpose()?
    };
    if let (Some(RefreshMode::Immediate), Some(Resolved::Differential { translation, .. })) =
        (mode, &resolved)
    {
        let sources: Vec<pgrx::pg_sys::Oid> = translation
            .sources
            .iter()
            .map(|&s| pgrx::pg_sys::Oid::from(s))
            .collect();
        check_owner_can_read(st.owner, &st.display_name(), &sources, true)?;
    }
    let _pgt = AsPgTrickle::enter();

    if let Some(schedule) = schedule {
        Spi::run_with_args(
            "UPDATE pgtrickle.pgt_stream_tables SET schedule = $2, updated_at = pg_catalog.now() WHERE pgt_id = $1",
            &[st.pgt_id.into(), schedule.to_catalog_text().into()],
        )?;
    }
    if let (Some(mode), Some(resolved)) = (mode, &resolved) {
        Spi::run_with_args(
            "UPDATE pgtrickle.pgt_stream_tables \
                SET refresh_mode = $2, effective_refresh_mode = $3, refresh_mode_reason = $4, updated_at = pg_catalog.now() \
              WHERE pgt_id = $1",
            &[st.pgt_id.into(), mode.as_str().into(), resolved.effective().into(), resolved.reason().into()],
        )?;
        if resolved.effective() != st.effective_refresh_mode {
            // The storage's row identities change with the mode: the next refresh recomputes
            // (frontiers are reset, so an incremental one starts with a full computation).
            catalog::reset_frontiers(st.pgt_id)?;
            match &resolved {
                Resolved::Differential { translation, spec } => {
                    prepare_incremental(&st.table, translation, spec, true)?
                }
                Resolved::Full { .. } => Spi::run("SELECT pgtrickle._drop_unused_capture()")?,
            }
            catalog::record_storage_columns(st.pgt_id)?;
        }
    }
    if let Some(mode) = mode {
        match (mode, &resolved) {
            (RefreshMode::Immediate, Some(Resolved::Differential { translation, .. })) => {
                crate::immediate::install(st.pgt_id, &translation.sources)?;
                // Current from now on: catch up with what is pending.
                if let Some(now) = catalog::lookup_by_id(st.pgt_id)? {
                    refresh(&now, Initiator::Manual, true)?;
                }
            }
            _ => crate::immediate::drop_stale_triggers()?,
        }
    }
    if let Some(status) = status {
        refuse_if_in_error(&st)?;
        set_status(st.pgt_id, status)?;
    }
    crate::shmem::bump_catalog();
    Ok(())
}

/// A stream table restored by pg_restore is rebound to this database first (ADR-064).
fn rebound(st: catalog::StreamTable) -> PgtResult<catalog::StreamTable> {
    if !st.restored {
        return Ok(st);
    }
    crate::restore::rebind_restored(Some(st.pgt_id))?;
    let now = catalog::lookup_by_id(st.pgt_id)?.ok_or_else(|| PgtError::NotFound {
        name: st.display_name(),
    })?;
    if now.restored && now.status != StreamTableStatus::Error.as_str() {
        return Err(PgtError::RestoreIncomplete {
            name: now.display_name(),
        });
    }
    Ok(now)
}

/// A stream table in ERROR lost something it needs (a source, a column it reads); making
/// it ACTIVE or SUSPENDED again would hide that. Only drop and re-create fix it.
fn refuse_if_in_error(st: &catalog::StreamTable) -> PgtResult<()> {
    if st.status == StreamTableStatus::Error.as_str() {
        return Err(PgtError::InErrorState {
            name: st.display_name(),
            reason: st
                .status_reason
                .clone()
                .unwrap_or_else(|| "it is in status ERROR".into()),
        });
    }
    Ok(())
}

fn set_status(pgt_id: i64, status: StreamTableStatus) -> PgtResult<()> {
    {
        Spi::run_with_args(
            "UPDATE pgtrickle.pgt_stream_tables \
                SET status = $2, status_reason = NULL, \
                    consecutive_errors = CASE WHEN $2 = 'ACTIVE' THEN 0 ELSE consecutive_errors END, \
                    updated_at = pg_catalog.now() \
              WHERE pgt_id = $1",
            &[pgt_id.into(), status.as_str().into()],
        )?;
    }
    Ok(())
}

/// Brings a suspended stream table back: status ACTIVE, consecutive errors reset. Its next
/// refresh recomputes in full, so a refresh that kept failing on data that has since been
/// fixed (a "poison row" still present as both an insert and a delete in the buffer) cannot
/// fail again the same way.
#[pg_extern]
fn resume_stream_table(name: Option<&str>) {
    or_report(resume_impl(name))
}

fn resume_impl(name: Option<&str>) -> PgtResult<()> {
    let st = catalog::lookup(required(name, "name")?)?;
    require_owner(&st, "resume")?;
    let st = rebound(st)?;
    let _pgt = AsPgTrickle::enter();
    refuse_if_in_error(&st)?;
    set_status(st.pgt_id, StreamTableStatus::Active)?;
    catalog::reset_frontiers(st.pgt_id)?;
    crate::shmem::bump_catalog();
    Ok(())
}

/// When a stream table with this schedule, last refreshed at `last`, is next due (NULL for
/// calculated schedules and never-refreshed stream tables). Used by the monitoring views.
#[pg_extern(stable, parallel_safe)]
fn _next_due(
    schedule: Option<&str>,
    last: Option<TimestampWithTimeZone>,
) -> Option<TimestampWithTimeZone> {
    let last = last?;
    let schedule = Schedule::parse(schedule).ok()?;
    let _path = crate::security::PinnedSearchPath::enter();
    let epoch =
        Spi::get_one_with_args::<f64>("SELECT extract(epoch FROM $1)::float8", &[last.into()])
            .ok()??;
    let next = schedule.next_due_after(epoch.floor() as i64)?;
    // Never let one row break a monitoring view: a time beyond what timestamptz holds
    // (year 294276) is shown as unknown rather than raising "timestamp out of range".
    if !(-200_000_000_000..=200_000_000_000).contains(&next) {
        return None;
    }
    Spi::get_one_with_args::<TimestampWithTimeZone>(
        "SELECT pg_catalog.to_timestamp($1)",
        &[(next as f64).into()],
    )
    .ok()?
}

/// Wakes the launcher so it starts a scheduler for this database (called at CREATE EXTENSION).
#[pg_extern]
fn _signal_launcher() {
    crate::shmem::bump_launcher();
}

/// Drops a stream table: its storage, catalog rows, history and unneeded change capture.
/// Stream tables that read it must be dropped first, or together with `cascade => true`.
#[pg_extern]
fn drop_stream_table(name: Option<&str>, cascade: default!(Option<bool>, false)) {
    or_report(drop_impl(name, cascade))
}

fn drop_impl(name: Option<&str>, cascade: Option<bool>) -> PgtResult<()> {
    let st = catalog::lookup(required(name, "name")?)?;
    let cascade = required(cascade, "cascade")?;
    // As DROP TABLE … CASCADE: the owner's drop takes readers owned by others with it.
    require_owner(&st, "drop")?;
    let _pgt = AsPgTrickle::enter();
    let _ddl = crate::guard::InternalDdl::enter();
    let graph = catalog::stream_table_graph()?;
    // Everything downstream of st, readers before what they read.
    let downstream = graph.downstream_of(st.pgt_id);
    if !downstream.is_empty() && !cascade {
        return Err(PgtError::HasReaders {
            name: st.display_name(),
            readers: catalog::display_names(&downstream)?,
        });
    }
    let mut order = graph.topological_order().unwrap_or_default();
    order.reverse();
    for id in order
        .into_iter()
        .filter(|id| *id > 0 && downstream.contains(id))
    {
        if let Some(reader) = catalog::lookup_by_id(id)? {
            drop_one(&reader)?;
        }
    }
    drop_one(&st)?;
    crate::shmem::bump_catalog();
    Ok(())
}

fn drop_one(st: &catalog::StreamTable) -> PgtResult<()> {
    // The sql_drop event trigger removes the catalog rows and unused capture; the explicit
    // statements cover sessions where event triggers are disabled.
    Spi::run(&format!("DROP TABLE {}", st.table))?;
    Spi::run_with_args(
        "DELETE FROM pgtrickle.pgt_stream_tables WHERE pgt_id = $1",
        &[st.pgt_id.into()],
    )?;
    Spi::run("SELECT pgtrickle._drop_unused_capture()")?;
    Ok(())
}

/// The 64-bit row identity: XXH64 of `data` seeded with `seed`, as a signed bigint.
#[pg_extern(immutable, strict, parallel_safe)]
fn pg_trickle_hash(data: &str, seed: default!(i64, 0)) -> i64 {
    pgt_core::row_id::row_id(data.as_bytes(), seed)
}

/// The same for binary data (`record_send(ROW(…))`: identities independent of output settings).
#[pg_extern(immutable, strict, parallel_safe, name = "pg_trickle_hash")]
fn pg_trickle_hash_bytea(data: &[u8], seed: default!(i64, 0)) -> i64 {
    pgt_core::row_id::row_id(data, seed)
}

/// Combines a row's key with its occurrence number into the id of that copy of the row.
#[pg_extern(immutable, strict, parallel_safe)]
fn pg_trickle_hash_combine(key: i64, occurrence: i64) -> i64 {
    pgt_core::row_id::combine(key, occurrence)
}

/// Raises an error when a consistency check in generated SQL fails.
#[pg_extern(volatile, parallel_safe)]
fn _pgt_check(ok: Option<bool>, message: &str) -> bool {
    if ok != Some(true) {
        pgrx::pg_sys::panic::ErrorReport::new(pgrx::PgSqlErrorCode::ERRCODE_DATA_CORRUPTED, message.to_string(), "pg_trickle")
            .set_hint("Run pgtrickle.alter_stream_table(name, refresh_mode => 'FULL') and back, or drop and recreate the stream table, and report this as a bug.")
            .report(pgrx::PgLogLevel::ERROR);
    }
    true
}

/// Raises SQLSTATE 21000, as PostgreSQL does for the query, when a correlated scalar
/// subquery that a stream table maintains as a join has more than one row for an outer
/// row (`pgt_dvm::operators::outer_join`, single match).
#[pg_extern(volatile, parallel_safe)]
fn _pgt_single_row_check(ok: Option<bool>) -> bool {
    if ok == Some(false) {
        pgrx::pg_sys::panic::ErrorReport::new(
            pgrx::PgSqlErrorCode::ERRCODE_CARDINALITY_VIOLATION,
            "more than one row returned by a subquery used as an expression",
            "pg_trickle",
        )
        .set_detail("A correlated scalar subquery of the stream table's defining query has several rows for one row of the outer query.")
        .report(pgrx::PgLogLevel::ERROR);
    }
    true
}

/// Raises SQLSTATE 40001 when a source whose delta terms a refresh statement left out has
/// a change at the statement's snapshot after all (see `DeltaContext::omit_quiet`); the
/// refresh catches it and runs the statement with those terms.
#[pg_extern(volatile, parallel_safe)]
fn _pgt_quiet_check(still_quiet: Option<bool>) -> bool {
    if still_quiet != Some(true) {
        pgrx::pg_sys::panic::ErrorReport::new(
            pgrx::PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            pgt_dvm::operators::QUIET_SOURCE_CHANGED.to_string(),
            "pg_trickle",
        )
        .report(pgrx::PgLogLevel::ERROR);
    }
    true
}
