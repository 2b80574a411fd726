//! `pg_trickle_sidecar` against a cluster that never loaded the extension (ADR-079):
//! its catalog installed with plain SQL, stream tables created, refreshed by hand and by
//! its scheduler loop (dependency order, calculated schedules, failures counted up to
//! suspension), equal to their queries under changing data (two-way EXCEPT ALL), errors
//! with reasons, and a clean stop on SIGTERM.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pgt_testkit::postgres::Client;
use pgt_testkit::{cluster_without_extension, Capture, TestDb};

/// A database of a cluster that has never loaded pg_trickle.
fn plain_database() -> TestDb {
    let db = cluster_without_extension().new_database();
    let loaded: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trickle'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(loaded, 0);
    db
}

/// Runs the command line in-process: (exit code, stdout, stderr).
fn sidecar(args: &[&str]) -> (i32, String, String) {
    let mut argv = vec!["pg_trickle_sidecar"];
    argv.extend_from_slice(args);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = pgt_sidecar::run(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn ok(dsn: &str, args: &[&str]) -> String {
    let mut a = vec!["--dsn", dsn];
    a.extend_from_slice(args);
    let (code, out, err) = sidecar(&a);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

fn fails(dsn: &str, args: &[&str]) -> String {
    let mut a = vec!["--dsn", dsn];
    a.extend_from_slice(args);
    let (code, _, err) = sidecar(&a);
    assert_eq!(code, 1, "{args:?} should fail");
    err
}

/// The `pgtrickle` CLI against `dsn`: (exit code, stdout, stderr).
fn pgtrickle(dsn: &str, args: &[&str]) -> (i32, String, String) {
    let mut argv = vec!["pgtrickle", "--dsn", dsn];
    argv.extend_from_slice(args);
    let mut out = Vec::new();
    let err = Capture::default();
    let code = pgt_cli::run(argv, &mut out, pgt_cli::shared(err.clone()));
    (code, String::from_utf8(out).unwrap(), err.text())
}

/// Runs the sidecar's loop over `dsn` in a thread until the returned flag is set.
fn serving(
    dsn: &str,
    interval_ms: u64,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<Result<(), String>>) {
    let config = pgt_sidecar::Config {
        interval_ms,
        databases: vec![pgt_sidecar::config::Database { dsn: dsn.into() }],
        ..Default::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    (
        stop,
        std::thread::spawn(move || pgt_sidecar::serve(&config, flag)),
    )
}

/// Rows in one and not the other, both ways, compared under COLLATE "C" for text.
fn differs(c: &mut Client, table: &str, query: &str) -> i64 {
    c.query_one(
        &format!(
            "SELECT (SELECT count(*) FROM (SELECT * FROM (SELECT * FROM {table}) t EXCEPT ALL SELECT * FROM ({query}) q) a) \
                  + (SELECT count(*) FROM (SELECT * FROM ({query}) q EXCEPT ALL SELECT * FROM (SELECT * FROM {table}) t) b)"
        ),
        &[],
    )
    .unwrap()
    .get(0)
}

const TOTALS: &str = "SELECT customer, count(*) AS n, sum(amount) AS total, max(note COLLATE \"C\") AS last_note FROM orders GROUP BY customer";
const SIZES: &str = "SELECT n, count(*) AS customers FROM public.\"Totals\" GROUP BY n";

/// The stream table's visible columns (its storage has the row id too).
fn visible(name: &str, cols: &str) -> String {
    format!("(SELECT {cols} FROM {name}) AS v")
}

#[test]
fn sidecar_keeps_stream_tables_on_a_server_without_the_extension() {
    let db = plain_database();
    let dsn = db.cluster.conninfo(&db.name);
    let mut c = db.client();
    ok(&dsn, &["install"]);
    ok(&dsn, &["install"]); // idempotent
    c.batch_execute(
        "CREATE TABLE orders (id int, customer int, amount numeric, note text);
         INSERT INTO orders SELECT i, i % 7, (i % 13) / 4.0, CASE WHEN i % 5 = 0 THEN NULL ELSE 'n' || i END FROM generate_series(1, 300) i;
         INSERT INTO orders VALUES (1, 1, 0.25, 'n1'), (NULL, NULL, NULL, NULL);
         CREATE TABLE divs (id int, d int);
         INSERT INTO divs VALUES (1, 1), (2, 5);",
    )
    .unwrap();
    ok(
        &dsn,
        &["create", "public.\"Totals\"", TOTALS, "--schedule", "1s"],
    );
    ok(&dsn, &["create", "sizes", SIZES, "--schedule", "1s"]);
    ok(
        &dsn,
        &[
            "create",
            "quotients",
            "SELECT id, 100 / d AS q FROM divs",
            "--schedule",
            "1s",
        ],
    );
    let totals = visible("public.\"Totals\"", "customer, n, total, last_note");
    let sizes = visible("sizes", "n, customers");
    assert_eq!(differs(&mut c, &totals, TOTALS), 0);
    assert_eq!(differs(&mut c, &sizes, SIZES), 0);
    let listed = ok(&dsn, &["list"]);
    assert!(listed.contains("\"Totals\"\t1s\tACTIVE"), "{listed}");
    assert!(listed.contains("sizes\t1s\tACTIVE"), "{listed}");

    // Errors say why.
    assert!(fails(&dsn, &["create", "bad", "SELECT nope FROM orders"])
        .contains("the defining query is invalid: column \"nope\" does not exist"));
    assert!(fails(
        &dsn,
        &["create", "bad", "SELECT 1 AS x", "--schedule", "soon"]
    )
    .contains("schedule"));
    assert!(fails(&dsn, &["create", "bad", "SELECT 1 AS __pgt_row_id"]).contains("reserved"));
    assert!(
        fails(&dsn, &["create", "bad", "SELECT 1 AS x; DROP TABLE orders"]).contains("invalid")
    );
    assert!(fails(&dsn, &["refresh", "nothing_here"]).contains("does not exist"));
    assert!(fails(&dsn, &["drop", "public.\"Totals\""]).contains("stream tables read it: sizes"));
    let (code, _, err) = sidecar(&["--dsn", &dsn, "frobnicate"]);
    assert_eq!(code, 2, "{err}");

    // The pgtrickle CLI reads the sidecar's catalog like the extension's.
    let (code, out, err) = pgtrickle(&dsn, &["--json", "list"]);
    assert_eq!(code, 0, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["public.\"Totals\"", "public.quotients", "public.sizes"]
    );
    // What the sidecar's frontend translates (ADR-080) is maintained incrementally (a
    // query it does not translate is recomputed: tests/sidecar_incremental.rs).
    let modes: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, vec!["DIFFERENTIAL", "DIFFERENTIAL", "DIFFERENTIAL"]);
    let (code, out, err) = pgtrickle(&dsn, &["graph"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("public.sizes"), "{out}");
    let (code, out, err) = pgtrickle(&dsn, &["--json", "graph"]);
    assert_eq!(code, 0, "{err}");
    let order: Vec<String> = serde_json::from_str::<serde_json::Value>(&out).unwrap()
        ["refresh_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let at = |n: &str| order.iter().position(|x| x == n).unwrap();
    assert!(at("public.\"Totals\"") < at("public.sizes"), "{order:?}");
    let (code, out, err) = pgtrickle(&dsn, &["--json", "refresh", "--all"]);
    assert_eq!(code, 0, "{err}{out}");
    let (code, out, err) = pgtrickle(&dsn, &["show", "sizes"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("MANUAL"), "{out}");
    let (code, out, err) = pgtrickle(&dsn, &["explain", "sizes"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("maintained by pg_trickle_sidecar, DIFFERENTIAL"),
        "{out}"
    );
    assert!(out.contains("incremental refresh statement:"), "{out}");
    let (code, out, err) = pgtrickle(&dsn, &["health"]);
    assert_eq!(code, 0, "{out}{err}");

    // The scheduler loop, in-process: changes are picked up on schedule, readers after
    // what they read.
    let (stop, running) = serving(&dsn, 100);
    c.batch_execute(
        "INSERT INTO orders VALUES (1000, 3, 1.5, 'late'), (1001, NULL, 2, NULL), (1000, 3, 1.5, 'late');
         UPDATE orders SET customer = 99 WHERE id % 11 = 0;
         DELETE FROM orders WHERE customer = 6;
         INSERT INTO divs VALUES (3, 0);",
    )
    .unwrap();
    db.cluster.eventually("the scheduler refreshes both", || {
        differs(&mut c, &totals, TOTALS) == 0 && differs(&mut c, &sizes, SIZES) == 0
    });
    // quotients fails on every tick (division by zero) until suspended.
    db.cluster.eventually("quotients is suspended", || {
        let r = c
            .query_one(
                "SELECT status, coalesce(status_reason, '') FROM pgtrickle_sidecar.stream_tables \
                  WHERE pgt_relid = 'quotients'::regclass",
                &[],
            )
            .unwrap();
        r.get::<_, String>(0) == "SUSPENDED"
            && r.get::<_, String>(1).contains(
                "suspended after 3 consecutive failed refreshes; last error: division by zero",
            )
    });
    let failed: i64 = c
        .query_one(
            "SELECT count(*) FROM pgtrickle_sidecar.refresh_history h JOIN pgtrickle_sidecar.stream_tables s USING (pgt_id) \
              WHERE s.pgt_relid = 'quotients'::regclass AND h.status = 'FAILED' AND h.initiated_by = 'SCHEDULER'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(failed, 3);
    let (code, out, _) = pgtrickle(&dsn, &["health"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("division by zero"), "{out}");
    let automatic: i64 = c
        .query_one(
            "SELECT count(*) FROM pgtrickle_sidecar.refresh_history WHERE status = 'COMPLETED' AND initiated_by = 'SCHEDULER'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(automatic >= 2);
    stop.store(true, Ordering::Relaxed);
    running.join().unwrap().unwrap();

    // Fixed, refreshed by hand: active again.
    c.batch_execute("DELETE FROM divs WHERE d = 0").unwrap();
    ok(&dsn, &["refresh", "quotients"]);
    assert!(ok(&dsn, &["list"]).contains("quotients\t1s\tACTIVE"));
    ok(&dsn, &["drop", "sizes"]);
    ok(&dsn, &["drop", "public.\"Totals\""]);
    let left: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname IN ('Totals', 'sizes')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[test]
fn run_serves_several_databases_and_stops_on_sigterm() {
    let (a, b) = (plain_database(), plain_database());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "interval_ms = 100\n[[databases]]\ndsn = \"{}\"\n[[databases]]\ndsn = \"{}\"\n",
            a.cluster.conninfo(&a.name),
            b.cluster.conninfo(&b.name)
        ),
    )
    .unwrap();
    for db in [&a, &b] {
        db.client()
            .batch_execute("CREATE TABLE src (k int); INSERT INTO src VALUES (1), (2), (2);")
            .unwrap();
        ok(
            &db.cluster.conninfo(&db.name),
            &[
                "create",
                "counts",
                "SELECT k, count(*) AS n FROM src GROUP BY k",
                "--schedule",
                "1s",
            ],
        );
    }
    let config = file.path().to_str().unwrap().to_string();
    let running = std::thread::spawn(move || sidecar(&["--config", &config, "run"]));
    for db in [&a, &b] {
        let mut c = db.client();
        c.batch_execute("INSERT INTO src VALUES (3), (NULL); DELETE FROM src WHERE k = 1;")
            .unwrap();
        let q = "SELECT k, count(*) AS n FROM src GROUP BY k";
        db.cluster.eventually("each database is served", || {
            differs(&mut c, &visible("counts", "k, n"), q) == 0
        });
    }
    // The handlers are installed (it has refreshed): SIGTERM ends the loop, not the process.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (code, _, err) = running.join().unwrap();
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_sidecar_cut_off_mid_refresh_reconnects_and_loses_nothing() {
    let db = plain_database();
    let dsn = db.cluster.conninfo(&db.name);
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE src (k int, v int);
         INSERT INTO src SELECT i % 10, i FROM generate_series(1, 500) i;",
    )
    .unwrap();
    // Each refresh takes a while (the sleep), so the sidecar can be cut off in the middle.
    let q = "SELECT k, sum(v) AS s, count(*) AS n FROM src, LATERAL (SELECT pg_catalog.pg_sleep(0.0005)) AS z GROUP BY k";
    ok(&dsn, &["create", "sums", q, "--schedule", "1s"]);
    let (stop, running) = serving(&dsn, 50);
    // A writer keeps changing the source meanwhile (NULL keys, deletes, key moves).
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let mut w = db.client();
        let writing = writing.clone();
        std::thread::spawn(move || {
            let mut i = 1000;
            while writing.load(Ordering::Relaxed) {
                w.batch_execute(&format!(
                    "INSERT INTO src VALUES ({k}, {i}), (NULL, {i}); DELETE FROM src WHERE v = {d}; UPDATE src SET k = k + 1 WHERE v = {u};",
                    k = i % 10,
                    d = i - 900,
                    u = i - 700
                ))
                .unwrap();
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    // Cut the sidecar's connection while it refreshes, a few times.
    let mut cut = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while cut < 3 && std::time::Instant::now() < deadline {
        let n: i64 = c
            .query_one(
                "SELECT count(pg_catalog.pg_terminate_backend(a.pid)) FROM pg_stat_activity a \
                  WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
                    AND a.query LIKE '%pgtrickle_sidecar._refresh%' AND a.state = 'active'",
                &[],
            )
            .unwrap()
            .get(0);
        cut += n;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(cut >= 3, "cut off {cut} refreshes");
    writing.store(false, Ordering::Relaxed);
    writer.join().unwrap();
    // The reconnected sidecar catches up with everything written.
    db.cluster.eventually("the stream table catches up", || {
        differs(&mut c, &visible("sums", "k, s, n"), q) == 0
    });
    stop.store(true, Ordering::Relaxed);
    running.join().unwrap().unwrap();
    // A cut refresh is rolled back whole (its history row with it); later ones completed.
    let completed: i64 = c
        .query_one(
            "SELECT count(*) FROM pgtrickle_sidecar.refresh_history WHERE status = 'COMPLETED' AND initiated_by = 'SCHEDULER'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(completed >= 1);
}
