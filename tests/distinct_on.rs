//! `DISTINCT ON`: the first row of each group by the query's ORDER BY, maintained by
//! recomputing the affected groups (ADR-009, "Decided later"). The randomized shapes are
//! in `differential_oracle.rs`; here, what a shape comparison cannot show: with an ORDER BY
//! that leaves ties, every stored row is still one whole row of the query's input (never
//! columns from two rows), and the refused form names itself.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::{assert_stream_table_matches_query, cluster, expect_sql_error};

#[test]
fn ties_keep_one_whole_row_per_group() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE ev (id int PRIMARY KEY, k int, a text, b int);
         INSERT INTO ev SELECT i, i % 5, 'a' || (i % 3), i % 7 FROM generate_series(1, 60) i;
         SELECT pgtrickle.create_stream_table('latest', 'SELECT DISTINCT ON (k) k, a, b FROM ev ORDER BY k, a DESC', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('latest_total', 'SELECT DISTINCT ON (k) k, id, a FROM ev ORDER BY k, b DESC, id', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    for round in 0..6 {
        c.batch_execute(&format!(
            "UPDATE ev SET a = 'a' || ((id + {round}) % 4), b = (b + {round}) % 7 WHERE id % 4 = {m};
             DELETE FROM ev WHERE id % 13 = {round};
             INSERT INTO ev SELECT i, CASE WHEN i % 9 = 0 THEN NULL ELSE i % 5 END, 'a' || (i % 3), i % 7
               FROM generate_series(100 + 10 * {round}, 105 + 10 * {round}) i;
             SELECT pgtrickle.refresh_stream_table('latest');
             SELECT pgtrickle.refresh_stream_table('latest_total');",
            m = round % 4
        ))
        .unwrap();
        // One row per group, and each is a row of the input that sorts first in its group.
        let bad: i64 = c
            .query_one(
                "SELECT (SELECT count(*) FROM (SELECT k FROM latest GROUP BY k HAVING count(*) > 1) d)
                      + (SELECT count(*) FROM latest l WHERE NOT EXISTS (
                            SELECT 1 FROM ev e WHERE e.k IS NOT DISTINCT FROM l.k AND e.a = l.a AND e.b = l.b
                               AND e.a = (SELECT max(e2.a) FROM ev e2 WHERE e2.k IS NOT DISTINCT FROM l.k)))
                      + (SELECT count(*) FROM (SELECT DISTINCT k FROM ev) g WHERE NOT EXISTS (
                            SELECT 1 FROM latest l WHERE l.k IS NOT DISTINCT FROM g.k))",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(
            bad, 0,
            "round {round}: a group with no row, two rows, or a row not first in its group"
        );
        // With a total ORDER BY the stored rows are exactly the query's.
        assert_stream_table_matches_query(&mut c, "latest_total");
    }
}

#[test]
fn distinct_on_over_an_aggregate_is_refused_by_name() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute("CREATE TABLE t (k int, v int)").unwrap();
    let e = expect_sql_error(
        &mut c,
        "SELECT pgtrickle.create_stream_table('s', 'SELECT DISTINCT ON (k) k, sum(v) FROM t GROUP BY k ORDER BY k', refresh_mode => 'DIFFERENTIAL')",
        SqlState::FEATURE_NOT_SUPPORTED,
        "cannot maintain stream table",
    );
    let said = format!("{:?} {:?}", e.detail, e.hint);
    assert!(
        said.contains("DISTINCT ON over GROUP BY or aggregates") && said.contains("subquery"),
        "{said}"
    );
    // Written with the grouping in a subquery, it is maintained.
    c.batch_execute(
        "INSERT INTO t SELECT i % 4, i FROM generate_series(1, 20) i;
         SELECT pgtrickle.create_stream_table('s', 'SELECT DISTINCT ON (k % 2) k % 2 AS parity, k, s FROM (SELECT k, sum(v) AS s FROM t GROUP BY k) g ORDER BY k % 2, s DESC, k', refresh_mode => 'DIFFERENTIAL');
         UPDATE t SET v = v * 3 WHERE k = 1;
         SELECT pgtrickle.refresh_stream_table('s');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "s");
}
