//! The capture trigger function (ADR-001): `pgtrickle._capture_changes(<source oid>)`
//! copies each statement's transition tables into the source's buffer by heap insertion.
//! These tests aim at what that copy must get right: every kind of value (out-of-line
//! TOASTed text, bytea, numeric, arrays, JSON, domains, NULLs), other triggers reading the
//! same transition tables, columns added, dropped and retyped between writes, writers
//! without any right on the buffer, and who may attach the function at all.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::{
    assert_stream_table_matches_query, change_buffer, cluster, expect_sql_error, refresh_and_assert,
};

#[test]
fn every_kind_of_value_is_copied_and_other_transition_table_readers_see_all_rows() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE DOMAIN pos AS int CHECK (VALUE > 0);
         CREATE TABLE src (id int, d pos, big text, b bytea, n numeric, a int[], j jsonb, ts timestamptz);
         ALTER TABLE src ALTER COLUMN big SET STORAGE EXTERNAL;
         INSERT INTO src SELECT i, i, repeat(md5(i::text), 200), decode(md5(i::text), 'hex'), i / 7.0,
                                ARRAY[i, NULL, i * 2], jsonb_build_object('i', i, 'odd', i % 2 = 1), '2026-01-01'::timestamptz + i * interval '1 hour'
                           FROM generate_series(1, 60) i;
         SELECT pgtrickle.create_stream_table('copy', 'SELECT id, d, big, b, n, a, j, ts FROM src', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('agg', 'SELECT d % 3 AS k, count(*) AS c, sum(length(big)) AS l, max(n) AS mx FROM src GROUP BY 1', refresh_mode => 'DIFFERENTIAL');
         -- A user trigger reading the same transition tables as the capture triggers.
         CREATE TABLE seen (op text, n bigint);
         CREATE FUNCTION seen_upd() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO public.seen SELECT 'old', count(*) FROM o; INSERT INTO public.seen SELECT 'new', count(*) FROM nw; RETURN NULL; END $$;
         CREATE TRIGGER a_seen AFTER UPDATE ON src REFERENCING OLD TABLE AS o NEW TABLE AS nw FOR EACH STATEMENT EXECUTE FUNCTION seen_upd();
         CREATE TRIGGER zz_seen AFTER UPDATE ON src REFERENCING OLD TABLE AS o NEW TABLE AS nw FOR EACH STATEMENT EXECUTE FUNCTION seen_upd();",
    )
    .unwrap();
    // Inserts with NULLs and duplicates, updates that keep a TOASTed value, change it or
    // move it, deletes of out-of-line values, and a statement that changes nothing.
    c.batch_execute(
        "INSERT INTO src VALUES (100, NULL, NULL, NULL, NULL, NULL, NULL, NULL), (100, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                               (101, 5, repeat('z', 100000), '\\x00ff', 'NaN', '{}', 'null', 'infinity');
         UPDATE src SET n = n + 1 WHERE id % 4 = 0;
         UPDATE src SET big = big || 'x' WHERE id % 5 = 0;
         UPDATE src SET id = id + 1000, d = d + 1 WHERE id % 6 = 0;
         DELETE FROM src WHERE id % 7 = 0;
         UPDATE src SET n = 0 WHERE false;",
    )
    .unwrap();
    // Statements of thousands of rows and megabytes: inserted in several batches.
    c.batch_execute(
        "INSERT INTO src (id, d, big, n) SELECT i, i, repeat(md5(i::text), 100), i FROM generate_series(1000, 3600) i;
         UPDATE src SET n = n + 1 WHERE id >= 1000;
         DELETE FROM src WHERE id >= 3000;",
    )
    .unwrap();
    refresh_and_assert(&mut c, &["copy", "agg"]);
    // Both user triggers saw every row of every UPDATE, before and after the capture
    // triggers (named __pgt_…, they fire between a_seen and zz_seen).
    let seen: Vec<(String, i64)> = c
        .query(
            "SELECT op, sum(n)::bigint FROM seen GROUP BY op ORDER BY op",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // 17 rows with id % 4 = 0 (the duplicate 100 twice), 14 with id % 5 = 0, 10 with id % 6 = 0,
    // and 2,610 rows with id >= 1000 (the 2,601 bulk rows, 9 moved there by id + 1000).
    let updated: i64 = 2 * (17 + 14 + 10 + 2610);
    assert_eq!(
        seen,
        vec![("new".to_string(), updated), ("old".to_string(), updated)]
    );
    // The buffer held the writer's xid and increasing change ids, D before I per UPDATE.
    c.batch_execute("UPDATE src SET n = -1 WHERE id = 1")
        .unwrap();
    let buf = change_buffer(&mut c, "src");
    let ops: Vec<String> = c
        .query(
            &format!("SELECT __pgt_op::text FROM {buf} ORDER BY __pgt_change_id"),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ops, vec!["D".to_string(), "I".to_string()]);
    // TRUNCATE is one T row, then a recomputation.
    c.batch_execute("TRUNCATE src; INSERT INTO src (id, d) VALUES (1, 1);")
        .unwrap();
    refresh_and_assert(&mut c, &["copy", "agg"]);
}

#[test]
fn columns_added_dropped_and_retyped_between_writes() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE src (id int, a text, b int, gone int);
         INSERT INTO src SELECT i, 'a' || i, i, i FROM generate_series(1, 20) i;
         SELECT pgtrickle.create_stream_table('st', 'SELECT id, a, b FROM src', refresh_mode => 'DIFFERENTIAL');
         INSERT INTO src VALUES (21, 'x', 21, 21);
         ALTER TABLE src DROP COLUMN gone;
         INSERT INTO src VALUES (22, 'y', 22);
         ALTER TABLE src ADD COLUMN extra text DEFAULT 'e';
         UPDATE src SET a = a || extra WHERE id % 3 = 0;
         DELETE FROM src WHERE id % 4 = 0;",
    )
    .unwrap();
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('st')")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "st");
    // Columns of the partition-like reordering: a table rewritten with another column
    // order keeps matching by name.
    c.batch_execute(
        "ALTER TABLE src ALTER COLUMN b TYPE bigint;
         INSERT INTO src VALUES (30, 'z', 5000000000, 'q');",
    )
    .unwrap();
    // The retyped column reads differently now: the stream table recomputes or reports it,
    // never keeps a wrong row.
    let r = c.batch_execute("SELECT pgtrickle.refresh_stream_table('st')");
    if r.is_ok() {
        assert_stream_table_matches_query(&mut c, "st");
    }
}

#[test]
fn writers_need_no_rights_on_the_buffer_and_only_superusers_attach_the_function() {
    let db = cluster().new_database();
    let mut c = db.client();
    let dbname: String = c
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    let writer = format!("{dbname}_writer");
    c.batch_execute(&format!(
        "CREATE ROLE {writer} NOLOGIN;
         CREATE TABLE src (id int, v text);
         GRANT INSERT, UPDATE, DELETE, SELECT ON src TO {writer};
         GRANT CREATE ON SCHEMA public TO {writer};
         SELECT pgtrickle.create_stream_table('st', 'SELECT id, v FROM src', refresh_mode => 'DIFFERENTIAL');
         SET ROLE {writer};
         INSERT INTO src SELECT i, 'v' || i FROM generate_series(1, 10) i;
         UPDATE src SET v = 'w' WHERE id < 4;
         DELETE FROM src WHERE id = 9;
         CREATE TABLE mine (id int, v text);"
    ))
    .unwrap();
    let src_oid: u32 = c
        .query_one("SELECT 'src'::regclass::oid", &[])
        .unwrap()
        .get(0);
    // Creating a trigger needs EXECUTE on its function: revoked from PUBLIC.
    expect_sql_error(
        &mut c,
        &format!(
            "CREATE TRIGGER fake AFTER INSERT ON mine REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._capture_changes('{src_oid}')"
        ),
        SqlState::INSUFFICIENT_PRIVILEGE,
        "permission denied",
    );
    c.batch_execute("RESET ROLE").unwrap();
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('st')")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "st");
    // Attached (by a superuser) to a table that is not the source or one of its
    // partitions, it writes nothing into the source's buffer.
    c.batch_execute(&format!(
        "CREATE TRIGGER stray AFTER INSERT ON mine REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._capture_changes('{src_oid}');
         INSERT INTO mine VALUES (1, 'not a change of src');"
    ))
    .unwrap();
    let buf = change_buffer(&mut c, "src");
    let n: i64 = c
        .query_one(&format!("SELECT count(*) FROM {buf}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    // Without its argument, or as a row trigger, it refuses to run.
    c.batch_execute(
        "CREATE TRIGGER noarg AFTER INSERT ON mine REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._capture_changes()",
    )
    .unwrap();
    expect_sql_error(
        &mut c,
        "INSERT INTO mine VALUES (2, 'x')",
        SqlState::E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
        "source's OID",
    );
    c.batch_execute(&format!(
        "DROP TRIGGER noarg ON mine; DROP TRIGGER stray ON mine;
         CREATE TRIGGER rowwise AFTER INSERT ON src FOR EACH ROW EXECUTE FUNCTION pgtrickle._capture_changes('{src_oid}');"
    ))
    .unwrap();
    expect_sql_error(
        &mut c,
        "INSERT INTO src VALUES (2, 'x')",
        SqlState::E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
        "transition tables",
    );
    c.batch_execute(&format!(
        "DROP TRIGGER rowwise ON src; DROP TABLE mine; REVOKE ALL ON src FROM {writer}; REVOKE CREATE ON SCHEMA public FROM {writer}; DROP ROLE {writer};"
    ))
    .unwrap();
}

/// A statement on a partition fires only the partition's statement triggers: every
/// partition of a partitioned source carries the capture triggers too. Partitions created,
/// attached with rows, detached and dropped keep the stream tables right.
#[test]
fn writes_straight_into_partitions_are_captured_and_the_tree_may_change() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE m (id int, region text, v int) PARTITION BY LIST (region);
         CREATE TABLE m_eu PARTITION OF m FOR VALUES IN ('eu');
         CREATE TABLE m_us PARTITION OF m FOR VALUES IN ('us') PARTITION BY RANGE (id);
         CREATE TABLE m_us_lo PARTITION OF m_us FOR VALUES FROM (MINVALUE) TO (1000);
         -- A partition with its own column order and a dropped column.
         CREATE TABLE m_us_hi (x int, v int, region text, id int);
         ALTER TABLE m_us_hi DROP COLUMN x;
         ALTER TABLE m_us ATTACH PARTITION m_us_hi FOR VALUES FROM (1000) TO (MAXVALUE);
         INSERT INTO m SELECT i, CASE WHEN i % 2 = 0 THEN 'eu' ELSE 'us' END, i FROM generate_series(1, 2000) i;
         SELECT pgtrickle.create_stream_table('per_region', 'SELECT region, count(*) AS n, sum(v) AS s FROM m GROUP BY region', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('rows_of_m', 'SELECT id, region, v FROM m', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    let check = |c: &mut pgt_testkit::postgres::Client, expect: &str| {
        for st in ["per_region", "rows_of_m"] {
            c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
                .unwrap();
            assert_stream_table_matches_query(c, st);
            assert_eq!(pgt_testkit::last_refresh(c, st).0, expect, "{st}");
        }
    };
    // Straight into leaves and into a partitioned partition; row movement through the root.
    c.batch_execute(
        "INSERT INTO m_eu VALUES (5000, 'eu', 1), (5001, 'eu', NULL);
         UPDATE m_us_hi SET v = v + 1 WHERE id % 10 = 1;
         DELETE FROM m_us WHERE id % 7 = 0;
         UPDATE m_us_lo SET v = -v WHERE id < 50;
         UPDATE m SET region = 'eu' WHERE id = 3;",
    )
    .unwrap();
    check(&mut c, "DIFFERENTIAL");
    // A new (empty) partition is captured from its first row on, incrementally.
    c.batch_execute(
        "CREATE TABLE m_asia PARTITION OF m FOR VALUES IN ('asia');
         INSERT INTO m_asia VALUES (7000, 'asia', 7), (7001, 'asia', 8);
         DELETE FROM m_asia WHERE id = 7001;",
    )
    .unwrap();
    check(&mut c, "DIFFERENTIAL");
    // Attached with rows, detached, dropped, truncated: rows come or go without a row
    // change, and the stream tables recompute.
    c.batch_execute(
        "CREATE TABLE m_sa (LIKE m); INSERT INTO m_sa VALUES (8000, 'sa', 8);
         ALTER TABLE m ATTACH PARTITION m_sa FOR VALUES IN ('sa');",
    )
    .unwrap();
    check(&mut c, "FULL");
    c.batch_execute("INSERT INTO m_sa VALUES (8001, 'sa', 9);")
        .unwrap();
    check(&mut c, "DIFFERENTIAL");
    c.batch_execute(
        "ALTER TABLE m DETACH PARTITION m_eu;
         INSERT INTO m_eu VALUES (9000, 'eu', 9);",
    )
    .unwrap();
    check(&mut c, "FULL");
    // The detached table lost the triggers (its writes are its own now).
    let left: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'm_eu'::regclass AND tgname LIKE '__pgt_cdc%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    c.batch_execute("DROP TABLE m_asia").unwrap();
    check(&mut c, "FULL");
    c.batch_execute("TRUNCATE m_us_lo").unwrap();
    check(&mut c, "FULL");
    // A partition's capture trigger is pg_trickle's like the source's.
    expect_sql_error(
        &mut c,
        "ALTER TABLE m_us_hi DISABLE TRIGGER __pgt_cdc_ins",
        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
        "__pgt_cdc_ins",
    );
    expect_sql_error(
        &mut c,
        "DROP TRIGGER __pgt_cdc_del ON m_us_hi",
        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
        "__pgt_cdc_del",
    );
    c.batch_execute("UPDATE m SET v = 0 WHERE id % 3 = 0")
        .unwrap();
    check(&mut c, "DIFFERENTIAL");
    // With the last stream table, the partitions' triggers go too.
    c.batch_execute(
        "SELECT pgtrickle.drop_stream_table('per_region'); SELECT pgtrickle.drop_stream_table('rows_of_m');
         INSERT INTO m_us_lo VALUES (1, 'us', 1);",
    )
    .unwrap();
    let left: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgname LIKE '__pgt_cdc%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}
