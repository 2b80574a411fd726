//! The sidecar's catalog, installed with plain SQL into schema [`SCHEMA`] of each database
//! it serves (ADR-079): stream tables, their dependencies, refresh history, and the
//! functions generated SQL needs (`pgt_sql::server_functions::PlainSql`).

use pgt_sql::server_functions::PlainSql;

/// The sidecar's schema in each database.
pub const SCHEMA: &str = "pgtrickle_sidecar";

/// The message of a failed quiet check (incremental statements, ADR-077).
pub const QUIET_MESSAGE: &str =
    "a source without pending changes at the start of the refresh has changes at its snapshot";

/// The server functions of generated SQL in the sidecar's schema.
pub fn server_functions() -> PlainSql {
    PlainSql {
        schema: SCHEMA.into(),
        quiet_message: QUIET_MESSAGE.into(),
    }
}

/// The DDL installing (or completing) the catalog; every statement is idempotent.
pub fn install() -> Vec<String> {
    let mut out = vec![
        format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {SCHEMA}.stream_tables (
                pgt_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                pgt_relid oid NOT NULL UNIQUE,
                defining_query text NOT NULL,
                schedule text,
                refresh_mode text NOT NULL DEFAULT 'FULL' CHECK (refresh_mode = 'FULL'),
                status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'SUSPENDED', 'ERROR')),
                status_reason text,
                is_populated boolean NOT NULL DEFAULT false,
                last_refresh_at timestamptz,
                consecutive_errors integer NOT NULL DEFAULT 0,
                -- name=value of the session settings the query was created under; every
                -- refresh evaluates it under these.
                pinned_settings text[] NOT NULL DEFAULT '{{}}',
                created_at timestamptz NOT NULL DEFAULT pg_catalog.now())"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {SCHEMA}.dependencies (
                pgt_id bigint NOT NULL REFERENCES {SCHEMA}.stream_tables (pgt_id) ON DELETE CASCADE,
                source_relid oid NOT NULL,
                PRIMARY KEY (pgt_id, source_relid))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {SCHEMA}.refresh_history (
                refresh_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                pgt_id bigint NOT NULL REFERENCES {SCHEMA}.stream_tables (pgt_id) ON DELETE CASCADE,
                action text NOT NULL CHECK (action IN ('FULL', 'DIFFERENTIAL')),
                status text NOT NULL CHECK (status IN ('COMPLETED', 'FAILED', 'SKIPPED')),
                started_at timestamptz NOT NULL,
                ended_at timestamptz,
                rows_inserted bigint NOT NULL DEFAULT 0,
                rows_deleted bigint NOT NULL DEFAULT 0,
                error_message text,
                reason text,
                initiated_by text NOT NULL CHECK (initiated_by IN ('CREATE', 'MANUAL', 'SCHEDULER')))"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS refresh_history_pgt_id_idx ON {SCHEMA}.refresh_history (pgt_id, refresh_id)"
        ),
    ];
    out.extend(server_functions().install());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_can_run_again() {
        // (CHECK constraints and defaults are bound when created; the functions' SQL is
        // checked in pgt_sql.)
        for ddl in install() {
            assert!(
                ddl.contains("IF NOT EXISTS") || ddl.starts_with("CREATE OR REPLACE FUNCTION"),
                "{ddl}"
            );
            assert!(ddl.contains(SCHEMA), "{ddl}");
        }
    }
}
