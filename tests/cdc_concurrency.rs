//! No change is ever lost or applied twice: writes committed during a refresh, a long
//! transaction that commits after a refresh, rolled-back writes, writes in savepoints,
//! writes in the refreshing transaction itself. Also TRUNCATE, the adaptive fallback,
//! buffer cleanup and the volatile-function policy.

use std::thread;

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{
    assert_stream_table_matches_query, change_buffer, cluster, expect_sql_error, last_refresh,
    TestDb,
};

fn setup() -> (TestDb, Client) {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "SET pg_trickle.differential_max_change_ratio = 0;
         CREATE TABLE src (id int, g int, v int);
         INSERT INTO src SELECT i, i % 3, i FROM generate_series(1, 30) i;
         SELECT pgtrickle.create_stream_table('bag', 'SELECT id, v FROM src WHERE v % 2 = 0', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('agg', 'SELECT g, count(*) AS n, sum(v) AS s, max(v) AS m FROM src GROUP BY g', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    (db, c)
}

fn refresh_and_check(c: &mut Client) {
    for st in ["bag", "agg"] {
        c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
            .unwrap();
        assert_stream_table_matches_query(c, st);
    }
}

#[test]
fn a_transaction_that_commits_after_a_refresh_is_picked_up_by_the_next() {
    let (db, mut c) = setup();
    let mut late = db.client();
    // The late transaction writes first (its changes get the lower change ids) ...
    late.batch_execute("BEGIN; INSERT INTO src VALUES (100, 1, 100), (101, 2, 102); UPDATE src SET v = v + 10 WHERE id = 2;").unwrap();
    // ... another session commits after it started ...
    c.batch_execute("INSERT INTO src VALUES (200, 0, 200); DELETE FROM src WHERE id = 4;")
        .unwrap();
    // ... a refresh runs while the late transaction is still open ...
    refresh_and_check(&mut c);
    assert_eq!(
        c.query_one("SELECT count(*) FROM bag WHERE id IN (100, 101)", &[])
            .unwrap()
            .get::<_, i64>(0),
        0
    );
    // ... and it commits afterwards: the next refresh must pick up every one of its changes.
    late.batch_execute("COMMIT").unwrap();
    refresh_and_check(&mut c);
    assert_eq!(
        c.query_one("SELECT count(*) FROM bag WHERE id IN (100, 101)", &[])
            .unwrap()
            .get::<_, i64>(0),
        2
    );
    // Refreshing again applies nothing twice.
    refresh_and_check(&mut c);
    assert_eq!(
        last_refresh(&mut c, "agg").1.as_deref(),
        Some("no pending changes")
    );
}

#[test]
fn writes_committed_while_a_refresh_runs() {
    let (db, mut c) = setup();
    c.batch_execute("INSERT INTO src VALUES (300, 1, 300)")
        .unwrap();
    // Hold a refresh open; meanwhile other sessions commit writes.
    c.batch_execute("BEGIN; SELECT pgtrickle.refresh_stream_table('agg');")
        .unwrap();
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let mut wc = db.client();
            thread::spawn(move || {
                for i in 0..10 {
                    wc.batch_execute(&format!("INSERT INTO src VALUES ({}, {}, {i}); UPDATE src SET v = v - 1 WHERE id = {};", 1000 + w * 100 + i, i % 4, 1 + i))
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    c.batch_execute("COMMIT").unwrap();
    refresh_and_check(&mut c);
}

#[test]
fn rolled_back_writes_and_savepoints() {
    let (_db, mut c) = setup();
    c.batch_execute(
        "BEGIN; INSERT INTO src VALUES (400, 1, 400); DELETE FROM src WHERE g = 2; ROLLBACK;",
    )
    .unwrap();
    c.batch_execute(
        "BEGIN;
         INSERT INTO src VALUES (500, 0, 500);
         SAVEPOINT s1; INSERT INTO src VALUES (501, 0, 501); DELETE FROM src WHERE id = 6; ROLLBACK TO s1;
         SAVEPOINT s2; UPDATE src SET v = 0 WHERE id = 8; RELEASE s2;
         COMMIT;",
    )
    .unwrap();
    refresh_and_check(&mut c);
    assert_eq!(
        c.query_one("SELECT count(*) FROM bag WHERE id IN (400, 501)", &[])
            .unwrap()
            .get::<_, i64>(0),
        0
    );
    assert_eq!(
        c.query_one("SELECT count(*) FROM bag WHERE id IN (500, 6)", &[])
            .unwrap()
            .get::<_, i64>(0),
        2
    );
}

#[test]
fn changes_made_in_the_refreshing_transaction_are_applied_exactly_once() {
    let (db, mut c) = setup();
    let mut other = db.client();
    // A snapshot never lists its own transaction as running; once a *later* transaction
    // has committed, the own xid looks "visible". Make that happen on purpose.
    c.batch_execute("BEGIN; INSERT INTO src VALUES (600, 1, 600);")
        .unwrap();
    other
        .batch_execute("CREATE TEMP TABLE bump (x int); INSERT INTO bump VALUES (1);")
        .unwrap();
    c.batch_execute(
        "SELECT pgtrickle.refresh_stream_table('bag');
         INSERT INTO src VALUES (602, 1, 602);
         DELETE FROM src WHERE id = 10;
         SELECT pgtrickle.refresh_stream_table('bag');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "bag");
    // A change after the transaction's last refresh waits for the next refresh.
    c.batch_execute("INSERT INTO src VALUES (604, 1, 604)")
        .unwrap();
    other.batch_execute("INSERT INTO bump VALUES (2)").unwrap();
    c.batch_execute("COMMIT").unwrap();
    refresh_and_check(&mut c);
    assert_eq!(
        c.query_one("SELECT count(*) FROM bag WHERE id IN (600, 602, 604)", &[])
            .unwrap()
            .get::<_, i64>(0),
        3
    );
    c.batch_execute("UPDATE src SET v = v + 2 WHERE id IN (600, 602)")
        .unwrap();
    refresh_and_check(&mut c);
}

#[test]
fn truncate_of_a_source_is_followed_by_a_full_recompute() {
    let (_db, mut c) = setup();
    c.batch_execute("TRUNCATE src; INSERT INTO src VALUES (1, 1, 2), (2, 1, 4);")
        .unwrap();
    refresh_and_check(&mut c);
    let (action, reason) = last_refresh(&mut c, "agg");
    assert_eq!(action, "FULL");
    assert!(reason.unwrap().contains("truncated"));
    c.batch_execute("INSERT INTO src VALUES (3, 2, 6)").unwrap();
    refresh_and_check(&mut c);
    assert_eq!(last_refresh(&mut c, "agg").0, "DIFFERENTIAL");
}

#[test]
fn many_changes_fall_back_to_full_with_the_reason_recorded() {
    let (_db, mut c) = setup();
    c.batch_execute("ANALYZE src; SET pg_trickle.differential_max_change_ratio = 0.2; UPDATE src SET v = v + 1 WHERE id <= 20;").unwrap();
    refresh_and_check(&mut c);
    let (action, reason) = last_refresh(&mut c, "bag");
    assert_eq!(action, "FULL");
    assert!(reason.unwrap().contains("differential_max_change_ratio"));
    c.batch_execute("UPDATE src SET v = v + 1 WHERE id = 1")
        .unwrap();
    refresh_and_check(&mut c);
    assert_eq!(last_refresh(&mut c, "bag").0, "DIFFERENTIAL");
}

#[test]
fn buffers_are_trimmed_and_removed_with_their_last_stream_table() {
    let (_db, mut c) = setup();
    let buffer: String = change_buffer(&mut c, "src");
    c.batch_execute("INSERT INTO src SELECT i, 0, i FROM generate_series(1000, 1099) i")
        .unwrap();
    let pending: i64 = c
        .query_one(&format!("SELECT count(*) FROM {buffer}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(
        pending, 100,
        "one buffer row per inserted row, shared by both stream tables"
    );
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('bag')")
        .unwrap();
    // 'agg' has not consumed them yet: nothing may be removed.
    assert_eq!(
        c.query_one(&format!("SELECT count(*) FROM {buffer}"), &[])
            .unwrap()
            .get::<_, i64>(0),
        100
    );
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('agg')")
        .unwrap();
    assert_eq!(
        c.query_one(&format!("SELECT count(*) FROM {buffer}"), &[])
            .unwrap()
            .get::<_, i64>(0),
        0
    );
    // Dropping the last incremental reader removes triggers, capture function and buffer.
    c.batch_execute("SELECT pgtrickle.drop_stream_table('bag'); DROP TABLE agg;")
        .unwrap();
    let left: i64 = c
        .query_one(
            "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'pgtrickle_changes'::regnamespace) \
                  + (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'src'::regclass) \
                  + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgtrickle_changes'::regnamespace)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    // The source works normally afterwards.
    c.batch_execute("INSERT INTO src VALUES (1, 1, 1)").unwrap();
}

#[test]
fn stream_table_writes_are_not_captured_as_their_own_changes_and_chains_work() {
    let (_db, mut c) = setup();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('top', 'SELECT g, s FROM agg WHERE s > 100', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('top2', 'SELECT count(*) AS n FROM top', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    for round in 0..5 {
        c.batch_execute(&format!(
            "INSERT INTO src VALUES ({}, {}, 50); DELETE FROM src WHERE id = {};",
            700 + round,
            round % 3,
            1 + round
        ))
        .unwrap();
        for st in ["agg", "top", "top2"] {
            c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
                .unwrap();
            assert_stream_table_matches_query(&mut c, st);
        }
        // The refresh of 'agg' produced changes for 'top', never for 'agg' itself.
        assert_eq!(last_refresh(&mut c, "top").0, "DIFFERENTIAL");
    }
    let self_buffer: Option<String> = c
        .query_one(
            "SELECT to_regclass('pgtrickle_changes.changes_' || 'top2'::regclass::oid)::text",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        self_buffer, None,
        "nothing reads top2, so it has no change buffer"
    );
}

#[test]
fn volatile_functions_follow_the_policy() {
    let (_db, mut c) = setup();
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.create_stream_table('vol', 'SELECT id, random() < 2 AS r FROM src', refresh_mode => 'DIFFERENTIAL')",
        SqlState::FEATURE_NOT_SUPPORTED,
        "incrementally",
    );
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('vol_auto', 'SELECT id, random() < 2 AS r FROM src')",
    )
    .unwrap();
    let (mode, reason): (String, String) = {
        let r = c.query_one("SELECT effective_refresh_mode, refresh_mode_reason FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'vol_auto'", &[]).unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(mode, "FULL");
    assert!(reason.contains("volatile"), "{reason}");
    c.batch_execute(
        "SET pg_trickle.volatile_function_policy = 'allow';
         SELECT pgtrickle.create_stream_table('vol_allowed', 'SELECT id, random() < 2 AS r FROM src', refresh_mode => 'DIFFERENTIAL');
         INSERT INTO src VALUES (900, 1, 1);
         SELECT pgtrickle.refresh_stream_table('vol_allowed');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "vol_allowed");
    expect_sql_error(
        &mut c,
        "SET pg_trickle.volatile_function_policy = 'sometimes'",
        SqlState::INVALID_PARAMETER_VALUE,
        "volatile_function_policy",
    );
}

#[test]
fn switching_refresh_modes_keeps_the_table_correct() {
    let (_db, mut c) = setup();
    c.batch_execute("SELECT pgtrickle.alter_stream_table('agg', refresh_mode => 'FULL'); INSERT INTO src VALUES (800, 2, 8);").unwrap();
    refresh_and_check(&mut c);
    assert_eq!(last_refresh(&mut c, "agg").0, "FULL");
    c.batch_execute("SELECT pgtrickle.alter_stream_table('agg', refresh_mode => 'DIFFERENTIAL'); DELETE FROM src WHERE id = 800;").unwrap();
    refresh_and_check(&mut c);
    c.batch_execute("UPDATE src SET g = 0 WHERE id = 3")
        .unwrap();
    refresh_and_check(&mut c);
    assert_eq!(last_refresh(&mut c, "agg").0, "DIFFERENTIAL");
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.alter_stream_table('bag', refresh_mode => 'DIFFERENTIAL', schedule => 'bogus')",
        SqlState::INVALID_PARAMETER_VALUE,
        "invalid schedule",
    );
}

#[test]
fn creating_in_a_repeatable_read_transaction_loses_no_change() {
    let db = cluster().new_database();
    let mut a = db.client();
    let mut b = db.client();
    a.batch_execute("CREATE TABLE fresh (id int, v int); INSERT INTO fresh VALUES (1, 1);")
        .unwrap();
    // A's snapshot is taken before B's write commits; the capture triggers do not exist yet.
    a.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM fresh;")
        .unwrap();
    b.batch_execute("INSERT INTO fresh VALUES (2, 2)").unwrap();
    a.batch_execute("SELECT pgtrickle.create_stream_table('fresh_st', 'SELECT id, v FROM fresh', refresh_mode => 'DIFFERENTIAL'); COMMIT;")
        .unwrap();
    // The fill could not see B's row, and nothing captured it: the next refresh must recompute.
    a.batch_execute("SELECT pgtrickle.refresh_stream_table('fresh_st')")
        .unwrap();
    assert_stream_table_matches_query(&mut a, "fresh_st");
    assert_eq!(
        a.query_one("SELECT count(*) FROM fresh_st", &[])
            .unwrap()
            .get::<_, i64>(0),
        2
    );
    b.batch_execute("INSERT INTO fresh VALUES (3, 3)").unwrap();
    a.batch_execute("SELECT pgtrickle.refresh_stream_table('fresh_st')")
        .unwrap();
    assert_stream_table_matches_query(&mut a, "fresh_st");
    assert_eq!(last_refresh(&mut a, "fresh_st").0, "DIFFERENTIAL");
}

#[test]
fn an_unpopulated_stream_table_does_not_pin_buffered_changes() {
    let (_db, mut c) = setup();
    c.batch_execute("SELECT pgtrickle.create_stream_table('lazy', 'SELECT id FROM src', refresh_mode => 'DIFFERENTIAL', initialize => false)")
        .unwrap();
    let buffer: String = change_buffer(&mut c, "src");
    c.batch_execute("INSERT INTO src SELECT i, 1, i FROM generate_series(2000, 2049) i")
        .unwrap();
    refresh_and_check(&mut c);
    assert_eq!(
        c.query_one(&format!("SELECT count(*) FROM {buffer}"), &[])
            .unwrap()
            .get::<_, i64>(0),
        0
    );
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('lazy')")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "lazy");
}

#[test]
fn dropping_a_source_then_its_stream_table_cleans_up() {
    let (_db, mut c) = setup();
    c.batch_execute("DROP TABLE src CASCADE").unwrap();
    let status: String = c
        .query_one(
            "SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'agg'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(status, "ERROR");
    c.batch_execute(
        "SELECT pgtrickle.drop_stream_table('agg'); SELECT pgtrickle.drop_stream_table('bag');",
    )
    .unwrap();
    let left: i64 = c
        .query_one(
            "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'pgtrickle_changes'::regnamespace) \
                  + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgtrickle_changes'::regnamespace) \
                  + (SELECT count(*) FROM pgtrickle.pgt_stream_tables)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}
