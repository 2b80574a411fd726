//! Corners where the engine's view of the data or of the query could drift from
//! PostgreSQL's (ADR-017): each stream table is created under one set of session settings
//! and refreshed under another, and must still equal its defining query evaluated under
//! the settings it was created with. Collations travel into change buffers; DDL that
//! changes a used column's definition or rewrites a source is noticed; sums survive NaN;
//! constructs that cannot be maintained are refused in DIFFERENTIAL and fall back in AUTO.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{assert_stream_table_matches_query, cluster, expect_sql_error, TestDb};

fn db() -> (TestDb, Client) {
    let db = cluster().new_database();
    let c = db.client();
    (db, c)
}

fn refresh(c: &mut Client, st: &str) {
    c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
        .unwrap();
}

/// Compares the stream table with its query in a session with `settings`.
fn matches_under(db: &TestDb, settings: &str, st: &str) {
    let mut c = db.client();
    c.batch_execute(settings).unwrap();
    assert_stream_table_matches_query(&mut c, st);
}

#[test]
fn datestyle_and_float_literals_mean_what_they_meant_at_creation() {
    let (db, mut c) = db();
    c.batch_execute(
        "CREATE TABLE ev (id int, d date, x float8);
         INSERT INTO ev VALUES (1, '2024-02-01', 1), (2, '2024-01-02', 1.0000000000000002);
         SET DateStyle = 'SQL, DMY'; SET extra_float_digits = -3;
         SELECT pgtrickle.create_stream_table('feb_first', $$SELECT id FROM ev WHERE d = '01/02/2024'$$, refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('exact', $$SELECT id FROM ev WHERE x = '1.0000000000000002'::float8$$, refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('as_text', $$SELECT id, d::text AS t FROM ev$$, refresh_mode => 'FULL');",
    )
    .unwrap();
    // Another session, other settings, refreshes after new rows arrive.
    let mut other = db.client();
    other
        .batch_execute(
            "SET DateStyle = 'ISO, MDY'; SET extra_float_digits = 3;
             INSERT INTO ev VALUES (3, '2024-02-01', 1.0000000000000002), (4, '2024-01-02', 1);
             SELECT pgtrickle.refresh_stream_table('feb_first');
             SELECT pgtrickle.refresh_stream_table('exact');
             SELECT pgtrickle.refresh_stream_table('as_text');",
        )
        .unwrap();
    let ids: Vec<i32> = c
        .query("SELECT id FROM feb_first ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![1, 3], "'01/02/2024' is 1 February under DMY");
    let ids: Vec<i32> = c
        .query("SELECT id FROM exact ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![2, 3]);
    matches_under(&db, "SET DateStyle = 'SQL, DMY'", "as_text");
}

#[test]
fn timezone_dependent_expressions_follow_the_creators_timezone() {
    let (db, mut c) = db();
    c.batch_execute(
        "CREATE TABLE t (id int, ts timestamptz);
         INSERT INTO t SELECT g, '2024-03-09 12:00+00'::timestamptz + g * interval '5 hours' FROM generate_series(1, 20) g;
         SET TimeZone = 'America/New_York';
         SELECT pgtrickle.create_stream_table('days', $$SELECT id, date_trunc('day', ts) AS day, to_char(ts, 'YYYY-MM-DD HH24') AS h,
                                                      ts + interval '1 day' AS next FROM t$$, refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('per_day', $$SELECT date_trunc('day', ts) AS day, count(*) AS n FROM t GROUP BY 1$$, refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    let mut other = db.client();
    other
        .batch_execute(
            "SET TimeZone = 'Asia/Tokyo';
             INSERT INTO t SELECT g, '2024-03-10 01:30+00'::timestamptz + g * interval '7 hours' FROM generate_series(100, 110) g;
             DELETE FROM t WHERE id % 3 = 0;
             SELECT pgtrickle.refresh_stream_table('days'); SELECT pgtrickle.refresh_stream_table('per_day');",
        )
        .unwrap();
    for st in ["days", "per_day"] {
        matches_under(&db, "SET TimeZone = 'America/New_York'", st);
    }
}

#[test]
fn row_identities_do_not_depend_on_client_encoding() {
    let (_db, mut c) = db();
    c.batch_execute(
        "CREATE TABLE names (id int, n text);
         INSERT INTO names VALUES (1, 'Müller'), (2, 'Łódź'), (3, 'plain'), (3, 'plain');
         SELECT pgtrickle.create_stream_table('bag', 'SELECT n FROM names', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('groups', 'SELECT n, count(*) AS c FROM names GROUP BY n', refresh_mode => 'DIFFERENTIAL');
         INSERT INTO names VALUES (4, 'Müller'), (5, 'café');",
    )
    .unwrap();
    // A refresh in a session whose client encoding is LATIN1 (set locally, so this client
    // keeps talking UTF-8), then deletes and a refresh in UTF-8.
    c.batch_execute(
        "DO $$ BEGIN
            PERFORM pg_catalog.set_config('client_encoding', 'LATIN1', true);
            PERFORM pgtrickle.refresh_stream_table('bag');
            PERFORM pgtrickle.refresh_stream_table('groups');
         END $$;
         DELETE FROM names WHERE id IN (1, 4, 5);
         SELECT pgtrickle.refresh_stream_table('bag'); SELECT pgtrickle.refresh_stream_table('groups');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "bag");
    assert_stream_table_matches_query(&mut c, "groups");
}

#[test]
fn collations_travel_into_change_buffers() {
    let (_db, mut c) = db();
    c.batch_execute(
        "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
         CREATE TABLE p (id int, name text COLLATE ci, tr text COLLATE \"tr-x-icu\", cc text COLLATE \"C\");
         INSERT INTO p VALUES (1, 'ABC', 'i', 'b'), (2, 'abc', 'ı', 'B');
         SELECT pgtrickle.create_stream_table('ci_match', $$SELECT id FROM p WHERE name = 'Abc'$$, refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('upper_tr', $$SELECT id, upper(tr) AS u FROM p$$, refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('c_range', $$SELECT id FROM p WHERE cc < 'a'$$, refresh_mode => 'DIFFERENTIAL');
         INSERT INTO p VALUES (3, 'aBc', 'i', 'Z'), (4, 'xyz', 'I', 'z');
         UPDATE p SET name = 'ABC' WHERE id = 4;",
    )
    .unwrap();
    for st in ["ci_match", "upper_tr", "c_range"] {
        refresh(&mut c, st);
        assert_stream_table_matches_query(&mut c, st);
    }
    let n: i64 = c
        .query_one("SELECT count(*) FROM ci_match", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 4, "case-insensitive equality matches every spelling");
    // Changing a used column's collation is noticed.
    c.batch_execute("ALTER TABLE p ALTER COLUMN cc SET DATA TYPE text COLLATE \"en-x-icu\"")
        .unwrap();
    let (status, reason): (String, String) = {
        let r = c
            .query_one("SELECT status, status_reason FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'c_range'", &[])
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(status, "ERROR");
    assert!(reason.contains("COLLATE"), "{reason}");
}

#[test]
fn rewrites_of_a_source_make_the_next_refresh_full() {
    let (_db, mut c) = db();
    c.batch_execute(
        "CREATE TABLE r (id int, v int); INSERT INTO r SELECT g, g FROM generate_series(1, 30) g;
         SELECT pgtrickle.create_stream_table('sums', 'SELECT v % 3 AS g, sum(v) AS s FROM r GROUP BY 1', refresh_mode => 'DIFFERENTIAL');
         INSERT INTO r VALUES (100, 100);
         ALTER TABLE r ALTER COLUMN v TYPE int USING v * 2;",
    )
    .unwrap();
    refresh(&mut c, "sums");
    assert_stream_table_matches_query(&mut c, "sums");
    let reason: String = c
        .query_one(
            "SELECT reason FROM pgtrickle.pgt_refresh_history ORDER BY refresh_id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(reason.contains("rewrite"), "{reason}");
}

#[test]
fn numeric_sums_survive_nan_and_truncate_with_not_null_domains() {
    let (_db, mut c) = db();
    c.batch_execute(
        "CREATE DOMAIN money_nn AS numeric(10,2) NOT NULL;
         CREATE TABLE m (id int, g int, x numeric(10,2), y money_nn);
         INSERT INTO m SELECT i, i % 3, i, i FROM generate_series(1, 12) i;
         SELECT pgtrickle.create_stream_table('s', 'SELECT g, sum(x) AS sx, avg(x) AS ax, sum(y) AS sy, count(*) AS n FROM m GROUP BY g', refresh_mode => 'DIFFERENTIAL');
         INSERT INTO m VALUES (100, 1, 'NaN', 1);",
    )
    .unwrap();
    refresh(&mut c, "s");
    assert_stream_table_matches_query(&mut c, "s");
    c.batch_execute("DELETE FROM m WHERE id = 100; UPDATE m SET x = x + 1 WHERE g = 1;")
        .unwrap();
    refresh(&mut c, "s");
    assert_stream_table_matches_query(&mut c, "s");
    // TRUNCATE writes a marker row; the NOT NULL domain column must not refuse it.
    c.batch_execute("TRUNCATE m; INSERT INTO m VALUES (1, 1, 5, 5);")
        .unwrap();
    refresh(&mut c, "s");
    assert_stream_table_matches_query(&mut c, "s");
}

#[test]
fn constructs_that_cannot_be_maintained_are_refused_or_fall_back() {
    let (_db, mut c) = db();
    c.batch_execute(
        "CREATE TABLE base (id int, v int, ts timestamp);
         INSERT INTO base SELECT g, g, '2024-01-01'::timestamp + g * interval '1 day' FROM generate_series(1, 50) g;
         CREATE TABLE gen (id int, v int, w int GENERATED ALWAYS AS (v * 2) VIRTUAL, s int GENERATED ALWAYS AS (v * 3) STORED);
         INSERT INTO gen (id, v) SELECT g, g FROM generate_series(1, 10) g;
         CREATE FUNCTION lookup_v(int) RETURNS int LANGUAGE sql STABLE AS $$ SELECT $1 + 1 $$;",
    )
    .unwrap();
    let refused = [
        "SELECT id FROM base TABLESAMPLE SYSTEM (50)",
        "SELECT id, age(ts) AS a FROM base",
        "SELECT id, lookup_v(v) AS l FROM base",
        "SELECT id, w FROM gen",
        "SELECT id, current_user AS u FROM base",
    ];
    for (i, q) in refused.iter().enumerate() {
        expect_sql_error(
            &mut c,
            &format!("SELECT pgtrickle.create_stream_table('r{i}', $q${q}$q$, refresh_mode => 'DIFFERENTIAL')"),
            SqlState::FEATURE_NOT_SUPPORTED,
            "cannot maintain",
        );
        // AUTO falls back to FULL and records why.
        c.batch_execute(&format!(
            "SELECT pgtrickle.create_stream_table('a{i}', $q${q}$q$)"
        ))
        .unwrap();
        let (mode, reason): (String, String) = {
            let r = c
                .query_one("SELECT effective_refresh_mode, refresh_mode_reason FROM pgtrickle.pgt_stream_tables WHERE pgt_name = $1", &[&format!("a{i}")])
                .unwrap();
            (r.get(0), r.get(1))
        };
        assert_eq!(mode, "FULL", "{q}");
        assert!(reason.starts_with("AUTO chose FULL"), "{reason}");
    }
    // Stored generated columns are captured like any column.
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('stored', 'SELECT id, s FROM gen WHERE s > 6', refresh_mode => 'DIFFERENTIAL');
         UPDATE gen SET v = v + 10 WHERE id < 4; DELETE FROM gen WHERE id = 9;",
    )
    .unwrap();
    refresh(&mut c, "stored");
    assert_stream_table_matches_query(&mut c, "stored");
    // The message for SQL value functions says what they are.
    let e = expect_sql_error(
        &mut c,
        "SELECT pgtrickle.create_stream_table('u', 'SELECT id, current_user AS u FROM base', refresh_mode => 'DIFFERENTIAL')",
        SqlState::FEATURE_NOT_SUPPORTED,
        "cannot maintain",
    );
    assert!(e.detail.unwrap_or_default().contains("role-dependent"));
}
