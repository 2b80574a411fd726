//! The sidecar's parse frontend (`pgt_pgquery`: libpg_query plus catalog look-ups over a
//! client connection) against the extension's (PostgreSQL's analyzed `Query`): over the
//! whole oracle corpus and shapes aimed at name, type and literal resolution, every
//! query the sidecar's frontend accepts must give exactly the tree the extension's
//! gives (every field: expressions, column types and key properties, join keys,
//! error-freedom flags); every query it does not accept must be refused as an
//! unsupported construct, never mistranslated.

#[path = "corpus/oracle.rs"]
mod corpus;

use pgt_dvm::frontend::ParseFrontend;
use pgt_pgquery::{ClientCatalog, FrontendError, PgQueryFrontend};
use pgt_testkit::cluster;
use pgt_testkit::postgres::Client;

/// Shapes aimed at the frontend's own work: casts, literals coerced by context, function
/// and operator resolution, GROUP BY by position and by output name, hostile names.
const RESOLUTION_SHAPES: &[(&str, &str)] = &[
    ("casts", "SELECT id, v::text AS vt, k::bigint AS kb, n::float8 AS nf, '7'::int AS seven FROM a"),
    ("literal_coercion", "SELECT id FROM a WHERE n > 1 AND v < 2.5 AND g = 'x' AND k <> -1 AND m >= 10000000000"),
    ("bool_literals", "SELECT id, v IS NULL AS nv FROM a WHERE true AND (v > 1) = false"),
    ("functions", "SELECT upper(g) AS ug, length(g) AS lg, abs(v), id FROM a WHERE lower(g) <> 'y'"),
    ("group_ordinal", "SELECT k, g, count(*) FROM a GROUP BY 1, 2"),
    ("group_output_name", "SELECT k % 2 AS parity, sum(v) AS s FROM a GROUP BY parity"),
    ("group_hidden_keys", "SELECT count(*) AS n, max(g) AS mg FROM a GROUP BY k, v % 3"),
    ("having_exprs", "SELECT g, count(*) + 1 AS n1, min(n) AS mn FROM a GROUP BY g HAVING sum(v) > 3 AND max(n) IS NOT NULL"),
    ("mixed_integers", "SELECT a.id, b.w FROM a, b WHERE a.k = b.k AND a.v::bigint > b.w AND -a.v < 0"),
    ("cross_join", "SELECT x.id, y.label FROM a x CROSS JOIN c y WHERE x.g = y.g"),
    ("hostile_names", "SELECT \"Odd \"\"Name\", \"select\" FROM \"We'ird\".\"Tab le\" t WHERE \"select\" > 0 OR t.\"Odd \"\"Name\" = 'it''s'"),
    ("qualified_star", "SELECT p.*, q.label FROM public.p JOIN q ON q.k = p.k WHERE p.note IS NOT NULL OR p.v = 1"),
    ("distinct_exprs", "SELECT DISTINCT k * 2 AS k2, upper(g) FROM a"),
    ("text_concat", "SELECT g || '-' || label AS gl, count(*) FROM c GROUP BY g || '-' || label"),
    ("scalar_aggs", "SELECT sum(n) AS sn, avg(v), count(a.g), min(label) FROM a, c WHERE a.g = c.g"),
    ("domain_column", "SELECT id, code FROM d WHERE id > 1"),
    ("coalesce_greatest", "SELECT coalesce(g, 'none') AS gg, greatest(v, k, 0) AS mx, least(v, 5), id FROM a WHERE coalesce(v, k) > 2"),
    ("subquery_aliases", "SELECT s.x, s.y, count(*) AS n FROM (SELECT k, g FROM a WHERE v > 1) AS s(x, y) JOIN c ON c.g = s.y GROUP BY s.x, s.y"),
    ("subquery_unnamed", "SELECT k, total FROM (SELECT k, sum(v) AS total FROM a GROUP BY k) WHERE total > 3"),
    ("setops_nested_all", "SELECT k, g FROM a INTERSECT ALL (SELECT k2, g FROM c EXCEPT ALL SELECT k, name FROM b)"),
    ("case_in_distinct", "SELECT id, CASE WHEN v > 5 THEN g WHEN v IS NULL THEN 'none' END AS c, CASE WHEN k = 1 THEN 1 ELSE v END, nullif(v, 3) FROM a WHERE k IN (1, 2) AND g NOT IN ('x', 'y') AND v IS DISTINCT FROM k AND v IS NOT DISTINCT FROM v"),
    ("ctes_chained", "WITH big AS (SELECT k, v FROM a WHERE v > 2), per(kk, n) AS (SELECT k, count(*) FROM big GROUP BY k) SELECT per.kk, per.n, b.name FROM per JOIN b ON b.k = per.kk WHERE per.n > (1)"),
    ("cte_shadows_table", "WITH b AS (SELECT k2 AS k, label AS name FROM c) SELECT a.id, b.name FROM a JOIN b ON a.k = b.k"),
    ("unqualified_through_join", "SELECT id, name FROM a JOIN b ON a.k = b.k WHERE (v > 3 AND name IS NOT NULL) OR (v < 1 AND w > 2)"),
    ("using_inner", "SELECT k, a.id, b.name FROM a JOIN b USING (k) WHERE k > 1 OR name IS NULL"),
    ("using_left_grouped", "SELECT k, count(*) AS n, count(b.w) AS nw FROM a LEFT JOIN b USING (k) GROUP BY k"),
    ("using_right_nested", "SELECT k, c.label FROM a RIGHT JOIN b USING (k) JOIN c ON c.k2 = k"),
    ("grouped_order_hidden_agg", "SELECT k, count(*) AS n FROM a GROUP BY k ORDER BY max(v), 2 DESC"),
    ("topk_output_name_wins", "SELECT v AS k, id, g FROM a ORDER BY k NULLS FIRST, id, g LIMIT 3 OFFSET 1"),
    ("topk_hidden_expr", "SELECT id FROM a JOIN c ON c.g = a.g ORDER BY a.v * 2 DESC, c.label, id LIMIT 4"),
    ("agg_modifiers", "SELECT g, count(DISTINCT k) FILTER (WHERE v > 1) AS n, string_agg(g, g ORDER BY id DESC, k NULLS FIRST) AS s, max(g COLLATE \"C\") AS mg, sum(v) FILTER (WHERE g IS NOT NULL) AS sv FROM a GROUP BY g"),
    ("collate_where_topk", "SELECT name, w FROM b WHERE name COLLATE \"C\" > 'm' OR w IS NULL ORDER BY name COLLATE \"C\" DESC, w LIMIT 2"),
    ("numeric_scales", "SELECT g, sum(-n * 2 + m) AS s, avg(n - 1.5) AS a, sum(k::numeric * n) AS kn, sum(n * n * n) AS cube FROM a GROUP BY g"),
    ("sublinks_mixed", "SELECT a.id FROM a WHERE a.v > 1 AND EXISTS (SELECT 1 FROM b WHERE b.k = a.k AND (b.w > 1 OR b.name IS NULL) AND b.k IS NOT NULL) AND a.g NOT IN (SELECT c.g FROM c WHERE c.k2 > 0) AND NOT (a.v < ANY (SELECT w FROM b WHERE w IS NOT NULL))"),
    ("sublink_join_on", "SELECT a.id, c.label FROM a JOIN c ON c.g = a.g AND a.k IN (SELECT k FROM b WHERE name IS NOT NULL) WHERE NOT EXISTS (SELECT 1 FROM p WHERE p.k = a.k AND p.v > a.v)"),
    ("scalars_everywhere", "SELECT g, count(*) AS n, max(v) - (SELECT min(w) FROM b) AS d FROM a WHERE v < (SELECT max(w) FROM b WHERE w IS NOT NULL) OR k = (SELECT count(*) FROM c) GROUP BY g HAVING count(*) > (SELECT count(*) FROM q) / 2"),
    ("untyped_arguments", "SELECT g, string_agg(g, ',' ORDER BY id) AS gs, string_agg(k::text, '-') AS ks, max(left(g, 1)) AS first_letter FROM a GROUP BY g"),
    ("outer_join_exprs", "SELECT a.id, coalesce(b.name, '?') AS nm FROM a LEFT JOIN b ON a.k = b.k AND b.w > 1 WHERE a.v IS NOT NULL"),
];

const EXTRA_SCHEMA: &str = "
    CREATE SCHEMA \"We'ird\";
    CREATE TABLE \"We'ird\".\"Tab le\" (\"Odd \"\"Name\" text, \"select\" int);
    CREATE DOMAIN code AS text CHECK (VALUE <> '');
    CREATE TABLE d (id int PRIMARY KEY, code code);";

fn operator_tree(c: &mut Client, query: &str) -> Result<String, String> {
    c.query_one("SELECT pgtrickle._operator_tree($1)", &[&query])
        .map(|r| r.get(0))
        .map_err(|e| e.to_string())
}

#[test]
fn both_frontends_build_the_same_tree() {
    let db = cluster().new_database();
    let mut server = db.client();
    server.batch_execute(corpus::SCHEMA).unwrap();
    server.batch_execute(EXTRA_SCHEMA).unwrap();
    let mut client = db.client();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for (name, query) in corpus::SHAPES.iter().chain(RESOLUTION_SHAPES) {
        let expected = operator_tree(&mut server, query)
            .unwrap_or_else(|e| panic!("{name}: the extension's frontend refused {query}: {e}"));
        let frontend = PgQueryFrontend::new(ClientCatalog::new(&mut client));
        match frontend.translate(query) {
            Ok(t) => {
                let got = pgt_dvm::explain::tree_debug(&t.tree);
                if got != expected {
                    let diff: Vec<String> = got
                        .lines()
                        .zip(expected.lines())
                        .enumerate()
                        .filter(|(_, (a, b))| a != b)
                        .take(6)
                        .map(|(i, (a, b))| format!("line {i}:\n  sidecar:   {a}\n  extension: {b}"))
                        .collect();
                    panic!(
                        "{name} ({query}): the trees differ\n{}\n--- sidecar\n{got}\n--- extension\n{expected}",
                        diff.join("\n")
                    );
                }
                accepted.push(*name);
            }
            Err(FrontendError::Dvm(e)) => refused.push(format!("{name}: {}", e.reason_line())),
            Err(e) => panic!("{name} ({query}): not an unsupported construct but: {e}"),
        }
    }
    eprintln!(
        "pgquery frontend: {} shapes identical, {} refused:\n  {}",
        accepted.len(),
        refused.len(),
        refused.join("\n  ")
    );
    for (name, _) in RESOLUTION_SHAPES {
        assert!(accepted.contains(name), "{name} should be translated");
    }
    assert!(
        accepted.len() >= 158,
        "only {} shapes translated: {accepted:?}",
        accepted.len()
    );
}

#[test]
fn bad_input_gets_a_clear_error() {
    let db = cluster().new_database();
    let mut client = db.client();
    client.batch_execute(corpus::SCHEMA).unwrap();
    let frontend = PgQueryFrontend::new(ClientCatalog::new(&mut client));
    let cases: &[(&str, fn(&FrontendError) -> bool)] = &[
        ("SELEC id FROM a", |e| matches!(e, FrontendError::Parse(_))),
        ("SELECT id FROM a; SELECT 1", |e| {
            matches!(e, FrontendError::Invalid(_))
        }),
        ("SELECT id FROM nowhere", |e| {
            matches!(e, FrontendError::Invalid(_))
        }),
        ("SELECT nothing FROM a", |e| {
            matches!(e, FrontendError::Invalid(_))
        }),
        ("SELECT k FROM a, b", |e| {
            matches!(e, FrontendError::Invalid(_))
        }),
        ("SELECT id FROM a WHERE count(*) > 1", |e| {
            matches!(e, FrontendError::Invalid(_))
        }),
        ("SELECT id FROM a x, b x", |e| {
            matches!(e, FrontendError::Invalid(_))
        }),
        ("INSERT INTO a (id) VALUES (1)", |e| {
            matches!(e, FrontendError::Invalid(_))
        }),
        ("SELECT id FROM a WHERE v = 'not a number'", |e| {
            matches!(e, FrontendError::Catalog(_))
        }),
        ("SELECT now() AS t, id FROM a", |e| {
            matches!(e, FrontendError::Dvm(_))
        }),
        ("SELECT a.id FROM a NATURAL JOIN b", |e| {
            matches!(e, FrontendError::Dvm(_))
        }),
        (
            "SELECT (SELECT max(w) FROM b WHERE b.k = a.k) AS m, id FROM a",
            |e| matches!(e, FrontendError::Dvm(_)),
        ),
        ("SELECT id FROM a WHERE v BETWEEN 1 AND 3", |e| {
            matches!(e, FrontendError::Dvm(_))
        }),
    ];
    for (query, expected) in cases {
        match frontend.translate(query) {
            Ok(_) => panic!("{query}: accepted"),
            Err(e) => assert!(expected(&e), "{query}: unexpected error {e:?}"),
        }
    }
}
