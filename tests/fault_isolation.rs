//! Faults in one stream table never hold up the others, and no ordinary role can stall or
//! read more than it may, with the real scheduler running: a source locked by another
//! session makes its refreshes skip (with a history row saying why) while the rest go on;
//! the refresh lock cannot be taken by ordinary roles; a "poison row" that made refreshes
//! fail stops mattering once the row is gone; error texts that quote source data are shown
//! only to roles that may read that data; planted objects stay inert in scheduled refreshes.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{cluster_with, expect_sql_error, Cluster, TestDb};

fn cluster() -> &'static Cluster {
    cluster_with(&[
        "pg_trickle.enabled = on",
        "pg_trickle.scheduler_interval_ms = 200",
        "pg_trickle.max_consecutive_errors = 2",
        "pg_trickle.lock_timeout = 300ms",
        "max_worker_processes = 40",
    ])
}

fn matches(c: &mut Client, st: &str) -> bool {
    pgt_testkit::stream_table_matches(c, st)
}

fn eventually(what: &str, cond: impl FnMut() -> bool) {
    cluster().eventually(what, cond)
}

fn setup() -> (TestDb, Client) {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE src_a (id int PRIMARY KEY, v int); CREATE TABLE src_b (id int PRIMARY KEY, v int);
         INSERT INTO src_a SELECT i, i FROM generate_series(1, 20) i;
         INSERT INTO src_b SELECT i, i FROM generate_series(1, 20) i;",
    )
    .unwrap();
    (db, c)
}

fn role(c: &mut Client, suffix: &str) -> String {
    let db: String = c
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    let r = format!("{db}_{suffix}");
    c.batch_execute(&format!("CREATE ROLE {r} NOLOGIN"))
        .unwrap();
    r
}

fn drop_role(c: &mut Client, r: &str) {
    c.batch_execute(&format!(
        "RESET ROLE; DROP OWNED BY {r} CASCADE; DROP ROLE {r};"
    ))
    .unwrap();
}

#[test]
fn a_locked_source_is_skipped_and_the_others_keep_refreshing() {
    let (db, mut c) = setup();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('st_a', 'SELECT v % 3 AS g, sum(v) AS s FROM src_a GROUP BY 1', schedule => '1s');
         SELECT pgtrickle.create_stream_table('st_b', 'SELECT v % 3 AS g, sum(v) AS s FROM src_b GROUP BY 1', schedule => '1s');
         INSERT INTO src_a VALUES (100, 100);",
    )
    .unwrap();
    // Another session holds an ACCESS EXCLUSIVE lock on src_a for the whole test.
    let mut locker = db.client();
    locker
        .batch_execute("BEGIN; LOCK TABLE src_a IN ACCESS EXCLUSIVE MODE;")
        .unwrap();
    for round in 0..3 {
        c.batch_execute(&format!("INSERT INTO src_b VALUES ({}, 1)", 200 + round))
            .unwrap();
        eventually("st_b follows src_b while src_a is locked", || {
            matches(&mut c, "st_b")
        });
    }
    eventually("st_a has skipped refreshes recorded", || {
        c.query_one(
            "SELECT count(*) FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) \
              WHERE s.pgt_name = 'st_a' AND h.status = 'SKIPPED' AND h.reason LIKE '%lock_timeout%'",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0)
            >= 2
    });
    let (status, errors): (String, i32) = {
        let r = c
            .query_one(
                "SELECT status, consecutive_errors FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'st_a'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(
        (status.as_str(), errors),
        ("ACTIVE", 0),
        "a skip is not an error"
    );
    locker.batch_execute("COMMIT").unwrap();
    // Once the lock is gone, st_a catches up. (Read it after the lock is released.)
    eventually("st_a caught up after the lock was released", || {
        matches(&mut c, "st_a")
    });
}

#[test]
fn ordinary_roles_cannot_take_the_refresh_lock() {
    let (db, mut c) = setup();
    let r = role(&mut c, "nosy");
    c.batch_execute(&format!(
        "SELECT pgtrickle.create_stream_table('st_b', 'SELECT id, v FROM src_b', schedule => '1s');
         GRANT SELECT ON src_b, st_b TO {r};"
    ))
    .unwrap();
    let pgt_id: i64 = c
        .query_one(
            "SELECT pgt_id FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'st_b'",
            &[],
        )
        .unwrap()
        .get(0);
    let mut other = db.client();
    other.batch_execute(&format!("SET ROLE {r}")).unwrap();
    // The catalog row lock needs UPDATE on pg_trickle's catalog.
    expect_sql_error(
        &mut other,
        &format!(
            "SELECT 1 FROM pgtrickle.pgt_stream_tables WHERE pgt_id = {pgt_id} FOR NO KEY UPDATE"
        ),
        SqlState::INSUFFICIENT_PRIVILEGE,
        "permission denied",
    );
    // Advisory locks (the old refresh lock, in every key form) and a long transaction
    // reading the stream table do not stop scheduled refreshes.
    other
        .batch_execute(&format!(
            "SELECT pg_advisory_lock(1347900486, {pgt_id}::int); SELECT pg_advisory_lock({pgt_id});
             BEGIN; SELECT count(*) FROM st_b;"
        ))
        .unwrap();
    c.batch_execute("INSERT INTO src_b VALUES (500, 5); DELETE FROM src_b WHERE id = 1;")
        .unwrap();
    eventually("st_b was refreshed while the role held its locks", || {
        matches(&mut c, "st_b")
    });
    other
        .batch_execute("COMMIT; SELECT pg_advisory_unlock_all(); RESET ROLE;")
        .unwrap();
    drop(other);
    drop_role(&mut c, &r);
}

#[test]
fn a_poison_row_stops_mattering_once_it_is_gone() {
    let (_db, mut c) = setup();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('fragile', 'SELECT id, 100 / v AS q FROM src_a', schedule => '1s', refresh_mode => 'DIFFERENTIAL');
         INSERT INTO src_a VALUES (300, 0);",
    )
    .unwrap();
    eventually("fragile was suspended by the poison row", || {
        let st: String = c
            .query_one(
                "SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'fragile'",
                &[],
            )
            .unwrap()
            .get(0);
        st == "SUSPENDED"
    });
    // The row is fixed; the change buffer still holds it (inserted, then deleted). Resume
    // must not fail on it again: the next refresh recomputes in full.
    c.batch_execute(
        "DELETE FROM src_a WHERE v = 0; INSERT INTO src_a VALUES (301, 4);
         SELECT pgtrickle.resume_stream_table('fragile');",
    )
    .unwrap();
    eventually("fragile recovered after resume", || {
        let st: String = c
            .query_one(
                "SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'fragile'",
                &[],
            )
            .unwrap()
            .get(0);
        st == "ACTIVE" && matches(&mut c, "fragile")
    });
    // A manual refresh after resume works the same way.
    c.batch_execute("INSERT INTO src_a VALUES (302, 0);")
        .unwrap();
    c.batch_execute("SELECT pgtrickle.alter_stream_table('fragile', status => 'SUSPENDED')")
        .unwrap();
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.refresh_stream_table('fragile')",
        SqlState::DIVISION_BY_ZERO,
        "division by zero",
    );
    c.batch_execute(
        "DELETE FROM src_a WHERE id = 302;
         SELECT pgtrickle.resume_stream_table('fragile');
         SELECT pgtrickle.refresh_stream_table('fragile');",
    )
    .unwrap();
    assert!(matches(&mut c, "fragile"));
}

#[test]
fn error_texts_with_source_data_are_shown_only_to_roles_that_may_read_it() {
    let (_db, mut c) = setup();
    let nosy = role(&mut c, "nosy");
    let reader = role(&mut c, "reader");
    let trusted = role(&mut c, "trusted");
    c.batch_execute(&format!(
        "CREATE TABLE secrets (id int, v text); INSERT INTO secrets VALUES (1, '1');
         SELECT pgtrickle.create_stream_table('parsed', 'SELECT id, v::int AS n FROM secrets', schedule => '1s', refresh_mode => 'FULL');
         GRANT SELECT ON parsed TO {reader}, {trusted};
         GRANT SELECT ON secrets TO {trusted};
         INSERT INTO secrets VALUES (2, 'TOPSECRET-4711');"
    ))
    .unwrap();
    eventually("the refresh failed and parsed was suspended", || {
        let st: String = c
            .query_one(
                "SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'parsed'",
                &[],
            )
            .unwrap()
            .get(0);
        st == "SUSPENDED"
    });
    let surfaces = [
        "SELECT coalesce(string_agg(status_reason, ' '), '') FROM pgtrickle.stream_tables_info",
        "SELECT coalesce(string_agg(error_message, ' '), '') FROM pgtrickle.refresh_history_info",
        "SELECT coalesce(string_agg(error_message, ' '), '') FROM pgtrickle.refresh_history('parsed')",
        "SELECT coalesce(string_agg(detail, ' '), '') FROM pgtrickle.health_check()",
    ];
    for (who, sees) in [(&nosy, false), (&reader, false), (&trusted, true)] {
        c.batch_execute(&format!("SET ROLE {who}")).unwrap();
        for q in surfaces {
            let text: String = c.query_one(q, &[]).unwrap().get(0);
            if sees {
                if !q.contains("health_check") {
                    assert!(
                        text.contains("TOPSECRET-4711"),
                        "{who} should see it in: {q}: {text}"
                    );
                }
            } else {
                assert!(
                    !text.contains("TOPSECRET"),
                    "{who} saw source data through {q}: {text}"
                );
            }
        }
        if !sees {
            for q in [
                "SELECT error_message FROM pgtrickle.pgt_refresh_history",
                "SELECT status_reason FROM pgtrickle.pgt_stream_tables",
                "SELECT * FROM pgtrickle.pgt_refresh_history",
            ] {
                expect_sql_error(
                    &mut c,
                    q,
                    SqlState::INSUFFICIENT_PRIVILEGE,
                    "permission denied",
                );
            }
            // The other columns stay readable.
            c.query_one(
                "SELECT count(*), max(status) FROM pgtrickle.pgt_refresh_history",
                &[],
            )
            .unwrap();
        }
        c.batch_execute("RESET ROLE").unwrap();
    }
    for r in [&nosy, &reader, &trusted] {
        drop_role(&mut c, r);
    }
}

#[test]
fn planted_objects_stay_inert_in_scheduled_refreshes() {
    let (_db, mut c) = setup();
    let evil = role(&mut c, "evil");
    c.batch_execute(&format!(
        "SELECT pgtrickle.create_stream_table('agg', 'SELECT v % 3 AS g, count(*) AS n, sum(v) AS s, max(v) AS m FROM src_a GROUP BY 1', schedule => '1s');
         SELECT pgtrickle.create_stream_table('joined', 'SELECT a.id, b.v FROM src_a a JOIN src_b b ON b.id = a.id WHERE a.v <> 7', schedule => '1s');
         SELECT pgtrickle.create_stream_table('full_one', 'SELECT id + 1 AS n FROM src_b WHERE v > 3', schedule => '1s', refresh_mode => 'FULL');
         GRANT CREATE ON SCHEMA public TO {evil};
         SET ROLE {evil};
         CREATE TABLE public.evil_log (who text, what text); GRANT INSERT, SELECT ON public.evil_log TO PUBLIC;
         CREATE FUNCTION public.evil_eq8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO public.evil_log VALUES (current_user, '=(bigint)'); RETURN pg_catalog.int8eq($1, $2); END $$;
         CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.evil_eq8);
         CREATE FUNCTION public.evil_eq4(integer, integer) RETURNS boolean LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO public.evil_log VALUES (current_user, '=(integer)'); RETURN pg_catalog.int4eq($1, $2); END $$;
         CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.evil_eq4);
         CREATE FUNCTION public.evil_ne4(integer, integer) RETURNS boolean LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO public.evil_log VALUES (current_user, '<>(integer)'); RETURN pg_catalog.int4ne($1, $2); END $$;
         CREATE OPERATOR public.<> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.evil_ne4);
         CREATE FUNCTION public.evil_gt4(integer, integer) RETURNS boolean LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO public.evil_log VALUES (current_user, '>(integer)'); RETURN pg_catalog.int4gt($1, $2); END $$;
         CREATE OPERATOR public.> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.evil_gt4);
         RESET ROLE;"
    ))
    .unwrap();
    // The scheduler's session gets the database's hostile search_path: restart it.
    c.batch_execute(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = public, pg_catalog', current_database()); END $$;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE backend_type = 'pg_trickle scheduler' AND datname = current_database();",
    )
    .unwrap();
    for round in 0..3 {
        c.batch_execute(&format!(
            "INSERT INTO src_a VALUES ({a}, {a}); INSERT INTO src_b VALUES ({a}, 9);
             UPDATE src_a SET v = v + 1 WHERE id = {u}; DELETE FROM src_b WHERE id = {d};",
            a = 600 + round,
            u = 2 + round,
            d = 10 + round
        ))
        .unwrap();
        eventually("the scheduler refreshed everything", || {
            ["agg", "joined", "full_one"]
                .iter()
                .all(|st| matches(&mut c, st))
        });
    }
    let scheduled: i64 = c
        .query_one(
            "SELECT count(*) FROM pgtrickle.pgt_refresh_history WHERE initiated_by = 'SCHEDULER' AND status = 'COMPLETED'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(scheduled >= 3);
    c.batch_execute("RESET search_path").unwrap();
    let ran: Vec<String> = c
        .query("SELECT who || ': ' || what FROM public.evil_log", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        ran.is_empty(),
        "planted operators ran in scheduled refreshes: {ran:?}"
    );
    c.batch_execute(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET search_path', current_database()); END $$;",
    )
    .unwrap();
    drop_role(&mut c, &evil);
}
