//! Correlated aggregate scalar subqueries, decorrelated into joins with groupings
//! (ADR-058), and correlated look-ups on a unique key, decorrelated into joins. The
//! randomized shapes are in `differential_oracle.rs`; here, the operator tree they become,
//! a group that empties (count → 0, avg → NULL), NULL correlation keys, and the correlated
//! forms that are refused by name.

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

/// `(SELECT e FROM t WHERE t.key = outer.x)`, where the correlated equalities cover a
/// unique key of `t`, yields at most one row per outer row: it is a LEFT JOIN (an inner
/// join under a WHERE condition that a NULL fails), maintained like any other. Matches
/// appear, vanish and change key; outer keys are NULL; a composite key must be covered
/// whole.
#[test]
fn correlated_lookups_on_a_unique_key_become_joins() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE users (id int PRIMARY KEY, name text, tier int);
         CREATE TABLE rates (region text, tier int, pct numeric(5,2), UNIQUE (region, tier));
         CREATE TABLE orders (id int PRIMARY KEY, user_id int, region text, amount int);
         INSERT INTO users SELECT i, 'u' || i, i % 3 FROM generate_series(1, 30) i;
         INSERT INTO rates SELECT r, t, t * 1.5 FROM unnest(ARRAY['n', 's']) r, generate_series(0, 2) t;
         INSERT INTO orders SELECT i, CASE WHEN i % 11 = 0 THEN NULL ELSE 1 + i % 35 END, CASE WHEN i % 2 = 0 THEN 'n' ELSE 's' END, i
           FROM generate_series(1, 200) i;
         SELECT pgtrickle.create_stream_table('named',
           'SELECT o.id, o.amount, (SELECT u.name FROM users u WHERE u.id = o.user_id) AS who,
                   (SELECT coalesce(u.tier, -1) FROM users u WHERE u.id = o.user_id) AS tier FROM orders o',
           refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('above_rate',
           'SELECT o.id FROM orders o
             WHERE o.amount > 10 * (SELECT r.pct FROM rates r WHERE r.region = o.region AND r.tier = o.amount % 3)',
           refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('rated',
           'SELECT o.id, (SELECT r.pct FROM rates r WHERE r.region = o.region AND r.tier = o.amount % 3) AS pct FROM orders o',
           refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    let tree = explain_stream_table(&mut c, "named");
    assert!(tree.contains("LeftJoin") || tree.contains("Left"), "{tree}");
    // Under a WHERE condition a NULL fails, an outer row without a match is dropped
    // either way: an inner join.
    let tree = explain_stream_table(&mut c, "above_rate");
    let after = tree.split("after rewrites").nth(1).unwrap_or_default();
    let after = after.split("delta statement").next().unwrap_or_default();
    assert!(after.contains("Join") && !after.contains("Left"), "{tree}");
    for sql in [
        "UPDATE users SET name = 'renamed' WHERE id % 4 = 0",
        // an order's user goes away: its name and tier become NULL (coalesce is not reached)
        "DELETE FROM users WHERE id IN (3, 5)",
        "INSERT INTO users VALUES (31, 'late', NULL), (32, 'later', 2)",
        "UPDATE users SET id = 33 WHERE id = 7",
        "UPDATE orders SET user_id = 31 WHERE id % 9 = 0",
        "UPDATE orders SET user_id = NULL WHERE id % 13 = 0",
        "DELETE FROM rates WHERE region = 's' AND tier = 1",
        "UPDATE rates SET pct = pct + 1 WHERE tier = 2",
        "INSERT INTO rates VALUES ('s', 1, 9.75)",
    ] {
        c.batch_execute(sql).unwrap();
        for st in ["named", "above_rate", "rated"] {
            c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
                .unwrap();
            assert_stream_table_matches_query(&mut c, st);
        }
    }
    // Without a unique key under the equalities, the subquery may yield several rows for
    // an outer row: a LEFT JOIN that raises, as the query does (SQLSTATE 21000).
    c.batch_execute(
        "CREATE TABLE notes (user_id int, body text);
         INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 20) i;
         SELECT pgtrickle.create_stream_table('noted',
           'SELECT o.id, (SELECT n.body FROM notes n WHERE n.user_id = o.user_id) AS note FROM orders o',
           refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    let tree = explain_stream_table(&mut c, "noted");
    assert!(tree.contains("at most one match"), "{tree}");
    for sql in [
        "UPDATE notes SET body = body || '!' WHERE user_id % 3 = 0",
        "DELETE FROM notes WHERE user_id = 4",
        "UPDATE orders SET user_id = 2 WHERE id % 10 = 0",
    ] {
        c.batch_execute(sql).unwrap();
        c.batch_execute("SELECT pgtrickle.refresh_stream_table('noted')")
            .unwrap();
        assert_stream_table_matches_query(&mut c, "noted");
    }
    // A second note for user 6, whose orders exist: the query fails, and so does the
    // refresh; once the duplicate is gone, the refresh goes on incrementally.
    c.batch_execute("INSERT INTO notes VALUES (6, 'again')")
        .unwrap();
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.refresh_stream_table('noted')",
        SqlState::CARDINALITY_VIOLATION,
        "more than one row returned by a subquery",
    );
    expect_sql_error(
        &mut c,
        "SELECT o.id, (SELECT n.body FROM notes n WHERE n.user_id = o.user_id) AS note FROM orders o",
        SqlState::CARDINALITY_VIOLATION,
        "more than one row returned by a subquery",
    );
    // Creating it now fails the same way (the initial population is a full computation).
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.create_stream_table('noted2', 'SELECT o.id, (SELECT n.body FROM notes n WHERE n.user_id = o.user_id) AS note FROM orders o', refresh_mode => 'DIFFERENTIAL')",
        SqlState::CARDINALITY_VIOLATION,
        "more than one row returned by a subquery",
    );
    // A new order of a user with two notes fails too; an order of another user does not.
    c.batch_execute(
        "DELETE FROM notes WHERE body = 'again'; SELECT pgtrickle.refresh_stream_table('noted');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "noted");
    c.batch_execute("INSERT INTO notes VALUES (40, 'x'), (40, 'y'); SELECT pgtrickle.refresh_stream_table('noted');")
        .unwrap();
    c.batch_execute("INSERT INTO orders VALUES (500, 40, 'n', 1)")
        .unwrap();
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.refresh_stream_table('noted')",
        SqlState::CARDINALITY_VIOLATION,
        "more than one row returned by a subquery",
    );
    c.batch_execute("DELETE FROM orders WHERE id = 500; INSERT INTO orders VALUES (501, 8, 'n', 1); SELECT pgtrickle.refresh_stream_table('noted');")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "noted");
}
