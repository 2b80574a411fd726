-- tree
Replicate(
    Replicate {
        input: Aggregate(
            Aggregate {
                input: UnionAll(
                    UnionAll {
                        inputs: [
                            Project(
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
                                                    1,
                                                ),
                                            ],
                                        },
                                        Expr {
                                            parts: [
                                                Sql(
                                                    "1",
                                                ),
                                            ],
                                        },
                                        Expr {
                                            parts: [
                                                Sql(
                                                    "0",
                                                ),
                                            ],
                                        },
                                    ],
                                    columns: [
                                        Column {
                                            name: "k",
                                            type_sql: "integer",
                                            exact_equality: true,
                                            binary_identity: true,
                                            canonical: None,
                                        },
                                        Column {
                                            name: "__pgt_a",
                                            type_sql: "integer",
                                            exact_equality: true,
                                            binary_identity: true,
                                            canonical: None,
                                        },
                                        Column {
                                            name: "__pgt_b",
                                            type_sql: "integer",
                                            exact_equality: true,
                                            binary_identity: true,
                                            canonical: None,
                                        },
                                    ],
                                },
                            ),
                            Project(
                                Project {
                                    input: Scan(
                                        Scan {
                                            source_oid: 16390,
                                            table: QualifiedName {
                                                schema: Some(
                                                    "public",
                                                ),
                                                name: "customers",
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
                                                    name: "region",
                                                    type_sql: "text",
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
                                                Sql(
                                                    "0",
                                                ),
                                            ],
                                        },
                                        Expr {
                                            parts: [
                                                Sql(
                                                    "1",
                                                ),
                                            ],
                                        },
                                    ],
                                    columns: [
                                        Column {
                                            name: "k",
                                            type_sql: "integer",
                                            exact_equality: true,
                                            binary_identity: true,
                                            canonical: None,
                                        },
                                        Column {
                                            name: "__pgt_a",
                                            type_sql: "integer",
                                            exact_equality: true,
                                            binary_identity: true,
                                            canonical: None,
                                        },
                                        Column {
                                            name: "__pgt_b",
                                            type_sql: "integer",
                                            exact_equality: true,
                                            binary_identity: true,
                                            canonical: None,
                                        },
                                    ],
                                },
                            ),
                        ],
                    },
                ),
                group_by: [
                    Expr {
                        parts: [
                            Col(
                                0,
                            ),
                        ],
                    },
                ],
                group_columns: [
                    Column {
                        name: "k",
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
                                        1,
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
                                    1,
                                ),
                                Sql(
                                    ")",
                                ),
                            ],
                        },
                        result_type: "bigint",
                        tracks_scale: false,
                    },
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
                        result_type: "bigint",
                        tracks_scale: false,
                    },
                ],
                input_error_free: false,
            },
        ),
        count: Expr {
            parts: [
                Sql(
                    "LEAST(",
                ),
                Col(
                    1,
                ),
                Sql(
                    ", ",
                ),
                Col(
                    2,
                ),
                Sql(
                    ")",
                ),
            ],
        },
        keep: 1,
    },
)

-- hidden columns: [("__pgt_key", "bigint")]
-- extra DDL: ["CREATE INDEX IF NOT EXISTS \"st_key_idx\" ON \"public\".\"st\" (\"__pgt_key\")"]
-- state tables: [
    "CREATE TABLE \"pgtrickle_changes\".\"state_1_0_54ff09abfdf35ab3\" AS SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x.\"g0\"))) AS rid, x.* FROM (SELECT s.\"c0\" AS \"g0\", pg_catalog.count(*)::bigint AS \"n\", (pg_catalog.count(*) FILTER (WHERE (s.\"c1\") IS NOT NULL))::bigint AS \"c0\", pg_catalog.sum(s.\"c1\") FILTER (WHERE true) AS \"s0\", (pg_catalog.count(*) FILTER (WHERE (s.\"c2\") IS NOT NULL))::bigint AS \"c1\", pg_catalog.sum(s.\"c2\") FILTER (WHERE true) AS \"s1\" FROM (SELECT \"c0\", \"c1\", \"c2\" FROM (SELECT s.\"c1\" AS \"c0\", 1 AS \"c1\", 0 AS \"c2\" FROM (SELECT t.\"id\" AS \"c0\", t.\"customer_id\" AS \"c1\", t.\"amount\" AS \"c2\" FROM \"public\".\"orders\" AS t) AS s) AS u UNION ALL SELECT \"c0\", \"c1\", \"c2\" FROM (SELECT s.\"c0\" AS \"c0\", 0 AS \"c1\", 1 AS \"c2\" FROM (SELECT t.\"id\" AS \"c0\", t.\"region\" AS \"c1\" FROM \"public\".\"customers\" AS t) AS s) AS u) AS s GROUP BY s.\"c0\") AS x WITH NO DATA",
    "ALTER TABLE \"pgtrickle_changes\".\"state_1_0_54ff09abfdf35ab3\" SET (fillfactor = 50)",
    "ALTER TABLE \"pgtrickle_changes\".\"state_1_0_54ff09abfdf35ab3\" ADD PRIMARY KEY (rid)",
]

-- differential
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_scan_delta_0 AS (SELECT d."c0", d."c1", d."c2", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1", u."c2")) AS __pgt_img FROM (SELECT b."id" AS "c0", b."customer_id" AS "c1", b."amount" AS "c2", CASE WHEN b.__pgt_op OPERATOR(pg_catalog.=) 'I' THEN 1 ELSE -1 END AS __pgt_w FROM pgtrickle_changes."changes_16384" AS b WHERE b.__pgt_op OPERATOR(pg_catalog.=) ANY (ARRAY['I', 'D']::pg_catalog."char"[]) AND NOT pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, '<frontier of 16384>'::pg_catalog.pg_snapshot)) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x."c1", x."c2", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_project_delta_1 AS (SELECT d."c1" AS "c0", 1 AS "c1", 0 AS "c2", d.__pgt_w FROM __pgt_scan_delta_0 AS d),
  __pgt_scan_delta_2 AS (SELECT d."c0", d."c1", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1")) AS __pgt_img FROM (SELECT b."id" AS "c0", b."region" AS "c1", CASE WHEN b.__pgt_op OPERATOR(pg_catalog.=) 'I' THEN 1 ELSE -1 END AS __pgt_w FROM pgtrickle_changes."changes_16390" AS b WHERE b.__pgt_op OPERATOR(pg_catalog.=) ANY (ARRAY['I', 'D']::pg_catalog."char"[]) AND NOT pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, '<frontier of 16390>'::pg_catalog.pg_snapshot)) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x."c1", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_project_delta_3 AS (SELECT d."c0" AS "c0", 0 AS "c1", 1 AS "c2", d.__pgt_w FROM __pgt_scan_delta_2 AS d),
  __pgt_union_delta_4 AS (SELECT "c0", "c1", "c2",
  __pgt_w FROM __pgt_project_delta_1
    UNION ALL SELECT "c0", "c1", "c2",
  __pgt_w FROM __pgt_project_delta_3),
  __pgt_state_delta_5 AS (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x."g0"))) AS rid, x.* FROM (SELECT s."c0" AS "g0", pg_catalog.sum(s.__pgt_w)::bigint AS "n", pg_catalog.sum(CASE WHEN (s."c1") IS NOT NULL THEN s.__pgt_w ELSE 0 END)::bigint AS "c0", coalesce(pg_catalog.sum(s.__pgt_w OPERATOR(pg_catalog.*) (s."c1")) FILTER (WHERE true), 0) AS "s0", pg_catalog.sum(CASE WHEN (s."c2") IS NOT NULL THEN s.__pgt_w ELSE 0 END)::bigint AS "c1", coalesce(pg_catalog.sum(s.__pgt_w OPERATOR(pg_catalog.*) (s."c2")) FILTER (WHERE true), 0) AS "s1" FROM __pgt_union_delta_4 AS s GROUP BY s."c0") AS x),
  __pgt_state_merge_6 AS (MERGE INTO "pgtrickle_changes"."state_1_0_54ff09abfdf35ab3" AS t USING __pgt_state_delta_5 AS e ON t.rid OPERATOR(pg_catalog.=) e.rid WHEN MATCHED AND e."n" OPERATOR(pg_catalog.=) 0 AND e."c0" OPERATOR(pg_catalog.=) 0 AND e."s0" OPERATOR(pg_catalog.=) 0 AND e."c1" OPERATOR(pg_catalog.=) 0 AND e."s1" OPERATOR(pg_catalog.=) 0 THEN DO NOTHING WHEN MATCHED AND (t."n" OPERATOR(pg_catalog.+) e."n") OPERATOR(pg_catalog.<=) 0 AND pgtrickle._pgt_check((t."n" OPERATOR(pg_catalog.+) e."n") OPERATOR(pg_catalog.=) 0, 'stream table state is inconsistent with its change history (a group''s row count went negative)') THEN DELETE WHEN MATCHED THEN UPDATE SET "n" = coalesce(t."n", 0) OPERATOR(pg_catalog.+) e."n", "c0" = coalesce(t."c0", 0) OPERATOR(pg_catalog.+) e."c0", "s0" = coalesce(t."s0", 0) OPERATOR(pg_catalog.+) e."s0", "c1" = coalesce(t."c1", 0) OPERATOR(pg_catalog.+) e."c1", "s1" = coalesce(t."s1", 0) OPERATOR(pg_catalog.+) e."s1" WHEN NOT MATCHED AND e."n" OPERATOR(pg_catalog.<>) 0 AND pgtrickle._pgt_check(e."n" OPERATOR(pg_catalog.>) 0, 'stream table state is inconsistent with its change history (a change for a group that is not stored)') THEN INSERT (rid, "g0", "n", "c0", "s0", "c1", "s1") VALUES (e.rid, e."g0", e."n", e."c0", e."s0", e."c1", e."s1") RETURNING e.rid, old."g0" AS "og0", new."g0" AS "ng0", old."n" AS "o_n", new."n" AS "n_n", old."c0" AS "o_c0", new."c0" AS "n_c0", old."s0" AS "o_s0", new."s0" AS "n_s0", old."c1" AS "o_c1", new."c1" AS "n_c1", old."s1" AS "o_s1", new."s1" AS "n_s1"),
  __pgt_stored_group_delta_7 AS (SELECT d."c0", d."c1", d."c2", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1", u."c2")) AS __pgt_img FROM (SELECT m."ng0" AS "c0", (CASE WHEN m."n_c0" OPERATOR(pg_catalog.=) 0 THEN NULL ELSE coalesce(m."n_s0", 0) END)::bigint AS "c1", (CASE WHEN m."n_c1" OPERATOR(pg_catalog.=) 0 THEN NULL ELSE coalesce(m."n_s1", 0) END)::bigint AS "c2", 1::bigint AS __pgt_w FROM __pgt_state_merge_6 AS m WHERE m."n_n" OPERATOR(pg_catalog.>) 0
    UNION ALL SELECT m."og0" AS "c0", (CASE WHEN m."o_c0" OPERATOR(pg_catalog.=) 0 THEN NULL ELSE coalesce(m."o_s0", 0) END)::bigint AS "c1", (CASE WHEN m."o_c1" OPERATOR(pg_catalog.=) 0 THEN NULL ELSE coalesce(m."o_s1", 0) END)::bigint AS "c2", -1::bigint AS __pgt_w FROM __pgt_state_merge_6 AS m WHERE m."o_n" OPERATOR(pg_catalog.>) 0) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_replicate_delta_8 AS (SELECT d."c0", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0")) AS __pgt_img FROM (SELECT d."c0", (d.__pgt_w OPERATOR(pg_catalog.*) GREATEST((LEAST(d."c1", d."c2"))::bigint, 0))::bigint AS __pgt_w FROM __pgt_stored_group_delta_7 AS d WHERE GREATEST((LEAST(d."c1", d."c2"))::bigint, 0) OPERATOR(pg_catalog.<>) 0) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_d AS (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(d."c0"))) AS k, d.* FROM __pgt_replicate_delta_8 AS d),
  __pgt_net AS (SELECT x.* FROM (SELECT d.*, (pg_catalog.sum(d.__pgt_w) OVER __pgt_r)::bigint AS nw, pg_catalog.row_number() OVER __pgt_r AS nn FROM __pgt_d AS d WINDOW __pgt_r AS (PARTITION BY d.k)) AS x WHERE x.nn OPERATOR(pg_catalog.=) 1 AND x.nw OPERATOR(pg_catalog.<>) 0),
  __pgt_cur AS (SELECT n.*, (SELECT pg_catalog.count(*) FROM "public"."st" AS t WHERE t.__pgt_key OPERATOR(pg_catalog.=) n.k) AS cur FROM __pgt_net AS n),
  __pgt_src AS (SELECT 'I'::pg_catalog.text AS op, pgtrickle.pg_trickle_hash_combine(c.k, o) AS rid, c.k, c."c0" FROM __pgt_cur AS c CROSS JOIN LATERAL pg_catalog.generate_series(c.cur OPERATOR(pg_catalog.+) 1, c.cur OPERATOR(pg_catalog.+) c.nw) AS o WHERE c.nw OPERATOR(pg_catalog.>) 0
    UNION ALL SELECT 'D'::pg_catalog.text, pgtrickle.pg_trickle_hash_combine(c.k, o), c.k, NULL FROM __pgt_cur AS c CROSS JOIN LATERAL pg_catalog.generate_series(c.cur OPERATOR(pg_catalog.+) c.nw OPERATOR(pg_catalog.+) 1, c.cur) AS o WHERE c.nw OPERATOR(pg_catalog.<) 0 AND pgtrickle._pgt_check(c.cur OPERATOR(pg_catalog.+) c.nw OPERATOR(pg_catalog.>=) 0, 'stream table storage is inconsistent with its change history (more copies of a row deleted than stored)')),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING __pgt_src AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN MATCHED AND s.op OPERATOR(pg_catalog.=) 'D' THEN DELETE WHEN MATCHED AND s.op OPERATOR(pg_catalog.=) 'I' AND pgtrickle._pgt_check(false, 'stream table storage is inconsistent with its change history (a row copy to insert already exists)') THEN DO NOTHING WHEN NOT MATCHED AND s.op OPERATOR(pg_catalog.=) 'I' THEN INSERT (__pgt_row_id,
  __pgt_key, "k") VALUES (s.rid, s.k, s."c0") RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m

-- full
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_state_full_0 AS MATERIALIZED (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x."g0"))) AS rid, x.* FROM (SELECT s."c0" AS "g0", pg_catalog.count(*)::bigint AS "n", (pg_catalog.count(*) FILTER (WHERE (s."c1") IS NOT NULL))::bigint AS "c0", pg_catalog.sum(s."c1") FILTER (WHERE true) AS "s0", (pg_catalog.count(*) FILTER (WHERE (s."c2") IS NOT NULL))::bigint AS "c1", pg_catalog.sum(s."c2") FILTER (WHERE true) AS "s1" FROM (SELECT "c0", "c1", "c2" FROM (SELECT s."c1" AS "c0", 1 AS "c1", 0 AS "c2" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t) AS s) AS u
    UNION ALL SELECT "c0", "c1", "c2" FROM (SELECT s."c0" AS "c0", 0 AS "c1", 1 AS "c2" FROM (SELECT t."id" AS "c0", t."region" AS "c1" FROM "public"."customers" AS t) AS s) AS u) AS s GROUP BY s."c0") AS x),
  __pgt_state_refill_1 AS (MERGE INTO "pgtrickle_changes"."state_1_0_54ff09abfdf35ab3" AS t USING __pgt_state_full_0 AS f ON t.rid OPERATOR(pg_catalog.=) f.rid WHEN MATCHED AND pg_catalog.record_send(ROW(t."n", t."c0", t."s0", t."c1", t."s1")) OPERATOR(pg_catalog.<>) pg_catalog.record_send(ROW(f."n", f."c0", f."s0", f."c1", f."s1")) THEN UPDATE SET "n" = f."n", "c0" = f."c0", "s0" = f."s0", "c1" = f."c1", "s1" = f."s1" WHEN NOT MATCHED BY TARGET THEN INSERT (rid, "g0", "n", "c0", "s0", "c1", "s1") VALUES (f.rid, f."g0", f."n", f."c0", f."s0", f."c1", f."s1") WHEN NOT MATCHED BY SOURCE THEN DELETE),
  __pgt_stored_group_current_2 AS (SELECT f."g0" AS "c0", (CASE WHEN f."c0" OPERATOR(pg_catalog.=) 0 THEN NULL ELSE coalesce(f."s0", 0) END)::bigint AS "c1", (CASE WHEN f."c1" OPERATOR(pg_catalog.=) 0 THEN NULL ELSE coalesce(f."s1", 0) END)::bigint AS "c2" FROM __pgt_state_full_0 AS f),
  __pgt_new AS (SELECT pgtrickle.pg_trickle_hash_combine(x.k, pg_catalog.row_number() OVER (PARTITION BY x.k)) AS rid, x.* FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(q."c0"))) AS k, q.* FROM (SELECT s."c0" AS "c0" FROM (SELECT * FROM __pgt_stored_group_current_2) AS s CROSS JOIN LATERAL pg_catalog.generate_series(1::bigint, GREATEST((LEAST(s."c1", s."c2"))::bigint, 0)) AS __pgt_copy) AS q) AS x),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING __pgt_new AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id,
  __pgt_key, "k") VALUES (s.rid, s.k, s."c0") WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m
