//! IMMEDIATE refresh mode (ADR-024): the stream table is maintained inside the writing
//! transaction. The writer sees its own effect, rollbacks roll it back, concurrent
//! writers serialize without losing a change or deadlocking, REPEATABLE READ writers get
//! a serialization error or a correct result, and the mode can be switched both ways.

use std::thread;

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{
    assert_stream_table_matches_query, cluster, expect_sql_error, sync_change_capture, TestDb,
};

fn setup() -> (TestDb, Client) {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE src (id int, g int, v int);
         CREATE TABLE dim (g int PRIMARY KEY, label text);
         INSERT INTO dim SELECT i, 'g' || i FROM generate_series(0, 4) i;
         INSERT INTO src SELECT i, i % 5, i FROM generate_series(1, 100) i;
         SELECT pgtrickle.create_stream_table('agg', 'SELECT g, count(*) AS n, sum(v) AS s, max(v) AS m FROM src GROUP BY g', refresh_mode => 'IMMEDIATE');
         SELECT pgtrickle.create_stream_table('joined', 'SELECT s.id, d.label, s.v FROM src s JOIN dim d ON d.g = s.g WHERE s.v % 2 = 0', refresh_mode => 'IMMEDIATE');",
    )
    .unwrap();
    (db, c)
}

fn count(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn immediate_the_writer_sees_its_own_effect_and_rollbacks_undo_it() {
    let (_db, mut c) = setup();
    c.batch_execute("BEGIN; INSERT INTO src VALUES (1000, 1, 1000), (1001, 7, 2);")
        .unwrap();
    // Inside the writing transaction, before commit.
    assert_eq!(count(&mut c, "SELECT m::bigint FROM agg WHERE g = 1"), 1000);
    assert_eq!(count(&mut c, "SELECT count(*) FROM agg WHERE g = 7"), 1);
    assert_stream_table_matches_query(&mut c, "agg");
    c.batch_execute("SAVEPOINT a; DELETE FROM src WHERE g = 1; ")
        .unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM agg WHERE g = 1"), 0);
    c.batch_execute("ROLLBACK TO a").unwrap();
    assert_eq!(count(&mut c, "SELECT m::bigint FROM agg WHERE g = 1"), 1000);
    c.batch_execute("UPDATE src SET g = 2 WHERE id = 1000; COMMIT")
        .unwrap();
    for st in ["agg", "joined"] {
        assert_stream_table_matches_query(&mut c, st);
    }
    c.batch_execute("BEGIN; DELETE FROM src; UPDATE dim SET label = 'x'; ROLLBACK")
        .unwrap();
    for st in ["agg", "joined"] {
        assert_stream_table_matches_query(&mut c, st);
    }
    // Deleting a group's last row and its MAX; a TRUNCATE recomputes (and says so).
    c.batch_execute("DELETE FROM src WHERE g = 3; DELETE FROM src WHERE v = 99; TRUNCATE dim; INSERT INTO dim VALUES (2, 'two');")
        .unwrap();
    for st in ["agg", "joined"] {
        assert_stream_table_matches_query(&mut c, st);
    }
    let reason: String = c
        .query_one(
            "SELECT h.reason FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) \
              WHERE s.pgt_name = 'joined' AND h.initiated_by = 'IMMEDIATE' ORDER BY h.refresh_id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(reason.contains("truncated"), "{reason}");
    // Incremental maintenance records no history row per statement.
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM pgtrickle.pgt_refresh_history WHERE initiated_by = 'IMMEDIATE' AND action = 'DIFFERENTIAL'"),
        0
    );
}

#[test]
fn immediate_concurrent_writers_lose_nothing_and_do_not_deadlock() {
    let (db, mut c) = setup();
    // A second IMMEDIATE stream table over the same two sources.
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('by_label', 'SELECT d.label, count(*) AS n FROM src s JOIN dim d ON d.g = s.g GROUP BY d.label', refresh_mode => 'IMMEDIATE')",
    )
    .unwrap();
    let writers: Vec<_> = (0..3i64)
        .map(|w| {
            let mut wc = db.client();
            thread::spawn(move || {
                for i in 0..40i64 {
                    let id = 10_000 + w * 1000 + i;
                    // Two sources, written in a different order by different writers.
                    // Each writer updates its own row of dim: any wait is pg_trickle's.
                    let sql = if (w + i) % 2 == 0 {
                        format!("BEGIN; INSERT INTO src VALUES ({id}, {g}, {id}); UPDATE dim SET label = label || '' WHERE g = {w}; COMMIT;", g = i % 5)
                    } else {
                        format!("BEGIN; UPDATE dim SET label = label || '' WHERE g = {w}; INSERT INTO src VALUES ({id}, {g}, {id}); DELETE FROM src WHERE id = {old}; COMMIT;", g = i % 5, old = 1 + (i + w * 30) % 100)
                    };
                    if let Err(e) = wc.batch_execute(&sql) {
                        panic!("writer {w}: {e:?}");
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    for st in ["agg", "joined", "by_label"] {
        assert_stream_table_matches_query(&mut c, st);
    }
    assert_eq!(
        count(&mut c, "SELECT sum(n)::bigint FROM agg"),
        count(&mut c, "SELECT count(*) FROM src")
    );
}

#[test]
fn immediate_repeatable_read_writers_get_a_serialization_error_or_a_correct_result() {
    let (db, mut c) = setup();
    let mut rr = db.client();
    rr.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM src;")
        .unwrap();
    // Another writer commits after the REPEATABLE READ transaction's snapshot.
    c.batch_execute("INSERT INTO src VALUES (500, 1, 500)")
        .unwrap();
    match rr.batch_execute("INSERT INTO src VALUES (501, 1, 501); COMMIT") {
        Ok(()) => {}
        Err(e) => {
            assert_eq!(
                e.code(),
                Some(&SqlState::T_R_SERIALIZATION_FAILURE),
                "{e:?}"
            );
            rr.batch_execute("ROLLBACK").unwrap();
        }
    }
    for st in ["agg", "joined"] {
        assert_stream_table_matches_query(&mut c, st);
    }
    // Without a concurrent writer, a REPEATABLE READ writer is maintained as usual.
    rr.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; INSERT INTO src VALUES (502, 2, 502); UPDATE src SET v = 0 WHERE id = 2; COMMIT")
        .unwrap();
    for st in ["agg", "joined"] {
        assert_stream_table_matches_query(&mut c, st);
    }
}

#[test]
fn immediate_mode_switches_both_ways_and_refuses_what_it_cannot_maintain() {
    let (_db, mut c) = setup();
    c.batch_execute(
        "SELECT pgtrickle.alter_stream_table('agg', refresh_mode => 'DIFFERENTIAL');
         INSERT INTO src VALUES (2000, 1, 2000);",
    )
    .unwrap();
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM agg WHERE m = 2000"),
        0,
        "no longer maintained on write"
    );
    let triggers = |c: &mut Client| {
        count(
            c,
            "SELECT count(*) FROM pg_trigger WHERE tgname LIKE '\\_\\_pgt\\_ivm\\_%'",
        )
    };
    assert_eq!(
        triggers(&mut c),
        2,
        "joined keeps its triggers on src and dim"
    );
    c.batch_execute("SELECT pgtrickle.alter_stream_table('agg', refresh_mode => 'IMMEDIATE')")
        .unwrap();
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM agg WHERE m = 2000"),
        1,
        "caught up at once"
    );
    c.batch_execute("DELETE FROM src WHERE id = 2000").unwrap();
    assert_stream_table_matches_query(&mut c, "agg");
    assert_eq!(triggers(&mut c), 3);
    c.batch_execute(
        "SELECT pgtrickle.drop_stream_table('joined'); SELECT pgtrickle.drop_stream_table('agg');",
    )
    .unwrap();
    assert_eq!(triggers(&mut c), 0);
    // Refusals name the construct.
    c.batch_execute("SELECT pgtrickle.create_stream_table('base', 'SELECT g, v FROM src', refresh_mode => 'DIFFERENTIAL')")
        .unwrap();
    for (sql, construct) in [
        (
            "SELECT pgtrickle.create_stream_table('over_st', 'SELECT g FROM base', refresh_mode => 'IMMEDIATE')",
            "as a source of an IMMEDIATE stream table",
        ),
        (
            "SELECT pgtrickle.create_stream_table('rnd', 'SELECT g, random() AS r FROM src', refresh_mode => 'IMMEDIATE')",
            "volatile",
        ),
    ] {
        expect_sql_error(&mut c, sql, SqlState::FEATURE_NOT_SUPPORTED, "cannot maintain");
        let err = c.batch_execute(sql).unwrap_err();
        let detail = err.as_db_error().and_then(|e| e.detail()).unwrap_or_default().to_string();
        assert!(detail.contains(construct), "{detail}");
    }
}

#[test]
fn immediate_sources_stay_on_triggers_and_writers_need_no_catalog_rights() {
    let (_db, mut c) = setup();
    c.batch_execute(
        "ALTER TABLE src REPLICA IDENTITY FULL;
         CREATE TABLE other (k int);
         ALTER TABLE other REPLICA IDENTITY FULL;
         SELECT pgtrickle.create_stream_table('other_st', 'SELECT k, count(*) AS n FROM other GROUP BY k', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    let states = sync_change_capture(&mut c);
    let src = states.iter().find(|s| s.0 == "src").unwrap();
    assert_eq!(src.1, "TRIGGER", "{states:?}");
    assert!(
        src.2.as_deref().unwrap_or("").contains("IMMEDIATE"),
        "{src:?}"
    );
    assert_eq!(states.iter().find(|s| s.0 == "other").unwrap().1, "WAL");
    // A WAL-captured source returns to triggers when an IMMEDIATE stream table reads it.
    c.batch_execute(
        "INSERT INTO other VALUES (1), (2);
         SELECT pgtrickle.alter_stream_table('other_st', refresh_mode => 'IMMEDIATE');
         INSERT INTO other VALUES (1);",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "other_st");
    let mode: String = c
        .query_one(
            "SELECT mode FROM pgtrickle.change_capture WHERE source = 'other'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(mode, "TRIGGER");
    // A role that may only write the source.
    c.batch_execute(
        "CREATE ROLE imm_writer LOGIN;
         GRANT USAGE ON SCHEMA public TO imm_writer;
         GRANT INSERT, UPDATE, DELETE, SELECT ON src TO imm_writer;
         SET ROLE imm_writer;
         INSERT INTO src VALUES (3000, 4, 3000);
         UPDATE src SET v = v + 1 WHERE id = 3000;
         RESET ROLE;
         DROP OWNED BY imm_writer; DROP ROLE imm_writer;",
    )
    .unwrap();
    for st in ["agg", "joined"] {
        assert_stream_table_matches_query(&mut c, st);
    }
}
