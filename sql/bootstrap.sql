-- pg_trickle catalog: schemas, tables and event triggers.
-- Runs first in the extension script (pgrx `bootstrap`); functions implemented in Rust follow.

CREATE SCHEMA IF NOT EXISTS pgtrickle_changes;
COMMENT ON SCHEMA pgtrickle_changes IS 'pg_trickle change buffers (one table per source relation)';

-- Min/max BRIN summaries of xid8, for the change buffers' __pgt_xid index (ADR-001).
-- PostgreSQL has B-tree and hash operator classes for xid8 but no BRIN one; this is the
-- standard min/max class over xid8's own comparison operators.
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

GRANT USAGE ON SCHEMA pgtrickle TO PUBLIC;
-- Names in pgtrickle_changes may be looked up by anyone (they are in pg_class anyway); a
-- stream table's owner gets SELECT on the buffers it reads, and row-level security shows
-- their rows only while it may read the source (ADR-014).
GRANT USAGE ON SCHEMA pgtrickle_changes TO PUBLIC;

-- One row per stream table. pgt_relid is the source of truth for identity; pgt_schema and
-- pgt_name follow renames at lookup time.
CREATE TABLE pgtrickle.pgt_stream_tables (
    pgt_id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pgt_relid               oid NOT NULL UNIQUE,
    pgt_schema              name NOT NULL,
    pgt_name                name NOT NULL,
    original_query          text NOT NULL,
    defining_query          text NOT NULL,
    schedule                text,
    refresh_mode            text NOT NULL DEFAULT 'AUTO'
                            CHECK (refresh_mode IN ('FULL', 'DIFFERENTIAL', 'AUTO', 'IMMEDIATE')),
    effective_refresh_mode  text NOT NULL DEFAULT 'FULL'
                            CHECK (effective_refresh_mode IN ('FULL', 'DIFFERENTIAL')),
    refresh_mode_reason     text,
    status                  text NOT NULL DEFAULT 'ACTIVE'
                            CHECK (status IN ('ACTIVE', 'SUSPENDED', 'ERROR')),
    status_reason           text,
    is_populated            boolean NOT NULL DEFAULT false,
    data_timestamp          timestamptz,
    last_refresh_at         timestamptz,
    consecutive_errors      integer NOT NULL DEFAULT 0,
    -- "name type [NOT NULL]" of every storage column (user and hidden), in order: DDL on
    -- the storage table that changes it is refused (see _on_source_ddl).
    storage_columns         text[] NOT NULL DEFAULT '{}',
    -- "name=value" of the session settings the defining query was analyzed under (DateStyle,
    -- TimeZone, …): every refresh parses and evaluates it under exactly these (ADR-076).
    pinned_settings         text[] NOT NULL DEFAULT '{}',
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    -- Set when the row arrived through pg_restore (or psql running a dump) rather than from
    -- create_stream_table; NULL again once pg_trickle has re-created its dependencies and
    -- change capture in this database (ADR-064).
    restored_at             timestamptz
);
COMMENT ON TABLE pgtrickle.pgt_stream_tables IS 'pg_trickle: one row per stream table';

-- pg_dump dumps these rows (not the other catalog tables: dependencies, capture state and
-- history are rebuilt, or belong to the old database). Change buffers and state tables are
-- members of the extension, so they are not dumped; pg_trickle's triggers on sources are
-- internal triggers, which pg_dump skips (ADR-064).
SELECT pg_catalog.pg_extension_config_dump('pgtrickle.pgt_stream_tables', '');

-- A row inserted by anything but pg_trickle itself comes from a restore: bind it to the
-- storage table of that name in this database, and mark it for re-creating its change
-- capture (done as soon as the storage table's own triggers are restored too).
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

-- What each stream table reads.
CREATE TABLE pgtrickle.pgt_dependencies (
    pgt_id          bigint NOT NULL REFERENCES pgtrickle.pgt_stream_tables (pgt_id) ON DELETE CASCADE,
    source_relid    oid NOT NULL,
    source_schema   name NOT NULL,
    source_name     name NOT NULL,
    source_type     text NOT NULL
                    CHECK (source_type IN ('TABLE', 'PARTITIONED_TABLE', 'VIEW', 'MATERIALIZED_VIEW',
                                           'FOREIGN_TABLE', 'STREAM_TABLE')),
    columns_used    text[] NOT NULL DEFAULT '{}',
    -- "name type" of each used column at creation, to notice DDL that changes them.
    columns_signature text[] NOT NULL DEFAULT '{}',
    -- The frontier: what an incrementally maintained stream table has consumed from this
    -- source's change buffer (see crates/pgt_cdc). NULL until its first refresh.
    frontier_snapshot   pg_snapshot,
    frontier_xid        xid8,
    frontier_change_id  bigint,
    PRIMARY KEY (pgt_id, source_relid)
);
CREATE INDEX pgt_dependencies_source_idx ON pgtrickle.pgt_dependencies (source_relid);
COMMENT ON TABLE pgtrickle.pgt_dependencies IS 'pg_trickle: the source relations (and columns) each stream table reads';

-- How each source's changes are captured (ADR-002): TRIGGER (statement triggers write the
-- buffer), TRANSITIONING (being handed over to logical decoding), WAL (the scheduler and
-- every refresh drain the database's slot into the same buffer). One row per source with
-- a change buffer; reason says why a source stays on or went back to triggers.
CREATE TABLE pgtrickle.pgt_capture (
    source_relid    oid PRIMARY KEY,
    mode            text NOT NULL DEFAULT 'TRIGGER' CHECK (mode IN ('TRIGGER', 'TRANSITIONING', 'WAL')),
    reason          text,
    -- WAL: transactions committed at or before this LSN were captured by the triggers.
    handover_lsn    pg_lsn,
    since           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pgtrickle.pgt_capture IS 'pg_trickle: how each source''s changes are captured';

-- The database's logical decoding state (at most one row). Its row lock serializes every
-- drain of the slot: a refresh of a stream table with WAL-captured sources holds it until
-- it commits (ADR-002).
CREATE TABLE pgtrickle.pgt_wal_decoder (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    slot_name       name NOT NULL,
    -- Every transaction committed at or before this LSN is in the buffers.
    decoded_lsn     pg_lsn NOT NULL,
    last_drain_at   timestamptz,
    last_error      text,
    failing_since   timestamptz
);
-- The publication pgoutput decodes WAL-captured sources through (ADR-002) is created with
-- the first stream table (src/wal.rs, `ensure_publication`), before any slot: a slot
-- decodes WAL written after its creation, and a publication created later would be
-- missing at the start of that WAL (pgoutput warns and skips it there). Not here: pg_dump
-- dumps publications (they cannot be extension members), and a restore would then create
-- it twice.

COMMENT ON TABLE pgtrickle.pgt_wal_decoder IS 'pg_trickle: the logical replication slot draining WAL-captured sources';

-- Change buffers are unlogged tables unless pg_trickle.unlogged_change_buffers is off
-- (ADR-078). A crash, a promotion or a restored base backup leaves every unlogged table
-- empty, this one-row table too: while it is empty, unlogged buffers may have lost rows,
-- and the next refresh of any stream table makes every one reading such a buffer
-- recompute in full (src/cdc.rs, `forget_lost_buffers`), then puts the row back.
CREATE UNLOGGED TABLE pgtrickle.pgt_buffers_intact (
    intact          boolean PRIMARY KEY DEFAULT true CHECK (intact)
);
INSERT INTO pgtrickle.pgt_buffers_intact DEFAULT VALUES;
COMMENT ON TABLE pgtrickle.pgt_buffers_intact IS 'pg_trickle: empty after a crash emptied the unlogged change buffers';

-- "name type [NOT NULL]" of every column of a relation, in order (see storage_columns).
CREATE FUNCTION pgtrickle._storage_signature(rel oid) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                              || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END ORDER BY a.attnum), '{}')
      FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- "name type [COLLATE coll] [GENERATED …]" of one column of a source, as recorded in
-- pgt_dependencies.columns_signature and compared after DDL: a change of type, typmod,
-- collation or generation expression of a used column is noticed.
CREATE FUNCTION pgtrickle._column_signature(rel oid, att smallint) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                   THEN ' COLLATE ' || (SELECT format('%I.%I', n.nspname, c.collname) FROM pg_collation c
                                          JOIN pg_namespace n ON n.oid = c.collnamespace WHERE c.oid = a.attcollation)
                   ELSE '' END
           || CASE a.attgenerated WHEN 's' THEN ' GENERATED STORED ' WHEN 'v' THEN ' GENERATED VIRTUAL ' ELSE '' END
           || coalesce((SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
                         WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.attgenerated <> ''), '')
      FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = rel AND a.attnum = att
$$;

-- Every refresh, successful or not.
CREATE TABLE pgtrickle.pgt_refresh_history (
    refresh_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pgt_id          bigint NOT NULL REFERENCES pgtrickle.pgt_stream_tables (pgt_id) ON DELETE CASCADE,
    action          text NOT NULL CHECK (action IN ('FULL', 'DIFFERENTIAL')),
    -- SKIPPED: the scheduler could not take its locks within pg_trickle.lock_timeout and
    -- retries on a later tick (not counted as an error).
    status          text NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED', 'FAILED', 'SKIPPED')),
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    rows_inserted   bigint NOT NULL DEFAULT 0,
    rows_deleted    bigint NOT NULL DEFAULT 0,
    error_message   text,
    reason          text,
    initiated_by    text NOT NULL CHECK (initiated_by IN ('CREATE', 'MANUAL', 'SCHEDULER', 'IMMEDIATE')),
    -- Source changes an incremental refresh consumed (0 for FULL): with the durations, the
    -- input of AUTO's cost model (ADR-043).
    changes         bigint NOT NULL DEFAULT 0,
    -- Milliseconds of the duration spent on work a later refresh in the same session does
    -- not repeat (translating the query, planning the kept delta statement). The cost model
    -- compares durations without it.
    setup_ms        double precision NOT NULL DEFAULT 0,
    -- AUTO stopped its first incremental attempt on probation after this many milliseconds
    -- (less the attempt's planning)
    -- (pgt_core::cost::probation_ms) and recomputed in full; changes then counts what the
    -- attempt would have applied. A lower bound of the incremental cost for the model.
    abandoned_delta_ms double precision
);
CREATE INDEX pgt_refresh_history_pgt_idx ON pgtrickle.pgt_refresh_history (pgt_id, started_at);
COMMENT ON TABLE pgtrickle.pgt_refresh_history IS 'pg_trickle: one row per refresh of a stream table';

-- Readable by everyone, except the texts that can carry source data (an error message
-- quotes the value it failed on): pgt_stream_tables.status_reason and
-- pgt_refresh_history.error_message. The monitoring views show them only to roles that may
-- read the stream table and every one of its sources (see _may_see_details, ADR-074).
GRANT SELECT ON pgtrickle.pgt_dependencies TO PUBLIC;
GRANT SELECT ON pgtrickle.pgt_capture, pgtrickle.pgt_wal_decoder, pgtrickle.pgt_buffers_intact TO PUBLIC;
GRANT SELECT (pgt_id, pgt_relid, pgt_schema, pgt_name, original_query, defining_query, schedule,
              refresh_mode, effective_refresh_mode, refresh_mode_reason, status, is_populated,
              data_timestamp, last_refresh_at, consecutive_errors, storage_columns, pinned_settings, created_at, updated_at,
              restored_at)
    ON pgtrickle.pgt_stream_tables TO PUBLIC;
GRANT SELECT (refresh_id, pgt_id, action, status, started_at, ended_at, rows_inserted, rows_deleted,
              reason, initiated_by, changes, setup_ms, abandoned_delta_ms)
    ON pgtrickle.pgt_refresh_history TO PUBLIC;

-- A plain DROP TABLE of a stream table removes its catalog rows (dependencies and history
-- cascade). Dropping a source marks the stream tables that read it as ERROR, naming it.
-- SECURITY DEFINER: event triggers fire for every role's DDL, and a role that may drop its
-- own tables must not need (or get) write access to pg_trickle's catalog. Everything inside
-- is schema-qualified and search_path is pinned, so the caller cannot redirect any name.
CREATE FUNCTION pgtrickle._on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Dropping pg_trickle's own triggers or buffers while they are in use is refused.
    PERFORM pgtrickle._check_sql_drop();

    DELETE FROM pgtrickle.pgt_stream_tables st
     USING pg_event_trigger_dropped_objects() d
     WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0 AND d.objid = st.pgt_relid;

    UPDATE pgtrickle.pgt_stream_tables st
       SET status = 'ERROR',
           status_reason = format('source relation %s was dropped', d.object_identity),
           updated_at = now()
      FROM pgtrickle.pgt_dependencies dep, pg_event_trigger_dropped_objects() d
     WHERE dep.pgt_id = st.pgt_id
       AND d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
       AND d.objid = dep.source_relid;

    -- Change capture that no stream table needs any more goes away.
    PERFORM pgtrickle._drop_unused_capture();
END
$$;

CREATE EVENT TRIGGER pgt_sql_drop ON sql_drop EXECUTE FUNCTION pgtrickle._on_sql_drop();
