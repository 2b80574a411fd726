//! Automatic refresh: a launcher background worker and one scheduler worker per database.
//!
//! * The **launcher** (registered in `_PG_init` when preloaded) lists the databases that
//!   accept connections and starts a scheduler for each one that does not have a live one.
//!   It rescans every 10 s, and at once when `CREATE EXTENSION pg_trickle` bumps the
//!   launcher generation in shared memory.
//! * A **scheduler** connects to its database. If pg_trickle is not installed there, it
//!   exits, and the launcher retries only on a new generation or after a minute. Otherwise,
//!   every `pg_trickle.scheduler_interval_ms`, it finds the stream tables that are due and
//!   refreshes them in dependency order, **each in its own transaction**. A failed refresh
//!   is rolled back and recorded in a new transaction: a FAILED history row,
//!   `consecutive_errors + 1`, and SUSPENDED with the reason after
//!   `pg_trickle.max_consecutive_errors` (`pgt_core::status::after_failure`). A stream table whose refresh is already running
//!   (a manual refresh holds its lock) is skipped, not queued.
//! * The members of a diamond (`pgt_dag::Dag::consistency_groups`) are refreshed together,
//!   in one REPEATABLE READ transaction, whenever one of them is due.
//! * Durations are served on boundaries of their canonical period (`pgt_core::canonical_period`),
//!   so related stream tables refresh on shared ticks, to the same data timestamps.
//! * `pg_trickle.enabled = off` stops automatic refreshes (the workers keep running idle).
//!
//! What a scheduler tick decides (when to read the catalog again, what is due, the
//! batches, what a skip or a failure records) is `pgt_scheduler` (ADR-077); this file
//! implements its two traits over SPI (`SpiCatalog`, `SpiRefresher`) and runs the loop.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use pgrx::bgworkers::*;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgt_core::Schedule;

use crate::{catalog, config, shmem};

const LAUNCHER_RESCAN: Duration = Duration::from_secs(10);
const ABSENT_RETRY: Duration = Duration::from_secs(60);

/// Registers the launcher (only possible while shared_preload_libraries is processed).
pub fn register_launcher() {
    BackgroundWorkerBuilder::new("pg_trickle launcher")
        .set_type("pg_trickle launcher")
        .set_library("pg_trickle")
        .set_function("pg_trickle_launcher_main")
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(Duration::from_secs(5)))
        .load();
}

/// An ERROR caught by [`in_transaction`]: its message and SQLSTATE.
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    message: String,
    code: pgrx::PgSqlErrorCode,
}

impl Failure {
    /// Could not get a lock in time (`lock_timeout`), or lost a race for a row under
    /// REPEATABLE READ: the refresh is skipped and retried, not counted as an error.
    fn is_lock_conflict(&self) -> bool {
        matches!(
            self.code,
            pgrx::PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE
                | pgrx::PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE
        )
    }
}

/// Runs `f` in its own transaction. An ERROR rolls the transaction back and comes back as
/// the error's message and SQLSTATE; the caller decides what to record. Never rethrows.
fn in_transaction<R>(
    f: impl FnOnce() -> R + std::panic::UnwindSafe + std::panic::RefUnwindSafe,
) -> Result<R, Failure> {
    in_transaction_at(false, f)
}

/// [`in_transaction`], optionally at REPEATABLE READ: every statement then sees one snapshot.
fn in_transaction_at<R>(
    repeatable_read: bool,
    f: impl FnOnce() -> R + std::panic::UnwindSafe + std::panic::RefUnwindSafe,
) -> Result<R, Failure> {
    // SAFETY: called only from a background worker's main loop, outside any transaction.
    // The isolation level is set right after the transaction starts and before its first
    // snapshot, which is exactly when SET TRANSACTION ISOLATION LEVEL may change it.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        if repeatable_read {
            pg_sys::XactIsoLevel = pg_sys::XACT_REPEATABLE_READ as i32;
        }
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let result = PgTryBuilder::new(|| {
        // Nothing the scheduler runs resolves a name through a user-controlled path.
        let _path = crate::security::PinnedSearchPath::enter();
        Ok(f())
    })
    .catch_others(|e| {
        let r = match &e {
            pg_sys::panic::CaughtError::PostgresError(r)
            | pg_sys::panic::CaughtError::ErrorReport(r) => r,
            pg_sys::panic::CaughtError::RustPanic { ereport, .. } => ereport,
        };
        Err(Failure {
            message: r.message().to_string(),
            code: r.sql_error_code(),
        })
    })
    .execute();
    // SAFETY: matching the Start/Push above; after an error, AbortCurrentTransaction
    // releases everything the failed transaction held (as PostgreSQL's own loop does).
    unsafe {
        match &result {
            Ok(_) => {
                pg_sys::PopActiveSnapshot();
                pg_sys::CommitTransactionCommand();
            }
            Err(_) => {
                pg_sys::AbortCurrentTransaction();
            }
        }
    }
    result
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn pg_trickle_launcher_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi(Some("postgres"), None);
    // Started schedulers, with when and at which launcher generation they were started.
    let mut workers: HashMap<u32, (DynamicBackgroundWorker, Instant, u64)> = HashMap::new();
    let mut absent: HashMap<u32, (u64, Instant)> = HashMap::new();
    let mut last_scan: Option<Instant> = None;
    let mut last_generation = u64::MAX;
    while BackgroundWorker::wait_latch(Some(Duration::from_millis(500))) {
        if BackgroundWorker::sigterm_received() {
            break;
        }
        if BackgroundWorker::sighup_received() {
            // SAFETY: re-reading postgresql.conf in the worker's main loop on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            last_scan = None;
        }
        // Notice exited schedulers on every wake, so how long each one lived is known
        // closely. One that ran for a while was a real scheduler (terminated, or crashed):
        // rescan now to start it again. One that exited right away found no pg_trickle in
        // its database: retry only after a newer generation (a CREATE EXTENSION committed
        // since it looked) or after a while.
        workers.retain(|oid, (w, started, started_gen)| {
            let alive = !matches!(
                w.pid(),
                Err(BackgroundWorkerStatus::Stopped | BackgroundWorkerStatus::PostmasterDied)
            );
            if !alive {
                if started.elapsed() < Duration::from_secs(5) {
                    absent.insert(*oid, (*started_gen, Instant::now()));
                } else {
                    last_scan = None;
                }
            }
            alive
        });
        // While automatic refresh is off, no new schedulers are started (running ones idle).
        if !config::enabled() {
            continue;
        }
        let generation = shmem::launcher_generation();
        if last_scan.is_some_and(|t| t.elapsed() < LAUNCHER_RESCAN) && generation == last_generation
        {
            continue;
        }
        last_scan = Some(Instant::now());
        last_generation = generation;
        // Databases, and whether a scheduler is already connected to each (one may survive
        // a restart of the launcher itself).
        let dbs = in_transaction(|| {
            Spi::connect(|c| -> Result<Vec<(u32, String, bool)>, pgrx::spi::Error> {
                let mut out = Vec::new();
                for row in c.select(
                    "SELECT d.oid, d.datname::text, EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a \
                                                             WHERE a.datid = d.oid AND a.backend_type = 'pg_trickle scheduler') \
                       FROM pg_catalog.pg_database d WHERE d.datallowconn AND NOT d.datistemplate",
                    None,
                    &[],
                )? {
                    out.push((
                        row.get::<pg_sys::Oid>(1)?.map(|o| o.to_u32()).unwrap_or(0),
                        row.get::<String>(2)?.unwrap_or_default(),
                        row.get::<bool>(3)?.unwrap_or(false),
                    ));
                }
                Ok(out)
            })
        });
        let Ok(Ok(dbs)) = dbs else { continue };
        for (oid, name, connected) in dbs {
            if workers.contains_key(&oid) || connected {
                continue;
            }
            if let Some((g, t)) = absent.get(&oid) {
                if *g == generation && t.elapsed() < ABSENT_RETRY {
                    continue;
                }
            }
            let started = BackgroundWorkerBuilder::new(&format!("pg_trickle scheduler {name}"))
                .set_type("pg_trickle scheduler")
                .set_library("pg_trickle")
                .set_function("pg_trickle_scheduler_main")
                .enable_spi_access()
                .set_argument(Some(pg_sys::Datum::from(oid)))
                .set_restart_time(None)
                .load_dynamic();
            match started {
                Ok(w) => {
                    pgrx::log!("pg_trickle launcher: started a scheduler for database \"{name}\"");
                    absent.remove(&oid);
                    workers.insert(oid, (w, Instant::now(), generation));
                }
                Err(e) => pgrx::log!(
                    "pg_trickle: could not start a scheduler for database \"{name}\": {e:?}"
                ),
            }
        }
    }
    // The launcher must come back after pg_terminate_backend: exit code 0 would unregister
    // it for good, a non-zero one has the postmaster restart it after its restart time. At
    // a server shutdown nothing is restarted either way.
    // SAFETY: proc_exit runs PostgreSQL's exit callbacks and ends the process; nothing on
    // this stack needs dropping (the worker handles only refer to shared-memory slots).
    unsafe { pg_sys::proc_exit(1) }
}

/// Whether pg_trickle is installed in the worker's database.
fn extension_installed() -> Result<bool, pgrx::spi::Error> {
    Spi::get_one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_trickle')",
    )
    .map(|b| b.unwrap_or(false))
}

/// The scheduler's catalog reads and writes over SPI (`pgt_scheduler::CatalogAccess`,
/// ADR-077), each in a transaction of its own.
struct SpiCatalog;

impl pgt_scheduler::CatalogAccess for SpiCatalog {
    type Error = String;

    fn load(&mut self) -> Result<Option<pgt_scheduler::CatalogState>, String> {
        let loaded = in_transaction(|| -> crate::error::PgtResult<_> {
            if !extension_installed()? {
                return Ok(None);
            }
            // Stream tables restored by pg_restore get their change capture back first.
            crate::restore::rebind_restored(None)?;
            let entries = load_entries()?;
            let graph = catalog::stream_table_graph()?;
            Ok(Some(pgt_scheduler::CatalogState { entries, graph }))
        });
        match loaded {
            Ok(Ok(state)) => Ok(state),
            Ok(Err(e)) => Err(e.to_string()),
            Err(f) => Err(f.message),
        }
    }

    fn record_skip(&mut self, pgt_id: i64, message: &str) -> Result<(), String> {
        let message = message.to_string();
        flatten(in_transaction(move || record_skip(pgt_id, &message)))
    }

    fn record_failure(
        &mut self,
        pgt_id: i64,
        name: &str,
        message: &str,
        decide: &mut dyn FnMut(i32) -> pgt_core::status::AfterFailure,
    ) -> Result<(), String> {
        // The decision is made between reading the count (locked) and writing it, in one
        // transaction; the closure is not unwind-safe by type, but an ERROR in between
        // aborts the transaction and nothing of the closure's state is used afterwards.
        let decide = std::panic::AssertUnwindSafe(decide);
        flatten(in_transaction(move || {
            let decide = decide;
            record_failure(pgt_id, name, message, decide.0)
        }))
    }

    fn prune_history(&mut self, keep_secs: i64) -> Result<(), String> {
        flatten(in_transaction(move || {
            Spi::run_with_args(
                "DELETE FROM pgtrickle.pgt_refresh_history WHERE started_at < pg_catalog.now() - make_interval(secs => $1)",
                &[(keep_secs as f64).into()],
            )
        }))
    }
}

fn flatten<E: std::fmt::Display>(r: Result<Result<(), E>, Failure>) -> Result<(), String> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(f) => Err(f.message),
    }
}

/// Refreshes a batch in one transaction (`pgt_scheduler::Refresher`).
struct SpiRefresher;

impl pgt_scheduler::Refresher for SpiRefresher {
    fn refresh(
        &mut self,
        batch: &[i64],
        together: bool,
    ) -> Result<bool, pgt_scheduler::RefreshError> {
        let members = batch.to_vec();
        let outcome = in_transaction_at(together, move || -> Result<bool, String> {
            // A refresh that cannot get its locks quickly (a source locked by another
            // session, say) fails with lock_not_available and is skipped, so that it
            // never holds up the stream tables after it.
            Spi::run_with_args(
                "SELECT pg_catalog.set_config('lock_timeout', $1, true)",
                &[format!("{}ms", config::lock_timeout_ms()).into()],
            )
            .map_err(|e| e.to_string())?;
            let mut any = false;
            for m in &members {
                any |= refresh_one(*m)?;
            }
            Ok(any)
        });
        match outcome {
            Ok(Ok(any)) => Ok(any),
            Ok(Err(message)) => Err(pgt_scheduler::RefreshError::Failed(message)),
            Err(f) if f.is_lock_conflict() => {
                Err(pgt_scheduler::RefreshError::LockConflict(f.message))
            }
            Err(f) => Err(pgt_scheduler::RefreshError::Failed(f.message)),
        }
    }
}

fn load_entries() -> Result<Vec<pgt_scheduler::Entry>, pgrx::spi::Error> {
    Spi::connect(|c| {
        let mut out = Vec::new();
        for row in c.select(
            "SELECT pgt_id, pgt_relid::regclass::text, schedule, status, \
                    CASE WHEN is_populated THEN extract(epoch FROM last_refresh_at)::bigint END \
               FROM pgtrickle.pgt_stream_tables WHERE refresh_mode <> 'IMMEDIATE' AND restored_at IS NULL",
            None,
            &[],
        )? {
            let schedule =
                Schedule::parse(row.get::<String>(3)?.as_deref()).unwrap_or(Schedule::Calculated);
            out.push(pgt_scheduler::Entry {
                pgt_id: row.get::<i64>(1)?.unwrap_or_default(),
                name: row.get::<String>(2)?.unwrap_or_default(),
                schedule,
                status: row.get::<String>(4)?.unwrap_or_default(),
                last_refresh: row.get::<i64>(5)?,
            });
        }
        Ok(out)
    })
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn pg_trickle_scheduler_main(arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let dboid = pg_sys::Oid::from(arg.value() as u32);
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(dboid), None);
    let installed = in_transaction(|| extension_installed().unwrap_or(false));
    if installed != Ok(true) {
        pgrx::debug1!(
            "pg_trickle scheduler: extension not installed in database {dboid:?}, exiting"
        );
        return;
    }
    pgrx::log!("pg_trickle scheduler: serving database {dboid:?}");
    // What is due, in which batches, and what a failure records are decided in
    // `pgt_scheduler` (ADR-077); this loop waits, reads settings and runs change capture.
    let mut scheduler = pgt_scheduler::Scheduler::new();
    let (mut spi_catalog, mut refresher) = (SpiCatalog, SpiRefresher);
    let started = Instant::now();
    let mut last_cdc_error: Option<String> = None;
    let mut last_load_error: Option<String> = None;
    loop {
        let interval = Duration::from_millis(config::scheduler_interval_ms().max(10) as u64);
        if !BackgroundWorker::wait_latch(Some(interval)) || BackgroundWorker::sigterm_received() {
            break;
        }
        if BackgroundWorker::sighup_received() {
            // SAFETY: re-reading postgresql.conf in the worker's main loop, as PostgreSQL's
            // own background processes do on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        if !config::enabled() {
            continue;
        }
        let mono_ms = started.elapsed().as_millis() as u64;
        match scheduler.reload(&mut spi_catalog, shmem::catalog_generation(), mono_ms) {
            pgt_scheduler::Reload::Ready => last_load_error = None,
            pgt_scheduler::Reload::Gone => {
                // The extension was dropped: its slot must not keep WAL forever.
                let _ = in_transaction(crate::wal::drop_orphaned_slot);
                return;
            }
            pgt_scheduler::Reload::Failed(message) => {
                if last_load_error.as_deref() != Some(message.as_str()) {
                    pgrx::log!("pg_trickle scheduler: could not read the catalog: {message}");
                }
                last_load_error = Some(message);
                continue;
            }
        }
        // Change capture: hand sources over to WAL decoding (or back), drain the slot.
        match in_transaction(|| crate::wal::scheduler_tick().map_err(|e| e.to_string())) {
            Ok(Ok(())) => last_cdc_error = None,
            Ok(Err(message)) | Err(Failure { message, .. }) => {
                if last_cdc_error.as_deref() != Some(message.as_str()) {
                    pgrx::warning!(
                        "pg_trickle scheduler: change capture maintenance failed: {message}"
                    );
                }
                last_cdc_error = Some(message);
            }
        }
        let settings = pgt_scheduler::Settings {
            min_schedule_secs: config::min_schedule_seconds() as i64,
            max_consecutive_errors: config::max_consecutive_errors(),
            history_retention_secs: config::history_retention_secs() as i64,
        };
        scheduler.run_due(
            &mut spi_catalog,
            &mut refresher,
            &settings,
            chrono::Utc::now().timestamp(),
            started.elapsed().as_millis() as u64,
        );
    }
}

/// Refreshes one stream table unless its refresh is already running. Errors propagate as
/// PostgreSQL ERRORs (caught by `in_transaction`), so the caller records them.
fn refresh_one(pgt_id: i64) -> Result<bool, String> {
    let Some(st) = catalog::lookup_by_id(pgt_id).map_err(|e| e.to_string())? else {
        return Ok(false);
    };
    if st.status != "ACTIVE" {
        return Ok(false);
    }
    match crate::refresh::refresh(&st, crate::refresh::Initiator::Scheduler, false) {
        Ok(done) => Ok(done.is_some()),
        Err(e) => e.report(),
    }
}

/// Records a refresh skipped because its locks were not available in time. Not an error:
/// consecutive_errors is unchanged, and the next tick tries again.
fn record_skip(pgt_id: i64, message: &str) -> Result<(), pgrx::spi::Error> {
    Spi::run_with_args(
        "INSERT INTO pgtrickle.pgt_refresh_history (pgt_id, action, status, started_at, ended_at, reason, initiated_by) \
         SELECT s.pgt_id, s.effective_refresh_mode, 'SKIPPED', pg_catalog.now(), pg_catalog.clock_timestamp(), \
                pg_catalog.format('skipped: its locks were not available within pg_trickle.lock_timeout (%s ms): %s; retried on the next tick', $2::int, $3::text), \
                'SCHEDULER' \
           FROM pgtrickle.pgt_stream_tables s WHERE s.pgt_id = $1",
        &[pgt_id.into(), config::lock_timeout_ms().into(), message.into()],
    )?;
    shmem::bump_catalog();
    Ok(())
}

fn record_failure(
    pgt_id: i64,
    name: &str,
    message: &str,
    decide: &mut dyn FnMut(i32) -> pgt_core::status::AfterFailure,
) -> Result<(), pgrx::spi::Error> {
    // The count is read under the row's lock and the accounting decided in pgt_scheduler
    // (pgt_core::status::after_failure).
    let Some(errors) = Spi::get_one_with_args::<i32>(
        "SELECT s.consecutive_errors FROM pgtrickle.pgt_stream_tables s WHERE s.pgt_id = $1 FOR UPDATE",
        &[pgt_id.into()],
    )?
    else {
        return Ok(()); // dropped meanwhile
    };
    let after = decide(errors);
    Spi::run_with_args(
        "WITH st AS (UPDATE pgtrickle.pgt_stream_tables \
                        SET consecutive_errors = $3, updated_at = pg_catalog.now(), \
                            status = CASE WHEN $4::text IS NOT NULL THEN 'SUSPENDED' ELSE status END, \
                            status_reason = coalesce($4::text, status_reason) \
                      WHERE pgt_id = $1 RETURNING pgt_id, effective_refresh_mode), \
              -- The next attempt recomputes in full: a DIFFERENTIAL refresh that failed on a
              -- row still evaluates that row (as inserted and deleted) after it was fixed.
              fr AS (UPDATE pgtrickle.pgt_dependencies SET frontier_snapshot = NULL, frontier_xid = NULL, frontier_change_id = NULL \
                      WHERE pgt_id = $1 RETURNING 1) \
         INSERT INTO pgtrickle.pgt_refresh_history (pgt_id, action, status, started_at, ended_at, error_message, initiated_by) \
         SELECT st.pgt_id, st.effective_refresh_mode, 'FAILED', pg_catalog.now(), pg_catalog.clock_timestamp(), $2, 'SCHEDULER' FROM st",
        &[
            pgt_id.into(),
            message.into(),
            after.consecutive_errors.into(),
            after.suspend.into(),
        ],
    )?;
    pgrx::log!("pg_trickle: automatic refresh of {name} failed: {message}");
    shmem::bump_catalog();
    Ok(())
}
