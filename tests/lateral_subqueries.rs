//! LATERAL subqueries (ADR-041): decorrelated into per-key groupings, windows and joins.
//! The randomized shapes are in `differential_oracle.rs`; here, what a shape comparison
//! cannot show: the latest row per customer stays right as orders come and go, and a
//! one-row change reads its key through an index, not the table; tied rows are picked the
//! same way at every refresh; the refused forms name themselves, and AUTO recomputes them.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::{
    analyzed_refresh_plan, assert_stream_table_matches_query, cluster, expect_sql_error,
};

fn seq_scans(plan: &str, table: &str) -> usize {
    plan.lines()
        .filter(|l| l.contains(&format!("Seq Scan on {table}")) && !l.contains("never executed"))
        .count()
}

#[test]
fn latest_order_per_customer_follows_one_changed_row() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE customers (id int PRIMARY KEY, name text);
         CREATE TABLE orders (id bigint PRIMARY KEY, customer int, placed int, total numeric(10,2));
         INSERT INTO customers SELECT i, 'c' || i FROM generate_series(1, 5000) i;
         INSERT INTO orders SELECT i, i % 5000 + 1, i % 97, (i % 1000) / 10.0 FROM generate_series(1, 200000) i;
         CREATE INDEX ON orders (customer);
         ANALYZE customers; ANALYZE orders;
         SELECT pgtrickle.create_stream_table('latest',
           'SELECT c.id, c.name, o.id AS order_id, o.placed, o.total
              FROM customers c
              LEFT JOIN LATERAL (SELECT o.id, o.placed, o.total FROM orders o
                                  WHERE o.customer = c.id ORDER BY o.placed DESC, o.id DESC LIMIT 1) o ON true',
           refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('spend',
           'SELECT c.id, s.n, s.spent
              FROM customers c,
                   LATERAL (SELECT count(*) AS n, sum(o.total) AS spent FROM orders o WHERE o.customer = c.id) s',
           refresh_mode => 'DIFFERENTIAL');
         UPDATE orders SET placed = 500 WHERE id = 4242;",
    )
    .unwrap();
    for name in ["latest", "spend"] {
        let plan = analyzed_refresh_plan(&mut c, name);
        assert_eq!(
            seq_scans(&plan, "orders"),
            0,
            "{name} reads every order:\n{plan}"
        );
    }
    c.batch_execute(
        "SELECT pgtrickle.refresh_stream_table('latest');
         SELECT pgtrickle.refresh_stream_table('spend');
         DELETE FROM orders WHERE customer = 17;                      -- no order left: NULLs, count 0
         DELETE FROM orders WHERE id = (SELECT max(id) FROM orders WHERE customer = 18 AND placed = 96);
         UPDATE orders SET customer = 19 WHERE customer = 20;          -- rows move between keys
         INSERT INTO customers VALUES (6001, 'new');                   -- a customer without orders
         INSERT INTO orders VALUES (900001, 6001, 3, 1.5), (900002, NULL, 99, 2.5);
         SELECT pgtrickle.refresh_stream_table('latest');
         SELECT pgtrickle.refresh_stream_table('spend');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "latest");
    assert_stream_table_matches_query(&mut c, "spend");
    let (n, spent): (i64, Option<String>) = {
        let r = c
            .query_one("SELECT n, spent::text FROM spend WHERE id = 17", &[])
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((n, spent), (0, None), "a customer without orders counts 0");
}

#[test]
fn tied_rows_are_picked_alike_at_every_refresh() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE k (id int PRIMARY KEY);
         CREATE TABLE ev (id int PRIMARY KEY, k int, prio int, note text);
         INSERT INTO k SELECT generate_series(1, 10);
         INSERT INTO ev SELECT i, i % 10 + 1, i % 2, 'n' || i FROM generate_series(1, 300) i;
         -- prio ties within every key: which two rows LIMIT keeps is PostgreSQL's choice.
         SELECT pgtrickle.create_stream_table('top2',
           'SELECT k.id, t.id AS ev_id, t.prio FROM k,
                   LATERAL (SELECT ev.id, ev.prio FROM ev WHERE ev.k = k.id ORDER BY ev.prio DESC LIMIT 2) t',
           refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    for round in 0..8 {
        c.batch_execute(&format!(
            "UPDATE ev SET prio = (prio + 1) % 2 WHERE id % 7 = {round};
             DELETE FROM ev WHERE id % 23 = {round};
             INSERT INTO ev SELECT i, i % 10 + 1, i % 2, 'm' || i FROM generate_series(1000 + 10 * {round}, 1004 + 10 * {round}) i;
             SELECT pgtrickle.refresh_stream_table('top2');"
        ))
        .unwrap();
        // Two rows per key, each a row of the key with the top priority first.
        let bad: i64 = c
            .query_one(
                "SELECT (SELECT count(*) FROM (SELECT id FROM top2 GROUP BY id HAVING count(DISTINCT ev_id) <> 2) x)
                      + (SELECT count(*) FROM top2 t LEFT JOIN ev ON ev.id = t.ev_id AND ev.k = t.id AND ev.prio = t.prio
                          WHERE ev.id IS NULL)
                      + (SELECT count(*) FROM top2 t WHERE t.prio < (SELECT max(prio) FROM ev WHERE ev.k = t.id)
                          AND (SELECT count(*) FROM ev WHERE ev.k = t.id AND ev.prio > t.prio) >= 2)",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(
            bad, 0,
            "round {round}: rows no evaluation of the query keeps"
        );
    }
}

#[test]
fn lateral_subqueries_that_cannot_be_decorrelated_are_refused_by_name() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE a (id int, k int, v int);
         CREATE TABLE b (k int, w int);
         INSERT INTO a SELECT i, i % 4, i FROM generate_series(1, 30) i;
         INSERT INTO b SELECT i % 4, i FROM generate_series(1, 12) i;",
    )
    .unwrap();
    for (query, named) in [
        (
            "SELECT b.k, t.id FROM b, LATERAL (SELECT a.id FROM a WHERE a.v > b.w ORDER BY a.v LIMIT 1) t",
            "equalities",
        ),
        (
            "SELECT b.k, t.x FROM b, LATERAL (SELECT a.v + b.w AS x FROM a WHERE a.k = b.k) t",
            "SELECT list",
        ),
        (
            "SELECT b.k, t.id FROM b, LATERAL (SELECT a.id FROM a WHERE a.k = b.k ORDER BY a.v FETCH FIRST 1 ROWS WITH TIES) t",
            "WITH TIES",
        ),
        (
            "SELECT b.k, t.id FROM b, LATERAL (SELECT a.id FROM a WHERE a.k = b.k UNION SELECT b.w) t",
            "set operation",
        ),
        (
            "SELECT b.k, t.n FROM b LEFT JOIN LATERAL (SELECT count(*) AS n FROM a WHERE a.k = b.k) t ON t.n > 2",
            "ON a condition",
        ),
    ] {
        let e = expect_sql_error(
            &mut c,
            &format!("SELECT pgtrickle.create_stream_table('s', $q${query}$q$, refresh_mode => 'DIFFERENTIAL')"),
            SqlState::FEATURE_NOT_SUPPORTED,
            "cannot maintain stream table",
        );
        let said = format!("{:?} {:?}", e.detail, e.hint);
        assert!(said.contains("LATERAL subquery"), "{query}: {said}");
        assert!(said.contains(named), "{query}: {said}");
    }
    // In AUTO a refused form is recomputed in full, with the reason recorded.
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('nearest',
           'SELECT b.k, b.w, t.id FROM b, LATERAL (SELECT a.id FROM a WHERE a.v > b.w ORDER BY a.v, a.id LIMIT 1) t');
         UPDATE a SET v = v + 3 WHERE id % 5 = 0;
         SELECT pgtrickle.refresh_stream_table('nearest');",
    )
    .unwrap();
    let (mode, reason): (String, Option<String>) = {
        let r = c
            .query_one(
                "SELECT effective_refresh_mode, refresh_mode_reason FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'nearest'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(mode, "FULL");
    assert!(reason.unwrap_or_default().contains("LATERAL subquery"));
    assert_stream_table_matches_query(&mut c, "nearest");
}
