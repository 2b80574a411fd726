-- pg_trickle monitoring: views and functions in the style of pg_stat_*.
-- Runs last in the extension script (pgrx `finalize`), after the Rust functions exist.

-- Whether the current role may read the texts that can quote source data (error messages,
-- and status reasons that carry them): superusers, and roles that may SELECT the stream
-- table and every one of its sources. Everyone else sees them redacted (ADR-074).
-- Invoker rights: has_table_privilege checks the role that is asking.
CREATE FUNCTION pgtrickle._may_see_details(p_pgt_id bigint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(has_table_privilege(s.pgt_relid, 'SELECT'), false)
           AND NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies d
                            WHERE d.pgt_id = s.pgt_id
                              AND NOT coalesce(has_table_privilege(d.source_relid, 'SELECT'), false))
      FROM pgtrickle.pgt_stream_tables s WHERE s.pgt_id = p_pgt_id
$$;

-- One row per stream table: how it is maintained and how fresh it is.
CREATE VIEW pgtrickle.stream_tables_info AS
SELECT s.pgt_id,
       s.pgt_schema AS schemaname,
       s.pgt_name AS name,
       s.refresh_mode,
       s.effective_refresh_mode,
       s.refresh_mode_reason,
       coalesce(s.schedule, 'calculated') AS schedule,
       s.status,
       CASE WHEN s.status_reason IS NULL OR pgtrickle._may_see_details(s.pgt_id) THEN s.status_reason
            ELSE '(redacted: it may quote source data; requires SELECT on the stream table and all its sources)' END
           AS status_reason,
       s.is_populated,
       s.data_timestamp,
       pg_catalog.now() - s.data_timestamp AS staleness,
       s.last_refresh_at,
       CASE WHEN s.status = 'ACTIVE' THEN pgtrickle._next_due(s.schedule, s.last_refresh_at) END AS next_due_at,
       s.consecutive_errors,
       s.created_at
  FROM pgtrickle.pgt_stream_tables s;
COMMENT ON VIEW pgtrickle.stream_tables_info IS 'pg_trickle: each stream table with its mode, schedule, status and freshness';

-- Refresh statistics per stream table (over the history that is kept).
CREATE VIEW pgtrickle.pg_stat_stream_tables AS
SELECT s.pgt_id,
       s.pgt_schema AS schemaname,
       s.pgt_name AS name,
       count(h.refresh_id) FILTER (WHERE h.status = 'COMPLETED') AS refreshes,
       count(h.refresh_id) FILTER (WHERE h.status = 'COMPLETED' AND h.action = 'DIFFERENTIAL') AS differential_refreshes,
       count(h.refresh_id) FILTER (WHERE h.status = 'COMPLETED' AND h.action = 'FULL') AS full_refreshes,
       count(h.refresh_id) FILTER (WHERE h.status = 'FAILED') AS failures,
       avg(h.ended_at - h.started_at) FILTER (WHERE h.status = 'COMPLETED') AS avg_duration,
       (SELECT l.ended_at - l.started_at FROM pgtrickle.pgt_refresh_history l
         WHERE l.pgt_id = s.pgt_id AND l.status = 'COMPLETED' ORDER BY l.refresh_id DESC LIMIT 1) AS last_duration,
       coalesce(sum(h.rows_inserted), 0)::bigint AS rows_inserted,
       coalesce(sum(h.rows_deleted), 0)::bigint AS rows_deleted,
       max(h.started_at) AS last_refresh_started_at
  FROM pgtrickle.pgt_stream_tables s
  LEFT JOIN pgtrickle.pgt_refresh_history h ON h.pgt_id = s.pgt_id
 GROUP BY s.pgt_id, s.pgt_schema, s.pgt_name;
COMMENT ON VIEW pgtrickle.pg_stat_stream_tables IS 'pg_trickle: refresh counts, failures, durations and rows changed per stream table';

-- The refresh history with error messages redacted as in stream_tables_info.
CREATE VIEW pgtrickle.refresh_history_info AS
SELECT h.refresh_id, h.pgt_id, h.action, h.status, h.started_at, h.ended_at,
       h.rows_inserted, h.rows_deleted,
       CASE WHEN h.error_message IS NULL OR pgtrickle._may_see_details(h.pgt_id) THEN h.error_message
            ELSE '(redacted: it may quote source data; requires SELECT on the stream table and all its sources)' END
           AS error_message,
       h.reason, h.initiated_by, h.changes, h.setup_ms, h.abandoned_delta_ms
  FROM pgtrickle.pgt_refresh_history h;
COMMENT ON VIEW pgtrickle.refresh_history_info IS 'pg_trickle: every refresh, error messages shown only to roles that may read the data';

GRANT SELECT ON pgtrickle.stream_tables_info, pgtrickle.pg_stat_stream_tables, pgtrickle.refresh_history_info TO PUBLIC;

-- The most recent refreshes of one stream table, newest first. (No SET search_path: the
-- name is resolved with the caller's search path; everything else, operators included, is
-- qualified.)
CREATE FUNCTION pgtrickle.refresh_history(name text, max_rows integer DEFAULT 20)
RETURNS SETOF pgtrickle.pgt_refresh_history
LANGUAGE sql STABLE AS $$
    SELECT h.* FROM pgtrickle.refresh_history_info h
     WHERE h.pgt_id OPERATOR(pg_catalog.=) (SELECT s.pgt_id FROM pgtrickle.pgt_stream_tables s
                                             WHERE s.pgt_relid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(name)::pg_catalog.oid)
     ORDER BY h.refresh_id DESC
     LIMIT max_rows
$$;

-- One row per problem found; no rows means healthy.
-- Each change-captured source: how its changes are captured and why; for WAL capture the
-- slot, how far it was drained and how much WAL it keeps.
CREATE VIEW pgtrickle.change_capture AS
SELECT c.source_relid::regclass AS source, c.mode, c.reason, c.since, c.handover_lsn,
       d.slot_name, d.decoded_lsn, d.last_drain_at, d.last_error,
       CASE WHEN s.restart_lsn IS NOT NULL THEN pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn) END AS retained_wal_bytes
  FROM pgtrickle.pgt_capture c
  LEFT JOIN pgtrickle.pgt_wal_decoder d ON c.mode <> 'TRIGGER'
  LEFT JOIN pg_replication_slots s ON s.slot_name = d.slot_name;
COMMENT ON VIEW pgtrickle.change_capture IS 'pg_trickle: how each source''s changes are captured (TRIGGER, TRANSITIONING, WAL) and why';
GRANT SELECT ON pgtrickle.change_capture TO PUBLIC;

CREATE FUNCTION pgtrickle.health_check()
RETURNS TABLE (check_name text, severity text, stream_table text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    -- Status reasons come from stream_tables_info, redacted as there.
    SELECT 'suspended', 'ERROR', st.pgt_relid::regclass::text, coalesce(i.status_reason, 'suspended')
      FROM pgtrickle.stream_tables_info i JOIN pgtrickle.pgt_stream_tables st ON st.pgt_id = i.pgt_id WHERE i.status = 'SUSPENDED'
    UNION ALL
    SELECT 'error', 'ERROR', st.pgt_relid::regclass::text, coalesce(i.status_reason, 'in status ERROR')
      FROM pgtrickle.stream_tables_info i JOIN pgtrickle.pgt_stream_tables st ON st.pgt_id = i.pgt_id WHERE i.status = 'ERROR'
    UNION ALL
    SELECT 'stale', 'WARNING', s.pgt_relid::regclass::text,
           format('last refreshed %s ago; it was due at %s', date_trunc('second', now() - s.last_refresh_at),
                  pgtrickle._next_due(s.schedule, s.last_refresh_at))
      FROM pgtrickle.pgt_stream_tables s
     WHERE s.status = 'ACTIVE' AND s.last_refresh_at IS NOT NULL AND s.refresh_mode <> 'IMMEDIATE'
       AND s.restored_at IS NULL
       AND now() > pgtrickle._next_due(s.schedule, s.last_refresh_at) + interval '30 seconds'
    UNION ALL
    SELECT 'restore incomplete', 'WARNING', s.pgt_relid::regclass::text,
           format('restored %s ago; its change capture is re-created once its primary key is restored too',
                  date_trunc('second', now() - s.restored_at))
      FROM pgtrickle.pgt_stream_tables s
     WHERE s.restored_at IS NOT NULL AND s.status <> 'ERROR' AND s.restored_at < now() - interval '1 minute'
    UNION ALL
    SELECT 'growing change buffer', 'WARNING', b.source::text,
           format('%s changes are waiting in %s', b.rows, b.buffer)
      FROM (SELECT substr(c.relname, 9)::oid::regclass AS source, c.oid::regclass AS buffer,
                   coalesce(st.n_live_tup, 0) AS rows
              FROM pg_class c LEFT JOIN pg_stat_user_tables st ON st.relid = c.oid
             WHERE c.relnamespace = 'pgtrickle_changes'::regnamespace AND c.relkind = 'r'
               AND c.relname ~ '^changes_[0-9]+$') b
     WHERE b.rows > 1000000
    UNION ALL
    SELECT 'wal slot retains wal', 'WARNING', NULL,
           format('replication slot %s keeps %s of WAL (drained up to %s%s)', d.slot_name,
                  pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)), d.decoded_lsn,
                  CASE WHEN d.last_error IS NOT NULL THEN '; last error: ' || d.last_error ELSE '' END)
      FROM pgtrickle.pgt_wal_decoder d JOIN pg_replication_slots s ON s.slot_name = d.slot_name
     WHERE pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn) > 1073741824
    UNION ALL
    SELECT 'wal slot missing', 'ERROR', NULL,
           format('replication slot %s of WAL-captured sources does not exist; the next drain returns them to triggers', d.slot_name)
      FROM pgtrickle.pgt_wal_decoder d
     WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots s WHERE s.slot_name = d.slot_name)
       AND EXISTS (SELECT 1 FROM pgtrickle.pgt_capture c WHERE c.mode = 'WAL')
    UNION ALL
    SELECT 'source on triggers', 'WARNING', c.source_relid::regclass::text, c.reason
      FROM pgtrickle.pgt_capture c
     WHERE current_setting('pg_trickle.cdc_mode') = 'wal' AND c.mode <> 'WAL' AND c.reason IS NOT NULL
    UNION ALL
    SELECT 'change buffers lost', 'WARNING', NULL,
           'a crash (or a promotion, or a restored base backup) emptied the unlogged change buffers; the stream tables reading them recompute in full at their next refresh'
     WHERE NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_buffers_intact)
       AND EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies d JOIN pg_class c ON c.relname = 'changes_' || d.source_relid
                    WHERE c.relnamespace = 'pgtrickle_changes'::regnamespace AND c.relpersistence = 'u')
    UNION ALL
    SELECT 'automatic refresh disabled', 'WARNING', NULL, 'pg_trickle.enabled is off'
     WHERE current_setting('pg_trickle.enabled') = 'off'
       AND EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables)
    UNION ALL
    SELECT 'scheduler not running', 'ERROR', NULL,
           'no pg_trickle scheduler is connected to this database; is pg_trickle in shared_preload_libraries?'
     WHERE current_setting('pg_trickle.enabled') = 'on'
       AND EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables)
       AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                        WHERE a.backend_type = 'pg_trickle scheduler' AND a.datid = (SELECT oid FROM pg_database WHERE datname = current_database()))
$$;

-- DDL on sources: keep change capture working and flag stream tables whose used columns
-- (or source name) changed. CREATE TABLE: a new partition of a captured partitioned
-- source gets the capture triggers (ADR-001).
-- SECURITY DEFINER for the same reason as _on_sql_drop: ALTER TABLE by any role must work.
CREATE FUNCTION pgtrickle._on_ddl_command_end() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pgtrickle._on_source_ddl();
END
$$;
CREATE EVENT TRIGGER pgt_ddl_command_end ON ddl_command_end WHEN TAG IN ('ALTER TABLE', 'ALTER TRIGGER', 'CREATE TRIGGER', 'CREATE TABLE')
    EXECUTE FUNCTION pgtrickle._on_ddl_command_end();

-- A rewrite of a source (ALTER COLUMN … TYPE … USING, SET ACCESS METHOD, …) can change its
-- rows without any row being captured: every stream table reading it forgets its frontiers,
-- so its next refresh recomputes in full. (Changes to the used columns' definitions are
-- handled by _on_source_ddl at ddl_command_end.)
CREATE FUNCTION pgtrickle._on_table_rewrite() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE pgtrickle.pgt_dependencies
       SET frontier_snapshot = NULL, frontier_xid = NULL, frontier_change_id = NULL
     WHERE pgt_id IN (SELECT d.pgt_id FROM pgtrickle.pgt_dependencies d
                       WHERE d.source_relid OPERATOR(pg_catalog.=) pg_event_trigger_table_rewrite_oid());
END
$$;
CREATE EVENT TRIGGER pgt_table_rewrite ON table_rewrite EXECUTE FUNCTION pgtrickle._on_table_rewrite();

-- Internal functions are for the event triggers and the extension script only.
-- IMMEDIATE maintenance (ADR-024): the statement trigger every source of an IMMEDIATE
-- stream table gets. It fires as the writing role; SECURITY DEFINER so that a writer needs
-- no rights on pg_trickle's catalog (the defining query still runs as the stream table's
-- owner, as in every refresh).
CREATE FUNCTION pgtrickle._immediate_maintenance() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pgtrickle._refresh_immediate(TG_ARGV[0]::bigint);
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION pgtrickle._refresh_immediate(bigint) FROM PUBLIC;

REVOKE EXECUTE ON FUNCTION pgtrickle._on_source_ddl(), pgtrickle._drop_unused_capture(),
    pgtrickle._signal_launcher(), pgtrickle._check_sql_drop() FROM PUBLIC;
-- The capture trigger function (ADR-001): firing a trigger checks no EXECUTE right,
-- creating one does, so only a superuser can attach it to a table.
REVOKE EXECUTE ON FUNCTION pgtrickle._capture_changes() FROM PUBLIC;

-- Start a scheduler for this database now.
SELECT pgtrickle._signal_launcher();
