//! The scheduler's work between two wake-ups, without PostgreSQL (ADR-077).
//!
//! A scheduler process (the extension's background worker today, a sidecar's task later)
//! wakes up every `pg_trickle.scheduler_interval_ms` and asks a [`Scheduler`]:
//! 1. [`Scheduler::reload`]: read the catalog again if it changed (the caller's generation
//!    counter moved), if a refresh ran on the last tick (last-refresh times moved), or at
//!    least every [`RELOAD_AT_LEAST_EVERY_MS`]; the stream tables' refresh order (upstream
//!    first), effective schedules (`CALCULATED` ones from their readers) and consistency
//!    groups (diamonds) come from `pgt_dag`;
//! 2. [`Scheduler::run_due`]: refresh what is due (`Schedule::is_due`), in the batches of
//!    `pgt_dag::tick_batches` (a stream table alone; a consistency group whole, in one
//!    transaction); record a batch that could not get its locks as skipped (not an error,
//!    retried next tick) and a failed one as failed for each member, with the error
//!    accounting of `pgt_core::status::after_failure` (suspended after
//!    `pg_trickle.max_consecutive_errors` in a row); and every minute, drop history older
//!    than the retention.
//!
//! What it needs from wherever it runs is two traits: [`CatalogAccess`] (the catalog reads
//! and writes, each in a transaction of its own) and [`Refresher`] (refresh a batch in one
//! transaction). The extension implements both over SPI (`src/scheduler.rs`); the tests
//! below use the in-memory ones in [`memory`].

use std::collections::{BTreeMap, BTreeSet};

use pgt_core::status::{after_failure, AfterFailure};
use pgt_core::Schedule;
use pgt_dag::Dag;

pub mod memory;

/// How long the scheduler goes at most without reading the catalog again (rows restored by
/// pg_restore, say, do not move the generation counter).
pub const RELOAD_AT_LEAST_EVERY_MS: u64 = 5_000;
/// How often old history is dropped.
pub const PRUNE_EVERY_MS: u64 = 60_000;

/// One stream table as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub pgt_id: i64,
    /// `schema.name`, for messages.
    pub name: String,
    pub schedule: Schedule,
    /// `ACTIVE`, `SUSPENDED` or `ERROR`: only ACTIVE ones are refreshed.
    pub status: String,
    /// When it was last refreshed (Unix seconds); None while unpopulated.
    pub last_refresh: Option<i64>,
}

/// What the scheduler reads from the catalog: the stream tables it serves (not IMMEDIATE
/// ones, not ones still being restored) and the dependency graph of all of them, whose
/// nodes are stream table ids and, negative, base tables.
#[derive(Debug, Clone, Default)]
pub struct CatalogState {
    pub entries: Vec<Entry>,
    pub graph: Dag,
}

/// The catalog reads and writes of the scheduler. Each call is a unit of its own (one
/// transaction in the extension).
pub trait CatalogAccess {
    type Error: std::fmt::Display;
    /// The current catalog; None when there is none any more (the extension was dropped:
    /// the scheduler stops).
    fn load(&mut self) -> Result<Option<CatalogState>, Self::Error>;
    /// Records that a refresh of `pgt_id` was skipped because its locks were not available
    /// in time: history only; its error count is unchanged.
    fn record_skip(&mut self, pgt_id: i64, message: &str) -> Result<(), Self::Error>;
    /// Records a failed refresh of `pgt_id`: reads its error count (locked until the write),
    /// asks `decide` for the new count and whether to suspend, writes both and a history
    /// row, and forgets its frontiers (the next attempt recomputes in full). Nothing for a
    /// stream table dropped meanwhile.
    fn record_failure(
        &mut self,
        pgt_id: i64,
        name: &str,
        message: &str,
        decide: &mut dyn FnMut(i32) -> AfterFailure,
    ) -> Result<(), Self::Error>;
    /// Drops history rows older than `keep_secs`.
    fn prune_history(&mut self, keep_secs: i64) -> Result<(), Self::Error>;
}

/// Why a batch was not refreshed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshError {
    /// Its locks were not available within `pg_trickle.lock_timeout`, or it lost a race
    /// for a row under REPEATABLE READ: skipped, retried on the next tick.
    LockConflict(String),
    /// Any other error: rolled back and counted.
    Failed(String),
}

/// Refreshes a batch in one transaction (REPEATABLE READ for a consistency group,
/// `together`): every member, upstream first. Ok(true) when something was refreshed,
/// Ok(false) when all were skipped (already being refreshed, no longer active).
pub trait Refresher {
    fn refresh(&mut self, batch: &[i64], together: bool) -> Result<bool, RefreshError>;
}

/// The settings a tick reads (the extension's GUCs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `pg_trickle.min_schedule_seconds`.
    pub min_schedule_secs: i64,
    /// `pg_trickle.max_consecutive_errors`.
    pub max_consecutive_errors: i32,
    /// `pg_trickle.history_retention`, in seconds.
    pub history_retention_secs: i64,
}

/// What [`Scheduler::reload`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The catalog is loaded (again or still): go on with the tick.
    Ready,
    /// The catalog could not be read: skip this tick.
    Failed(String),
    /// There is no catalog any more: stop.
    Gone,
}

/// What [`Scheduler::run_due`] did, for the caller's logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// The batches run, in order.
    pub batches: Vec<Vec<i64>>,
    pub skipped: Vec<i64>,
    pub failed: Vec<i64>,
}

/// The scheduler's memory between ticks.
#[derive(Debug, Default)]
pub struct Scheduler {
    /// The generation the catalog was loaded at; None: load on the next tick.
    generation: Option<u64>,
    last_reload_ms: Option<u64>,
    last_prune_ms: Option<u64>,
    entries: Vec<Entry>,
    /// Stream table ids in refresh order (upstream first).
    order: Vec<i64>,
    /// Effective schedule period of each stream table (None: cron or none).
    periods: BTreeMap<i64, Option<u64>>,
    groups: Vec<BTreeSet<i64>>,
}

impl Scheduler {
    pub fn new() -> Self {
        Self::default()
    }

    /// The stream tables of the last load.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Step 1 of a tick (module documentation). `generation` is the caller's catalog
    /// change counter, `now_ms` a monotonic clock.
    pub fn reload<C: CatalogAccess>(
        &mut self,
        catalog: &mut C,
        generation: u64,
        now_ms: u64,
    ) -> Reload {
        let stale = self.generation != Some(generation)
            || self.entries.is_empty()
            || self
                .last_reload_ms
                .is_none_or(|t| now_ms.saturating_sub(t) > RELOAD_AT_LEAST_EVERY_MS);
        if !stale {
            return Reload::Ready;
        }
        self.last_reload_ms = Some(now_ms);
        let state = match catalog.load() {
            Ok(Some(s)) => s,
            Ok(None) => return Reload::Gone,
            Err(e) => return Reload::Failed(e.to_string()),
        };
        let own: BTreeMap<i64, Option<u64>> = state
            .entries
            .iter()
            .map(|e| (e.pgt_id, e.schedule.period_secs()))
            .collect();
        // A cycle cannot be created; should one exist, the catalog's order still serves.
        self.order = state
            .graph
            .topological_order()
            .unwrap_or_else(|_| state.entries.iter().map(|e| e.pgt_id).collect());
        self.periods = state.graph.effective_schedules(&own).unwrap_or(own);
        self.groups = state.graph.consistency_groups();
        self.entries = state.entries;
        self.generation = Some(generation);
        Reload::Ready
    }

    /// Step 2 of a tick (module documentation). `now_secs` is the wall clock (Unix
    /// seconds), `now_ms` the monotonic one.
    pub fn run_due<C: CatalogAccess, R: Refresher>(
        &mut self,
        catalog: &mut C,
        refresher: &mut R,
        settings: &Settings,
        now_secs: i64,
        now_ms: u64,
    ) -> TickReport {
        let min_secs = settings.min_schedule_secs.max(1);
        let due: BTreeSet<i64> = self
            .entries
            .iter()
            .filter(|e| e.status == "ACTIVE")
            .filter(|e| {
                let effective = self.periods.get(&e.pgt_id).copied().flatten();
                e.schedule
                    .is_due(e.last_refresh, effective, now_secs, min_secs)
            })
            .map(|e| e.pgt_id)
            .collect();
        // Base tables are graph nodes too (negative ids); only stream tables are refreshed.
        let ids: Vec<i64> = self.order.iter().copied().filter(|id| *id > 0).collect();
        let mut report = TickReport::default();
        let mut refreshed = false;
        for batch in pgt_dag::tick_batches(&ids, &due, &self.groups) {
            let outcome = refresher.refresh(&batch, batch.len() > 1);
            match outcome {
                Ok(true) => refreshed = true,
                Ok(false) => {}
                Err(RefreshError::LockConflict(message)) => {
                    for &m in &batch {
                        // Best effort: the next tick tries again anyway.
                        let _ = catalog.record_skip(m, &message);
                        report.skipped.push(m);
                    }
                    refreshed = true;
                }
                Err(RefreshError::Failed(message)) => {
                    for &m in &batch {
                        let name = self
                            .entries
                            .iter()
                            .find(|e| e.pgt_id == m)
                            .map(|e| e.name.clone())
                            .unwrap_or_default();
                        let max = settings.max_consecutive_errors;
                        let _ = catalog.record_failure(m, &name, &message, &mut |errors| {
                            after_failure(errors, max, &message)
                        });
                        report.failed.push(m);
                    }
                    refreshed = true;
                }
            }
            report.batches.push(batch);
        }
        if refreshed {
            // Last-refresh times and statuses moved: read them on the next tick.
            self.generation = None;
        }
        if self
            .last_prune_ms
            .is_none_or(|t| now_ms.saturating_sub(t) > PRUNE_EVERY_MS)
        {
            self.last_prune_ms = Some(now_ms);
            let _ = catalog.prune_history(settings.history_retention_secs);
        }
        report
    }
}

#[cfg(test)]
mod tests;
