//! `ALTER EXTENSION pg_trickle UPDATE` from the previous release (its install script is kept
//! in `sql/releases/`): the updated schema equals a fresh install's (functions with their
//! signatures and settings, tables and columns, indexes, views, triggers, event triggers,
//! operator classes, privileges, extension members and configuration tables), and change
//! capture set up the previous release's way is migrated. Objects pg_trickle creates per
//! stream table or per database at run time (buffers, state tables — extension members
//! since 0.2.0 — and the publication, created with the first stream table) are compared
//! separately: the migration must have adopted every buffer and hidden every capture
//! trigger (ADR-064).

use std::collections::BTreeSet;

use pgt_testkit::postgres::Client;
use pgt_testkit::{cluster, refresh_and_assert};

/// The previous release and the current one.
const PREVIOUS: &str = "0.1.0";
const CURRENT: &str = env!("CARGO_PKG_VERSION");

/// One line per object of the extension's schemas, describing everything an upgrade
/// script can forget.
fn schema_signature(c: &mut Client) -> BTreeSet<String> {
    let queries = [
        // Functions: signature, result, language, symbol or body, security, settings, rights.
        "SELECT 'function ' || p.oid::regprocedure::text || ' -> ' || pg_get_function_result(p.oid)
                || ' ' || l.lanname || ' ' || md5(p.prosrc) || ' secdef=' || p.prosecdef::text || ' vol=' || p.provolatile::text
                || ' strict=' || p.proisstrict::text || ' config=' || coalesce(p.proconfig::text, '') || ' acl=' || coalesce(p.proacl::text, '')
           FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
          WHERE p.pronamespace IN ('pgtrickle'::regnamespace, 'pgtrickle_changes'::regnamespace)",
        // Tables, views, sequences, indexes: kind, rights, options.
        "SELECT 'relation ' || c.oid::regclass::text || ' kind=' || c.relkind::text || ' acl=' || coalesce(c.relacl::text, '')
                || ' options=' || coalesce(c.reloptions::text, '') || ' persistence=' || c.relpersistence::text
           FROM pg_class c WHERE c.relnamespace IN ('pgtrickle'::regnamespace, 'pgtrickle_changes'::regnamespace)",
        "SELECT 'column ' || c.oid::regclass::text || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                || ' notnull=' || a.attnotnull::text || ' identity=' || a.attidentity::text || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
                || ' acl=' || coalesce(a.attacl::text, '')
           FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
          WHERE c.relnamespace IN ('pgtrickle'::regnamespace, 'pgtrickle_changes'::regnamespace)",
        "SELECT 'index ' || pg_get_indexdef(i.indexrelid)
           FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
          WHERE c.relnamespace IN ('pgtrickle'::regnamespace, 'pgtrickle_changes'::regnamespace)",
        "SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
           FROM pg_constraint WHERE connamespace IN ('pgtrickle'::regnamespace, 'pgtrickle_changes'::regnamespace)",
        "SELECT 'view ' || c.oid::regclass::text || ' ' || md5(pg_get_viewdef(c.oid))
           FROM pg_class c WHERE c.relkind = 'v' AND c.relnamespace = 'pgtrickle'::regnamespace",
        "SELECT 'trigger ' || t.tgrelid::regclass::text || ' ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
           FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          WHERE NOT t.tgisinternal AND c.relnamespace IN ('pgtrickle'::regnamespace, 'pgtrickle_changes'::regnamespace)",
        "SELECT 'event trigger ' || evtname || ' on ' || evtevent || ' tags=' || coalesce(evttags::text, '')
                || ' fn=' || evtfoid::regprocedure::text || ' enabled=' || evtenabled::text
           FROM pg_event_trigger",
        "SELECT 'opclass ' || o.opcname || ' ' || am.amname || ' ' || format_type(o.opcintype, NULL)
           FROM pg_opclass o JOIN pg_am am ON am.oid = o.opcmethod WHERE o.opcnamespace = 'pgtrickle'::regnamespace",
        "SELECT 'member ' || pg_describe_object(classid, objid, objsubid) FROM pg_depend
          WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
            AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_trickle')
            AND NOT (classid = 'pg_class'::regclass
                     AND (SELECT relnamespace FROM pg_class WHERE oid = objid) = 'pgtrickle_changes'::regnamespace)",
        "SELECT 'config ' || coalesce(extconfig::regclass[]::text, '') || ' ' || coalesce(extcondition::text, '')
           FROM pg_extension WHERE extname = 'pg_trickle'",
    ];
    let mut out = BTreeSet::new();
    for q in queries {
        for r in c.query(q, &[]).unwrap() {
            out.insert(r.get::<_, String>(0));
        }
    }
    out
}

#[test]
fn an_update_from_the_previous_release_equals_a_fresh_install_and_migrates_capture() {
    let cl = cluster();
    let mut admin = cl.connect("postgres").unwrap();
    // The previous release's install script, as it was released.
    let sharedir: String = admin
        .query_one("SELECT setting FROM pg_config WHERE name = 'SHAREDIR'", &[])
        .unwrap()
        .get(0);
    let script = format!("pg_trickle--{PREVIOUS}.sql");
    std::fs::copy(
        format!("{}/sql/releases/{script}", env!("CARGO_MANIFEST_DIR")),
        format!("{sharedir}/extension/{script}"),
    )
    .unwrap();
    let name = format!("pgt_upgrade_{}", std::process::id());
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
        .unwrap();
    {
        let mut c = cl.connect(&name).unwrap();
        c.batch_execute(&format!("CREATE EXTENSION pg_trickle VERSION '{PREVIOUS}'"))
            .unwrap();
        // Change capture as the previous release set it up for a source: a buffer with a
        // B-tree index, a PL/pgSQL capture function, four triggers running it.
        c.batch_execute(
            "CREATE TABLE src (id int, v text);
             INSERT INTO src VALUES (1, 'a'), (2, 'b');
             SET event_triggers = off;
             DO $do$ DECLARE o text := 'src'::regclass::oid::text; BEGIN
               EXECUTE format('CREATE TABLE pgtrickle_changes.%I (__pgt_change_id bigint GENERATED ALWAYS AS IDENTITY, __pgt_xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(), __pgt_op \"char\" NOT NULL, id integer, v text)', 'changes_' || o);
               EXECUTE format('CREATE INDEX %I ON pgtrickle_changes.%I (__pgt_xid)', 'changes_' || o || '_xid_idx', 'changes_' || o);
               EXECUTE format($f$CREATE FUNCTION pgtrickle_changes.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $b$
                 BEGIN INSERT INTO pgtrickle_changes.%I (__pgt_op, id, v) SELECT 'I', id, v FROM __pgt_new; RETURN NULL; END $b$$f$, 'capture_' || o, 'changes_' || o);
               EXECUTE format('CREATE TRIGGER __pgt_cdc_ins AFTER INSERT ON src REFERENCING NEW TABLE AS __pgt_new FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle_changes.%I()', 'capture_' || o);
               EXECUTE format('CREATE TRIGGER __pgt_cdc_upd AFTER UPDATE ON src REFERENCING OLD TABLE AS __pgt_old NEW TABLE AS __pgt_new FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle_changes.%I()', 'capture_' || o);
               EXECUTE format('CREATE TRIGGER __pgt_cdc_del AFTER DELETE ON src REFERENCING OLD TABLE AS __pgt_old FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle_changes.%I()', 'capture_' || o);
               EXECUTE format('CREATE TRIGGER __pgt_cdc_trunc AFTER TRUNCATE ON src FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle_changes.%I()', 'capture_' || o);
             END $do$;
             RESET event_triggers;",
        )
        .unwrap();
        c.batch_execute("ALTER EXTENSION pg_trickle UPDATE")
            .unwrap();
        let version: String = c
            .query_one(
                "SELECT extversion FROM pg_extension WHERE extname = 'pg_trickle'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(version, CURRENT);
        // The source's capture runs the C function now, enabled always, and its buffer has
        // the BRIN index; the per-source function is gone.
        let triggers: Vec<(String, String, String)> = c
            .query(
                "SELECT t.tgname::text, t.tgfoid::regproc::text, t.tgenabled::text FROM pg_trigger t
                  WHERE t.tgrelid = 'src'::regclass ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        assert_eq!(triggers.len(), 4, "{triggers:?}");
        assert!(
            triggers
                .iter()
                .all(|(_, f, e)| f == "pgtrickle._capture_changes" && e == "A"),
            "{triggers:?}"
        );
        let leftovers: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgtrickle_changes'::regnamespace",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(leftovers, 0);
        let am: String = c
            .query_one(
                "SELECT am.amname::text FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am am ON am.oid = x.relam
                  WHERE i.indrelid = ('pgtrickle_changes.changes_' || 'src'::regclass::oid)::regclass",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(am, "brin");
        // Buffers became extension members and capture triggers internal (ADR-064).
        let (adopted, hidden): (bool, i64) = {
            let r = c
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
                                      AND d.objid = ('pgtrickle_changes.changes_' || 'src'::regclass::oid)::regclass),
                            (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'src'::regclass AND tgname LIKE '\\_\\_pgt\\_cdc\\_%' AND tgisinternal)",
                    &[],
                )
                .unwrap();
            (r.get(0), r.get(1))
        };
        assert!(adopted);
        assert_eq!(hidden, 4);
        // The migrated capture writes into the buffer, and stream tables work as usual.
        c.batch_execute("DELETE FROM src WHERE id = 1; INSERT INTO src VALUES (3, 'c');")
            .unwrap();
        let oid: String = c
            .query_one("SELECT 'src'::regclass::oid::text", &[])
            .unwrap()
            .get(0);
        let buffered: i64 = c
            .query_one(
                &format!("SELECT count(*) FROM pgtrickle_changes.changes_{oid}"),
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(buffered, 2);
        c.batch_execute(
            "DROP TABLE src CASCADE;
             CREATE TABLE s2 (id int PRIMARY KEY, g int, v numeric);
             INSERT INTO s2 SELECT i, i % 3, i FROM generate_series(1, 30) i;
             SELECT pgtrickle.create_stream_table('agg', 'SELECT g, count(*) AS n, sum(v) AS s FROM s2 GROUP BY g', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('over', 'SELECT g, n FROM agg WHERE n > 5', refresh_mode => 'DIFFERENTIAL');
             UPDATE s2 SET g = 0 WHERE id < 10; DELETE FROM s2 WHERE id > 25;",
        )
        .unwrap();
        refresh_and_assert(&mut c, &["agg", "over"]);
        // Same objects as a fresh install, once the migrated source is gone.
        let fresh_db = cl.new_database();
        let mut fresh = fresh_db.client();
        c.batch_execute("SELECT pgtrickle.drop_stream_table('over'); SELECT pgtrickle.drop_stream_table('agg'); DROP TABLE s2;")
            .unwrap();
        let upgraded = schema_signature(&mut c);
        let installed = schema_signature(&mut fresh);
        let missing: Vec<_> = installed.difference(&upgraded).collect();
        let extra: Vec<_> = upgraded.difference(&installed).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "the update differs from a fresh install:\n  missing after the update: {missing:#?}\n  only after the update: {extra:#?}"
        );
    }
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .unwrap();
}
