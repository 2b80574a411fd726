//! Hostile roles against pg_trickle (ADR-074): objects planted in `public` never run inside
//! pg_trickle's SQL, code a source owner controls (domain checks, defaults, triggers) only
//! ever runs as that owner, pg_trickle's own objects cannot be disabled, renamed or dropped
//! behind its back, and stream tables refuse DDL and replica-role writes.
//!
//! Every planted or user-owned function records `current_user` into a log table; the tests
//! read the log, so "nothing ran with raised rights" is observed, not assumed.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{
    assert_stream_table_matches_query, change_buffer, cluster, expect_sql_error, TestDb,
};

/// A database plus role names unique to it (roles are cluster-wide; tests run in parallel).
fn setup(roles: &[&str]) -> (TestDb, Client, Vec<String>) {
    let db = cluster().new_database();
    let mut c = db.client();
    let dbname: String = c
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    let names: Vec<String> = roles.iter().map(|r| format!("{dbname}_{r}")).collect();
    for n in &names {
        c.batch_execute(&format!("CREATE ROLE {n} NOLOGIN"))
            .unwrap();
    }
    (db, c, names)
}

fn drop_roles(c: &mut Client, roles: &[String]) {
    c.batch_execute("RESET ROLE; RESET search_path;").unwrap();
    for r in roles {
        c.batch_execute(&format!("DROP OWNED BY {r} CASCADE; DROP ROLE {r};"))
            .unwrap();
    }
}

/// (operator, left type, right type, the built-in function it shadows)
const SHADOWED_OPERATORS: &[(&str, &str, &str, &str)] = &[
    ("=", "bigint", "bigint", "int8eq"),
    ("<>", "bigint", "bigint", "int8ne"),
    ("<", "bigint", "bigint", "int8lt"),
    (">", "bigint", "bigint", "int8gt"),
    ("<=", "bigint", "bigint", "int8le"),
    (">=", "bigint", "bigint", "int8ge"),
    ("+", "bigint", "bigint", "int8pl"),
    ("-", "bigint", "bigint", "int8mi"),
    ("*", "bigint", "bigint", "int8mul"),
    ("=", "integer", "integer", "int4eq"),
    ("<>", "integer", "integer", "int4ne"),
    ("+", "integer", "integer", "int4pl"),
    (">", "integer", "integer", "int4gt"),
    ("=", "numeric", "numeric", "numeric_eq"),
    ("<>", "numeric", "numeric", "numeric_ne"),
    (">", "numeric", "numeric", "numeric_gt"),
    ("<", "numeric", "numeric", "numeric_lt"),
    (">=", "numeric", "numeric", "numeric_ge"),
    ("+", "numeric", "numeric", "numeric_add"),
    ("-", "numeric", "numeric", "numeric_sub"),
    ("*", "numeric", "numeric", "numeric_mul"),
    ("=", "text", "text", "texteq"),
    ("<>", "text", "text", "textne"),
    ("||", "text", "text", "textcat"),
    ("=", "\"char\"", "\"char\"", "chareq"),
    ("<>", "\"char\"", "\"char\"", "charne"),
    ("=", "boolean", "boolean", "booleq"),
    ("=", "bytea", "bytea", "byteaeq"),
    ("=", "xid8", "xid8", "xid8eq"),
    ("<>", "xid8", "xid8", "xid8ne"),
    ("=", "oid", "oid", "oideq"),
];

/// Plants, as `evil`, operators (also for the enum type `mood`, owned by another role),
/// aggregates, functions and catalog look-alikes in `public`, each logging into
/// `public.evil_log` when it runs.
fn plant(c: &mut Client, evil: &str, mood: &str) {
    let mut sql = format!(
        "GRANT CREATE ON SCHEMA public TO {evil};
         SET ROLE {evil};
         CREATE TABLE public.evil_log (who text, what text);
         GRANT INSERT, SELECT ON public.evil_log TO PUBLIC;
         CREATE FUNCTION public.evil_mark(what text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
         BEGIN INSERT INTO public.evil_log VALUES (current_user, what); RETURN true; END $$;
         GRANT EXECUTE ON FUNCTION public.evil_mark(text) TO PUBLIC;
         CREATE FUNCTION public.evil_int8um(bigint) RETURNS bigint LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('int8um'); RETURN pg_catalog.int8um($1); END $$;
         CREATE OPERATOR public.- (RIGHTARG = bigint, FUNCTION = public.evil_int8um);
         CREATE FUNCTION public.evil_enum_eq({mood}, {mood}) RETURNS boolean LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('enum_eq'); RETURN pg_catalog.enum_eq($1, $2); END $$;
         CREATE OPERATOR public.= (LEFTARG = {mood}, RIGHTARG = {mood}, FUNCTION = public.evil_enum_eq);
         CREATE FUNCTION public.evil_sf8(bigint) RETURNS bigint LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('count(*)'); RETURN $1 OPERATOR(pg_catalog.+) 1; END $$;
         CREATE AGGREGATE public.count(*) (SFUNC = public.evil_sf8, STYPE = bigint, INITCOND = '0');
         CREATE FUNCTION public.evil_sfn(numeric, numeric) RETURNS numeric LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('sum/max(numeric)'); RETURN $2; END $$;
         CREATE AGGREGATE public.sum(numeric) (SFUNC = public.evil_sfn, STYPE = numeric);
         CREATE AGGREGATE public.max(numeric) (SFUNC = public.evil_sfn, STYPE = numeric);
         CREATE AGGREGATE public.min(numeric) (SFUNC = public.evil_sfn, STYPE = numeric);
         CREATE FUNCTION public.evil_sfb(bigint, bigint) RETURNS bigint LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('sum(bigint)'); RETURN $2; END $$;
         CREATE AGGREGATE public.sum(bigint) (SFUNC = public.evil_sfb, STYPE = bigint);
         CREATE FUNCTION public.evil_sfi(bigint, integer) RETURNS bigint LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('sum(integer)'); RETURN $2; END $$;
         CREATE AGGREGATE public.sum(integer) (SFUNC = public.evil_sfi, STYPE = bigint);
         CREATE FUNCTION public.evil_sfbool(boolean, boolean) RETURNS boolean LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('bool_or'); RETURN $2; END $$;
         CREATE AGGREGATE public.bool_or(boolean) (SFUNC = public.evil_sfbool, STYPE = boolean);
         CREATE FUNCTION public.pg_visible_in_snapshot(xid8, pg_snapshot) RETURNS boolean LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('pg_visible_in_snapshot'); RETURN true; END $$;
         CREATE FUNCTION public.record_send(record) RETURNS bytea LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('record_send'); RETURN '\\x00'::bytea; END $$;
         CREATE FUNCTION public.pg_trickle_hash(bytea) RETURNS bigint LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('pg_trickle_hash'); RETURN 0; END $$;
         CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('lower'); RETURN $1; END $$;
         CREATE FUNCTION public.format_type(oid, integer) RETURNS text LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('format_type'); RETURN 'text'; END $$;
         CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('now'); RETURN pg_catalog.now(); END $$;
         CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('clock_timestamp'); RETURN pg_catalog.clock_timestamp(); END $$;
         CREATE FUNCTION public.pg_current_snapshot() RETURNS pg_snapshot LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('pg_current_snapshot'); RETURN pg_catalog.pg_current_snapshot(); END $$;
         CREATE FUNCTION public.set_config(text, text, boolean) RETURNS text LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('set_config'); RETURN pg_catalog.set_config($1, $2, $3); END $$;
         CREATE FUNCTION public.to_regclass(text) RETURNS regclass LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('to_regclass'); RETURN pg_catalog.to_regclass($1); END $$;
         CREATE FUNCTION public.generate_series(bigint, bigint) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.evil_mark('generate_series'); RETURN QUERY SELECT * FROM pg_catalog.generate_series($1, $2); END $$;
         CREATE TABLE public.pgt_stream_tables (pgt_id bigint);
         CREATE TABLE public.pgt_dependencies (pgt_id bigint);
         CREATE TABLE public.text (x int);
"
    );
    for (i, (op, l, r, f)) in SHADOWED_OPERATORS.iter().enumerate() {
        let ret = if ["+", "-", "*"].contains(op) {
            l.to_string()
        } else if *op == "||" {
            "text".to_string()
        } else {
            "boolean".to_string()
        };
        sql.push_str(&format!(
            "CREATE FUNCTION public.evil_op_{i}({l}, {r}) RETURNS {ret} LANGUAGE plpgsql AS $$
             BEGIN PERFORM public.evil_mark('{op} ({l}, {r})'); RETURN pg_catalog.{f}($1, $2); END $$;
             CREATE OPERATOR public.{op} (LEFTARG = {l}, RIGHTARG = {r}, FUNCTION = public.evil_op_{i});\n"
        ));
    }
    for cat in [
        "pg_class",
        "pg_namespace",
        "pg_trigger",
        "pg_type",
        "pg_proc",
        "pg_roles",
        "pg_stat_activity",
        "pg_database",
        "pg_collation",
    ] {
        sql.push_str(&format!(
            "CREATE VIEW public.{cat} AS SELECT x.* FROM pg_catalog.{cat} x WHERE public.evil_mark('view {cat}');\n"
        ));
    }
    sql.push_str(
        "CREATE VIEW public.pg_attribute AS SELECT x.attrelid, x.attname, x.atttypid, x.atttypmod, x.attnum, x.attisdropped, \
                x.attnotnull, x.attcollation, x.attgenerated FROM pg_catalog.pg_attribute x WHERE public.evil_mark('view pg_attribute');
         RESET ROLE;",
    );
    c.batch_execute(&sql).unwrap();
}

fn evil_log(c: &mut Client) -> Vec<String> {
    c.batch_execute("RESET ROLE; RESET search_path;").unwrap();
    c.query("SELECT who || ': ' || what FROM public.evil_log", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn planted_objects_in_public_never_run_in_pg_trickle_sql() {
    let (_db, mut c, roles) = setup(&["evil", "app"]);
    let (evil, app) = (roles[0].clone(), roles[1].clone());
    c.batch_execute(&format!(
        "CREATE SCHEMA app AUTHORIZATION {app};
         SET ROLE {app};
         CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
         CREATE TABLE app.orders (id bigint PRIMARY KEY, cust int, amount numeric(10,2), price numeric,
                                  note text, mood app.mood, flag boolean);
         CREATE TABLE app.customers (id int PRIMARY KEY, region text);
         INSERT INTO app.customers SELECT i, 'r' || (i % 3) FROM generate_series(1, 6) i;
         INSERT INTO app.orders SELECT i, 1 + i % 6, i * 1.5, i, 'n' || (i % 4),
                (ARRAY['sad', 'ok', 'happy'])[1 + i % 3]::app.mood, i % 2 = 0
           FROM generate_series(1, 40) i;
         GRANT USAGE ON SCHEMA app TO {evil};
         RESET ROLE;"
    ))
    .unwrap();
    let tables = [
        ("public.by_region", "SELECT c.region, count(*) AS n, sum(o.amount) AS total, sum(o.price) AS p, avg(o.amount) AS a, min(o.note) AS lo, max(o.amount) AS hi, sum(o.cust) AS sc, sum(o.id) AS si FROM app.orders o JOIN app.customers c ON c.id = o.cust GROUP BY c.region", "DIFFERENTIAL"),
        ("public.happy", "SELECT id, note FROM app.orders WHERE mood = 'happy' AND amount > 10", "DIFFERENTIAL"),
        ("public.kinds", "SELECT DISTINCT mood, flag FROM app.orders", "DIFFERENTIAL"),
        ("public.both", "SELECT id FROM app.orders UNION ALL SELECT id FROM app.customers", "DIFFERENTIAL"),
        ("public.keyed", "SELECT o.id, o.note, c.region FROM app.orders o JOIN app.customers c ON c.id = o.cust", "DIFFERENTIAL"),
        ("public.full_copy", "SELECT o.id + 1 AS nid, o.note || 'x' AS n2 FROM app.orders o WHERE o.id <> 3", "FULL"),
        ("public.auto_agg", "SELECT mood, count(*) AS n FROM app.orders GROUP BY mood", "AUTO"),
    ];
    for (name, q, mode) in tables {
        c.batch_execute(&format!(
            "SELECT pgtrickle.create_stream_table('{name}', $q${q}$q$, refresh_mode => '{mode}')"
        ))
        .unwrap();
    }
    // Plant after creation (a query analyzed under a hostile path would bind the planted
    // operators by the creator's own choice; that is PostgreSQL's rule for views too).
    plant(&mut c, &evil, "app.mood");
    assert!(
        c.query_one("SELECT count(*) FROM public.evil_log", &[])
            .unwrap()
            .get::<_, i64>(0)
            == 0
    );
    // Changes of every kind, written by the owner under the default path.
    for round in 0..3 {
        c.batch_execute(&format!(
            "SET ROLE {app};
             INSERT INTO app.orders VALUES ({a}, 2, 99.5, 7, 'new', 'happy', true), ({b}, 3, NULL, NULL, NULL, NULL, NULL);
             UPDATE app.orders SET amount = amount + 1, mood = 'ok' WHERE id % 7 = {round};
             DELETE FROM app.orders WHERE id % 11 = {round};
             UPDATE app.customers SET region = 'moved' WHERE id = {cu};
             RESET ROLE;",
            a = 1000 + round * 2,
            b = 1001 + round * 2,
            cu = 1 + round
        ))
        .unwrap();
        // Refreshes by a superuser under hostile search paths, and the monitoring surface.
        let path = match round {
            0 => "public, pg_catalog",
            1 => "\"$user\", public",
            _ => "public, pg_temp, pg_catalog",
        };
        c.batch_execute(&format!("SET search_path = {path}"))
            .unwrap();
        for (name, _, _) in tables {
            c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{name}')"))
                .unwrap();
        }
        c.batch_execute(
            "SELECT * FROM pgtrickle.health_check();
             SELECT * FROM pgtrickle.stream_tables_info;
             SELECT * FROM pgtrickle.pg_stat_stream_tables;
             SELECT * FROM pgtrickle.refresh_history('public.by_region');
             SELECT pgtrickle.alter_stream_table('public.happy', schedule => '2m');",
        )
        .unwrap();
        c.batch_execute("RESET search_path").unwrap();
    }
    // Creating, switching modes and dropping under a hostile path: pg_trickle's own SQL
    // (storage, capture, catalog) must not touch the planted objects either.
    c.batch_execute(
        "SET search_path = public, pg_catalog;
         SELECT pgtrickle.create_stream_table('public.plain_copy', 'SELECT id, note FROM app.orders', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.refresh_stream_table('public.plain_copy');
         SELECT pgtrickle.alter_stream_table('public.plain_copy', refresh_mode => 'FULL');
         SELECT pgtrickle.refresh_stream_table('public.plain_copy');
         SELECT pgtrickle.alter_stream_table('public.plain_copy', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.refresh_stream_table('public.plain_copy');
         SELECT pgtrickle.resume_stream_table('public.plain_copy');
         SELECT pgtrickle.drop_stream_table('public.plain_copy');
         RESET search_path;",
    )
    .unwrap();
    let log = evil_log(&mut c);
    assert!(log.is_empty(), "planted objects ran: {log:?}");
    for (name, _, _) in tables {
        assert_stream_table_matches_query(&mut c, name);
    }
    // Sanity: the planted objects are live — under the same hostile path, plain SQL hits them.
    c.batch_execute("SET search_path = public, pg_catalog; SELECT count(*) FROM app.orders WHERE id = 1::bigint; RESET search_path;")
        .unwrap();
    assert!(!evil_log(&mut c).is_empty(), "the plant is not effective");
    drop_roles(&mut c, &roles);
}

/// Code a source owner controls — domain CHECKs, column defaults, triggers — runs only as
/// that owner: never inside the capture trigger (SECURITY DEFINER), the DDL event trigger's
/// buffer re-sync, or a refresh. Each piece tries to make its owner SUPERUSER.
#[test]
fn source_owner_code_never_runs_with_raised_rights() {
    let (_db, mut c, roles) = setup(&["alice"]);
    let alice = roles[0].clone();
    c.batch_execute(&format!(
        "CREATE SCHEMA app AUTHORIZATION {alice};
         SET ROLE {alice};
         CREATE TABLE app.log (who text, what text);
         GRANT INSERT ON app.log TO PUBLIC;
         CREATE FUNCTION app.escalate(what text) RETURNS boolean LANGUAGE plpgsql AS $$
         BEGIN
             INSERT INTO app.log VALUES (current_user, what);
             BEGIN
                 EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', '{alice}');
             EXCEPTION WHEN OTHERS THEN NULL;
             END;
             RETURN true;
         END $$;
         GRANT EXECUTE ON FUNCTION app.escalate(text) TO PUBLIC;
         CREATE DOMAIN app.checked AS integer CHECK (app.escalate('domain check'));
         CREATE DOMAIN app.checked_big AS bigint CHECK (app.escalate('domain check (bigint)'));
         CREATE DOMAIN app.checked_nested AS app.checked CHECK (app.escalate('nested domain check'));
         CREATE TABLE app.src (id int PRIMARY KEY, v app.checked, n app.checked_nested,
                               d int DEFAULT (CASE WHEN app.escalate('default') THEN 0 END));
         CREATE FUNCTION app.trg() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM app.escalate('trigger'); RETURN NEW; END $$;
         CREATE TRIGGER t BEFORE INSERT OR UPDATE ON app.src FOR EACH ROW EXECUTE FUNCTION app.trg();
         INSERT INTO app.src (id, v, n) VALUES (1, 1, 1), (2, 2, 2), (3, NULL, NULL);
         RESET ROLE;"
    ))
    .unwrap();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('public.copy', 'SELECT id, v, n, d FROM app.src', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('public.groups', 'SELECT d, count(*) AS c, sum(n) AS s, max(v) AS m FROM app.src GROUP BY d', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('public.full_copy', 'SELECT id, v FROM app.src', refresh_mode => 'FULL');
         SELECT pgtrickle.create_stream_table('public.ids', 'SELECT id FROM app.src', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    // Domain-typed outputs are stored as their base type, so refreshes never evaluate the
    // domain's CHECK as the refreshing role.
    let ty: String = c
        .query_one("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'public.copy'::regclass AND attname = 'n'", &[])
        .unwrap()
        .get(0);
    assert_eq!(ty, "integer");
    // The owner writes (capture runs), alters the source with pending changes (the event
    // trigger re-syncs the buffer), and adds domain-typed columns.
    c.batch_execute(&format!(
        "SET ROLE {alice};
         INSERT INTO app.src (id, v, n) VALUES (10, 10, 10), (11, 11, NULL);
         UPDATE app.src SET v = v + 1 WHERE id = 1;
         DELETE FROM app.src WHERE id = 2;
         ALTER TABLE app.src ADD COLUMN w app.checked_big;
         UPDATE app.src SET w = 5 WHERE id = 10;
         ALTER TABLE app.src ALTER COLUMN w TYPE app.checked USING w::integer;
         INSERT INTO app.src (id, v, n, w) VALUES (12, 12, 12, 12);
         RESET ROLE;"
    ))
    .unwrap();
    for st in [
        "public.copy",
        "public.groups",
        "public.full_copy",
        "public.ids",
    ] {
        c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
            .unwrap();
        assert_stream_table_matches_query(&mut c, st);
    }
    // Now the owner changes the type of a column the stream tables use, with changes pending.
    c.batch_execute(&format!(
        "SET ROLE {alice};
         INSERT INTO app.src (id, v, n) VALUES (20, 20, 20);
         ALTER TABLE app.src ALTER COLUMN v TYPE app.checked_big;
         INSERT INTO app.src (id, v, n) VALUES (21, 21, 21);
         RESET ROLE;
         SELECT pgtrickle.refresh_stream_table('public.ids');"
    ))
    .unwrap();
    assert_stream_table_matches_query(&mut c, "public.ids");
    let (others, total): (i64, i64) = {
        let r = c
            .query_one(
                "SELECT count(*) FILTER (WHERE who <> $1), count(*) FROM app.log",
                &[&alice],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    let ran_as: Vec<String> = c
        .query(
            "SELECT DISTINCT who || ': ' || what FROM app.log WHERE who <> $1",
            &[&alice],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(others, 0, "owner code ran as another role: {ran_as:?}");
    assert!(total > 0, "the owner's code should have run (as its owner)");
    let superuser: bool = c
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = $1",
            &[&alice],
        )
        .unwrap()
        .get(0);
    assert!(!superuser, "{alice} made itself superuser");
    drop_roles(&mut c, &roles);
}

/// Capture triggers, change buffers, guard triggers and a stream table's columns cannot be
/// disabled, renamed, dropped or changed behind pg_trickle's back — not by the source's
/// owner, and not by a superuser either.
#[test]
fn pg_trickle_objects_cannot_be_tampered_with() {
    let (_db, mut c, roles) = setup(&["owner"]);
    let owner = roles[0].clone();
    c.batch_execute(&format!(
        "CREATE SCHEMA app AUTHORIZATION {owner};
         CREATE TABLE app.src (id int PRIMARY KEY, v int);
         INSERT INTO app.src SELECT i, i FROM generate_series(1, 10) i;
         ALTER TABLE app.src OWNER TO {owner};
         SELECT pgtrickle.create_stream_table('public.st', 'SELECT id, v FROM app.src', refresh_mode => 'DIFFERENTIAL');"
    ))
    .unwrap();
    let buffer: String = change_buffer(&mut c, "app.src");
    c.batch_execute(&format!("SET ROLE {owner}")).unwrap();
    use SqlState as S;
    // Capture triggers are internal triggers (ADR-064): PostgreSQL itself refuses to let
    // anyone but a superuser name them in ENABLE/DISABLE, or disable ALL triggers.
    let by_owner = [
        "ALTER TABLE app.src DISABLE TRIGGER __pgt_cdc_ins",
        "ALTER TABLE app.src DISABLE TRIGGER ALL",
        "ALTER TABLE app.src ENABLE TRIGGER __pgt_cdc_upd",
        "ALTER TABLE app.src ENABLE REPLICA TRIGGER __pgt_cdc_del",
    ];
    for sql in by_owner {
        expect_sql_error(
            &mut c,
            sql,
            S::INSUFFICIENT_PRIVILEGE,
            "is a system trigger",
        );
    }
    // … and DISABLE TRIGGER USER leaves them alone.
    c.batch_execute(
        "ALTER TABLE app.src DISABLE TRIGGER USER; ALTER TABLE app.src ENABLE TRIGGER USER",
    )
    .unwrap();
    let enabled: i64 = c
        .query_one("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'app.src'::regclass AND tgname LIKE '\\_\\_pgt\\_cdc\\_%' AND tgenabled = 'A' AND tgisinternal", &[])
        .unwrap()
        .get(0);
    assert_eq!(enabled, 4);
    expect_sql_error(
        &mut c,
        "ALTER TRIGGER __pgt_cdc_trunc ON app.src RENAME TO mine",
        S::OBJECT_NOT_IN_PREREQUISITE_STATE,
        "change capture trigger",
    );
    expect_sql_error(
        &mut c,
        "DROP TRIGGER __pgt_cdc_ins ON app.src",
        S::OBJECT_NOT_IN_PREREQUISITE_STATE,
        "cannot drop change capture trigger",
    );
    expect_sql_error(
        &mut c,
        "ALTER TABLE app.src ADD COLUMN __pgt_op text",
        S::RESERVED_NAME,
        "reserved for pg_trickle",
    );
    expect_sql_error(
        &mut c,
        "ALTER TABLE app.src RENAME COLUMN v TO __pgt_xid",
        S::RESERVED_NAME,
        "reserved for pg_trickle",
    );
    // Ordinary DDL of the owner still works.
    c.batch_execute("ALTER TABLE app.src ADD COLUMN note text; CREATE INDEX ON app.src (v); ALTER TABLE app.src DROP COLUMN note;")
        .unwrap();
    c.batch_execute("RESET ROLE").unwrap();
    // A superuser cannot tamper with buffers or stream tables either.
    let by_superuser = [
        (
            format!("ALTER TABLE {buffer} RENAME TO x"),
            S::INSUFFICIENT_PRIVILEGE,
            "change buffer",
        ),
        (
            format!("ALTER TABLE {buffer} SET SCHEMA public"),
            S::INSUFFICIENT_PRIVILEGE,
            "change buffer",
        ),
        (
            format!("ALTER TABLE {buffer} DROP COLUMN v"),
            S::INSUFFICIENT_PRIVILEGE,
            "change buffer",
        ),
        (
            // Buffers are members of the extension (ADR-064): PostgreSQL refuses first.
            format!("DROP TABLE {buffer}"),
            S::DEPENDENT_OBJECTS_STILL_EXIST,
            "extension pg_trickle requires it",
        ),
        (
            "ALTER TABLE public.st ADD COLUMN extra int".into(),
            S::WRONG_OBJECT_TYPE,
            "cannot change the columns",
        ),
        (
            "ALTER TABLE public.st DROP COLUMN v".into(),
            S::WRONG_OBJECT_TYPE,
            "cannot change the columns",
        ),
        (
            "ALTER TABLE public.st DROP COLUMN __pgt_row_id".into(),
            S::WRONG_OBJECT_TYPE,
            "cannot change the columns",
        ),
        (
            "ALTER TABLE public.st RENAME COLUMN v TO w".into(),
            S::WRONG_OBJECT_TYPE,
            "cannot change the columns",
        ),
        (
            "ALTER TABLE public.st ALTER COLUMN v TYPE bigint".into(),
            S::WRONG_OBJECT_TYPE,
            "cannot change the columns",
        ),
        (
            "ALTER TABLE public.st ALTER COLUMN v SET NOT NULL".into(),
            S::WRONG_OBJECT_TYPE,
            "cannot change the columns",
        ),
        (
            "ALTER TABLE public.st DISABLE TRIGGER __pgt_guard_dml".into(),
            S::INSUFFICIENT_PRIVILEGE,
            "guard trigger",
        ),
        (
            "ALTER TABLE public.st DISABLE TRIGGER ALL".into(),
            S::INSUFFICIENT_PRIVILEGE,
            "guard trigger",
        ),
        (
            "DROP TRIGGER __pgt_guard_dml ON public.st".into(),
            S::INSUFFICIENT_PRIVILEGE,
            "guard trigger",
        ),
        (
            "ALTER TABLE app.src DISABLE TRIGGER __pgt_cdc_ins".into(),
            S::OBJECT_NOT_IN_PREREQUISITE_STATE,
            "change capture trigger",
        ),
    ];
    for (sql, code, part) in by_superuser {
        expect_sql_error(&mut c, &sql, code, part);
    }
    // Writes in replica role are refused on the stream table and captured on the source.
    expect_sql_error(
        &mut c,
        "SET session_replication_role = replica; INSERT INTO public.st VALUES (1, 1, 1)",
        S::WRONG_OBJECT_TYPE,
        "cannot INSERT stream table",
    );
    c.batch_execute(
        "SET session_replication_role = replica;
         INSERT INTO app.src VALUES (100, 100);
         UPDATE app.src SET v = -v WHERE id = 1;
         DELETE FROM app.src WHERE id = 2;
         RESET session_replication_role;
         SELECT pgtrickle.refresh_stream_table('public.st');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "public.st");
    // What stays allowed: renaming, moving and re-owning the stream table, indexes on it.
    c.batch_execute(&format!(
        "ALTER TABLE public.st RENAME TO st2; CREATE INDEX ON public.st2 (v);
         ALTER TABLE public.st2 OWNER TO {owner};
         INSERT INTO app.src VALUES (101, 101);
         SELECT pgtrickle.refresh_stream_table('public.st2');"
    ))
    .unwrap();
    assert_stream_table_matches_query(&mut c, "public.st2");
    // Dropping the source (and with it its triggers) is allowed; the stream table goes to ERROR.
    c.batch_execute(&format!(
        "SET ROLE {owner}; DROP TABLE app.src; RESET ROLE;"
    ))
    .unwrap();
    let status: String = c
        .query_one("SELECT status FROM pgtrickle.pgt_stream_tables", &[])
        .unwrap()
        .get(0);
    assert_eq!(status, "ERROR");
    c.batch_execute("SELECT pgtrickle.drop_stream_table('public.st2')")
        .unwrap();
    drop_roles(&mut c, &roles);
}

/// With event triggers switched off (`event_triggers = off`), the refresh itself notices
/// capture triggers that were disabled or dropped, re-creates them and recomputes in full.
#[test]
fn a_refresh_repairs_capture_that_was_switched_off_without_event_triggers() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE src (id int PRIMARY KEY, v int);
         INSERT INTO src SELECT i, i FROM generate_series(1, 20) i;
         SELECT pgtrickle.create_stream_table('st', 'SELECT v % 3 AS g, count(*) AS n, sum(v) AS s FROM src GROUP BY 1', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('st_copy', 'SELECT id, v FROM src', refresh_mode => 'DIFFERENTIAL');
         SET event_triggers = off;
         ALTER TABLE src DISABLE TRIGGER __pgt_cdc_ins;
         DROP TRIGGER __pgt_cdc_del ON src;
         INSERT INTO src VALUES (100, 100), (101, 101);
         DELETE FROM src WHERE id < 5;
         UPDATE src SET v = v + 1 WHERE id = 10;
         RESET event_triggers;",
    )
    .unwrap();
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('st')")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "st");
    let reason: String = c
        .query_one("SELECT reason FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) WHERE s.pgt_name = 'st' ORDER BY refresh_id DESC LIMIT 1", &[])
        .unwrap()
        .get(0);
    assert!(reason.contains("re-created"), "{reason}");
    // The other stream table reading src recomputes too, and capture works again.
    c.batch_execute("INSERT INTO src VALUES (200, 200); DELETE FROM src WHERE id = 100; SELECT pgtrickle.refresh_stream_table('st_copy'); SELECT pgtrickle.refresh_stream_table('st');")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "st_copy");
    assert_stream_table_matches_query(&mut c, "st");
    let enabled: i64 = c
        .query_one("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'src'::regclass AND tgname LIKE '__pgt_cdc%' AND tgenabled = 'A'", &[])
        .unwrap()
        .get(0);
    assert_eq!(enabled, 4);
}

/// A refresh runs the defining query as the stream table's owner, under
/// SECURITY_RESTRICTED_OPERATION: a non-superuser owner cannot read what it may not read,
/// and its functions cannot change roles or leave settings behind.
#[test]
fn refreshes_run_as_the_stream_table_owner() {
    let (_db, mut c, roles) = setup(&["bob"]);
    let bob = roles[0].clone();
    c.batch_execute(&format!(
        "CREATE SCHEMA app AUTHORIZATION {bob};
         CREATE TABLE app.mine (id int, v int); ALTER TABLE app.mine OWNER TO {bob};
         CREATE TABLE public.secret (id int, v int);
         INSERT INTO app.mine VALUES (1, 1), (2, 2); INSERT INTO public.secret VALUES (1, 42);
         CREATE FUNCTION app.who() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_user::text $$;
         ALTER FUNCTION app.who() OWNER TO {bob};
         SELECT pgtrickle.create_stream_table('app.st', 'SELECT id, v, app.who() AS who FROM app.mine', refresh_mode => 'FULL');
         SELECT pgtrickle.create_stream_table('app.st_diff', 'SELECT id, v FROM app.mine', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('app.leak', 'SELECT m.id, s.v FROM app.mine m JOIN public.secret s USING (id)', refresh_mode => 'DIFFERENTIAL');"
    ))
    .unwrap();
    // Hand the stream tables to bob: from now on their refreshes run as bob.
    c.batch_execute(&format!(
        "ALTER TABLE app.st OWNER TO {bob}; ALTER TABLE app.st_diff OWNER TO {bob}; ALTER TABLE app.leak OWNER TO {bob};
         INSERT INTO app.mine VALUES (3, 3);
         SELECT pgtrickle.refresh_stream_table('app.st');
         SELECT pgtrickle.refresh_stream_table('app.st_diff');"
    ))
    .unwrap();
    let who: Vec<String> = c
        .query("SELECT DISTINCT who FROM app.st", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(who, vec![bob.clone()]);
    assert_stream_table_matches_query(&mut c, "app.st_diff");
    // bob may not read public.secret: the refresh fails with PostgreSQL's own 42501.
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.refresh_stream_table('app.leak')",
        SqlState::INSUFFICIENT_PRIVILEGE,
        "permission denied for table public.secret",
    );
    // The caller's identity and settings are intact after the refresh.
    let me: String = c
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    assert_ne!(me, bob);
    drop_roles(&mut c, &roles);
}

/// Guard triggers are internal triggers (ADR-064): an owner cannot name them, and a refresh
/// re-creates them when they were dropped behind pg_trickle's back (by a superuser with
/// event triggers off, or by pg_upgrade, which does not carry internal triggers over).
#[test]
fn guard_triggers_are_internal_and_a_refresh_restores_them() {
    let (_db, mut c, roles) = setup(&["owner"]);
    let owner = roles[0].clone();
    c.batch_execute(&format!(
        "CREATE TABLE src (id int PRIMARY KEY, v int);
         INSERT INTO src SELECT i, i FROM generate_series(1, 5) i;
         SELECT pgtrickle.create_stream_table('st', 'SELECT id, v FROM src', refresh_mode => 'DIFFERENTIAL');
         GRANT SELECT ON src TO {owner};
         ALTER TABLE st OWNER TO {owner};"
    ))
    .unwrap();
    let guards = |c: &mut Client| -> i64 {
        c.query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'st'::regclass AND tgname LIKE '\\_\\_pgt\\_guard\\_%' AND tgisinternal AND tgenabled = 'A'",
            &[],
        )
        .unwrap()
        .get(0)
    };
    assert_eq!(guards(&mut c), 2);
    c.batch_execute(&format!("SET ROLE {owner}")).unwrap();
    expect_sql_error(
        &mut c,
        "ALTER TABLE st DISABLE TRIGGER __pgt_guard_dml",
        SqlState::INSUFFICIENT_PRIVILEGE,
        "is a system trigger",
    );
    c.batch_execute("RESET ROLE").unwrap();
    c.batch_execute(
        "ALTER EVENT TRIGGER pgt_sql_drop DISABLE;
         DROP TRIGGER __pgt_guard_dml ON st;
         ALTER EVENT TRIGGER pgt_sql_drop ENABLE;
         INSERT INTO src VALUES (10, 10);
         SELECT pgtrickle.refresh_stream_table('st');",
    )
    .unwrap();
    assert_eq!(guards(&mut c), 2);
    expect_sql_error(
        &mut c,
        "INSERT INTO st (id, v) VALUES (99, 99)",
        SqlState::WRONG_OBJECT_TYPE,
        "cannot INSERT stream table",
    );
    assert_stream_table_matches_query(&mut c, "st");
    drop_roles(&mut c, &roles);
}
