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
                refresh_mode text NOT NULL DEFAULT 'FULL',
                status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'SUSPENDED', 'ERROR')),
                status_reason text,
                is_populated boolean NOT NULL DEFAULT false,
                last_refresh_at timestamptz,
                consecutive_errors integer NOT NULL DEFAULT 0,
                -- name=value of the session settings the query was created under; every
                -- refresh evaluates it under these.
                pinned_settings text[] NOT NULL DEFAULT '{{}}',
                -- The recomputing statement, generated at creation: pgt_sql's FULL refresh,
                -- or for DIFFERENTIAL the engine's (which also gives the snapshot read).
                refresh_sql text NOT NULL,
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
        // Incremental refresh (ADR-079 stage 2): why the mode was chosen, the delta and
        // truncation statements, and each source's frontier (`crate::capture`).
        format!(
            "ALTER TABLE {SCHEMA}.stream_tables ADD COLUMN IF NOT EXISTS refresh_mode_reason text, \
                 ADD COLUMN IF NOT EXISTS delta_sql text, ADD COLUMN IF NOT EXISTS truncated_sql text"
        ),
        format!(
            "ALTER TABLE {SCHEMA}.stream_tables DROP CONSTRAINT IF EXISTS stream_tables_refresh_mode_check, \
                 ADD CONSTRAINT stream_tables_refresh_mode_check CHECK (refresh_mode IN ('FULL', 'DIFFERENTIAL'))"
        ),
        format!(
            "ALTER TABLE {SCHEMA}.dependencies ADD COLUMN IF NOT EXISTS frontier_snapshot pg_snapshot, \
                 ADD COLUMN IF NOT EXISTS frontier_xid xid8, ADD COLUMN IF NOT EXISTS frontier_change_id bigint"
        ),
    ];
    out.extend(server_functions().install());
    out.push(REFRESH_FUNCTION.replace("{S}", SCHEMA));
    out.extend(MONITORING.iter().map(|v| v.replace("{S}", SCHEMA)));
    out
}

/// `{S}._refresh(id, initiated_by, only_active)`: refreshes one stream table in the
/// calling transaction and records it; false when it is gone or (with `only_active`) not
/// ACTIVE. The one implementation of a refresh: the sidecar's scheduler and its CLI call
/// it, and so does `{S}.refresh_stream_table(name)` (what the `pgtrickle` CLI calls).
/// Its own statements name every operator and function with its schema: the stream
/// table's pinned settings, `search_path` included, are in force from the `set_config`
/// calls on, for the stored statements (whose user query needs them).
///
/// DIFFERENTIAL: the delta statement when every source has a frontier, no source was
/// truncated since and the table is populated; else the engine's recomputing statement.
/// Either one returns the snapshot it read at, which becomes every source's frontier with
/// this transaction's own buffered rows up to their last change id (ADR-079); then each
/// buffer loses the rows all its readers have consumed (under a try-lock: trimming is
/// never waited for).
const REFRESH_FUNCTION: &str = "CREATE OR REPLACE FUNCTION {S}._refresh(p_id bigint, p_initiated_by text, p_only_active boolean)
RETURNS boolean LANGUAGE plpgsql AS $pgt$
DECLARE
    st record;
    kv text;
    t0 timestamptz := pg_catalog.clock_timestamp();
    n_deleted bigint;
    n_inserted bigint;
    snap text;
    act text := 'FULL';
    why text;
    src pg_catalog.oid;
    own_id bigint;
    buf text;
BEGIN
    SELECT s.pgt_relid, s.status, s.pinned_settings, s.refresh_sql, s.refresh_mode, s.delta_sql,
           s.truncated_sql, s.is_populated INTO st
      FROM {S}.stream_tables AS s WHERE s.pgt_id OPERATOR(pg_catalog.=) p_id FOR UPDATE;
    IF NOT FOUND OR (p_only_active AND st.status OPERATOR(pg_catalog.<>) 'ACTIVE') THEN
        RETURN false;
    END IF;
    EXECUTE pg_catalog.format('LOCK TABLE %s IN EXCLUSIVE MODE', st.pgt_relid::pg_catalog.regclass);
    FOREACH kv IN ARRAY st.pinned_settings LOOP
        PERFORM pg_catalog.set_config(pg_catalog.split_part(kv, '=', 1),
                                      pg_catalog.substr(kv, pg_catalog.strpos(kv, '=') OPERATOR(pg_catalog.+) 1), true);
    END LOOP;
    IF st.refresh_mode OPERATOR(pg_catalog.=) 'FULL' THEN
        EXECUTE st.refresh_sql INTO n_deleted, n_inserted;
    ELSE
        IF NOT st.is_populated THEN
            why := 'not populated yet';
        ELSIF EXISTS (SELECT 1 FROM {S}.dependencies AS d
                       WHERE d.pgt_id OPERATOR(pg_catalog.=) p_id AND d.frontier_snapshot IS NULL) THEN
            why := 'a source has no frontier yet';
        ELSE
            EXECUTE st.truncated_sql INTO kv;
            IF kv::boolean THEN
                why := 'a source was truncated, or its columns changed since the capture was set up';
            END IF;
        END IF;
        IF why IS NULL THEN
            act := 'DIFFERENTIAL';
            EXECUTE st.delta_sql INTO snap, n_inserted, n_deleted;
        ELSE
            EXECUTE st.refresh_sql INTO snap, n_inserted, n_deleted;
        END IF;
        FOR src IN SELECT d.source_relid FROM {S}.dependencies AS d WHERE d.pgt_id OPERATOR(pg_catalog.=) p_id LOOP
            buf := 'changes_' OPERATOR(pg_catalog.||) src::pg_catalog.text;
            own_id := NULL;
            IF pg_catalog.to_regclass(pg_catalog.format('{S}.%I', buf)) IS NOT NULL THEN
                IF pg_catalog.pg_current_xact_id_if_assigned() IS NOT NULL THEN
                    EXECUTE pg_catalog.format('SELECT pg_catalog.max(b.__pgt_change_id) FROM {S}.%I AS b '
                        'WHERE b.__pgt_xid OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id_if_assigned()', buf) INTO own_id;
                END IF;
            END IF;
            UPDATE {S}.dependencies AS d
               SET frontier_snapshot = snap::pg_catalog.pg_snapshot,
                   frontier_xid = pg_catalog.pg_current_xact_id_if_assigned(),
                   frontier_change_id = COALESCE(own_id, 0)
             WHERE d.pgt_id OPERATOR(pg_catalog.=) p_id AND d.source_relid OPERATOR(pg_catalog.=) src;
            IF pg_catalog.to_regclass(pg_catalog.format('{S}.%I', buf)) IS NOT NULL
               AND pg_catalog.pg_try_advisory_xact_lock((1347900498::pg_catalog.int8 OPERATOR(pg_catalog.<<) 32) OPERATOR(pg_catalog.|) src::pg_catalog.int8) THEN
                EXECUTE pg_catalog.format(
                    'DELETE FROM {S}.%I AS b WHERE NOT EXISTS ('
                    'SELECT 1 FROM {S}.dependencies AS d JOIN {S}.stream_tables AS s ON s.pgt_id OPERATOR(pg_catalog.=) d.pgt_id '
                    'WHERE d.source_relid OPERATOR(pg_catalog.=) %s::pg_catalog.oid AND s.refresh_mode OPERATOR(pg_catalog.=) ''DIFFERENTIAL'' '
                    'AND d.frontier_snapshot IS NOT NULL '
                    'AND NOT ((pg_catalog.pg_visible_in_snapshot(b.__pgt_xid, d.frontier_snapshot) '
                    '          AND b.__pgt_xid OPERATOR(pg_catalog.<>) COALESCE(d.frontier_xid, ''0''::pg_catalog.xid8)) '
                    '     OR (b.__pgt_xid OPERATOR(pg_catalog.=) COALESCE(d.frontier_xid, ''0''::pg_catalog.xid8) '
                    '         AND b.__pgt_change_id OPERATOR(pg_catalog.<=) COALESCE(d.frontier_change_id, 0))))',
                    buf, src);
            END IF;
        END LOOP;
    END IF;
    UPDATE {S}.stream_tables AS s
       SET is_populated = true, last_refresh_at = pg_catalog.now(), consecutive_errors = 0,
           status = 'ACTIVE', status_reason = NULL
     WHERE s.pgt_id OPERATOR(pg_catalog.=) p_id;
    INSERT INTO {S}.refresh_history (pgt_id, action, status, started_at, ended_at, rows_inserted, rows_deleted, reason, initiated_by)
    VALUES (p_id, act, 'COMPLETED', t0, pg_catalog.clock_timestamp(), n_inserted, n_deleted, why, p_initiated_by);
    RETURN true;
END $pgt$";

/// Views and functions with the names and columns of the extension's documented ones, so
/// that the `pgtrickle` CLI (which reads only those) works against the sidecar's catalog
/// too (it looks for them in this schema when the extension is not installed).
const MONITORING: &[&str] = &[
    "CREATE OR REPLACE VIEW {S}.pgt_stream_tables AS
     SELECT s.pgt_id, s.pgt_relid, n.nspname AS pgt_schema, c.relname AS pgt_name,
            s.defining_query AS original_query, s.defining_query, s.schedule,
            s.refresh_mode, s.refresh_mode AS effective_refresh_mode,
            coalesce(s.refresh_mode_reason, 'maintained by pg_trickle_sidecar') AS refresh_mode_reason,
            s.status, s.status_reason, s.is_populated, s.last_refresh_at AS data_timestamp,
            s.last_refresh_at, s.consecutive_errors, s.created_at
       FROM {S}.stream_tables AS s
       JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) s.pgt_relid
       JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace",
    "CREATE OR REPLACE VIEW {S}.stream_tables_info AS
     SELECT s.pgt_id, s.pgt_schema AS schemaname, s.pgt_name AS name, s.refresh_mode,
            s.effective_refresh_mode, s.refresh_mode_reason,
            COALESCE(s.schedule, 'calculated') AS schedule, s.status, s.status_reason,
            s.is_populated, s.data_timestamp, pg_catalog.now() OPERATOR(pg_catalog.-) s.data_timestamp AS staleness,
            s.last_refresh_at, NULL::timestamptz AS next_due_at, s.consecutive_errors, s.created_at
       FROM {S}.pgt_stream_tables AS s",
    "CREATE OR REPLACE VIEW {S}.pgt_dependencies AS
     SELECT d.pgt_id, d.source_relid, n.nspname AS source_schema, c.relname AS source_name,
            CASE WHEN EXISTS (SELECT 1 FROM {S}.stream_tables AS t WHERE t.pgt_relid OPERATOR(pg_catalog.=) d.source_relid) THEN 'STREAM_TABLE'
                 WHEN c.relkind OPERATOR(pg_catalog.=) 'p' THEN 'PARTITIONED_TABLE'
                 WHEN c.relkind OPERATOR(pg_catalog.=) 'v' THEN 'VIEW'
                 WHEN c.relkind OPERATOR(pg_catalog.=) 'm' THEN 'MATERIALIZED_VIEW'
                 WHEN c.relkind OPERATOR(pg_catalog.=) 'f' THEN 'FOREIGN_TABLE'
                 ELSE 'TABLE' END AS source_type,
            '{}'::text[] AS columns_used
       FROM {S}.dependencies AS d
       LEFT JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) d.source_relid
       LEFT JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace",
    // Sources read by an incrementally maintained stream table, captured by triggers.
    "CREATE OR REPLACE VIEW {S}.pgt_capture AS
     SELECT DISTINCT d.source_relid, 'TRIGGER'::text AS mode, NULL::text AS reason
       FROM {S}.dependencies AS d JOIN {S}.stream_tables AS s ON s.pgt_id OPERATOR(pg_catalog.=) d.pgt_id
      WHERE s.refresh_mode OPERATOR(pg_catalog.=) 'DIFFERENTIAL'",
    "CREATE OR REPLACE VIEW {S}.pgt_refresh_history AS
     SELECT h.refresh_id, h.pgt_id, h.action, h.status, h.started_at, h.ended_at, h.rows_inserted,
            h.rows_deleted, h.error_message, h.reason, h.initiated_by, 0::bigint AS changes
       FROM {S}.refresh_history AS h",
    "CREATE OR REPLACE VIEW {S}.refresh_history_info AS SELECT * FROM {S}.pgt_refresh_history",
    "CREATE OR REPLACE VIEW {S}.pg_stat_stream_tables AS
     SELECT s.pgt_id, s.pgt_schema AS schemaname, s.pgt_name AS name,
            pg_catalog.count(h.refresh_id) FILTER (WHERE h.status OPERATOR(pg_catalog.=) 'COMPLETED') AS refreshes,
            pg_catalog.count(h.refresh_id) FILTER (WHERE h.status OPERATOR(pg_catalog.=) 'COMPLETED' AND h.action OPERATOR(pg_catalog.=) 'DIFFERENTIAL') AS differential_refreshes,
            pg_catalog.count(h.refresh_id) FILTER (WHERE h.status OPERATOR(pg_catalog.=) 'COMPLETED' AND h.action OPERATOR(pg_catalog.=) 'FULL') AS full_refreshes,
            pg_catalog.count(h.refresh_id) FILTER (WHERE h.status OPERATOR(pg_catalog.=) 'FAILED') AS failures,
            pg_catalog.avg(h.ended_at OPERATOR(pg_catalog.-) h.started_at) FILTER (WHERE h.status OPERATOR(pg_catalog.=) 'COMPLETED') AS avg_duration,
            (SELECT l.ended_at OPERATOR(pg_catalog.-) l.started_at FROM {S}.refresh_history AS l
              WHERE l.pgt_id OPERATOR(pg_catalog.=) s.pgt_id AND l.status OPERATOR(pg_catalog.=) 'COMPLETED'
              ORDER BY l.refresh_id DESC LIMIT 1) AS last_duration
       FROM {S}.pgt_stream_tables AS s
       LEFT JOIN {S}.refresh_history AS h ON h.pgt_id OPERATOR(pg_catalog.=) s.pgt_id
      GROUP BY s.pgt_id, s.pgt_schema, s.pgt_name",
    // The name resolves like a table name (the caller's search path), as the extension's.
    "CREATE OR REPLACE FUNCTION {S}.refresh_stream_table(name text) RETURNS void LANGUAGE plpgsql AS $pgt$
     DECLARE id bigint;
     BEGIN
         SELECT s.pgt_id INTO id FROM {S}.stream_tables AS s
          WHERE s.pgt_relid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(name)::pg_catalog.oid;
         IF id IS NULL THEN
             RAISE EXCEPTION USING ERRCODE = '42P01', MESSAGE = pg_catalog.format('stream table %s does not exist', name);
         END IF;
         PERFORM {S}._refresh(id, 'MANUAL', false);
     END $pgt$",
    "CREATE OR REPLACE FUNCTION {S}.health_check()
     RETURNS TABLE (check_name text, severity text, stream_table text, detail text)
     LANGUAGE sql STABLE BEGIN ATOMIC
         SELECT 'suspended'::text, 'ERROR'::text, s.pgt_relid::pg_catalog.regclass::text, COALESCE(s.status_reason, 'suspended')
           FROM {S}.stream_tables AS s WHERE s.status OPERATOR(pg_catalog.=) 'SUSPENDED'
         UNION ALL
         SELECT 'error', 'ERROR', s.pgt_relid::pg_catalog.regclass::text, COALESCE(s.status_reason, 'in status ERROR')
           FROM {S}.stream_tables AS s WHERE s.status OPERATOR(pg_catalog.=) 'ERROR'
         UNION ALL
         SELECT 'never refreshed', 'WARNING', s.pgt_relid::pg_catalog.regclass::text, 'not populated yet'
           FROM {S}.stream_tables AS s WHERE NOT s.is_populated;
     END",
    "CREATE OR REPLACE FUNCTION {S}.explain_stream_table(name text, \"analyze\" boolean DEFAULT false)
     RETURNS SETOF text LANGUAGE plpgsql AS $pgt$
     DECLARE st record; line text;
     BEGIN
         SELECT s.pgt_relid, s.defining_query, s.refresh_mode, s.refresh_mode_reason, s.delta_sql INTO st FROM {S}.stream_tables AS s
          WHERE s.pgt_relid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(name)::pg_catalog.oid;
         IF NOT FOUND THEN
             RAISE EXCEPTION USING ERRCODE = '42P01', MESSAGE = pg_catalog.format('stream table %s does not exist', name);
         END IF;
         RETURN NEXT pg_catalog.format('stream table %s: maintained by pg_trickle_sidecar, %s%s', st.pgt_relid::pg_catalog.regclass,
             st.refresh_mode, COALESCE(' (' OPERATOR(pg_catalog.||) st.refresh_mode_reason OPERATOR(pg_catalog.||) ')', ''));
         IF st.delta_sql IS NOT NULL THEN
             RETURN NEXT 'incremental refresh statement:';
             RETURN NEXT st.delta_sql;
         END IF;
         RETURN NEXT 'plan of the defining query:';
         FOR line IN EXECUTE CASE WHEN \"analyze\" THEN 'EXPLAIN (ANALYZE) ' ELSE 'EXPLAIN ' END OPERATOR(pg_catalog.||) st.defining_query LOOP
             RETURN NEXT line;
         END LOOP;
     END $pgt$",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_can_run_again() {
        // (CHECK constraints and defaults are bound when created; the functions' SQL is
        // checked in pgt_sql.)
        for ddl in install() {
            assert!(
                ddl.contains("IF NOT EXISTS")
                    || ddl.contains("DROP CONSTRAINT IF EXISTS")
                    || ddl.starts_with("CREATE OR REPLACE"),
                "{ddl}"
            );
            assert!(ddl.contains(SCHEMA), "{ddl}");
        }
    }
}
