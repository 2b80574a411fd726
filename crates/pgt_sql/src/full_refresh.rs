//! The FULL refresh statement. It evaluates the defining query once, gives each result
//! row its identity (`pg_trickle_hash(row text, occurrence number)`), and applies the
//! difference to the storage table in one statement:
//!
//! ```text
//! new   = { (id(r), r) | r ∈ Q }            -- evaluated at the statement's snapshot
//! del   = storage ▷ new                     -- rows whose id is no longer produced
//! ins   = new ▷ storage                     -- rows whose id is not stored yet
//! ```
//!
//! Because the id is a function of the row's values and occurrence, equal ids mean equal
//! rows, so unchanged rows are left untouched (no churn, no bloat) and the counts returned
//! are the real number of rows deleted and inserted. The statement returns one row:
//! `(rows_deleted bigint, rows_inserted bigint)`.

use pgt_core::{OutputColumn, ROW_ID_COLUMN};

use crate::quote::{quote_ident, QualifiedName};
use crate::server_functions::ServerFunctions;

/// Builds the FULL refresh statement for `table` whose defining query (as deparsed by
/// PostgreSQL) is `query` with output `columns`.
pub fn full_refresh_statement(
    table: &QualifiedName,
    columns: &[OutputColumn],
    query: &str,
    server: &dyn ServerFunctions,
) -> String {
    let hash = server.hash_text(
        "__pgt_rt",
        "pg_catalog.row_number() OVER (PARTITION BY __pgt_rt)",
    );
    let rid = quote_ident(ROW_ID_COLUMN);
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    let col_list = cols.join(", ");
    let new_cols = cols
        .iter()
        .map(|c| format!("__pgt_n.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH __pgt_src AS (\
            SELECT __pgt_q.*, (ROW(__pgt_q.*))::pg_catalog.text AS __pgt_rt FROM ({query}) AS __pgt_q), \
         __pgt_new AS MATERIALIZED (\
            SELECT {hash} AS {rid}, {col_list} \
            FROM __pgt_src), \
         __pgt_del AS (\
            DELETE FROM {table} AS __pgt_t \
            WHERE NOT EXISTS (SELECT 1 FROM __pgt_new AS __pgt_n WHERE __pgt_n.{rid} OPERATOR(pg_catalog.=) __pgt_t.{rid}) \
            RETURNING 1), \
         __pgt_ins AS (\
            INSERT INTO {table} ({rid}, {col_list}) \
            SELECT __pgt_n.{rid}, {new_cols} FROM __pgt_new AS __pgt_n \
            WHERE NOT EXISTS (SELECT 1 FROM {table} AS __pgt_t WHERE __pgt_t.{rid} OPERATOR(pg_catalog.=) __pgt_n.{rid}) \
            RETURNING 1) \
         SELECT (SELECT pg_catalog.count(*) FROM __pgt_del)::bigint AS rows_deleted, \
                (SELECT pg_catalog.count(*) FROM __pgt_ins)::bigint AS rows_inserted"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let cols = vec![OutputColumn {
            name: "total\"".into(),
            type_sql: "bigint".into(),
            collation_sql: None,
            is_pseudo_type: false,
        }];
        let sql = full_refresh_statement(
            &QualifiedName::new("app", "sales"),
            &cols,
            "SELECT 1 AS x",
            &crate::server_functions::Extension,
        );
        assert!(sql.contains(r#"FROM (SELECT 1 AS x) AS __pgt_q"#));
        assert!(sql.contains(r#"DELETE FROM "app"."sales" AS __pgt_t"#));
        assert!(sql.contains(r#"INSERT INTO "app"."sales" ("__pgt_row_id", "total""")"#));
        assert!(sql.contains(r#"__pgt_n."total""""#));
        assert_eq!(crate::lint::unqualified(&sql), Vec::<String>::new());
    }
}
