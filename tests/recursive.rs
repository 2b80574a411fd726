//! `WITH RECURSIVE`: `UNION` recursions keep their fixpoint and are maintained by delete
//! and rederive (ADR-046), `UNION ALL` ones by recomputing both fixpoints (ADR-007). The
//! randomized shapes are in `differential_oracle.rs`; here: a tree losing an inner node
//! (its whole subtree goes) and getting it back, a graph gaining and losing a cycle, a
//! node whose only path is replaced in one change by a path through nodes that only it
//! reached (they must all go), a row over-deleted and rederived through another path, the
//! stored fixpoint equal to the recursion after every step, a one-edge change on a large
//! graph that reads no table whole, a refresh whose changes are all outside the recursion
//! (gated off), and the refused forms.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::{
    analyzed_refresh_plan, assert_stream_table_matches_query, cluster, expect_sql_error,
};

#[test]
fn trees_and_cycles_follow_their_edges() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE node (id int PRIMARY KEY, parent int, name text);
         INSERT INTO node VALUES (1, NULL, 'root'), (2, 1, 'a'), (3, 1, 'b'), (4, 2, 'a1'), (5, 2, 'a2'), (6, 4, 'a1x'), (7, 3, 'b1');
         CREATE TABLE edge (src int, dst int);
         INSERT INTO edge VALUES (1, 2), (2, 3), (3, 4);
         CREATE TABLE other (x int);
         SELECT pgtrickle.create_stream_table('paths',
           $$WITH RECURSIVE t(id, path, depth) AS (
               SELECT id, name, 0 FROM node WHERE parent IS NULL
             UNION ALL
               SELECT n.id, t.path || '/' || n.name, t.depth + 1 FROM node n JOIN t ON n.parent = t.id)
             SELECT * FROM t$$, refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('reach',
           $$WITH RECURSIVE r(s, d) AS (SELECT src, dst FROM edge UNION SELECT r.s, e.dst FROM r JOIN edge e ON e.src = r.d)
             SELECT s, d FROM r$$, refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('reach_count',
           $$WITH RECURSIVE r(s, d) AS (SELECT src, dst FROM edge UNION SELECT r.s, e.dst FROM r JOIN edge e ON e.src = r.d)
             SELECT r.s, count(*) AS n FROM r, other o WHERE o.x IS NULL OR o.x <> r.d GROUP BY r.s$$, refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    let steps = [
        // An inner node leaves: its subtree goes with it.
        "DELETE FROM node WHERE id = 2",
        // ... and comes back under another parent, renamed.
        "INSERT INTO node VALUES (2, 3, 'a-moved')",
        "UPDATE node SET name = 'ROOT' WHERE id = 1",
        // A cycle appears (UNION stops at rows already found), then one edge of it goes.
        "INSERT INTO edge VALUES (4, 1)",
        "DELETE FROM edge WHERE src = 2",
        "INSERT INTO edge VALUES (2, 3), (5, 5), (3, 4)",
        // Only the table outside the recursion changes.
        "INSERT INTO other VALUES (3), (NULL)",
        "DELETE FROM edge",
    ];
    for step in steps {
        c.batch_execute(&format!(
            "{step};
             SELECT pgtrickle.refresh_stream_table('paths');
             SELECT pgtrickle.refresh_stream_table('reach');
             SELECT pgtrickle.refresh_stream_table('reach_count');"
        ))
        .unwrap_or_else(|e| panic!("{step}: {e:?}"));
        for st in ["paths", "reach", "reach_count"] {
            assert_stream_table_matches_query(&mut c, st);
        }
    }
    let full: i64 = c
        .query_one(
            "SELECT count(*) FROM pgtrickle.pgt_refresh_history WHERE action = 'FULL' AND initiated_by <> 'CREATE'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(full, 0, "every refresh was incremental");
}

/// The rows of the stored fixpoint of stream table `st` that the recursion `query` does not
/// have, and the other way round.
fn fixpoint_differences(c: &mut pgt_testkit::postgres::Client, st: &str, query: &str) -> i64 {
    let table: String = c
        .query_one(
            "SELECT format('pgtrickle_changes.%I', t.relname) FROM pg_class t
              WHERE t.relnamespace = 'pgtrickle_changes'::regnamespace AND t.relkind = 'r'
                AND starts_with(t.relname::text, format('state_%s_r0_', $1::text::regclass::oid))",
            &[&st],
        )
        .unwrap_or_else(|e| {
            let have: Vec<String> = c
                .query("SELECT relname::text || ' ' || $1::text::regclass::oid FROM pg_class WHERE relnamespace = 'pgtrickle_changes'::regnamespace", &[&st])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            panic!("{st} keeps no fixpoint: {e:?} {have:?}")
        })
        .get(0);
    c.query_one(
        &format!(
            "SELECT (SELECT count(*) FROM (SELECT c0, c1 FROM {table} EXCEPT ALL SELECT * FROM ({query}) q) x)
                  + (SELECT count(*) FROM (SELECT * FROM ({query}) q EXCEPT ALL SELECT c0, c1 FROM {table}) x)"
        ),
        &[],
    )
    .unwrap()
    .get(0)
}

#[test]
fn delete_and_rederive_keeps_the_fixpoint() {
    let db = cluster().new_database();
    let mut c = db.client();
    let reach = "WITH RECURSIVE r(root, n) AS (SELECT id, id FROM roots UNION SELECT r.root, e.dst FROM r JOIN edge e ON e.src = r.n) SELECT root, n FROM r";
    c.batch_execute(&format!(
        "CREATE TABLE roots (id int PRIMARY KEY);
         CREATE TABLE edge (src int, dst int);
         INSERT INTO roots VALUES (1), (100);
         INSERT INTO edge VALUES (1, 2), (2, 3), (3, 4), (100, 101), (101, 3);
         SELECT pgtrickle.create_stream_table('reach', $q${reach}$q$, refresh_mode => 'DIFFERENTIAL');"
    ))
    .unwrap();
    let steps = [
        // 2 loses its only path from 1 and gains one from 3, which only 2 reached: 2, 3 and
        // 4 leave root 1 (a lost and a gained derivation of one row must not cancel).
        "DELETE FROM edge WHERE (src, dst) = (1, 2); INSERT INTO edge VALUES (3, 2)",
        // Back, then 3 keeps root 100 through 101 when 2 -> 3 goes (over-deleted, then
        // rederived), and a cycle 4 -> 2 closes.
        "INSERT INTO edge VALUES (1, 2)",
        "DELETE FROM edge WHERE (src, dst) = (2, 3); INSERT INTO edge VALUES (4, 2), (2, 3)",
        "DELETE FROM edge WHERE src = 101",
        // A root goes, another comes; duplicate edges; a self-loop; NULLs.
        "DELETE FROM roots WHERE id = 1; INSERT INTO roots VALUES (3)",
        "INSERT INTO edge VALUES (3, 4), (4, 4), (NULL, 5), (5, NULL), (4, 5)",
        "DELETE FROM edge WHERE dst = 4 AND src = 3",
        "UPDATE edge SET dst = dst + 1 WHERE src = 4",
        "DELETE FROM edge",
    ];
    for step in steps {
        c.batch_execute(&format!(
            "BEGIN; {step}; COMMIT; SELECT pgtrickle.refresh_stream_table('reach');"
        ))
        .unwrap_or_else(|e| panic!("{step}: {e:?}"));
        assert_stream_table_matches_query(&mut c, "reach");
        assert_eq!(
            fixpoint_differences(&mut c, "reach", reach),
            0,
            "after {step}"
        );
    }
}

#[test]
fn one_edge_on_a_large_graph_reads_no_table_whole() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        // In-memory data, as on SSDs (benches/bench_cluster.sh): index probes priced as such.
        "SET random_page_cost = 1.1;
         CREATE TABLE emp (id int PRIMARY KEY, manager int);
         INSERT INTO emp SELECT i, CASE WHEN i <= 10 THEN NULL ELSE i / 10 END FROM generate_series(1, 300000) i;
         CREATE INDEX ON emp (manager);
         ANALYZE emp;
         SELECT pgtrickle.create_stream_table('chain',
           'WITH RECURSIVE s(id, top) AS (SELECT id, id FROM emp WHERE manager IS NULL
                                          UNION SELECT e.id, s.top FROM emp e JOIN s ON e.manager = s.id)
            SELECT id, top FROM s', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    for change in [
        "INSERT INTO emp VALUES (300001, 4242)",
        "UPDATE emp SET manager = 7 WHERE id = 4242",
        "DELETE FROM emp WHERE id = 123",
    ] {
        c.batch_execute(change).unwrap();
        let plan = analyzed_refresh_plan(&mut c, "chain");
        let seq = plan
            .lines()
            .filter(|l| {
                // A scan of the source, the stored fixpoint or the storage that reads it whole, or
                // a third of it (a merge join over a full index scan).
                let actual_rows = l
                    .split("(actual ")
                    .nth(1)
                    .and_then(|a| a.split("rows=").nth(1))
                    .and_then(|r| r.split(' ').next())
                    .and_then(|r| r.parse::<f64>().ok())
                    .unwrap_or(0.0);
                let on_table =
                    l.contains(" on emp ") || l.contains(" on state_") || l.contains(" on chain ");
                on_table
                    && !l.contains("never executed")
                    && (l.contains("Seq Scan") || actual_rows > 100_000.0)
            })
            .collect::<Vec<_>>();
        assert!(
            seq.is_empty(),
            "{change}: the delta reads a table whole:\n{}\n{plan}",
            seq.join("\n")
        );
        c.batch_execute("SELECT pgtrickle.refresh_stream_table('chain')")
            .unwrap();
        assert_stream_table_matches_query(&mut c, "chain");
    }
}

#[test]
fn unsupported_recursions_are_refused_by_name() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute("CREATE TABLE edge (src int, dst int)")
        .unwrap();
    for (query, named) in [
        (
            "WITH RECURSIVE r(s, d) AS (SELECT src, dst FROM edge UNION SELECT r.s, e.dst FROM r LEFT JOIN edge e ON e.src = r.d) SELECT * FROM r",
            "recursive term",
        ),
        (
            "WITH RECURSIVE r(s, d) AS (SELECT src, dst FROM edge UNION ALL SELECT r.s, e.dst FROM r JOIN edge e ON e.src = r.d) SEARCH DEPTH FIRST BY s SET ord SELECT s, d FROM r",
            "SEARCH",
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
}
