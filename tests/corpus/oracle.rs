//! The oracle corpus: query shapes the engine maintains incrementally, over a schema
//! with NULLs, duplicates and skewed keys. `differential_oracle.rs` maintains every shape
//! under random changes; `pgquery_frontend.rs` translates every shape with both parse
//! frontends.
#![allow(dead_code)]

/// The query shapes, each maintained incrementally.
pub const SHAPES: &[(&str, &str)] = &[
    ("scan", "SELECT id, k, v FROM a"),
    ("scan_star", "SELECT * FROM a"),
    ("filter", "SELECT k, v FROM a WHERE v > 3"),
    ("filter_null", "SELECT id, g FROM a WHERE g IS NULL OR v IS NULL"),
    ("project_case", "SELECT v * 2 + 1 AS x, CASE WHEN v IS NULL THEN 'null' WHEN v > 5 THEN 'big' ELSE 'small' END AS size FROM a"),
    ("project_funcs", "SELECT upper(g) AS ug, coalesce(v, -1) AS cv, n::text AS nt, (k % 2 = 0) AS even FROM a"),
    ("in_list", "SELECT v FROM a WHERE v IN (1, 2, 3) OR v IS NULL"),
    ("join_equi", "SELECT a.id, b.name FROM a JOIN b ON a.k = b.k"),
    ("join_filter", "SELECT a.id, b.name, a.v FROM a JOIN b ON a.k = b.k WHERE b.w > 2"),
    ("join_theta", "SELECT a.id, b.w FROM a JOIN b ON a.v < b.w"),
    ("join_using", "SELECT k, a.id, b.name FROM a JOIN b USING (k)"),
    ("join_implicit", "SELECT a.id FROM a, b WHERE a.k = b.k AND b.name IS NOT NULL"),
    ("join_three", "SELECT a.id, b.name, c.label FROM a JOIN b ON a.k = b.k JOIN c ON c.g = a.g"),
    ("join_four", "SELECT a.id, b.name, c.label, b2.w FROM a JOIN b ON a.k = b.k JOIN c ON c.g = a.g JOIN b b2 ON b2.k = c.k2"),
    ("join_five", "SELECT a.id, c.label, b.w, a2.id AS id2, c2.g AS g2 FROM a JOIN b ON a.k = b.k JOIN c ON c.g = a.g JOIN a a2 ON a2.k = c.k2 JOIN c c2 ON c2.k2 = b.k"),
    ("self_join", "SELECT x.id, y.id AS id2 FROM a x JOIN a y ON x.k = y.k AND x.id < y.id"),
    ("subquery", "SELECT s.id FROM (SELECT id, v FROM a WHERE v > 0) s WHERE s.id > 2"),
    ("subquery_join", "SELECT a.id, bb.name FROM a JOIN (SELECT k, name FROM b WHERE w > 0) bb ON bb.k = a.k"),
    ("cte_twice", "WITH t AS (SELECT k, v FROM a WHERE v IS NOT NULL) SELECT x.k, y.v FROM t x JOIN t y ON x.k = y.k"),
    ("union_all", "SELECT k, v FROM a UNION ALL SELECT k, w FROM b"),
    ("count_group", "SELECT k, count(*) AS n FROM a GROUP BY k"),
    ("sum_avg", "SELECT k, count(v) AS nv, sum(v) AS s, avg(v) AS av FROM a GROUP BY k"),
    ("min_max", "SELECT g, min(v) AS lo, max(v) AS hi FROM a GROUP BY g"),
    ("scalar_agg", "SELECT count(*) AS n, sum(v) AS s, max(v) AS m, min(n) AS mn FROM a"),
    ("numeric_agg", "SELECT k, sum(n) AS sn, avg(n) AS an FROM a GROUP BY k"),
    ("multi_key", "SELECT k, g, count(*) AS n, sum(v) AS s FROM a GROUP BY k, g"),
    ("having", "SELECT k, sum(v) AS s FROM a GROUP BY k HAVING count(*) > 1"),
    ("agg_exprs", "SELECT k, sum(v) * 2 AS s2, count(*) + 1 AS n1 FROM a GROUP BY k"),
    ("group_expr", "SELECT coalesce(g, 'none') AS gg, count(*) AS n FROM a GROUP BY coalesce(g, 'none')"),
    ("join_agg", "SELECT b.name, count(*) AS n, sum(a.v) AS s, max(a.v) AS m FROM a JOIN b ON a.k = b.k GROUP BY b.name"),
    ("other_aggs", "SELECT k, bool_or(v > 5) AS any_big, count(DISTINCT g) AS dg, count(*) FILTER (WHERE v > 3) AS nf FROM a GROUP BY k"),
    ("cte_agg", "WITH big AS (SELECT * FROM a WHERE v > 5) SELECT k, count(*) AS n FROM big GROUP BY k"),
    ("distinct", "SELECT DISTINCT k FROM a"),
    ("distinct_multi", "SELECT DISTINCT k, g FROM a WHERE v IS NOT NULL"),
    ("distinct_join", "SELECT DISTINCT a.k, b.name FROM a JOIN b ON a.k = b.k"),
    // Keyed storage: the output carries a primary key, so updates are applied in place.
    ("keyed_scan", "SELECT id, k, v, note FROM p"),
    ("keyed_filter", "SELECT id, v FROM p WHERE v > 2 OR note IS NULL"),
    ("keyed_join", "SELECT p.id, p.v, q.label FROM p JOIN q ON q.k = p.k"),
    ("keyed_comma_join", "SELECT p.id, q.k, q.label FROM p, q WHERE p.k = q.k AND q.label IS NOT NULL"),
    ("keyed_self_join", "SELECT x.id, y.id AS id2, x.v + y.v AS vv FROM p x JOIN p y ON x.k = y.k"),
    // Plain numeric: sums shown at the largest input scale, kept algebraically.
    ("numeric_plain", "SELECT k, sum(m) AS sm, avg(m) AS am, count(m) AS cm FROM a GROUP BY k"),
    ("numeric_expr", "SELECT g, sum(m * (1 - n)) AS s, avg(m) AS am, max(m) AS mx FROM a GROUP BY g"),
    ("numeric_scalar", "SELECT sum(m) AS s, avg(m) AS a, count(*) AS n FROM a"),
    // Arithmetic over fixed-scale values: its scale is the expression's, no histogram.
    ("numeric_fixed_scale", "SELECT k, sum(n * (1 - n)) AS s, avg(v * n + 0.25) AS a, sum(-n) AS ng FROM a GROUP BY k"),
    // Comma joins of 4-6 tables: each WHERE conjunct becomes a join condition.
    ("comma_four", "SELECT a.id, b.name, c.label, q.label AS ql FROM a, b, c, q WHERE a.k = b.k AND c.g = a.g AND q.k = c.k2"),
    ("comma_six", "SELECT a.id, b.w, c.label, p.v, q.label AS ql FROM a, b, c, p, q, b b2 WHERE a.k = b.k AND c.g = a.g AND p.k = a.k AND q.k = p.k AND b2.k = q.k AND b2.w > 1"),
    // A join key inside every arm of an OR (TPC-H Q19's shape) is found and used.
    ("or_common_key", "SELECT a.id, b.name FROM a, b WHERE (a.k = b.k AND b.w > 2) OR (a.k = b.k AND a.v IS NULL)"),
    // Each arm of the OR constrains a and c on their own: the implied per-table filters
    // restrict the scans before the join.
    ("or_per_relation", "SELECT a.id, c.label FROM a, c WHERE (a.g = c.g AND a.v > 3 AND c.k2 = 1) OR (a.g = c.g AND a.v < 2 AND c.k2 = 2) OR (a.k = c.k2 AND a.v IS NULL AND c.label IS NOT NULL)"),
    ("comma_agg", "SELECT b.name, count(*) AS n, sum(a.m) AS s FROM a, b, c WHERE a.k = b.k AND c.g = a.g AND c.label <> 'none' GROUP BY b.name"),
    // Outer joins: NULL keys, duplicates on both sides, first and last matches.
    ("left_join", "SELECT a.id, a.k, b.name, b.w FROM a LEFT JOIN b ON a.k = b.k"),
    ("right_join", "SELECT a.id, b.k, b.name FROM a RIGHT JOIN b ON a.k = b.k"),
    ("full_join", "SELECT a.id, a.v, b.k, b.name FROM a FULL JOIN b ON a.k = b.k"),
    ("full_join_using", "SELECT k, a.id, b.w FROM a FULL JOIN b USING (k)"),
    // ON with a non-equi part and single-side predicates: a left row failing its own
    // predicate is still kept, NULL-extended.
    ("left_join_on_mixed", "SELECT a.id, b.name FROM a LEFT JOIN b ON a.k = b.k AND a.v > 2 AND b.w < 4 AND a.v <> b.w"),
    ("left_join_theta", "SELECT a.id, b.w FROM a LEFT JOIN b ON a.v < b.w - 3"),
    // The nullable side's WHERE filter above the join (an anti-join).
    ("left_anti", "SELECT a.id, a.k FROM a LEFT JOIN b ON a.k = b.k WHERE b.k IS NULL"),
    ("left_join_chain", "SELECT a.id, b.name, c.label FROM a LEFT JOIN b ON a.k = b.k LEFT JOIN c ON c.k2 = b.w"),
    ("inner_then_left", "SELECT a.id, b.name, c.label FROM a JOIN b ON a.k = b.k LEFT JOIN c ON c.g = a.g AND c.k2 = b.w"),
    ("left_then_inner", "SELECT a.id, b.name, c.label FROM a LEFT JOIN b ON a.k = b.k JOIN c ON c.g = a.g"),
    // pg_ivm's bug: FULL (or RIGHT) JOIN, then JOIN, with duplicate rows.
    ("full_then_join", "SELECT b.name, c.label, a.id FROM a FULL JOIN b ON a.k = b.k JOIN c ON c.k2 = b.k"),
    ("left_join_nested", "SELECT a.id, x.name, x.label FROM a LEFT JOIN (b JOIN c ON c.k2 = b.k) x ON x.k = a.k"),
    ("left_join_agg", "SELECT b.name, count(a.id) AS n, count(*) AS rows, sum(a.v) AS s FROM b LEFT JOIN a ON a.k = b.k GROUP BY b.name"),
    ("keyed_left_join", "SELECT p.id, p.v, q.label FROM p LEFT JOIN q ON q.k = p.k"),
    // Aggregates and DISTINCT below the top: joined, filtered and aggregated again.
    ("agg_of_agg", "SELECT n, count(*) AS groups FROM (SELECT k, count(*) AS n FROM a GROUP BY k) s GROUP BY n"),
    ("agg_subquery_join", "SELECT b.name, s.total, s.lo FROM b JOIN (SELECT k, sum(v) AS total, min(v) AS lo FROM a GROUP BY k) s ON s.k = b.k"),
    ("agg_subquery_filter", "SELECT s.g, s.mx, s.gs FROM (SELECT g, max(v) AS mx, string_agg(k::text, ',' ORDER BY k, id) AS gs FROM a GROUP BY g) s WHERE s.mx > 4 OR s.g IS NULL"),
    ("having_subquery_join", "SELECT a.id, big.n FROM a JOIN (SELECT k, count(*) AS n FROM a GROUP BY k HAVING count(*) > 5) big ON big.k = a.k"),
    ("distinct_subquery", "SELECT x.k, count(*) AS n FROM (SELECT DISTINCT k, g FROM a) x GROUP BY x.k"),
    ("scalar_agg_join", "SELECT a.id, a.v FROM a, (SELECT avg(v) AS av FROM a) s WHERE a.v > s.av"),
    ("count_of_left_join", "SELECT n, count(*) AS c FROM (SELECT b.k, count(a.id) AS n FROM b LEFT JOIN a ON a.k = b.k GROUP BY b.k) s GROUP BY n"),
    ("cte_agg_join", "WITH t AS (SELECT g, sum(n) AS s, count(*) AS cnt FROM a GROUP BY g) SELECT t.g, t.s, c.label FROM t JOIN c ON c.g = t.g"),
    // Subqueries in WHERE: semi- and anti-joins with SQL's NULL semantics.
    ("exists", "SELECT a.id, a.k FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.k = a.k AND b.w > 1)"),
    ("not_exists", "SELECT a.id, a.g FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.k = a.k)"),
    ("in_subquery", "SELECT a.id, a.v FROM a WHERE a.k IN (SELECT k FROM b WHERE name IS NOT NULL)"),
    ("not_in_nulls", "SELECT a.id FROM a WHERE a.k NOT IN (SELECT k FROM b)"),
    ("not_in", "SELECT a.id, a.v FROM a WHERE a.v NOT IN (SELECT w FROM b WHERE w IS NOT NULL)"),
    ("any_op", "SELECT a.id FROM a WHERE a.v > ANY (SELECT w FROM b)"),
    ("all_correlated", "SELECT a.id FROM a WHERE a.v >= ALL (SELECT w FROM b WHERE b.k = a.k)"),
    ("not_all", "SELECT a.id FROM a WHERE NOT (a.v < ALL (SELECT w FROM b))"),
    ("exists_uncorrelated", "SELECT c.g, c.label FROM c WHERE EXISTS (SELECT 1 FROM b WHERE b.w > 4)"),
    ("in_grouped", "SELECT a.id, a.k FROM a WHERE a.k IN (SELECT k FROM a GROUP BY k HAVING count(*) > 6)"),
    ("exists_agg", "SELECT a.g, count(*) AS n FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.k = a.k AND b.w < a.v) GROUP BY a.g"),
    ("exists_and_not", "SELECT a.id FROM a WHERE EXISTS (SELECT 1 FROM a a2 WHERE a2.k = a.k AND a2.id <> a.id) AND NOT EXISTS (SELECT 1 FROM c WHERE c.k2 = a.k AND c.g = a.g)"),
    ("keyed_exists", "SELECT p.id, p.v FROM p WHERE EXISTS (SELECT 1 FROM q WHERE q.k = p.k AND q.label IS NOT NULL)"),
    // Uncorrelated scalar subqueries (one-row aggregates) in WHERE and the SELECT list.
    ("scalar_where", "SELECT a.id, a.v FROM a WHERE a.v > (SELECT avg(v) FROM a)"),
    ("scalar_select", "SELECT b.k, b.w, (SELECT max(v) FROM a WHERE a.g IS NOT NULL) AS mx FROM b"),
    ("scalar_under_agg", "SELECT a.g, count(*) AS n FROM a WHERE a.n > (SELECT avg(n) FROM a WHERE a.k > 1) GROUP BY a.g"),
    ("scalar_count", "SELECT c.label FROM c WHERE c.k2 < (SELECT count(*) FROM b WHERE w > 3)"),
    // ORDER BY without LIMIT: a table has no row order, so it changes nothing stored.
    ("order_by", "SELECT a.id, a.v FROM a WHERE a.v > 2 ORDER BY a.v DESC, a.id"),
    ("keyed_full_join", "SELECT p.id, q.k, q.label FROM p FULL JOIN q ON q.k = p.k AND p.v > 1"),
    // Set operations: UNION as DISTINCT over UNION ALL; INTERSECT and EXCEPT as a grouping
    // of both sides' rows with per-side counts (NULLs equal, duplicates collapsed).
    ("union_distinct", "SELECT k, g FROM a UNION SELECT k2, g FROM c"),
    ("intersect", "SELECT k, v FROM a INTERSECT SELECT k, w FROM b"),
    ("except", "SELECT k, g FROM a EXCEPT SELECT k2, g FROM c"),
    ("setops_nested", "SELECT k FROM a UNION SELECT k FROM b UNION ALL SELECT k2 FROM c"),
    ("except_below", "SELECT x.k, count(*) AS n FROM (SELECT k, g FROM a EXCEPT SELECT k2, g FROM c) x GROUP BY x.k"),
    ("intersect_join", "SELECT b.name, s.k FROM b JOIN (SELECT k FROM a INTERSECT SELECT k2 FROM c) s ON s.k = b.k"),
    // INTERSECT ALL / EXCEPT ALL: min of the counts, difference of the counts.
    ("intersect_all", "SELECT k, g FROM a INTERSECT ALL SELECT k2, g FROM c"),
    ("except_all", "SELECT k, v FROM a EXCEPT ALL SELECT k, w FROM b"),
    ("except_all_below", "SELECT x.k, count(*) AS n FROM (SELECT k FROM a EXCEPT ALL SELECT k FROM b) x GROUP BY x.k"),
    ("setops_mixed", "SELECT k FROM a INTERSECT ALL SELECT k FROM b UNION SELECT k2 FROM c EXCEPT ALL SELECT k FROM a WHERE v > 5"),
    // DISTINCT ON: the first row of each group by a total ORDER BY (rows tied on all of it
    // are duplicates), NULL keys as one group, below the top, over a join.
    ("distinct_on", "SELECT DISTINCT ON (k) k, id, v FROM p ORDER BY k, v DESC, id"),
    ("distinct_on_nulls", "SELECT DISTINCT ON (g) g, v, id FROM a ORDER BY g, v DESC NULLS LAST, id, k, n, m"),
    ("distinct_on_below", "SELECT s.v, count(*) AS n FROM (SELECT DISTINCT ON (k) k, v FROM p ORDER BY k, id DESC) s GROUP BY s.v"),
    ("distinct_on_collate", "SELECT DISTINCT ON (k) k, name, w FROM b ORDER BY k, name COLLATE \"C\" DESC NULLS FIRST, w"),
    ("distinct_on_join", "SELECT DISTINCT ON (b.k) b.k, b.name, a.id FROM a JOIN b ON a.k = b.k ORDER BY b.k, a.v, a.id, a.g, b.name, a.n, a.m, b.w"),
    // ORDER BY … LIMIT at the top: exactly the first rows of a total order (rows tied on
    // all of it are duplicates), with NULLs at either end, over duplicates, a join, an
    // aggregate, an OFFSET, fewer rows than the limit, and a collation of its own.
    ("topk_scan", "SELECT id, k, v FROM a ORDER BY v DESC NULLS LAST, id, k LIMIT 6"),
    ("topk_nulls_first", "SELECT g, v, id FROM a ORDER BY g NULLS FIRST, v DESC, id LIMIT 4"),
    ("topk_join", "SELECT a.id, b.name, a.v FROM a JOIN b ON a.k = b.k ORDER BY a.v DESC NULLS FIRST, a.id, b.name LIMIT 5"),
    ("topk_agg", "SELECT k, sum(v) AS s, count(*) AS n FROM a GROUP BY k ORDER BY s DESC NULLS LAST, k NULLS FIRST LIMIT 2"),
    ("topk_offset", "SELECT id, v FROM p ORDER BY v, id LIMIT 3 OFFSET 2"),
    ("topk_all", "SELECT id, v, note FROM p ORDER BY v DESC, id LIMIT 100"),
    ("topk_collate", "SELECT name COLLATE \"C\" AS name, w FROM b ORDER BY 1 DESC NULLS LAST, w LIMIT 3"),
    // Correlated aggregate subqueries, decorrelated into joins with groupings: NULL keys,
    // groups that empty (count → 0, others → NULL), two keys, nested in IN (TPC-H Q20),
    // an equality with the minimum (Q2), a fraction of the average (Q17).
    ("corr_avg_where", "SELECT a.id, a.v FROM a WHERE a.v > (SELECT avg(b.w) FROM b WHERE b.k = a.k)"),
    ("corr_count_select", "SELECT b.k, b.name, (SELECT count(*) FROM a WHERE a.k = b.k) AS n FROM b"),
    ("corr_max_select", "SELECT c.g, c.label, (SELECT max(a.v) FROM a WHERE a.g = c.g AND a.k = c.k2) AS mx FROM c"),
    ("corr_coalesce_where", "SELECT b.name, b.w FROM b WHERE (SELECT coalesce(sum(a.v), 0) FROM a WHERE a.k = b.k) < 12"),
    ("corr_min_eq", "SELECT p.id, p.v FROM p WHERE p.v = (SELECT min(p2.v) FROM p p2 WHERE p2.k = p.k)"),
    ("corr_nested_in", "SELECT q.k, q.label FROM q WHERE q.k IN (SELECT p.k FROM p WHERE p.v > (SELECT 0.5 * avg(p2.v) FROM p p2 WHERE p2.k = p.k))"),
    ("corr_fraction", "SELECT sum(a.v) AS total, count(*) AS n FROM a, b WHERE b.k = a.k AND a.n < (SELECT 0.8 * avg(a2.n) FROM a a2 WHERE a2.k = b.k)"),
    // The grouping restricted to the keys of the outer table's rows that pass its own
    // conditions, plain and through an IN (TPC-H Q17, Q20).
    ("corr_restricted", "SELECT a.id, a.k FROM a WHERE a.g = 'x' AND a.v >= (SELECT max(a2.v) FROM a a2 WHERE a2.k = a.k)"),
    ("corr_restricted_in", "SELECT a.id, a.v FROM a WHERE a.k IN (SELECT q.k FROM q WHERE q.label IS NOT NULL) AND a.v > (SELECT avg(b.w) FROM b WHERE b.k = a.k)"),
    // EXISTS in the SELECT list: a flag over a semi-join and an anti-join.
    ("exists_select", "SELECT a.id, a.k, EXISTS (SELECT 1 FROM b WHERE b.k = a.k) AS has_b FROM a"),
    ("not_exists_select", "SELECT p.id, NOT EXISTS (SELECT 1 FROM q WHERE q.k = p.k AND q.label IS NOT NULL) AS lonely, p.v FROM p"),
    ("exists_or", "SELECT a.id, a.v FROM a WHERE a.v > 6 OR EXISTS (SELECT 1 FROM b WHERE b.k = a.k AND b.w > 2)"),
    ("not_exists_or", "SELECT p.id, p.note FROM p WHERE NOT (p.v < 3 OR EXISTS (SELECT 1 FROM q WHERE q.k = p.k))"),
    ("exists_select_uncorrelated", "SELECT c.g, EXISTS (SELECT 1 FROM b WHERE b.w > 4) AS any_big, c.k2 FROM c"),
    // Correlated look-ups on a primary key: joins (a LEFT JOIN in the SELECT list, an
    // inner join under a WHERE condition a NULL fails); NULL keys, keys that go and come.
    ("lookup_select", "SELECT p.id, p.v, (SELECT q.label FROM q WHERE q.k = p.k) AS label, (SELECT coalesce(q.label, '-') FROM q WHERE q.k = p.v) AS l2 FROM p"),
    ("lookup_where", "SELECT p.id, p.note FROM p WHERE p.v > (SELECT length(q.label) FROM q WHERE q.k = p.k)"),
    // Scalar subqueries in a grouped query's HAVING and SELECT list (TPC-H Q11), joined
    // after the grouping.
    ("having_scalar", "SELECT k, sum(v) AS s FROM a GROUP BY k HAVING sum(v) > (SELECT avg(w) FROM b)"),
    ("grouped_select_scalar", "SELECT g, count(*) AS n, count(*)::numeric / nullif((SELECT count(*) FROM b WHERE w > 1), 0) AS share FROM a GROUP BY g"),
    // Algebraic aggregates below the top (old states = new states − the delta's): sums
    // and averages of a fixed-scale numeric with NULLs, groups that empty, one row
    // without GROUP BY.
    ("agg_below_fixed_scale", "SELECT s.k, s.rev, s.av, c.label FROM (SELECT k, sum(n * (2 - n)) AS rev, avg(n * v) AS av FROM a GROUP BY k) s JOIN c ON c.k2 = s.k"),
    ("agg_below_numeric", "SELECT s.k, s.total, s.mean, s.cn, c.label FROM (SELECT k, sum(n) AS total, avg(n) AS mean, count(n) AS cn FROM a GROUP BY k) s JOIN c ON c.k2 = s.k"),
    ("scalar_sum_join", "SELECT b.name, s.sn FROM b, (SELECT sum(n) AS sn, count(*) AS cnt, avg(v) AS av FROM a WHERE a.g IS NOT NULL) s WHERE b.w < s.cnt OR s.av IS NULL"),
    // ORDER BY expressions that are not selected (kept in hidden columns).
    ("topk_unselected", "SELECT id, note FROM p ORDER BY v DESC, id LIMIT 4"),
    ("topk_agg_unselected", "SELECT k FROM a GROUP BY k ORDER BY count(*) DESC, sum(v) NULLS FIRST, k NULLS FIRST LIMIT 2"),
    ("topk_exists", "SELECT a.id, a.n FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.k = a.k) ORDER BY a.n DESC NULLS LAST, a.id LIMIT 4"),
    // Window functions: the partitions a change touches are recomputed. Functions that
    // depend on the order of tied rows get an ORDER BY over every column here (whole
    // duplicate rows are interchangeable), so the query's own result is determined.
    ("window_rank", "SELECT id, k, v, rank() OVER (PARTITION BY k ORDER BY v) AS r, dense_rank() OVER (PARTITION BY k ORDER BY v DESC NULLS LAST) AS dr, cume_dist() OVER (PARTITION BY k ORDER BY v) AS cd FROM a"),
    ("window_row_number", "SELECT id, k, row_number() OVER (PARTITION BY k ORDER BY v, id, g, n, m) AS rn FROM a"),
    ("window_running", "SELECT id, g, v, sum(v) OVER (PARTITION BY g ORDER BY id) AS run, count(*) OVER (PARTITION BY g) AS cnt, avg(n) OVER (PARTITION BY g ORDER BY id) AS an FROM a"),
    ("window_lag_lead", "SELECT id, k, lag(v) OVER w AS prev, lead(v, 2, -1) OVER w AS nxt, first_value(v) OVER w AS fv FROM a WINDOW w AS (PARTITION BY k ORDER BY id, v, g, n, m)"),
    ("window_frames", "SELECT id, v, sum(v) OVER (PARTITION BY k ORDER BY id, v, g, n, m ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS s3, avg(n) OVER (PARTITION BY k ORDER BY v RANGE BETWEEN 2 PRECEDING AND CURRENT ROW) AS an, max(v) OVER (PARTITION BY k ORDER BY id GROUPS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE CURRENT ROW) AS mx FROM a"),
    ("window_whole", "SELECT id, v, ntile(3) OVER (ORDER BY v NULLS FIRST, id, k, g, n, m) AS t, percent_rank() OVER (ORDER BY v) AS pr, count(*) OVER () AS total, min(n) OVER () AS lo FROM a"),
    ("window_two_partitions", "SELECT id, k, g, count(*) OVER (PARTITION BY k) AS nk, sum(v) OVER (PARTITION BY g ORDER BY id) AS sg FROM a"),
    ("window_over_agg", "SELECT k, sum(v) AS s, rank() OVER (ORDER BY sum(v) DESC NULLS LAST) AS r FROM a GROUP BY k"),
    ("window_below", "SELECT x.k, count(*) AS n, sum(x.v) AS sv FROM (SELECT k, v, row_number() OVER (PARTITION BY k ORDER BY id, v, g, n, m) AS rn FROM a) x WHERE x.rn <= 2 GROUP BY x.k"),
    ("window_keyed", "SELECT id, k, v, rank() OVER (PARTITION BY k ORDER BY v) AS r, lag(id) OVER (PARTITION BY k ORDER BY id) AS prev FROM p"),
    ("window_join", "SELECT a.id, b.name, sum(a.v) OVER (PARTITION BY b.name) AS s, count(*) OVER (PARTITION BY a.k, b.name) AS c FROM a JOIN b ON a.k = b.k"),
    ("window_expr_partition", "SELECT id, v, max(v) OVER (PARTITION BY v % 3, g IS NULL) AS mx, count(*) FILTER (WHERE v > 3) OVER (PARTITION BY k) AS big FROM a"),
    ("window_last_value", "SELECT id, k, last_value(id) OVER (PARTITION BY k ORDER BY id ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS last, nth_value(v, 2) OVER (PARTITION BY k ORDER BY id, v, g, n, m ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS second FROM a"),
    // Groupings below the top over a CTE read twice (their stored states are found again
    // by every refresh, though each translation numbers the shared subtree anew).
    ("cte_groupings_joined", "WITH t AS (SELECT k, v, n FROM a WHERE v IS NOT NULL) SELECT x.k, x.s, y.c FROM (SELECT k, sum(v) AS s FROM t GROUP BY k) x JOIN (SELECT k, count(n) AS c FROM t GROUP BY k) y ON x.k = y.k"),
    // GROUPING SETS, ROLLUP, CUBE: one grouping per set under UNION ALL; GROUPING().
    ("rollup", "SELECT k, g, count(*) AS n, sum(v) AS s, GROUPING(k, g) AS gr FROM a GROUP BY ROLLUP (k, g)"),
    ("cube", "SELECT k, g, count(v) AS nv, max(v) AS mx, avg(n) AS an FROM a GROUP BY CUBE (k, g)"),
    ("grouping_sets", "SELECT k, g, v % 2 AS odd, count(*) AS n, string_agg(id::text, ',' ORDER BY id) AS ids, GROUPING(g) AS gg FROM a GROUP BY GROUPING SETS ((k), (g, v % 2), (), (k))"),
    ("grouping_sets_having", "SELECT k, g, sum(m) AS sm FROM a GROUP BY k, ROLLUP (g) HAVING count(*) > 2"),
    ("grouping_sets_distinct", "SELECT k, g, count(*) AS n FROM a GROUP BY DISTINCT ROLLUP (k, g), ROLLUP (k)"),
    ("grouping_sets_join", "SELECT b.name, a.g, sum(a.v) AS s FROM a JOIN b ON a.k = b.k GROUP BY GROUPING SETS ((b.name), (a.g), ())"),
    // Set-returning functions in FROM, applied to each changed row: LATERAL, WITH
    // ORDINALITY, ROWS FROM, LEFT JOIN LATERAL … ON true with calls returning nothing,
    // a column definition list, an uncorrelated call, below a grouping.
    ("srf_unnest", "SELECT a.id, u.x FROM a, LATERAL unnest(ARRAY[a.v, a.k, a.v]) AS u(x)"),
    ("srf_series_ordinality", "SELECT a.id, s.i, s.o FROM a CROSS JOIN LATERAL generate_series(1, a.k) WITH ORDINALITY AS s(i, o)"),
    ("srf_left_empty", "SELECT a.id, e.value FROM a LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN a.v > 4 THEN to_jsonb(ARRAY[a.g, 'q']) ELSE '[]'::jsonb END) AS e ON true"),
    ("srf_jsonb_each_agg", "SELECT e.key, count(*) AS n, sum((e.value #>> '{}')::int) AS s FROM a, jsonb_each(jsonb_build_object('v', a.v, 'k', a.k)) AS e GROUP BY e.key"),
    ("srf_rows_from", "SELECT a.id, r.x, r.y, r.n FROM a, ROWS FROM (unnest(ARRAY[a.v, a.k]), generate_series(1, 3)) WITH ORDINALITY AS r(x, y, n)"),
    ("srf_uncorrelated", "SELECT c.label, g.i FROM c CROSS JOIN generate_series(1, 2) AS g(i) WHERE c.k2 >= g.i"),
    ("srf_coldef", "SELECT p.id, r.x, r.t FROM p, jsonb_to_record(jsonb_build_object('x', p.v, 't', p.note)) AS r(x int, t text)"),
    ("srf_below_agg", "SELECT x.k, count(*) AS n, count(DISTINCT x.w) AS dw FROM (SELECT p.k, u.w FROM p, unnest(string_to_array(p.note, '1')) AS u(w)) x GROUP BY x.k"),
    // LATERAL subqueries, decorrelated into per-key groupings, windows and joins: the
    // top rows per outer row (a total ORDER BY: tied rows look alike), with an OFFSET
    // under a LEFT JOIN, an aggregate without GROUP BY (a row even over no rows), a
    // grouped one with HAVING, DISTINCT with an ON condition, two keys with an outer
    // expression.
    ("lateral_top1", "SELECT b.k, b.name, t.id, t.v FROM b, LATERAL (SELECT a.id, a.v FROM a WHERE a.k = b.k ORDER BY a.v DESC NULLS LAST, a.id, a.g, a.n, a.m LIMIT 1) t"),
    ("lateral_offset_left", "SELECT b.name, b.w, t.id, t.g FROM b LEFT JOIN LATERAL (SELECT id, g, v FROM a WHERE a.k = b.k AND a.v > 2 ORDER BY a.g NULLS FIRST, a.id DESC, a.v, a.n, a.m LIMIT 2 OFFSET 1) t ON true"),
    ("lateral_agg", "SELECT b.k, b.name, s.n, s.total, s.mg FROM b CROSS JOIN LATERAL (SELECT count(*) AS n, sum(a.v) AS total, max(a.g) AS mg FROM a WHERE a.k = b.k) s"),
    ("lateral_group_left", "SELECT c.label, s.g, s.n FROM c LEFT JOIN LATERAL (SELECT a.g, count(*) AS n FROM a WHERE a.k = c.k2 GROUP BY a.g HAVING count(*) > 1) s ON true"),
    ("lateral_distinct_join_on", "SELECT p.id, s.name FROM p JOIN LATERAL (SELECT DISTINCT b.name, b.w FROM b WHERE b.k = p.k) s ON s.w > p.v"),
    ("lateral_two_keys", "SELECT p.id, x.n, x.sv FROM p, LATERAL (SELECT count(a.v) AS n, sum(a.v) AS sv FROM a WHERE a.k = p.k + 1 AND a.v = p.v) x WHERE x.n > 0"),
    ("lateral_below_agg", "SELECT t.g, count(*) AS n, sum(t.v) AS sv FROM b, LATERAL (SELECT a.g, a.v FROM a WHERE a.k = b.k ORDER BY a.v, a.id, a.g, a.n, a.m LIMIT 2) t GROUP BY t.g"),
    // Every aggregate: ordered-set and hypothetical-set, statistical and regression, JSON,
    // bitwise, DISTINCT and ordered arrays, a user-defined one (each recomputed per
    // affected group, or kept algebraically where it can be).
    ("aggs_ordered_set", "SELECT k, percentile_cont(0.5) WITHIN GROUP (ORDER BY v) AS med, percentile_disc(ARRAY[0.25, 0.75]) WITHIN GROUP (ORDER BY n) AS qs, mode() WITHIN GROUP (ORDER BY g) AS mg, rank(4) WITHIN GROUP (ORDER BY v) AS r4 FROM a GROUP BY k"),
    // (Float aggregates accumulate in input order, whose last bits PostgreSQL does not
    // fix either: compared rounded.)
    ("aggs_statistics", "SELECT g, stddev(v) AS sd, var_pop(n) AS vp, round(corr(v, k)::numeric, 9) AS cr, round(regr_slope(v, k)::numeric, 9) AS sl, regr_count(v, k) AS rc, round(covar_samp(k, v)::numeric, 9) AS cv FROM a GROUP BY g"),
    ("aggs_json_bits", "SELECT k, json_agg(v ORDER BY v, id) AS j, jsonb_object_agg(id::text, v ORDER BY id, v) AS o, bit_and(v) AS ba, bit_or(v) AS bo, bit_xor(v) AS bx, array_agg(DISTINCT g ORDER BY g) AS ga, every(v > 2) AS ev FROM a GROUP BY k"),
    ("aggs_user_defined", "SELECT g, pgt_sum_sq(v) AS ss, count(*) AS n FROM a GROUP BY g"),
    ("aggs_below_top", "SELECT b.name, s.med FROM b JOIN (SELECT k, percentile_disc(0.5) WITHIN GROUP (ORDER BY v) AS med FROM a GROUP BY k) s ON s.k = b.k"),
    ("natural_join", "SELECT * FROM a NATURAL JOIN (SELECT k, name FROM b) bb"),
    // WITH RECURSIVE: a bounded tree walk (UNION ALL over a self-loop), a transitive
    // closure with cycles (UNION), a closure below a join and a grouping, and a
    // recursion referenced twice.
    ("recursive_tree_union", "WITH RECURSIVE r(id, root) AS (SELECT id, id FROM p WHERE k IS NULL OR k > 8 UNION SELECT p.id, r.root FROM p JOIN r ON p.k = r.id) SELECT id, root FROM r"),
    ("recursive_walk", "WITH RECURSIVE r(id, depth) AS (SELECT id, 0 FROM p WHERE k IS NULL OR k = 0 UNION ALL SELECT p.id, r.depth + 1 FROM p JOIN r ON p.k = r.id WHERE r.depth < 4) SELECT * FROM r"),
    ("recursive_closure", "WITH RECURSIVE r(s, d) AS (SELECT k, w FROM b WHERE k IS NOT NULL AND w IS NOT NULL UNION SELECT r.s, b.w FROM r JOIN b ON b.k = r.d WHERE b.w IS NOT NULL) SELECT s, d FROM r"),
    ("recursive_below", "WITH RECURSIVE r(s, d) AS (SELECT k, w FROM b WHERE w IS NOT NULL UNION SELECT r.s, b.w FROM r, b WHERE b.k = r.d) SELECT r.s, count(*) AS n, sum(a.v) AS sv FROM r JOIN a ON a.k = r.d GROUP BY r.s"),
    ("recursive_twice", "WITH RECURSIVE r(n, g) AS (SELECT v, g FROM a WHERE v IS NOT NULL AND v < 3 UNION SELECT r.n + 1, r.g FROM r WHERE r.n < 4) SELECT x.n, x.g, y.g AS g2 FROM r x JOIN r y ON x.n = y.n + 1"),
    ("window_topk", "SELECT id, k, rank() OVER (PARTITION BY k ORDER BY v DESC) AS r FROM a ORDER BY r, id, k LIMIT 5"),
];

/// Shapes that must be stored keyed (no `__pgt_key` column).
pub const KEYED: &[&str] = &[
    "keyed_scan",
    "keyed_filter",
    "keyed_join",
    "keyed_comma_join",
    "keyed_self_join",
    "keyed_left_join",
    "keyed_exists",
];

pub const SCHEMA: &str = "
    CREATE FUNCTION pgt_sq_acc(bigint, int) RETURNS bigint IMMUTABLE LANGUAGE sql
        AS 'SELECT coalesce($1, 0) + coalesce($2::bigint * $2, 0)';
    CREATE AGGREGATE pgt_sum_sq(int) (sfunc = pgt_sq_acc, stype = bigint);
    CREATE TABLE a (id int, k int, g text, v int, n numeric(10,2), m numeric);
    CREATE TABLE b (k int, name text, w int);
    CREATE TABLE c (g text, label text, k2 int);
    INSERT INTO a SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE i % 4 END,
                        (ARRAY['x', 'y', 'z', NULL])[1 + i % 4], CASE WHEN i % 5 = 0 THEN NULL ELSE i % 9 END,
                        CASE WHEN i % 6 = 0 THEN NULL ELSE (i * 1.25)::numeric(10,2) END,
                        CASE WHEN i % 8 = 0 THEN NULL ELSE round(i * 1.125, i % 4) END
                   FROM generate_series(1, 24) i;
    INSERT INTO a SELECT * FROM a WHERE id <= 4;  -- duplicates
    INSERT INTO b VALUES (0, 'zero', 1), (1, 'one', 3), (1, 'uno', 5), (2, NULL, 2), (3, 'three', NULL), (NULL, 'nil', 4);
    INSERT INTO c VALUES ('x', 'ex', 1), ('y', 'why', 2), ('y', 'wye', 0), (NULL, 'none', 3);
    CREATE TABLE p (id int PRIMARY KEY, k int, v int, note text);
    CREATE TABLE q (k int PRIMARY KEY, label text);
    INSERT INTO p SELECT i, CASE WHEN i % 6 = 0 THEN NULL ELSE i % 5 END, i % 7, CASE WHEN i % 3 = 0 THEN NULL ELSE 'n' || i END
                   FROM generate_series(1, 20) i;
    INSERT INTO q VALUES (0, 'zero'), (1, 'one'), (2, NULL), (3, 'three');";

/// SplitMix64: a tiny deterministic generator, so a seed reproduces a run exactly.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent as i64
    }
    fn opt_int(&mut self, n: u64, null_percent: u64) -> String {
        if self.chance(null_percent) {
            "NULL".into()
        } else {
            self.below(n).to_string()
        }
    }
    /// A plain numeric with 0 to 4 decimal places (trailing zeros kept), or NULL; now
    /// and then NaN, ±Infinity, or a scale above the scale histogram's cap (1000).
    fn opt_scaled(&mut self) -> String {
        if self.chance(15) {
            return "NULL".into();
        }
        let v = self.below(400) as f64 / 8.0;
        match self.below(100) {
            0 | 1 => return "'NaN'::numeric".into(),
            2 => return "'Infinity'::numeric".into(),
            3 => return "'-Infinity'::numeric".into(),
            4 | 5 => return format!("round({v}::numeric, 1003)"),
            _ => {}
        }
        let scale = self.below(5) as usize;
        format!("{v:.scale$}::numeric")
    }
    fn opt_g(&mut self) -> String {
        ["'x'", "'y'", "'z'", "NULL"][self.below(4) as usize].to_string()
    }
}

/// One random DML statement on a, b, c, p or q.
pub fn random_statement(r: &mut Rng, next_id: &mut i64) -> String {
    let k = r.opt_int(5, 10);
    if r.chance(35) {
        let id = r.below(*next_id as u64 + 1);
        return match r.below(8) {
            0 => {
                *next_id += 1;
                format!("INSERT INTO p VALUES ({}, {k}, {}, {})", *next_id, r.below(9), ["'x'", "NULL"][r.below(2) as usize])
            }
            1 => format!("UPDATE p SET v = v + 1, note = 'u' WHERE id = {id}"),
            2 => format!("UPDATE p SET k = {k} WHERE id = {id}"),
            3 => {
                // The primary key itself changes.
                *next_id += 1;
                format!("UPDATE p SET id = {} WHERE id = {id}", *next_id)
            }
            4 => format!("UPDATE p SET v = v WHERE k = {}", r.below(5)),
            5 => format!("DELETE FROM p WHERE id = {id}"),
            6 => format!("INSERT INTO q VALUES ({}, 'q{}') ON CONFLICT (k) DO UPDATE SET label = EXCLUDED.label", r.below(6), r.below(9)),
            _ => format!("DELETE FROM q WHERE k = {}", r.below(6)),
        };
    }
    match r.below(16) {
        0..=2 => {
            *next_id += 1;
            format!(
                "INSERT INTO a VALUES ({}, {k}, {}, {}, {}, {})",
                *next_id,
                r.opt_g(),
                r.opt_int(12, 15),
                if r.chance(20) {
                    "NULL".into()
                } else if r.chance(3) {
                    // NaN: a numeric sum cannot subtract it out again.
                    "'NaN'".into()
                } else {
                    format!("{}.{:02}", r.below(50), r.below(100))
                },
                r.opt_scaled()
            )
        }
        3 => format!(
            "INSERT INTO a SELECT * FROM a WHERE id = {}",
            r.below(*next_id as u64 + 1)
        ),
        4 => format!(
            "UPDATE a SET k = {k} WHERE id = {}",
            r.below(*next_id as u64 + 1)
        ),
        5 => format!("UPDATE a SET v = v + 1 WHERE k = {}", r.below(5)),
        6 => format!(
            "UPDATE a SET v = v WHERE id = {}",
            r.below(*next_id as u64 + 1)
        ),
        7 => format!(
            "UPDATE a SET g = {}, n = NULL, m = {} WHERE id % 5 = {}",
            r.opt_g(),
            r.opt_scaled(),
            r.below(5)
        ),
        8 => format!("DELETE FROM a WHERE id = {}", r.below(*next_id as u64 + 1)),
        9 => format!("DELETE FROM a WHERE k = {}", r.below(5)),
        10 => {
            let kk = r.below(5);
            let f = if r.chance(50) { "max" } else { "min" };
            format!("DELETE FROM a WHERE k = {kk} AND v = (SELECT {f}(v) FROM a WHERE k = {kk})")
        }
        11 => format!(
            "INSERT INTO b VALUES ({k}, {}, {})",
            ["'one'", "'two'", "NULL", "'uno'"][r.below(4) as usize],
            r.opt_int(8, 20)
        ),
        12 => format!(
            "UPDATE b SET k = {k} WHERE name = {}",
            ["'one'", "'two'", "'uno'", "'zero'"][r.below(4) as usize]
        ),
        13 => format!(
            "DELETE FROM b WHERE ctid = (SELECT min(ctid) FROM b WHERE k IS NOT DISTINCT FROM {k})"
        ),
        14 => format!(
            "INSERT INTO c VALUES ({}, 'l{}', {})",
            r.opt_g(),
            r.below(9),
            r.opt_int(4, 20)
        ),
        _ => format!(
            "DELETE FROM c WHERE ctid = (SELECT max(ctid) FROM c WHERE g IS NOT DISTINCT FROM {})",
            r.opt_g()
        ),
    }
}
