//! Any group key (ADR-055): values that are equal but differ in binary form land in one
//! group, exactly as PostgreSQL groups them — `1.0`/`1.00` (numeric), `-0`/`0` (float),
//! `'1 day'`/`'24 hours'` (interval), arrays and composites of those, and text under a
//! case-insensitive collation. Keys of such types are identified by the type's own
//! extended hash function. jsonb keys are refused: jsonb's hash does not tell apart
//! values that differ only in nesting (`[null, {}]`, `[null, {}, {}]`). The group shows one of its equal forms (the
//! one stored when the group appeared), as PostgreSQL shows one of them; the comparison
//! with the query is therefore by the types' equality.

use pgt_testkit::{assert_stream_table_equals_query, cluster};

const SHAPES: &[(&str, &str)] = &[
    ("by_interval", "SELECT iv, count(*) AS n, sum(x) AS s FROM t GROUP BY iv"),
    ("by_array", "SELECT arr, max(x) AS mx FROM t GROUP BY arr"),
    ("by_composite", "SELECT pair, count(*) AS n FROM t GROUP BY pair"),
    ("by_ci_text", "SELECT name, count(*) AS n, min(x) AS lo FROM t GROUP BY name"),
    ("by_float", "SELECT f, count(*) AS n FROM t GROUP BY f"),
    ("distinct_mixed", "SELECT DISTINCT iv, arr, name FROM t"),
    ("below_top", "SELECT s.n, count(*) AS groups FROM (SELECT iv, pair, count(*) AS n FROM t GROUP BY iv, pair) s GROUP BY s.n"),
    ("window_by_interval", "SELECT id, iv, count(*) OVER (PARTITION BY iv) AS c FROM t"),
    ("union_ci", "SELECT name FROM t WHERE x > 3 UNION SELECT name FROM t WHERE x < 2"),
];

#[test]
fn equal_keys_with_different_forms_share_one_group() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
         CREATE TYPE pair AS (a numeric, b interval);
         CREATE TABLE t (id int PRIMARY KEY, x int, iv interval, doc jsonb, arr numeric[],
                         pair pair, name text COLLATE ci, f float8);",
    )
    .unwrap();
    // Row `i` takes one of several equal forms of its key.
    let insert = |from: i32, to: i32| {
        format!(
            "INSERT INTO t SELECT i, i % 7,
                    (ARRAY['1 day', '24 hours', '1440 minutes', '2 days', '1 mon', '30 days', NULL]::interval[])[1 + i % 7],
                    (ARRAY['{{\"a\": 1.0}}', '{{\"a\": 1}}', '{{\"a\": 1.00, \"b\": [2.0]}}', '{{\"b\": [2], \"a\": 1}}', 'null', NULL]::jsonb[])[1 + i % 6],
                    CASE i % 3 WHEN 0 THEN ARRAY[1.0, 2] WHEN 1 THEN ARRAY[1, 2.00] ELSE ARRAY[3.5] END,
                    ROW((ARRAY[1.0, 1.00, 2])[1 + i % 3], (ARRAY['1 day', '24 hours'])[1 + i % 2]::interval)::pair,
                    (ARRAY['Alpha', 'ALPHA', 'alpha', 'beta', 'Beta', NULL])[1 + i % 6],
                    (ARRAY['0', '-0', '1.5', 'NaN'])[1 + i % 4]::float8
               FROM generate_series({from}, {to}) i"
        )
    };
    c.batch_execute(&insert(1, 60)).unwrap();
    for (name, query) in SHAPES {
        c.batch_execute(&format!(
            "SELECT pgtrickle.create_stream_table('{name}', $q${query}$q$, refresh_mode => 'DIFFERENTIAL')"
        ))
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    for round in 0..8 {
        c.batch_execute(&format!(
            "DELETE FROM t WHERE id % 9 = {round};
             UPDATE t SET iv = iv * 1 + interval '0 hours', doc = doc || '{{}}', name = upper(name) WHERE id % 5 = {m};
             UPDATE t SET iv = '24 hours', arr = ARRAY[1.000, 2.0], f = -0.0 WHERE id % 11 = {round};
             {ins};",
            m = round % 5,
            ins = insert(100 + 10 * round, 106 + 10 * round)
        ))
        .unwrap();
        for (name, _) in SHAPES {
            if let Err(e) =
                c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{name}')"))
            {
                let plan = pgt_testkit::explain_stream_table(&mut c, name);
                let rows: Vec<String> = c
                    .query(&format!("SELECT ({name})::text FROM {name}"), &[])
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                panic!("round {round}, {name}: {e:?}\n{plan}\nstored: {rows:?}");
            }
            assert_stream_table_equals_query(&mut c, name);
        }
    }
    // One row per group: '1 day', '24 hours' and '1440 minutes' are one key.
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM by_interval WHERE iv = interval '1 day'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    let n: i64 = c
        .query_one("SELECT count(*) FROM by_ci_text WHERE name = 'alpha'", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    // jsonb keys are refused by name.
    let e = pgt_testkit::expect_sql_error(
        &mut c,
        "SELECT pgtrickle.create_stream_table('by_jsonb', 'SELECT doc, count(*) FROM t GROUP BY doc', refresh_mode => 'DIFFERENTIAL')",
        pgt_testkit::postgres::error::SqlState::FEATURE_NOT_SUPPORTED,
        "cannot maintain stream table",
    );
    assert!(format!("{:?}", e.detail).contains("jsonb"), "{e:?}");
}
