//! The scheduler's rules against the in-memory catalog ([`crate::memory`]).

use std::time::Duration;

use pgt_core::Schedule;

use crate::memory::{shared, Catalog, Refreshes, Shared, Table};
use crate::{RefreshError, Reload, Scheduler, Settings};

/// A Unix time on an hour boundary.
const T0: i64 = 1_800_000_000;

const SETTINGS: Settings = Settings {
    min_schedule_secs: 1,
    max_consecutive_errors: 3,
    history_retention_secs: 3600,
};

fn every(secs: u64) -> Schedule {
    Schedule::Every(Duration::from_secs(secs))
}

/// Stream tables (id, name, schedule) and edges (source, reader; base tables negative).
fn catalog(tables: &[(i64, &str, Schedule)], edges: &[(i64, i64)]) -> Shared {
    let mut c = Catalog {
        now: T0,
        ..Default::default()
    };
    for (id, name, s) in tables {
        c.tables.insert(*id, Table::new(name, s.clone()));
    }
    c.edges = edges.to_vec();
    shared(c)
}

/// One tick at the catalog's clock (`ms` on the monotonic clock); the batches run.
fn tick(
    s: &mut Scheduler,
    c: &mut Shared,
    r: &mut Refreshes,
    generation: u64,
    ms: u64,
) -> Vec<Vec<i64>> {
    assert_eq!(s.reload(c, generation, ms), Reload::Ready);
    let now = c.borrow().now;
    s.run_due(c, r, &SETTINGS, now, ms).batches
}

fn history(c: &Shared, id: i64) -> Vec<&'static str> {
    c.borrow()
        .history
        .iter()
        .filter(|h| h.pgt_id == id)
        .map(|h| h.status)
        .collect()
}

#[test]
fn refreshes_what_is_due_upstream_first() {
    // a reads base -1, b reads a, c reads base -2.
    let mut c = catalog(
        &[
            (3, "b", every(60)),
            (1, "a", every(60)),
            (2, "c", every(3600)),
        ],
        &[(-1, 1), (1, 3), (-2, 2)],
    );
    let mut r = Refreshes::new(&c);
    let mut s = Scheduler::new();
    // Never refreshed: all due, each alone, a before b.
    let batches = tick(&mut s, &mut c, &mut r, 1, 0);
    assert_eq!(batches.len(), 3);
    let pos = |id| batches.iter().position(|b| b == &vec![id]).unwrap();
    assert!(pos(1) < pos(3));
    assert!(r.calls.iter().all(|(_, together)| !together));
    // Refreshed just now: nothing is due on the next tick.
    assert!(tick(&mut s, &mut c, &mut r, 1, 1000).is_empty());
    // A minute later, on the minute boundary: the two 1-minute tables, a first.
    c.borrow_mut().now = T0 + 60;
    assert_eq!(
        tick(&mut s, &mut c, &mut r, 1, 61_000),
        vec![vec![1], vec![3]]
    );
    // An hour later all three.
    c.borrow_mut().now = T0 + 3600;
    assert_eq!(tick(&mut s, &mut c, &mut r, 1, 3_601_000).len(), 3);
}

#[test]
fn a_diamond_is_refreshed_together_when_one_member_is_due() {
    // x and y read base -1; z reads both: one consistency group.
    let mut c = catalog(
        &[
            (1, "x", every(60)),
            (2, "y", every(3600)),
            (3, "z", every(3600)),
        ],
        &[(-1, 1), (-1, 2), (1, 3), (2, 3)],
    );
    let mut r = Refreshes::new(&c);
    let mut s = Scheduler::new();
    let first = tick(&mut s, &mut c, &mut r, 1, 0);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].last(), Some(&3), "the bottom of the diamond last");
    assert!(r.calls[0].1, "one REPEATABLE READ transaction");
    // Only x is due a minute later; the group goes together, once.
    c.borrow_mut().now = T0 + 60;
    let batches = tick(&mut s, &mut c, &mut r, 1, 61_000);
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].len(), 3);
}

#[test]
fn failures_are_counted_isolated_and_suspend_at_the_limit() {
    let mut c = catalog(
        &[(1, "bad", every(60)), (2, "good", every(60))],
        &[(-1, 1), (-2, 2)],
    );
    let mut r = Refreshes::new(&c);
    r.failures
        .insert(1, RefreshError::Failed("division by zero".into()));
    let mut s = Scheduler::new();
    for round in 0..3 {
        c.borrow_mut().now = T0 + 60 * round;
        let report = {
            assert_eq!(s.reload(&mut c, 1, 61_000 * round as u64), Reload::Ready);
            let now = c.borrow().now;
            s.run_due(&mut c, &mut r, &SETTINGS, now, 61_000 * round as u64)
        };
        assert_eq!(report.failed, vec![1]);
        // The other stream table is refreshed regardless.
        assert_eq!(c.borrow().tables[&2].last_refresh, Some(T0 + 60 * round));
    }
    let bad = c.borrow().tables[&1].clone();
    assert_eq!(bad.consecutive_errors, 3);
    assert_eq!(bad.status, "SUSPENDED");
    assert!(bad
        .status_reason
        .as_deref()
        .unwrap()
        .contains("suspended after 3 consecutive failed refreshes; last error: division by zero"));
    assert!(bad.needs_full, "a failed refresh forgets its frontiers");
    assert_eq!(history(&c, 1), vec!["FAILED"; 3]);
    // Suspended: not refreshed any more, even though it would be due.
    c.borrow_mut().now = T0 + 600;
    let calls = r.calls.len();
    let batches = tick(&mut s, &mut c, &mut r, 1, 700_000);
    assert_eq!(batches, vec![vec![2]]);
    assert_eq!(r.calls.len(), calls + 1);
}

#[test]
fn a_success_clears_the_error_count() {
    let mut c = catalog(&[(1, "flaky", every(60))], &[(-1, 1)]);
    let mut r = Refreshes::new(&c);
    let mut s = Scheduler::new();
    r.failures.insert(1, RefreshError::Failed("oops".into()));
    tick(&mut s, &mut c, &mut r, 1, 0);
    assert_eq!(c.borrow().tables[&1].consecutive_errors, 1);
    r.failures.clear();
    c.borrow_mut().now = T0 + 1;
    tick(&mut s, &mut c, &mut r, 1, 2000);
    let t = c.borrow().tables[&1].clone();
    assert_eq!((t.consecutive_errors, t.status.as_str()), (0, "ACTIVE"));
    assert_eq!(history(&c, 1), vec!["FAILED", "COMPLETED"]);
}

#[test]
fn lock_conflicts_are_skipped_not_counted_and_retried() {
    let mut c = catalog(&[(1, "busy", every(60))], &[(-1, 1)]);
    let mut r = Refreshes::new(&c);
    r.failures.insert(
        1,
        RefreshError::LockConflict("canceling statement due to lock timeout".into()),
    );
    let mut s = Scheduler::new();
    let report = {
        s.reload(&mut c, 1, 0);
        s.run_due(&mut c, &mut r, &SETTINGS, T0, 0)
    };
    assert_eq!(report.skipped, vec![1]);
    assert_eq!(c.borrow().tables[&1].consecutive_errors, 0);
    assert_eq!(c.borrow().tables[&1].status, "ACTIVE");
    assert_eq!(history(&c, 1), vec!["SKIPPED"]);
    r.failures.clear();
    assert_eq!(tick(&mut s, &mut c, &mut r, 1, 1000), vec![vec![1]]);
    assert_eq!(history(&c, 1), vec!["SKIPPED", "COMPLETED"]);
}

#[test]
fn a_failed_group_counts_for_every_member() {
    let mut c = catalog(
        &[
            (1, "x", every(60)),
            (2, "y", every(60)),
            (3, "z", every(60)),
        ],
        &[(-1, 1), (-1, 2), (1, 3), (2, 3)],
    );
    let mut r = Refreshes::new(&c);
    r.failures.insert(3, RefreshError::Failed("bad row".into()));
    let mut s = Scheduler::new();
    tick(&mut s, &mut c, &mut r, 1, 0);
    for id in 1..=3 {
        assert_eq!(history(&c, id), vec!["FAILED"], "member {id}");
        assert_eq!(c.borrow().tables[&id].last_refresh, None);
    }
}

#[test]
fn the_catalog_is_read_again_only_when_needed() {
    let mut c = catalog(&[(1, "a", every(3600))], &[(-1, 1)]);
    let mut r = Refreshes::new(&c);
    let mut s = Scheduler::new();
    tick(&mut s, &mut c, &mut r, 7, 0);
    assert_eq!(c.borrow().loads, 1);
    // A refresh ran: read again (new last-refresh times).
    tick(&mut s, &mut c, &mut r, 7, 1000);
    assert_eq!(c.borrow().loads, 2);
    // Nothing ran, same generation, within 5 s: not read.
    tick(&mut s, &mut c, &mut r, 7, 2000);
    assert_eq!(c.borrow().loads, 2);
    // The generation moved: read.
    tick(&mut s, &mut c, &mut r, 8, 3000);
    assert_eq!(c.borrow().loads, 3);
    // More than 5 s since the last read: read (rows restored by pg_restore, say).
    tick(&mut s, &mut c, &mut r, 8, 9000);
    assert_eq!(c.borrow().loads, 4);
    // A stream table added and the generation bumped: it is served at once.
    c.borrow_mut()
        .tables
        .insert(2, Table::new("new", every(3600)));
    assert_eq!(tick(&mut s, &mut c, &mut r, 9, 9500), vec![vec![2]]);
}

#[test]
fn an_unreadable_catalog_skips_the_tick_and_a_missing_one_stops() {
    let mut c = catalog(&[(1, "a", every(60))], &[(-1, 1)]);
    let mut s = Scheduler::new();
    c.borrow_mut().unreadable = true;
    assert_eq!(
        s.reload(&mut c, 1, 0),
        Reload::Failed("catalog unreadable".into())
    );
    c.borrow_mut().unreadable = false;
    c.borrow_mut().gone = true;
    assert_eq!(s.reload(&mut c, 2, 100), Reload::Gone);
}

#[test]
fn history_is_pruned_once_a_minute() {
    let mut c = catalog(&[(1, "a", every(60))], &[(-1, 1)]);
    let mut r = Refreshes::new(&c);
    let mut s = Scheduler::new();
    tick(&mut s, &mut c, &mut r, 1, 0);
    tick(&mut s, &mut c, &mut r, 1, 30_000);
    assert_eq!(c.borrow().prunes, vec![3600]);
    // Old rows go, recent ones stay.
    c.borrow_mut().now = T0 + 7200;
    tick(&mut s, &mut c, &mut r, 1, 61_000);
    assert_eq!(c.borrow().prunes.len(), 2);
    assert!(c.borrow().history.iter().all(|h| h.at >= T0 + 3600));
}

#[test]
fn a_calculated_schedule_follows_its_readers() {
    // up has no schedule of its own; its reader wants a minute.
    let mut c = catalog(
        &[(1, "up", Schedule::Calculated), (2, "reader", every(60))],
        &[(-1, 1), (1, 2)],
    );
    let mut r = Refreshes::new(&c);
    let mut s = Scheduler::new();
    tick(&mut s, &mut c, &mut r, 1, 0);
    c.borrow_mut().now = T0 + 60;
    assert_eq!(
        tick(&mut s, &mut c, &mut r, 1, 61_000),
        vec![vec![1], vec![2]]
    );
    // Without a reader with a schedule, never due again once populated.
    let mut c = catalog(&[(1, "alone", Schedule::Calculated)], &[(-1, 1)]);
    let mut r = Refreshes::new(&c);
    let mut s = Scheduler::new();
    assert_eq!(tick(&mut s, &mut c, &mut r, 1, 0), vec![vec![1]]);
    c.borrow_mut().now = T0 + 86_400;
    assert!(tick(&mut s, &mut c, &mut r, 1, 90_000_000).is_empty());
}
