-- tree
Project(
    Project {
        input: Join(
            Join {
                left: Scan(
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
                right: Project(
                    Project {
                        input: Filter(
                            Filter {
                                input: Window(
                                    Window {
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
                                                    Expr {
                                                        parts: [
                                                            Col(
                                                                1,
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
                                                    Column {
                                                        name: "__pgt_key0",
                                                        type_sql: "integer",
                                                        exact_equality: true,
                                                        binary_identity: true,
                                                        canonical: None,
                                                    },
                                                    Column {
                                                        name: "__pgt_sort0",
                                                        type_sql: "numeric(10,2)",
                                                        exact_equality: true,
                                                        binary_identity: true,
                                                        canonical: None,
                                                    },
                                                ],
                                            },
                                        ),
                                        partition_by: [
                                            Expr {
                                                parts: [
                                                    Col(
                                                        2,
                                                    ),
                                                ],
                                            },
                                        ],
                                        partition_columns: [
                                            Column {
                                                name: "__pgt_key0",
                                                type_sql: "integer",
                                                exact_equality: true,
                                                binary_identity: true,
                                                canonical: None,
                                            },
                                        ],
                                        order_by: [
                                            Expr {
                                                parts: [
                                                    Col(
                                                        3,
                                                    ),
                                                    Sql(
                                                        " USING OPERATOR(pg_catalog.>) NULLS FIRST",
                                                    ),
                                                ],
                                            },
                                        ],
                                        calls: [
                                            WindowCall {
                                                call: Expr {
                                                    parts: [
                                                        Sql(
                                                            "pg_catalog.row_number()",
                                                        ),
                                                    ],
                                                },
                                                tiebreak: true,
                                                frame: "",
                                            },
                                        ],
                                        call_columns: [
                                            Column {
                                                name: "__pgt_rn",
                                                type_sql: "bigint",
                                                exact_equality: true,
                                                binary_identity: true,
                                                canonical: None,
                                            },
                                        ],
                                    },
                                ),
                                predicate: Expr {
                                    parts: [
                                        Col(
                                            4,
                                        ),
                                        Sql(
                                            " OPERATOR(pg_catalog.>) 0::pg_catalog.int8 AND ",
                                        ),
                                        Col(
                                            4,
                                        ),
                                        Sql(
                                            " OPERATOR(pg_catalog.<=) 1::pg_catalog.int8",
                                        ),
                                    ],
                                },
                                equi: [],
                                error_free: false,
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
                            Column {
                                name: "__pgt_key0",
                                type_sql: "integer",
                                exact_equality: true,
                                binary_identity: true,
                                canonical: None,
                            },
                        ],
                    },
                ),
                condition: Some(
                    Expr {
                        parts: [
                            Sql(
                                "(",
                            ),
                            Col(
                                0,
                            ),
                            Sql(
                                " OPERATOR(pg_catalog.=) ",
                            ),
                            Col(
                                4,
                            ),
                            Sql(
                                ")",
                            ),
                        ],
                    },
                ),
                equi: [
                    (
                        0,
                        2,
                    ),
                ],
                condition_error_free: false,
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
            Expr {
                parts: [
                    Col(
                        3,
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
                name: "order_id",
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
)

-- hidden columns: [("__pgt_key", "bigint")]
-- extra DDL: ["CREATE INDEX IF NOT EXISTS \"st_key_idx\" ON \"public\".\"st\" (\"__pgt_key\")"]

-- differential
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_scan_delta_0 AS (SELECT d."c0", d."c1", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1")) AS __pgt_img FROM (SELECT b."id" AS "c0", b."region" AS "c1", CASE WHEN b.__pgt_op OPERATOR(pg_catalog.=) 'I' THEN 1 ELSE -1 END AS __pgt_w FROM pgtrickle_changes."changes_16390" AS b WHERE b.__pgt_op OPERATOR(pg_catalog.=) ANY (ARRAY['I', 'D']::pg_catalog."char"[]) AND NOT pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, '<frontier of 16390>'::pg_catalog.pg_snapshot)) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x."c1", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_scan_delta_1 AS (SELECT d."c0", d."c1", d."c2", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1", u."c2")) AS __pgt_img FROM (SELECT b."id" AS "c0", b."customer_id" AS "c1", b."amount" AS "c2", CASE WHEN b.__pgt_op OPERATOR(pg_catalog.=) 'I' THEN 1 ELSE -1 END AS __pgt_w FROM pgtrickle_changes."changes_16384" AS b WHERE b.__pgt_op OPERATOR(pg_catalog.=) ANY (ARRAY['I', 'D']::pg_catalog."char"[]) AND NOT pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, '<frontier of 16384>'::pg_catalog.pg_snapshot)) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x."c1", x."c2", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_project_delta_2 AS (SELECT d."c0" AS "c0", d."c2" AS "c1", d."c1" AS "c2", d."c2" AS "c3", d.__pgt_w FROM __pgt_scan_delta_1 AS d),
  __pgt_regroup_keys_3 AS (SELECT x.* FROM (SELECT y.*, pg_catalog.row_number() OVER (PARTITION BY y.rid) AS __pgt_n FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(s."c2"))) AS rid, s."c2" AS "g0" FROM __pgt_project_delta_2 AS s) AS y) AS x WHERE x.__pgt_n OPERATOR(pg_catalog.=) 1),
  __pgt_regroup_rows_4 AS (SELECT s.* FROM (SELECT s."c0" AS "c0", s."c2" AS "c1", s."c1" AS "c2", s."c2" AS "c3" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t WHERE t."customer_id" OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT DISTINCT __pgt_k.* FROM (SELECT k."g0" FROM __pgt_regroup_keys_3 AS k WHERE k."g0" IS NOT NULL) AS __pgt_k))) AS s) AS s
    UNION ALL SELECT s.* FROM (SELECT s."c0" AS "c0", s."c2" AS "c1", s."c1" AS "c2", s."c2" AS "c3" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t) AS s) AS s WHERE s."c2" IS NULL AND EXISTS (SELECT 1 FROM __pgt_regroup_keys_3 AS k WHERE k."g0" IS NULL)),
  __pgt_regroup_old_5 AS (SELECT d."c0", d."c1", d."c2", d."c3", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1", u."c2", u."c3")) AS __pgt_img FROM (SELECT s."c0", s."c1", s."c2", s."c3", 1::bigint AS __pgt_w FROM __pgt_regroup_rows_4 AS s
    UNION ALL SELECT s."c0", s."c1", s."c2", s."c3", OPERATOR(pg_catalog.-) s.__pgt_w AS __pgt_w FROM __pgt_project_delta_2 AS s) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x."c1", x."c2", x."c3", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_regroup_delta_6 AS (SELECT d."c0", d."c1", d."c2", d."c3", d."c4", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1", u."c2", u."c3", u."c4")) AS __pgt_img FROM (SELECT f.* FROM (SELECT s."c0", s."c1", s."c2", s."c3", pg_catalog.row_number() OVER (PARTITION BY s."c2" ORDER BY s."c3" USING OPERATOR(pg_catalog.>) NULLS FIRST, pg_catalog.record_send(ROW(s."c0", s."c1", s."c2", s."c3")) USING OPERATOR(pg_catalog.<)) AS "c4", 1::bigint AS __pgt_w FROM (SELECT * FROM __pgt_regroup_rows_4) AS s) AS f WHERE f."c4" OPERATOR(pg_catalog.>) 0::pg_catalog.int8 AND f."c4" OPERATOR(pg_catalog.<=) 1::pg_catalog.int8
    UNION ALL SELECT f.* FROM (SELECT s."c0", s."c1", s."c2", s."c3", pg_catalog.row_number() OVER (PARTITION BY s."c2" ORDER BY s."c3" USING OPERATOR(pg_catalog.>) NULLS FIRST, pg_catalog.record_send(ROW(s."c0", s."c1", s."c2", s."c3")) USING OPERATOR(pg_catalog.<)) AS "c4", -1::bigint AS __pgt_w FROM (SELECT o.* FROM __pgt_regroup_old_5 AS o CROSS JOIN LATERAL pg_catalog.generate_series(1::bigint, o.__pgt_w) AS __pgt_copy WHERE o.__pgt_w OPERATOR(pg_catalog.>) 0) AS s) AS f WHERE f."c4" OPERATOR(pg_catalog.>) 0::pg_catalog.int8 AND f."c4" OPERATOR(pg_catalog.<=) 1::pg_catalog.int8) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x."c1", x."c2", x."c3", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_project_delta_7 AS (SELECT d."c0" AS "c0", d."c1" AS "c1", d."c2" AS "c2", d.__pgt_w FROM __pgt_regroup_delta_6 AS d),
  __pgt_join_delta_8 AS (SELECT d."c0", d."c1", d."c2", d."c3", d."c4", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1", u."c2", u."c3", u."c4")) AS __pgt_img FROM (SELECT l."c0", l."c1", r."c0" AS "c2", r."c1" AS "c3", r."c2" AS "c4", l.__pgt_w AS __pgt_w FROM __pgt_scan_delta_0 AS l JOIN (SELECT s."c0" AS "c0", s."c1" AS "c1", s."c2" AS "c2" FROM (SELECT s.* FROM (SELECT s."c0", s."c1", s."c2", s."c3", pg_catalog.row_number() OVER (PARTITION BY s."c2" ORDER BY s."c3" USING OPERATOR(pg_catalog.>) NULLS FIRST, pg_catalog.record_send(ROW(s."c0", s."c1", s."c2", s."c3")) USING OPERATOR(pg_catalog.<)) AS "c4" FROM (SELECT s."c0" AS "c0", s."c2" AS "c1", s."c1" AS "c2", s."c2" AS "c3" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t WHERE t."customer_id" OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT DISTINCT __pgt_k.* FROM (SELECT k."c0" FROM __pgt_scan_delta_0 AS k) AS __pgt_k))) AS s) AS s) AS s WHERE s."c4" OPERATOR(pg_catalog.>) 0::pg_catalog.int8 AND s."c4" OPERATOR(pg_catalog.<=) 1::pg_catalog.int8) AS s) AS r ON (l."c0" OPERATOR(pg_catalog.=) r."c2")
    UNION ALL SELECT l."c0", l."c1", r."c0" AS "c2", r."c1" AS "c3", r."c2" AS "c4", r.__pgt_w AS __pgt_w FROM (SELECT t."id" AS "c0", t."region" AS "c1" FROM "public"."customers" AS t WHERE t."id" OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT DISTINCT __pgt_k.* FROM (SELECT k."c2" FROM __pgt_project_delta_7 AS k) AS __pgt_k))) AS l JOIN __pgt_project_delta_7 AS r ON (l."c0" OPERATOR(pg_catalog.=) r."c2")
    UNION ALL SELECT l."c0", l."c1", r."c0" AS "c2", r."c1" AS "c3", r."c2" AS "c4", OPERATOR(pg_catalog.-) (l.__pgt_w OPERATOR(pg_catalog.*) r.__pgt_w) AS __pgt_w FROM __pgt_scan_delta_0 AS l JOIN __pgt_project_delta_7 AS r ON (l."c0" OPERATOR(pg_catalog.=) r."c2")) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x."c1", x."c2", x."c3", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_project_delta_9 AS (SELECT d."c0" AS "c0", d."c2" AS "c1", d."c3" AS "c2", d.__pgt_w FROM __pgt_join_delta_8 AS d),
  __pgt_d AS (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(d."c0", d."c1", d."c2"))) AS k, d.* FROM __pgt_project_delta_9 AS d),
  __pgt_net AS (SELECT x.* FROM (SELECT d.*, (pg_catalog.sum(d.__pgt_w) OVER __pgt_r)::bigint AS nw, pg_catalog.row_number() OVER __pgt_r AS nn FROM __pgt_d AS d WINDOW __pgt_r AS (PARTITION BY d.k)) AS x WHERE x.nn OPERATOR(pg_catalog.=) 1 AND x.nw OPERATOR(pg_catalog.<>) 0),
  __pgt_cur AS (SELECT n.*, (SELECT pg_catalog.count(*) FROM "public"."st" AS t WHERE t.__pgt_key OPERATOR(pg_catalog.=) n.k) AS cur FROM __pgt_net AS n),
  __pgt_src AS (SELECT 'I'::pg_catalog.text AS op, pgtrickle.pg_trickle_hash_combine(c.k, o) AS rid, c.k, c."c0", c."c1", c."c2" FROM __pgt_cur AS c CROSS JOIN LATERAL pg_catalog.generate_series(c.cur OPERATOR(pg_catalog.+) 1, c.cur OPERATOR(pg_catalog.+) c.nw) AS o WHERE c.nw OPERATOR(pg_catalog.>) 0
    UNION ALL SELECT 'D'::pg_catalog.text, pgtrickle.pg_trickle_hash_combine(c.k, o), c.k, NULL, NULL, NULL FROM __pgt_cur AS c CROSS JOIN LATERAL pg_catalog.generate_series(c.cur OPERATOR(pg_catalog.+) c.nw OPERATOR(pg_catalog.+) 1, c.cur) AS o WHERE c.nw OPERATOR(pg_catalog.<) 0 AND pgtrickle._pgt_check(c.cur OPERATOR(pg_catalog.+) c.nw OPERATOR(pg_catalog.>=) 0, 'stream table storage is inconsistent with its change history (more copies of a row deleted than stored)')),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING __pgt_src AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN MATCHED AND s.op OPERATOR(pg_catalog.=) 'D' THEN DELETE WHEN MATCHED AND s.op OPERATOR(pg_catalog.=) 'I' AND pgtrickle._pgt_check(false, 'stream table storage is inconsistent with its change history (a row copy to insert already exists)') THEN DO NOTHING WHEN NOT MATCHED AND s.op OPERATOR(pg_catalog.=) 'I' THEN INSERT (__pgt_row_id,
  __pgt_key, "id", "order_id", "amount") VALUES (s.rid, s.k, s."c0", s."c1", s."c2") RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m

-- full
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_new AS (SELECT pgtrickle.pg_trickle_hash_combine(x.k, pg_catalog.row_number() OVER (PARTITION BY x.k)) AS rid, x.* FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(q."c0", q."c1", q."c2"))) AS k, q.* FROM (SELECT s."c0" AS "c0", s."c2" AS "c1", s."c3" AS "c2" FROM (SELECT l."c0", l."c1", r."c0" AS "c2", r."c1" AS "c3", r."c2" AS "c4" FROM (SELECT t."id" AS "c0", t."region" AS "c1" FROM "public"."customers" AS t) AS l JOIN (SELECT s."c0" AS "c0", s."c1" AS "c1", s."c2" AS "c2" FROM (SELECT s.* FROM (SELECT s."c0", s."c1", s."c2", s."c3", pg_catalog.row_number() OVER (PARTITION BY s."c2" ORDER BY s."c3" USING OPERATOR(pg_catalog.>) NULLS FIRST, pg_catalog.record_send(ROW(s."c0", s."c1", s."c2", s."c3")) USING OPERATOR(pg_catalog.<)) AS "c4" FROM (SELECT s."c0" AS "c0", s."c2" AS "c1", s."c1" AS "c2", s."c2" AS "c3" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t) AS s) AS s) AS s WHERE s."c4" OPERATOR(pg_catalog.>) 0::pg_catalog.int8 AND s."c4" OPERATOR(pg_catalog.<=) 1::pg_catalog.int8) AS s) AS r ON (l."c0" OPERATOR(pg_catalog.=) r."c2")) AS s) AS q) AS x),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING __pgt_new AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id,
  __pgt_key, "id", "order_id", "amount") VALUES (s.rid, s.k, s."c0", s."c1", s."c2") WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m
