//! `WITH RECURSIVE` (ADR-028): both fixpoints computed by PostgreSQL, at the snapshot
//! before and after the change, and only their difference applied. The randomized shapes
//! are in `differential_oracle.rs`; here: a tree losing an inner node (its whole subtree
//! goes) and getting it back, a graph gaining and losing a cycle under UNION, a refresh
//! whose changes are all outside the recursion (gated off), and the refused forms.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::{assert_stream_table_matches_query, cluster, expect_sql_error};

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
