//! What generated SQL needs from the server beyond PostgreSQL's own functions (ADR-077):
//! row identities (a 64-bit hash of a row's binary form, and of a key with an occurrence
//! number) and three checks that raise an error with a given SQLSTATE from inside a
//! statement. Every SQL generator asks a [`ServerFunctions`] for these expressions instead
//! of naming functions itself, so the same delta statements run
//! - inside the extension ([`Extension`]: `pgtrickle.pg_trickle_hash` and friends, C/Rust
//!   functions, XXH64 row identities), and
//! - on a server without it ([`PlainSql`]: SQL and PL/pgSQL functions that an engine
//!   outside the server installs in a schema of its own with [`PlainSql::install`];
//!   row identities from PostgreSQL's `hashtextextended`).
//!
//! A stream table's row identities only have to agree with each other, so the two may
//! hash differently; one stream table is never maintained by both.

use crate::{quote_ident, quote_literal};

/// The expressions generated SQL uses for hashing and in-statement checks. Each method
/// gets SQL expressions (already quoted by the caller) and returns one SQL expression.
pub trait ServerFunctions {
    /// The change buffer of source `source_oid` that generated SQL reads: the extension's
    /// `pgtrickle_changes."changes_<oid>"` unless the engine keeps its buffers elsewhere.
    fn change_buffer(&self, source_oid: u32) -> String {
        format!(
            "pgtrickle_changes.{}",
            quote_ident(&format!("changes_{source_oid}"))
        )
    }
    /// A `bigint` identity of `data`, a `bytea` expression (a row's `record_send`).
    fn hash_bytes(&self, data: &str) -> String;
    /// A `bigint` identity of `data`, a `text` expression, with the `bigint` `seed`.
    fn hash_text(&self, data: &str, seed: &str) -> String;
    /// The identity of the `occurrence`-th copy (`bigint`) of a row whose identity is `key`.
    fn hash_combine(&self, key: &str, occurrence: &str) -> String;
    /// `true` when `cond` holds; otherwise an ERROR with SQLSTATE XX001 (data corrupted),
    /// `message` (a `text` expression) and a hint to recompute the stream table.
    fn check(&self, cond: &str, message: &str) -> String;
    /// `true` unless `cond` is false; otherwise an ERROR with SQLSTATE 21000, as
    /// PostgreSQL raises for a scalar subquery with more than one row.
    fn single_row_check(&self, cond: &str) -> String;
    /// `true` when `cond` holds; otherwise an ERROR with SQLSTATE 40001 and the message
    /// `quiet_message` (a quiet source had a change after all: the refresh retries).
    fn quiet_check(&self, cond: &str) -> String;
}

/// The functions of the `pg_trickle` extension, in schema `pgtrickle`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extension;

impl ServerFunctions for Extension {
    fn hash_bytes(&self, data: &str) -> String {
        format!("pgtrickle.pg_trickle_hash({data})")
    }
    fn hash_text(&self, data: &str, seed: &str) -> String {
        format!("pgtrickle.pg_trickle_hash({data}, {seed})")
    }
    fn hash_combine(&self, key: &str, occurrence: &str) -> String {
        format!("pgtrickle.pg_trickle_hash_combine({key}, {occurrence})")
    }
    fn check(&self, cond: &str, message: &str) -> String {
        format!("pgtrickle._pgt_check({cond}, {message})")
    }
    fn single_row_check(&self, cond: &str) -> String {
        format!("pgtrickle._pgt_single_row_check({cond})")
    }
    fn quiet_check(&self, cond: &str) -> String {
        format!("pgtrickle._pgt_quiet_check({cond})")
    }
}

/// The hint of a failed consistency check outside the extension (whose `_pgt_check`
/// names its own function to switch modes).
pub const CHECK_HINT: &str =
    "Refresh the stream table in full (or drop and recreate it), and report this as a bug.";

/// The same functions in plain SQL and PL/pgSQL, installed in `schema` by
/// [`PlainSql::install`] on a server without the extension. The message of a failed quiet
/// check is `quiet_message`, which the engine recognizes to retry.
#[derive(Debug, Clone)]
pub struct PlainSql {
    pub schema: String,
    pub quiet_message: String,
}

impl PlainSql {
    fn f(&self, name: &str) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(name))
    }

    /// DDL creating the functions (idempotent: `CREATE OR REPLACE`). No name in them is
    /// resolved through a caller's `search_path`: the hashes have SQL-standard bodies,
    /// bound when created (every function in them named with its schema), and the checks'
    /// PL/pgSQL bodies call nothing. No `SET` clause either: the hashes run once per row,
    /// and a function with one can be neither inlined nor called without a GUC nest level.
    pub fn install(&self) -> Vec<String> {
        vec![
            format!(
                "CREATE OR REPLACE FUNCTION {}(data pg_catalog.bytea) RETURNS pg_catalog.int8 \
                 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE \
                 RETURN pg_catalog.hashtextextended(pg_catalog.encode(data, 'hex'), 0)",
                self.f("row_hash")
            ),
            format!(
                "CREATE OR REPLACE FUNCTION {}(data pg_catalog.text, seed pg_catalog.int8) RETURNS pg_catalog.int8 \
                 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE \
                 RETURN pg_catalog.hashtextextended(data, seed)",
                self.f("text_hash")
            ),
            format!(
                "CREATE OR REPLACE FUNCTION {}(key pg_catalog.int8, occurrence pg_catalog.int8) RETURNS pg_catalog.int8 \
                 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE \
                 RETURN pg_catalog.hashtextextended(occurrence::pg_catalog.text, key)",
                self.f("hash_combine")
            ),
            format!(
                "CREATE OR REPLACE FUNCTION {}(ok pg_catalog.bool, message pg_catalog.text) RETURNS pg_catalog.bool \
                 LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $pgt$ \
                 BEGIN \
                   IF ok IS NOT TRUE THEN \
                     RAISE EXCEPTION USING ERRCODE = 'XX001', MESSAGE = message, HINT = {}; \
                   END IF; \
                   RETURN true; \
                 END $pgt$",
                self.f("check"),
                quote_literal(CHECK_HINT)
            ),
            format!(
                "CREATE OR REPLACE FUNCTION {}(ok pg_catalog.bool) RETURNS pg_catalog.bool \
                 LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $pgt$ \
                 BEGIN \
                   IF ok IS FALSE THEN \
                     RAISE EXCEPTION USING ERRCODE = '21000', \
                       MESSAGE = 'more than one row returned by a subquery used as an expression', \
                       DETAIL = 'A correlated scalar subquery of the stream table''s defining query has several rows for one row of the outer query.'; \
                   END IF; \
                   RETURN true; \
                 END $pgt$",
                self.f("single_row_check")
            ),
            format!(
                "CREATE OR REPLACE FUNCTION {}(still_quiet pg_catalog.bool) RETURNS pg_catalog.bool \
                 LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $pgt$ \
                 BEGIN \
                   IF still_quiet IS NOT TRUE THEN \
                     RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = {}; \
                   END IF; \
                   RETURN true; \
                 END $pgt$",
                self.f("quiet_check"),
                quote_literal(&self.quiet_message)
            ),
        ]
    }
}

impl ServerFunctions for PlainSql {
    /// Buffers live in the engine's own schema, beside its functions.
    fn change_buffer(&self, source_oid: u32) -> String {
        self.f(&format!("changes_{source_oid}"))
    }

    fn hash_bytes(&self, data: &str) -> String {
        format!("{}({data})", self.f("row_hash"))
    }
    fn hash_text(&self, data: &str, seed: &str) -> String {
        format!("{}({data}, {seed})", self.f("text_hash"))
    }
    fn hash_combine(&self, key: &str, occurrence: &str) -> String {
        format!("{}({key}, {occurrence})", self.f("hash_combine"))
    }
    fn check(&self, cond: &str, message: &str) -> String {
        format!("{}({cond}, {message})", self.f("check"))
    }
    fn single_row_check(&self, cond: &str) -> String {
        format!("{}({cond})", self.f("single_row_check"))
    }
    fn quiet_check(&self, cond: &str) -> String {
        format!("{}({cond})", self.f("quiet_check"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> PlainSql {
        PlainSql {
            schema: "side\"car".into(),
            quiet_message: "a quiet source changed".into(),
        }
    }

    #[test]
    fn every_expression_names_its_function_with_its_schema() {
        let all: [&dyn ServerFunctions; 2] = [&Extension, &plain()];
        for s in all {
            for sql in [
                s.hash_bytes("pg_catalog.record_send(ROW(1))"),
                s.hash_text("'x'::pg_catalog.text", "0"),
                s.hash_combine("1", "2"),
                s.check("true", "'m'"),
                s.single_row_check("true"),
                s.quiet_check("true"),
            ] {
                let expr = format!("SELECT {sql}");
                assert_eq!(
                    crate::lint::unqualified(&expr),
                    Vec::<String>::new(),
                    "{expr}"
                );
            }
        }
    }

    #[test]
    fn plain_sql_lives_in_its_own_schema() {
        let p = plain();
        assert_eq!(p.check("c", "'m'"), r#""side""car"."check"(c, 'm')"#);
        for ddl in p.install() {
            assert!(
                ddl.starts_with(r#"CREATE OR REPLACE FUNCTION "side""car"."#),
                "{ddl}"
            );
            assert!(!ddl.contains("pgtrickle"), "{ddl}");
        }
        assert!(p.install()[5].contains("'a quiet source changed'"));
        for ddl in &p.install()[..3] {
            assert_eq!(crate::lint::unqualified(ddl), Vec::<String>::new(), "{ddl}");
        }
    }
}
