//! An in-memory catalog and refresher with the semantics the extension's SPI
//! implementations have (ADR-077): the fakes the scheduler's tests run against, and a
//! statement of what [`CatalogAccess`] and [`Refresher`] promise.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use pgt_core::status::AfterFailure;
use pgt_core::Schedule;
use pgt_dag::Dag;

use crate::{CatalogAccess, CatalogState, Entry, RefreshError, Refresher};

/// One stream table's catalog row.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    pub schedule: Schedule,
    pub status: String,
    pub status_reason: Option<String>,
    pub last_refresh: Option<i64>,
    pub consecutive_errors: i32,
    /// Its frontiers were forgotten (by a failure): the next refresh recomputes in full.
    pub needs_full: bool,
}

impl Table {
    pub fn new(name: &str, schedule: Schedule) -> Self {
        Table {
            name: name.into(),
            schedule,
            status: "ACTIVE".into(),
            status_reason: None,
            last_refresh: None,
            consecutive_errors: 0,
            needs_full: false,
        }
    }
}

/// One history row: `COMPLETED`, `FAILED` or `SKIPPED`, when, and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub pgt_id: i64,
    pub status: &'static str,
    pub at: i64,
    pub message: Option<String>,
}

/// The catalog: stream tables by id, dependency edges (source, reader; base tables have
/// negative ids), history, and a wall clock the tests move.
#[derive(Debug, Default)]
pub struct Catalog {
    pub tables: BTreeMap<i64, Table>,
    pub edges: Vec<(i64, i64)>,
    pub history: Vec<HistoryRow>,
    /// Unix seconds, for history rows and last-refresh times.
    pub now: i64,
    /// The extension was dropped.
    pub gone: bool,
    /// Loading fails (a catalog lock, say).
    pub unreadable: bool,
    /// How many times the catalog was loaded.
    pub loads: usize,
    /// The retention of each prune.
    pub prunes: Vec<i64>,
}

/// The catalog shared by the scheduler's [`CatalogAccess`] and the [`Refresher`], as the
/// real ones share the database.
pub type Shared = Rc<RefCell<Catalog>>;

pub fn shared(catalog: Catalog) -> Shared {
    Rc::new(RefCell::new(catalog))
}

impl CatalogAccess for Shared {
    type Error = String;

    fn load(&mut self) -> Result<Option<CatalogState>, String> {
        let mut c = self.borrow_mut();
        if c.unreadable {
            return Err("catalog unreadable".into());
        }
        if c.gone {
            return Ok(None);
        }
        c.loads += 1;
        let mut graph = Dag::new();
        for id in c.tables.keys() {
            graph.add_node(*id);
        }
        for (s, r) in &c.edges {
            graph.add_edge(*s, *r);
        }
        let entries = c
            .tables
            .iter()
            .map(|(id, t)| Entry {
                pgt_id: *id,
                name: t.name.clone(),
                schedule: t.schedule.clone(),
                status: t.status.clone(),
                last_refresh: t.last_refresh,
            })
            .collect();
        Ok(Some(CatalogState { entries, graph }))
    }

    fn record_skip(&mut self, pgt_id: i64, message: &str) -> Result<(), String> {
        let mut c = self.borrow_mut();
        let at = c.now;
        if c.tables.contains_key(&pgt_id) {
            c.history.push(HistoryRow {
                pgt_id,
                status: "SKIPPED",
                at,
                message: Some(message.into()),
            });
        }
        Ok(())
    }

    fn record_failure(
        &mut self,
        pgt_id: i64,
        _name: &str,
        message: &str,
        decide: &mut dyn FnMut(i32) -> AfterFailure,
    ) -> Result<(), String> {
        let mut c = self.borrow_mut();
        let at = c.now;
        let Some(t) = c.tables.get_mut(&pgt_id) else {
            return Ok(());
        };
        let after = decide(t.consecutive_errors);
        t.consecutive_errors = after.consecutive_errors;
        if let Some(reason) = after.suspend {
            t.status = "SUSPENDED".into();
            t.status_reason = Some(reason);
        }
        t.needs_full = true;
        c.history.push(HistoryRow {
            pgt_id,
            status: "FAILED",
            at,
            message: Some(message.into()),
        });
        Ok(())
    }

    fn prune_history(&mut self, keep_secs: i64) -> Result<(), String> {
        let mut c = self.borrow_mut();
        let cutoff = c.now - keep_secs;
        c.history.retain(|h| h.at >= cutoff);
        c.prunes.push(keep_secs);
        Ok(())
    }
}

/// Refreshes by updating the shared catalog; `failures` makes a stream table's refreshes
/// fail (the whole batch, rolled back) until removed.
#[derive(Debug)]
pub struct Refreshes {
    pub catalog: Shared,
    pub failures: BTreeMap<i64, RefreshError>,
    /// Every batch asked for, with its `together` flag.
    pub calls: Vec<(Vec<i64>, bool)>,
}

impl Refreshes {
    pub fn new(catalog: &Shared) -> Self {
        Refreshes {
            catalog: catalog.clone(),
            failures: BTreeMap::new(),
            calls: Vec::new(),
        }
    }
}

impl Refresher for Refreshes {
    fn refresh(&mut self, batch: &[i64], together: bool) -> Result<bool, RefreshError> {
        self.calls.push((batch.to_vec(), together));
        if let Some(e) = batch.iter().find_map(|m| self.failures.get(m)) {
            return Err(e.clone());
        }
        let mut c = self.catalog.borrow_mut();
        let now = c.now;
        let mut any = false;
        for m in batch {
            let Some(t) = c.tables.get_mut(m) else {
                continue;
            };
            if t.status != "ACTIVE" {
                continue;
            }
            t.last_refresh = Some(now);
            t.consecutive_errors = 0;
            t.needs_full = false;
            c.history.push(HistoryRow {
                pgt_id: *m,
                status: "COMPLETED",
                at: now,
                message: None,
            });
            any = true;
        }
        Ok(any)
    }
}
