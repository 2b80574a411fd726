//! Stream tables reading stream tables: refresh through a chain, and drops that respect
//! readers (refused unless `cascade => true`).

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::{assert_stream_table_matches_query, cluster, expect_sql_error};

#[test]
fn a_chain_refreshes_incrementally_and_drops_only_with_cascade() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE events (id int PRIMARY KEY, kind text, amount int);
         INSERT INTO events SELECT i, (ARRAY['a','b','c'])[1 + i % 3], i FROM generate_series(1, 50) i;
         SELECT pgtrickle.create_stream_table('per_kind', 'SELECT kind, count(*) AS n, sum(amount) AS total FROM events GROUP BY kind');
         SELECT pgtrickle.create_stream_table('big_kinds', 'SELECT kind, total FROM per_kind WHERE total > 400');
         SELECT pgtrickle.create_stream_table('n_big', 'SELECT count(*) AS n FROM big_kinds');",
    )
    .unwrap();
    for round in 0..4 {
        c.batch_execute(&format!(
            "INSERT INTO events VALUES ({}, 'c', 300); DELETE FROM events WHERE id = {}; UPDATE events SET kind = 'a' WHERE id = {};",
            100 + round,
            round + 1,
            round + 10
        ))
        .unwrap();
        for st in ["per_kind", "big_kinds", "n_big"] {
            c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
                .unwrap();
            assert_stream_table_matches_query(&mut c, st);
        }
    }
    let modes: Vec<String> = c
        .query(
            "SELECT effective_refresh_mode FROM pgtrickle.pgt_stream_tables ORDER BY pgt_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(modes, vec!["DIFFERENTIAL"; 3]);

    let e = expect_sql_error(
        &mut c,
        "SELECT pgtrickle.drop_stream_table('per_kind')",
        SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
        "other stream tables read it",
    );
    assert!(e.detail.unwrap().contains("big_kinds"));
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.drop_stream_table('big_kinds')",
        SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
        "big_kinds",
    );
    // The leaf can go alone; then cascade takes the rest.
    c.batch_execute("SELECT pgtrickle.drop_stream_table('n_big')")
        .unwrap();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('n_big', 'SELECT count(*) AS n FROM big_kinds')",
    )
    .unwrap();
    c.batch_execute("SELECT pgtrickle.drop_stream_table('per_kind', cascade => true)")
        .unwrap();
    let left: i64 = c
        .query_one(
            "SELECT (SELECT count(*) FROM pgtrickle.pgt_stream_tables) \
                  + (SELECT count(*) FROM pg_class WHERE relname IN ('per_kind', 'big_kinds', 'n_big')) \
                  + (SELECT count(*) FROM pg_class WHERE relnamespace = 'pgtrickle_changes'::regnamespace)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

/// Creating and dropping stream tables tells the user nothing they did not ask for: no
/// NOTICE about internal objects (the cleanup of change capture used to report each
/// `DROP … IF EXISTS` of an object already gone, some thirty lines per source).
#[test]
fn creating_and_dropping_stream_tables_is_quiet() {
    let db = cluster().new_database();
    let (mut c, notices) = db.cluster.connect_recording_notices(&db.name).unwrap();
    c.batch_execute(
        "CREATE TABLE src (id int PRIMARY KEY, v int);
         INSERT INTO src SELECT i, i FROM generate_series(1, 10) i;
         SELECT pgtrickle.create_stream_table('a', 'SELECT id, v FROM src', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('b', 'SELECT v, count(*) AS n FROM src GROUP BY v', refresh_mode => 'DIFFERENTIAL');
         UPDATE src SET v = v + 1 WHERE id < 4;
         SELECT pgtrickle.refresh_stream_table('a');
         SELECT pgtrickle.drop_stream_table('a');
         DROP TABLE b;",
    )
    .unwrap();
    let gone: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_class WHERE relnamespace = 'pgtrickle_changes'::regnamespace",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(gone, 0, "the change capture of src is gone");
    let seen = notices.lock().unwrap().clone();
    assert!(seen.is_empty(), "{seen:#?}");
}
