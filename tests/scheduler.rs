//! Automatic refresh by the real background workers: stream tables with a schedule follow
//! their sources without any manual refresh, in dependency order; failures are counted,
//! suspend the stream table, and resume; `pg_trickle.enabled = off` stops refreshes; the
//! scheduler comes back after a server restart.

use std::sync::RwLock;
use std::time::Duration;

use pgt_testkit::postgres::Client;
use pgt_testkit::{cluster_with, Cluster, TestDb};

fn cluster() -> &'static Cluster {
    cluster_with(&[
        "pg_trickle.enabled = on",
        "pg_trickle.scheduler_interval_ms = 200",
        "pg_trickle.max_consecutive_errors = 2",
        "max_worker_processes = 40",
    ])
}

fn matches(c: &mut Client, st: &str) -> bool {
    pgt_testkit::stream_table_matches(c, st)
}

fn eventually(what: &str, cond: impl FnMut() -> bool) {
    cluster().eventually(what, cond)
}

/// Tests share the cluster; the one that disables the scheduler and restarts the server
/// runs alone.
static EXCLUSIVE: RwLock<()> = RwLock::new(());

fn setup() -> (TestDb, Client) {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute("CREATE TABLE src (id int PRIMARY KEY, g int, v int); INSERT INTO src SELECT i, i % 3, i FROM generate_series(1, 20) i;")
        .unwrap();
    (db, c)
}

#[test]
fn a_scheduled_stream_table_follows_its_source_without_manual_refresh() {
    let _shared = EXCLUSIVE.read().unwrap_or_else(|p| p.into_inner());
    let (_db, mut c) = setup();
    c.batch_execute("SELECT pgtrickle.create_stream_table('totals', 'SELECT g, sum(v) AS s FROM src GROUP BY g', schedule => '1s')").unwrap();
    c.batch_execute("INSERT INTO src VALUES (100, 1, 1000); DELETE FROM src WHERE id = 3;")
        .unwrap();
    eventually("the scheduler refreshed totals", || {
        matches(&mut c, "totals")
    });
    let by_scheduler: i64 = c
        .query_one("SELECT count(*) FROM pgtrickle.pgt_refresh_history WHERE initiated_by = 'SCHEDULER' AND status = 'COMPLETED'", &[])
        .unwrap()
        .get(0);
    assert!(by_scheduler >= 1);
    // A scheduler is connected to this database, so health_check has nothing to report.
    let problems: i64 = c
        .query_one("SELECT count(*) FROM pgtrickle.health_check()", &[])
        .unwrap()
        .get(0);
    assert_eq!(problems, 0);
}

#[test]
fn chains_and_diamonds_refresh_in_order_and_stay_consistent() {
    let _shared = EXCLUSIVE.read().unwrap_or_else(|p| p.into_inner());
    let (_db, mut c) = setup();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('b', 'SELECT id, g, v FROM src WHERE v % 2 = 0', schedule => 'calculated');
         SELECT pgtrickle.create_stream_table('cc', 'SELECT id, g, v * 10 AS v10 FROM src', schedule => 'calculated');
         SELECT pgtrickle.create_stream_table('d', 'SELECT b.g, count(*) AS n, sum(cc.v10) AS s FROM b JOIN cc ON cc.id = b.id GROUP BY b.g', schedule => '1s');
         SELECT pgtrickle.create_stream_table('e', 'SELECT g, n FROM d WHERE n > 1', schedule => '1s');",
    )
    .unwrap();
    for round in 0..3 {
        c.batch_execute(&format!(
            "INSERT INTO src VALUES ({}, {}, {}); UPDATE src SET v = v + 2 WHERE id = {};",
            200 + round,
            round,
            2 * round,
            round + 1
        ))
        .unwrap();
        // d and e equal what their queries give over b and cc, and b/cc equal theirs over src:
        // the calculated schedules of b and cc follow d's one-second schedule.
        eventually("the chain caught up", || {
            ["b", "cc", "d", "e"].iter().all(|st| matches(&mut c, st))
        });
    }
}

#[test]
fn failing_refreshes_suspend_and_resume() {
    let _shared = EXCLUSIVE.read().unwrap_or_else(|p| p.into_inner());
    let (_db, mut c) = setup();
    c.batch_execute("SELECT pgtrickle.create_stream_table('fragile', 'SELECT id, 100 / v AS q FROM src', schedule => '1s', refresh_mode => 'FULL')")
        .unwrap();
    c.batch_execute("INSERT INTO src VALUES (300, 0, 0)")
        .unwrap();
    eventually("fragile was suspended", || {
        let st: String = c
            .query_one(
                "SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'fragile'",
                &[],
            )
            .unwrap()
            .get(0);
        st == "SUSPENDED"
    });
    let r = c
        .query_one(
            "SELECT consecutive_errors, status_reason, (SELECT count(*) FROM pgtrickle.pgt_refresh_history WHERE status = 'FAILED' AND error_message LIKE '%division by zero%') \
               FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'fragile'",
            &[],
        )
        .unwrap();
    assert_eq!(r.get::<_, i32>(0), 2);
    assert!(r.get::<_, String>(1).contains("division by zero"));
    assert_eq!(r.get::<_, i64>(2), 2);
    // Fixed data alone does not bring it back; resume does.
    c.batch_execute("DELETE FROM src WHERE v = 0").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let st: String = c
        .query_one(
            "SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'fragile'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(st, "SUSPENDED");
    c.batch_execute(
        "SELECT pgtrickle.resume_stream_table('fragile'); INSERT INTO src VALUES (301, 1, 5);",
    )
    .unwrap();
    eventually("fragile refreshed after resume", || {
        matches(&mut c, "fragile")
    });
    let errors: i32 = c
        .query_one(
            "SELECT consecutive_errors FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'fragile'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(errors, 0);
}

#[test]
fn a_running_manual_refresh_is_skipped_not_queued() {
    let _shared = EXCLUSIVE.read().unwrap_or_else(|p| p.into_inner());
    let (db, mut c) = setup();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('busy', 'SELECT id, v FROM src', schedule => '1s')",
    )
    .unwrap();
    let mut holder = db.client();
    holder.batch_execute("BEGIN; INSERT INTO src VALUES (400, 1, 1); SELECT pgtrickle.refresh_stream_table('busy');").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let failed: i64 = c
        .query_one(
            "SELECT count(*) FROM pgtrickle.pgt_refresh_history WHERE status = 'FAILED'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        failed, 0,
        "the scheduler must skip a stream table whose refresh is running"
    );
    holder.batch_execute("COMMIT").unwrap();
    c.batch_execute("INSERT INTO src VALUES (401, 1, 1)")
        .unwrap();
    eventually("busy caught up", || matches(&mut c, "busy"));
}

#[test]
fn disabling_stops_refreshes_and_restart_brings_the_scheduler_back() {
    let _alone = EXCLUSIVE.write().unwrap_or_else(|p| p.into_inner());
    let (_db, mut c) = setup();
    c.batch_execute("SELECT pgtrickle.create_stream_table('watched', 'SELECT id, v FROM src WHERE v > 5', schedule => '1s')").unwrap();
    c.batch_execute("ALTER SYSTEM SET pg_trickle.enabled = off")
        .unwrap();
    c.batch_execute("SELECT pg_reload_conf()").unwrap();
    std::thread::sleep(Duration::from_secs(1));
    c.batch_execute("INSERT INTO src VALUES (500, 1, 50)")
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !matches(&mut c, "watched"),
        "refreshed although pg_trickle.enabled = off"
    );
    c.batch_execute("ALTER SYSTEM RESET pg_trickle.enabled")
        .unwrap();
    c.batch_execute("SELECT pg_reload_conf()").unwrap();
    eventually("watched caught up after enabling", || {
        matches(&mut c, "watched")
    });

    cluster().restart().unwrap();
    let mut c = _db.client();
    c.batch_execute("INSERT INTO src VALUES (501, 1, 51)")
        .unwrap();
    eventually("the scheduler is back after a restart", || {
        matches(&mut c, "watched")
    });
}

#[test]
fn workers_come_back_after_being_terminated_without_duplicates() {
    let _alone = EXCLUSIVE.write().unwrap_or_else(|p| p.into_inner());
    let (_db, mut c) = setup();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('kept', 'SELECT id, v FROM src', schedule => '1s')",
    )
    .unwrap();
    c.batch_execute("INSERT INTO src VALUES (600, 1, 1)")
        .unwrap();
    eventually("kept refreshed", || matches(&mut c, "kept"));
    let schedulers = |c: &mut Client| -> i64 {
        c.query_one("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_trickle scheduler' AND datname = current_database()", &[])
            .unwrap()
            .get(0)
    };
    let launcher_pid = |c: &mut Client| -> Option<i32> {
        c.query_opt(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_trickle launcher'",
            &[],
        )
        .unwrap()
        .map(|r| r.get(0))
    };
    // The launcher first: it must come back by itself (an exit code 0 would have the
    // postmaster forget it), without starting a second scheduler for this database.
    let old_launcher = launcher_pid(&mut c).expect("a running launcher");
    c.batch_execute(&format!("SELECT pg_terminate_backend({old_launcher})"))
        .unwrap();
    eventually("a new launcher is running", || {
        launcher_pid(&mut c).is_some_and(|p| p != old_launcher)
    });
    c.batch_execute("INSERT INTO src VALUES (601, 2, 2)")
        .unwrap();
    eventually("refreshes go on after terminating the launcher", || {
        matches(&mut c, "kept")
    });
    assert_eq!(
        schedulers(&mut c),
        1,
        "duplicate schedulers after the launcher came back"
    );
    // Then the scheduler: the (new) launcher starts it again.
    let killed: i64 = c
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
              WHERE backend_type = 'pg_trickle scheduler' AND datname = current_database()) t",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    c.batch_execute("INSERT INTO src VALUES (602, 2, 2)")
        .unwrap();
    eventually("refreshes resumed after terminating the scheduler", || {
        matches(&mut c, "kept")
    });
    assert!(
        schedulers(&mut c) <= 1,
        "duplicate schedulers after terminating the scheduler"
    );
    std::thread::sleep(Duration::from_secs(12)); // a full launcher rescan
    assert_eq!(schedulers(&mut c), 1);
}

#[test]
fn a_diamond_over_a_base_table_is_refreshed_as_one_group() {
    let _shared = EXCLUSIVE.read().unwrap_or_else(|p| p.into_inner());
    let (_db, mut c) = setup();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('left_side', 'SELECT id, v FROM src', schedule => 'calculated');
         SELECT pgtrickle.create_stream_table('right_side', 'SELECT id, v FROM src', schedule => 'calculated');
         SELECT pgtrickle.create_stream_table('bottom', 'SELECT l.id, l.v - r.v AS diff FROM left_side l JOIN right_side r ON r.id = l.id', schedule => '1s');",
    )
    .unwrap();
    // Both branches read the same table at the same snapshot, so the bottom never sees them
    // disagree, however the writes interleave with refreshes.
    for i in 0..40 {
        c.batch_execute(&format!(
            "UPDATE src SET v = v + 1 WHERE id = {}",
            1 + i % 20
        ))
        .unwrap();
        let disagree: i64 = c
            .query_one("SELECT count(*) FROM bottom WHERE diff <> 0", &[])
            .unwrap()
            .get(0);
        assert_eq!(
            disagree, 0,
            "the diamond's branches were refreshed at different snapshots"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eventually("the diamond caught up", || {
        ["left_side", "right_side", "bottom"]
            .iter()
            .all(|st| matches(&mut c, st))
    });
    let grouped: i64 = c
        .query_one("SELECT count(DISTINCT started_at) FROM pgtrickle.pgt_refresh_history WHERE initiated_by = 'SCHEDULER'", &[])
        .unwrap()
        .get(0);
    assert!(grouped >= 1);
}

#[test]
fn a_new_database_gets_a_scheduler_when_the_extension_is_created_and_loses_it_when_dropped() {
    let _shared = EXCLUSIVE.read().unwrap_or_else(|p| p.into_inner());
    let cl = cluster();
    let mut admin = cl.connect("postgres").unwrap();
    for db in ["pgt_fresh_db", "pgt_fresh_db2"] {
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
    }
    // A slow transaction installs the extension in the first database while the second
    // installs it quickly. The launcher wakes in between and must neither look for the
    // extension before it is committed nor then give up on the first database (the race
    // a CI run once hit: a scheduler that exited early was blamed on the newer generation).
    let slow = std::thread::spawn(move || {
        let mut c = cluster().connect("pgt_fresh_db").unwrap();
        c.batch_execute(
            "CREATE EXTENSION pg_trickle;
             CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 1);
             SELECT pgtrickle.create_stream_table('t_st', 'SELECT id, v FROM t', schedule => '1s');
             INSERT INTO t VALUES (2, 2);
             SELECT pg_sleep(2.5);",
        )
        .unwrap();
        c
    });
    std::thread::sleep(Duration::from_millis(1000));
    let mut c2 = cl.connect("pgt_fresh_db2").unwrap();
    c2.batch_execute(
        "CREATE EXTENSION pg_trickle;
         CREATE TABLE t (id int PRIMARY KEY, v int);
         SELECT pgtrickle.create_stream_table('t_st', 'SELECT id, v FROM t', schedule => '1s');
         INSERT INTO t VALUES (3, 3);",
    )
    .unwrap();
    let mut c = slow.join().unwrap();
    eventually(
        "the slow database's stream table is refreshed automatically",
        || matches(&mut c, "t_st"),
    );
    eventually(
        "the quick database's stream table is refreshed automatically",
        || matches(&mut c2, "t_st"),
    );
    c.batch_execute("DROP EXTENSION pg_trickle CASCADE")
        .unwrap();
    let schedulers = |admin: &mut Client| -> i64 {
        admin
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_trickle scheduler' AND datname = 'pgt_fresh_db'", &[])
            .unwrap()
            .get(0)
    };
    eventually(
        "the scheduler left the database after DROP EXTENSION",
        || schedulers(&mut admin) == 0,
    );
    drop(c);
    drop(c2);
    for db in ["pgt_fresh_db", "pgt_fresh_db2"] {
        admin
            .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
            .unwrap();
    }
}

#[test]
fn a_stream_table_created_in_a_slow_transaction_is_scheduled_once_committed() {
    let _shared = EXCLUSIVE.read().unwrap_or_else(|p| p.into_inner());
    let (_db, mut c) = setup();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('first', 'SELECT id, v FROM src', schedule => '1s')",
    )
    .unwrap();
    c.batch_execute("INSERT INTO src VALUES (101, 1, 1)")
        .unwrap();
    eventually("the scheduler serves the database", || {
        matches(&mut c, "first")
    });
    // From now on nothing is due, so the scheduler reloads its catalog only when told to.
    c.batch_execute("SELECT pgtrickle.alter_stream_table('first', schedule => '1d')")
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    // The scheduler wakes several times while this transaction is open; the new stream
    // table must still reach it once committed.
    c.batch_execute(
        "BEGIN;
         SELECT pgtrickle.create_stream_table('second', 'SELECT g, count(*) AS n FROM src GROUP BY g', schedule => '1s');
         SELECT pg_sleep(1.5);
         COMMIT;",
    )
    .unwrap();
    c.batch_execute("INSERT INTO src VALUES (102, 2, 2)")
        .unwrap();
    eventually(
        "the scheduler refreshed the stream table created in the slow transaction",
        || matches(&mut c, "second"),
    );
    assert!(
        !matches(&mut c, "first"),
        "a stream table with a daily schedule was refreshed"
    );
}

/// The corner suite's settings, driven by the scheduler: stream tables created under one
/// set of session settings (DateStyle, IntervalStyle, TimeZone, extra_float_digits,
/// client_encoding, a collation-sensitive query) are refreshed by a scheduler whose
/// database defaults are different, and must equal their queries evaluated under the
/// creator's settings.
#[test]
fn scheduled_refreshes_use_the_settings_pinned_at_creation() {
    let _shared = EXCLUSIVE.read().unwrap_or_else(|p| p.into_inner());
    let (db, mut c) = setup();
    let creator = "SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'sql_standard'; SET TimeZone = 'Asia/Kathmandu';
                   SET extra_float_digits = -2; SET client_encoding = 'LATIN1';";
    c.batch_execute(&format!(
        "CREATE TABLE ev (id int, d date, ts timestamptz, x float8, n text COLLATE \"C\");
         INSERT INTO ev SELECT i, '2024-01-01'::date + i, '2024-03-30 12:00+00'::timestamptz + i * interval '5 hours',
                               1 + i * 0.1, (ARRAY['a', 'B', 'ä', NULL])[1 + i % 4]
           FROM generate_series(1, 30) i;
         {creator}
         SELECT pgtrickle.create_stream_table('lit', $$SELECT id, d FROM ev WHERE d < '05/01/2024'$$, schedule => '1s', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('per_day', $$SELECT date_trunc('day', ts) AS day, count(*) AS c, to_char(max(ts), 'YYYY-MM-DD HH24:MI TZ') AS last FROM ev GROUP BY 1$$, schedule => '1s', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('texts', $$SELECT id, d::text AS dt, (ts + interval '1 day 2 hours')::text AS later, x::text AS xt, (interval '1 day 2 hours')::text AS iv FROM ev$$, schedule => '1s');
         SELECT pgtrickle.create_stream_table('names', $$SELECT n, count(*) AS c, min(n) AS lo FROM ev WHERE n < 'b' GROUP BY n$$, schedule => '1s', refresh_mode => 'DIFFERENTIAL');"
    ))
    .unwrap();
    // The scheduler's sessions get other database defaults: restart it so they apply.
    c.batch_execute(
        "RESET ALL;
         DO $$ BEGIN
           EXECUTE format('ALTER DATABASE %I SET DateStyle = %L', current_database(), 'ISO, MDY');
           EXECUTE format('ALTER DATABASE %I SET IntervalStyle = %L', current_database(), 'iso_8601');
           EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'America/Los_Angeles');
           EXECUTE format('ALTER DATABASE %I SET extra_float_digits = 3', current_database());
         END $$;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE backend_type = 'pg_trickle scheduler' AND datname = current_database();",
    )
    .unwrap();
    let sts = ["lit", "per_day", "texts", "names"];
    let mut check = db.client();
    check.batch_execute(creator).unwrap();
    for round in 0..3 {
        c.batch_execute(&format!(
            "INSERT INTO ev VALUES ({a}, '2024-04-{day:02}', '2024-03-31 01:30+00', 2.5, 'A'), ({b}, '2024-05-02', now(), 0.3, 'b');
             UPDATE ev SET ts = ts + interval '3 hours', n = CASE WHEN n = 'a' THEN 'ä' ELSE n END WHERE id % 4 = {round};
             DELETE FROM ev WHERE id % 7 = {round};",
            a = 500 + round,
            b = 600 + round,
            day = 28 + round
        ))
        .unwrap();
        eventually("the scheduler refreshed every corner stream table", || {
            sts.iter().all(|st| matches(&mut check, st))
        });
    }
    let scheduled: i64 = c
        .query_one("SELECT count(DISTINCT pgt_id) FROM pgtrickle.pgt_refresh_history WHERE initiated_by = 'SCHEDULER' AND status = 'COMPLETED'", &[])
        .unwrap()
        .get(0);
    assert_eq!(scheduled, sts.len() as i64);
    c.batch_execute(
        "DO $$ BEGIN
           EXECUTE format('ALTER DATABASE %I RESET ALL', current_database());
         END $$;",
    )
    .unwrap();
}
