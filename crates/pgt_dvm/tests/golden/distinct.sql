-- tree
Distinct(
    Distinct {
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
                ],
            },
        ),
    },
)

-- hidden columns: [("__pgt_count", "bigint")]
-- extra DDL: []

-- differential
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_buffered_delta_0 AS (SELECT b."id" AS "c0", b."customer_id" AS "c1", b."amount" AS "c2", CASE WHEN b.__pgt_op OPERATOR(pg_catalog.=) 'I' THEN 1 ELSE -1 END AS __pgt_w FROM pgtrickle_changes."changes_16384" AS b WHERE b.__pgt_op OPERATOR(pg_catalog.=) ANY (ARRAY['I', 'D']::pg_catalog."char"[]) AND NOT pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, '<frontier of 16384>'::pg_catalog.pg_snapshot)),
  __pgt_project_delta_1 AS (SELECT d."c1" AS "c0", d.__pgt_w FROM __pgt_buffered_delta_0 AS d),
  __pgt_d AS (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(d."c0"))) AS rid, d.* FROM __pgt_project_delta_1 AS d),
  __pgt_net AS (SELECT x.* FROM (SELECT d.*, (pg_catalog.sum(d.__pgt_w) OVER __pgt_r)::bigint AS nw, pg_catalog.row_number() OVER __pgt_r AS nn FROM __pgt_d AS d WINDOW __pgt_r AS (PARTITION BY d.rid)) AS x WHERE x.nn OPERATOR(pg_catalog.=) 1 AND x.nw OPERATOR(pg_catalog.<>) 0),
  __pgt_src AS (SELECT y.* FROM (SELECT n.rid, n."c0", coalesce((SELECT t.__pgt_count FROM "public"."st" AS t WHERE t.__pgt_row_id OPERATOR(pg_catalog.=) n.rid), 0) OPERATOR(pg_catalog.+) n.nw AS cnt FROM __pgt_net AS n) AS y WHERE pgtrickle._pgt_check(y.cnt OPERATOR(pg_catalog.>=) 0, 'stream table storage is inconsistent with its change history (a distinct row''s count went negative)')),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING __pgt_src AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN MATCHED AND s.cnt OPERATOR(pg_catalog.<=) 0 THEN DELETE WHEN MATCHED THEN UPDATE SET __pgt_count = s.cnt WHEN NOT MATCHED AND s.cnt OPERATOR(pg_catalog.>) 0 THEN INSERT (__pgt_row_id,
  __pgt_count, "customer_id") VALUES (s.rid, s.cnt, s."c0") RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m

-- full
WITH __pgt_snap AS MATERIALIZED (SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text AS s),
  __pgt_new AS (SELECT DISTINCT ON (x.rid) x.*, pg_catalog.count(*) OVER (PARTITION BY x.rid) AS cnt FROM (SELECT pgtrickle.pg_trickle_hash(pg_catalog.record_send(ROW(q."c0"))) AS rid, q.* FROM (SELECT s."c1" AS "c0" FROM (SELECT t."id" AS "c0", t."customer_id" AS "c1", t."amount" AS "c2" FROM "public"."orders" AS t) AS s) AS q) AS x),
  __pgt_m AS (MERGE INTO "public"."st" AS t USING __pgt_new AS s ON t.__pgt_row_id OPERATOR(pg_catalog.=) s.rid WHEN MATCHED AND t.__pgt_count OPERATOR(pg_catalog.<>) s.cnt THEN UPDATE SET __pgt_count = s.cnt WHEN NOT MATCHED BY TARGET THEN INSERT (__pgt_row_id,
  __pgt_count, "customer_id") VALUES (s.rid, s.cnt, s."c0") WHEN NOT MATCHED BY SOURCE THEN DELETE RETURNING merge_action() AS a) SELECT (SELECT s FROM __pgt_snap) AS snapshot, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_inserted, pg_catalog.count(*) FILTER (WHERE a OPERATOR(pg_catalog.=) ANY (ARRAY['DELETE', 'UPDATE']::pg_catalog.text[]))::bigint AS rows_deleted FROM __pgt_m
