//! Roles without superuser: they cannot manage stream tables (a clear 42501, nothing left
//! behind), but everything they may do to their own tables keeps working once pg_trickle is
//! installed — writes to sources are captured, and ALTER/DROP TABLE of their tables (sources
//! or not) is not blocked by pg_trickle's event triggers.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{assert_stream_table_matches_query, cluster, expect_sql_error, TestDb};

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

#[test]
fn management_functions_refuse_non_superusers_with_42501() {
    let (_db, mut c, role) = setup();
    c.batch_execute("SELECT pgtrickle.create_stream_table('public.totals', 'SELECT g, sum(v) AS s FROM app.items GROUP BY g')").unwrap();
    c.batch_execute(&format!("SET ROLE {role}")).unwrap();
    let calls = [
        (
            "SELECT pgtrickle.create_stream_table('app.mine', 'SELECT id FROM app.items')",
            "create a stream table",
        ),
        (
            "SELECT pgtrickle.refresh_stream_table('public.totals')",
            "refresh a stream table",
        ),
        (
            "SELECT pgtrickle.alter_stream_table('public.totals', schedule => '5m')",
            "alter a stream table",
        ),
        (
            "SELECT pgtrickle.drop_stream_table('public.totals')",
            "drop a stream table",
        ),
        (
            "SELECT pgtrickle.resume_stream_table('public.totals')",
            "resume a stream table",
        ),
    ];
    for (sql, action) in calls {
        let e = expect_sql_error(
            &mut c,
            sql,
            SqlState::INSUFFICIENT_PRIVILEGE,
            &format!("permission denied to {action}"),
        );
        assert!(
            e.hint.as_deref().unwrap_or("").contains("superuser"),
            "{sql}: {e:?}"
        );
    }
    // Internal functions are not callable either.
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle._signal_launcher()",
        SqlState::INSUFFICIENT_PRIVILEGE,
        "permission denied",
    );
    // Reading the catalog and the monitoring views is allowed.
    let n: i64 = c
        .query_one("SELECT count(*) FROM pgtrickle.stream_tables_info", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    c.batch_execute("RESET ROLE").unwrap();
    // Nothing was created or changed by the refused calls.
    let r = c
        .query_one(
            "SELECT count(*), min(schedule) FROM pgtrickle.pgt_stream_tables",
            &[],
        )
        .unwrap();
    assert_eq!(r.get::<_, i64>(0), 1);
    assert_eq!(r.get::<_, String>(1), "1m");
    assert!(c
        .query_opt("SELECT 1 FROM pg_class WHERE relname = 'mine'", &[])
        .unwrap()
        .is_none());
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
