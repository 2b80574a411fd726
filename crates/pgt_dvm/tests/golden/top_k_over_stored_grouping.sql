-- tree
TopK(
    TopK {
        input: Project(
            Project {
                input: Aggregate(
                    Aggregate {
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
                        group_by: [
                            Expr {
                                parts: [
                                    Col(
                                        1,
                                    ),
                                ],
                            },
                        ],
                        group_columns: [
                            Column {
                                name: "customer_id",
                                type_sql: "integer",
                                exact_equality: true,
                                binary_identity: true,
                                canonical: None,
                            },
                        ],
                        aggs: [
                            AggCall {
                                kind: Sum,
                                arg: Some(
                                    Expr {
                                        parts: [
                                            Col(
                                                2,
                                            ),
                                        ],
                                    },
                                ),
                                call: Expr {
                                    parts: [
                                        Sql(
                                            "pg_catalog.sum(",
                                        ),
                                        Col(
                                            2,
                                        ),
                                        Sql(
                                            ")",
                                        ),
                                    ],
                                },
                                result_type: "numeric",
                                tracks_scale: false,
                            },
                        ],
                        input_error_free: false,
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
                                1,
                            ),
                        ],
                    },
                ],
                columns: [
                    Column {
                        name: "customer_id",
                        type_sql: "integer",
                        exact_equality: true,
                        binary_identity: true,
                        canonical: None,
                    },
                    Column {
                        name: "total",
                        type_sql: "numeric",
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
                nulls_first: false,
            },
            SortKey {
                column: 0,
                operator: "OPERATOR(pg_catalog.<)",
                collation: None,
                nulls_first: false,
            },
        ],
        limit: 3,
        offset: 0,
        sort_only: 0,
    },
)

-- hidden columns: [("__pgt_key", "bigint")]
-- extra DDL: []
-- state tables: [
    "CREATE TABLE \"pgtrickle_changes\".\"state_1_0_9411f7170524218a\" AS SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x.\"g0\"))) AS rid, x.* FROM (SELECT s.\"c1\" AS \"g0\", pg_catalog.count(*)::bigint AS \"n\", (pg_catalog.count(*) FILTER (WHERE (s.\"c2\") IS NOT NULL))::bigint AS \"c0\", pg_catalog.sum(s.\"c2\") FILTER (WHERE (s.\"c2\") OPERATOR(pg_catalog.<>) 'NaN'::pg_catalog.numeric) AS \"s0\", (pg_catalog.count(*) FILTER (WHERE (s.\"c2\") OPERATOR(pg_catalog.=) 'NaN'::pg_catalog.numeric))::bigint AS \"nan0\" FROM (SELECT t.\"id\" AS \"c0\", t.\"customer_id\" AS \"c1\", t.\"amount\" AS \"c2\" FROM \"public\".\"orders\" AS t) AS s GROUP BY s.\"c1\") AS x WITH NO DATA",
    "ALTER TABLE \"pgtrickle_changes\".\"state_1_0_9411f7170524218a\" SET (fillfactor = 50)",
    "ALTER TABLE \"pgtrickle_changes\".\"state_1_0_9411f7170524218a\" ADD PRIMARY KEY (rid)",
]

-- differential
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_scan_delta_0 AS (SELECT d."c0", d."c1", d."c2", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1", u."c2")) AS __pgt_img FROM (SELECT b."id" AS "c0", b."customer_id" AS "c1", b."amount" AS "c2", CASE WHEN b.__pgt_op OPERATOR(pg_catalog.=) 'I' THEN 1 ELSE -1 END AS __pgt_w FROM pgtrickle_changes."changes_16384" AS b WHERE b.__pgt_op OPERATOR(pg_catalog.=) ANY (ARRAY['I', 'D']::pg_catalog."char"[]) AND NOT pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, '<frontier of 16384>'::pg_catalog.pg_snapshot)) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x."c1", x."c2", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_state_delta_1 AS (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x."g0"))) AS rid, x.* FROM (SELECT s."c1" AS "g0", pg_catalog.sum(s.__pgt_w)::bigint AS "n", pg_catalog.sum(CASE WHEN (s."c2") IS NOT NULL THEN s.__pgt_w ELSE 0 END)::bigint AS "c0", coalesce(pg_catalog.sum(s.__pgt_w OPERATOR(pg_catalog.*) (s."c2")) FILTER (WHERE (s."c2") OPERATOR(pg_catalog.<>) 'NaN'::pg_catalog.numeric), 0) AS "s0", pg_catalog.sum(CASE WHEN (s."c2") OPERATOR(pg_catalog.=) 'NaN'::pg_catalog.numeric THEN s.__pgt_w ELSE 0 END)::bigint AS "nan0" FROM __pgt_scan_delta_0 AS s GROUP BY s."c1") AS x),
  __pgt_state_merge_2 AS (MERGE INTO "pgtrickle_changes"."state_1_0_9411f7170524218a" AS t USING __pgt_state_delta_1 AS e ON t.rid OPERATOR(pg_catalog.=) e.rid WHEN MATCHED AND e."n" OPERATOR(pg_catalog.=) 0 AND e."c0" OPERATOR(pg_catalog.=) 0 AND e."s0" OPERATOR(pg_catalog.=) 0 AND e."nan0" OPERATOR(pg_catalog.=) 0 THEN DO NOTHING WHEN MATCHED AND (t."n" OPERATOR(pg_catalog.+) e."n") OPERATOR(pg_catalog.<=) 0 AND pgtrickle._pgt_check((t."n" OPERATOR(pg_catalog.+) e."n") OPERATOR(pg_catalog.=) 0, 'stream table state is inconsistent with its change history (a group''s row count went negative)') THEN DELETE WHEN MATCHED THEN UPDATE SET "n" = coalesce(t."n", 0) OPERATOR(pg_catalog.+) e."n", "c0" = coalesce(t."c0", 0) OPERATOR(pg_catalog.+) e."c0", "s0" = coalesce(t."s0", 0) OPERATOR(pg_catalog.+) e."s0", "nan0" = coalesce(t."nan0", 0) OPERATOR(pg_catalog.+) e."nan0" WHEN NOT MATCHED AND e."n" OPERATOR(pg_catalog.<>) 0 AND pgtrickle._pgt_check(e."n" OPERATOR(pg_catalog.>) 0, 'stream table state is inconsistent with its change history (a change for a group that is not stored)') THEN INSERT (rid, "g0", "n", "c0", "s0", "nan0") VALUES (e.rid, e."g0", e."n", e."c0", e."s0", e."nan0") RETURNING e.rid, old."g0" AS "og0", new."g0" AS "ng0", old."n" AS "o_n", new."n" AS "n_n", old."c0" AS "o_c0", new."c0" AS "n_c0", old."s0" AS "o_s0", new."s0" AS "n_s0", old."nan0" AS "o_nan0", new."nan0" AS "n_nan0"),
  __pgt_stored_group_delta_3 AS (SELECT d."c0", d."c1", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1")) AS __pgt_img FROM (SELECT m."ng0" AS "c0", (CASE WHEN m."n_c0" OPERATOR(pg_catalog.=) 0 THEN NULL WHEN m."n_nan0" OPERATOR(pg_catalog.>) 0 THEN 'NaN'::pg_catalog.numeric ELSE coalesce(m."n_s0", 0) END)::numeric AS "c1", 1::bigint AS __pgt_w FROM __pgt_state_merge_2 AS m WHERE m."n_n" OPERATOR(pg_catalog.>) 0
    UNION ALL SELECT m."og0" AS "c0", (CASE WHEN m."o_c0" OPERATOR(pg_catalog.=) 0 THEN NULL WHEN m."o_nan0" OPERATOR(pg_catalog.>) 0 THEN 'NaN'::pg_catalog.numeric ELSE coalesce(m."o_s0", 0) END)::numeric AS "c1", -1::bigint AS __pgt_w FROM __pgt_state_merge_2 AS m WHERE m."o_n" OPERATOR(pg_catalog.>) 0) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_project_delta_4 AS (SELECT d."c0" AS "c0", d."c1" AS "c1", d.__pgt_w FROM __pgt_stored_group_delta_3 AS d),
  __pgt_stored_group_current_5 AS (SELECT t."g0" AS "c0", (CASE WHEN t."c0" OPERATOR(pg_catalog.=) 0 THEN NULL WHEN t."nan0" OPERATOR(pg_catalog.>) 0 THEN 'NaN'::pg_catalog.numeric ELSE coalesce(t."s0", 0) END)::numeric AS "c1" FROM "pgtrickle_changes"."state_1_0_9411f7170524218a" AS t WHERE NOT EXISTS (SELECT 1 FROM __pgt_state_merge_2 AS m WHERE m.rid OPERATOR(pg_catalog.=) t.rid)
    UNION ALL SELECT m."ng0" AS "c0", (CASE WHEN m."n_c0" OPERATOR(pg_catalog.=) 0 THEN NULL WHEN m."n_nan0" OPERATOR(pg_catalog.>) 0 THEN 'NaN'::pg_catalog.numeric ELSE coalesce(m."n_s0", 0) END)::numeric AS "c1" FROM __pgt_state_merge_2 AS m WHERE m."n_n" OPERATOR(pg_catalog.>) 0),
  __pgt_topk_rows_6 AS (SELECT y.*, pg_catalog.row_number() OVER (ORDER BY y."c1" USING OPERATOR(pg_catalog.>) NULLS LAST, y."c0" USING OPERATOR(pg_catalog.<) NULLS LAST, pg_catalog.record_send(ROW(y."c0", y."c1")) USING OPERATOR(pg_catalog.<)) AS pos FROM (SELECT u."c0", u."c1", (pg_catalog.sum(u.s) OVER __pgt_r)::bigint AS s, (pg_catalog.sum(u.w) OVER __pgt_r)::bigint AS w, pg_catalog.row_number() OVER __pgt_r AS rn FROM (SELECT t."customer_id" AS "c0", t."total" AS "c1", 1::bigint AS s, 0::bigint AS w, t.__pgt_key AS k FROM "public"."st" AS t
    UNION ALL SELECT d."c0", d."c1", 0::bigint, d.__pgt_w::bigint, pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(d."c0", d."c1"))) FROM __pgt_project_delta_4 AS d) AS u WINDOW __pgt_r AS (PARTITION BY u.k)) AS y WHERE y.rn OPERATOR(pg_catalog.=) 1),
  __pgt_topk_stats_7 AS (SELECT st.*, (st.changed AND NOT (true AND (st.stored OPERATOR(pg_catalog.<) 3 OR (SELECT coalesce(pg_catalog.sum(CASE WHEN r.s OPERATOR(pg_catalog.>) 0 OR st.stored OPERATOR(pg_catalog.<) 3 THEN GREATEST(r.s OPERATOR(pg_catalog.+) r.w, 0) WHEN r.pos OPERATOR(pg_catalog.<) st.boundary THEN GREATEST(r.w, 0) ELSE 0 END), 0) FROM __pgt_topk_rows_6 AS r) OPERATOR(pg_catalog.>=) 3))) AS reread FROM (SELECT coalesce(pg_catalog.sum(r.s), 0) AS stored, coalesce(pg_catalog.max(r.pos) FILTER (WHERE r.s OPERATOR(pg_catalog.>) 0), 0) AS boundary, coalesce(pg_catalog.bool_or(r.w OPERATOR(pg_catalog.<>) 0), false) AS changed FROM __pgt_topk_rows_6 AS r) AS st),
  __pgt_new AS (SELECT pgtrickle.pg_trickle_hash_combine(x.k, pg_catalog.row_number() OVER (PARTITION BY x.k)) AS rid, x.* FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(q."c0", q."c1"))) AS k, q.* FROM ((SELECT x."c0", x."c1" FROM (SELECT r.*, (CASE WHEN r.s OPERATOR(pg_catalog.>) 0 OR st.stored OPERATOR(pg_catalog.<) 3 THEN GREATEST(r.s OPERATOR(pg_catalog.+) r.w, 0) WHEN r.pos OPERATOR(pg_catalog.<) st.boundary THEN GREATEST(r.w, 0) ELSE 0 END)::bigint AS c FROM __pgt_topk_rows_6 AS r CROSS JOIN __pgt_topk_stats_7 AS st WHERE NOT st.reread) AS x CROSS JOIN LATERAL pg_catalog.generate_series(1::bigint, x.c) AS __pgt_copy ORDER BY x."c1" USING OPERATOR(pg_catalog.>) NULLS LAST, x."c0" USING OPERATOR(pg_catalog.<) NULLS LAST, pg_catalog.record_send(ROW(x."c0", x."c1")) USING OPERATOR(pg_catalog.<) LIMIT 3)
    UNION ALL (SELECT q."c0", q."c1" FROM (SELECT q.* FROM (SELECT s."c0" AS "c0", s."c1" AS "c1" FROM (SELECT * FROM __pgt_stored_group_current_5) AS s) AS q ORDER BY q."c1" USING OPERATOR(pg_catalog.>) NULLS LAST, q."c0" USING OPERATOR(pg_catalog.<) NULLS LAST, pg_catalog.record_send(ROW(q."c0", q."c1")) USING OPERATOR(pg_catalog.<) LIMIT 3 OFFSET 0) AS q WHERE (SELECT st.reread FROM __pgt_topk_stats_7 AS st))) AS q) AS x),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING __pgt_new AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id,
  __pgt_key, "customer_id", "total") VALUES (s.rid, s.k, s."c0", s."c1") WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m

-- full
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_state_full_0 AS MATERIALIZED (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x."g0"))) AS rid, x.* FROM (SELECT s."c1" AS "g0", pg_catalog.count(*)::bigint AS "n", (pg_catalog.count(*) FILTER (WHERE (s."c2") IS NOT NULL))::bigint AS "c0", pg_catalog.sum(s."c2") FILTER (WHERE (s."c2") OPERATOR(pg_catalog.<>) 'NaN'::pg_catalog.numeric) AS "s0", (pg_catalog.count(*) FILTER (WHERE (s."c2") OPERATOR(pg_catalog.=) 'NaN'::pg_catalog.numeric))::bigint AS "nan0" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t) AS s GROUP BY s."c1") AS x),
  __pgt_state_refill_1 AS (MERGE INTO "pgtrickle_changes"."state_1_0_9411f7170524218a" AS t USING __pgt_state_full_0 AS f ON t.rid OPERATOR(pg_catalog.=) f.rid WHEN MATCHED AND pg_catalog.record_send(ROW(t."n", t."c0", t."s0", t."nan0")) OPERATOR(pg_catalog.<>) pg_catalog.record_send(ROW(f."n", f."c0", f."s0", f."nan0")) THEN UPDATE SET "n" = f."n", "c0" = f."c0", "s0" = f."s0", "nan0" = f."nan0" WHEN NOT MATCHED BY TARGET THEN INSERT (rid, "g0", "n", "c0", "s0", "nan0") VALUES (f.rid, f."g0", f."n", f."c0", f."s0", f."nan0") WHEN NOT MATCHED BY SOURCE THEN DELETE),
  __pgt_stored_group_current_2 AS (SELECT f."g0" AS "c0", (CASE WHEN f."c0" OPERATOR(pg_catalog.=) 0 THEN NULL WHEN f."nan0" OPERATOR(pg_catalog.>) 0 THEN 'NaN'::pg_catalog.numeric ELSE coalesce(f."s0", 0) END)::numeric AS "c1" FROM __pgt_state_full_0 AS f),
  __pgt_new AS (SELECT pgtrickle.pg_trickle_hash_combine(x.k, pg_catalog.row_number() OVER (PARTITION BY x.k)) AS rid, x.* FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(q."c0", q."c1"))) AS k, q.* FROM (SELECT q.* FROM (SELECT s."c0" AS "c0", s."c1" AS "c1" FROM (SELECT * FROM __pgt_stored_group_current_2) AS s) AS q ORDER BY q."c1" USING OPERATOR(pg_catalog.>) NULLS LAST, q."c0" USING OPERATOR(pg_catalog.<) NULLS LAST, pg_catalog.record_send(ROW(q."c0", q."c1")) USING OPERATOR(pg_catalog.<) LIMIT 3 OFFSET 0) AS q) AS x),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING __pgt_new AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id,
  __pgt_key, "customer_id", "total") VALUES (s.rid, s.k, s."c0", s."c1") WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m
