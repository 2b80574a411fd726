//! `pg_trickle_sidecar` maintaining stream tables incrementally on a cluster that never
//! loaded the extension (ADR-079 stage 2, ADR-080): the oracle corpus created through the
//! sidecar, each shape its parse frontend translates maintained DIFFERENTIAL (PL/pgSQL
//! capture into change buffers, the engine's delta statements), the rest FULL; after
//! every round of random INSERT/UPDATE/DELETE (NULLs, duplicates, key changes, deleted
//! groups and MIN/MAX, rolled-back transactions) every stream table equals its query both
//! ways; and a sidecar whose refreshes are cut off mid-way while writers run loses and
//! doubles nothing.

#[path = "corpus/oracle.rs"]
mod corpus;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use corpus::{random_statement, Rng};
use pgt_testkit::postgres::Client;
use pgt_testkit::{cluster_without_extension, TestDb};

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

/// Rows of the stream table not in its query and the other way round (EXCEPT ALL over
/// its visible columns, text compared under COLLATE "C" by the text forms).
fn differs(c: &mut Client, name: &str, query: &str) -> i64 {
    let name = &format!("\"{name}\"");
    let cols: String = c
        .query_one(
            "SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a \
              WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped \
                AND a.attname NOT LIKE '\\_\\_pgt\\_%'",
            &[&name],
        )
        .unwrap()
        .get(0);
    c.query_one(
        &format!(
            "SELECT (SELECT count(*) FROM (SELECT __pgt_t::text COLLATE \"C\" FROM (SELECT {cols} FROM {name}) __pgt_t \
                                           EXCEPT ALL SELECT __pgt_q::text COLLATE \"C\" FROM ({query}) __pgt_q) a) \
                  + (SELECT count(*) FROM (SELECT __pgt_q::text COLLATE \"C\" FROM ({query}) __pgt_q \
                                           EXCEPT ALL SELECT __pgt_t::text COLLATE \"C\" FROM (SELECT {cols} FROM {name}) __pgt_t) b)"
        ),
        &[],
    )
    .unwrap_or_else(|e| panic!("comparing {name}: {e:?}"))
    .get(0)
}

fn mode(c: &mut Client, name: &str) -> (String, Option<String>) {
    let name = &format!("\"{name}\"");
    let r = c
        .query_one(
            "SELECT refresh_mode, refresh_mode_reason FROM pgtrickle_sidecar.stream_tables WHERE pgt_relid = $1::text::regclass",
            &[&name],
        )
        .unwrap();
    (r.get(0), r.get(1))
}

#[test]
fn sidecar_maintains_the_oracle_corpus_incrementally() {
    let db = plain_database();
    let mut c = db.client();
    pgt_sidecar::catalog::install(&mut c).unwrap();
    c.batch_execute(corpus::SCHEMA).unwrap();
    let mut differential = Vec::new();
    for (name, query) in corpus::SHAPES {
        pgt_sidecar::catalog::create(&mut c, name, query, None)
            .unwrap_or_else(|e| panic!("creating {name} ({query}): {e}"));
        if mode(&mut c, name).0 == "DIFFERENTIAL" {
            differential.push(*name);
        }
    }
    assert!(
        differential.len() >= 112,
        "only {} shapes are DIFFERENTIAL: {differential:?}",
        differential.len()
    );
    eprintln!(
        "sidecar: {} of {} shapes DIFFERENTIAL",
        differential.len(),
        corpus::SHAPES.len()
    );
    // A FULL one says why.
    let (m, reason) = mode(&mut c, "window_topk");
    assert_eq!(m, "FULL");
    let reason = reason.unwrap_or_default();
    assert!(reason.contains("window function"), "{reason}");

    let seed = std::env::var("PGT_ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_5ca7u64);
    let mut r = Rng(seed);
    let mut next_id = 30;
    let mut log = Vec::new();
    for round in 1..=12 {
        for _ in 0..1 + r.below(3) {
            let stmts: Vec<String> = (0..1 + r.below(6))
                .map(|_| random_statement(&mut r, &mut next_id))
                .collect();
            let end = if r.below(5) == 0 {
                "ROLLBACK"
            } else {
                "COMMIT"
            };
            log.extend(stmts.iter().cloned());
            log.push(end.to_string());
            c.batch_execute(&format!("BEGIN; {}; {end};", stmts.join("; ")))
                .unwrap_or_else(|e| panic!("seed {seed}: {stmts:?}: {e:?}"));
        }
        for (name, _) in corpus::SHAPES {
            pgt_sidecar::catalog::refresh(&mut c, name)
                .unwrap_or_else(|e| panic!("seed {seed}, round {round}: refreshing {name}: {e}"));
        }
        for (name, query) in corpus::SHAPES {
            let d = differs(&mut c, name, query);
            assert_eq!(
                d,
                0,
                "seed {seed}, round {round}: {name} ({query}, {:?}) differs from its query by {d} rows; last statements:\n  {}",
                mode(&mut c, name).0,
                log.iter().rev().take(14).rev().cloned().collect::<Vec<_>>().join("\n  ")
            );
        }
    }
    // Every DIFFERENTIAL shape really refreshed incrementally after its creation.
    let full: Vec<String> = c
        .query(
            "SELECT s.pgt_relid::regclass::text || ': ' || coalesce(h.reason, '?') FROM pgtrickle_sidecar.refresh_history h \
               JOIN pgtrickle_sidecar.stream_tables s USING (pgt_id) \
              WHERE s.refresh_mode = 'DIFFERENTIAL' AND h.action = 'FULL' AND h.initiated_by <> 'CREATE'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(full.is_empty(), "recomputed in full: {full:?}");
    let incremental: i64 = c
        .query_one(
            "SELECT count(*) FROM pgtrickle_sidecar.refresh_history WHERE action = 'DIFFERENTIAL' AND status = 'COMPLETED'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(incremental, 12 * differential.len() as i64);
    // Buffers are trimmed: what every reader consumed is gone.
    let buffers: Vec<String> = c
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE n.nspname = 'pgtrickle_sidecar' AND c.relname LIKE 'changes\\_%' AND c.relkind = 'r'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(buffers.len() >= 5, "buffers: {buffers:?}");
    let mut left = 0i64;
    for b in &buffers {
        left += c
            .query_one(&format!("SELECT count(*) FROM {b}"), &[])
            .unwrap()
            .get::<_, i64>(0);
    }
    assert_eq!(left, 0, "change buffers keep consumed rows");

    // TRUNCATE of a source: the next refresh recomputes, with the reason.
    c.batch_execute("TRUNCATE b").unwrap();
    pgt_sidecar::catalog::refresh(&mut c, "join_equi").unwrap();
    assert_eq!(
        differs(
            &mut c,
            "join_equi",
            "SELECT a.id, b.name FROM a JOIN b ON a.k = b.k"
        ),
        0
    );
    let reason: Option<String> = c
        .query_one(
            "SELECT h.reason FROM pgtrickle_sidecar.refresh_history h JOIN pgtrickle_sidecar.stream_tables s USING (pgt_id) \
              WHERE s.pgt_relid = '\"join_equi\"'::regclass ORDER BY h.refresh_id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        reason.as_deref(),
        Some("a source was truncated, or its columns changed since the capture was set up")
    );

    // DDL on a source that breaks the capture never breaks the writes: the readers
    // recompute, and report the query's own error if it no longer runs.
    c.batch_execute("ALTER TABLE b DROP COLUMN w; INSERT INTO b VALUES (7, 'seven')")
        .unwrap();
    pgt_sidecar::catalog::refresh(&mut c, "join_equi").unwrap();
    assert_eq!(
        differs(
            &mut c,
            "join_equi",
            "SELECT a.id, b.name FROM a JOIN b ON a.k = b.k"
        ),
        0
    );
    let err = pgt_sidecar::catalog::refresh(&mut c, "join_filter").unwrap_err();
    assert!(err.contains("column") && err.contains("w"), "{err}");

    // Dropping the last reader of a source removes its capture.
    for (name, _) in corpus::SHAPES {
        pgt_sidecar::catalog::drop(&mut c, name).unwrap();
    }
    let leftovers: i64 = c
        .query_one(
            "SELECT (SELECT count(*) FROM pg_trigger WHERE tgname LIKE '\\_\\_pgt\\_sidecar%') \
                  + (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                      WHERE n.nspname = 'pgtrickle_sidecar' AND c.relname LIKE 'changes\\_%')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(leftovers, 0);
}

/// Runs the sidecar's loop over `dsn` in a thread until the returned flag is set.
fn serving(dsn: &str) -> (Arc<AtomicBool>, std::thread::JoinHandle<Result<(), String>>) {
    let config = pgt_sidecar::Config {
        interval_ms: 50,
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

#[test]
fn incremental_refreshes_cut_off_mid_way_lose_and_double_nothing() {
    let db = plain_database();
    let dsn = db.cluster.conninfo(&db.name);
    let mut c = db.client();
    pgt_sidecar::catalog::install(&mut c).unwrap();
    // An IMMUTABLE function that takes a while, so each delta statement does.
    c.batch_execute(
        "CREATE FUNCTION slow(int) RETURNS int IMMUTABLE LANGUAGE sql AS $$ SELECT $1 FROM pg_catalog.pg_sleep(0.002) $$;
         CREATE TABLE src (id int, k int, v int);
         CREATE TABLE dim (k int PRIMARY KEY, label text);
         INSERT INTO src SELECT i, i % 10, i FROM generate_series(1, 500) i;
         INSERT INTO dim SELECT i, 'k' || i FROM generate_series(0, 9) i;",
    )
    .unwrap();
    let sums = "SELECT k, count(*) AS n, sum(slow(v)) AS s FROM src GROUP BY k";
    let joined = "SELECT src.id, dim.label, slow(src.v) AS v FROM src JOIN dim ON dim.k = src.k WHERE src.v > 10";
    pgt_sidecar::catalog::create(&mut c, "sums", sums, Some("1s")).unwrap();
    pgt_sidecar::catalog::create(&mut c, "joined", joined, Some("1s")).unwrap();
    assert_eq!(mode(&mut c, "sums").0, "DIFFERENTIAL");
    assert_eq!(mode(&mut c, "joined").0, "DIFFERENTIAL");
    let (stop, running) = serving(&dsn);
    // Two writers change the sources meanwhile (NULL keys, deletes, key moves, rollbacks).
    let writing = Arc::new(AtomicBool::new(true));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let mut wc = db.client();
            let writing = writing.clone();
            std::thread::spawn(move || {
                let mut i = 1000 + w * 100_000;
                while writing.load(Ordering::Relaxed) {
                    let end = if i % 7 == 0 { "ROLLBACK" } else { "COMMIT" };
                    wc.batch_execute(&format!(
                        "BEGIN; INSERT INTO src VALUES ({i}, {k}, {i}), ({i}, NULL, {i}); DELETE FROM src WHERE id = {d}; \
                         UPDATE src SET k = k + 1 WHERE id = {u}; UPDATE dim SET label = label || '.' WHERE k = {k}; {end};",
                        k = i % 10,
                        d = i - 300,
                        u = i - 200
                    ))
                    .unwrap();
                    i += 1;
                    std::thread::sleep(std::time::Duration::from_millis(3));
                }
            })
        })
        .collect();
    // Cut the sidecar's connection while it refreshes, several times.
    let mut cut = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while cut < 4 && std::time::Instant::now() < deadline {
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
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    assert!(cut >= 4, "cut off {cut} refreshes");
    writing.store(false, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    db.cluster.eventually("the stream tables catch up", || {
        differs(&mut c, "sums", sums) == 0 && differs(&mut c, "joined", joined) == 0
    });
    stop.store(true, Ordering::Relaxed);
    running.join().unwrap().unwrap();
    let incremental: i64 = c
        .query_one(
            "SELECT count(*) FROM pgtrickle_sidecar.refresh_history WHERE action = 'DIFFERENTIAL' AND status = 'COMPLETED'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(incremental >= 2, "{incremental} incremental refreshes");
}

#[test]
fn a_transaction_committing_after_a_refresh_started_is_read_by_the_next_one() {
    let db = plain_database();
    let mut c = db.client();
    pgt_sidecar::catalog::install(&mut c).unwrap();
    c.batch_execute(
        "CREATE TABLE src (k int, v int);
         INSERT INTO src SELECT i % 3, i FROM generate_series(1, 30) i;",
    )
    .unwrap();
    let q = "SELECT k, count(*) AS n, sum(v) AS s FROM src GROUP BY k";
    pgt_sidecar::catalog::create(&mut c, "sums", q, None).unwrap();
    assert_eq!(mode(&mut c, "sums").0, "DIFFERENTIAL");
    // A writer that started before the refresh and commits after it.
    let mut w = db.client();
    w.batch_execute("BEGIN; INSERT INTO src VALUES (1, 1000), (7, 7); DELETE FROM src WHERE v = 3")
        .unwrap();
    c.batch_execute("INSERT INTO src VALUES (2, 500)").unwrap();
    pgt_sidecar::catalog::refresh(&mut c, "sums").unwrap();
    w.batch_execute("COMMIT").unwrap();
    // A rolled-back writer is never read.
    w.batch_execute("BEGIN; INSERT INTO src VALUES (9, 9); ROLLBACK")
        .unwrap();
    pgt_sidecar::catalog::refresh(&mut c, "sums").unwrap();
    assert_eq!(differs(&mut c, "sums", q), 0);
    // Nothing is read twice on later refreshes.
    pgt_sidecar::catalog::refresh(&mut c, "sums").unwrap();
    pgt_sidecar::catalog::refresh(&mut c, "sums").unwrap();
    assert_eq!(differs(&mut c, "sums", q), 0);
}

#[test]
fn a_diamond_refreshed_in_one_transaction_reads_its_own_writes_once() {
    let db = plain_database();
    let dsn = db.cluster.conninfo(&db.name);
    let mut c = db.client();
    pgt_sidecar::catalog::install(&mut c).unwrap();
    c.batch_execute(
        "CREATE TABLE src (k int, v int);
         INSERT INTO src SELECT i % 5, i FROM generate_series(1, 50) i;",
    )
    .unwrap();
    // left and right both read src; both feed top: refreshed together, in one
    // transaction, top reading rows that left and right wrote in it.
    let left = "SELECT k, count(*) AS n FROM src GROUP BY k";
    let right = "SELECT k, max(v) AS mx FROM src WHERE v % 2 = 0 GROUP BY k";
    let top = "SELECT l.k, l.n, r.mx FROM left_side l JOIN right_side r ON r.k = l.k";
    pgt_sidecar::catalog::create(&mut c, "left_side", left, None).unwrap();
    pgt_sidecar::catalog::create(&mut c, "right_side", right, None).unwrap();
    pgt_sidecar::catalog::create(&mut c, "top", top, Some("1s")).unwrap();
    for name in ["left_side", "right_side", "top"] {
        assert_eq!(mode(&mut c, name).0, "DIFFERENTIAL", "{name}");
    }
    // The three in one REPEATABLE READ transaction, as the scheduler refreshes a
    // diamond: top reads rows left and right wrote in this very transaction, and must
    // read them exactly once (the frontier records the transaction's own rows).
    let ids: Vec<i64> = ["left_side", "right_side", "top"]
        .iter()
        .map(|n| pgt_sidecar::catalog::lookup(&mut c, n).unwrap())
        .collect();
    for round in 0..4 {
        c.batch_execute(&format!(
            "INSERT INTO src VALUES ({round}, {v}), (NULL, {v}); UPDATE src SET v = v + 2 WHERE k = {k}; DELETE FROM src WHERE v = {d};",
            v = 200 + round,
            k = (round + 2) % 5,
            d = 20 + round
        ))
        .unwrap();
        c.batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ;
             SELECT pgtrickle_sidecar._refresh({}, 'MANUAL', false);
             SELECT pgtrickle_sidecar._refresh({}, 'MANUAL', false);
             SELECT pgtrickle_sidecar._refresh({}, 'MANUAL', false);",
            ids[0], ids[1], ids[2]
        ))
        .unwrap();
        c.batch_execute("COMMIT").unwrap();
        assert_eq!(differs(&mut c, "left_side", left), 0, "round {round}");
        assert_eq!(differs(&mut c, "right_side", right), 0, "round {round}");
        assert_eq!(differs(&mut c, "top", top), 0, "round {round}");
    }
    let (stop, running) = serving(&dsn);
    for round in 0..4 {
        c.batch_execute(&format!(
            "INSERT INTO src VALUES ({round}, {v}), (NULL, {v}); UPDATE src SET v = v + 2 WHERE k = {k}; DELETE FROM src WHERE v = {d};",
            v = 100 + round,
            k = round % 5,
            d = 10 + round
        ))
        .unwrap();
        db.cluster.eventually("the diamond catches up", || {
            differs(&mut c, "left_side", left) == 0
                && differs(&mut c, "right_side", right) == 0
                && differs(&mut c, "top", top) == 0
        });
    }
    stop.store(true, Ordering::Relaxed);
    running.join().unwrap().unwrap();
    let incremental: i64 = c
        .query_one(
            "SELECT count(*) FROM pgtrickle_sidecar.refresh_history h JOIN pgtrickle_sidecar.stream_tables s USING (pgt_id) \
              WHERE s.pgt_relid = 'top'::regclass AND h.action = 'DIFFERENTIAL' AND h.initiated_by = 'SCHEDULER'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(incremental >= 1, "{incremental}");
}
