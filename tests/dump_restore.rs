//! `pg_dump` / `pg_restore` of a database with stream tables (ADR-064): the restore runs
//! without an error, the restored stream tables are stream tables again (catalog rows,
//! dependencies, change buffers, capture and IMMEDIATE triggers re-created for this
//! database), catch up with what their sources hold, and keep following their sources;
//! also with `pg_restore --clean` over a restored copy. pg_trickle's derived objects and its
//! own triggers never appear in a dump.

use pgt_testkit::postgres::Client;
use pgt_testkit::{assert_stream_table_matches_query, cluster_with, Cluster};

/// With the scheduler on: it rebinds restored stream tables on its own, and management
/// functions do it too for the one they are called on (both paths race in these tests).
fn cluster() -> &'static Cluster {
    cluster_with(&[
        "pg_trickle.enabled = on",
        "pg_trickle.scheduler_interval_ms = 200",
        "max_worker_processes = 40",
    ])
}

/// Stream tables in dependency order (readers after what they read).
const STREAM_TABLES: &[&str] = &[
    "public.rev",
    "public.big_regions",
    "public.cust_now",
    "public.full_one",
    "public.ev",
    "public.msum",
    "public.peak",
    "app.mine",
];

fn count(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

/// A database exercising every kind of stream table, with changes refreshed and changes
/// still pending at dump time.
fn populate(c: &mut Client, role: &str) {
    c.batch_execute(&format!(
        "CREATE TABLE customers (id int PRIMARY KEY, region text);
         CREATE TABLE orders (id int PRIMARY KEY, cust int, amount numeric);
         CREATE TABLE events (k int, v text);
         CREATE TABLE m (ts int, v int) PARTITION BY RANGE (ts);
         CREATE TABLE m_1 PARTITION OF m FOR VALUES FROM (0) TO (100);
         CREATE TABLE m_2 PARTITION OF m FOR VALUES FROM (100) TO (200);
         INSERT INTO customers SELECT i, 'r' || (i % 3) FROM generate_series(1, 20) i;
         INSERT INTO orders SELECT i, i % 20 + 1, i * 1.5 FROM generate_series(1, 200) i;
         INSERT INTO events SELECT i % 7, 'e' || (i % 4) FROM generate_series(1, 50) i;
         INSERT INTO m SELECT i, i % 5 FROM generate_series(0, 199) i;
         CREATE SCHEMA app AUTHORIZATION {role};
         CREATE TABLE app.notes (id int PRIMARY KEY, body text);
         ALTER TABLE app.notes OWNER TO {role};
         INSERT INTO app.notes SELECT i, 'n' || i FROM generate_series(1, 10) i;
         SELECT pgtrickle.create_stream_table('rev', $$SELECT c.region, count(*) AS n, sum(o.amount) AS s FROM orders o JOIN customers c ON c.id = o.cust GROUP BY c.region$$, refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('big_regions', $$SELECT region, n FROM rev WHERE n > 60$$, refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('cust_now', $$SELECT id, region FROM customers WHERE id % 2 = 0$$, refresh_mode => 'IMMEDIATE');
         SELECT pgtrickle.create_stream_table('full_one', $$SELECT region, max(id) AS top FROM customers GROUP BY region$$, refresh_mode => 'FULL');
         SELECT pgtrickle.create_stream_table('ev', $$SELECT DISTINCT k, v FROM events$$);
         SELECT pgtrickle.create_stream_table('msum', $$SELECT v, count(*) AS n, sum(ts) AS s FROM m GROUP BY v$$, refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('peak', $$SELECT region, max(n) AS most FROM (SELECT c.region, o.cust, count(*) AS n FROM orders o JOIN customers c ON c.id = o.cust GROUP BY c.region, o.cust) x GROUP BY region$$, refresh_mode => 'DIFFERENTIAL');
         CREATE INDEX rev_region ON rev (region);
         GRANT SELECT ON rev TO {role};
         SET ROLE {role};
         SELECT pgtrickle.create_stream_table('app.mine', $$SELECT id, upper(body) AS b FROM app.notes$$, refresh_mode => 'DIFFERENTIAL');
         RESET ROLE;
         -- Refreshed changes …
         INSERT INTO orders VALUES (1000, 1, 10), (1001, 2, NULL);
         DELETE FROM orders WHERE id < 20;
         INSERT INTO m VALUES (5, 9), (150, 9);"
    ))
    .unwrap();
    for st in STREAM_TABLES {
        c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
            .unwrap();
    }
    // … and changes still pending when the dump is taken.
    c.batch_execute(
        "UPDATE orders SET amount = amount + 1 WHERE id % 3 = 0;
         UPDATE customers SET region = 'r9' WHERE id = 4;
         INSERT INTO events VALUES (1, 'e1'), (99, NULL);
         DELETE FROM m WHERE ts = 150;
         INSERT INTO app.notes VALUES (11, 'late');",
    )
    .unwrap();
}

/// Changes made in the restored database (round `r` uses its own keys).
fn change(c: &mut Client, r: i32) {
    let k = 3000 + 10 * r;
    c.batch_execute(&format!(
        "INSERT INTO customers VALUES ({k}, 'r1'), ({k} + 1, NULL);
         INSERT INTO orders VALUES ({k}, {k}, 7), ({k} + 1, {k} + 1, 8), ({k} + 2, 3, 9);
         UPDATE orders SET cust = 5 + {r} WHERE id BETWEEN 40 + {r} AND 60;
         DELETE FROM customers WHERE id = 2 + {r};
         DELETE FROM events WHERE k = 3;
         INSERT INTO events VALUES (3, 'e3'), (3, 'e3');
         INSERT INTO m VALUES (7, {r}), (170, 2);
         UPDATE m SET v = 4 WHERE ts BETWEEN 90 AND 110;
         UPDATE app.notes SET body = 'changed {r}' WHERE id = 3;"
    ))
    .unwrap();
}

fn refresh_all_and_check(c: &mut Client) {
    for st in STREAM_TABLES {
        c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
            .unwrap();
    }
    for st in STREAM_TABLES {
        assert_stream_table_matches_query(c, st);
    }
}

fn create_database(c: &mut Client, name: &str) {
    c.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
        .unwrap();
}

fn drop_database(c: &mut Client, name: &str) {
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
}

/// What a restored database must look like, then what it must keep doing.
fn check_restored(cl: &'static Cluster, db: &str, role: &str) {
    let mut c = cl.connect(db).unwrap();
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM pgtrickle.pgt_stream_tables"),
        STREAM_TABLES.len() as i64
    );
    // The dumped rows are readable at once (as of the last refresh before the dump).
    assert!(count(&mut c, "SELECT count(*) FROM rev") > 0);
    // Every stream table catches up with what its sources hold now …
    refresh_all_and_check(&mut c);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pgtrickle.pgt_stream_tables WHERE restored_at IS NOT NULL OR status <> 'ACTIVE'"
        ),
        0
    );
    // … with its change capture re-created: buffers for this database's source OIDs.
    for source in ["orders", "customers", "events", "m", "app.notes", "rev"] {
        assert_eq!(
            count(
                &mut c,
                &format!("SELECT count(*) FROM pg_class WHERE oid = to_regclass('pgtrickle_changes.changes_' || '{source}'::regclass::oid)")
            ),
            1,
            "buffer of {source}"
        );
    }
    // … and keeps following its sources. IMMEDIATE is current inside the writing statement.
    change(&mut c, 0);
    assert_stream_table_matches_query(&mut c, "public.cust_now");
    refresh_all_and_check(&mut c);
    change(&mut c, 1);
    refresh_all_and_check(&mut c);
    // The user's index and grant came with the dump; the owner of app.mine still owns it.
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'rev_region'"
        ),
        1
    );
    let owner: String = c
        .query_one(
            "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = 'app.mine'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner, role);
}

/// pg_trickle's derived objects are not in a dump: no change buffer, state table, capture
/// or guard trigger; its catalog rows are.
fn check_dump_contents(cl: &'static Cluster, db: &str) {
    let sql = cl
        .run_program("pg_dump", &["-d", &cl.conninfo(db)])
        .unwrap();
    for absent in [
        "pgtrickle_changes.changes_",
        "pgtrickle_changes.state_",
        "__pgt_cdc",
        "__pgt_ivm",
        "__pgt_guard",
    ] {
        let lines: Vec<&str> = sql.lines().filter(|l| l.contains(absent)).collect();
        assert!(lines.is_empty(), "the dump contains {absent}: {lines:#?}");
    }
    assert!(sql.contains("COPY pgtrickle.pgt_stream_tables"));
}

#[test]
fn stream_tables_survive_pg_dump_and_pg_restore() {
    let cl = cluster();
    let db = cl.new_database();
    let mut c = db.client();
    let role: String = c
        .query_one("SELECT current_database() || '_owner'", &[])
        .unwrap()
        .get(0);
    c.batch_execute(&format!("CREATE ROLE {role}")).unwrap();
    populate(&mut c, &role);
    check_dump_contents(cl, &db.name);

    let dir = tempfile_dir();
    let archive = format!("{dir}/db.dump");
    let script = format!("{dir}/db.sql");
    cl.run_program(
        "pg_dump",
        &["-Fc", "-f", &archive, "-d", &cl.conninfo(&db.name)],
    )
    .unwrap();
    cl.run_program(
        "pg_dump",
        &["-Fp", "-f", &script, "-d", &cl.conninfo(&db.name)],
    )
    .unwrap();

    // A custom-format archive through pg_restore, in parallel …
    let restored = format!("{}_r", db.name);
    create_database(&mut c, &restored);
    cl.run_program(
        "pg_restore",
        &[
            "--exit-on-error",
            "-j",
            "2",
            "-d",
            &cl.conninfo(&restored),
            &archive,
        ],
    )
    .unwrap();
    check_restored(cl, &restored, &role);
    check_dump_contents(cl, &restored);

    // The same archive again over that copy, with --clean: its stream tables are dropped
    // (and pg_trickle with them) and restored as they were at dump time.
    cl.run_program(
        "pg_restore",
        &[
            "--exit-on-error",
            "--clean",
            "--if-exists",
            "-d",
            &cl.conninfo(&restored),
            &archive,
        ],
    )
    .unwrap();
    check_restored(cl, &restored, &role);

    // … and a plain script through psql, stopping at the first error.
    let replayed = format!("{}_p", db.name);
    create_database(&mut c, &replayed);
    cl.run_program(
        "psql",
        &[
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &cl.conninfo(&replayed),
            "-f",
            &script,
        ],
    )
    .unwrap();
    check_restored(cl, &replayed, &role);

    // The original is untouched by all this.
    refresh_all_and_check(&mut c);
    change(&mut c, 0);
    refresh_all_and_check(&mut c);

    drop_database(&mut c, &restored);
    drop_database(&mut c, &replayed);
    let _ = std::fs::remove_dir_all(&dir);
    c.batch_execute(&format!(
        "SELECT pgtrickle.drop_stream_table('app.mine'); DROP OWNED BY {role} CASCADE; DROP ROLE {role}"
    ))
    .unwrap();
}

/// A directory the cluster's owner can write to.
fn tempfile_dir() -> String {
    let dir = std::env::temp_dir().join(format!("pgt-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    dir.display().to_string()
}
