-- tree
Project(
    Project {
        input: Aggregate(
            Aggregate {
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
                group_by: [
                    Expr {
                        parts: [
                            Sql(
                                "(",
                            ),
                            Col(
                                1,
                            ),
                            Sql(
                                " OPERATOR(pg_catalog.>) 100)",
                            ),
                        ],
                    },
                ],
                group_columns: [
                    Column {
                        name: "big",
                        type_sql: "boolean",
                        exact_equality: true,
                        binary_identity: true,
                        canonical: None,
                    },
                ],
                aggs: [
                    AggCall {
                        kind: CountStar,
                        arg: None,
                        call: Expr {
                            parts: [
                                Sql(
                                    "pg_catalog.count(*)",
                                ),
                            ],
                        },
                        result_type: "bigint",
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
                name: "big",
                type_sql: "boolean",
                exact_equality: true,
                binary_identity: true,
                canonical: None,
            },
            Column {
                name: "n",
                type_sql: "bigint",
                exact_equality: true,
                binary_identity: true,
                canonical: None,
            },
        ],
    },
)

-- hidden columns: [("__pgt_count", "bigint")]
-- extra DDL: ["ALTER TABLE \"public\".\"st\" SET (fillfactor = 50)"]
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
  __pgt_agg_delta_4 AS (SELECT (d."c1" OPERATOR(pg_catalog.>) 100) AS "g0", pg_catalog.sum(d.__pgt_w)::bigint AS dcount, coalesce(pg_catalog.bool_or(d.__pgt_w OPERATOR(pg_catalog.<) 0), false) AS has_del FROM __pgt_stored_group_delta_3 AS d GROUP BY (d."c1" OPERATOR(pg_catalog.>) 100)),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING (SELECT x.rid, false AS __pgt_abs, x."g0", x.dcount AS "__pgt_count" FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(dg."g0"))) AS rid, dg.* FROM __pgt_agg_delta_4 AS dg) AS x) AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN MATCHED AND s.__pgt_abs AND s.__pgt_count OPERATOR(pg_catalog.<=) 0 THEN DELETE WHEN MATCHED AND s.__pgt_abs THEN UPDATE SET "big" = s."g0", "n" = s."__pgt_count", "__pgt_count" = s."__pgt_count" WHEN MATCHED AND (t.__pgt_count OPERATOR(pg_catalog.+) s.__pgt_count) OPERATOR(pg_catalog.<=) 0 AND pgtrickle._pgt_check((t.__pgt_count OPERATOR(pg_catalog.+) s.__pgt_count) OPERATOR(pg_catalog.>=) 0, 'stream table storage is inconsistent with its change history (a group''s row count went negative)') THEN DELETE WHEN MATCHED THEN UPDATE SET "big" = s."g0", "n" = (coalesce(t."__pgt_count", 0) OPERATOR(pg_catalog.+) s."__pgt_count"), "__pgt_count" = (coalesce(t."__pgt_count", 0) OPERATOR(pg_catalog.+) s."__pgt_count") WHEN NOT MATCHED AND pgtrickle._pgt_check(s.__pgt_count OPERATOR(pg_catalog.>=) 0, 'stream table storage is inconsistent with its change history (a group''s row count went negative)') AND s.__pgt_count OPERATOR(pg_catalog.>) 0 THEN INSERT (__pgt_row_id, "big", "n", "__pgt_count") VALUES (s.rid, s."g0", s."__pgt_count", s."__pgt_count") RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m

-- full
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_state_full_0 AS MATERIALIZED (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x."g0"))) AS rid, x.* FROM (SELECT s."c1" AS "g0", pg_catalog.count(*)::bigint AS "n", (pg_catalog.count(*) FILTER (WHERE (s."c2") IS NOT NULL))::bigint AS "c0", pg_catalog.sum(s."c2") FILTER (WHERE (s."c2") OPERATOR(pg_catalog.<>) 'NaN'::pg_catalog.numeric) AS "s0", (pg_catalog.count(*) FILTER (WHERE (s."c2") OPERATOR(pg_catalog.=) 'NaN'::pg_catalog.numeric))::bigint AS "nan0" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t) AS s GROUP BY s."c1") AS x),
  __pgt_state_refill_1 AS (MERGE INTO "pgtrickle_changes"."state_1_0_9411f7170524218a" AS t USING __pgt_state_full_0 AS f ON t.rid OPERATOR(pg_catalog.=) f.rid WHEN MATCHED AND pg_catalog.record_send(ROW(t."n", t."c0", t."s0", t."nan0")) OPERATOR(pg_catalog.<>) pg_catalog.record_send(ROW(f."n", f."c0", f."s0", f."nan0")) THEN UPDATE SET "n" = f."n", "c0" = f."c0", "s0" = f."s0", "nan0" = f."nan0" WHEN NOT MATCHED BY TARGET THEN INSERT (rid, "g0", "n", "c0", "s0", "nan0") VALUES (f.rid, f."g0", f."n", f."c0", f."s0", f."nan0") WHEN NOT MATCHED BY SOURCE THEN DELETE),
  __pgt_stored_group_current_2 AS (SELECT f."g0" AS "c0", (CASE WHEN f."c0" OPERATOR(pg_catalog.=) 0 THEN NULL WHEN f."nan0" OPERATOR(pg_catalog.>) 0 THEN 'NaN'::pg_catalog.numeric ELSE coalesce(f."s0", 0) END)::numeric AS "c1" FROM __pgt_state_full_0 AS f),
  __pgt_src AS (SELECT n.rid, CASE WHEN n.__pgt_count OPERATOR(pg_catalog.<=) 0 THEN 'D' ELSE 'U' END AS op, n."g0" AS "c0", n."__pgt_count" AS "c1", n."__pgt_count" FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x."g0"))) AS rid, x.* FROM (SELECT (s."c1" OPERATOR(pg_catalog.>) 100) AS "g0", pg_catalog.count(*)::bigint AS "__pgt_count" FROM (SELECT * FROM __pgt_stored_group_current_2) AS s GROUP BY (s."c1" OPERATOR(pg_catalog.>) 100)) AS x) AS n WHERE pgtrickle._pgt_check(n.__pgt_count OPERATOR(pg_catalog.>=) 0, 'stream table storage is inconsistent with its change history (a group''s row count went negative)')),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING (SELECT * FROM __pgt_src WHERE op OPERATOR(pg_catalog.<>) 'D') AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN MATCHED AND pg_catalog.record_send(ROW(t."big", t."n", t."__pgt_count")) OPERATOR(pg_catalog.<>) pg_catalog.record_send(ROW(s."c0", s."c1", s."__pgt_count")) THEN UPDATE SET "big" = s."c0", "n" = s."c1", "__pgt_count" = s."__pgt_count" WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id, "big", "n", "__pgt_count") VALUES (s.rid, s."c0", s."c1", s."__pgt_count") WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m
