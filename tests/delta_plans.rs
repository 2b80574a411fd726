//! Delta plans whose cost follows the change (issue "delta plans"): comma joins become
//! inner joins with known keys, and for a one-row change to the largest table of a
//! TPC-H-Q5-shaped query the delta statement reaches the other tables through their keys
//! (no sequential scan of a large table). `explain_stream_table` shows the trees, the
//! statement and its plan.

use pgt_testkit::postgres::Client;
use pgt_testkit::{assert_stream_table_matches_query, change_buffer, cluster, TestDb};

/// A TPC-H-shaped schema with primary keys only (as `dbgen` ships it), ~60k line items.
const SCHEMA: &str = "
    CREATE TABLE region (r_regionkey int PRIMARY KEY, r_name text NOT NULL);
    CREATE TABLE nation (n_nationkey int PRIMARY KEY, n_name text NOT NULL, n_regionkey int NOT NULL);
    CREATE TABLE supplier (s_suppkey int PRIMARY KEY, s_name text, s_nationkey int NOT NULL, s_comment text);
    CREATE TABLE customer (c_custkey int PRIMARY KEY, c_name text, c_nationkey int NOT NULL, c_comment text);
    CREATE TABLE orders (o_orderkey int PRIMARY KEY, o_custkey int NOT NULL, o_orderdate date NOT NULL, o_comment text);
    CREATE TABLE lineitem (l_orderkey int NOT NULL, l_linenumber int NOT NULL, l_suppkey int NOT NULL,
                           l_extendedprice numeric NOT NULL, l_discount numeric NOT NULL, l_comment text,
                           PRIMARY KEY (l_orderkey, l_linenumber));
    INSERT INTO region SELECT i, (ARRAY['AFRICA','AMERICA','ASIA','EUROPE','MIDDLE EAST'])[i + 1] FROM generate_series(0, 4) i;
    INSERT INTO nation SELECT i, 'NATION' || i, i % 5 FROM generate_series(0, 24) i;
    INSERT INTO supplier SELECT i, 'S' || i, i % 25, repeat('s', 60) FROM generate_series(1, 200) i;
    INSERT INTO customer SELECT i, 'C' || i, i % 25, repeat('c', 80) FROM generate_series(1, 3000) i;
    INSERT INTO orders SELECT i, 1 + (i * 7) % 3000, date '1993-01-01' + (i % 1500), repeat('o', 50) FROM generate_series(1, 15000) i;
    INSERT INTO lineitem SELECT o, l, 1 + (o * 13 + l) % 200, round((o % 1000) * 1.5 + l, 2), (l % 10) / 100.0, repeat('l', 40)
      FROM generate_series(1, 15000) o, generate_series(1, 4) l;
    ANALYZE;";

const Q5: &str = "SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue, count(*) AS n
    FROM customer, orders, lineitem, supplier, nation, region
   WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey
     AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey
     AND r_name = 'ASIA' AND o_orderdate >= date '1994-01-01' AND o_orderdate < date '1995-01-01'
   GROUP BY n_name";

fn db() -> (TestDb, Client) {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(SCHEMA).unwrap();
    (db, c)
}

fn explain(c: &mut Client, st: &str) -> String {
    pgt_testkit::explain_stream_table(c, st)
}

#[test]
fn a_comma_join_is_maintained_through_keys_not_cross_products() {
    let (_db, mut c) = db();
    c.batch_execute(&format!(
        "SELECT pgtrickle.create_stream_table('q5', $q${Q5}$q$, refresh_mode => 'DIFFERENTIAL');"
    ))
    .unwrap();
    // One line item changes.
    c.batch_execute(
        "UPDATE lineitem SET l_discount = 0.07 WHERE l_orderkey = 400 AND l_linenumber = 2;",
    )
    .unwrap();
    let text = explain(&mut c, "q5");
    let written = text.split("operator tree after rewrites:").next().unwrap();
    assert!(
        written.contains("(cross)"),
        "the literal tree is a cross join:\n{text}"
    );
    let (rewritten, rest) = text.split_once("operator tree after rewrites:").unwrap();
    let _ = rewritten;
    let tree = rest.split("delta statement").next().unwrap();
    assert!(!tree.contains("(cross)"), "no cross join is left:\n{tree}");
    assert!(text.contains("\nplan:"), "a plan section:\n{text}");
    // The delta statement under EXPLAIN ANALYZE (rolled back): the terms that start from
    // the unchanged tables are gated off, and the line item's term reaches orders,
    // customer and supplier through their keys. No large table is scanned sequentially.
    let plan: Vec<String> = c
        .query(
            "SELECT * FROM pgtrickle.explain_stream_table('q5', actual => true)",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plan = plan.join("\n");
    let plan = plan
        .split("plan (executed")
        .nth(1)
        .expect("an analyzed plan");
    for big in ["lineitem", "orders", "customer"] {
        let executed = plan
            .lines()
            .filter(|l| l.contains(&format!("Seq Scan on {big} ")) && !l.contains("never executed"))
            .count();
        assert_eq!(
            executed, 0,
            "the delta statement scans {big} sequentially:\n{plan}"
        );
    }
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('q5')")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "q5");
    // A 1% batch: new orders with line items, deleted orders, updates.
    c.batch_execute(
        "INSERT INTO orders SELECT i, 1 + i % 3000, date '1994-03-01' + (i % 200), 'new' FROM generate_series(20001, 20150) i;
         INSERT INTO lineitem SELECT o, 1, 1 + o % 200, 100.25, 0.05, 'new' FROM generate_series(20001, 20150) o;
         DELETE FROM lineitem WHERE l_orderkey BETWEEN 5000 AND 5150;
         DELETE FROM orders WHERE o_orderkey BETWEEN 5000 AND 5150;
         UPDATE lineitem SET l_extendedprice = l_extendedprice + 1 WHERE l_orderkey % 97 = 0;
         SELECT pgtrickle.refresh_stream_table('q5');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "q5");
}

#[test]
fn explain_shows_the_trees_the_statement_and_the_plan() {
    let (_db, mut c) = db();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('by_nation', $$SELECT n_name, count(*) AS c FROM supplier, nation WHERE s_nationkey = n_nationkey GROUP BY n_name$$);
         SELECT pgtrickle.create_stream_table('full_one', $$SELECT n_name, last_value(n_name) OVER (ORDER BY n_regionkey) AS r FROM nation$$);
         INSERT INTO supplier VALUES (1000, 'new', 3, '');",
    )
    .unwrap();
    let text = explain(&mut c, "by_nation");
    for part in [
        "DIFFERENTIAL",
        "operator tree as written:",
        "operator tree after rewrites:",
        "Aggregate by",
        "delta statement for the pending changes:",
        "MERGE INTO",
        "plan:",
    ] {
        assert!(text.contains(part), "missing {part:?}:\n{text}");
    }
    let text = explain(&mut c, "full_one");
    assert!(
        text.contains("FULL") && text.contains("recomputed in full"),
        "{text}"
    );
}

fn last_refresh(c: &mut Client, st: &str) -> (String, Option<String>, i64) {
    let r = c
        .query_one(
            "SELECT h.action, h.reason, h.changes FROM pgtrickle.pgt_refresh_history h
               JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
              WHERE s.pgt_name = $1 ORDER BY h.refresh_id DESC LIMIT 1",
            &[&st],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

/// A delta statement over its work budget is stopped: AUTO recomputes in full and says
/// why, explicit DIFFERENTIAL fails with 53400 and nothing is consumed.
#[test]
fn a_delta_over_its_budget_falls_back_or_fails_cleanly() {
    let (_db, mut c) = db();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('auto_li', 'SELECT o_orderkey, o_comment FROM orders');
         SELECT pgtrickle.create_stream_table('diff_li', 'SELECT o_orderkey, o_comment FROM orders', refresh_mode => 'DIFFERENTIAL');
         UPDATE orders SET o_comment = o_comment || 'x' WHERE o_orderkey % 10 = 0;
         SET pg_trickle.differential_max_change_ratio = 0;
         SET pg_trickle.refresh_work_mem = '64kB';
         SET pg_trickle.differential_temp_file_limit = '64kB';
         SELECT pgtrickle.refresh_stream_table('auto_li');",
    )
    .unwrap();
    let (action, reason, _) = last_refresh(&mut c, "auto_li");
    assert_eq!(action, "FULL");
    let reason = reason.unwrap_or_default();
    assert!(
        reason.contains("exceeded its budget") && reason.contains("differential_temp_file_limit"),
        "{reason}"
    );
    assert_stream_table_matches_query(&mut c, "auto_li");

    c.batch_execute("UPDATE orders SET o_comment = o_comment || 'y' WHERE o_orderkey % 10 = 1")
        .unwrap();
    let e = pgt_testkit::expect_sql_error(
        &mut c,
        "SELECT pgtrickle.refresh_stream_table('diff_li')",
        pgt_testkit::postgres::error::SqlState::CONFIGURATION_LIMIT_EXCEEDED,
        "stopped by its work budget",
    );
    assert!(e.detail.unwrap_or_default().contains("temporary files"));
    // Nothing was consumed: with the budget lifted, the same changes are applied.
    c.batch_execute(
        "RESET pg_trickle.differential_temp_file_limit; RESET pg_trickle.refresh_work_mem;
         SELECT pgtrickle.refresh_stream_table('diff_li');",
    )
    .unwrap();
    let (action, _, changes) = last_refresh(&mut c, "diff_li");
    assert_eq!(action, "DIFFERENTIAL");
    assert!(changes > 0);
    assert_stream_table_matches_query(&mut c, "diff_li");
}

/// AUTO compares the estimated delta cost, from this stream table's own measured
/// refreshes, with the measured cost of recomputing, and records why it chose FULL.
#[test]
fn auto_recomputes_when_its_measurements_say_that_is_cheaper() {
    let (_db, mut c) = db();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('by_supp', 'SELECT l_suppkey, count(*) AS n FROM lineitem GROUP BY l_suppkey');
         SET pg_trickle.differential_max_change_ratio = 0;
         UPDATE lineitem SET l_discount = 0.01 WHERE l_orderkey = 7;
         SELECT pgtrickle.refresh_stream_table('by_supp');",
    )
    .unwrap();
    let (action, _, changes) = last_refresh(&mut c, "by_supp");
    assert_eq!(
        (action.as_str(), changes),
        ("DIFFERENTIAL", 8),
        "4 line items, old and new versions"
    );
    // Measurements in which a change costs 50 ms and a recomputation 20 ms.
    c.batch_execute(
        "INSERT INTO pgtrickle.pgt_refresh_history (pgt_id, action, status, started_at, ended_at, changes, initiated_by)
         SELECT pgt_id, a, 'COMPLETED', now() - interval '1 minute', now() - interval '1 minute' + d, n, 'SCHEDULER'
           FROM pgtrickle.pgt_stream_tables,
                (VALUES ('DIFFERENTIAL', interval '500 ms', 10), ('DIFFERENTIAL', interval '1000 ms', 20), ('FULL', interval '20 ms', 0)) AS m(a, d, n)
          WHERE pgt_name = 'by_supp';
         UPDATE lineitem SET l_discount = 0.02 WHERE l_orderkey BETWEEN 100 AND 120;
         SELECT pgtrickle.refresh_stream_table('by_supp');",
    )
    .unwrap();
    let (action, reason, _) = last_refresh(&mut c, "by_supp");
    assert_eq!(action, "FULL");
    let reason = reason.unwrap_or_default();
    assert!(
        reason.starts_with("estimated delta cost") && reason.contains("above full recompute"),
        "{reason}"
    );
    assert_stream_table_matches_query(&mut c, "by_supp");
}

/// Groups that must be recomputed (here: `string_agg`, MIN after deleting the minimum) are
/// recomputed through an index-friendly probe when they are few, and in one pass over the
/// input when they are many (more than a tenth of the stored groups): both give the query's
/// result.
#[test]
fn recomputed_groups_are_correct_whether_few_or_many() {
    let (_db, mut c) = db();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('per_order', $$SELECT l_orderkey, string_agg(l_comment, ',' ORDER BY l_linenumber) AS comments,
                 min(l_extendedprice) AS lo, count(*) AS n FROM lineitem GROUP BY l_orderkey$$, refresh_mode => 'DIFFERENTIAL');
         ANALYZE per_order;
         SET pg_trickle.differential_max_change_ratio = 0;",
    )
    .unwrap();
    // Few groups.
    c.batch_execute(
        "UPDATE lineitem SET l_comment = 'few' WHERE l_orderkey IN (3, 5, 8);
         DELETE FROM lineitem WHERE l_orderkey = 9 AND l_linenumber = 1;
         SELECT pgtrickle.refresh_stream_table('per_order');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "per_order");
    // Many groups: 3000 of 15000 orders change, and 500 lose every line item.
    c.batch_execute(
        "UPDATE lineitem SET l_comment = 'many', l_extendedprice = l_extendedprice + 1 WHERE l_orderkey % 5 = 1;
         DELETE FROM lineitem WHERE l_orderkey % 30 = 2;
         SELECT pgtrickle.refresh_stream_table('per_order');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "per_order");
    let plan: String = c
        .query(
            "SELECT * FROM pgtrickle.explain_stream_table('per_order')",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(plan.contains("recomputed per group"), "{plan}");
}

/// Batches of thousands of changes per source take the plans for large deltas (buffers
/// analyzed first, single tables joined without key arrays, error-free filters evaluated
/// before consolidation): every shape still equals its query after every refresh, and every
/// refresh ran incrementally.
#[test]
fn bulk_changes_are_maintained_by_the_large_delta_plans() {
    let (_db, mut c) = db();
    c.batch_execute("SET pg_trickle.differential_max_change_ratio = 0")
        .unwrap();
    let shapes = [
        ("bulk_q5", Q5.to_string()),
        ("bulk_join2", "SELECT l_orderkey, l_linenumber, o_custkey, l_discount FROM lineitem JOIN orders ON l_orderkey = o_orderkey WHERE o_orderdate >= date '1994-06-01'".into()),
        ("bulk_join_agg", "SELECT c_nationkey, count(*) AS n, sum(l_extendedprice) AS s FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON c_custkey = o_custkey GROUP BY c_nationkey".into()),
        ("bulk_or", "SELECT sum(l_extendedprice * (1 - l_discount)) AS revenue FROM lineitem, supplier \
                     WHERE (l_suppkey = s_suppkey AND s_nationkey = 3 AND l_discount >= 0.05) \
                        OR (l_suppkey = s_suppkey AND s_nationkey = 7 AND l_discount < 0.03)".into()),
        ("bulk_minmax", "SELECT o_custkey, min(o_orderdate) AS first, max(o_orderdate) AS last, count(*) AS n FROM orders WHERE o_orderdate < date '1996-01-01' GROUP BY o_custkey".into()),
    ];
    for (name, q) in &shapes {
        c.batch_execute(&format!(
            "SELECT pgtrickle.create_stream_table('{name}', $q${q}$q$, refresh_mode => 'DIFFERENTIAL')"
        ))
        .unwrap();
    }
    let rounds = [
        // New orders with their line items; deleted orders with theirs.
        "INSERT INTO orders SELECT o_orderkey + 100000, o_custkey, o_orderdate + 7, o_comment FROM orders WHERE o_orderkey % 10 = 1;
         INSERT INTO lineitem SELECT l_orderkey + 100000, l_linenumber, l_suppkey, l_extendedprice, l_discount, l_comment FROM lineitem WHERE l_orderkey % 10 = 1;
         DELETE FROM lineitem WHERE l_orderkey % 10 = 2; DELETE FROM orders WHERE o_orderkey % 10 = 2;",
        // Updated line items (the filters' columns included) and customers moving nation.
        "UPDATE lineitem SET l_discount = CASE WHEN l_discount < 0.09 THEN l_discount + 0.01 ELSE 0 END WHERE l_orderkey % 5 = 3;
         UPDATE customer SET c_nationkey = (c_nationkey + 3) % 25 WHERE c_custkey % 2 = 0;",
        // Updates that change nothing read, order dates moving across the filters' bounds,
        // and suppliers moving nation.
        "UPDATE lineitem SET l_comment = 'x' WHERE l_orderkey % 4 = 0;
         UPDATE orders SET o_orderdate = o_orderdate + 200 WHERE o_orderkey % 6 = 5;
         UPDATE supplier SET s_nationkey = (s_nationkey + 4) % 25 WHERE s_suppkey % 3 = 0;",
        // Everything at once, in one transaction, with rows inserted and deleted again.
        "BEGIN;
         INSERT INTO lineitem SELECT l_orderkey, l_linenumber + 10, l_suppkey, l_extendedprice, 0, l_comment FROM lineitem WHERE l_orderkey % 7 = 0;
         DELETE FROM lineitem WHERE l_linenumber > 10 AND l_orderkey % 14 = 0;
         DELETE FROM orders WHERE o_orderkey % 9 = 4;
         UPDATE customer SET c_nationkey = (c_nationkey + 1) % 25 WHERE c_custkey % 3 = 1;
         COMMIT;",
    ];
    for (i, round) in rounds.iter().enumerate() {
        c.batch_execute(round).unwrap();
        for (name, _) in &shapes {
            c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{name}')"))
                .unwrap();
            let (action, reason, _) = last_refresh(&mut c, name);
            assert_eq!(action, "DIFFERENTIAL", "round {i}, {name}: {reason:?}");
            assert_stream_table_matches_query(&mut c, name);
        }
    }
}

/// Only predicates that cannot fail are evaluated before consolidation: a row version that
/// was inserted and deleted again between two refreshes (it never existed at any refresh's
/// snapshot) must not make a filter like `100 / v > 3` fail, while `v > 3` is evaluated
/// directly on the buffered versions.
#[test]
fn a_filter_that_can_fail_never_sees_versions_that_cancel() {
    let (_db, mut c) = db();
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v int);
         INSERT INTO t SELECT i, 1 + i % 9 FROM generate_series(1, 100) i;
         SELECT pgtrickle.create_stream_table('divides', 'SELECT id, v FROM t WHERE 100 / v > 3', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('compares', 'SELECT id, v FROM t WHERE v > 3', refresh_mode => 'DIFFERENTIAL');
         CREATE TABLE u (k int PRIMARY KEY, w int);
         INSERT INTO u SELECT i, i FROM generate_series(0, 9) i;
         SELECT pgtrickle.create_stream_table('joins_dividing', 'SELECT t.id, u.w FROM t JOIN u ON u.k = t.v AND 100 / t.v > 3', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('joins_comparing', 'SELECT t.id, u.w FROM t JOIN u ON u.k = t.v AND t.v > 3', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('sums', 'SELECT v > 5 AS big, count(*) AS n, sum(v) AS s FROM t GROUP BY v > 5', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('sums_dividing', 'SELECT v > 5 AS big, sum(100 / v) AS s FROM t GROUP BY v > 5', refresh_mode => 'DIFFERENTIAL');
         ALTER TABLE t ADD COLUMN price numeric(10,2) DEFAULT 1.50, ADD COLUMN label text DEFAULT 'promo-x';
         SELECT pgtrickle.create_stream_table('sums_bounded', $q$SELECT v > 5 AS big, sum(CASE WHEN label LIKE 'promo%' THEN price * (1 - price) ELSE coalesce(price, 0) END) AS s,
                                                   sum(price * v) AS pv, count(*) AS n FROM t GROUP BY v > 5$q$, refresh_mode => 'DIFFERENTIAL');
         CREATE TABLE e (id int PRIMARY KEY, label text);
         SELECT pgtrickle.create_stream_table('bad_pattern', $q$SELECT id FROM e WHERE label LIKE 'ab\\'$q$, refresh_mode => 'DIFFERENTIAL');
         INSERT INTO e VALUES (1, 'abc'); DELETE FROM e;
         SELECT pgtrickle.create_stream_table('sums_cases', $q$SELECT v > 5 AS big, sum(CASE WHEN label LIKE 'promo%' THEN price * (1 - price / 10) ELSE coalesce(price, 0) END) AS s,
                                                   sum(price * v) AS pv FROM t GROUP BY v > 5$q$, refresh_mode => 'DIFFERENTIAL');
         INSERT INTO t VALUES (1000, 0); DELETE FROM t WHERE id = 1000;
         UPDATE t SET v = 0 WHERE id = 5; UPDATE t SET v = 7 WHERE id = 5;
         INSERT INTO t VALUES (1001, 2);",
    )
    .unwrap();
    let plan = explain(&mut c, "compares");
    assert!(plan.contains("__pgt_filtered_buffered_delta"), "{plan}");
    let plan = explain(&mut c, "divides");
    assert!(!plan.contains("filtered_scan_delta"), "{plan}");
    // A join whose condition cannot fail reads its scans' changes as buffered (its own
    // output is consolidated), through a filter too when that cannot fail; the table
    // below a filter that can fail is read consolidated.
    let plan = explain(&mut c, "joins_comparing");
    assert!(plan.contains("__pgt_filtered_buffered_delta"), "{plan}");
    assert!(!plan.contains("__pgt_scan_delta"), "{plan}");
    let plan = explain(&mut c, "joins_dividing");
    assert!(plan.contains("__pgt_scan_delta"), "{plan}");
    // Likewise an aggregate whose keys and arguments cannot fail.
    let plan = explain(&mut c, "sums");
    assert!(plan.contains("__pgt_buffered_delta"), "{plan}");
    let plan = explain(&mut c, "sums_dividing");
    assert!(plan.contains("__pgt_scan_delta"), "{plan}");
    // CASE, LIKE with a constant pattern, COALESCE and + - * over constrained numerics
    // and integers cannot fail: read as buffered.
    let plan = explain(&mut c, "sums_bounded");
    assert!(plan.contains("__pgt_buffered_delta"), "{plan}");
    // `price / 10` divides: not error-free, so this one is read consolidated too.
    let plan = explain(&mut c, "sums_cases");
    assert!(plan.contains("__pgt_scan_delta"), "{plan}");
    for st in [
        "divides",
        "compares",
        "joins_dividing",
        "joins_comparing",
        "sums",
        "sums_dividing",
        "sums_cases",
        "sums_bounded",
        "bad_pattern",
    ] {
        c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
            .unwrap();
        assert_eq!(last_refresh(&mut c, st).0, "DIFFERENTIAL");
        assert_stream_table_matches_query(&mut c, st);
    }
}

/// Before its first incremental refresh is measured, AUTO estimates one from a floor per
/// change: a stream table whose recomputation is cheap (an index lookup) recomputes when a
/// large batch is pending, and says why; a small batch is applied incrementally.
#[test]
fn auto_uses_a_floor_before_its_first_incremental_measurement() {
    let (_db, mut c) = db();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('one_order', 'SELECT l_linenumber, l_extendedprice FROM lineitem WHERE l_orderkey = 42');
         SET pg_trickle.differential_max_change_ratio = 0;
         UPDATE lineitem SET l_discount = l_discount + 0.01 WHERE l_orderkey <= 5000;
         SELECT pgtrickle.refresh_stream_table('one_order');",
    )
    .unwrap();
    let (action, reason, _) = last_refresh(&mut c, "one_order");
    assert_eq!(action, "FULL", "{reason:?}");
    let reason = reason.unwrap_or_default();
    assert!(
        reason.starts_with("no incremental refresh measured yet"),
        "{reason}"
    );
    assert_stream_table_matches_query(&mut c, "one_order");
    c.batch_execute(
        "UPDATE lineitem SET l_discount = l_discount + 0.01 WHERE l_orderkey = 42;
         SELECT pgtrickle.refresh_stream_table('one_order');",
    )
    .unwrap();
    assert_eq!(last_refresh(&mut c, "one_order").0, "DIFFERENTIAL");
    assert_stream_table_matches_query(&mut c, "one_order");
}

/// A grouped aggregate of COUNT/SUM/AVG (here over plain numeric, like TPC-H Q1) applies its
/// delta inside the MERGE: the plan reads the storage table once (the MERGE's own join),
/// and groups whose largest-scale inputs are all deleted show the smaller scale at once,
/// without being recomputed.
#[test]
fn algebraic_aggregates_add_their_delta_inside_the_merge() {
    let (_db, mut c) = db();
    c.batch_execute(
        "UPDATE lineitem SET l_discount = round(l_discount, 2);
         SELECT pgtrickle.create_stream_table('per_supplier', $$SELECT l_suppkey, count(*) AS n, sum(l_extendedprice * (1 - l_discount)) AS revenue,
                 avg(l_discount) AS disc, sum(l_discount) AS sd FROM lineitem GROUP BY l_suppkey$$, refresh_mode => 'DIFFERENTIAL');
         SET pg_trickle.differential_max_change_ratio = 0;
         -- Scales: l_discount has 2 decimals; give some suppliers one input with 4.
         UPDATE lineitem SET l_discount = 0.0125 WHERE l_orderkey = 7;",
    )
    .unwrap();
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('per_supplier')")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "per_supplier");
    // The 4-decimal inputs leave again (by UPDATE and by DELETE), other rows change too.
    c.batch_execute(
        "UPDATE lineitem SET l_discount = 0.05 WHERE l_orderkey = 7 AND l_linenumber <= 2;
         DELETE FROM lineitem WHERE l_orderkey = 7 AND l_linenumber > 2;
         UPDATE lineitem SET l_extendedprice = l_extendedprice + 0.5 WHERE l_orderkey % 97 = 3;
         INSERT INTO lineitem VALUES (15001, 1, 5, 10, 0.1, 'new');",
    )
    .unwrap();
    let plan = explain(&mut c, "per_supplier");
    let storage_reads = plan
        .lines()
        .filter(|l| l.contains("Scan") && l.contains(" on per_supplier"))
        .count();
    assert_eq!(
        storage_reads, 1,
        "the storage is read once, by the MERGE:\n{plan}"
    );
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('per_supplier')")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "per_supplier");
    let (action, reason, _) = last_refresh(&mut c, "per_supplier");
    assert_eq!(action, "DIFFERENTIAL", "{reason:?}");
    // Every group shows 2 decimals again for sd (PostgreSQL's own display scale).
    let wide: i64 = c
        .query_one(
            "SELECT count(*) FROM per_supplier WHERE pg_catalog.scale(sd) <> 2",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(wide, 0);
}

/// Arithmetic over fixed-scale values has a scale the expression alone decides
/// (`numeric(15,2) * (1 - numeric(15,2))`: 4, TPC-H's revenue), so its SUM and AVG keep no
/// scale histogram, and a grouping of it below the top derives its old groups from the
/// new ones. Deleting a group's rows, NULLs and the last row of a group stay exact.
#[test]
fn fixed_scale_arithmetic_needs_no_scale_tracking() {
    let (_db, mut c) = db();
    c.batch_execute(
        "CREATE TABLE li (id int PRIMARY KEY, k int NOT NULL, price numeric(15,2), disc numeric(15,2), qty int);
         INSERT INTO li SELECT i, i % 7, (i * 1.25)::numeric(15,2), CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 10) / 100.0 END, i % 4
           FROM generate_series(1, 2000) i;
         SELECT pgtrickle.create_stream_table('rev', $$SELECT k, sum(price * (1 - disc)) AS revenue, avg(price * qty + 0.5) AS a,
                 sum(-price) AS neg, count(*) AS n FROM li GROUP BY k$$, refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('rev_top', $$SELECT r.k, r.revenue FROM (SELECT k, sum(price * (1 - disc)) AS revenue
                 FROM li GROUP BY k) r JOIN li ON li.id = r.k + 1$$, refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('rev_cte', $$WITH x AS (SELECT k, price * (1 - disc) AS v FROM li)
                 SELECT k, sum(v) AS s FROM (SELECT * FROM x) y GROUP BY k$$, refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    let hidden: Vec<String> = c
        .query(
            "SELECT attname::text FROM pg_catalog.pg_attribute WHERE attrelid IN ('rev'::regclass, 'rev_cte'::regclass)
                AND attname LIKE '\\_\\_pgt\\_%sch'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(hidden.is_empty(), "no scale histogram: {hidden:?}");
    let text = explain(&mut c, "rev_top");
    assert!(
        !text.contains("display scale tracked"),
        "the inner grouping is algebraic:\n{text}"
    );
    for change in [
        "UPDATE li SET disc = 0.07 WHERE id % 13 = 0; DELETE FROM li WHERE id % 17 = 0;",
        "INSERT INTO li SELECT i, i % 9, 3.10, NULL, 2 FROM generate_series(3001, 3100) i;",
        "DELETE FROM li WHERE k = 8; UPDATE li SET price = NULL WHERE id % 11 = 0;",
        "DELETE FROM li WHERE k IN (1, 2); UPDATE li SET k = 3 WHERE id % 19 = 0;",
    ] {
        c.batch_execute(change).unwrap();
        for st in ["rev", "rev_top", "rev_cte"] {
            c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
                .unwrap();
            assert_eq!(last_refresh(&mut c, st).0, "DIFFERENTIAL");
            assert_stream_table_matches_query(&mut c, st);
        }
    }
    // PostgreSQL's display scales: 4 for the revenue, 2 for the negated price.
    let scales: (i64, i64) = c
        .query_one(
            "SELECT count(*) FILTER (WHERE pg_catalog.scale(revenue) <> 4), count(*) FILTER (WHERE pg_catalog.scale(neg) <> 2) FROM rev",
            &[],
        )
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(scales, (0, 0));
}

/// A refresh records the one-time part of its duration (`setup_ms`: translating the query,
/// planning the delta statement, which is then kept for the session), and AUTO's cost
/// model compares durations without it: the next refresh in the same session repeats
/// neither.
#[test]
fn one_time_planning_is_recorded_apart_from_the_refresh_cost() {
    let (db, mut c) = db();
    c.batch_execute(&format!(
        "SELECT pgtrickle.create_stream_table('q5', $q${Q5}$q$, refresh_mode => 'DIFFERENTIAL')"
    ))
    .unwrap();
    let setup = |c: &mut Client| -> f64 {
        c.query_one(
            "SELECT h.setup_ms FROM pgtrickle.refresh_history_info h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
              WHERE s.pgt_name = 'q5' ORDER BY h.refresh_id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0)
    };
    // A new session: its first refresh translates the query and plans the statement.
    let mut s = db.client();
    s.batch_execute(
        "UPDATE lineitem SET l_discount = 0.05 WHERE l_orderkey = 42;
         SELECT pgtrickle.refresh_stream_table('q5');",
    )
    .unwrap();
    assert_eq!(last_refresh(&mut s, "q5").0, "DIFFERENTIAL");
    let first = setup(&mut s);
    s.batch_execute(
        "UPDATE lineitem SET l_discount = 0.06 WHERE l_orderkey = 43;
         SELECT pgtrickle.refresh_stream_table('q5');",
    )
    .unwrap();
    assert_eq!(last_refresh(&mut s, "q5").0, "DIFFERENTIAL");
    let second = setup(&mut s);
    assert!(
        first > 0.0 && second < first,
        "the first refresh in a session pays the setup ({first} ms), the next does not ({second} ms)"
    );
    assert_stream_table_matches_query(&mut s, "q5");
}

/// Before AUTO has measured an incremental refresh of a stream table, the attempt runs on
/// probation: past twice the measured full recomputation (+ 50 ms) it is stopped, rolled
/// back and replaced by a full recomputation, and the time it ran is kept as a measurement,
/// so the next refresh recomputes in full at once.
#[test]
fn a_slow_first_incremental_refresh_is_stopped_on_probation() {
    let (_db, mut c) = db();
    c.batch_execute(
        "SET pg_trickle.differential_max_change_ratio = 0;
         CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL);
         INSERT INTO items SELECT i, i FROM generate_series(1, 40) i;
         -- Declared immutable, yet slow: 10 ms per call.
         CREATE FUNCTION slow(x int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS
           $f$BEGIN PERFORM pg_catalog.pg_sleep(0.01); RETURN x; END$f$;
         SELECT pgtrickle.create_stream_table('slow_st', 'SELECT id, slow(v) AS w FROM items');
         -- Full recomputations measured at 1 ms: the probation budget is 52 ms.
         INSERT INTO pgtrickle.pgt_refresh_history (pgt_id, action, status, started_at, ended_at, changes, initiated_by)
         SELECT pgt_id, 'FULL', 'COMPLETED', now() - interval '1 minute', now() - interval '1 minute' + interval '1 ms', 0, 'SCHEDULER'
           FROM pgtrickle.pgt_stream_tables, generate_series(1, 4) WHERE pgt_name = 'slow_st';
         UPDATE items SET v = v + 1 WHERE id <= 20;
         SELECT pgtrickle.refresh_stream_table('slow_st');",
    )
    .unwrap();
    let r = c
        .query_one(
            "SELECT h.action, h.reason, h.changes, h.abandoned_delta_ms FROM pgtrickle.refresh_history_info h
               JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
              WHERE s.pgt_name = 'slow_st' ORDER BY h.refresh_id DESC LIMIT 1",
            &[],
        )
        .unwrap();
    let (action, reason, changes, abandoned): (String, Option<String>, i64, Option<f64>) =
        (r.get(0), r.get(1), r.get(2), r.get(3));
    assert_eq!(action, "FULL");
    let reason = reason.unwrap_or_default();
    assert!(reason.contains("probation"), "{reason}");
    assert_eq!(
        changes, 40,
        "the attempt's changes: 20 rows, old and new versions"
    );
    assert!(abandoned.unwrap_or(0.0) >= 30.0, "{abandoned:?}");
    assert_stream_table_matches_query(&mut c, "slow_st");
    // The stopped attempt is now a measurement: the next refresh recomputes in full at once.
    c.batch_execute(
        "UPDATE items SET v = v + 1 WHERE id <= 20;
         SELECT pgtrickle.refresh_stream_table('slow_st');",
    )
    .unwrap();
    let (action, reason, _) = last_refresh(&mut c, "slow_st");
    assert_eq!(action, "FULL");
    assert!(
        reason
            .unwrap_or_default()
            .starts_with("estimated delta cost"),
        "the model uses the stopped attempt"
    );
    assert_stream_table_matches_query(&mut c, "slow_st");
    // Explicit DIFFERENTIAL is never on probation.
    c.batch_execute(
        "SELECT pgtrickle.alter_stream_table('slow_st', refresh_mode => 'DIFFERENTIAL');
         UPDATE items SET v = v + 1 WHERE id <= 10;
         SELECT pgtrickle.refresh_stream_table('slow_st');",
    )
    .unwrap();
    c.batch_execute(
        "UPDATE items SET v = v + 1 WHERE id <= 10;
         SELECT pgtrickle.refresh_stream_table('slow_st');",
    )
    .unwrap();
    assert_eq!(last_refresh(&mut c, "slow_st").0, "DIFFERENTIAL");
    assert_stream_table_matches_query(&mut c, "slow_st");
}

/// Two readers of one source at different paces: the buffer keeps the rows the slow one has
/// not consumed, and the fast one, looking for its own pending changes, skips them through
/// the buffer's xid index instead of scanning them at every refresh (a refresh with
/// nothing to do stays cheap however far another reader lags).
#[test]
fn a_fast_reader_skips_the_rows_only_a_slow_reader_still_needs() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE s (id int PRIMARY KEY, g int, v int);
         INSERT INTO s SELECT i, i % 10, i FROM generate_series(1, 1000) i;
         SELECT pgtrickle.create_stream_table('fast', 'SELECT g, count(*) AS n, sum(v) AS t FROM s GROUP BY g', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('slow', 'SELECT id, v FROM s WHERE v % 7 = 0', refresh_mode => 'DIFFERENTIAL');
         INSERT INTO s SELECT i, i % 10, i FROM generate_series(1001, 31000) i;
         SELECT pgtrickle.refresh_stream_table('fast');",
    )
    .unwrap();
    let buffer: String = change_buffer(&mut c, "s");
    let seq_scans = |c: &mut Client| -> i64 {
        c.batch_execute(
            "SELECT pg_catalog.pg_stat_force_next_flush(); SELECT pg_catalog.pg_stat_clear_snapshot();",
        )
        .unwrap();
        c.query_one(
            "SELECT coalesce(seq_scan, 0) FROM pg_catalog.pg_stat_user_tables WHERE relid = $1::text::regclass",
            &[&buffer],
        )
        .unwrap()
        .get(0)
    };
    let kept: i64 = c
        .query_one(&format!("SELECT count(*) FROM {buffer}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, 30000, "the slow reader's changes stay buffered");
    // Warm up the session's kept statements, then refresh with nothing pending.
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('fast')")
        .unwrap();
    let before = seq_scans(&mut c);
    for _ in 0..3 {
        c.batch_execute("SELECT pgtrickle.refresh_stream_table('fast')")
            .unwrap();
    }
    assert_eq!(
        seq_scans(&mut c),
        before,
        "a refresh with nothing pending scanned the whole buffer"
    );
    // New changes are still seen by both, and the slow reader's refresh trims the buffer.
    c.batch_execute(
        "UPDATE s SET v = v + 1 WHERE id % 100 = 0; DELETE FROM s WHERE id % 333 = 0;
         SELECT pgtrickle.refresh_stream_table('fast'); SELECT pgtrickle.refresh_stream_table('slow');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "fast");
    assert_stream_table_matches_query(&mut c, "slow");
    let left: i64 = c
        .query_one(&format!("SELECT count(*) FROM {buffer}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "every reader consumed everything");
}
