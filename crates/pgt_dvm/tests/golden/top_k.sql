-- tree
TopK(
    TopK {
        input: Project(
            Project {
                input: Scan(
                    Scan {
                        source_oid: 16384,
                        table: QualifiedName {
                            schema: Some(
                                "public",
                            ),
                            name: "orders",
                        },
                        columns: [
                            Column {
                                name: "id",
                                type_sql: "integer",
                                exact_equality: true,
                                binary_identity: true,
                                canonical: None,
                            },
                            Column {
                                name: "customer_id",
                                type_sql: "integer",
                                exact_equality: true,
                                binary_identity: true,
                                canonical: None,
                            },
                            Column {
                                name: "amount",
                                type_sql: "numeric(10,2)",
                                exact_equality: true,
                                binary_identity: true,
                                canonical: None,
                            },
                        ],
                        key: None,
                        read_as: [],
                    },
                ),
                exprs: [
                    Expr {
                        parts: [
                            Col(
                                0,
                            ),
                        ],
                    },
                    Expr {
                        parts: [
                            Col(
                                2,
                            ),
                        ],
                    },
                ],
                columns: [
                    Column {
                        name: "id",
                        type_sql: "integer",
                        exact_equality: true,
                        binary_identity: true,
                        canonical: None,
                    },
                    Column {
                        name: "amount",
                        type_sql: "numeric(10,2)",
                        exact_equality: true,
                        binary_identity: true,
                        canonical: None,
                    },
                ],
            },
        ),
        order: [
            SortKey {
                column: 1,
                operator: "OPERATOR(pg_catalog.>)",
                collation: None,
                nulls_first: true,
            },
            SortKey {
                column: 0,
                operator: "OPERATOR(pg_catalog.<)",
                collation: None,
                nulls_first: false,
            },
        ],
        limit: 10,
        offset: 0,
        sort_only: 0,
    },
)

-- hidden columns: [("__pgt_key", "bigint")]
-- extra DDL: []

-- differential
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_buffered_delta_0 AS (SELECT b."id" AS "c0", b."customer_id" AS "c1", b."amount" AS "c2", CASE WHEN b.__pgt_op OPERATOR(pg_catalog.=) 'I' THEN 1 ELSE -1 END AS __pgt_w FROM pgtrickle_changes."changes_16384" AS b WHERE b.__pgt_op OPERATOR(pg_catalog.=) ANY (ARRAY['I', 'D']::pg_catalog."char"[]) AND NOT pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, '<frontier of 16384>'::pg_catalog.pg_snapshot)),
  __pgt_project_delta_1 AS (SELECT d."c0" AS "c0", d."c2" AS "c1", d.__pgt_w FROM __pgt_buffered_delta_0 AS d),
  __pgt_topk_rows_2 AS (SELECT y.*, pg_catalog.row_number() OVER (ORDER BY y."c1" USING OPERATOR(pg_catalog.>) NULLS FIRST, y."c0" USING OPERATOR(pg_catalog.<) NULLS LAST, pg_catalog.record_send(ROW(y."c0", y."c1")) USING OPERATOR(pg_catalog.<)) AS pos FROM (SELECT u."c0", u."c1", (pg_catalog.sum(u.s) OVER __pgt_r)::bigint AS s, (pg_catalog.sum(u.w) OVER __pgt_r)::bigint AS w, pg_catalog.row_number() OVER __pgt_r AS rn FROM (SELECT t."id" AS "c0", t."amount" AS "c1", 1::bigint AS s, 0::bigint AS w, t.__pgt_key AS k FROM "public"."st" AS t
    UNION ALL SELECT d."c0", d."c1", 0::bigint, d.__pgt_w::bigint, pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(d."c0", d."c1"))) FROM __pgt_project_delta_1 AS d) AS u WINDOW __pgt_r AS (PARTITION BY u.k)) AS y WHERE y.rn OPERATOR(pg_catalog.=) 1),
  __pgt_topk_stats_3 AS (SELECT st.*, (st.changed AND NOT (true AND (st.stored OPERATOR(pg_catalog.<) 10 OR (SELECT coalesce(pg_catalog.sum(CASE WHEN r.s OPERATOR(pg_catalog.>) 0 OR st.stored OPERATOR(pg_catalog.<) 10 THEN GREATEST(r.s OPERATOR(pg_catalog.+) r.w, 0) WHEN r.pos OPERATOR(pg_catalog.<) st.boundary THEN GREATEST(r.w, 0) ELSE 0 END), 0) FROM __pgt_topk_rows_2 AS r) OPERATOR(pg_catalog.>=) 10))) AS reread FROM (SELECT coalesce(pg_catalog.sum(r.s), 0) AS stored, coalesce(pg_catalog.max(r.pos) FILTER (WHERE r.s OPERATOR(pg_catalog.>) 0), 0) AS boundary, coalesce(pg_catalog.bool_or(r.w OPERATOR(pg_catalog.<>) 0), false) AS changed FROM __pgt_topk_rows_2 AS r) AS st),
  __pgt_new AS (SELECT pgtrickle.pg_trickle_hash_combine(x.k, pg_catalog.row_number() OVER (PARTITION BY x.k)) AS rid, x.* FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(q."c0", q."c1"))) AS k, q.* FROM ((SELECT x."c0", x."c1" FROM (SELECT r.*, (CASE WHEN r.s OPERATOR(pg_catalog.>) 0 OR st.stored OPERATOR(pg_catalog.<) 10 THEN GREATEST(r.s OPERATOR(pg_catalog.+) r.w, 0) WHEN r.pos OPERATOR(pg_catalog.<) st.boundary THEN GREATEST(r.w, 0) ELSE 0 END)::bigint AS c FROM __pgt_topk_rows_2 AS r CROSS JOIN __pgt_topk_stats_3 AS st WHERE NOT st.reread) AS x CROSS JOIN LATERAL pg_catalog.generate_series(1::bigint, x.c) AS __pgt_copy ORDER BY x."c1" USING OPERATOR(pg_catalog.>) NULLS FIRST, x."c0" USING OPERATOR(pg_catalog.<) NULLS LAST, pg_catalog.record_send(ROW(x."c0", x."c1")) USING OPERATOR(pg_catalog.<) LIMIT 10)
    UNION ALL (SELECT q."c0", q."c1" FROM (SELECT q.* FROM (SELECT s."c0" AS "c0", s."c2" AS "c1" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t) AS s) AS q ORDER BY q."c1" USING OPERATOR(pg_catalog.>) NULLS FIRST, q."c0" USING OPERATOR(pg_catalog.<) NULLS LAST, pg_catalog.record_send(ROW(q."c0", q."c1")) USING OPERATOR(pg_catalog.<) LIMIT 10 OFFSET 0) AS q WHERE (SELECT st.reread FROM __pgt_topk_stats_3 AS st))) AS q) AS x),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING __pgt_new AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id,
  __pgt_key, "id", "amount") VALUES (s.rid, s.k, s."c0", s."c1") WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m

-- full
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_new AS (SELECT pgtrickle.pg_trickle_hash_combine(x.k, pg_catalog.row_number() OVER (PARTITION BY x.k)) AS rid, x.* FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(q."c0", q."c1"))) AS k, q.* FROM (SELECT q.* FROM (SELECT s."c0" AS "c0", s."c2" AS "c1" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t) AS s) AS q ORDER BY q."c1" USING OPERATOR(pg_catalog.>) NULLS FIRST, q."c0" USING OPERATOR(pg_catalog.<) NULLS LAST, pg_catalog.record_send(ROW(q."c0", q."c1")) USING OPERATOR(pg_catalog.<) LIMIT 10 OFFSET 0) AS q) AS x),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING __pgt_new AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id,
  __pgt_key, "id", "amount") VALUES (s.rid, s.k, s."c0", s."c1") WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m
