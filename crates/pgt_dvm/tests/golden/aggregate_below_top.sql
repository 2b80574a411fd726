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

-- differential
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_scan_delta_0 AS (SELECT d."c0", d."c1", d."c2", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1", u."c2")) AS __pgt_img FROM (SELECT b."id" AS "c0", b."customer_id" AS "c1", b."amount" AS "c2", CASE WHEN b.__pgt_op OPERATOR(pg_catalog.=) 'I' THEN 1 ELSE -1 END AS __pgt_w FROM pgtrickle_changes."changes_16384" AS b WHERE b.__pgt_op OPERATOR(pg_catalog.=) ANY (ARRAY['I', 'D']::pg_catalog."char"[]) AND NOT pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, '<frontier of 16384>'::pg_catalog.pg_snapshot)) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x."c1", x."c2", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_regroup_keys_1 AS (SELECT x.* FROM (SELECT y.*, pg_catalog.row_number() OVER (PARTITION BY y.rid) AS __pgt_n FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(s."c1"))) AS rid, s."c1" AS "g0" FROM __pgt_scan_delta_0 AS s) AS y) AS x WHERE x.__pgt_n OPERATOR(pg_catalog.=) 1),
  __pgt_regroup_rows_2 AS (SELECT s.* FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t WHERE t."customer_id" OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT DISTINCT __pgt_k.* FROM (SELECT k."g0" FROM __pgt_regroup_keys_1 AS k WHERE k."g0" IS NOT NULL) AS __pgt_k))) AS s
    UNION ALL SELECT s.* FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t) AS s WHERE s."c1" IS NULL AND EXISTS (SELECT 1 FROM __pgt_regroup_keys_1 AS k WHERE k."g0" IS NULL)),
  __pgt_regroup_new_3 AS (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x."g0"))) AS rid, x.* FROM (SELECT s."c1" AS "g0", pg_catalog.count(*)::bigint AS n, pg_catalog.sum(s."c2") AS v0, pg_catalog.count(s."c2") AS c0, pg_catalog.sum(s."c2") AS s0 FROM __pgt_regroup_rows_2 AS s GROUP BY s."c1") AS x),
  __pgt_regroup_dstates_4 AS (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x."g0"))) AS rid, x.* FROM (SELECT s."c1" AS "g0", pg_catalog.sum(s.__pgt_w)::bigint AS dn, pg_catalog.sum(CASE WHEN (s."c2") IS NOT NULL THEN s.__pgt_w ELSE 0 END)::bigint AS dc0, coalesce(pg_catalog.sum(s.__pgt_w OPERATOR(pg_catalog.*) (s."c2")), 0) AS ds0 FROM __pgt_scan_delta_0 AS s GROUP BY s."c1") AS x),
  __pgt_regroup_delta_5 AS (SELECT d."c0", d."c1", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1")) AS __pgt_img FROM (SELECT n."g0" AS "c0", n.v0 AS "c1", 1::bigint AS __pgt_w FROM __pgt_regroup_new_3 AS n
    UNION ALL SELECT e."g0" AS "c0", (CASE WHEN (coalesce(n.c0, 0) OPERATOR(pg_catalog.-) e.dc0) OPERATOR(pg_catalog.=) 0 THEN NULL ELSE (coalesce(n.s0, 0) OPERATOR(pg_catalog.-) e.ds0) END)::numeric AS "c1", -1::bigint AS __pgt_w FROM __pgt_regroup_dstates_4 AS e LEFT JOIN __pgt_regroup_new_3 AS n ON n.rid OPERATOR(pg_catalog.=) e.rid WHERE (coalesce(n.n, 0) OPERATOR(pg_catalog.-) e.dn) OPERATOR(pg_catalog.>) 0) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_agg_delta_6 AS (SELECT (d."c1" OPERATOR(pg_catalog.>) 100) AS "g0", pg_catalog.sum(d.__pgt_w)::bigint AS dcount, coalesce(pg_catalog.bool_or(d.__pgt_w OPERATOR(pg_catalog.<) 0), false) AS has_del FROM __pgt_regroup_delta_5 AS d GROUP BY (d."c1" OPERATOR(pg_catalog.>) 100)),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING (SELECT x.rid, false AS __pgt_abs, x."g0", x.dcount AS "__pgt_count" FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(dg."g0"))) AS rid, dg.* FROM __pgt_agg_delta_6 AS dg) AS x) AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN MATCHED AND s.__pgt_abs AND s.__pgt_count OPERATOR(pg_catalog.<=) 0 THEN DELETE WHEN MATCHED AND s.__pgt_abs THEN UPDATE SET "big" = s."g0", "n" = s."__pgt_count", "__pgt_count" = s."__pgt_count" WHEN MATCHED AND (t.__pgt_count OPERATOR(pg_catalog.+) s.__pgt_count) OPERATOR(pg_catalog.<=) 0 AND pgtrickle._pgt_check((t.__pgt_count OPERATOR(pg_catalog.+) s.__pgt_count) OPERATOR(pg_catalog.>=) 0, 'stream table storage is inconsistent with its change history (a group''s row count went negative)') THEN DELETE WHEN MATCHED THEN UPDATE SET "big" = s."g0", "n" = (coalesce(t."__pgt_count", 0) OPERATOR(pg_catalog.+) s."__pgt_count"), "__pgt_count" = (coalesce(t."__pgt_count", 0) OPERATOR(pg_catalog.+) s."__pgt_count") WHEN NOT MATCHED AND pgtrickle._pgt_check(s.__pgt_count OPERATOR(pg_catalog.>=) 0, 'stream table storage is inconsistent with its change history (a group''s row count went negative)') AND s.__pgt_count OPERATOR(pg_catalog.>) 0 THEN INSERT (__pgt_row_id, "big", "n", "__pgt_count") VALUES (s.rid, s."g0", s."__pgt_count", s."__pgt_count") RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m

-- full
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_src AS (SELECT n.rid, CASE WHEN n.__pgt_count OPERATOR(pg_catalog.<=) 0 THEN 'D' ELSE 'U' END AS op, n."g0" AS "c0", n."__pgt_count" AS "c1", n."__pgt_count" FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x."g0"))) AS rid, x.* FROM (SELECT (s."c1" OPERATOR(pg_catalog.>) 100) AS "g0", pg_catalog.count(*)::bigint AS "__pgt_count" FROM (SELECT s."c1" AS "c0", pg_catalog.sum(s."c2") AS "c1" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t) AS s GROUP BY s."c1") AS s GROUP BY (s."c1" OPERATOR(pg_catalog.>) 100)) AS x) AS n WHERE pgtrickle._pgt_check(n.__pgt_count OPERATOR(pg_catalog.>=) 0, 'stream table storage is inconsistent with its change history (a group''s row count went negative)')),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING (SELECT * FROM __pgt_src WHERE op OPERATOR(pg_catalog.<>) 'D') AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN MATCHED AND pg_catalog.record_send(ROW(t."big", t."n", t."__pgt_count")) OPERATOR(pg_catalog.<>) pg_catalog.record_send(ROW(s."c0", s."c1", s."__pgt_count")) THEN UPDATE SET "big" = s."c0", "n" = s."c1", "__pgt_count" = s."__pgt_count" WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id, "big", "n", "__pgt_count") VALUES (s.rid, s."c0", s."c1", s."__pgt_count") WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m
