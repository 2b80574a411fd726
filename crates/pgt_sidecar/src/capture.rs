//! Change capture without the extension (ADR-079): per source, the change buffer the
//! engine's delta rules read (`pgtrickle_sidecar.changes_<oid>`, where
//! `PlainSql::change_buffer` puts it, in the extension's layout:
//! `__pgt_change_id`, `__pgt_xid`, `__pgt_op` and typed copies of the columns) filled by
//! four statement-level triggers whose function is PL/pgSQL, one set-based INSERT per
//! statement from its transition tables (an UPDATE is a `D` of the old row and an `I` of
//! the new; TRUNCATE one `T` row, and so does a statement whose rows could not be copied
//! because the source's columns changed since: its readers recompute).
//!
//! The function is `SECURITY DEFINER` (owned by the sidecar's role, which owns the
//! buffers: writers to a source need no right on them) with a fixed `search_path`; it
//! runs no code of the writer's and reads only the transition tables. Buffers are logged
//! tables: the sidecar has no way to learn that a crash emptied unlogged ones (ADR-078).

use pgt_sql::{quote_ident, quote_literal, QualifiedName};

use crate::schema::SCHEMA;

const TRIGGERS: [(&str, &str); 4] = [
    ("__pgt_sidecar_ins", "INSERT"),
    ("__pgt_sidecar_upd", "UPDATE"),
    ("__pgt_sidecar_del", "DELETE"),
    ("__pgt_sidecar_trunc", "TRUNCATE"),
];

/// A source column copied into the buffer (`type_sql`: its type, domains replaced by
/// their base type, as the scan reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_sql: String,
}

/// The buffer of a source, as `PlainSql::change_buffer` names it for generated SQL.
pub fn buffer(source_oid: u32) -> QualifiedName {
    QualifiedName::new(SCHEMA, format!("changes_{source_oid}"))
}

fn function(source_oid: u32) -> QualifiedName {
    QualifiedName::new(SCHEMA, format!("capture_{source_oid}"))
}

/// DDL creating (or re-creating) the buffer of `source` and its capture triggers.
pub fn create(source_oid: u32, source: &QualifiedName, columns: &[Column]) -> Vec<String> {
    let buf = buffer(source_oid);
    let defs: String = columns
        .iter()
        .map(|c| format!(", {} {}", quote_ident(&c.name), c.type_sql))
        .collect();
    let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    let list = names.join(", ");
    let copy = |op: &str, from: &str| {
        if columns.is_empty() {
            format!("INSERT INTO {buf} (__pgt_op) SELECT '{op}' FROM {from};")
        } else {
            format!(
                "INSERT INTO {buf} (__pgt_op, {list}) SELECT '{op}', {} FROM {from} AS t;",
                names
                    .iter()
                    .map(|n| format!("t.{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    // DDL on the source after creation (a dropped, renamed or retyped column) makes the
    // copy fail: the writer's statement still succeeds, and a `T` row makes the readers'
    // next refresh recompute (which reports the error if their query no longer runs).
    let body = format!(
        "BEGIN
    BEGIN
        IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
            {ins}
        ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
            {old}
            {new}
        ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
            {del}
        ELSE
            INSERT INTO {buf} (__pgt_op) VALUES ('T');
        END IF;
    EXCEPTION WHEN undefined_column OR datatype_mismatch OR cannot_coerce THEN
        INSERT INTO {buf} (__pgt_op) VALUES ('T');
    END;
    RETURN NULL;
END",
        ins = copy("I", "__pgt_new"),
        old = copy("D", "__pgt_old"),
        new = copy("I", "__pgt_new"),
        del = copy("D", "__pgt_old"),
    );
    let func = function(source_oid);
    let mut out = vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {buf} (__pgt_change_id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1000), \
             __pgt_xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(), __pgt_op \"char\" NOT NULL{defs})"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {buf} (__pgt_xid)",
            quote_ident(&format!("changes_{source_oid}_xid_idx"))
        ),
        format!(
            "COMMENT ON TABLE {buf} IS {}",
            quote_literal(&format!("pg_trickle_sidecar change buffer for {source}"))
        ),
        format!(
            "CREATE OR REPLACE FUNCTION {func}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER \
             SET search_path = pg_catalog, pg_temp AS {}",
            dollar_quote(&body)
        ),
        format!("REVOKE ALL ON FUNCTION {func}() FROM PUBLIC"),
    ];
    for (name, event) in TRIGGERS {
        let referencing = match event {
            "INSERT" => "REFERENCING NEW TABLE AS __pgt_new ",
            "UPDATE" => "REFERENCING OLD TABLE AS __pgt_old NEW TABLE AS __pgt_new ",
            "DELETE" => "REFERENCING OLD TABLE AS __pgt_old ",
            _ => "",
        };
        out.push(format!(
            "DROP TRIGGER IF EXISTS {} ON {source}",
            quote_ident(name)
        ));
        out.push(format!(
            "CREATE TRIGGER {} AFTER {event} ON {source} {referencing}FOR EACH STATEMENT EXECUTE FUNCTION {func}()",
            quote_ident(name)
        ));
        // Writes in replica role (logical replication apply) are captured too.
        out.push(format!(
            "ALTER TABLE {source} ENABLE ALWAYS TRIGGER {}",
            quote_ident(name)
        ));
    }
    out
}

/// DDL removing the capture of a source no incrementally maintained stream table reads
/// (`source`: None when the source itself is gone).
pub fn drop(source_oid: u32, source: Option<&QualifiedName>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(source) = source {
        for (name, _) in TRIGGERS {
            out.push(format!(
                "DROP TRIGGER IF EXISTS {} ON {source}",
                quote_ident(name)
            ));
        }
    }
    out.push(format!(
        "DROP FUNCTION IF EXISTS {}()",
        function(source_oid)
    ));
    out.push(format!("DROP TABLE IF EXISTS {}", buffer(source_oid)));
    out
}

/// The refresh's condition on rows `b` of the buffer of `source_oid` for stream table
/// `pgt_id`: not consumed by its frontier (`pgt_cdc::Frontier`'s rule, read from the
/// catalog): the snapshot its last refresh read at, plus that refresh transaction's own
/// rows up to the change id it recorded (a batch refreshed in one transaction reads rows
/// an earlier refresh of the batch wrote). A transaction below the snapshot's `xmin` had
/// ended (the refresh's own counts too), so its rows are consumed; the bound lets the xid
/// index skip them.
pub fn unconsumed(pgt_id: i64, source_oid: u32) -> String {
    let dep = |col: &str| {
        format!(
            "(SELECT d.{col} FROM {SCHEMA}.dependencies AS d \
              WHERE d.pgt_id OPERATOR(pg_catalog.=) {pgt_id}::pg_catalog.int8 \
                AND d.source_relid OPERATOR(pg_catalog.=) {source_oid}::pg_catalog.oid)"
        )
    };
    let snap = dep("frontier_snapshot");
    let own = format!("coalesce({}, '0'::pg_catalog.xid8)", dep("frontier_xid"));
    let own_id = format!("coalesce({}, 0)", dep("frontier_change_id"));
    format!(
        "b.__pgt_xid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin({snap}) \
         AND NOT ((pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, {snap}) AND b.__pgt_xid OPERATOR(pg_catalog.<>) {own}) \
                  OR (b.__pgt_xid OPERATOR(pg_catalog.=) {own} AND b.__pgt_change_id OPERATOR(pg_catalog.<=) {own_id}))"
    )
}

/// True when a source of stream table `pgt_id` was truncated since its frontier: the
/// refresh recomputes (a TRUNCATE's rows are not in the buffer).
pub fn truncated(pgt_id: i64, sources: &[u32]) -> String {
    if sources.is_empty() {
        return "SELECT false".into();
    }
    let tests: Vec<String> = sources
        .iter()
        .map(|&oid| {
            format!(
                "EXISTS (SELECT 1 FROM {} AS b WHERE b.__pgt_op OPERATOR(pg_catalog.=) 'T' AND {})",
                buffer(oid),
                unconsumed(pgt_id, oid)
            )
        })
        .collect();
    format!("SELECT {}", tests.join(" OR "))
}

/// `$pgt_capture$…$pgt_capture$`, with a tag the body cannot contain.
fn dollar_quote(body: &str) -> String {
    let mut tag = "pgt_capture".to_string();
    while body.contains(&format!("${tag}$")) {
        tag.push('_');
    }
    format!("${tag}${body}${tag}$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_quotes_names_and_copies_each_statement() {
        let src = QualifiedName::new("we\"ird", "t a");
        let ddl = create(
            42,
            &src,
            &[
                Column {
                    name: "x\"y".into(),
                    type_sql: "integer".into(),
                },
                Column {
                    name: "n".into(),
                    type_sql: "pg_catalog.text".into(),
                },
            ],
        );
        let all = ddl.join(";\n");
        assert!(all.contains(&buffer(42).to_string()));
        assert!(buffer(42).to_string().contains("changes_42"));
        assert!(all.contains(r#""x""y" integer"#));
        assert!(all.contains(&format!(
            "SELECT 'D', t.{}, t.{} FROM __pgt_old AS t",
            quote_ident("x\"y"),
            quote_ident("n")
        )));
        assert!(all.contains(r#"ON "we""ird"."t a""#));
        assert!(all.contains("SECURITY DEFINER SET search_path = pg_catalog, pg_temp"));
        assert_eq!(all.matches("CREATE TRIGGER").count(), 4);
    }

    #[test]
    fn unconsumed_reads_the_frontier_of_one_source() {
        let p = unconsumed(7, 99);
        assert!(p.contains("d.pgt_id OPERATOR(pg_catalog.=) 7::pg_catalog.int8"));
        assert!(p.contains("d.source_relid OPERATOR(pg_catalog.=) 99::pg_catalog.oid"));
        assert!(p.starts_with("b.__pgt_xid"));
    }
}
