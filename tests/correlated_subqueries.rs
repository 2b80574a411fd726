//! Correlated aggregate scalar subqueries, decorrelated into joins with groupings
//! (ADR-022). The randomized shapes are in `differential_oracle.rs`; here, the operator
//! tree they become, a group that empties (count → 0, avg → NULL), NULL correlation keys,
//! and the correlated forms that are refused by name.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::{
    assert_stream_table_matches_query, cluster, expect_sql_error, explain_stream_table,
};

#[test]
fn correlated_aggregates_become_joins_with_groupings() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE part (id int PRIMARY KEY, brand text);
         CREATE TABLE li (id int PRIMARY KEY, part int, qty numeric(10,2), price numeric(12,2));
         INSERT INTO part SELECT i, 'b' || (i % 3) FROM generate_series(1, 20) i;
         INSERT INTO li SELECT i, CASE WHEN i % 17 = 0 THEN NULL ELSE 1 + i % 20 END, 1 + i % 11, i * 1.5
           FROM generate_series(1, 400) i;
         -- TPC-H Q17's shape: a fraction of the part's average quantity.
         SELECT pgtrickle.create_stream_table('small_orders',
           'SELECT sum(l.price) AS total, count(*) AS n FROM li l, part p
             WHERE p.id = l.part AND p.brand = ''b1''
               AND l.qty < (SELECT 0.5 * avg(l2.qty) FROM li l2 WHERE l2.part = p.id)',
           refresh_mode => 'DIFFERENTIAL');
         -- In the SELECT list: count is 0 for a part without line items, max is NULL.
         SELECT pgtrickle.create_stream_table('per_part',
           'SELECT p.id, (SELECT count(*) FROM li WHERE li.part = p.id) AS n,
                   (SELECT max(li.qty) FROM li WHERE li.part = p.id) AS mx FROM part p',
           refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    let tree = explain_stream_table(&mut c, "small_orders");
    assert!(
        tree.contains("Aggregate by") && tree.contains("Join"),
        "the subquery is a grouping joined to the outer rows:\n{tree}"
    );
    // The grouping reads only the line items of parts with the brand asked for.
    let after = tree.split("after rewrites").nth(1).unwrap_or_default();
    let agg = after.find("Aggregate by").expect("an aggregate");
    assert!(
        after[agg..].contains("SemiJoin"),
        "the grouping is restricted to the outer keys:\n{tree}"
    );
    let tree = explain_stream_table(&mut c, "per_part");
    assert!(tree.contains("LeftJoin") || tree.contains("Left"), "{tree}");
    for sql in [
        "UPDATE li SET qty = qty + 3 WHERE id % 7 = 0",
        // every line item of part 5 goes: count 0, max NULL
        "DELETE FROM li WHERE part = 5",
        "INSERT INTO li VALUES (1001, 5, 1, 10), (1002, NULL, 2, 20), (1003, 21, 3, 30)",
        "INSERT INTO part VALUES (21, 'b1'), (22, 'b2')",
        "UPDATE li SET part = 6 WHERE part = 7",
        "DELETE FROM part WHERE id = 3",
        "UPDATE li SET part = NULL WHERE id % 5 = 0",
    ] {
        c.batch_execute(sql).unwrap();
        for st in ["small_orders", "per_part"] {
            c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
                .unwrap();
            assert_stream_table_matches_query(&mut c, st);
        }
    }
    let zero: i64 = c
        .query_one("SELECT n FROM per_part WHERE id = 22", &[])
        .unwrap()
        .get(0);
    assert_eq!(zero, 0, "a part without line items counts 0, not NULL");
}

#[test]
fn correlations_that_cannot_be_grouped_are_refused_by_name() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE o (id int PRIMARY KEY, f int, big bigint);
         CREATE TABLE li (o int, qty int);",
    )
    .unwrap();
    for (query, said) in [
        (
            "SELECT o.id FROM o WHERE o.f < (SELECT sum(qty) FROM li WHERE li.qty > o.f)",
            "equalities",
        ),
        (
            "SELECT o.id, (SELECT sum(qty) * o.f FROM li WHERE li.o = o.id) AS s FROM o",
            "outside equalities",
        ),
        (
            "SELECT o.id FROM o WHERE o.f < (SELECT sum(qty) FROM li WHERE li.o = o.big)",
            "default equality",
        ),
    ] {
        let e = expect_sql_error(
            &mut c,
            &format!("SELECT pgtrickle.create_stream_table('s', $q${query}$q$, refresh_mode => 'DIFFERENTIAL')"),
            SqlState::FEATURE_NOT_SUPPORTED,
            "cannot maintain stream table",
        );
        let text = format!("{:?} {:?}", e.detail, e.hint);
        assert!(
            text.contains("correlated scalar subquery") && text.contains(said),
            "{query}: {text}"
        );
    }
}
