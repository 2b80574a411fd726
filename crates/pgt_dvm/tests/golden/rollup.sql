-- tree
UnionAll(
    UnionAll {
        inputs: [
            Project(
                Project {
                    input: Aggregate(
                        Aggregate {
                            input: Shared(
                                Shared {
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
                        Expr {
                            parts: [
                                Sql(
                                    "0::pg_catalog.int4",
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
                            name: "n",
                            type_sql: "bigint",
                            exact_equality: true,
                            binary_identity: true,
                            canonical: None,
                        },
                        Column {
                            name: "grouping",
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
                    input: Aggregate(
                        Aggregate {
                            input: Shared(
                                Shared {
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
                                },
                            ),
                            group_by: [],
                            group_columns: [],
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
                                Sql(
                                    "NULL::integer",
                                ),
                            ],
                        },
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
                                    "1::pg_catalog.int4",
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
                            name: "n",
                            type_sql: "bigint",
                            exact_equality: true,
                            binary_identity: true,
                            canonical: None,
                        },
                        Column {
                            name: "grouping",
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
)

-- hidden columns: [("__pgt_key", "bigint")]
-- extra DDL: ["CREATE INDEX IF NOT EXISTS \"st_key_idx\" ON \"public\".\"st\" (\"__pgt_key\")"]
-- state tables: [
    "CREATE TABLE \"pgtrickle_changes\".\"state_1_0_2944e713fb596ff3\" AS WITH __pgt_shared_current_0 AS (SELECT t.\"id\" AS \"c0\", t.\"customer_id\" AS \"c1\", t.\"amount\" AS \"c2\" FROM \"public\".\"orders\" AS t) SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x.\"g0\"))) AS rid, x.* FROM (SELECT s.\"c1\" AS \"g0\", pg_catalog.count(*)::bigint AS \"n\" FROM (SELECT \"c0\", \"c1\", \"c2\" FROM __pgt_shared_current_0) AS s GROUP BY s.\"c1\") AS x WITH NO DATA",
    "ALTER TABLE \"pgtrickle_changes\".\"state_1_0_2944e713fb596ff3\" SET (fillfactor = 50)",
    "ALTER TABLE \"pgtrickle_changes\".\"state_1_0_2944e713fb596ff3\" ADD PRIMARY KEY (rid)",
    "CREATE TABLE \"pgtrickle_changes\".\"state_1_1_f71b374778bcc469\" AS WITH __pgt_shared_current_0 AS (SELECT t.\"id\" AS \"c0\", t.\"customer_id\" AS \"c1\", t.\"amount\" AS \"c2\" FROM \"public\".\"orders\" AS t) SELECT 0::bigint AS rid, x.* FROM (SELECT pg_catalog.count(*)::bigint AS \"n\" FROM (SELECT \"c0\", \"c1\", \"c2\" FROM __pgt_shared_current_0) AS s) AS x WITH NO DATA",
    "ALTER TABLE \"pgtrickle_changes\".\"state_1_1_f71b374778bcc469\" SET (fillfactor = 50)",
    "ALTER TABLE \"pgtrickle_changes\".\"state_1_1_f71b374778bcc469\" ADD PRIMARY KEY (rid)",
]

-- differential
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_scan_delta_0 AS (SELECT d."c0", d."c1", d."c2", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1", u."c2")) AS __pgt_img FROM (SELECT b."id" AS "c0", b."customer_id" AS "c1", b."amount" AS "c2", CASE WHEN b.__pgt_op OPERATOR(pg_catalog.=) 'I' THEN 1 ELSE -1 END AS __pgt_w FROM pgtrickle_changes."changes_16384" AS b WHERE b.__pgt_op OPERATOR(pg_catalog.=) ANY (ARRAY['I', 'D']::pg_catalog."char"[]) AND NOT pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, '<frontier of 16384>'::pg_catalog.pg_snapshot)) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x."c1", x."c2", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_state_delta_1 AS (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x."g0"))) AS rid, x.* FROM (SELECT s."c1" AS "g0", pg_catalog.sum(s.__pgt_w)::bigint AS "n" FROM __pgt_scan_delta_0 AS s GROUP BY s."c1") AS x),
  __pgt_state_merge_2 AS (MERGE INTO "pgtrickle_changes"."state_1_0_2944e713fb596ff3" AS t USING __pgt_state_delta_1 AS e ON t.rid OPERATOR(pg_catalog.=) e.rid WHEN MATCHED AND e."n" OPERATOR(pg_catalog.=) 0 THEN DO NOTHING WHEN MATCHED AND (t."n" OPERATOR(pg_catalog.+) e."n") OPERATOR(pg_catalog.<=) 0 AND pgtrickle._pgt_check((t."n" OPERATOR(pg_catalog.+) e."n") OPERATOR(pg_catalog.=) 0, 'stream table state is inconsistent with its change history (a group''s row count went negative)') THEN DELETE WHEN MATCHED THEN UPDATE SET "n" = coalesce(t."n", 0) OPERATOR(pg_catalog.+) e."n" WHEN NOT MATCHED AND e."n" OPERATOR(pg_catalog.<>) 0 AND pgtrickle._pgt_check(e."n" OPERATOR(pg_catalog.>) 0, 'stream table state is inconsistent with its change history (a change for a group that is not stored)') THEN INSERT (rid, "g0", "n") VALUES (e.rid, e."g0", e."n") RETURNING e.rid, old."g0" AS "og0", new."g0" AS "ng0", old."n" AS "o_n", new."n" AS "n_n"),
  __pgt_stored_group_delta_3 AS (SELECT d."c0", d."c1", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1")) AS __pgt_img FROM (SELECT m."ng0" AS "c0", (m."n_n")::bigint AS "c1", 1::bigint AS __pgt_w FROM __pgt_state_merge_2 AS m WHERE m."n_n" OPERATOR(pg_catalog.>) 0
    UNION ALL SELECT m."og0" AS "c0", (m."o_n")::bigint AS "c1", -1::bigint AS __pgt_w FROM __pgt_state_merge_2 AS m WHERE m."o_n" OPERATOR(pg_catalog.>) 0) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_project_delta_4 AS (SELECT d."c0" AS "c0", d."c1" AS "c1", 0::pg_catalog.int4 AS "c2", d.__pgt_w FROM __pgt_stored_group_delta_3 AS d),
  __pgt_state_delta_5 AS (SELECT 0::bigint AS rid, x.* FROM (SELECT pg_catalog.sum(s.__pgt_w)::bigint AS "n" FROM __pgt_scan_delta_0 AS s HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0) AS x),
  __pgt_state_merge_6 AS (MERGE INTO "pgtrickle_changes"."state_1_1_f71b374778bcc469" AS t USING __pgt_state_delta_5 AS e ON t.rid OPERATOR(pg_catalog.=) e.rid WHEN MATCHED AND e."n" OPERATOR(pg_catalog.=) 0 THEN DO NOTHING WHEN MATCHED AND pgtrickle._pgt_check((t."n" OPERATOR(pg_catalog.+) e."n") OPERATOR(pg_catalog.>=) 0, 'stream table state is inconsistent with its change history (the row count went negative)') THEN UPDATE SET "n" = coalesce(t."n", 0) OPERATOR(pg_catalog.+) e."n" WHEN NOT MATCHED AND pgtrickle._pgt_check(false, 'stream table state is inconsistent with its change history (the state row of an aggregate without GROUP BY is missing)') THEN INSERT (rid, "n") VALUES (e.rid, e."n") RETURNING e.rid, old."n" AS "o_n", new."n" AS "n_n"),
  __pgt_stored_group_delta_7 AS (SELECT d."c0", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0")) AS __pgt_img FROM (SELECT (m."n_n")::bigint AS "c0", 1::bigint AS __pgt_w FROM __pgt_state_merge_6 AS m WHERE m."n_n" IS NOT NULL
    UNION ALL SELECT (m."o_n")::bigint AS "c0", -1::bigint AS __pgt_w FROM __pgt_state_merge_6 AS m WHERE m."o_n" IS NOT NULL) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_project_delta_8 AS (SELECT NULL::integer AS "c0", d."c0" AS "c1", 1::pg_catalog.int4 AS "c2", d.__pgt_w FROM __pgt_stored_group_delta_7 AS d),
  __pgt_union_delta_9 AS (SELECT "c0", "c1", "c2",
  __pgt_w FROM __pgt_project_delta_4
    UNION ALL SELECT "c0", "c1", "c2",
  __pgt_w FROM __pgt_project_delta_8),
  __pgt_d AS (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(d."c0", d."c1", d."c2"))) AS k, d.* FROM __pgt_union_delta_9 AS d),
  __pgt_net AS (SELECT x.* FROM (SELECT d.*, (pg_catalog.sum(d.__pgt_w) OVER __pgt_r)::bigint AS nw, pg_catalog.row_number() OVER __pgt_r AS nn FROM __pgt_d AS d WINDOW __pgt_r AS (PARTITION BY d.k)) AS x WHERE x.nn OPERATOR(pg_catalog.=) 1 AND x.nw OPERATOR(pg_catalog.<>) 0),
  __pgt_cur AS (SELECT n.*, (SELECT pg_catalog.count(*) FROM "public"."st" AS t WHERE t.__pgt_key OPERATOR(pg_catalog.=) n.k) AS cur FROM __pgt_net AS n),
  __pgt_src AS (SELECT 'I'::pg_catalog.text AS op, pgtrickle.pg_trickle_hash_combine(c.k, o) AS rid, c.k, c."c0", c."c1", c."c2" FROM __pgt_cur AS c CROSS JOIN LATERAL pg_catalog.generate_series(c.cur OPERATOR(pg_catalog.+) 1, c.cur OPERATOR(pg_catalog.+) c.nw) AS o WHERE c.nw OPERATOR(pg_catalog.>) 0
    UNION ALL SELECT 'D'::pg_catalog.text, pgtrickle.pg_trickle_hash_combine(c.k, o), c.k, NULL, NULL, NULL FROM __pgt_cur AS c CROSS JOIN LATERAL pg_catalog.generate_series(c.cur OPERATOR(pg_catalog.+) c.nw OPERATOR(pg_catalog.+) 1, c.cur) AS o WHERE c.nw OPERATOR(pg_catalog.<) 0 AND pgtrickle._pgt_check(c.cur OPERATOR(pg_catalog.+) c.nw OPERATOR(pg_catalog.>=) 0, 'stream table storage is inconsistent with its change history (more copies of a row deleted than stored)')),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING __pgt_src AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN MATCHED AND s.op OPERATOR(pg_catalog.=) 'D' THEN DELETE WHEN MATCHED AND s.op OPERATOR(pg_catalog.=) 'I' AND pgtrickle._pgt_check(false, 'stream table storage is inconsistent with its change history (a row copy to insert already exists)') THEN DO NOTHING WHEN NOT MATCHED AND s.op OPERATOR(pg_catalog.=) 'I' THEN INSERT (__pgt_row_id,
  __pgt_key, "customer_id", "n", "grouping") VALUES (s.rid, s.k, s."c0", s."c1", s."c2") RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m

-- full
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_shared_current_0 AS (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t),
  __pgt_state_full_1 AS MATERIALIZED (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x."g0"))) AS rid, x.* FROM (SELECT s."c1" AS "g0", pg_catalog.count(*)::bigint AS "n" FROM (SELECT "c0", "c1", "c2" FROM __pgt_shared_current_0) AS s GROUP BY s."c1") AS x),
  __pgt_state_refill_2 AS (MERGE INTO "pgtrickle_changes"."state_1_0_2944e713fb596ff3" AS t USING __pgt_state_full_1 AS f ON t.rid OPERATOR(pg_catalog.=) f.rid WHEN MATCHED AND pg_catalog.record_send(ROW(t."n")) OPERATOR(pg_catalog.<>) pg_catalog.record_send(ROW(f."n")) THEN UPDATE SET "n" = f."n" WHEN NOT MATCHED BY TARGET THEN INSERT (rid, "g0", "n") VALUES (f.rid, f."g0", f."n") WHEN NOT MATCHED BY SOURCE THEN DELETE),
  __pgt_stored_group_current_3 AS (SELECT f."g0" AS "c0", (f."n")::bigint AS "c1" FROM __pgt_state_full_1 AS f),
  __pgt_state_full_4 AS MATERIALIZED (SELECT 0::bigint AS rid, x.* FROM (SELECT pg_catalog.count(*)::bigint AS "n" FROM (SELECT "c0", "c1", "c2" FROM __pgt_shared_current_0) AS s) AS x),
  __pgt_state_refill_5 AS (MERGE INTO "pgtrickle_changes"."state_1_1_f71b374778bcc469" AS t USING __pgt_state_full_4 AS f ON t.rid OPERATOR(pg_catalog.=) f.rid WHEN MATCHED AND pg_catalog.record_send(ROW(t."n")) OPERATOR(pg_catalog.<>) pg_catalog.record_send(ROW(f."n")) THEN UPDATE SET "n" = f."n" WHEN NOT MATCHED BY TARGET THEN INSERT (rid, "n") VALUES (f.rid, f."n") WHEN NOT MATCHED BY SOURCE THEN DELETE),
  __pgt_stored_group_current_6 AS (SELECT (f."n")::bigint AS "c0" FROM __pgt_state_full_4 AS f),
  __pgt_new AS (SELECT pgtrickle.pg_trickle_hash_combine(x.k, pg_catalog.row_number() OVER (PARTITION BY x.k)) AS rid, x.* FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(q."c0", q."c1", q."c2"))) AS k, q.* FROM (SELECT "c0", "c1", "c2" FROM (SELECT s."c0" AS "c0", s."c1" AS "c1", 0::pg_catalog.int4 AS "c2" FROM (SELECT * FROM __pgt_stored_group_current_3) AS s) AS u
    UNION ALL SELECT "c0", "c1", "c2" FROM (SELECT NULL::integer AS "c0", s."c0" AS "c1", 1::pg_catalog.int4 AS "c2" FROM (SELECT * FROM __pgt_stored_group_current_6) AS s) AS u) AS q) AS x),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING __pgt_new AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id,
  __pgt_key, "customer_id", "n", "grouping") VALUES (s.rid, s.k, s."c0", s."c1", s."c2") WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m
