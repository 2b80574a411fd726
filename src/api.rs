//! The SQL API in schema `pgtrickle`: thin `#[pg_extern]` glue that validates arguments
//! with `pgt_core`, builds SQL with `pgt_sql`, and reports errors in one place.

use pgrx::prelude::*;
use pgt_core::{validate_output_columns, RefreshMode, Schedule, StreamTableStatus};
use pgt_sql::storage::{create_guard_triggers, create_storage_table};
use pgt_sql::QualifiedName;

use crate::analyze::analyze_defining_query;
use crate::catalog::{self, NewStreamTable};
use crate::error::{or_report, required, PgtError, PgtResult};
use crate::refresh::{full_refresh, Initiator};

/// Why AUTO runs FULL in this version; recorded in the catalog and in refresh history.
const AUTO_FULL_REASON: &str = "AUTO chose FULL: incremental (DIFFERENTIAL) refresh is not available in this version";

/// How a refresh mode resolves to the mode actually used, and why.
fn resolve_mode(mode: RefreshMode) -> PgtResult<(&'static str, Option<&'static str>)> {
    match mode {
        RefreshMode::Full => Ok(("FULL", None)),
        RefreshMode::Auto => Ok(("FULL", Some(AUTO_FULL_REASON))),
        RefreshMode::Differential => Err(PgtError::DifferentialNotSupported),
    }
}

/// Splits a user-supplied relation name (quoting rules apply) into schema and name.
fn parse_relation_name(name: &str) -> PgtResult<(Option<String>, String)> {
    let parts = Spi::get_one_with_args::<Vec<String>>("SELECT pg_catalog.parse_ident($1)", &[name.into()])?
        .unwrap_or_default();
    match parts.as_slice() {
        [rel] => Ok((None, rel.clone())),
        [schema, rel] => Ok((Some(schema.clone()), rel.clone())),
        _ => Err(PgtError::InvalidName { name: name.to_string() }),
    }
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
    let (effective_mode, mode_reason) = resolve_mode(mode)?;
    let schedule = Schedule::parse(schedule)?;
    let (schema, relname) = parse_relation_name(name)?;

    let analyzed = analyze_defining_query(query)?;
    validate_output_columns(&analyzed.columns)?;

    let schema = match schema {
        Some(s) => s,
        None => Spi::get_one::<String>("SELECT pg_catalog.current_schema()::text")?
            .ok_or_else(|| PgtError::NoCreationSchema { name: name.to_string() })?,
    };
    let table = QualifiedName::new(schema, relname);
    Spi::run(&create_storage_table(&table, &analyzed.columns))?;
    for trigger in create_guard_triggers(&table) {
        Spi::run(&trigger)?;
    }
    let relid = catalog::relation_oid(&table)?.expect("the storage table was just created");
    let pgt_id = catalog::insert_stream_table(&NewStreamTable {
        relid,
        table: &table,
        original_query: query,
        defining_query: &analyzed.deparsed,
        schedule: schedule.to_catalog_text(),
        refresh_mode: mode.as_str(),
        effective_refresh_mode: effective_mode,
        refresh_mode_reason: mode_reason,
        sources: &analyzed.sources,
    })?;
    if initialize {
        let st = catalog::lookup(&table.to_string())?;
        debug_assert_eq!(st.pgt_id, pgt_id);
        full_refresh(&st, Initiator::Create, mode_reason)?;
    }
    Ok(())
}

/// Brings a stream table up to date with its defining query now.
#[pg_extern]
fn refresh_stream_table(name: Option<&str>) {
    or_report(refresh_impl(name))
}

fn refresh_impl(name: Option<&str>) -> PgtResult<()> {
    let st = catalog::lookup(required(name, "name")?)?;
    if st.status == StreamTableStatus::Error.as_str() {
        return Err(PgtError::InErrorState {
            name: st.display_name(),
            reason: st.status_reason.clone().unwrap_or_else(|| "it is in status ERROR".into()),
        });
    }
    full_refresh(&st, Initiator::Manual, st.refresh_mode_reason.as_deref())?;
    Ok(())
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

fn alter_impl(name: Option<&str>, schedule: Option<&str>, refresh_mode: Option<&str>, status: Option<&str>) -> PgtResult<()> {
    let st = catalog::lookup(required(name, "name")?)?;
    // Validate everything before changing anything.
    let schedule = schedule.map(|s| Schedule::parse(Some(s))).transpose()?;
    let mode = refresh_mode.map(str::parse::<RefreshMode>).transpose()?;
    let resolved = mode.map(resolve_mode).transpose()?;
    let status = status.map(StreamTableStatus::parse_user_settable).transpose()?;

    if let Some(schedule) = schedule {
        Spi::run_with_args(
            "UPDATE pgtrickle.pgt_stream_tables SET schedule = $2, updated_at = pg_catalog.now() WHERE pgt_id = $1",
            &[st.pgt_id.into(), schedule.to_catalog_text().into()],
        )?;
    }
    if let (Some(mode), Some((effective, reason))) = (mode, resolved) {
        Spi::run_with_args(
            "UPDATE pgtrickle.pgt_stream_tables \
                SET refresh_mode = $2, effective_refresh_mode = $3, refresh_mode_reason = $4, updated_at = pg_catalog.now() \
              WHERE pgt_id = $1",
            &[st.pgt_id.into(), mode.as_str().into(), effective.into(), reason.into()],
        )?;
    }
    if let Some(status) = status {
        Spi::run_with_args(
            "UPDATE pgtrickle.pgt_stream_tables \
                SET status = $2, status_reason = NULL, \
                    consecutive_errors = CASE WHEN $2 = 'ACTIVE' THEN 0 ELSE consecutive_errors END, \
                    updated_at = pg_catalog.now() \
              WHERE pgt_id = $1",
            &[st.pgt_id.into(), status.as_str().into()],
        )?;
    }
    Ok(())
}

/// Drops a stream table: its storage, catalog rows and history.
#[pg_extern]
fn drop_stream_table(name: Option<&str>) {
    or_report(drop_impl(name))
}

fn drop_impl(name: Option<&str>) -> PgtResult<()> {
    let st = catalog::lookup(required(name, "name")?)?;
    // The sql_drop event trigger removes the catalog rows; the DELETE covers sessions
    // where event triggers are disabled.
    Spi::run(&format!("DROP TABLE {}", st.table))?;
    Spi::run_with_args("DELETE FROM pgtrickle.pgt_stream_tables WHERE pgt_id = $1", &[st.pgt_id.into()])?;
    Ok(())
}

/// The 64-bit row identity: XXH64 of `data` seeded with `seed`, as a signed bigint.
#[pg_extern(immutable, strict, parallel_safe)]
fn pg_trickle_hash(data: &str, seed: default!(i64, 0)) -> i64 {
    pgt_core::row_id::row_id(data.as_bytes(), seed)
}
