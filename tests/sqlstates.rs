//! The SQLSTATEs documented in `docs/SQL_REFERENCE.md` ("Errors") are the ones raised.
//!
//! The test reads the table from the document. Each case names the row it exercises by a
//! phrase of the row's "situation" cell; the code the server raises must be one of the codes
//! in that row, and every row must have at least one case. Each case also checks that the
//! server is still up, and that a failed create leaves no catalog rows or tables behind.

use pgt_testkit::postgres::Client;
use pgt_testkit::{cluster, TestDb};

/// (situation text, codes) for each row of the Errors table.
fn documented() -> Vec<(String, Vec<String>)> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/SQL_REFERENCE.md"
    ))
    .expect("docs/SQL_REFERENCE.md");
    let section = doc.split("## Errors").nth(1).expect("an Errors section");
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| situation"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            let codes = cells[1]
                .split('`')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, c)| c.to_string())
                .filter(|c| c.len() == 5 && c.chars().all(|ch| ch.is_ascii_alphanumeric()))
                .collect();
            (cells[0].to_string(), codes)
        })
        .collect()
}

struct Case {
    row: &'static str,
    setup: &'static str,
    sql: String,
    code: &'static str,
}

fn case(row: &'static str, sql: impl Into<String>, code: &'static str) -> Case {
    Case {
        row,
        setup: "",
        sql: sql.into(),
        code,
    }
}

fn create(name: &str, query: &str) -> String {
    format!(
        "SELECT pgtrickle.create_stream_table('{}', $q${query}$q$)",
        name.replace('\'', "''")
    )
}

fn create_mode(name: &str, query: &str, mode: &str) -> String {
    format!(
        "SELECT pgtrickle.create_stream_table('{}', $q${query}$q$, refresh_mode => '{mode}')",
        name.replace('\'', "''")
    )
}

fn cases() -> Vec<Case> {
    let mut v = vec![
        case("syntax error", create("x", "SELEC 1"), "42601"),
        case("missing table", create("x", "SELECT * FROM nope"), "42P01"),
        case("missing table", create("x", "SELECT nope FROM src"), "42703"),
        case("missing table", create("x", "SELECT id + 'a'::text FROM src"), "42883"),
        case("missing table", create("x", "SELECT $1"), "42P02"),
        case("empty query", create("x", ""), "42P17"),
        case("empty query", create("x", "SELECT 1; SELECT 2"), "42P17"),
        case("empty query", create("x", "DELETE FROM src"), "42P17"),
        case("empty query", create("x", "SELECT id INTO y FROM src"), "42P17"),
        case("empty query", create("x", "SELECT id FROM src FOR UPDATE"), "42P17"),
        case("empty query", create("x", "WITH d AS (DELETE FROM src RETURNING id) SELECT id FROM d"), "42P17"),
        case("name already exists", create("existing", "SELECT 1 AS a"), "42P07"),
        case("name already exists", create("st", "SELECT 1 AS a"), "42P07"),
        case("unknown refresh mode", create_mode("x", "SELECT id FROM src", "SOMETIMES"), "22023"),
        case("unknown refresh mode", create_mode("x", "SELECT id FROM src", " FULL"), "22023"),
        case("unknown refresh mode", create_mode("x", "SELECT id FROM src", "AUTO "), "22023"),
        case("unknown refresh mode", "SELECT pgtrickle.alter_stream_table('st', status => 'BROKEN')", "22023"),
        case("DIFFERENTIAL requested", create_mode("x", "SELECT id FROM src LIMIT 1", "DIFFERENTIAL"), "0A000"),
        case("DIFFERENTIAL requested", create_mode("x", "SELECT id, txid_current() AS t FROM src", "DIFFERENTIAL"), "0A000"),
        case("DIFFERENTIAL requested", create_mode("x", "SELECT id, pg_current_xact_id() AS t FROM src", "DIFFERENTIAL"), "0A000"),
        case("DIFFERENTIAL requested", create_mode("x", "SELECT id, current_setting('TimeZone') AS t FROM src", "DIFFERENTIAL"), "0A000"),
        case("DIFFERENTIAL requested", create_mode("x", "SELECT id FROM part_1", "DIFFERENTIAL"), "0A000"),
        case("DIFFERENTIAL requested", create_mode("x", "SELECT id FROM ONLY parent", "DIFFERENTIAL"), "0A000"),
        case("DIFFERENTIAL requested", create_mode("x", "SELECT id FROM ONLY parted", "DIFFERENTIAL"), "0A000"),
        case("DIFFERENTIAL requested", create_mode("x", "SELECT id FROM parent", "DIFFERENTIAL"), "0A000"),
        case("DIFFERENTIAL requested", create_mode("x", "SELECT id, current_user AS u FROM src", "DIFFERENTIAL"), "0A000"),
        case("duplicate output column", create("x", "SELECT id, id FROM src"), "42701"),
        case("output column named", create("x", "SELECT id AS __pgt_x FROM src"), "42939"),
        case("pseudo-type", create("x", "SELECT ROW(id) AS r FROM src"), "42P16"),
        case("pseudo-type", create("x", "SELECT FROM src"), "42P16"),
        case("temporary table or system catalog", create("x", "SELECT id FROM tmp"), "0A000"),
        case("temporary table or system catalog", create("x", "SELECT relname FROM pg_class"), "0A000"),
        case("temporary table or system catalog", create("pg_temp.x", "SELECT id FROM src"), "0A000"),
        case("reserved schema", create("pgtrickle.x", "SELECT id FROM src"), "42939"),
        case("reserved schema", create("pgtrickle_changes.x", "SELECT id FROM src"), "42939"),
        case("reserved schema", create("information_schema.x", "SELECT id FROM src"), "42939"),
        case("reserved schema", create("pg_catalog.x", "SELECT id FROM src"), "42939"),
        case("NULL argument", "SELECT pgtrickle.create_stream_table(NULL, 'SELECT 1')", "22004"),
        case("NULL argument", "SELECT pgtrickle.refresh_stream_table(NULL)", "22004"),
        case("malformed name", create("", "SELECT id FROM src"), "42602"),
        case("malformed name", create("a.b.c.d", "SELECT id FROM src"), "42602"),
        case("a name in another database", create("otherdb.public.x", "SELECT id FROM src"), "0A000"),
        case("a name in another database", "SELECT pgtrickle.refresh_stream_table('otherdb.public.st')", "0A000"),
        case("malformed name", create("a..b", "SELECT id FROM src"), "42602"),
        case("malformed name", create("\"open", "SELECT id FROM src"), "42602"),
        case("schema of a new stream table does not exist", create("nosuch.x", "SELECT id FROM src"), "3F000"),
        case("a stream table that does not exist", "SELECT pgtrickle.refresh_stream_table('nope')", "42P01"),
        case("a stream table that does not exist", "SELECT pgtrickle.drop_stream_table('nosuch.nope')", "42P01"),
        case("relation is not a stream table", "SELECT pgtrickle.refresh_stream_table('existing')", "42809"),
        case("drop of a stream table other stream tables read", "SELECT pgtrickle.drop_stream_table('st')", "2BP01"),
        case("refresh of a stream table in status ERROR", "SELECT pgtrickle.refresh_stream_table('broken')", "55000"),
        case("INSERT/UPDATE/DELETE/MERGE/TRUNCATE", "INSERT INTO st VALUES (1, 1, 1)", "42809"),
        case("INSERT/UPDATE/DELETE/MERGE/TRUNCATE", "TRUNCATE st", "42809"),
        case("INSERT/UPDATE/DELETE/MERGE/TRUNCATE", "SET session_replication_role = replica; DELETE FROM st", "42809"),
        case("ADD/DROP/RENAME/ALTER COLUMN", "ALTER TABLE st ADD COLUMN z int", "42809"),
        case("ADD/DROP/RENAME/ALTER COLUMN", "ALTER TABLE st RENAME COLUMN id TO z", "42809"),
        case("altering, renaming or moving a change buffer", "DO $$ BEGIN EXECUTE format('ALTER TABLE pgtrickle_changes.%I RENAME TO x', 'changes_' || 'src'::regclass::oid); END $$", "42501"),
        case("altering, renaming or moving a change buffer", "ALTER TABLE st DISABLE TRIGGER __pgt_guard_truncate", "42501"),
        case("disabling, renaming or dropping a change capture trigger", "ALTER TABLE src DISABLE TRIGGER __pgt_cdc_del", "55000"),
        case("disabling, renaming or dropping a change capture trigger", "DROP TRIGGER __pgt_cdc_del ON src", "55000"),
        case("a captured source gains a column", "ALTER TABLE src ADD COLUMN __pgt_change_id bigint", "42939"),
        case(
            "a correlated scalar subquery of the defining query has several rows",
            create_mode("x", "SELECT a.id, (SELECT b.id FROM src b WHERE b.v % 2 = a.v % 2) AS m FROM src a", "DIFFERENTIAL"),
            "21000",
        ),
        Case {
            row: "a change buffer that capture cannot write to",
            setup: "DO $$ BEGIN EXECUTE pg_catalog.format('CREATE INDEX ON pgtrickle_changes.%I ((__pgt_xid::text))', 'changes_' || 'src'::regclass::oid); END $$;",
            sql: "INSERT INTO src VALUES (100, 100)".into(),
            code: "55000",
        },
        Case {
            row: "attached without the source's OID",
            setup: "CREATE TABLE plain_t (x int);
                    CREATE TRIGGER t AFTER INSERT ON plain_t REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._capture_changes();",
            sql: "INSERT INTO plain_t VALUES (1)".into(),
            code: "39P01",
        },
        Case {
            row: "internal consistency check failed",
            setup: "SET event_triggers = off; ALTER TABLE bag DISABLE TRIGGER __pgt_guard_dml; DELETE FROM bag;
                    ALTER TABLE bag ENABLE ALWAYS TRIGGER __pgt_guard_dml; RESET event_triggers; DELETE FROM src WHERE id = 1;",
            sql: "SELECT pgtrickle.refresh_stream_table('bag')".into(),
            code: "XX001",
        },
        // One implicit transaction: the settings and rows are rolled back with the error.
        case(
            "an incremental refresh whose delta statement exceeds",
            "SET pg_trickle.refresh_work_mem = '64kB'; SET pg_trickle.differential_temp_file_limit = 0;
             SET pg_trickle.differential_max_change_ratio = 0;
             INSERT INTO src SELECT i, i FROM generate_series(1000, 6000) i;
             SELECT pgtrickle.refresh_stream_table('st')",
            "53400",
        ),
    ];
    // Schedules.
    for s in [
        " 5m",
        "5m ",
        "5M",
        "2147483648s",
        "9223372036854775807s",
        "99999999w",
        "366d",
        "5 minutes",
    ] {
        v.push(case(
            "malformed schedule",
            format!("SELECT pgtrickle.create_stream_table('x', 'SELECT id FROM src', schedule => '{s}')"),
            "22023",
        ));
        v.push(case(
            "malformed schedule",
            format!("SELECT pgtrickle.alter_stream_table('st', schedule => '{s}')"),
            "22023",
        ));
    }
    // Malformed names for the other functions too.
    for f in [
        "refresh_stream_table",
        "drop_stream_table",
        "alter_stream_table",
        "resume_stream_table",
    ] {
        for n in ["a.b.c.d", "", "a..b"] {
            v.push(case(
                "malformed name",
                format!("SELECT pgtrickle.{f}('{n}')"),
                "42602",
            ));
        }
    }
    v
}

fn fresh() -> (TestDb, Client) {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE src (id int PRIMARY KEY, v int); INSERT INTO src SELECT i, i FROM generate_series(1, 5) i;
         CREATE TABLE existing (x int);
         CREATE TABLE gone (id int, v int); INSERT INTO gone VALUES (1, 1);
         CREATE TABLE parent (id int); CREATE TABLE child () INHERITS (parent);
         CREATE TABLE parted (id int) PARTITION BY RANGE (id);
         CREATE TABLE part_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
         CREATE TEMP TABLE tmp (id int);
         SELECT pgtrickle.create_stream_table('st', 'SELECT id, v FROM src', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('reader', 'SELECT id FROM st', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('broken', 'SELECT id, v FROM gone');
         SELECT pgtrickle.create_stream_table('bag', 'SELECT v FROM src', refresh_mode => 'DIFFERENTIAL');
         ALTER TABLE gone DROP COLUMN v;",
    )
    .unwrap();
    (db, c)
}

#[test]
fn documented_sqlstates_are_the_ones_raised() {
    let doc = documented();
    assert!(doc.len() >= 20, "the Errors table was not found: {doc:?}");
    let cases = cases();
    // Every documented row has a case (the privilege check has its own test below).
    for (situation, _) in &doc {
        assert!(
            cases.iter().any(|c| situation.contains(c.row))
                || situation.contains("without the right"),
            "no test case for the documented situation {situation:?}"
        );
    }
    let (mut _db, mut c) = fresh();
    let mut failures = Vec::new();
    for case in &cases {
        let rows: Vec<&(String, Vec<String>)> =
            doc.iter().filter(|(s, _)| s.contains(case.row)).collect();
        assert_eq!(
            rows.len(),
            1,
            "case row {:?} must match exactly one documented row",
            case.row
        );
        let (situation, codes) = rows[0];
        if !codes.iter().any(|x| x == case.code) {
            failures.push(format!(
                "{:?}: expects {} but the docs say {codes:?}",
                case.sql, case.code
            ));
        }
        if !case.setup.is_empty() {
            c.batch_execute(case.setup).unwrap();
        }
        let before: i64 = c
            .query_one("SELECT count(*) FROM pgtrickle.pgt_stream_tables", &[])
            .unwrap()
            .get(0);
        match c.batch_execute(&case.sql) {
            Ok(()) => failures.push(format!("{:?} succeeded; documented: {situation}", case.sql)),
            Err(e) => {
                let got = e.code().map(|s| s.code().to_string()).unwrap_or_default();
                if got != case.code {
                    failures.push(format!(
                        "{:?}: got {got} ({e}), expected {}",
                        case.sql, case.code
                    ));
                }
            }
        }
        // The session and the server still work, and nothing was half-created.
        c.batch_execute("RESET session_replication_role").unwrap();
        let after: i64 = c
            .query_one("SELECT count(*) FROM pgtrickle.pgt_stream_tables", &[])
            .unwrap()
            .get(0);
        assert_eq!(before, after, "{:?} left catalog rows behind", case.sql);
        assert!(c
            .query_opt("SELECT 1 FROM pg_class WHERE relname = 'x'", &[])
            .unwrap()
            .is_none());
        if !case.setup.is_empty() {
            // Cases with a setup changed the fixture: start from a fresh database.
            (_db, c) = fresh();
        }
    }
    assert!(
        failures.is_empty(),
        "SQLSTATE mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn a_role_without_the_right_gets_42501() {
    let (_db, mut c) = fresh();
    let doc = documented();
    assert!(doc
        .iter()
        .any(|(s, codes)| s.contains("without the right") && codes.contains(&"42501".to_string())));
    let role: String = c
        .query_one("SELECT current_database() || '_plain'", &[])
        .unwrap()
        .get(0);
    c.batch_execute(&format!("CREATE ROLE {role}; SET ROLE {role};"))
        .unwrap();
    let e = c
        .batch_execute("SELECT pgtrickle.refresh_stream_table('st')")
        .unwrap_err();
    assert_eq!(e.code().map(|s| s.code()), Some("42501"));
    c.batch_execute(&format!("RESET ROLE; DROP ROLE {role};"))
        .unwrap();
}

#[test]
fn long_names_are_truncated_like_postgresql_does() {
    let (_db, mut c) = fresh();
    let long = "a".repeat(70);
    let kept = "a".repeat(63);
    c.batch_execute(&create(&long, "SELECT id FROM src"))
        .unwrap();
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pgtrickle.pgt_stream_tables WHERE pgt_name = $1",
            &[&kept],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    // The long spelling finds the same stream table, as PostgreSQL's own lookups do.
    c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{long}')"))
        .unwrap();
    let multibyte = format!("s_{}", "é".repeat(40));
    c.batch_execute(&create(&format!("\"{multibyte}\""), "SELECT id FROM src"))
        .unwrap();
    let stored: String = c
        .query_one(
            "SELECT pgt_name::text FROM pgtrickle.pgt_stream_tables WHERE pgt_name::text LIKE 's\\_%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(stored.len() <= 63 && stored.chars().all(|ch| ch == 's' || ch == '_' || ch == 'é'));
    c.batch_execute(&format!("SELECT pgtrickle.drop_stream_table('{long}')"))
        .unwrap();
}
