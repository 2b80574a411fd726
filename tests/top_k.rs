//! `ORDER BY … LIMIT k [OFFSET n]` at the top of a query: the stream table keeps exactly
//! the first k rows (ADR-044). The randomized shapes are in `differential_oracle.rs`; here,
//! members leaving and entering one at a time, a change below the boundary that does not
//! read the source table, fewer rows than the limit, and the refused forms by name.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::{assert_stream_table_matches_query, cluster, expect_sql_error};

fn refresh(c: &mut pgt_testkit::postgres::Client, st: &str) {
    c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
        .unwrap();
}

#[test]
fn members_leave_and_enter_the_top() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, score int, tag text);
         INSERT INTO t SELECT i, (i * 37) % 101, 't' || (i % 3) FROM generate_series(1, 200) i;
         SELECT pgtrickle.create_stream_table('top5', 'SELECT id, score, tag FROM t ORDER BY score DESC, id LIMIT 5', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('bottom3_nulls', 'SELECT score, id FROM t ORDER BY score NULLS FIRST, id DESC LIMIT 3', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('window', 'SELECT id, score FROM t ORDER BY score DESC, id LIMIT 4 OFFSET 3', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    let steps = [
        // the best row leaves: the boundary is read again
        "DELETE FROM t WHERE id = (SELECT id FROM t ORDER BY score DESC, id LIMIT 1)",
        // a new best row enters, pushing the last member out
        "INSERT INTO t VALUES (1001, 500, 'new')",
        // a member falls below the boundary
        "UPDATE t SET score = -1 WHERE id = 1001",
        // a row from far below rises into the middle of the top
        "UPDATE t SET score = 99 WHERE id = (SELECT id FROM t ORDER BY score, id LIMIT 1)",
        // ties on the score, broken by id
        "INSERT INTO t VALUES (2, 100, 'tie') ON CONFLICT (id) DO UPDATE SET score = 100",
        "INSERT INTO t VALUES (0, 100, 'tie0')",
        // NULL scores: first in bottom3_nulls, last in the others
        "INSERT INTO t VALUES (3001, NULL, 'n1'), (3002, NULL, 'n2')",
        "UPDATE t SET score = NULL WHERE id IN (SELECT id FROM t ORDER BY score DESC NULLS LAST, id LIMIT 2)",
        // several members leave at once and a few rows enter
        "DELETE FROM t WHERE score > 90; INSERT INTO t VALUES (4001, 95, 'a'), (4002, 96, 'b')",
        // a change that touches nothing near either end
        "UPDATE t SET tag = 'z' WHERE score BETWEEN 40 AND 60",
        // everything goes, then comes back
        "DELETE FROM t",
        "INSERT INTO t SELECT i, i % 17, NULL FROM generate_series(1, 12) i",
    ];
    for (i, sql) in steps.iter().enumerate() {
        c.batch_execute(sql).unwrap();
        for st in ["top5", "bottom3_nulls", "window"] {
            refresh(&mut c, st);
            assert_stream_table_matches_query(&mut c, st);
        }
        let (n, rows): (i64, i64) = c
            .query_one(
                "SELECT (SELECT count(*) FROM top5), (SELECT count(*) FROM t)",
                &[],
            )
            .map(|r| (r.get(0), r.get(1)))
            .unwrap();
        assert_eq!(n, rows.min(5), "step {i}: the top holds exactly LIMIT rows");
    }
}

/// Rows that enter below the boundary change nothing, and the refresh reads only the
/// change buffer: the source table is not scanned.
#[test]
fn a_change_below_the_boundary_does_not_read_the_table() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, score int);
         INSERT INTO t SELECT i, i FROM generate_series(1, 1000) i;
         SELECT pgtrickle.create_stream_table('top', 'SELECT id, score FROM t ORDER BY score DESC, id LIMIT 10', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    let scans = |c: &mut pgt_testkit::postgres::Client| -> i64 {
        c.batch_execute("SELECT pg_catalog.pg_stat_force_next_flush()")
            .unwrap();
        // A new transaction sees the flushed counters.
        c.batch_execute("SELECT pg_catalog.pg_stat_clear_snapshot()")
            .unwrap();
        c.query_one(
            "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_catalog.pg_stat_user_tables WHERE relid = 't'::regclass",
            &[],
        )
        .unwrap()
        .get(0)
    };
    // Warm up: the first refresh of a session may read the table while planning.
    c.batch_execute("INSERT INTO t VALUES (-1, -1)").unwrap();
    refresh(&mut c, "top");
    c.batch_execute(
        "INSERT INTO t SELECT -i, -i FROM generate_series(2, 50) i;
         UPDATE t SET score = score - 1 WHERE id BETWEEN 100 AND 200;
         DELETE FROM t WHERE id BETWEEN 300 AND 310;",
    )
    .unwrap();
    let before = scans(&mut c);
    refresh(&mut c, "top");
    let after = scans(&mut c);
    assert_stream_table_matches_query(&mut c, "top");
    assert_eq!(before, after, "the refresh scanned the source table");
    // A member leaving reads the window again (and stays exact).
    c.batch_execute("DELETE FROM t WHERE id = 1000").unwrap();
    refresh(&mut c, "top");
    assert_stream_table_matches_query(&mut c, "top");
}

#[test]
fn fewer_rows_than_the_limit_and_limit_zero() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE t (k int, v int);
         INSERT INTO t VALUES (1, 1), (1, 1), (2, NULL);
         SELECT pgtrickle.create_stream_table('few', 'SELECT k, v FROM t ORDER BY v DESC, k LIMIT 10', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('none', 'SELECT k FROM t ORDER BY k LIMIT 0', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('grouped', 'SELECT k, count(*) AS n, sum(v) AS s FROM t GROUP BY k ORDER BY n DESC, k LIMIT 2', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    for sql in [
        "INSERT INTO t VALUES (1, 1), (3, 7)",
        "DELETE FROM t WHERE k = 1 AND ctid = (SELECT min(ctid) FROM t WHERE k = 1)",
        "UPDATE t SET k = 4 WHERE k = 2",
        "INSERT INTO t SELECT i % 5, i FROM generate_series(1, 30) i",
        "DELETE FROM t WHERE v > 3",
        "DELETE FROM t",
    ] {
        c.batch_execute(sql).unwrap();
        for st in ["few", "none", "grouped"] {
            refresh(&mut c, st);
            assert_stream_table_matches_query(&mut c, st);
        }
    }
}

#[test]
fn limits_that_cannot_be_kept_are_refused_by_name() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute("CREATE TABLE t (k int, v int)").unwrap();
    for (query, named) in [
        ("SELECT k FROM t LIMIT 3", "LIMIT without ORDER BY"),
        (
            "SELECT k FROM t ORDER BY k FETCH FIRST 3 ROWS WITH TIES",
            "WITH TIES",
        ),
        (
            "SELECT s.k FROM (SELECT k FROM t ORDER BY k LIMIT 3) s",
            "LIMIT/OFFSET in a subquery",
        ),
        (
            "SELECT k FROM t ORDER BY k OFFSET 2",
            "OFFSET without LIMIT",
        ),
        (
            "SELECT k FROM t ORDER BY k LIMIT (SELECT 3)",
            "not a constant",
        ),
    ] {
        let e = expect_sql_error(
            &mut c,
            &format!("SELECT pgtrickle.create_stream_table('s', $q${query}$q$, refresh_mode => 'DIFFERENTIAL')"),
            SqlState::FEATURE_NOT_SUPPORTED,
            "cannot maintain stream table",
        );
        let said = format!("{:?} {:?}", e.detail, e.hint);
        assert!(said.contains(named), "{query}: {said}");
    }
    // An ORDER BY over columns the query does not select is kept in hidden columns.
    c.batch_execute(
        "INSERT INTO t VALUES (1, 2), (2, 1), (7, 100), (8, NULL);
         SELECT pgtrickle.create_stream_table('by_v', 'SELECT k FROM t ORDER BY v DESC, k LIMIT 2', refresh_mode => 'DIFFERENTIAL');
         INSERT INTO t VALUES (9, 200), (3, 0);
         DELETE FROM t WHERE k = 7;
         SELECT pgtrickle.refresh_stream_table('by_v');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "by_v");
    // In AUTO a LIMIT that cannot be kept is created and refreshed in full.
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('s', 'SELECT k FROM t ORDER BY k LIMIT 1 OFFSET (SELECT 1)');
         INSERT INTO t VALUES (0, 0);
         SELECT pgtrickle.refresh_stream_table('s');",
    )
    .unwrap();
    let k: i32 = c.query_one("SELECT k FROM s", &[]).unwrap().get(0);
    assert_eq!(k, 1);
}
