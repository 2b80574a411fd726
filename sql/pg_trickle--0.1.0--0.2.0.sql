-- pg_trickle 0.1.0 → 0.2.0 (ALTER EXTENSION pg_trickle UPDATE).
--
-- Every release ships an upgrade script from the previous one; tests/upgrade.rs installs
-- the previous release's script (kept in sql/releases/), updates, and requires the result
-- to equal a fresh install. What 0.2.0 changes:
--   * capture triggers run the C function pgtrickle._capture_changes(<source oid>)
--     instead of one PL/pgSQL function per source (ADR-001);
--   * change buffers index __pgt_xid with BRIN (operator class pgtrickle.xid8_minmax_ops);
--   * the DDL event trigger also runs on CREATE TABLE (new partitions of partitioned
--     sources get the capture triggers);
--   * change buffers are readable only by roles that may read their source (row-level
--     security, ADR-014);
--   * pg_dump / pg_restore (ADR-064): catalog rows are dumped (pgt_stream_tables is a
--     configuration table with a restore trigger and a restored_at column), buffers and
--     state tables become extension members and pg_trickle's triggers (capture, IMMEDIATE,
--     guard) internal triggers, so none of them is dumped;
--   * change buffers created from now on are unlogged (pg_trickle.unlogged_change_buffers,
--     ADR-078); pgt_buffers_intact tells refreshes when a crash emptied them. Existing
--     buffers stay logged.
\echo Use "ALTER EXTENSION pg_trickle UPDATE TO '0.2.0'" to load this file. \quit

CREATE OPERATOR CLASS pgtrickle.xid8_minmax_ops FOR TYPE pg_catalog.xid8 USING brin AS
    OPERATOR 1 pg_catalog.< (pg_catalog.xid8, pg_catalog.xid8),
    OPERATOR 2 pg_catalog.<= (pg_catalog.xid8, pg_catalog.xid8),
    OPERATOR 3 pg_catalog.= (pg_catalog.xid8, pg_catalog.xid8),
    OPERATOR 4 pg_catalog.>= (pg_catalog.xid8, pg_catalog.xid8),
    OPERATOR 5 pg_catalog.> (pg_catalog.xid8, pg_catalog.xid8),
    FUNCTION 1 pg_catalog.brin_minmax_opcinfo(internal),
    FUNCTION 2 pg_catalog.brin_minmax_add_value(internal, internal, internal, internal),
    FUNCTION 3 pg_catalog.brin_minmax_consistent(internal, internal, internal),
    FUNCTION 4 pg_catalog.brin_minmax_union(internal, internal, internal);

CREATE UNLOGGED TABLE pgtrickle.pgt_buffers_intact (
    intact          boolean PRIMARY KEY DEFAULT true CHECK (intact)
);
INSERT INTO pgtrickle.pgt_buffers_intact DEFAULT VALUES;
COMMENT ON TABLE pgtrickle.pgt_buffers_intact IS 'pg_trickle: empty after a crash emptied the unlogged change buffers';
GRANT SELECT ON pgtrickle.pgt_buffers_intact TO PUBLIC;

CREATE FUNCTION pgtrickle."_capture_changes"() RETURNS TRIGGER
    LANGUAGE c AS 'MODULE_PATHNAME', '_capture_changes_wrapper';
REVOKE EXECUTE ON FUNCTION pgtrickle._capture_changes() FROM PUBLIC;

-- pg_trickle's own event triggers refuse dropping capture triggers behind its back; the
-- migration below is pg_trickle's own doing.
DROP EVENT TRIGGER pgt_ddl_command_end;
ALTER EVENT TRIGGER pgt_sql_drop DISABLE;

DO $migrate$
DECLARE
    b record;
    tbl text;
    src text;
BEGIN
    FOR b IN
        SELECT substr(c.relname, 9)::pg_catalog.oid AS source
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace OPERATOR(pg_catalog.=) 'pgtrickle_changes'::pg_catalog.regnamespace
           AND c.relkind OPERATOR(pg_catalog.=) 'r' AND c.relname OPERATOR(pg_catalog.~) '^changes_[0-9]+$'
    LOOP
        tbl := 'changes_' || b.source;
        EXECUTE pg_catalog.format('DROP INDEX IF EXISTS pgtrickle_changes.%I', tbl || '_xid_idx');
        EXECUTE pg_catalog.format(
            'CREATE INDEX %I ON pgtrickle_changes.%I USING brin (__pgt_xid pgtrickle.xid8_minmax_ops) WITH (pages_per_range = 32, autosummarize = on)',
            tbl || '_xid_idx', tbl);
        -- Rows readable only by roles that may read the source (ADR-014).
        EXECUTE pg_catalog.format('ALTER TABLE pgtrickle_changes.%I ENABLE ROW LEVEL SECURITY', tbl);
        EXECUTE pg_catalog.format(
            'CREATE POLICY source_readers ON pgtrickle_changes.%I FOR SELECT USING ((SELECT pg_catalog.has_table_privilege(CAST(%s AS pg_catalog.oid), %L)))',
            tbl, b.source, 'SELECT');
        -- A trigger-captured source (a WAL-captured one has no capture triggers).
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                    WHERE t.tgrelid OPERATOR(pg_catalog.=) b.source AND t.tgname OPERATOR(pg_catalog.=) '__pgt_cdc_ins') THEN
            src := b.source::pg_catalog.regclass::pg_catalog.text;
            EXECUTE pg_catalog.format('DROP TRIGGER __pgt_cdc_ins ON %s', src);
            EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS __pgt_cdc_upd ON %s', src);
            EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS __pgt_cdc_del ON %s', src);
            EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS __pgt_cdc_trunc ON %s', src);
            EXECUTE pg_catalog.format(
                'CREATE TRIGGER __pgt_cdc_ins AFTER INSERT ON %s REFERENCING NEW TABLE AS __pgt_new FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._capture_changes(%L)',
                src, b.source::pg_catalog.text);
            EXECUTE pg_catalog.format(
                'CREATE TRIGGER __pgt_cdc_upd AFTER UPDATE ON %s REFERENCING OLD TABLE AS __pgt_old NEW TABLE AS __pgt_new FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._capture_changes(%L)',
                src, b.source::pg_catalog.text);
            EXECUTE pg_catalog.format(
                'CREATE TRIGGER __pgt_cdc_del AFTER DELETE ON %s REFERENCING OLD TABLE AS __pgt_old FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._capture_changes(%L)',
                src, b.source::pg_catalog.text);
            EXECUTE pg_catalog.format(
                'CREATE TRIGGER __pgt_cdc_trunc AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._capture_changes(%L)',
                src, b.source::pg_catalog.text);
            EXECUTE pg_catalog.format(
                'ALTER TABLE %s ENABLE ALWAYS TRIGGER __pgt_cdc_ins, ENABLE ALWAYS TRIGGER __pgt_cdc_upd, ENABLE ALWAYS TRIGGER __pgt_cdc_del, ENABLE ALWAYS TRIGGER __pgt_cdc_trunc',
                src);
        END IF;
        EXECUTE pg_catalog.format('DROP FUNCTION IF EXISTS pgtrickle_changes.%I()', 'capture_' || b.source);
    END LOOP;
END
$migrate$;

ALTER EVENT TRIGGER pgt_sql_drop ENABLE;
CREATE EVENT TRIGGER pgt_ddl_command_end ON ddl_command_end WHEN TAG IN ('ALTER TABLE', 'ALTER TRIGGER', 'CREATE TRIGGER', 'CREATE TABLE')
    EXECUTE FUNCTION pgtrickle._on_ddl_command_end();

-- pg_dump / pg_restore (ADR-064).
GRANT USAGE ON SCHEMA pgtrickle_changes TO PUBLIC;
CREATE FUNCTION pgtrickle."_internal_write"() RETURNS bool
    VOLATILE PARALLEL UNSAFE STRICT
    LANGUAGE c AS 'MODULE_PATHNAME', '_internal_write_wrapper';
ALTER TABLE pgtrickle.pgt_stream_tables ADD COLUMN restored_at timestamptz;
GRANT SELECT (restored_at) ON pgtrickle.pgt_stream_tables TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('pgtrickle.pgt_stream_tables', '');
CREATE FUNCTION pgtrickle._on_stream_table_restore() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pgtrickle._internal_write() THEN
        RETURN NEW;
    END IF;
    NEW.pgt_relid := (SELECT c.oid FROM pg_catalog.pg_class c
                        JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                       WHERE n.nspname OPERATOR(pg_catalog.=) NEW.pgt_schema AND c.relname OPERATOR(pg_catalog.=) NEW.pgt_name);
    IF NEW.pgt_relid IS NULL THEN
        RAISE EXCEPTION 'cannot restore stream table %.%: its storage table does not exist',
                        quote_ident(NEW.pgt_schema), quote_ident(NEW.pgt_name)
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Restore the table definitions (pg_restore --section=pre-data) before pg_trickle''s catalog rows.';
    END IF;
    NEW.restored_at := pg_catalog.now();
    PERFORM pg_catalog.setval(pg_catalog.pg_get_serial_sequence('pgtrickle.pgt_stream_tables', 'pgt_id'),
                              GREATEST(NEW.pgt_id, (SELECT pg_catalog.max(s.pgt_id) FROM pgtrickle.pgt_stream_tables s)));
    RETURN NEW;
END
$$;
CREATE TRIGGER pgt_restore BEFORE INSERT ON pgtrickle.pgt_stream_tables
    FOR EACH ROW EXECUTE FUNCTION pgtrickle._on_stream_table_restore();
UPDATE pg_catalog.pg_trigger SET tgisinternal = true
 WHERE NOT tgisinternal AND tgname::pg_catalog.text OPERATOR(pg_catalog.~) '^__pgt_(cdc|ivm|guard)_';
DO $adopt$
DECLARE
    t text;
BEGIN
    FOR t IN
        SELECT c.oid::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_class c
         WHERE c.relnamespace OPERATOR(pg_catalog.=) 'pgtrickle_changes'::pg_catalog.regnamespace
           AND c.relkind OPERATOR(pg_catalog.=) 'r'
    LOOP
        EXECUTE pg_catalog.format('ALTER EXTENSION pg_trickle ADD TABLE %s', t);
    END LOOP;
END
$adopt$;

-- health_check: IMMEDIATE stream tables are never stale, state tables are not buffers,
-- restored stream tables waiting for their primary key are reported.
CREATE OR REPLACE FUNCTION pgtrickle.health_check()
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

-- The operator tree the extension's frontend builds for a query, for the sidecar's
-- frontend's tests (ADR-079).
CREATE FUNCTION pgtrickle."_operator_tree"("query" TEXT) RETURNS TEXT
    VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', '_operator_tree_wrapper';
