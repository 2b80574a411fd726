//! Unlogged change buffers (ADR-078): a crash empties them, and every stream table reading
//! one recomputes in full at its next refresh (recorded in the history), then goes on
//! incrementally; a clean restart keeps them; buffers created with
//! `pg_trickle.unlogged_change_buffers = off` are logged and keep their rows through a
//! crash. Its own file: the crashes restart this test binary's cluster.

use pgt_testkit::postgres::Client;
use pgt_testkit::{assert_stream_table_matches_query, cluster_with};

fn persistence(c: &mut Client, source: &str) -> String {
    let p: i8 = c
        .query_one(
            "SELECT c.relpersistence FROM pg_class c \
              WHERE c.oid = ('pgtrickle_changes.changes_' || $1::text::regclass::oid)::regclass",
            &[&source],
        )
        .unwrap()
        .get(0);
    (p as u8 as char).to_string()
}

/// Refreshes `st` and returns the action and reason its history recorded.
fn refresh(c: &mut Client, st: &str) -> (String, String) {
    c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
        .unwrap();
    assert_stream_table_matches_query(c, st);
    let row = c
        .query_one(
            "SELECT h.action, coalesce(h.reason, '') FROM pgtrickle.pgt_refresh_history h \
               JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) \
              WHERE s.pgt_name = $1 ORDER BY h.refresh_id DESC LIMIT 1",
            &[&st],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

fn intact(c: &mut Client) -> i64 {
    c.query_one("SELECT count(*) FROM pgtrickle.pgt_buffers_intact", &[])
        .unwrap()
        .get(0)
}

fn lost_reported(c: &mut Client) -> i64 {
    c.query_one(
        "SELECT count(*) FROM pgtrickle.health_check() WHERE check_name = 'change buffers lost'",
        &[],
    )
    .unwrap()
    .get(0)
}

/// Random-ish changes with NULLs, duplicates, key moves and a group's last row deleted.
fn churn(c: &mut Client, round: i32) {
    c.batch_execute(&format!(
        "INSERT INTO src SELECT 1000 * {round} + i, (i % 5), CASE WHEN i % 7 = 0 THEN NULL ELSE i END FROM generate_series(1, 40) i;
         INSERT INTO src VALUES (1, 1, 1), (1, 1, 1);
         UPDATE src SET g = (g + 1) % 6, v = v + {round} WHERE id % 9 = {round} % 9;
         DELETE FROM src WHERE g = 4;
         UPDATE keep SET w = w * 2 WHERE k % 3 = {round} % 3;
         INSERT INTO keep VALUES ({round}, NULL), ({round}, {round});
         DELETE FROM keep WHERE k = {round} - 1;"
    ))
    .unwrap();
}

#[test]
fn a_crash_that_empties_unlogged_buffers_makes_their_readers_recompute_once() {
    // Commits must be durable across the crash (the harness's clusters commit
    // asynchronously, which a crash may legitimately undo). No scheduler: every refresh
    // here is explicit.
    let cl = cluster_with(&[
        "synchronous_commit = on",
        "pg_trickle.differential_max_change_ratio = 0",
    ]);
    let db = cl.new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE src (id int, g int, v int);
         INSERT INTO src SELECT i, i % 5, i FROM generate_series(1, 200) i;
         CREATE TABLE keep (k int, w int);
         INSERT INTO keep SELECT i % 10, i FROM generate_series(1, 50) i;
         SELECT pgtrickle.create_stream_table('agg', 'SELECT g, count(*) AS n, sum(v) AS s, min(v) AS lo FROM src GROUP BY g', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('rows_st', 'SELECT id, v FROM src WHERE v IS NOT NULL', refresh_mode => 'DIFFERENTIAL');
         -- A stream table over a stream table: its source's buffer is unlogged too.
         SELECT pgtrickle.create_stream_table('agg2', 'SELECT n, count(*) AS groups FROM agg GROUP BY n', refresh_mode => 'DIFFERENTIAL');
         SET pg_trickle.unlogged_change_buffers = off;
         SELECT pgtrickle.create_stream_table('kept', 'SELECT k, count(*) AS n, sum(w) AS s FROM keep GROUP BY k', refresh_mode => 'DIFFERENTIAL');
         RESET pg_trickle.unlogged_change_buffers;",
    )
    .unwrap();
    assert_eq!(persistence(&mut c, "src"), "u");
    assert_eq!(persistence(&mut c, "agg"), "u");
    assert_eq!(persistence(&mut c, "keep"), "p");
    assert_eq!(intact(&mut c), 1);
    for st in ["agg", "rows_st", "agg2", "kept"] {
        refresh(&mut c, st);
    }

    // A clean restart keeps unlogged tables: the pending changes are refreshed
    // incrementally.
    churn(&mut c, 1);
    drop(c);
    cl.restart().unwrap();
    let mut c = db.client();
    assert_eq!(intact(&mut c), 1);
    for st in ["agg", "rows_st", "agg2", "kept"] {
        let (action, reason) = refresh(&mut c, st);
        assert_eq!(action, "DIFFERENTIAL", "{st}: {reason}");
    }

    // A crash with changes pending in every buffer: the unlogged ones are gone.
    churn(&mut c, 2);
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('agg')")
        .unwrap(); // agg's own changes now wait in agg2's buffer
    churn(&mut c, 3);
    let src_oid: i64 = c
        .query_one("SELECT 'src'::regclass::oid::int8", &[])
        .unwrap()
        .get(0);
    let pending: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM pgtrickle_changes.changes_{src_oid}"),
            &[],
        )
        .unwrap()
        .get(0);
    assert!(pending > 0);
    drop(c);
    cl.crash_restart().unwrap();
    let mut c = db.client();
    assert_eq!(intact(&mut c), 0, "a crash empties the unlogged marker");
    assert_eq!(lost_reported(&mut c), 1, "health_check reports it");
    // Written after the crash, before any refresh looked.
    churn(&mut c, 4);
    for st in ["agg", "rows_st", "agg2"] {
        let (action, reason) = refresh(&mut c, st);
        assert_eq!(action, "FULL", "{st}");
        assert!(reason.contains("unlogged change buffer"), "{st}: {reason}");
    }
    // The logged buffer kept its rows: still incremental.
    let (action, reason) = refresh(&mut c, "kept");
    assert_eq!(action, "DIFFERENTIAL", "kept: {reason}");
    assert_eq!(intact(&mut c), 1);
    assert_eq!(lost_reported(&mut c), 0);

    // Afterwards, incremental again, over several rounds.
    for round in 5..8 {
        churn(&mut c, round);
        for st in ["agg", "rows_st", "agg2", "kept"] {
            let (action, reason) = refresh(&mut c, st);
            assert_eq!(action, "DIFFERENTIAL", "{st} round {round}: {reason}");
        }
    }

    // A refresh that fails after finding the crash leaves the marker empty (its reset is
    // rolled back with it), so the next refresh still recomputes.
    churn(&mut c, 8);
    drop(c);
    cl.crash_restart().unwrap();
    let mut c = db.client();
    c.batch_execute("BEGIN; SELECT pgtrickle.refresh_stream_table('rows_st'); ROLLBACK;")
        .unwrap();
    assert_eq!(intact(&mut c), 0);
    for st in ["agg", "rows_st", "agg2"] {
        let (action, reason) = refresh(&mut c, st);
        assert_eq!(action, "FULL", "{st}: {reason}");
    }
}
