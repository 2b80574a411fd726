//! Refreshing a stream table, in the caller's transaction. Readers keep seeing the old
//! contents until it commits, never a half-refreshed table; an EXCLUSIVE lock on the
//! storage table serializes refreshes of one stream table while letting readers in.
//!
//! * FULL-mode stream tables: one statement recomputes the query and applies the
//!   difference (`pgt_sql::full_refresh`).
//! * DIFFERENTIAL stream tables: if no source has unconsumed changes, nothing runs but the
//!   bookkeeping; otherwise one delta statement (`pgt_dvm::driver`) reads exactly the
//!   unconsumed changes and the current tables at one snapshot and `MERGE`s the result.
//!   It falls back to a FULL recomputation, recording why, on the first refresh, after a
//!   TRUNCATE of a source, and when pending changes exceed
//!   `pg_trickle.differential_max_change_ratio` of a source.

use pgrx::prelude::*;
use pgt_core::refresh_plan::{self, Look, Mode, SourceLook, SourceState, Stop};
use pgt_core::OutputColumn;
use pgt_sql::full_refresh::full_refresh_statement;

use crate::catalog::{self, HistoryEntry, StreamTable};
use crate::cdc;
use crate::error::PgtResult;
use crate::frontend;
use crate::guard::RefreshWriteGuard;

/// Who asked for a refresh, as recorded in `pgt_refresh_history.initiated_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    Create,
    Manual,
    Scheduler,
    /// IMMEDIATE maintenance in a writing transaction (recorded only when it recomputes).
    Immediate,
}

impl Initiator {
    fn as_str(self) -> &'static str {
        match self {
            Initiator::Create => "CREATE",
            Initiator::Manual => "MANUAL",
            Initiator::Scheduler => "SCHEDULER",
            Initiator::Immediate => "IMMEDIATE",
        }
    }
}

/// What a refresh did.
#[derive(Debug, Clone)]
pub struct RefreshOutcome {
    pub action: &'static str,
    pub rows_inserted: i64,
    pub rows_deleted: i64,
    pub reason: Option<String>,
    /// Source changes consumed by an incremental refresh (the cost model's input).
    pub changes: i64,
    /// Time spent on work a later refresh in this session does not repeat: translating the
    /// query, planning the kept delta statement (see [`crate::planning_clock`]).
    pub setup_ms: f64,
    /// A FULL refresh after AUTO stopped its incremental attempt on probation: how long
    /// the attempt ran (`changes` then counts the changes it would have applied).
    pub abandoned_ms: Option<f64>,
}

/// Refreshes `st` by its effective mode. With `wait = false` (the scheduler), a refresh of
/// `st` already running elsewhere makes this return `None` at once instead of waiting.
///
/// Refreshes of one stream table are serialized by a row lock on its catalog row
/// (`FOR NO KEY UPDATE`): only roles that may update pg_trickle's catalog can take it, so no
/// ordinary role can stall refreshes by holding it (an advisory lock could be taken by
/// anyone). Everything runs with `search_path = pg_catalog, pg_temp`; the statement that
/// evaluates the defining query runs as the stream table's owner (see [`crate::security`]).
pub fn refresh(
    st: &StreamTable,
    initiator: Initiator,
    wait: bool,
) -> PgtResult<Option<RefreshOutcome>> {
    let _scope = crate::budget::RefreshScope::enter(&st.pinned_settings);
    let locked = catalog::first_value_mut::<i64>(
        if wait {
            "SELECT s.pgt_id FROM pgtrickle.pgt_stream_tables s WHERE s.pgt_id = $1 FOR NO KEY UPDATE"
        } else {
            "SELECT s.pgt_id FROM pgtrickle.pgt_stream_tables s WHERE s.pgt_id = $1 FOR NO KEY UPDATE SKIP LOCKED"
        },
        &[st.pgt_id.into()],
    )?;
    if locked.is_none() {
        if wait {
            return Err(crate::error::PgtError::NotFound {
                name: st.display_name(),
            });
        }
        return Ok(None);
    }
    // SAFETY: as for `cdc::lock_sources`: a heavyweight lock on the storage table's OID
    // (EXCLUSIVE: serializes refreshes; readers are not blocked).
    unsafe {
        pgrx::pg_sys::LockRelationOid(
            st.relid,
            pgrx::pg_sys::ExclusiveLock as pgrx::pg_sys::LOCKMODE,
        )
    };
    if cdc::repair_guard_triggers(st.relid, &st.table)? {
        pgrx::warning!(
            "pg_trickle: the guard triggers of stream table {} were missing or disabled; they were re-created",
            st.table
        );
    }
    let (outcome, started_at) = if st.effective_refresh_mode == "DIFFERENTIAL" {
        differential(st)?
    } else {
        let started_at =
            Spi::get_one::<TimestampWithTimeZone>("SELECT pg_catalog.clock_timestamp()")?
                .expect("clock_timestamp() is not NULL");
        (
            RefreshOutcome {
                reason: st.refresh_mode_reason.clone(),
                ..full(st)?
            },
            started_at,
        )
    };
    if initiator == Initiator::Immediate && outcome.action != "FULL" {
        return Ok(Some(outcome));
    }
    catalog::record_refresh(&HistoryEntry {
        pgt_id: st.pgt_id,
        action: outcome.action,
        status: "COMPLETED",
        started_at,
        rows_inserted: outcome.rows_inserted,
        rows_deleted: outcome.rows_deleted,
        changes: outcome.changes,
        setup_ms: outcome.setup_ms,
        abandoned_ms: outcome.abandoned_ms,
        error_message: None,
        reason: outcome.reason.as_deref(),
        initiated_by: initiator.as_str(),
    })?;
    Ok(Some(outcome))
}

/// Makes sure the stream table's owner can read the change buffers its refresh reads and
/// read and write its state tables (superusers can already; other owners get exactly those
/// rights on exactly those tables). One catalog query per refresh: the relations lacking a
/// right, each with the rights to grant.
fn grant_buffers_to_owner(st: &StreamTable) -> PgtResult<()> {
    let missing = Spi::connect(|c| -> PgtResult<Vec<(String, String)>> {
        let mut out = Vec::new();
        for row in c.select(
            "SELECT b.oid::regclass::text, 'SELECT' FROM pgtrickle.pgt_dependencies d \
               JOIN pg_catalog.pg_class b ON b.oid = pg_catalog.to_regclass('pgtrickle_changes.changes_' || d.source_relid::text) \
              WHERE d.pgt_id = $1 AND NOT pg_catalog.has_table_privilege($2::oid, b.oid, 'SELECT') \
             UNION ALL \
             SELECT c.oid::regclass::text, 'SELECT, INSERT, UPDATE, DELETE' FROM pg_catalog.pg_class c \
              WHERE c.relnamespace = 'pgtrickle_changes'::regnamespace AND c.relkind = 'r' AND c.relname LIKE $3 \
                AND NOT (pg_catalog.has_table_privilege($2::oid, c.oid, 'SELECT') \
                     AND pg_catalog.has_table_privilege($2::oid, c.oid, 'INSERT') \
                     AND pg_catalog.has_table_privilege($2::oid, c.oid, 'UPDATE') \
                     AND pg_catalog.has_table_privilege($2::oid, c.oid, 'DELETE'))",
            None,
            &[
                st.pgt_id.into(),
                st.owner.into(),
                state_tables(st).like_pattern().into(),
            ],
        )? {
            if let (Some(t), Some(rights)) = (row.get::<String>(1)?, row.get::<String>(2)?) {
                out.push((t, rights));
            }
        }
        Ok(out)
    })?;
    if missing.is_empty() {
        return Ok(());
    }
    let role = catalog::first_value::<String>(
        "SELECT pg_catalog.quote_ident(r.rolname) FROM pg_catalog.pg_roles r WHERE r.oid = $1",
        &[st.owner.into()],
    )?
    .unwrap_or_default();
    let _ddl = crate::guard::InternalDdl::enter();
    for (t, rights) in missing {
        // Buffers and state tables are extension members: pg_dump would dump a grant made
        // to them afterwards (and the restore fail on it, ADR-064). Detached here, they are
        // added back when this scope ends, recording their privileges as the initial ones.
        crate::cdc::detach_from_extension(&t)?;
        Spi::run(&format!("GRANT {rights} ON {t} TO {role}"))?;
    }
    Ok(())
}

fn visible_columns(st: &StreamTable) -> PgtResult<Vec<String>> {
    catalog::storage_columns(st.relid)
}

/// FULL refresh of a FULL-mode stream table.
fn full(st: &StreamTable) -> PgtResult<RefreshOutcome> {
    let columns: Vec<OutputColumn> = visible_columns(st)?
        .into_iter()
        .map(|name| OutputColumn {
            name,
            type_sql: String::new(),
            collation_sql: None,
            is_pseudo_type: false,
        })
        .collect();
    let sql = full_refresh_statement(&st.table, &columns, &st.defining_query, &SERVER);
    let (deleted, inserted) = {
        let _writing = RefreshWriteGuard::enter();
        let _owner = crate::security::AsOwner::enter(st.owner);
        Spi::get_two::<i64, i64>(&sql)?
    };
    Ok(RefreshOutcome {
        action: "FULL",
        rows_inserted: inserted.unwrap_or(0),
        rows_deleted: deleted.unwrap_or(0),
        reason: None,
        changes: 0,
        setup_ms: 0.0,
        abandoned_ms: None,
    })
}

fn differential(st: &StreamTable) -> PgtResult<(RefreshOutcome, TimestampWithTimeZone)> {
    let mut b = SpiIncremental::new(st)?;
    let mode = if st.refresh_mode == "AUTO" {
        Mode::Auto
    } else {
        Mode::Differential
    };
    let o = refresh_plan::run_incremental(&mut b, mode)?;
    let started_at = b.started_at;
    Ok((
        RefreshOutcome {
            action: if o.incremental {
                "DIFFERENTIAL"
            } else {
                "FULL"
            },
            rows_inserted: o.applied.inserted,
            rows_deleted: o.applied.deleted,
            changes: o.changes,
            setup_ms: b.setup.as_secs_f64() * 1000.0,
            abandoned_ms: o.abandoned_ms,
            reason: o.reason,
        },
        started_at,
    ))
}

/// The extension's side of an incremental-mode refresh (`pgt_core::refresh_plan`, ADR-077):
/// the look, the statements and the frontiers, over SPI in the refreshing transaction.
struct SpiIncremental<'a> {
    st: &'a StreamTable,
    started_at: TimestampWithTimeZone,
    /// Every source, with its frontier (None: never consumed).
    all: Vec<(pgrx::pg_sys::Oid, Option<pgt_cdc::Frontier>)>,
    sources: Vec<pgrx::pg_sys::Oid>,
    repaired: Vec<String>,
    /// Set by the look: the sources with a frontier, the statement's shape, the last change
    /// each source got from this transaction, the WAL-captured sources and the snapshot the
    /// slot was drained for.
    frontiers: Vec<(pgrx::pg_sys::Oid, pgt_cdc::Frontier)>,
    shape: pgt_dvm::driver::PendingShape,
    own_last: std::collections::HashMap<pgrx::pg_sys::Oid, Option<i64>>,
    wal_sources: Vec<pgrx::pg_sys::Oid>,
    pinned: Option<crate::wal::PinnedSnapshot>,
    /// Set by `prepare`.
    translated: Option<std::rc::Rc<crate::frontend::Translation>>,
    visible: Vec<String>,
    /// Time spent on work a later refresh in this session does not repeat.
    setup: std::time::Duration,
    /// The snapshot the completed statement ran at.
    snapshot: Option<String>,
}

impl<'a> SpiIncremental<'a> {
    fn new(st: &'a StreamTable) -> PgtResult<Self> {
        // Decide what to do from the pending changes before translating anything: a refresh
        // with nothing to do costs a handful of catalog and buffer lookups.
        let repaired = cdc::repair_capture(st.pgt_id)?;
        let (all, started_at) = cdc::frontiers(st.pgt_id)?;
        let sources = all.iter().map(|(s, _)| *s).collect();
        Ok(SpiIncremental {
            st,
            started_at,
            all,
            sources,
            repaired,
            frontiers: Vec::new(),
            shape: Default::default(),
            own_last: Default::default(),
            wal_sources: Vec::new(),
            pinned: None,
            translated: None,
            visible: Vec::new(),
            setup: std::time::Duration::ZERO,
            snapshot: None,
        })
    }

    fn tree(&self) -> &pgt_dvm::OpTree {
        &self
            .translated
            .as_ref()
            .expect("prepare runs before the statements")
            .tree
    }

    /// Runs a refresh statement as the owner. Delta statements consume changes, so they run
    /// at a snapshot at which every source's capture is known
    /// (`crate::wal::statement_snapshot`); a recomputation consumes what its own snapshot
    /// sees, whichever way it was captured.
    fn run_statement(
        &self,
        sql: &str,
        params: &[(String, String, i64)],
        delta: bool,
    ) -> PgtResult<(Option<String>, Option<i64>, Option<i64>)> {
        match &self.pinned {
            Some(p) => crate::statement_cache::run_refresh_statement_at(sql, params, p.get()),
            None if delta && !self.sources.is_empty() => {
                let at = crate::wal::statement_snapshot(&self.sources)?;
                crate::statement_cache::run_refresh_statement_at(sql, params, at.get())
            }
            None => crate::statement_cache::run_refresh_statement(sql, params),
        }
    }

    fn applied(
        &mut self,
        (snapshot, inserted, deleted): (Option<String>, Option<i64>, Option<i64>),
    ) -> refresh_plan::Applied {
        self.snapshot = snapshot;
        refresh_plan::Applied {
            inserted: inserted.unwrap_or(0),
            deleted: deleted.unwrap_or(0),
        }
    }

    fn delta_sql(&self, shape: &pgt_dvm::driver::PendingShape) -> PgtResult<String> {
        // Prepared once and run with the frontiers as parameters (see
        // `crate::statement_cache`).
        delta_statement(
            self.tree(),
            self.st,
            &self.visible,
            &self.frontiers,
            shape,
            &self.wal_sources,
        )
    }
}

impl refresh_plan::IncrementalBackend for SpiIncremental<'_> {
    type Error = crate::error::PgtError;

    fn look(&mut self) -> PgtResult<Look> {
        let st = self.st;
        // The delta reads change buffers, not the sources: check that the owner may still
        // read them (ADR-014). A FULL refresh reads the sources as the owner, checked by
        // PostgreSQL.
        crate::ownership::check_owner_can_read(
            st.owner,
            &st.display_name(),
            &self.sources,
            st.refresh_mode == "IMMEDIATE",
        )?;
        // Lock the sources before looking at their pending changes. A TRUNCATE needs ACCESS
        // EXCLUSIVE, so none can commit between the look below (which decides DIFFERENTIAL
        // or FULL) and the delta statement (which consumes what its snapshot sees):
        // otherwise a TRUNCATE committing in between would be consumed as if it were plain
        // row changes, and the rows from before it would stay. One that committed before
        // the lock is seen by the look, whatever the commit order.
        cdc::lock_sources(&self.sources)?;
        // A source attached as a partition after creation no longer sees rows written
        // through its parent in its own statement triggers: its changes would be missed.
        // SAFETY: get_rel_relispartition reads the syscache entry of an existing relation
        // (the sources were just locked), returning false for an OID it does not find.
        let any_partition = self
            .sources
            .iter()
            .any(|&o| unsafe { pgrx::pg_sys::get_rel_relispartition(o) });
        let partition_of = if any_partition {
            catalog::first_value::<String>(
                "SELECT pg_catalog.format('%s is now a partition of %s', c.oid::pg_catalog.regclass, i.inhparent::pg_catalog.regclass) \
                   FROM pg_catalog.pg_class c JOIN pg_catalog.pg_inherits i ON i.inhrelid OPERATOR(pg_catalog.=) c.oid \
                  WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[]) AND c.relispartition LIMIT 1",
                &[self.sources.clone().into()],
            )?
        } else {
            None
        };
        if let Some(what) = partition_of {
            return Err(crate::error::PgtError::SourceChanged {
                name: st.display_name(),
                reason: format!("source {what}; rows written through the parent are not captured"),
            });
        }
        let mut forced = None;
        // Sources captured from the WAL: the slot is drained for the snapshot every
        // statement of this refresh then runs at (ADR-002).
        match crate::wal::prepare_refresh(&self.sources)? {
            crate::wal::RefreshCapture::Triggers => {}
            crate::wal::RefreshCapture::OwnWrites(why, wal) => {
                forced = Some(why);
                self.wal_sources = wal;
            }
            crate::wal::RefreshCapture::Drained(p, wal) => {
                self.pinned = Some(p);
                self.wal_sources = wal;
            }
        }
        let mut looks = Vec::new();
        for (src, f) in &self.all {
            match f {
                None => looks.push(SourceLook {
                    name: String::new(),
                    state: SourceState::NoFrontier,
                }),
                Some(f) => self.frontiers.push((*src, f.clone())),
            }
        }
        let pending = cdc::pending_and_own(&self.frontiers)?;
        self.shape = pending_shape(&pending);
        for p in pending {
            let (src, n, truncated) = (p.source, p.changes, p.truncated);
            self.own_last.insert(src, p.own_last);
            if self.wal_sources.contains(&src) {
                // Decoded rows carry their LSN as change id (ADR-002).
                self.own_last
                    .insert(src, Some(crate::wal::own_change_mark()));
            }
            if !truncated {
                refresh_buffer_statistics(src, n)?;
            }
            let over_ratio = !truncated && n > 0 && cdc::exceeds_change_ratio(src, n)?;
            let name = if truncated || over_ratio {
                source_name(src)?
            } else {
                String::new()
            };
            looks.push(SourceLook {
                name,
                state: SourceState::Pending {
                    changes: n,
                    truncated,
                    over_ratio,
                },
            });
        }
        Ok(Look {
            forced,
            repaired: std::mem::take(&mut self.repaired),
            sources: looks,
            max_change_ratio: crate::config::differential_max_change_ratio(),
            history: Vec::new(),
        })
    }

    fn history(&mut self) -> PgtResult<Vec<pgt_core::cost::PastRefresh>> {
        catalog::recent_refreshes(self.st.pgt_id)
    }

    fn prepare(&mut self, _incremental: bool) -> PgtResult<Option<String>> {
        let st = self.st;
        let translating = std::time::Instant::now();
        let t = {
            // Translation folds constants, which can call the owner's immutable functions.
            let _owner = crate::security::AsOwner::enter(st.owner);
            crate::plan_cache::translate(&st.defining_query, &st.pinned_settings)?
        };
        self.setup += translating.elapsed();
        // The storage's shape follows the sources' keys (a primary key makes a bag keyed).
        // If a key was added or dropped since creation, rebuild the hidden columns and
        // recompute.
        let reshaped = reshape_storage(st, &t.tree)?;
        self.translated = Some(t);
        self.visible = visible_columns(st)?;
        grant_buffers_to_owner(st)?;
        Ok(reshaped)
    }

    fn run_delta(
        &mut self,
        probation: Option<f64>,
    ) -> PgtResult<Result<refresh_plan::Applied, Stop>> {
        // The delta statement runs within its own work budget. Over it, AUTO recomputes
        // instead (a runaway delta never fills the disk); explicit DIFFERENTIAL fails.
        let params = frontier_params(&self.frontiers);
        let sql = self.delta_sql(&self.shape)?;
        pgrx::debug1!(
            "pg_trickle: DIFFERENTIAL refresh of {}: {sql}",
            self.st.table
        );
        let run_delta = |this: &Self, sql: &str| {
            let _writing = RefreshWriteGuard::enter();
            let _owner = crate::security::AsOwner::enter(this.st.owner);
            // The plan does not depend on the parameters' values (they only select buffer
            // rows, estimated alike for any frontier), so the generic plan is used from the
            // first execution on. Set inside the budget's subtransaction: it ends with it.
            crate::settings::set_saved(
                "plan_cache_mode",
                "force_generic_plan",
                pg_sys::GucContext::PGC_USERSET,
            );
            this.run_statement(sql, &params, true)
        };
        let (outcome, planning) = crate::planning_clock::measure(|| {
            crate::budget::within_delta_budget(probation, || run_delta(self, &sql))
        });
        self.setup += planning;
        let mut attempt_planning = planning;
        let mut outcome = outcome?;
        if let Err(crate::budget::Stopped::QuietSourceChanged) = outcome {
            // A source without pending changes at the look got one before the statement's
            // snapshot: run the statement that keeps (and gates) every source's terms.
            let gated = pgt_dvm::driver::PendingShape {
                omit_quiet: false,
                ..self.shape.clone()
            };
            let sql = self.delta_sql(&gated)?;
            let (gated_outcome, planning) = crate::planning_clock::measure(|| {
                crate::budget::within_delta_budget(probation, || run_delta(self, &sql))
            });
            self.setup += planning;
            attempt_planning = planning;
            outcome = gated_outcome?;
        }
        Ok(match outcome {
            Ok(r) => Ok(self.applied(r)),
            Err(crate::budget::Stopped::OverBudget(what)) => Err(Stop::OverBudget(what)),
            Err(crate::budget::Stopped::Probation(ran_ms)) => Err(Stop::Probation {
                ran_ms,
                // Planning is paid once per session; the measurement is what the next
                // attempt in a warm session would at least cost.
                planning_ms: attempt_planning.as_secs_f64() * 1000.0,
            }),
            Err(crate::budget::Stopped::QuietSourceChanged) => {
                unreachable!("the gated statement leaves no source's terms out")
            }
        })
    }

    fn run_full(&mut self) -> PgtResult<refresh_plan::Applied> {
        let sql = full_statement(self.tree(), self.st, &self.visible)?;
        pgrx::debug1!("pg_trickle: FULL refresh of {}: {sql}", self.st.table);
        let r = {
            let _writing = RefreshWriteGuard::enter();
            let _owner = crate::security::AsOwner::enter(self.st.owner);
            // Kept prepared like the delta statements: planning a recomputation of a
            // many-way join costs milliseconds, a large share when recomputing itself is
            // cheap.
            self.run_statement(&sql, &[], false)?
        };
        first_statistics(self.st, self.tree())?;
        Ok(self.applied(r))
    }

    fn consume(&mut self) -> PgtResult<()> {
        let snapshot = self
            .snapshot
            .take()
            .expect("the refresh statement returns its snapshot");
        for &src in &self.sources {
            let own = if self.wal_sources.contains(&src) {
                Some(Some(crate::wal::own_change_mark()))
            } else {
                self.own_last.get(&src).copied()
            };
            cdc::advance_frontier(self.st.pgt_id, src, &snapshot, own)?;
        }
        Ok(())
    }

    fn over_budget(&mut self, what: String) -> crate::error::PgtError {
        crate::error::PgtError::DeltaOverBudget {
            name: self.st.display_name(),
            what,
        }
    }
}

/// How the delta statement is shaped by what is pending: quiet sources (their terms left
/// out, checked when the statement runs) and large ones.
fn pending_shape(pending: &[cdc::Pending]) -> pgt_dvm::driver::PendingShape {
    let mut shape = pgt_dvm::driver::PendingShape::default();
    for p in pending {
        if p.changes == 0 && !p.truncated {
            shape.quiet.push(p.source.to_u32());
        }
        if p.changes >= LARGE_PENDING {
            shape.large.push(p.source.to_u32());
        }
    }
    shape.omit_quiet = !shape.quiet.is_empty();
    shape
}

/// The values of the delta statement's parameters, three per source in `frontiers` order
/// (`pgt_cdc::Frontier::params`).
fn frontier_params(
    frontiers: &[(pgrx::pg_sys::Oid, pgt_cdc::Frontier)],
) -> Vec<(String, String, i64)> {
    frontiers.iter().map(|(_, f)| f.params()).collect()
}

/// The delta statement consuming each source's changes past its frontier, shaped by what is
/// pending (see `pgt_dvm::driver::PendingShape`), with the frontiers as statement
/// parameters: source i's are parameters 3i+1..3i+3 ([`frontier_params`]).
fn delta_statement(
    tree: &pgt_dvm::OpTree,
    st: &StreamTable,
    visible: &[String],
    frontiers: &[(pgrx::pg_sys::Oid, pgt_cdc::Frontier)],
    shape: &pgt_dvm::driver::PendingShape,
    wal: &[pgrx::pg_sys::Oid],
) -> PgtResult<String> {
    let unconsumed = |oid: u32| {
        let p = frontiers
            .iter()
            .position(|(s, _)| s.to_u32() == oid)
            .map(|i| pgt_cdc::Frontier::unconsumed_predicate_params("b", 1 + 3 * i))
            .unwrap_or_else(|| "true".into());
        if wal.iter().any(|w| w.to_u32() == oid) {
            format!(
                "{p} AND {}",
                pgt_cdc::Frontier::decoded_visible_predicate("b")
            )
        } else {
            p
        }
    };
    Ok(pgt_dvm::driver::differential_statement_for(
        tree,
        &st.table,
        visible,
        &unconsumed,
        shape,
        Some(&state_tables(st)),
        &SERVER,
    )?)
}

/// The generated SQL's row hashes and checks: this extension's functions (ADR-077).
const SERVER: pgt_sql::server_functions::Extension = pgt_sql::server_functions::Extension;

/// Where `st`'s groupings below the top keep their stored states (`pgt_dvm::state`).
fn state_tables(st: &StreamTable) -> pgt_dvm::state::StateTables {
    pgt_dvm::state::StateTables::for_storage(st.relid.to_u32())
}

/// The FULL statement of an incrementally maintained `st` (refilling its state tables).
fn full_statement(
    tree: &pgt_dvm::OpTree,
    st: &StreamTable,
    visible: &[String],
) -> PgtResult<String> {
    Ok(pgt_dvm::driver::full_statement(
        tree,
        &st.table,
        visible,
        Some(&state_tables(st)),
        &SERVER,
    )?)
}

/// From this many pending changes on, a source's buffer is analyzed before the delta
/// statement is planned, and the statement is shaped for a large delta.
const LARGE_PENDING: i64 = 1000;

/// The planner sees a change buffer through its statistics, and a buffer last analyzed
/// while nearly empty makes it expect a handful of changed rows: with thousands pending,
/// it then plans nested loops that are quadratic in the change. Before a large delta, a
/// buffer whose statistics describe far fewer rows than are pending is analyzed (a sample
/// of at most a few thousand rows: milliseconds, against a refresh that handles thousands
/// of changes).
fn refresh_buffer_statistics(src: pgrx::pg_sys::Oid, pending: i64) -> PgtResult<()> {
    if pending < LARGE_PENDING {
        return Ok(());
    }
    let buffer = pgt_cdc::buffer_table(src.to_u32());
    let stale = Spi::get_one_with_args::<bool>(
        "SELECT c.reltuples::pg_catalog.float8 OPERATOR(pg_catalog.<) ($2::pg_catalog.float8 OPERATOR(pg_catalog./) 2) \
           FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
        &[buffer.to_string().into(), pending.into()],
    )?
    .unwrap_or(false);
    if stale {
        // A sample of 3,000 rows (instead of the default 30,000) is enough for the row
        // count and the few distributions a delta's plan depends on, at a tenth of the
        // cost (a 120,000-row buffer: about 20 ms instead of 200).
        crate::settings::with_setting("default_statistics_target", "10", || {
            Spi::run(&format!("ANALYZE {buffer}"))
        })?;
    }
    Ok(())
}

/// After a recomputation, the storage and the state tables that were never analyzed (just
/// created) are: without statistics the planner expects a few hundred rows per key of a
/// million-row table, and plans the next delta with merge joins over whole indexes. A
/// sample of 3,000 rows is enough (milliseconds); autovacuum keeps them current after.
fn first_statistics(st: &StreamTable, tree: &pgt_dvm::OpTree) -> PgtResult<()> {
    let mut tables = vec![st.table.to_string()];
    tables.extend(
        pgt_dvm::state::state_table_names(tree, &state_tables(st))
            .into_iter()
            .map(|t| t.to_string()),
    );
    for table in tables {
        let never = Spi::get_one_with_args::<bool>(
            "SELECT c.reltuples OPERATOR(pg_catalog.<) 0 FROM pg_catalog.pg_class c \
              WHERE c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
            &[table.clone().into()],
        )?
        .unwrap_or(false);
        if never {
            let _ddl = crate::guard::InternalDdl::enter();
            crate::settings::with_setting("default_statistics_target", "10", || {
                Spi::run(&format!("ANALYZE {table}"))
            })?;
        }
    }
    Ok(())
}

/// Brings the storage's hidden columns and state tables in line with what `tree` needs now.
/// Returns why when it had to change them (the refresh must then recompute in full).
fn reshape_storage(st: &StreamTable, tree: &pgt_dvm::OpTree) -> PgtResult<Option<String>> {
    let columns = reshape_hidden_columns(st, tree)?;
    let states = sync_state_tables(st, tree)?;
    Ok(columns.or(states))
}

/// Creates the state tables `tree` needs that do not exist yet, and drops those of `st`
/// it does not need (see `pgt_dvm::state`: a table's name changes with its grouping).
/// Returns why when it created one (it is empty: the refresh must recompute in full).
fn sync_state_tables(st: &StreamTable, tree: &pgt_dvm::OpTree) -> PgtResult<Option<String>> {
    let states = state_tables(st);
    let wanted = pgt_dvm::state::state_table_names(tree, &states);
    let have = Spi::get_one_with_args::<Vec<String>>(
        "SELECT coalesce(pg_catalog.array_agg(c.relname::pg_catalog.text), '{}') FROM pg_catalog.pg_class c \
          WHERE c.relnamespace OPERATOR(pg_catalog.=) 'pgtrickle_changes'::pg_catalog.regnamespace \
            AND c.relkind OPERATOR(pg_catalog.=) 'r' AND c.relname OPERATOR(pg_catalog.~~) $1",
        &[states.like_pattern().into()],
    )?
    .unwrap_or_default();
    let missing: Vec<&pgt_sql::QualifiedName> =
        wanted.iter().filter(|t| !have.contains(&t.name)).collect();
    let unneeded: Vec<&String> = have
        .iter()
        .filter(|h| !wanted.iter().any(|t| &t.name == *h))
        .collect();
    if missing.is_empty() && unneeded.is_empty() {
        return Ok(None);
    }
    let _ddl = crate::guard::InternalDdl::enter();
    for name in unneeded {
        crate::cdc::drop_internal_table(
            &pgt_sql::QualifiedName::new(pgt_dvm::state::STATE_SCHEMA, name.clone()).to_string(),
        )?;
    }
    if missing.is_empty() {
        return Ok(None);
    }
    let specs = pgt_dvm::state::state_tables(tree, &states, &SERVER)?;
    for spec in specs.iter().filter(|s| missing.contains(&&s.table)) {
        for ddl in &spec.ddl {
            Spi::run(ddl)?;
        }
    }
    Ok(Some(format!(
        "the stored states of {} grouping(s) below the top were created: recomputed in full",
        missing.len()
    )))
}

/// Brings the storage's hidden columns in line with the shape `tree` needs now. Returns why
/// when it had to change them.
fn reshape_hidden_columns(st: &StreamTable, tree: &pgt_dvm::OpTree) -> PgtResult<Option<String>> {
    let hidden = pgt_dvm::driver::hidden_columns(tree)?;
    let wanted: Vec<&str> = hidden.iter().map(|(n, _)| n.as_str()).collect();
    let have = Spi::get_one_with_args::<Vec<String>>(
        "SELECT coalesce(pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY a.attnum), '{}') FROM pg_catalog.pg_attribute a \
          WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped \
            AND a.attname::pg_catalog.text OPERATOR(pg_catalog.~~) '\\_\\_pgt\\_%' AND a.attname OPERATOR(pg_catalog.<>) '__pgt_row_id'",
        &[st.relid.into()],
    )?
    .unwrap_or_default();
    let mut a: Vec<&str> = have.iter().map(String::as_str).collect();
    let mut b = wanted.clone();
    a.sort_unstable();
    b.sort_unstable();
    if a == b {
        return Ok(None);
    }
    // Only now the full spec (it generates a statement to validate the tree) for its DDL.
    let spec = pgt_dvm::driver::storage_spec(tree, &st.table)?;
    let _ddl = crate::guard::InternalDdl::enter();
    for col in have.iter().filter(|c| !wanted.contains(&c.as_str())) {
        Spi::run(&format!(
            "ALTER TABLE {} DROP COLUMN {}",
            st.table,
            pgt_sql::quote_ident(col)
        ))?;
    }
    for (name, ty) in hidden.iter().filter(|(n, _)| !have.contains(n)) {
        Spi::run(&format!(
            "ALTER TABLE {} ADD COLUMN {} {ty}",
            st.table,
            pgt_sql::quote_ident(name)
        ))?;
    }
    for ddl in &spec.extra_ddl {
        Spi::run(ddl)?;
    }
    catalog::record_storage_columns(st.pgt_id)?;
    Ok(Some(format!(
        "the storage shape changed (a source's primary key was added or dropped, or a newer pg_trickle keeps other state; hidden columns were {:?}, now {:?}): rebuilt and recomputed in full",
        have, wanted
    )))
}

fn source_name(oid: pgrx::pg_sys::Oid) -> PgtResult<String> {
    Ok(
        Spi::get_one_with_args::<String>("SELECT $1::regclass::text", &[oid.into()])?
            .unwrap_or_default(),
    )
}

/// What `pgtrickle.explain_stream_table` shows: the refresh mode, the operator tree as the
/// query is written and after the rewrite rules (with how each aggregate is maintained), the
/// statement the next refresh would run for the changes pending now, and PostgreSQL's plan
/// for it. Nothing is refreshed or consumed; the plan is computed under the same pinned
/// settings and search path as a refresh.
pub fn explain(st: &StreamTable, analyze: bool) -> PgtResult<Vec<String>> {
    let _scope = crate::budget::RefreshScope::enter(&st.pinned_settings);
    let mut out = vec![format!(
        "stream table {}: {}{}",
        st.display_name(),
        st.effective_refresh_mode,
        st.refresh_mode_reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )];
    let section = |out: &mut Vec<String>, title: &str, body: &str| {
        out.push(String::new());
        out.push(format!("{title}:"));
        out.extend(body.lines().map(|l| format!("  {l}")));
    };
    if st.effective_refresh_mode != "DIFFERENTIAL" {
        section(
            &mut out,
            "defining query (recomputed in full)",
            &st.defining_query,
        );
        return Ok(out);
    }
    let (literal, t) = {
        use pgt_dvm::frontend::ParseFrontend;
        let _owner = crate::security::AsOwner::enter(st.owner);
        (
            frontend::PgFrontend.translate(&st.defining_query)?,
            crate::plan_cache::translate(&st.defining_query, &st.pinned_settings)?,
        )
    };
    section(
        &mut out,
        "operator tree as written",
        &pgt_dvm::explain::tree_text(&literal.tree),
    );
    section(
        &mut out,
        "operator tree after rewrites",
        &pgt_dvm::explain::tree_text(&t.tree),
    );
    let states = state_tables(st);
    let names = pgt_dvm::state::state_table_names(&t.tree, &states);
    if !names.is_empty() {
        let mut lines = Vec::new();
        for (slot, name) in names.iter().enumerate() {
            let size = Spi::get_one_with_args::<String>(
                "SELECT pg_catalog.format('about %s rows, %s', \
                        CASE WHEN c.reltuples OPERATOR(pg_catalog.<) 0 THEN 'an unknown number of' ELSE c.reltuples::pg_catalog.int8::pg_catalog.text END, \
                        pg_catalog.pg_size_pretty(pg_catalog.pg_total_relation_size(c.oid))) \
                   FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)",
                &[name.to_string().into()],
            )?
            .unwrap_or_else(|| "not created yet: the next refresh creates it and recomputes in full".into());
            let what = if states.is_fixpoint(name) {
                "recursion fixpoint"
            } else {
                "grouping"
            };
            lines.push(format!("{what} {slot} (in tree order): {name} ({size})"));
        }
        section(
            &mut out,
            "stored states of groupings and recursions below the top (state tables)",
            &lines.join("\n"),
        );
    }
    let (all, _) = cdc::frontiers(st.pgt_id)?;
    let visible = visible_columns(st)?;
    let (sql, values) = if all.iter().all(|(_, f)| f.is_some()) {
        let frontiers: Vec<_> = all
            .iter()
            .filter_map(|(s, f)| f.clone().map(|f| (*s, f)))
            .collect();
        // The statement a refresh runs, with its frontier parameters, explained with the
        // generic plan a refresh uses (a prepared statement executed with these values).
        let shape = pending_shape(&cdc::pending_and_own(&frontiers)?);
        let sources: Vec<pgrx::pg_sys::Oid> = frontiers.iter().map(|(s, _)| *s).collect();
        let wal = crate::wal::wal_sources(&sources)?;
        let sql = delta_statement(&t.tree, st, &visible, &frontiers, &shape, &wal)?;
        section(&mut out, "delta statement for the pending changes", &sql);
        let values: Vec<String> = frontier_params(&frontiers)
            .iter()
            .flat_map(|(snap, xid, id)| {
                [
                    pgt_sql::quote_literal(snap),
                    pgt_sql::quote_literal(xid),
                    id.to_string(),
                ]
            })
            .collect();
        section(
            &mut out,
            "parameters (each source's frontier: snapshot, own xid, own last change id)",
            &values
                .iter()
                .enumerate()
                .map(|(i, v)| format!("${} = {v}", i + 1))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        (sql, Some(values))
    } else {
        let sql = full_statement(&t.tree, st, &visible)?;
        section(
            &mut out,
            "full statement (no frontier yet: the next refresh recomputes)",
            &sql,
        );
        (sql, None)
    };
    let options = if analyze { "(ANALYZE, BUFFERS) " } else { "" };
    let name = pgt_sql::quote_ident(&format!("__pgt_explain_{}", st.pgt_id));
    // The refresh's statement is prepared (as the caller: PREPARE is not allowed in the
    // owner's security-restricted context; the owner's rights are checked when it runs),
    // explained as the owner, and deallocated. Prepared statements outlive a rolled-back
    // subtransaction, so one left by a failed earlier call is removed first.
    let explain_sql = match &values {
        None => format!("EXPLAIN {options}{sql}"),
        Some(values) => {
            let left = catalog::first_value::<bool>(
                "SELECT true FROM pg_catalog.pg_prepared_statements WHERE name OPERATOR(pg_catalog.=) $1",
                &[format!("__pgt_explain_{}", st.pgt_id).into()],
            )?
            .unwrap_or(false);
            if left {
                Spi::run(&format!("DEALLOCATE {name}"))?;
            }
            let types = vec!["pg_catalog.text, pg_catalog.text, pg_catalog.int8"; values.len() / 3]
                .join(", ");
            let types = if types.is_empty() {
                String::new()
            } else {
                format!("({types})")
            };
            Spi::run(&format!("PREPARE {name}{types} AS {sql}"))?;
            let args = if values.is_empty() {
                String::new()
            } else {
                format!("({})", values.join(", "))
            };
            format!("EXPLAIN {options}EXECUTE {name}{args}")
        }
    };
    let run = || {
        crate::settings::with_setting("plan_cache_mode", "force_generic_plan", || {
            Spi::connect_mut(|c| -> PgtResult<Vec<String>> {
                let mut lines = Vec::new();
                for row in c.update(&explain_sql, None, &[])? {
                    lines.push(row.get::<String>(1)?.unwrap_or_default());
                }
                Ok(lines)
            })
        })
    };
    let plan = {
        let _owner = crate::security::AsOwner::enter(st.owner);
        if analyze {
            let _writing = RefreshWriteGuard::enter();
            crate::subtransaction::rolled_back(run)?
        } else {
            run()?
        }
    };
    if values.is_some() {
        Spi::run(&format!("DEALLOCATE {name}"))?;
    }
    let title = if analyze {
        "plan (executed, then rolled back: nothing was consumed or changed)"
    } else {
        "plan"
    };
    section(&mut out, title, &plan.join("\n"));
    Ok(out)
}
