//! Refresh atomicity with several connections: readers never see a half-refreshed stream
//! table, concurrent refreshes of one stream table serialize, and a rolled-back refresh
//! leaves no trace.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use pgt_testkit::{assert_stream_table_matches_query, cluster};

#[test]
fn readers_see_old_or_new_contents_never_a_mix() {
    let db = cluster().new_database();
    let mut a = db.client();
    let mut reader = db.client();
    a.batch_execute(
        "CREATE TABLE src (g int, v int);
         INSERT INTO src SELECT i % 10, i FROM generate_series(1, 5000) i;
         SELECT pgtrickle.create_stream_table('st', 'SELECT g, sum(v) AS s, count(*) AS n FROM src GROUP BY g');",
    )
    .unwrap();
    let old_total: i64 = reader
        .query_one("SELECT sum(n)::bigint FROM st", &[])
        .unwrap()
        .get(0);
    assert_eq!(old_total, 5000);

    // Refresh inside an open transaction; the reader keeps seeing the old contents.
    a.batch_execute("INSERT INTO src SELECT i % 10, i FROM generate_series(1, 3000) i")
        .unwrap();
    a.batch_execute("BEGIN; SELECT pgtrickle.refresh_stream_table('st');")
        .unwrap();
    let during: i64 = reader
        .query_one("SELECT sum(n)::bigint FROM st", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        during, 5000,
        "a reader saw a refresh that has not committed"
    );
    a.batch_execute("COMMIT").unwrap();
    let after: i64 = reader
        .query_one("SELECT sum(n)::bigint FROM st", &[])
        .unwrap()
        .get(0);
    assert_eq!(after, 8000);
    assert_stream_table_matches_query(&mut reader, "st");

    // A rolled-back refresh leaves contents and history as they were.
    let hist: i64 = reader
        .query_one("SELECT count(*) FROM pgtrickle.pgt_refresh_history", &[])
        .unwrap()
        .get(0);
    a.batch_execute("DELETE FROM src WHERE g = 3").unwrap();
    a.batch_execute("BEGIN; SELECT pgtrickle.refresh_stream_table('st'); ROLLBACK;")
        .unwrap();
    assert_eq!(
        reader
            .query_one("SELECT count(*) FROM st WHERE g = 3", &[])
            .unwrap()
            .get::<_, i64>(0),
        1
    );
    assert_eq!(
        reader
            .query_one("SELECT count(*) FROM pgtrickle.pgt_refresh_history", &[])
            .unwrap()
            .get::<_, i64>(0),
        hist
    );
    a.batch_execute("SELECT pgtrickle.refresh_stream_table('st')")
        .unwrap();
    assert_stream_table_matches_query(&mut reader, "st");
}

#[test]
fn concurrent_refreshes_of_one_stream_table_serialize() {
    let db = cluster().new_database();
    let mut a = db.client();
    a.batch_execute(
        "CREATE TABLE src (id int, v text);
         INSERT INTO src SELECT i, md5(i::text) FROM generate_series(1, 2000) i;
         SELECT pgtrickle.create_stream_table('st', 'SELECT id, v FROM src WHERE id % 2 = 0');
         INSERT INTO src SELECT i, 'new' FROM generate_series(2001, 2100) i;
         UPDATE src SET v = 'changed' WHERE id <= 100;",
    )
    .unwrap();
    a.batch_execute("BEGIN; SELECT pgtrickle.refresh_stream_table('st');")
        .unwrap();

    // A second session's refresh waits for the first to commit, then applies on top of it.
    let (tx, rx) = mpsc::channel();
    let mut b = db.client();
    let handle = thread::spawn(move || {
        let r = b.batch_execute("SELECT pgtrickle.refresh_stream_table('st')");
        tx.send(()).unwrap();
        r.map(|_| b)
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "the second refresh did not wait for the first"
    );
    a.batch_execute("COMMIT").unwrap();
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the second refresh finished");
    let mut b = handle.join().unwrap().expect("second refresh succeeded");
    assert_stream_table_matches_query(&mut b, "st");

    // Writes committed by other sessions between refreshes are all picked up.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let mut c = db.client();
            thread::spawn(move || {
                for i in 0..25 {
                    c.batch_execute(&format!(
                        "INSERT INTO src VALUES ({}, 'w{w}')",
                        10_000 + w * 100 + i
                    ))
                    .unwrap();
                    if i % 5 == 0 {
                        c.batch_execute("SELECT pgtrickle.refresh_stream_table('st')")
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    a.batch_execute("SELECT pgtrickle.refresh_stream_table('st')")
        .unwrap();
    assert_stream_table_matches_query(&mut a, "st");
}
