//! WAL change capture through crashes (ADR-002): a crash while a source is being handed
//! over (TRANSITIONING, its triggers still on) and a crash with committed changes not yet
//! drained from the slot lose no change and apply none twice. Its own file: the crash
//! restarts this test binary's cluster.

use pgt_testkit::postgres::Client;
use pgt_testkit::{assert_stream_table_matches_query, cluster_with};

fn mode(c: &mut Client, source: &str) -> String {
    c.query_one(
        "SELECT mode FROM pgtrickle.change_capture WHERE source = $1::text::regclass",
        &[&source],
    )
    .unwrap()
    .get(0)
}

fn sync(c: &mut Client) {
    c.batch_execute("SELECT * FROM pgtrickle.sync_change_capture()")
        .unwrap();
}

fn refresh_and_check(c: &mut Client) {
    for st in ["agg", "other_st"] {
        c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
            .unwrap();
        assert_stream_table_matches_query(c, st);
    }
}

#[test]
fn wal_capture_survives_a_crash_while_transitioning_and_before_a_drain() {
    // Commits must be durable across the crash (the harness's clusters commit
    // asynchronously, which a crash may legitimately undo).
    let cl = cluster_with(&["synchronous_commit = on"]);
    let db = cl.new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE src (id int, g int, v int);
         INSERT INTO src SELECT i, i % 4, i FROM generate_series(1, 100) i;
         CREATE TABLE other (k int, v int);
         ALTER TABLE other REPLICA IDENTITY FULL;
         SELECT pgtrickle.create_stream_table('agg', 'SELECT g, count(*) AS n, sum(v) AS s FROM src GROUP BY g', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('other_st', 'SELECT k, sum(v) AS s FROM other GROUP BY k', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    sync(&mut c);
    assert_eq!(mode(&mut c, "other"), "WAL");
    c.batch_execute("ALTER TABLE src REPLICA IDENTITY FULL")
        .unwrap();
    // An open writer holds the handover back: src stays TRANSITIONING, triggers on.
    let mut long = db.client();
    long.batch_execute("BEGIN; INSERT INTO src VALUES (1000, 1, 1000);")
        .unwrap();
    sync(&mut c);
    let why: Option<String> = c
        .query_one(
            "SELECT reason FROM pgtrickle.change_capture WHERE source = 'src'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(mode(&mut c, "src"), "TRANSITIONING", "{why:?}");
    c.batch_execute(
        "INSERT INTO src VALUES (2000, 2, 2000); UPDATE src SET v = v + 1 WHERE id < 10;
         INSERT INTO other VALUES (1, 1), (2, 2); UPDATE other SET v = 5 WHERE k = 1;",
    )
    .unwrap();
    drop(long);
    drop(c);
    cl.crash_restart().unwrap();
    let mut c = db.client();
    // The open writer's transaction is gone; the committed changes are all there.
    assert_eq!(mode(&mut c, "src"), "TRANSITIONING");
    c.batch_execute("DELETE FROM src WHERE id = 2000; INSERT INTO other VALUES (3, 3);")
        .unwrap();
    refresh_and_check(&mut c);
    sync(&mut c);
    assert_eq!(mode(&mut c, "src"), "WAL");
    // Committed under WAL capture, not drained yet when the server crashes.
    c.batch_execute(
        "INSERT INTO src VALUES (3000, 3, 3000); DELETE FROM src WHERE id = 50; UPDATE src SET g = 0 WHERE id = 51;
         UPDATE other SET v = v * 10;",
    )
    .unwrap();
    drop(c);
    cl.crash_restart().unwrap();
    let mut c = db.client();
    refresh_and_check(&mut c);
    c.batch_execute("INSERT INTO src VALUES (4000, 1, 4000); DELETE FROM other WHERE k = 2;")
        .unwrap();
    refresh_and_check(&mut c);
}
