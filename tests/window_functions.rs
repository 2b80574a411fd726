//! Window functions (ADR-057): the partitions a change touches are recomputed. The
//! randomized shapes are in `differential_oracle.rs`; here, what a shape comparison cannot
//! show: rows tied in the ORDER BY still get one consistent numbering across many
//! refreshes, one changed row reads its partition through an index and not the table, an
//! update moving a row between partitions, and the refused forms name themselves.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::{
    analyzed_refresh_plan, assert_stream_table_matches_query, cluster, expect_sql_error,
};

#[test]
fn tied_rows_keep_one_numbering_across_refreshes() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE ev (id int PRIMARY KEY, k int, v int, note text);
         INSERT INTO ev SELECT i, i % 6, i % 3, 'n' || (i % 4) FROM generate_series(1, 120) i;
         -- v ties within every partition: which tied row gets which number is PostgreSQL's
         -- choice, and the lag/lead neighbours with it.
         SELECT pgtrickle.create_stream_table('numbered',
           'SELECT k, v, note, row_number() OVER (PARTITION BY k ORDER BY v) AS rn,
                   lag(note) OVER (PARTITION BY k ORDER BY v) AS prev,
                   sum(v) OVER (PARTITION BY k ORDER BY v ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s3
              FROM ev', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    for round in 0..8 {
        c.batch_execute(&format!(
            "UPDATE ev SET v = (v + {round}) % 3, note = 'n' || ((id + {round}) % 4) WHERE id % 5 = {m};
             UPDATE ev SET k = (k + 1) % 6 WHERE id % 17 = {round};
             DELETE FROM ev WHERE id % 19 = {round};
             INSERT INTO ev SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE i % 6 END, i % 3, 'n' || (i % 4)
               FROM generate_series(200 + 10 * {round}, 204 + 10 * {round}) i;
             SELECT pgtrickle.refresh_stream_table('numbered');",
            m = round % 5
        ))
        .unwrap();
        // Each partition is numbered 1..n once, the rows are the input's, and each row's
        // number agrees with its ORDER BY value (ties aside).
        let bad: i64 = c
            .query_one(
                "SELECT (SELECT count(*) FROM (SELECT k FROM numbered GROUP BY k
                           HAVING count(DISTINCT rn) <> count(*) OR max(rn) <> count(*) OR min(rn) <> 1) x)
                      + (SELECT count(*) FROM (SELECT k, v, note FROM numbered EXCEPT ALL SELECT k, v, note FROM ev) x)
                      + (SELECT count(*) FROM (SELECT k, v, note FROM ev EXCEPT ALL SELECT k, v, note FROM numbered) x)
                      + (SELECT count(*) FROM numbered a JOIN numbered b ON a.k IS NOT DISTINCT FROM b.k
                          WHERE a.v < b.v AND a.rn > b.rn)
                      + (SELECT count(*) FROM numbered a WHERE a.rn > 1 AND NOT EXISTS (
                           SELECT 1 FROM numbered b WHERE b.k IS NOT DISTINCT FROM a.k AND b.rn = a.rn - 1
                              AND b.note IS NOT DISTINCT FROM a.prev
                              AND a.s3 = b.s3 + a.v - coalesce((SELECT c.v FROM numbered c
                                    WHERE c.k IS NOT DISTINCT FROM a.k AND c.rn = a.rn - 3), 0)))",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(
            bad, 0,
            "round {round}: a numbering that no evaluation of the query gives"
        );
    }
}

#[test]
fn one_changed_row_recomputes_its_partition_only() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE sales (id bigint PRIMARY KEY, shop int NOT NULL, day int, amount numeric(10,2));
         INSERT INTO sales SELECT i, i % 2000, i % 365, (i % 1000) / 10.0 FROM generate_series(1, 200000) i;
         CREATE INDEX ON sales (shop);
         ANALYZE sales;
         SELECT pgtrickle.create_stream_table('ranked',
           'SELECT id, shop, amount, rank() OVER (PARTITION BY shop ORDER BY amount DESC) AS r,
                   sum(amount) OVER (PARTITION BY shop ORDER BY day, id) AS running
              FROM sales', refresh_mode => 'DIFFERENTIAL');
         UPDATE sales SET amount = amount + 1 WHERE id = 4242;",
    )
    .unwrap();
    let plan = analyzed_refresh_plan(&mut c, "ranked");
    let seq = plan
        .lines()
        .filter(|l| l.contains("Seq Scan on sales") && !l.contains("never executed"))
        .count();
    assert_eq!(seq, 0, "the delta reads the whole table:\n{plan}");
    c.batch_execute(
        "SELECT pgtrickle.refresh_stream_table('ranked');
         UPDATE sales SET shop = 7 WHERE id BETWEEN 100 AND 120;  -- rows move between partitions
         DELETE FROM sales WHERE shop = 9;                        -- a partition empties
         SELECT pgtrickle.refresh_stream_table('ranked');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "ranked");
}

#[test]
fn windows_whose_values_ties_would_decide_are_refused_by_name() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute("CREATE TABLE t (k int, v int, x text)")
        .unwrap();
    for (query, named) in [
        (
            "SELECT k, last_value(x) OVER (PARTITION BY k ORDER BY v) FROM t",
            "last_value",
        ),
        (
            "SELECT k, array_agg(x) OVER (PARTITION BY k ORDER BY v) FROM t",
            "array_agg",
        ),
        (
            "SELECT k, nth_value(x, 2) OVER (PARTITION BY k ORDER BY v ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE TIES) FROM t",
            "EXCLUDE",
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
    // The same functions over a ROWS frame (or the whole partition) are maintained, and in
    // AUTO the refused form is recomputed in full with the reason recorded.
    c.batch_execute(
        "INSERT INTO t SELECT i % 5, i, 'x' || i FROM generate_series(1, 40) i;
         SELECT pgtrickle.create_stream_table('rows_frame',
           'SELECT k, v, last_value(x) OVER (PARTITION BY k ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS lx,
                   array_agg(v) OVER (PARTITION BY k ORDER BY v ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS pair FROM t',
           refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('auto_refused',
           'SELECT k, last_value(x) OVER (PARTITION BY k ORDER BY v) AS lx FROM t');
         UPDATE t SET v = v + 100 WHERE v % 3 = 0;
         SELECT pgtrickle.refresh_stream_table('rows_frame');
         SELECT pgtrickle.refresh_stream_table('auto_refused');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "rows_frame");
    assert_stream_table_matches_query(&mut c, "auto_refused");
}
