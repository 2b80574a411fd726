//! A TRUNCATE of a source is never lost, whichever of it and a refresh commits first: the
//! refresh that consumes the TRUNCATE marker is the one that decides to recompute in full.
//! Two connections, both commit orders, bag, keyed and aggregate stream tables.

use std::time::Duration;

use pgt_testkit::postgres::Client;
use pgt_testkit::{assert_stream_table_matches_query, cluster, TestDb};

const TABLES: [&str; 3] = ["bag", "keyed", "agg"];

fn setup() -> (TestDb, Client) {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE src (id int PRIMARY KEY, v int, w int);
         INSERT INTO src SELECT i, i % 7, i FROM generate_series(1, 100) i;
         SELECT pgtrickle.create_stream_table('bag', 'SELECT v, w FROM src', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('keyed', 'SELECT id, v FROM src', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('agg', 'SELECT v, count(*) AS n, sum(w) AS s FROM src GROUP BY v', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    (db, c)
}

fn check_all(c: &mut Client) {
    for st in TABLES {
        assert_stream_table_matches_query(c, st);
    }
}

#[test]
fn a_truncate_that_commits_while_a_refresh_waits_is_not_lost() {
    for st in TABLES {
        let (db, mut c) = setup();
        // Pending row changes first, then a TRUNCATE and a reload in an open transaction.
        c.batch_execute("UPDATE src SET w = w + 1 WHERE id < 10; DELETE FROM src WHERE id = 50;")
            .unwrap();
        let mut writer = db.client();
        writer
            .batch_execute(
                "BEGIN; TRUNCATE src; INSERT INTO src VALUES (1, 1, 1), (2, 2, 2), (3, 3, 3);",
            )
            .unwrap();
        // The refresh starts while the TRUNCATE is uncommitted, and has to wait for it.
        let mut refresher = db.client();
        let name = st.to_string();
        let t = std::thread::spawn(move || {
            refresher
                .batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{name}')"))
                .unwrap();
        });
        std::thread::sleep(Duration::from_millis(700));
        writer.batch_execute("COMMIT").unwrap();
        t.join().unwrap();
        assert_stream_table_matches_query(&mut c, st);
        // Nothing is left pending that a later refresh would need.
        c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
            .unwrap();
        assert_stream_table_matches_query(&mut c, st);
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {st}"), &[])
            .unwrap()
            .get(0);
        assert!(n <= 3, "{st} kept rows from before the TRUNCATE: {n}");
    }
}

#[test]
fn a_truncate_that_waits_for_a_refresh_is_applied_by_the_next_one() {
    let (db, mut c) = setup();
    c.batch_execute("INSERT INTO src VALUES (200, 1, 1);")
        .unwrap();
    // The refresh holds its locks in an open transaction; the TRUNCATE waits for it.
    c.batch_execute(
        "BEGIN; SELECT pgtrickle.refresh_stream_table('bag'); SELECT pgtrickle.refresh_stream_table('keyed'); SELECT pgtrickle.refresh_stream_table('agg');",
    )
    .unwrap();
    let mut writer = db.client();
    let t = std::thread::spawn(move || {
        writer
            .batch_execute("BEGIN; TRUNCATE src; INSERT INTO src VALUES (7, 0, 7); COMMIT;")
            .unwrap();
    });
    std::thread::sleep(Duration::from_millis(500));
    c.batch_execute("COMMIT").unwrap();
    t.join().unwrap();
    for st in TABLES {
        c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
            .unwrap();
    }
    check_all(&mut c);
    let reasons: i64 = c
        .query_one(
            "SELECT count(*) FROM pgtrickle.pgt_refresh_history WHERE action = 'FULL' AND reason LIKE '%truncated%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(reasons, 3, "each stream table recomputed in full once");
}

#[test]
fn truncates_and_row_changes_from_several_sessions_in_any_order() {
    let (db, mut c) = setup();
    let mut a = db.client();
    let mut b = db.client();
    for round in 0..4 {
        // a: row changes left open; b: a TRUNCATE + reload committed before or after a.
        a.batch_execute(&format!(
            "BEGIN; INSERT INTO src VALUES ({x}, 1, {x}) ON CONFLICT (id) DO UPDATE SET w = src.w + 1;",
            x = 1000 + round
        ))
        .unwrap();
        let mut bb = db.client();
        let t = std::thread::spawn(move || {
            bb.batch_execute(&format!(
                "BEGIN; TRUNCATE src; INSERT INTO src SELECT i, i % 5, i FROM generate_series(1, {n}) i; COMMIT;",
                n = 5 + round
            ))
            .unwrap();
        });
        std::thread::sleep(Duration::from_millis(200));
        if round % 2 == 0 {
            a.batch_execute("COMMIT").unwrap();
        } else {
            a.batch_execute("ROLLBACK").unwrap();
        }
        t.join().unwrap();
        b.batch_execute("UPDATE src SET v = v + 1 WHERE id = 1")
            .unwrap();
        for st in TABLES {
            c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
                .unwrap();
        }
        check_all(&mut c);
    }
}
