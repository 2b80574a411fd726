//! Runaways fail cleanly: every refresh runs within a time, memory and temp-file budget;
//! cancel and statement timeouts stop long work in the extension; error texts do not
//! depend on RUST_BACKTRACE in the server's environment (this cluster is started with it);
//! lifecycle corners (resume of a stream table in ERROR, absurd schedules) neither lie nor
//! break the monitoring views.

use std::time::{Duration, Instant};

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{
    assert_stream_table_matches_query, cluster_with, expect_sql_error, Cluster, TestDb,
};

fn cluster() -> &'static Cluster {
    cluster_with(&[
        "pg_trickle.enabled = off",
        "env RUST_BACKTRACE=1",
        "env RUST_LIB_BACKTRACE=1",
    ])
}

fn setup() -> (TestDb, Client) {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE src (id int PRIMARY KEY, v int, t text);
         INSERT INTO src SELECT i, i % 10, md5(i::text) FROM generate_series(1, 200) i;",
    )
    .unwrap();
    (db, c)
}

#[test]
fn error_texts_carry_no_backtrace_even_with_rust_backtrace_set() {
    let (_db, mut c) = setup();
    c.batch_execute("SELECT pgtrickle.create_stream_table('st', 'SELECT id, 100 / v AS q FROM src WHERE v > 0', refresh_mode => 'DIFFERENTIAL')")
        .unwrap();
    c.batch_execute("INSERT INTO src VALUES (1000, 0, 'x')")
        .unwrap();
    c.batch_execute("UPDATE src SET v = 0 WHERE id = 1")
        .unwrap();
    let calls = [
        "SELECT pgtrickle.create_stream_table('x', 'SELECT 1', refresh_mode => 'SOMETIMES')",
        "SELECT pgtrickle.create_stream_table('x', 'SELECT * FROM nope')",
        "SELECT pgtrickle.create_stream_table('x', 'SELECT id FROM src LIMIT 1', refresh_mode => 'DIFFERENTIAL')",
        "SELECT pgtrickle.refresh_stream_table('nope')",
        "SELECT pgtrickle.refresh_stream_table('a.b.c')",
        "INSERT INTO st VALUES (1, 1, 1)",
        "SELECT pgtrickle.create_stream_table('y', 'SELECT id, 1 / (v - v) AS z FROM src', refresh_mode => 'FULL')",
    ];
    for sql in calls {
        let e = c.batch_execute(sql).unwrap_err();
        let db = e.as_db_error().expect("a server error");
        let all = format!("{} {:?} {:?}", db.message(), db.detail(), db.hint());
        for needle in [
            "backtrace",
            "rust_begin_unwind",
            ".rs:",
            "panicked",
            "stack",
        ] {
            assert!(
                !all.contains(needle),
                "{sql}: error text contains {needle:?}: {all}"
            );
        }
    }
}

#[test]
fn a_very_long_expression_can_be_canceled_and_times_out() {
    let (db, mut c) = setup();
    let terms = vec!["v"; 3000].join(" + ");
    let sql = format!(
        "SELECT pgtrickle.create_stream_table('long_expr', $q$SELECT id, {terms} AS s FROM src$q$, refresh_mode => 'DIFFERENTIAL')"
    );
    // Under a short statement timeout it either finishes or is stopped cleanly (canceled,
    // or PostgreSQL's own "stack depth limit exceeded"): it never hangs.
    let start = Instant::now();
    match c.batch_execute(&format!("SET statement_timeout = '300ms'; {sql}")) {
        Ok(()) => {}
        Err(e) => assert!(
            [SqlState::QUERY_CANCELED, SqlState::STATEMENT_TOO_COMPLEX].contains(e.code().unwrap()),
            "{e}"
        ),
    }
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    c.batch_execute("RESET statement_timeout; SELECT pgtrickle.drop_stream_table('long_expr') WHERE EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'long_expr')").unwrap();
    // pg_cancel_backend from another session stops it too.
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let mut other = db.client();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        other
            .batch_execute(&format!("SELECT pg_cancel_backend({pid})"))
            .unwrap();
    });
    let start = Instant::now();
    let _ = c.batch_execute(&sql);
    canceller.join().unwrap();
    assert!(start.elapsed() < Duration::from_secs(30));
    // The session is usable afterwards.
    c.batch_execute("SELECT 1").unwrap();
}

#[test]
fn refreshes_run_within_their_time_and_temp_file_budget() {
    let (_db, mut c) = setup();
    c.batch_execute(
        "CREATE TABLE big (id int, t text);
         INSERT INTO big SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 60000) i;
         SELECT pgtrickle.create_stream_table('slow', 'SELECT id, pg_sleep(0.01)::text AS z FROM src', refresh_mode => 'FULL');
         SELECT pgtrickle.create_stream_table('wide', 'SELECT id, t FROM big', refresh_mode => 'FULL');",
    )
    .unwrap();
    let before: (String, String) = {
        let r = c
            .query_one(
                "SELECT current_setting('work_mem'), current_setting('temp_file_limit')",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    // Time: the refresh is canceled with PostgreSQL's statement-timeout error.
    c.batch_execute("SET pg_trickle.refresh_statement_timeout = '300ms'")
        .unwrap();
    let start = Instant::now();
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.refresh_stream_table('slow')",
        SqlState::QUERY_CANCELED,
        "statement timeout",
    );
    assert!(start.elapsed() < Duration::from_secs(20));
    // The timer is gone afterwards: a long statement of the session is not canceled.
    c.batch_execute("SELECT pg_sleep(0.6)").unwrap();
    c.batch_execute("RESET pg_trickle.refresh_statement_timeout")
        .unwrap();
    // Temporary files: the refresh fails cleanly instead of filling the disk.
    c.batch_execute(
        "SET pg_trickle.refresh_work_mem = '64kB'; SET pg_trickle.refresh_temp_file_limit = '512kB';
         INSERT INTO big SELECT i, 'x' FROM generate_series(1, 10) i;",
    )
    .unwrap();
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.refresh_stream_table('wide')",
        SqlState::CONFIGURATION_LIMIT_EXCEEDED,
        "temp_file_limit",
    );
    // The session's own settings are untouched.
    let after: (String, String) = {
        let r = c
            .query_one(
                "SELECT current_setting('work_mem'), current_setting('temp_file_limit')",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(before, after);
    c.batch_execute("RESET pg_trickle.refresh_work_mem; RESET pg_trickle.refresh_temp_file_limit; SELECT pgtrickle.refresh_stream_table('wide');")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "wide");
}

#[test]
fn lifecycle_corners_neither_lie_nor_break_monitoring() {
    let (_db, mut c) = setup();
    c.batch_execute(
        "CREATE TABLE doomed (id int);
         SELECT pgtrickle.create_stream_table('orphan', 'SELECT id FROM doomed');
         SELECT pgtrickle.create_stream_table('fine', 'SELECT id FROM src', schedule => '1h');
         DROP TABLE doomed;",
    )
    .unwrap();
    for sql in [
        "SELECT pgtrickle.resume_stream_table('orphan')",
        "SELECT pgtrickle.alter_stream_table('orphan', status => 'ACTIVE')",
        "SELECT pgtrickle.alter_stream_table('orphan', status => 'SUSPENDED')",
        "SELECT pgtrickle.refresh_stream_table('orphan')",
    ] {
        expect_sql_error(
            &mut c,
            sql,
            SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            "is in status ERROR",
        );
    }
    let status: String = c
        .query_one(
            "SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'orphan'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(status, "ERROR");
    let flagged: i64 = c
        .query_one("SELECT count(*) FROM pgtrickle.health_check() WHERE check_name = 'error' AND stream_table LIKE '%orphan%'", &[])
        .unwrap()
        .get(0);
    assert_eq!(flagged, 1);
    // Absurd schedules are refused, and a row holding one anyway (written directly into
    // the catalog) does not break the monitoring views for everyone.
    for s in ["100000000w", "9223372036854775807s"] {
        expect_sql_error(
            &mut c,
            &format!("SELECT pgtrickle.alter_stream_table('fine', schedule => '{s}')"),
            SqlState::INVALID_PARAMETER_VALUE,
            "invalid schedule",
        );
    }
    c.batch_execute(
        "SELECT pgtrickle.refresh_stream_table('fine');
         UPDATE pgtrickle.pgt_stream_tables SET schedule = '100000000w' WHERE pgt_name = 'fine';",
    )
    .unwrap();
    c.batch_execute(
        "SELECT * FROM pgtrickle.stream_tables_info; SELECT * FROM pgtrickle.health_check();",
    )
    .unwrap();
}

/// A 16-way self-join (one UPDATE makes every combination of old and new versions) and a
/// 12-table chain refresh correctly and within the refresh budget: join deltas are
/// consolidated, so they carry the net change only. (Timings are in benches/.)
#[test]
fn long_join_chains_refresh_correctly_within_budget() {
    let (db, mut c) = setup();
    c.batch_execute("SET pg_trickle.refresh_statement_timeout = '60s'")
        .unwrap();
    // The refreshing session has planner settings that would make planning a long chain
    // explode; refreshes plan with PostgreSQL's defaults instead.
    let mut hostile = db.client();
    hostile
        .batch_execute(
            "SET pg_trickle.refresh_statement_timeout = '60s';
             SET join_collapse_limit = 32; SET from_collapse_limit = 32; SET geqo = off;",
        )
        .unwrap();
    let mut q = "SELECT a0.id, a0.v, a15.t FROM src a0".to_string();
    for i in 1..16 {
        q.push_str(&format!(" JOIN src a{i} ON a{i}.id = a{}.id", i - 1));
    }
    let mut ddl = String::new();
    let mut chain = "SELECT t0.id, t0.v + t11.v AS s FROM t0".to_string();
    for i in 0..12 {
        ddl.push_str(&format!(
            "CREATE TABLE t{i} (id int, v int); INSERT INTO t{i} SELECT g, g % 5 FROM generate_series(1, 300) g;"
        ));
        if i > 0 {
            chain.push_str(&format!(" JOIN t{i} ON t{i}.id = t{}.id", i - 1));
        }
    }
    c.batch_execute(&ddl).unwrap();
    c.batch_execute(&format!(
        "SELECT pgtrickle.create_stream_table('self16', $q${q}$q$, refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('chain12', $q${chain}$q$, refresh_mode => 'DIFFERENTIAL');"
    ))
    .unwrap();
    for round in 0..3 {
        let mut w = format!(
            "UPDATE src SET v = v + 1 WHERE id = {a}; UPDATE src SET t = 'x' WHERE id = {b};
             DELETE FROM src WHERE id = {d}; INSERT INTO src VALUES ({n}, 1, 'n');
             UPDATE src SET v = v - 1 WHERE id = {a};",
            a = 10 + round,
            b = 20 + round,
            d = 30 + round,
            n = 500 + round
        );
        for i in 0..12 {
            w.push_str(&format!(
                "UPDATE t{i} SET v = v + 1 WHERE id = {}; DELETE FROM t{i} WHERE id = {};",
                5 + round + i,
                100 + round * 12 + i
            ));
        }
        c.batch_execute(&w).unwrap();
        hostile
            .batch_execute("SELECT pgtrickle.refresh_stream_table('self16'); SELECT pgtrickle.refresh_stream_table('chain12');")
            .unwrap();
        assert_stream_table_matches_query(&mut c, "self16");
        assert_stream_table_matches_query(&mut c, "chain12");
    }
    let actions: Vec<String> = c
        .query("SELECT DISTINCT action FROM pgtrickle.pgt_refresh_history WHERE initiated_by = 'MANUAL'", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(actions, vec!["DIFFERENTIAL".to_string()]);
}

/// A row inserted and deleted between refreshes cancels before any expression sees it:
/// a fixed "poison row" never makes a manual DIFFERENTIAL refresh fail.
#[test]
fn cancelled_versions_are_never_evaluated() {
    let (_db, mut c) = setup();
    c.batch_execute(
        "CREATE TABLE p (id int, v int); INSERT INTO p SELECT g, 1 + g % 5 FROM generate_series(1, 50) g;
         SELECT pgtrickle.create_stream_table('q', 'SELECT id, 100 / v AS x FROM p', refresh_mode => 'DIFFERENTIAL');
         INSERT INTO p VALUES (900, 0);
         DELETE FROM p WHERE id = 900;
         UPDATE p SET v = 0 WHERE id = 5; UPDATE p SET v = 1 + 5 % 5 WHERE id = 5;
         INSERT INTO p VALUES (901, 4);
         SELECT pgtrickle.refresh_stream_table('q');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "q");
}
