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

/// A refresh leaves the delta terms of sources that had no pending change out of its
/// statement, and the statement checks at its own snapshot that they still have none. Here
/// a change to such a source commits after the refresh looked and before its statement
/// ran (the refresh is held up in between by a lock on the history table, which AUTO reads
/// there): the statement notices, the refresh runs the statement with every source's
/// terms, and the change is maintained, neither lost nor counted twice.
#[test]
fn a_change_to_a_quiet_source_committing_mid_refresh_is_consumed_once() {
    let db = cluster().new_database();
    let mut a = db.client();
    let mut holder = db.client();
    let mut writer = db.client();
    let mut watcher = db.client();
    a.batch_execute(
        "CREATE TABLE fact (id int PRIMARY KEY, k int, v int);
         CREATE TABLE dim (k int PRIMARY KEY, name text);
         INSERT INTO dim SELECT i, 'd' || i FROM generate_series(0, 9) i;
         INSERT INTO fact SELECT i, i % 10, i FROM generate_series(1, 500) i;
         SELECT pgtrickle.create_stream_table('joined', 'SELECT f.id, f.v, d.name FROM fact f JOIN dim d ON d.k = f.k');
         INSERT INTO fact VALUES (1001, 3, 7);",
    )
    .unwrap();
    let pid: i32 = a.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    holder
        .batch_execute("BEGIN; LOCK TABLE pgtrickle.pgt_refresh_history IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let refresher = thread::spawn(move || {
        let r = a.batch_execute("SELECT pgtrickle.refresh_stream_table('joined')");
        tx.send(()).unwrap();
        (a, r)
    });
    // Wait until the refresh waits for the history table (it has looked at pending
    // changes: only `fact` had some).
    let mut waited = 0;
    loop {
        let waiting: bool = watcher
            .query_one(
                "SELECT coalesce(bool_or(wait_event_type = 'Lock'), false) FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .unwrap()
            .get(0);
        if waiting {
            break;
        }
        waited += 1;
        assert!(waited < 500, "the refresh never waited for the lock");
        thread::sleep(Duration::from_millis(20));
    }
    writer
        .batch_execute("UPDATE dim SET name = 'renamed' WHERE k = 3; INSERT INTO dim VALUES (10, 'ten'); INSERT INTO fact VALUES (1002, 10, 1);")
        .unwrap();
    holder.batch_execute("COMMIT").unwrap();
    rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let (mut a, r) = refresher.join().unwrap();
    r.unwrap();
    let action: String = a
        .query_one(
            "SELECT h.action FROM pgtrickle.pgt_refresh_history h ORDER BY h.refresh_id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(action, "DIFFERENTIAL");
    assert_stream_table_matches_query(&mut a, "joined");
    // Nothing is left over or counted twice by the next refresh either.
    a.batch_execute("SELECT pgtrickle.refresh_stream_table('joined')")
        .unwrap();
    assert_stream_table_matches_query(&mut a, "joined");
}
