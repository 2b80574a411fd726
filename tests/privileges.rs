//! Roles without superuser: they create and manage stream tables they own, like
//! materialized views (ADR-014), get a clear 42501 for everything else (nothing left
//! behind), and everything they may do to their own tables keeps working once pg_trickle is
//! installed — writes to sources are captured, and ALTER/DROP TABLE of their tables (sources
//! or not) is not blocked by pg_trickle's event triggers.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{
    assert_stream_table_matches_query, cluster_with, expect_sql_error, Cluster, TestDb,
};

/// With the scheduler on (stream tables here are due a minute after creation, except the
/// one a test schedules every second).
fn cluster() -> &'static Cluster {
    cluster_with(&[
        "pg_trickle.enabled = on",
        "pg_trickle.scheduler_interval_ms = 200",
        "max_worker_processes = 40",
    ])
}

/// A database plus a login-less role owning schema `app` in it. Roles are cluster-wide, so
/// the role is named after the database (tests run in parallel on one cluster).
fn setup() -> (TestDb, Client, String) {
    let db = cluster().new_database();
    let mut c = db.client();
    let role: String = c
        .query_one("SELECT current_database() || '_app'", &[])
        .unwrap()
        .get(0);
    c.batch_execute(&format!(
        "CREATE ROLE {role} NOLOGIN;
         CREATE SCHEMA app AUTHORIZATION {role};
         CREATE TABLE app.items (id int PRIMARY KEY, g int, v int);
         INSERT INTO app.items SELECT i, i % 3, i FROM generate_series(1, 12) i;
         ALTER TABLE app.items OWNER TO {role};"
    ))
    .unwrap();
    (db, c, role)
}

fn drop_role(c: &mut Client, role: &str) {
    c.batch_execute(&format!(
        "RESET ROLE; DROP OWNED BY {role} CASCADE; DROP ROLE {role};"
    ))
    .unwrap();
}

/// Another role, cluster-wide, named after the database.
fn other_role(c: &mut Client, suffix: &str) -> String {
    let role: String = c
        .query_one(&format!("SELECT current_database() || '_{suffix}'"), &[])
        .unwrap()
        .get(0);
    c.batch_execute(&format!("CREATE ROLE {role} NOLOGIN"))
        .unwrap();
    role
}

fn count(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

/// Stream tables are managed like materialized views (ADR-014): a role that may read the
/// sources and create in the schema creates one it owns; its owner alters, refreshes and
/// drops it; other roles get a clear 42501 and change nothing.
#[test]
fn roles_create_and_manage_stream_tables_they_own() {
    let (_db, mut c, role) = setup();
    let other = other_role(&mut c, "other");
    c.batch_execute(&format!(
        "SELECT pgtrickle.create_stream_table('public.totals', 'SELECT g, sum(v) AS s FROM app.items GROUP BY g');
         CREATE TABLE public.secret (id int, v int);
         GRANT USAGE ON SCHEMA app TO {other};"
    ))
    .unwrap();
    c.batch_execute(&format!("SET ROLE {role}")).unwrap();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('app.mine', 'SELECT g, count(*) AS n, sum(v) AS s FROM app.items GROUP BY g', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('app.rows', 'SELECT id, v FROM app.items WHERE v > 2', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('app.full', 'SELECT g, max(v) AS m FROM app.items GROUP BY g', refresh_mode => 'FULL');",
    )
    .unwrap();
    let owners: Vec<String> = c
        .query(
            "SELECT DISTINCT pg_get_userbyid(c.relowner)::text FROM pgtrickle.pgt_stream_tables s JOIN pg_class c ON c.oid = s.pgt_relid WHERE s.pgt_schema = 'app'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        owners,
        vec![role.clone()],
        "the creator owns its stream tables"
    );
    // Writes, then a manual refresh by the owner.
    c.batch_execute(
        "INSERT INTO app.items VALUES (100, 1, 1000), (101, NULL, 5), (102, NULL, NULL);
         UPDATE app.items SET g = 2 WHERE id = 1;
         DELETE FROM app.items WHERE id IN (2, 3, 6);
         SELECT pgtrickle.refresh_stream_table('app.mine');
         SELECT pgtrickle.refresh_stream_table('app.rows');
         SELECT pgtrickle.refresh_stream_table('app.full');
         SELECT pgtrickle.alter_stream_table('app.rows', schedule => '5m');
         SELECT pgtrickle.alter_stream_table('app.full', refresh_mode => 'AUTO');
         SELECT pgtrickle.alter_stream_table('app.mine', status => 'SUSPENDED');
         SELECT pgtrickle.resume_stream_table('app.mine');",
    )
    .unwrap();
    for st in ["app.mine", "app.rows", "app.full"] {
        assert_stream_table_matches_query(&mut c, st);
    }
    let plan: i64 = count(
        &mut c,
        "SELECT count(*) FROM pgtrickle.explain_stream_table('app.mine')",
    );
    assert!(plan > 0);
    // The owner's change buffer rows are readable by it only through pg_trickle's grant.
    let buffer = pgt_testkit::change_buffer(&mut c, "app.items");

    // What the role may not do: create where it has no CREATE, read what it may not read,
    // manage what it does not own.
    let refused = [
        (
            "SELECT pgtrickle.create_stream_table('public.mine', 'SELECT id FROM app.items')",
            "permission denied for schema public",
        ),
        (
            "SELECT pgtrickle.create_stream_table('app.peek', 'SELECT id, v FROM public.secret')",
            "permission denied for table public.secret",
        ),
        (
            "SELECT pgtrickle.refresh_stream_table('public.totals')",
            "permission denied to refresh stream table",
        ),
        (
            "SELECT pgtrickle.explain_stream_table('public.totals')",
            "permission denied to explain stream table",
        ),
        (
            "SELECT pgtrickle.alter_stream_table('public.totals', schedule => '5m')",
            "permission denied to alter stream table",
        ),
        (
            "SELECT pgtrickle.drop_stream_table('public.totals')",
            "permission denied to drop stream table",
        ),
        (
            "SELECT pgtrickle.resume_stream_table('public.totals')",
            "permission denied to resume stream table",
        ),
        (
            "SELECT pgtrickle.sync_change_capture()",
            "permission denied to manage change capture",
        ),
        ("SELECT pgtrickle._signal_launcher()", "permission denied"),
    ];
    for (sql, message) in refused {
        expect_sql_error(&mut c, sql, SqlState::INSUFFICIENT_PRIVILEGE, message);
    }

    // Another role: no rights on the owner's stream tables or buffers…
    c.batch_execute(&format!("RESET ROLE; SET ROLE {other}"))
        .unwrap();
    for sql in [
        "SELECT pgtrickle.refresh_stream_table('app.mine')".to_string(),
        "SELECT pgtrickle.drop_stream_table('app.mine')".to_string(),
        format!("SELECT count(*) FROM {buffer}"),
    ] {
        expect_sql_error(
            &mut c,
            &sql,
            SqlState::INSUFFICIENT_PRIVILEGE,
            "permission denied",
        );
    }
    // …until it is granted MAINTAIN (refresh and explain, as REFRESH MATERIALIZED VIEW), or
    // is a member of pg_maintain.
    c.batch_execute(&format!(
        "RESET ROLE; GRANT MAINTAIN ON app.mine TO {other}; GRANT pg_maintain TO {other}; SET ROLE {other};
         SELECT pgtrickle.refresh_stream_table('app.mine');
         SELECT pgtrickle.refresh_stream_table('app.rows');"
    ))
    .unwrap();
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.alter_stream_table('app.mine', schedule => '5m')",
        SqlState::INSUFFICIENT_PRIVILEGE,
        "permission denied to alter stream table",
    );
    expect_sql_error(
        &mut c,
        &format!("SELECT count(*) FROM {buffer}"),
        SqlState::INSUFFICIENT_PRIVILEGE,
        "permission denied",
    );
    c.batch_execute("RESET ROLE").unwrap();
    // Nothing was created or changed by the refused calls.
    let r = c
        .query_one(
            "SELECT count(*), min(schedule) FILTER (WHERE pgt_name = 'totals') FROM pgtrickle.pgt_stream_tables",
            &[],
        )
        .unwrap();
    assert_eq!(r.get::<_, i64>(0), 4);
    assert_eq!(r.get::<_, String>(1), "1m");
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM pg_class WHERE relname IN ('peek') OR (relname = 'mine' AND relnamespace = 'public'::regnamespace)"),
        0
    );
    // The owner drops its own.
    c.batch_execute(&format!(
        "SET ROLE {role}; SELECT pgtrickle.drop_stream_table('app.full'); RESET ROLE;"
    ))
    .unwrap();
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'full'"
        ),
        0
    );
    c.batch_execute(&format!("REVOKE pg_maintain FROM {other}"))
        .unwrap();
    drop_role(&mut c, &other);
    drop_role(&mut c, &role);
}

/// A non-superuser's stream table over a table it was granted SELECT on: maintained while
/// the grant lasts, refreshed by the scheduler as its owner; once SELECT is revoked, its
/// refreshes fail with 42501 and the change buffer shows it no rows (row-level security),
/// even though a DIFFERENTIAL refresh never reads the source itself.
#[test]
fn an_owner_reads_changes_only_while_it_may_read_the_source() {
    let (_db, mut c, role) = setup();
    c.batch_execute(&format!(
        "CREATE TABLE public.shared (id int PRIMARY KEY, v int);
         INSERT INTO public.shared SELECT i, i FROM generate_series(1, 20) i;
         GRANT SELECT ON public.shared TO {role};"
    ))
    .unwrap();
    // IMMEDIATE maintenance runs in the writers' transactions: it needs TRIGGER too.
    c.batch_execute(&format!("SET ROLE {role}")).unwrap();
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.create_stream_table('app.now', 'SELECT id, v FROM public.shared', refresh_mode => 'IMMEDIATE')",
        SqlState::INSUFFICIENT_PRIVILEGE,
        "permission denied for table public.shared",
    );
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('app.copy', 'SELECT id, v * 2 AS w FROM public.shared WHERE v % 2 = 0', schedule => '1s', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('app.now', 'SELECT id, v FROM app.items', refresh_mode => 'IMMEDIATE');
         INSERT INTO app.items VALUES (50, 1, 50);",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "app.now");
    c.batch_execute("RESET ROLE").unwrap();
    let buffer = pgt_testkit::change_buffer(&mut c, "public.shared");
    // The scheduler refreshes it as its owner.
    c.batch_execute("INSERT INTO public.shared VALUES (100, 100), (102, 102); DELETE FROM public.shared WHERE id = 4;")
        .unwrap();
    cluster().eventually("the scheduler refreshed app.copy", || {
        pgt_testkit::stream_table_matches(&mut c, "app.copy")
    });
    // The owner sees pending rows of its source in the buffer while it may read it…
    c.batch_execute(&format!(
        "SELECT pgtrickle.alter_stream_table('app.copy', status => 'SUSPENDED');
         INSERT INTO public.shared VALUES (104, 104);
         SET ROLE {role};"
    ))
    .unwrap();
    assert!(count(&mut c, &format!("SELECT count(*) FROM {buffer}")) > 0);
    // …and not after its SELECT is revoked; its refreshes fail.
    c.batch_execute(&format!(
        "RESET ROLE; REVOKE SELECT ON public.shared FROM {role}; SET ROLE {role}"
    ))
    .unwrap();
    assert_eq!(count(&mut c, &format!("SELECT count(*) FROM {buffer}")), 0);
    c.batch_execute("RESET ROLE").unwrap();
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.refresh_stream_table('app.copy')",
        SqlState::INSUFFICIENT_PRIVILEGE,
        "permission denied for table public.shared",
    );
    c.batch_execute(&format!(
        "GRANT SELECT ON public.shared TO {role};
         SELECT pgtrickle.resume_stream_table('app.copy');
         SELECT pgtrickle.refresh_stream_table('app.copy');"
    ))
    .unwrap();
    assert_stream_table_matches_query(&mut c, "app.copy");
    c.batch_execute("SELECT pgtrickle.drop_stream_table('app.copy'); DROP TABLE public.shared;")
        .unwrap();
    drop_role(&mut c, &role);
}

#[test]
fn a_non_superuser_source_owner_keeps_full_use_of_their_tables() {
    let (_db, mut c, role) = setup();
    c.batch_execute(&format!(
        "SELECT pgtrickle.create_stream_table('public.totals', 'SELECT g, sum(v) AS s, count(*) AS n FROM app.items GROUP BY g', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('public.plain', 'SELECT id, v FROM app.items', refresh_mode => 'DIFFERENTIAL');
         GRANT SELECT ON public.totals TO {role};"
    ))
    .unwrap();
    // Writes by the owner are captured (the capture trigger runs as the extension).
    c.batch_execute(&format!(
        "SET ROLE {role};
         INSERT INTO app.items VALUES (100, 1, 1000), (101, NULL, 5);
         UPDATE app.items SET g = 2 WHERE id = 1;
         DELETE FROM app.items WHERE id IN (2, 3);
         RESET ROLE;"
    ))
    .unwrap();
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('public.totals'); SELECT pgtrickle.refresh_stream_table('public.plain');").unwrap();
    assert_stream_table_matches_query(&mut c, "public.totals");
    assert_stream_table_matches_query(&mut c, "public.plain");
    // A granted reader reads the stream table like any table.
    c.batch_execute(&format!("SET ROLE {role}")).unwrap();
    let groups: i64 = c
        .query_one("SELECT count(*) FROM public.totals", &[])
        .unwrap()
        .get(0);
    assert!(groups > 0);
    // Their DDL is not blocked by pg_trickle's event triggers: unrelated tables, unused
    // columns, TRUNCATE, then a used column and finally the source itself.
    c.batch_execute(
        "CREATE TABLE app.scratch (a int);
         ALTER TABLE app.scratch ADD COLUMN b int;
         DROP TABLE app.scratch;
         ALTER TABLE app.items ADD COLUMN note text;
         INSERT INTO app.items VALUES (102, 0, 7, 'x');
         TRUNCATE app.items;
         INSERT INTO app.items VALUES (200, 1, 1, NULL);",
    )
    .unwrap();
    c.batch_execute("RESET ROLE; SELECT pgtrickle.refresh_stream_table('public.totals');")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "public.totals");
    c.batch_execute(&format!(
        "SET ROLE {role}; ALTER TABLE app.items DROP COLUMN v; RESET ROLE;"
    ))
    .unwrap();
    let reason: Option<String> = c
        .query_one("SELECT status_reason FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'totals' AND status = 'ERROR'", &[])
        .unwrap()
        .get(0);
    assert!(reason.unwrap_or_default().contains('v'));
    c.batch_execute(&format!(
        "SET ROLE {role}; DROP TABLE app.items; RESET ROLE;"
    ))
    .unwrap();
    let errors: i64 = c
        .query_one("SELECT count(*) FROM pgtrickle.pgt_stream_tables WHERE status = 'ERROR' AND status_reason LIKE '%app.items%'", &[])
        .unwrap()
        .get(0);
    assert!(
        errors >= 1,
        "dropping the source must put its stream tables in ERROR naming it"
    );
    drop_role(&mut c, &role);
}
