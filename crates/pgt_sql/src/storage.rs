//! The storage table of a stream table: one column per output column of the defining
//! query, with its full type declaration and collation, plus the `__pgt_row_id` primary
//! key; and the statement-level guard triggers that refuse direct DML and TRUNCATE.

use pgt_core::{OutputColumn, ROW_ID_COLUMN};

use crate::quote::{quote_ident, QualifiedName};

/// Name of the guard trigger for INSERT/UPDATE/DELETE.
pub const GUARD_DML_TRIGGER: &str = "__pgt_guard_dml";
/// Name of the guard trigger for TRUNCATE.
pub const GUARD_TRUNCATE_TRIGGER: &str = "__pgt_guard_truncate";
/// The trigger function (provided by the extension) the guards call.
pub const GUARD_FUNCTION: &str = "pgtrickle._guard_stream_table";

/// `CREATE TABLE <table> ("__pgt_row_id" bigint PRIMARY KEY, <columns>, <hidden columns>)`.
/// `hidden` are `(name, type)` pairs of pg_trickle's helper columns (names start with `__pgt_`).
pub fn create_storage_table(
    table: &QualifiedName,
    columns: &[OutputColumn],
    hidden: &[(String, String)],
) -> String {
    let mut sql = format!(
        "CREATE TABLE {table} ({} bigint PRIMARY KEY",
        quote_ident(ROW_ID_COLUMN)
    );
    for c in columns {
        sql.push_str(", ");
        sql.push_str(&quote_ident(&c.name));
        sql.push(' ');
        sql.push_str(&c.type_sql);
        if let Some(coll) = &c.collation_sql {
            sql.push_str(" COLLATE ");
            sql.push_str(coll);
        }
    }
    for (name, ty) in hidden {
        sql.push_str(&format!(", {} {ty}", quote_ident(name)));
    }
    sql.push(')');
    sql
}

/// The two statement-level triggers that make the storage table read-only for users,
/// enabled `ALWAYS` so that `session_replication_role = replica` does not switch them off.
pub fn create_guard_triggers(table: &QualifiedName) -> Vec<String> {
    vec![
        format!(
            "CREATE TRIGGER {} BEFORE INSERT OR UPDATE OR DELETE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {GUARD_FUNCTION}()",
            quote_ident(GUARD_DML_TRIGGER)
        ),
        format!(
            "CREATE TRIGGER {} BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {GUARD_FUNCTION}()",
            quote_ident(GUARD_TRUNCATE_TRIGGER)
        ),
        format!(
            "ALTER TABLE {table} ENABLE ALWAYS TRIGGER {}",
            quote_ident(GUARD_DML_TRIGGER)
        ),
        format!(
            "ALTER TABLE {table} ENABLE ALWAYS TRIGGER {}",
            quote_ident(GUARD_TRUNCATE_TRIGGER)
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl() {
        let cols = vec![
            OutputColumn {
                name: "id".into(),
                type_sql: "integer".into(),
                collation_sql: None,
                is_pseudo_type: false,
            },
            OutputColumn {
                name: "Name \"x\"".into(),
                type_sql: "character varying(20)".into(),
                collation_sql: Some("\"C\"".into()),
                is_pseudo_type: false,
            },
        ];
        assert_eq!(
            create_storage_table(&QualifiedName::new("s", "st"), &cols, &[]),
            r#"CREATE TABLE "s"."st" ("__pgt_row_id" bigint PRIMARY KEY, "id" integer, "Name ""x""" character varying(20) COLLATE "C")"#
        );
        assert_eq!(
            create_storage_table(
                &QualifiedName::unqualified("st"),
                &cols[..1],
                &[("__pgt_count".into(), "bigint".into())]
            ),
            r#"CREATE TABLE "st" ("__pgt_row_id" bigint PRIMARY KEY, "id" integer, "__pgt_count" bigint)"#
        );
        let g = create_guard_triggers(&QualifiedName::new("s", "st"));
        assert!(g[0].contains(r#"BEFORE INSERT OR UPDATE OR DELETE ON "s"."st""#));
        assert!(g[1].contains(r#"BEFORE TRUNCATE ON "s"."st""#));
        assert_eq!(
            g[2],
            r#"ALTER TABLE "s"."st" ENABLE ALWAYS TRIGGER "__pgt_guard_dml""#
        );
    }
}
