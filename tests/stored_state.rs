//! Groupings below the top keep their per-group states in a table of their own (ADR-009,
//! "stored states"): the table holds exactly the grouping's states after every refresh,
//! incremental or full; NaN inputs of numeric sums come and go; the tables follow the
//! stream table's life (created by the first refresh, dropped with it, with a change to
//! FULL mode or by a DROP TABLE of its storage, never by a user's DROP); and an owner
//! without superuser refreshes through them.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{assert_stream_table_matches_query, cluster, expect_sql_error, TestDb};

fn db() -> (TestDb, Client) {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE cust (id int PRIMARY KEY, region text);
         CREATE TABLE ord (id int PRIMARY KEY, cust int, amount numeric(10,2), qty int);
         INSERT INTO cust SELECT i, 'r' || (i % 4) FROM generate_series(1, 200) i;
         INSERT INTO ord SELECT i, 1 + i % 150, (i % 97) * 1.25, i % 7 FROM generate_series(1, 3000) i;
         ANALYZE;",
    )
    .unwrap();
    (db, c)
}

/// Orders per customer (a grouping below the top), then customers per order count.
const ORDERS_PER_CUSTOMER: &str = "SELECT n, count(*) AS customers, sum(total) AS total
    FROM (SELECT c.id, count(o.id) AS n, sum(o.amount) AS total, avg(o.qty) AS q
            FROM cust c LEFT JOIN ord o ON o.cust = c.id GROUP BY c.id) s
   GROUP BY n";

/// The state tables of stream table `st`.
fn state_tables(c: &mut Client, st: &str) -> Vec<String> {
    c.query(
        "SELECT c.relname::text FROM pg_class c
          WHERE c.relnamespace = 'pgtrickle_changes'::regnamespace AND c.relkind = 'r'
            AND c.relname LIKE 'state\\_' || $1::text::regclass::oid::text || '\\_%' ORDER BY 1",
        &[&st],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn all_state_tables(c: &mut Client) -> i64 {
    c.query_one(
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'pgtrickle_changes'::regnamespace
            AND relkind = 'r' AND relname LIKE 'state\\_%'",
        &[],
    )
    .unwrap()
    .get(0)
}

/// The stored states of the per-customer grouping equal the grouping recomputed.
fn assert_states_exact(c: &mut Client, table: &str) {
    let diff: i64 = c
        .query_one(
            &format!(
                "WITH s AS (SELECT g0, n, c0, c1, coalesce(s1, 0) AS s1, c2, coalesce(s2, 0) AS s2
                              FROM pgtrickle_changes.{table}),
                      r AS (SELECT c.id AS g0, count(*) AS n, count(o.id) AS c0, count(o.amount) AS c1,
                                   coalesce(sum(o.amount), 0) AS s1, count(o.qty) AS c2, coalesce(sum(o.qty), 0) AS s2
                              FROM cust c LEFT JOIN ord o ON o.cust = c.id GROUP BY c.id)
                 SELECT (SELECT count(*) FROM (SELECT * FROM s EXCEPT ALL SELECT * FROM r) x)
                      + (SELECT count(*) FROM (SELECT * FROM r EXCEPT ALL SELECT * FROM s) y)"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(diff, 0, "state table {table} differs from the grouping");
}

#[test]
fn a_grouping_below_the_top_is_maintained_from_its_stored_states() {
    let (_db, mut c) = db();
    c.batch_execute(&format!(
        "SELECT pgtrickle.create_stream_table('st', $q${ORDERS_PER_CUSTOMER}$q$, refresh_mode => 'DIFFERENTIAL')"
    ))
    .unwrap();
    let tables = state_tables(&mut c, "st");
    assert_eq!(tables.len(), 1, "{tables:?}");
    let table = tables[0].clone();
    let rows: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM pgtrickle_changes.{table}"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(rows, 200, "one state row per customer");
    let explained = pgt_testkit::explain_stream_table(&mut c, "st");
    assert!(
        explained.contains("stored states of groupings and recursions below the top")
            && explained.contains(&format!(
                "grouping 0 (in tree order): \"pgtrickle_changes\".\"{table}\""
            )),
        "{explained}"
    );
    assert_states_exact(&mut c, &table);
    // Changes that create, change and empty groups (a customer's last order goes; a new
    // customer appears; amounts and keys change), refreshed incrementally.
    for round in 0..4 {
        c.batch_execute(&format!(
            "INSERT INTO cust VALUES ({0}, 'new');
             INSERT INTO ord SELECT 10000 * ({1} + 1) + i, {0}, i * 0.5, i FROM generate_series(1, 3) i;
             DELETE FROM ord WHERE cust = {2};
             UPDATE ord SET amount = amount + 1.10, cust = cust % 50 + 1 WHERE id % 53 = {1};
             UPDATE ord SET qty = NULL WHERE id % 31 = {1};
             DELETE FROM cust WHERE id = {3};",
            1000 + round,
            round,
            10 + round,
            20 + round
        ))
        .unwrap();
        c.batch_execute("SELECT pgtrickle.refresh_stream_table('st')")
            .unwrap();
        let action: String = c
            .query_one(
                "SELECT action FROM pgtrickle.pgt_refresh_history ORDER BY refresh_id DESC LIMIT 1",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(action, "DIFFERENTIAL");
        assert_stream_table_matches_query(&mut c, "st");
        assert_states_exact(&mut c, &table);
    }
    // A FULL refresh (after a TRUNCATE of a source) refills the states; incremental
    // refreshes go on from them.
    c.batch_execute(
        "TRUNCATE ord; INSERT INTO ord SELECT i, 1 + i % 90, i * 0.25, i % 5 FROM generate_series(1, 500) i;
         SELECT pgtrickle.refresh_stream_table('st');
         DELETE FROM ord WHERE id % 7 = 0; SELECT pgtrickle.refresh_stream_table('st');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "st");
    assert_states_exact(&mut c, &table);
}

#[test]
fn nan_inputs_of_a_sum_with_stored_state_come_and_go() {
    let (_db, mut c) = db();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('st',
           $q$SELECT c.region, s.total, s.mean FROM (SELECT cust, sum(amount) AS total, avg(amount) AS mean FROM ord GROUP BY cust) s
                JOIN cust c ON c.id = s.cust$q$, refresh_mode => 'DIFFERENTIAL')",
    )
    .unwrap();
    for step in [
        "INSERT INTO ord VALUES (90001, 5, 'NaN', 1), (90002, 6, 'NaN', 1), (90003, 6, 'NaN', 1)",
        "DELETE FROM ord WHERE id = 90001",
        "DELETE FROM ord WHERE id = 90002",
        "UPDATE ord SET amount = 2.50 WHERE id = 90003",
        "UPDATE ord SET amount = 'NaN' WHERE cust = 7",
        "DELETE FROM ord WHERE cust = 7 AND id % 2 = 0",
        "UPDATE ord SET amount = 1.00 WHERE cust = 7",
    ] {
        c.batch_execute(step).unwrap();
        c.batch_execute("SELECT pgtrickle.refresh_stream_table('st')")
            .unwrap();
        assert_stream_table_matches_query(&mut c, "st");
    }
}

#[test]
fn state_tables_follow_the_life_of_their_stream_table() {
    let (_db, mut c) = db();
    let create = |c: &mut Client, name: &str, mode: &str| {
        c.batch_execute(&format!(
            "SELECT pgtrickle.create_stream_table('{name}', $q${ORDERS_PER_CUSTOMER}$q$, refresh_mode => '{mode}')"
        ))
        .unwrap();
    };
    create(&mut c, "a", "DIFFERENTIAL");
    create(&mut c, "b", "DIFFERENTIAL");
    create(&mut c, "f", "FULL");
    assert_eq!(
        state_tables(&mut c, "f").len(),
        0,
        "FULL mode keeps no state"
    );
    assert_eq!(all_state_tables(&mut c), 2);

    // A user cannot drop one (not even a superuser outside pg_trickle).
    let table = state_tables(&mut c, "a").remove(0);
    expect_sql_error(
        &mut c,
        &format!("DROP TABLE pgtrickle_changes.{table}"),
        SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
        "extension pg_trickle requires it",
    );

    // To FULL mode: gone; back to DIFFERENTIAL: created again by the next refresh, which
    // recomputes in full.
    c.batch_execute("SELECT pgtrickle.alter_stream_table('a', refresh_mode => 'FULL')")
        .unwrap();
    assert_eq!(state_tables(&mut c, "a").len(), 0);
    c.batch_execute(
        "SELECT pgtrickle.alter_stream_table('a', refresh_mode => 'DIFFERENTIAL');
         DELETE FROM ord WHERE id % 5 = 0;
         SELECT pgtrickle.refresh_stream_table('a');
         DELETE FROM ord WHERE id % 5 = 1;
         SELECT pgtrickle.refresh_stream_table('a');",
    )
    .unwrap();
    assert_eq!(state_tables(&mut c, "a").len(), 1);
    assert_stream_table_matches_query(&mut c, "a");

    // A state table dropped behind pg_trickle's back (by a superuser detaching it from the
    // extension, with the event trigger disabled) is rebuilt by the next refresh with changes.
    let table = state_tables(&mut c, "a").remove(0);
    c.batch_execute(&format!(
        "ALTER EVENT TRIGGER pgt_sql_drop DISABLE;
         ALTER EXTENSION pg_trickle DROP TABLE pgtrickle_changes.{table};
         DROP TABLE pgtrickle_changes.{table};
         ALTER EVENT TRIGGER pgt_sql_drop ENABLE;
         DELETE FROM ord WHERE id % 5 = 2;
         SELECT pgtrickle.refresh_stream_table('a');"
    ))
    .unwrap();
    assert_eq!(state_tables(&mut c, "a"), vec![table]);
    assert_stream_table_matches_query(&mut c, "a");

    // Dropped with the stream table, by drop_stream_table or a DROP TABLE of its storage.
    c.batch_execute("SELECT pgtrickle.drop_stream_table('a')")
        .unwrap();
    assert_eq!(all_state_tables(&mut c), 1);
    c.batch_execute("DROP TABLE b").unwrap();
    assert_eq!(all_state_tables(&mut c), 0);
}

#[test]
fn an_owner_without_superuser_refreshes_through_its_state_tables() {
    let (_db, mut c) = db();
    let role: String = c
        .query_one("SELECT current_database() || '_owner'", &[])
        .unwrap()
        .get(0);
    c.batch_execute(&format!(
        "CREATE ROLE {role} NOLOGIN;
         GRANT SELECT ON cust, ord TO {role};
         SELECT pgtrickle.create_stream_table('st', $q${ORDERS_PER_CUSTOMER}$q$, refresh_mode => 'DIFFERENTIAL');
         ALTER TABLE st OWNER TO {role};
         DELETE FROM ord WHERE id % 50 = 0;
         SELECT pgtrickle.refresh_stream_table('st');"
    ))
    .unwrap();
    let (action, reason): (String, Option<String>) = c
        .query_one(
            "SELECT action, reason FROM pgtrickle.pgt_refresh_history ORDER BY refresh_id DESC LIMIT 1",
            &[],
        )
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(action, "DIFFERENTIAL", "{reason:?}");
    assert_stream_table_matches_query(&mut c, "st");
    c.batch_execute(&format!(
        "SELECT pgtrickle.drop_stream_table('st'); DROP OWNED BY {role}; DROP ROLE {role};"
    ))
    .unwrap();
}
