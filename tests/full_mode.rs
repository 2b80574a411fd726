//! End-to-end tests of FULL-mode stream tables against a real PostgreSQL 18 cluster:
//! every API function, catalog bookkeeping, and the read-only guarantee.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{assert_stream_table_matches_query, cluster, expect_sql_error, TestDb};

fn db() -> (TestDb, Client) {
    let db = cluster().new_database();
    let client = db.client();
    (db, client)
}

fn scalar<T: for<'a> pgt_testkit::postgres::types::FromSql<'a>>(c: &mut Client, sql: &str) -> T {
    c.query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

const ORDERS: &str = "
    CREATE TABLE orders (id int, customer text, amount numeric(10,2), note text);
    INSERT INTO orders VALUES
      (1, 'alice', 10.50, NULL), (2, 'bob', 20.00, 'x'), (3, 'alice', 5.25, 'y'),
      (4, NULL, 7.00, NULL), (5, 'carol', NULL, 'z'), (5, 'carol', NULL, 'z'), (6, 'bob', 20.00, 'x');";

#[test]
fn create_fills_the_table_and_records_the_catalog() {
    let (_db, mut c) = db();
    c.batch_execute(ORDERS).unwrap();
    c.batch_execute("SELECT pgtrickle.create_stream_table('big_orders', 'SELECT id, customer, amount FROM orders WHERE amount > 6')")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "big_orders");
    assert_eq!(scalar::<i64>(&mut c, "SELECT count(*) FROM big_orders"), 4);

    let row = c
        .query_one(
            "SELECT pgt_schema::text, pgt_name::text, schedule, refresh_mode, effective_refresh_mode, refresh_mode_reason, \
                    status, is_populated, data_timestamp IS NOT NULL, last_refresh_at IS NOT NULL, consecutive_errors, \
                    original_query, defining_query \
               FROM pgtrickle.pgt_stream_tables",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "public");
    assert_eq!(row.get::<_, String>(1), "big_orders");
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("1m"));
    assert_eq!(row.get::<_, String>(3), "AUTO");
    // AUTO chose incremental maintenance for this query; nothing to explain.
    assert_eq!(row.get::<_, String>(4), "DIFFERENTIAL");
    assert_eq!(row.get::<_, Option<String>>(5), None);
    assert_eq!(row.get::<_, String>(6), "ACTIVE");
    assert!(row.get::<_, bool>(7));
    assert!(row.get::<_, bool>(8));
    assert!(row.get::<_, bool>(9));
    assert_eq!(row.get::<_, i32>(10), 0);
    assert_eq!(
        row.get::<_, String>(11),
        "SELECT id, customer, amount FROM orders WHERE amount > 6"
    );
    // The stored query is PostgreSQL's own rendering, schema-qualified.
    assert!(
        row.get::<_, String>(12).contains("public.orders"),
        "{}",
        row.get::<_, String>(12)
    );

    let dep = c
        .query_one(
            "SELECT source_relid = 'orders'::regclass, source_schema::text, source_name::text, source_type, columns_used \
               FROM pgtrickle.pgt_dependencies",
            &[],
        )
        .unwrap();
    assert!(dep.get::<_, bool>(0));
    assert_eq!(dep.get::<_, String>(1), "public");
    assert_eq!(dep.get::<_, String>(2), "orders");
    assert_eq!(dep.get::<_, String>(3), "TABLE");
    assert_eq!(
        dep.get::<_, Vec<String>>(4),
        vec!["id", "customer", "amount"]
    );

    let hist = c
        .query_one(
            "SELECT action, status, initiated_by, rows_inserted, rows_deleted, reason IS NOT NULL, ended_at >= started_at \
               FROM pgtrickle.pgt_refresh_history",
            &[],
        )
        .unwrap();
    assert_eq!(hist.get::<_, String>(0), "FULL");
    assert_eq!(hist.get::<_, String>(1), "COMPLETED");
    assert_eq!(hist.get::<_, String>(2), "CREATE");
    assert_eq!(hist.get::<_, i64>(3), 4);
    assert_eq!(hist.get::<_, i64>(4), 0);
    assert!(hist.get::<_, bool>(5));
    assert!(hist.get::<_, bool>(6));
}

#[test]
fn refresh_follows_inserts_updates_deletes_with_nulls_and_duplicates() {
    let (_db, mut c) = db();
    c.batch_execute(ORDERS).unwrap();
    c.batch_execute("SELECT pgtrickle.create_stream_table('o', 'SELECT customer, amount, note FROM orders', refresh_mode => 'FULL')")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "o");
    let ids_before: Vec<i64> = c
        .query(
            "SELECT __pgt_row_id FROM o WHERE customer = 'alice' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    c.batch_execute(
        "INSERT INTO orders VALUES (7, NULL, NULL, NULL), (8, 'bob', 20.00, 'x');
         UPDATE orders SET amount = amount + 1 WHERE customer = 'bob' AND id = 2;
         DELETE FROM orders WHERE id = 5 AND ctid = (SELECT min(ctid) FROM orders WHERE id = 5);",
    )
    .unwrap();
    assert_ne!(
        stream_rows(&mut c, "o"),
        query_rows(&mut c, "SELECT customer, amount, note FROM orders")
    );
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('o')")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "o");

    // Unchanged rows keep their identity; the counts are the real change of the projected
    // rows: (NULL,NULL,NULL) and (bob,21.00,x) appear; one (carol,NULL,z) duplicate goes.
    // The inserted (bob,20.00,x) replaces the updated one, so that row is untouched.
    let ids_after: Vec<i64> = c
        .query(
            "SELECT __pgt_row_id FROM o WHERE customer = 'alice' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids_before, ids_after);
    let (ins, del): (i64, i64) = {
        let r = c
            .query_one(
                "SELECT rows_inserted, rows_deleted FROM pgtrickle.pgt_refresh_history \
                  WHERE initiated_by = 'MANUAL' ORDER BY refresh_id DESC LIMIT 1",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((ins, del), (2, 1));

    // Deleting everything, then refreshing, leaves an empty stream table.
    c.batch_execute("DELETE FROM orders; SELECT pgtrickle.refresh_stream_table('o')")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "o");
    assert_eq!(scalar::<i64>(&mut c, "SELECT count(*) FROM o"), 0);
    // A refresh with nothing to do changes nothing.
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('o')")
        .unwrap();
    let r = c
        .query_one("SELECT rows_inserted, rows_deleted FROM pgtrickle.pgt_refresh_history ORDER BY refresh_id DESC LIMIT 1", &[])
        .unwrap();
    assert_eq!((r.get::<_, i64>(0), r.get::<_, i64>(1)), (0, 0));
}

fn stream_rows(c: &mut Client, st: &str) -> Vec<String> {
    let cols = scalar::<String>(
        c,
        &format!(
            "SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) FROM pg_attribute \
              WHERE attrelid = '{st}'::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\\_\\_pgt%'"
        ),
    );
    query_rows(c, &format!("SELECT {cols} FROM {st}"))
}

fn query_rows(c: &mut Client, sql: &str) -> Vec<String> {
    c.query(&format!("SELECT t::text FROM ({sql}) t ORDER BY 1"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn constructs_in_full_mode() {
    let (_db, mut c) = db();
    c.batch_execute(ORDERS).unwrap();
    c.batch_execute(
        "CREATE TABLE customers (name text PRIMARY KEY, region text);
         INSERT INTO customers VALUES ('alice', 'north'), ('bob', 'south'), ('dave', NULL);
         CREATE VIEW v_orders AS SELECT * FROM orders WHERE amount IS NOT NULL;",
    )
    .unwrap();
    let shapes = [
        ("agg", "SELECT customer, count(*) AS n, sum(amount) AS total, min(amount) AS lo, max(note) AS hi FROM orders GROUP BY customer"),
        ("joined", "SELECT o.id, c.region FROM orders o JOIN customers c ON c.name = o.customer"),
        ("outer", "SELECT o.id, c.region FROM orders o LEFT JOIN customers c ON c.name = o.customer"),
        ("with_cte", "WITH t AS (SELECT customer, amount FROM orders WHERE amount > 1) SELECT customer, sum(amount) AS s FROM t GROUP BY customer HAVING count(*) > 1"),
        ("sub", "SELECT x.customer FROM (SELECT DISTINCT customer FROM orders) x WHERE x.customer IN (SELECT name FROM customers)"),
        ("from_view", "SELECT id, amount * 2 AS double FROM v_orders"),
        ("union_all", "SELECT customer AS who FROM orders UNION ALL SELECT name FROM customers"),
        ("windowed", "SELECT id, row_number() OVER (PARTITION BY customer ORDER BY id) AS rn FROM orders WHERE id <> 5"),
        ("case_cast", "SELECT id, CASE WHEN amount > 10 THEN 'big' ELSE 'small' END AS size, amount::int AS whole FROM orders"),
        ("no_source", "SELECT 1 AS one, 'two'::text AS two"),
    ];
    for (name, q) in shapes {
        c.batch_execute(&format!(
            "SELECT pgtrickle.create_stream_table('{name}', $q${q}$q$, refresh_mode => 'FULL')"
        ))
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_stream_table_matches_query(&mut c, name);
    }
    c.batch_execute(
        "INSERT INTO orders VALUES (9, 'dave', 99.99, 'q'), (10, 'alice', 1.00, NULL);
         UPDATE orders SET customer = 'bob' WHERE id = 1;
         DELETE FROM orders WHERE id = 3;
         UPDATE customers SET region = 'east' WHERE name = 'bob';",
    )
    .unwrap();
    for (name, _) in shapes {
        c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{name}')"))
            .unwrap();
        assert_stream_table_matches_query(&mut c, name);
    }
    let view_dep: String = scalar(&mut c, "SELECT d.source_type FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) WHERE s.pgt_name = 'from_view'");
    assert_eq!(view_dep, "VIEW");
}

#[test]
fn stream_table_reading_a_stream_table() {
    let (_db, mut c) = db();
    c.batch_execute(ORDERS).unwrap();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('totals', 'SELECT customer, sum(amount) AS total FROM orders GROUP BY customer');
         SELECT pgtrickle.create_stream_table('top', 'SELECT customer FROM totals WHERE total > 15');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "top");
    let t: String = scalar(&mut c, "SELECT source_type FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) WHERE s.pgt_name = 'top'");
    assert_eq!(t, "STREAM_TABLE");
    // The user-visible columns of a stream table are exactly the query's columns; the
    // others are pg_trickle's hidden __pgt_* columns.
    let cols: Vec<String> = c
        .query("SELECT attname::text FROM pg_attribute WHERE attrelid = 'top'::regclass AND attnum > 0 AND attname NOT LIKE '\\_\\_pgt\\_%' ORDER BY attnum", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(cols, vec!["customer"]);
    c.batch_execute(
        "INSERT INTO orders VALUES (11, 'dave', 50, NULL);
         SELECT pgtrickle.refresh_stream_table('totals'); SELECT pgtrickle.refresh_stream_table('top');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "totals");
    assert_stream_table_matches_query(&mut c, "top");
}

#[test]
fn column_types_keep_their_full_declarations() {
    let (_db, mut c) = db();
    c.batch_execute(
        r#"CREATE TABLE typed (
             n numeric(8,2), ch char(10), vc varchar(20), t text COLLATE "C", j json, jb jsonb,
             arr int[], ts timestamptz, iv interval, b bytea, f float8, u uuid, bo bool);
           INSERT INTO typed VALUES
             (1.5, 'ab', 'xyz', 'Zed', '{"a": [1, 2]}', '{"b": null}', '{1,NULL,3}', '2024-01-02 03:04:05+00',
              '1 day 2 hours', '\x00ff', 0.1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true),
             (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'NaN', NULL, NULL),
             (-0.01, '', '', '', '[]', '[]', '{}', 'infinity', '-1 mon', '\x', -0.0, NULL, false);"#,
    )
    .unwrap();
    c.batch_execute("SELECT pgtrickle.create_stream_table('typed_st', 'SELECT * FROM typed', refresh_mode => 'FULL')").unwrap();
    assert_stream_table_matches_query(&mut c, "typed_st");
    let types: Vec<String> = c
        .query(
            "SELECT format_type(atttypid, atttypmod) || coalesce(' COLLATE ' || (SELECT collname FROM pg_collation WHERE oid = attcollation AND attcollation <> 100 AND collname <> 'default'), '') \
               FROM pg_attribute WHERE attrelid = 'typed_st'::regclass AND attnum > 1 ORDER BY attnum",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        types,
        vec![
            "numeric(8,2)",
            "character(10)",
            "character varying(20)",
            "text COLLATE C",
            "json",
            "jsonb",
            "integer[]",
            "timestamp with time zone",
            "interval",
            "bytea",
            "double precision",
            "uuid",
            "boolean"
        ]
    );
    c.batch_execute("UPDATE typed SET j = '{\"a\": 2}', n = 2.25 WHERE bo; SELECT pgtrickle.refresh_stream_table('typed_st')").unwrap();
    assert_stream_table_matches_query(&mut c, "typed_st");
}

#[test]
fn hostile_names_and_search_path_independence() {
    let (_db, mut c) = db();
    c.batch_execute(
        r#"CREATE SCHEMA "My Schema";
           CREATE TABLE "My Schema"."Source ""T""" ("Key" int, "select" text, "we;ird" text);
           INSERT INTO "My Schema"."Source ""T""" VALUES (1, 'a', 'b'), (2, NULL, '''quoted''');"#,
    )
    .unwrap();
    let create = r#"SET search_path = "My Schema";
           SELECT pgtrickle.create_stream_table(
             'pgtrickle_st."DROP TABLE x; --"',
             $q$SELECT "Key", "select", "we;ird" FROM "Source ""T""" WHERE "select" IS DISTINCT FROM 'x'';--'$q$);
           RESET search_path;"#;
    expect_sql_error(
        &mut c,
        create,
        SqlState::INVALID_SCHEMA_NAME,
        "pgtrickle_st",
    );
    c.batch_execute("RESET search_path; CREATE SCHEMA pgtrickle_st")
        .unwrap();
    c.batch_execute(create).unwrap();
    let st = r#"pgtrickle_st."DROP TABLE x; --""#;
    assert_stream_table_matches_query(&mut c, st);
    // With a search_path that cannot see the source, refresh still works: the stored
    // query is schema-qualified.
    c.batch_execute(&format!(
        r#"INSERT INTO "My Schema"."Source ""T""" VALUES (3, 'c', 'd');
           SET search_path = pg_catalog;
           SELECT pgtrickle.refresh_stream_table('{}');
           RESET search_path;"#,
        st.replace('\'', "''")
    ))
    .unwrap();
    assert_stream_table_matches_query(&mut c, st);
    assert_eq!(
        scalar::<i64>(&mut c, &format!("SELECT count(*) FROM {st}")),
        3
    );
    c.batch_execute(&format!(
        "SELECT pgtrickle.drop_stream_table('{}')",
        st.replace('\'', "''")
    ))
    .unwrap();
    assert_eq!(
        scalar::<i64>(&mut c, "SELECT count(*) FROM pgtrickle.pgt_stream_tables"),
        0
    );
}

#[test]
fn initialize_false_leaves_the_table_unpopulated_until_refresh() {
    let (_db, mut c) = db();
    c.batch_execute(ORDERS).unwrap();
    c.batch_execute("SELECT pgtrickle.create_stream_table('lazy', 'SELECT id FROM orders', initialize => false)").unwrap();
    assert_eq!(scalar::<i64>(&mut c, "SELECT count(*) FROM lazy"), 0);
    assert!(!scalar::<bool>(
        &mut c,
        "SELECT is_populated FROM pgtrickle.pgt_stream_tables"
    ));
    assert_eq!(
        scalar::<i64>(&mut c, "SELECT count(*) FROM pgtrickle.pgt_refresh_history"),
        0
    );
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('lazy')")
        .unwrap();
    assert!(scalar::<bool>(
        &mut c,
        "SELECT is_populated FROM pgtrickle.pgt_stream_tables"
    ));
    assert_stream_table_matches_query(&mut c, "lazy");
}

#[test]
fn positional_arguments_work() {
    let (_db, mut c) = db();
    c.batch_execute(ORDERS).unwrap();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('pos', 'SELECT id FROM orders', '5m', 'FULL', true)",
    )
    .unwrap();
    c.batch_execute("SELECT pgtrickle.alter_stream_table('pos', '10m')")
        .unwrap();
    assert_eq!(
        scalar::<String>(&mut c, "SELECT schedule FROM pgtrickle.pgt_stream_tables"),
        "10m"
    );
    assert_stream_table_matches_query(&mut c, "pos");
}

#[test]
fn alter_changes_only_the_given_settings() {
    let (_db, mut c) = db();
    c.batch_execute(ORDERS).unwrap();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('a', 'SELECT id FROM orders', schedule => '30s')",
    )
    .unwrap();
    let settings = |c: &mut Client| -> (Option<String>, String, String, Option<String>, String) {
        let r = c
            .query_one("SELECT schedule, refresh_mode, effective_refresh_mode, refresh_mode_reason, status FROM pgtrickle.pgt_stream_tables", &[])
            .unwrap();
        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
    };
    let s0 = settings(&mut c);
    assert_eq!(s0.0.as_deref(), Some("30s"));

    c.batch_execute("SELECT pgtrickle.alter_stream_table('a', schedule => '1h30m')")
        .unwrap();
    let s1 = settings(&mut c);
    assert_eq!(s1.0.as_deref(), Some("1h30m"));
    assert_eq!((&s1.1, &s1.2, &s1.3, &s1.4), (&s0.1, &s0.2, &s0.3, &s0.4));

    c.batch_execute("SELECT pgtrickle.alter_stream_table('a', refresh_mode => 'full')")
        .unwrap();
    let s2 = settings(&mut c);
    assert_eq!(
        (s2.1.as_str(), s2.2.as_str(), s2.3.as_deref()),
        ("FULL", "FULL", None)
    );
    assert_eq!(s2.0, s1.0);

    c.batch_execute("SELECT pgtrickle.alter_stream_table('a', status => 'SUSPENDED')")
        .unwrap();
    assert_eq!(settings(&mut c).4, "SUSPENDED");
    // A manual refresh of a suspended stream table still works (suspension stops only
    // automatic refreshes).
    c.batch_execute("INSERT INTO orders VALUES (42); SELECT pgtrickle.refresh_stream_table('a')")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "a");
    c.batch_execute(
        "SELECT pgtrickle.alter_stream_table('a', status => 'active', schedule => '*/5 * * * *')",
    )
    .unwrap();
    let s3 = settings(&mut c);
    assert_eq!(
        (s3.0.as_deref(), s3.4.as_str()),
        (Some("*/5 * * * *"), "ACTIVE")
    );
    c.batch_execute("SELECT pgtrickle.alter_stream_table('a', schedule => 'calculated')")
        .unwrap();
    assert_eq!(settings(&mut c).0, None);

    // Invalid values change nothing, even when combined with valid ones.
    let before = settings(&mut c);
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.alter_stream_table('a', schedule => '5m', status => 'ERROR')",
        SqlState::INVALID_PARAMETER_VALUE,
        "invalid status",
    );
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.alter_stream_table('a', schedule => '5 minutes')",
        SqlState::INVALID_PARAMETER_VALUE,
        "invalid schedule",
    );
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.alter_stream_table('a', refresh_mode => 'sometimes')",
        SqlState::INVALID_PARAMETER_VALUE,
        "invalid refresh mode",
    );
    assert_eq!(settings(&mut c), before);
    assert_stream_table_matches_query(&mut c, "a");
}

#[test]
fn drop_removes_everything_and_plain_drop_table_leaves_no_orphans() {
    let (_db, mut c) = db();
    c.batch_execute(ORDERS).unwrap();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('d1', 'SELECT id FROM orders');
         SELECT pgtrickle.create_stream_table('d2', 'SELECT customer FROM orders');
         SELECT pgtrickle.refresh_stream_table('d1');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "d1");
    c.batch_execute("SELECT pgtrickle.drop_stream_table('d1')")
        .unwrap();
    assert_eq!(
        scalar::<Option<String>>(&mut c, "SELECT to_regclass('d1')::text"),
        None
    );
    assert_eq!(
        scalar::<i64>(
            &mut c,
            "SELECT count(*) FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'd1'"
        ),
        0
    );

    c.batch_execute("DROP TABLE d2").unwrap();
    for t in [
        "pgt_stream_tables",
        "pgt_dependencies",
        "pgt_refresh_history",
    ] {
        assert_eq!(
            scalar::<i64>(&mut c, &format!("SELECT count(*) FROM pgtrickle.{t}")),
            0,
            "{t}"
        );
    }
    // A rolled-back drop leaves the stream table intact.
    c.batch_execute("SELECT pgtrickle.create_stream_table('d3', 'SELECT id FROM orders')")
        .unwrap();
    c.batch_execute("BEGIN; SELECT pgtrickle.drop_stream_table('d3'); ROLLBACK;")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "d3");
}

#[test]
fn direct_writes_are_refused_but_refresh_works() {
    let (_db, mut c) = db();
    c.batch_execute(ORDERS).unwrap();
    c.batch_execute("SELECT pgtrickle.create_stream_table('ro', 'SELECT id, note FROM orders')")
        .unwrap();
    for (sql, op) in [
        ("INSERT INTO ro VALUES (1, 99, 'x')", "INSERT"),
        ("UPDATE ro SET note = 'hacked'", "UPDATE"),
        ("DELETE FROM ro", "DELETE"),
        ("TRUNCATE ro", "TRUNCATE"),
        ("MERGE INTO ro USING (SELECT 1 AS k) s ON false WHEN NOT MATCHED THEN INSERT VALUES (5, 5, 'm')", "INSERT"),
    ] {
        let e = expect_sql_error(&mut c, sql, SqlState::WRONG_OBJECT_TYPE, &format!("cannot {op} stream table \"public.ro\""));
        assert!(e.hint.is_some());
    }
    c.batch_execute("UPDATE orders SET note = 'n' WHERE note IS NULL; SELECT pgtrickle.refresh_stream_table('ro')").unwrap();
    assert_stream_table_matches_query(&mut c, "ro");
}

#[test]
fn renamed_storage_table_keeps_working() {
    let (_db, mut c) = db();
    c.batch_execute(ORDERS).unwrap();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('before', 'SELECT id FROM orders');
         ALTER TABLE before RENAME TO after;
         INSERT INTO orders VALUES (100);
         SELECT pgtrickle.refresh_stream_table('after');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "after");
    assert_eq!(
        scalar::<String>(
            &mut c,
            "SELECT pgt_name::text FROM pgtrickle.pgt_stream_tables"
        ),
        "after"
    );
}

#[test]
fn dropping_a_source_puts_the_stream_table_in_error() {
    let (_db, mut c) = db();
    c.batch_execute(ORDERS).unwrap();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('dep', 'SELECT id FROM orders'); DROP TABLE orders;",
    )
    .unwrap();
    let (status, reason): (String, String) = {
        let r = c
            .query_one(
                "SELECT status, status_reason FROM pgtrickle.pgt_stream_tables",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(status, "ERROR");
    assert!(reason.contains("public.orders"), "{reason}");
    let e = expect_sql_error(
        &mut c,
        "SELECT pgtrickle.refresh_stream_table('dep')",
        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
        "is in status ERROR",
    );
    assert!(e.detail.unwrap().contains("public.orders"));
}

#[test]
fn hash_function_is_deterministic_and_seeded() {
    let (_db, mut c) = db();
    assert_eq!(
        scalar::<i64>(&mut c, "SELECT pgtrickle.pg_trickle_hash('abc')") as u64,
        0x44BC_2CF5_AD77_0999
    );
    assert_eq!(
        scalar::<i64>(&mut c, "SELECT pgtrickle.pg_trickle_hash('abc', 0)") as u64,
        0x44BC_2CF5_AD77_0999
    );
    assert_ne!(
        scalar::<i64>(&mut c, "SELECT pgtrickle.pg_trickle_hash('abc', 1)"),
        scalar::<i64>(&mut c, "SELECT pgtrickle.pg_trickle_hash('abc', 2)")
    );
    assert_eq!(
        scalar::<Option<i64>>(&mut c, "SELECT pgtrickle.pg_trickle_hash(NULL)"),
        None
    );
    assert_eq!(scalar::<String>(&mut c, "SELECT string_agg(DISTINCT provolatile::text, '') FROM pg_proc WHERE proname LIKE 'pg_trickle_hash%'"), "i");
    // The bytea overload hashes the same bytes the same way; combine separates occurrences.
    assert_eq!(
        scalar::<i64>(&mut c, "SELECT pgtrickle.pg_trickle_hash('abc'::bytea)") as u64,
        0x44BC_2CF5_AD77_0999
    );
    assert_ne!(
        scalar::<i64>(&mut c, "SELECT pgtrickle.pg_trickle_hash_combine(42, 1)"),
        scalar::<i64>(&mut c, "SELECT pgtrickle.pg_trickle_hash_combine(42, 2)")
    );
}
