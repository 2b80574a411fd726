-- tree
Project(
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
                        tracks_scale: true,
                    },
                    AggCall {
                        kind: Avg,
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
                                    "pg_catalog.avg(",
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
                        tracks_scale: true,
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
                name: "total",
                type_sql: "numeric",
                exact_equality: true,
                binary_identity: true,
                canonical: None,
            },
            Column {
                name: "mean",
                type_sql: "numeric",
                exact_equality: true,
                binary_identity: true,
                canonical: None,
            },
        ],
    },
)

-- hidden columns: [("__pgt_count", "bigint"), ("__pgt_a1", "numeric"), ("__pgt_a1_n", "bigint"), ("__pgt_a1_sch", "numeric")]
-- extra DDL: ["ALTER TABLE \"public\".\"st\" SET (fillfactor = 50)"]

-- differential
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_scan_delta_0 AS (SELECT d."c0", d."c1", d."c2", CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END AS __pgt_w FROM (SELECT x.*, pg_catalog.sum(x.__pgt_w) OVER __pgt_win AS __pgt_net, pg_catalog.row_number() OVER __pgt_win AS __pgt_rn FROM (SELECT u.*, pg_catalog.record_send(ROW(u."c0", u."c1", u."c2")) AS __pgt_img FROM (SELECT b."id" AS "c0", b."customer_id" AS "c1", b."amount" AS "c2", CASE WHEN b.__pgt_op OPERATOR(pg_catalog.=) 'I' THEN 1 ELSE -1 END AS __pgt_w FROM pgtrickle_changes."changes_16384" AS b WHERE b.__pgt_op OPERATOR(pg_catalog.=) ANY (ARRAY['I', 'D']::pg_catalog."char"[]) AND NOT pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, '<frontier of 16384>'::pg_catalog.pg_snapshot)) AS u) AS x WINDOW __pgt_win AS (PARTITION BY x."c0", x."c1", x."c2", x.__pgt_img) OFFSET 0) AS d WHERE CASE WHEN d.__pgt_rn OPERATOR(pg_catalog.=) 1 THEN d.__pgt_net ELSE 0 END OPERATOR(pg_catalog.<>) 0 OFFSET 0),
  __pgt_agg_delta_1 AS (SELECT d."c1" AS "g0", pg_catalog.sum(d.__pgt_w)::bigint AS dcount, coalesce(pg_catalog.bool_or(d.__pgt_w OPERATOR(pg_catalog.<) 0), false) AS has_del, coalesce(pg_catalog.sum(CASE d.__pgt_w WHEN 1 THEN (d."c2")::numeric WHEN -1 THEN OPERATOR(pg_catalog.-) (d."c2")::numeric ELSE (d.__pgt_w)::numeric OPERATOR(pg_catalog.*) (d."c2")::numeric END), 0)::numeric AS d1, pg_catalog.sum(CASE WHEN (d."c2") IS NOT NULL THEN d.__pgt_w ELSE 0 END)::bigint AS d1_n, coalesce(pg_catalog.bool_or(d.__pgt_w OPERATOR(pg_catalog.<) 0 AND ((d."c2")::numeric OPERATOR(pg_catalog.=) ANY (ARRAY['NaN', 'Infinity', '-Infinity']::numeric[]) OR pg_catalog.scale((d."c2")::numeric) OPERATOR(pg_catalog.>) 1000)), false) AS d1_sdel, coalesce(pg_catalog.sum(CASE d.__pgt_w WHEN 1 THEN coalesce(('{1e-12,1e-24,1e-36,1e-48,1e-60,1e-72,1e-84,1e-96,1e-108,1e-120,1e-132,1e-144,1e-156,1e-168,1e-180,1e-192}'::numeric[])[pg_catalog.scale((d."c2")::numeric) OPERATOR(pg_catalog.+) 1], ('1e-' OPERATOR(pg_catalog.||) (12 OPERATOR(pg_catalog.*) (pg_catalog.int4smaller(pg_catalog.scale((d."c2")::numeric), 1001) OPERATOR(pg_catalog.+) 1))::pg_catalog.text)::numeric) WHEN -1 THEN OPERATOR(pg_catalog.-) coalesce(('{1e-12,1e-24,1e-36,1e-48,1e-60,1e-72,1e-84,1e-96,1e-108,1e-120,1e-132,1e-144,1e-156,1e-168,1e-180,1e-192}'::numeric[])[pg_catalog.scale((d."c2")::numeric) OPERATOR(pg_catalog.+) 1], ('1e-' OPERATOR(pg_catalog.||) (12 OPERATOR(pg_catalog.*) (pg_catalog.int4smaller(pg_catalog.scale((d."c2")::numeric), 1001) OPERATOR(pg_catalog.+) 1))::pg_catalog.text)::numeric) ELSE (d.__pgt_w)::numeric OPERATOR(pg_catalog.*) coalesce(('{1e-12,1e-24,1e-36,1e-48,1e-60,1e-72,1e-84,1e-96,1e-108,1e-120,1e-132,1e-144,1e-156,1e-168,1e-180,1e-192}'::numeric[])[pg_catalog.scale((d."c2")::numeric) OPERATOR(pg_catalog.+) 1], ('1e-' OPERATOR(pg_catalog.||) (12 OPERATOR(pg_catalog.*) (pg_catalog.int4smaller(pg_catalog.scale((d."c2")::numeric), 1001) OPERATOR(pg_catalog.+) 1))::pg_catalog.text)::numeric) END), 0)::numeric AS d1_sch FROM __pgt_scan_delta_0 AS d GROUP BY d."c1"),
  __pgt_agg_rescan_keys_2 AS (SELECT x.* FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(dg."g0"))) AS rid, dg.* FROM __pgt_agg_delta_1 AS dg) AS x WHERE x.d1_sdel),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING (SELECT x.rid, false AS __pgt_abs, x."g0", x.dcount AS "__pgt_count", x.d1 AS "__pgt_a1", x.d1_n AS "__pgt_a1_n", x.d1_sch AS "__pgt_a1_sch" FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(dg."g0"))) AS rid, dg.* FROM __pgt_agg_delta_1 AS dg) AS x WHERE NOT (x.d1_sdel)
    UNION ALL SELECT r.rid, true, r."g0", r."__pgt_count", r."__pgt_a1", r."__pgt_a1_n", r."__pgt_a1_sch" FROM (SELECT z.rid, z."g0", z."__pgt_count", z."__pgt_a1", z."__pgt_a1_n", z."__pgt_a1_sch" FROM (SELECT u.*, pg_catalog.bool_or(u.__pgt_k) OVER __pgt_g AS __pgt_in, pg_catalog.row_number() OVER (PARTITION BY u.rid ORDER BY u.__pgt_k) AS __pgt_n FROM (SELECT r.rid, r."g0", r."__pgt_count", r."__pgt_a1", r."__pgt_a1_n", r."__pgt_a1_sch", false AS __pgt_k FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(y."g0"))) AS rid, y.* FROM (SELECT s."c1" AS "g0", pg_catalog.count(*)::bigint AS "__pgt_count", coalesce(pg_catalog.sum((s."c2")::numeric), 0)::numeric AS "__pgt_a1", pg_catalog.count(s."c2")::bigint AS "__pgt_a1_n", coalesce(pg_catalog.sum(coalesce(('{1e-12,1e-24,1e-36,1e-48,1e-60,1e-72,1e-84,1e-96,1e-108,1e-120,1e-132,1e-144,1e-156,1e-168,1e-180,1e-192}'::numeric[])[pg_catalog.scale((s."c2")::numeric) OPERATOR(pg_catalog.+) 1], ('1e-' OPERATOR(pg_catalog.||) (12 OPERATOR(pg_catalog.*) (pg_catalog.int4smaller(pg_catalog.scale((s."c2")::numeric), 1001) OPERATOR(pg_catalog.+) 1))::pg_catalog.text)::numeric)), 0)::numeric AS "__pgt_a1_sch" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t) AS s WHERE NOT (SELECT (SELECT pg_catalog.count(*) FROM __pgt_agg_rescan_keys_2)::pg_catalog.float8 OPERATOR(pg_catalog.>) GREATEST(0.1::pg_catalog.float8 OPERATOR(pg_catalog.*) (SELECT c.reltuples FROM pg_catalog.pg_class AS c WHERE c.oid OPERATOR(pg_catalog.=) '"public"."st"'::pg_catalog.regclass)::pg_catalog.float8, 1000::pg_catalog.float8)) AND EXISTS (SELECT 1 FROM __pgt_agg_rescan_keys_2) AND (s."c1" OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT k."g0" FROM __pgt_agg_rescan_keys_2 AS k WHERE k."g0" IS NOT NULL)) OR (s."c1" IS NULL AND EXISTS (SELECT 1 FROM __pgt_agg_rescan_keys_2 AS k WHERE k."g0" IS NULL))) AND pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(s."c1"))) OPERATOR(pg_catalog.=) ANY (SELECT k.rid FROM __pgt_agg_rescan_keys_2 AS k) GROUP BY s."c1") AS y
    UNION ALL SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(y."g0"))) AS rid, y.* FROM (SELECT s."c1" AS "g0", pg_catalog.count(*)::bigint AS "__pgt_count", coalesce(pg_catalog.sum((s."c2")::numeric), 0)::numeric AS "__pgt_a1", pg_catalog.count(s."c2")::bigint AS "__pgt_a1_n", coalesce(pg_catalog.sum(coalesce(('{1e-12,1e-24,1e-36,1e-48,1e-60,1e-72,1e-84,1e-96,1e-108,1e-120,1e-132,1e-144,1e-156,1e-168,1e-180,1e-192}'::numeric[])[pg_catalog.scale((s."c2")::numeric) OPERATOR(pg_catalog.+) 1], ('1e-' OPERATOR(pg_catalog.||) (12 OPERATOR(pg_catalog.*) (pg_catalog.int4smaller(pg_catalog.scale((s."c2")::numeric), 1001) OPERATOR(pg_catalog.+) 1))::pg_catalog.text)::numeric)), 0)::numeric AS "__pgt_a1_sch" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t) AS s WHERE (SELECT (SELECT pg_catalog.count(*) FROM __pgt_agg_rescan_keys_2)::pg_catalog.float8 OPERATOR(pg_catalog.>) GREATEST(0.1::pg_catalog.float8 OPERATOR(pg_catalog.*) (SELECT c.reltuples FROM pg_catalog.pg_class AS c WHERE c.oid OPERATOR(pg_catalog.=) '"public"."st"'::pg_catalog.regclass)::pg_catalog.float8, 1000::pg_catalog.float8)) GROUP BY s."c1") AS y) AS r
    UNION ALL SELECT k.rid, k."g0", 0::bigint AS "__pgt_count", NULL::numeric AS "__pgt_a1", NULL::bigint AS "__pgt_a1_n", NULL::numeric AS "__pgt_a1_sch", true FROM __pgt_agg_rescan_keys_2 AS k) AS u WINDOW __pgt_g AS (PARTITION BY u.rid)) AS z WHERE z.__pgt_in AND z.__pgt_n OPERATOR(pg_catalog.=) 1) AS r) AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN MATCHED AND s.__pgt_abs AND s.__pgt_count OPERATOR(pg_catalog.<=) 0 THEN DELETE WHEN MATCHED AND s.__pgt_abs THEN UPDATE SET "customer_id" = s."g0", "n" = s."__pgt_count", "total" = (CASE WHEN s."__pgt_a1_n" OPERATOR(pg_catalog.=) 0 THEN NULL ELSE ((CASE WHEN GREATEST(((pg_catalog.min_scale(s."__pgt_a1_sch") OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0) OPERATOR(pg_catalog.>) 1000 THEN s."__pgt_a1" ELSE pg_catalog.round(s."__pgt_a1", GREATEST(((pg_catalog.min_scale(s."__pgt_a1_sch") OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0)) END))::numeric END), "mean" = (CASE WHEN s."__pgt_a1_n" OPERATOR(pg_catalog.=) 0 THEN NULL ELSE ((CASE WHEN GREATEST(((pg_catalog.min_scale(s."__pgt_a1_sch") OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0) OPERATOR(pg_catalog.>) 1000 THEN s."__pgt_a1" ELSE pg_catalog.round(s."__pgt_a1", GREATEST(((pg_catalog.min_scale(s."__pgt_a1_sch") OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0)) END) OPERATOR(pg_catalog./) (s."__pgt_a1_n")::numeric)::numeric END), "__pgt_count" = s."__pgt_count", "__pgt_a1" = s."__pgt_a1", "__pgt_a1_n" = s."__pgt_a1_n", "__pgt_a1_sch" = s."__pgt_a1_sch" WHEN MATCHED AND (t.__pgt_count OPERATOR(pg_catalog.+) s.__pgt_count) OPERATOR(pg_catalog.<=) 0 AND pgtrickle._pgt_check((t.__pgt_count OPERATOR(pg_catalog.+) s.__pgt_count) OPERATOR(pg_catalog.>=) 0, 'stream table storage is inconsistent with its change history (a group''s row count went negative)') THEN DELETE WHEN MATCHED THEN UPDATE SET "customer_id" = s."g0", "n" = (coalesce(t."__pgt_count", 0) OPERATOR(pg_catalog.+) s."__pgt_count"), "total" = (CASE WHEN (coalesce(t."__pgt_a1_n", 0) OPERATOR(pg_catalog.+) s."__pgt_a1_n") OPERATOR(pg_catalog.=) 0 THEN NULL ELSE ((CASE WHEN GREATEST(((pg_catalog.min_scale((coalesce(t."__pgt_a1_sch", 0) OPERATOR(pg_catalog.+) s."__pgt_a1_sch")) OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0) OPERATOR(pg_catalog.>) 1000 THEN (coalesce(t."__pgt_a1", 0) OPERATOR(pg_catalog.+) s."__pgt_a1") ELSE pg_catalog.round((coalesce(t."__pgt_a1", 0) OPERATOR(pg_catalog.+) s."__pgt_a1"), GREATEST(((pg_catalog.min_scale((coalesce(t."__pgt_a1_sch", 0) OPERATOR(pg_catalog.+) s."__pgt_a1_sch")) OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0)) END))::numeric END), "mean" = (CASE WHEN (coalesce(t."__pgt_a1_n", 0) OPERATOR(pg_catalog.+) s."__pgt_a1_n") OPERATOR(pg_catalog.=) 0 THEN NULL ELSE ((CASE WHEN GREATEST(((pg_catalog.min_scale((coalesce(t."__pgt_a1_sch", 0) OPERATOR(pg_catalog.+) s."__pgt_a1_sch")) OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0) OPERATOR(pg_catalog.>) 1000 THEN (coalesce(t."__pgt_a1", 0) OPERATOR(pg_catalog.+) s."__pgt_a1") ELSE pg_catalog.round((coalesce(t."__pgt_a1", 0) OPERATOR(pg_catalog.+) s."__pgt_a1"), GREATEST(((pg_catalog.min_scale((coalesce(t."__pgt_a1_sch", 0) OPERATOR(pg_catalog.+) s."__pgt_a1_sch")) OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0)) END) OPERATOR(pg_catalog./) ((coalesce(t."__pgt_a1_n", 0) OPERATOR(pg_catalog.+) s."__pgt_a1_n"))::numeric)::numeric END), "__pgt_count" = (coalesce(t."__pgt_count", 0) OPERATOR(pg_catalog.+) s."__pgt_count"), "__pgt_a1" = (coalesce(t."__pgt_a1", 0) OPERATOR(pg_catalog.+) s."__pgt_a1"), "__pgt_a1_n" = (coalesce(t."__pgt_a1_n", 0) OPERATOR(pg_catalog.+) s."__pgt_a1_n"), "__pgt_a1_sch" = (coalesce(t."__pgt_a1_sch", 0) OPERATOR(pg_catalog.+) s."__pgt_a1_sch") WHEN NOT MATCHED AND pgtrickle._pgt_check(s.__pgt_count OPERATOR(pg_catalog.>=) 0, 'stream table storage is inconsistent with its change history (a group''s row count went negative)') AND s.__pgt_count OPERATOR(pg_catalog.>) 0 THEN INSERT (__pgt_row_id, "customer_id", "n", "total", "mean", "__pgt_count", "__pgt_a1", "__pgt_a1_n", "__pgt_a1_sch") VALUES (s.rid, s."g0", s."__pgt_count", (CASE WHEN s."__pgt_a1_n" OPERATOR(pg_catalog.=) 0 THEN NULL ELSE ((CASE WHEN GREATEST(((pg_catalog.min_scale(s."__pgt_a1_sch") OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0) OPERATOR(pg_catalog.>) 1000 THEN s."__pgt_a1" ELSE pg_catalog.round(s."__pgt_a1", GREATEST(((pg_catalog.min_scale(s."__pgt_a1_sch") OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0)) END))::numeric END), (CASE WHEN s."__pgt_a1_n" OPERATOR(pg_catalog.=) 0 THEN NULL ELSE ((CASE WHEN GREATEST(((pg_catalog.min_scale(s."__pgt_a1_sch") OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0) OPERATOR(pg_catalog.>) 1000 THEN s."__pgt_a1" ELSE pg_catalog.round(s."__pgt_a1", GREATEST(((pg_catalog.min_scale(s."__pgt_a1_sch") OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0)) END) OPERATOR(pg_catalog./) (s."__pgt_a1_n")::numeric)::numeric END), s."__pgt_count", s."__pgt_a1", s."__pgt_a1_n", s."__pgt_a1_sch") RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m

-- full
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_src AS (SELECT n.rid, CASE WHEN n.__pgt_count OPERATOR(pg_catalog.<=) 0 THEN 'D' ELSE 'U' END AS op, n."g0" AS "c0", n."__pgt_count" AS "c1", (CASE WHEN n."__pgt_a1_n" OPERATOR(pg_catalog.=) 0 THEN NULL ELSE ((CASE WHEN GREATEST(((pg_catalog.min_scale(n."__pgt_a1_sch") OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0) OPERATOR(pg_catalog.>) 1000 THEN n."__pgt_a1" ELSE pg_catalog.round(n."__pgt_a1", GREATEST(((pg_catalog.min_scale(n."__pgt_a1_sch") OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0)) END))::numeric END) AS "c2", (CASE WHEN n."__pgt_a1_n" OPERATOR(pg_catalog.=) 0 THEN NULL ELSE ((CASE WHEN GREATEST(((pg_catalog.min_scale(n."__pgt_a1_sch") OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0) OPERATOR(pg_catalog.>) 1000 THEN n."__pgt_a1" ELSE pg_catalog.round(n."__pgt_a1", GREATEST(((pg_catalog.min_scale(n."__pgt_a1_sch") OPERATOR(pg_catalog.+) 11) OPERATOR(pg_catalog./) 12) OPERATOR(pg_catalog.-) 1, 0)) END) OPERATOR(pg_catalog./) (n."__pgt_a1_n")::numeric)::numeric END) AS "c3", n."__pgt_count", n."__pgt_a1", n."__pgt_a1_n", n."__pgt_a1_sch" FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(x."g0"))) AS rid, x.* FROM (SELECT s."c1" AS "g0", pg_catalog.count(*)::bigint AS "__pgt_count", coalesce(pg_catalog.sum((s."c2")::numeric), 0)::numeric AS "__pgt_a1", pg_catalog.count(s."c2")::bigint AS "__pgt_a1_n", coalesce(pg_catalog.sum(coalesce(('{1e-12,1e-24,1e-36,1e-48,1e-60,1e-72,1e-84,1e-96,1e-108,1e-120,1e-132,1e-144,1e-156,1e-168,1e-180,1e-192}'::numeric[])[pg_catalog.scale((s."c2")::numeric) OPERATOR(pg_catalog.+) 1], ('1e-' OPERATOR(pg_catalog.||) (12 OPERATOR(pg_catalog.*) (pg_catalog.int4smaller(pg_catalog.scale((s."c2")::numeric), 1001) OPERATOR(pg_catalog.+) 1))::pg_catalog.text)::numeric)), 0)::numeric AS "__pgt_a1_sch" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t) AS s GROUP BY s."c1") AS x) AS n WHERE pgtrickle._pgt_check(n.__pgt_count OPERATOR(pg_catalog.>=) 0, 'stream table storage is inconsistent with its change history (a group''s row count went negative)')),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING (SELECT * FROM __pgt_src WHERE op OPERATOR(pg_catalog.<>) 'D') AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN MATCHED AND pg_catalog.record_send(ROW(t."customer_id", t."n", t."total", t."mean", t."__pgt_count", t."__pgt_a1", t."__pgt_a1_n", t."__pgt_a1_sch")) OPERATOR(pg_catalog.<>) pg_catalog.record_send(ROW(s."c0", s."c1", s."c2", s."c3", s."__pgt_count", s."__pgt_a1", s."__pgt_a1_n", s."__pgt_a1_sch")) THEN UPDATE SET "customer_id" = s."c0", "n" = s."c1", "total" = s."c2", "mean" = s."c3", "__pgt_count" = s."__pgt_count", "__pgt_a1" = s."__pgt_a1", "__pgt_a1_n" = s."__pgt_a1_n", "__pgt_a1_sch" = s."__pgt_a1_sch" WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id, "customer_id", "n", "total", "mean", "__pgt_count", "__pgt_a1", "__pgt_a1_n", "__pgt_a1_sch") VALUES (s.rid, s."c0", s."c1", s."c2", s."c3", s."__pgt_count", s."__pgt_a1", s."__pgt_a1_n", s."__pgt_a1_sch") WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m
