//! Every kind of bad input gets a clear error with a fitting SQLSTATE, and leaves nothing
//! half-created: no storage table, no catalog rows, no triggers.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{assert_stream_table_matches_query, cluster, expect_sql_error};

fn create(name: &str, query: &str) -> String {
    format!(
        "SELECT pgtrickle.create_stream_table('{}', $q${query}$q$)",
        name.replace('\'', "''")
    )
}

/// Nothing of a failed create may remain.
#[track_caller]
fn assert_nothing_left(c: &mut Client, name: &str) {
    let r = c
        .query_one(
            "SELECT (SELECT count(*) FROM pgtrickle.pgt_stream_tables), \
                    (SELECT count(*) FROM pgtrickle.pgt_dependencies), \
                    (SELECT count(*) FROM pgtrickle.pgt_refresh_history), \
                    to_regclass($1) IS NULL OR $1 IN ('src', 'public.src', 'existing')",
            &[&name],
        )
        .unwrap();
    assert_eq!(
        (
            r.get::<_, i64>(0),
            r.get::<_, i64>(1),
            r.get::<_, i64>(2),
            r.get::<_, bool>(3)
        ),
        (0, 0, 0, true),
        "leftovers after failed create of {name}"
    );
}

#[test]
fn bad_create_input_is_refused_cleanly() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE src (id int, v text, __pgt_secret int);
         INSERT INTO src VALUES (1, 'a', 0), (2, NULL, 0);
         CREATE TABLE existing (x int);
         CREATE TEMP TABLE tmp_src (id int);",
    )
    .unwrap();

    use SqlState as S;
    let cases: Vec<(&str, String, SqlState, &str)> = vec![
        ("invalid SQL", create("st", "SELEC id FROM src"), S::SYNTAX_ERROR, "syntax error"),
        ("unbalanced", create("st", "SELECT (id FROM src"), S::SYNTAX_ERROR, "syntax error"),
        ("empty query", create("st", ""), S::INVALID_OBJECT_DEFINITION, "empty"),
        ("only a comment", create("st", "-- nothing"), S::INVALID_OBJECT_DEFINITION, "empty"),
        ("two statements", create("st", "SELECT 1; SELECT 2"), S::INVALID_OBJECT_DEFINITION, "single statement"),
        ("INSERT", create("st", "INSERT INTO src VALUES (3)"), S::INVALID_OBJECT_DEFINITION, "not INSERT"),
        ("DELETE", create("st", "DELETE FROM src"), S::INVALID_OBJECT_DEFINITION, "not DELETE"),
        ("DDL", create("st", "CREATE TABLE x (a int)"), S::INVALID_OBJECT_DEFINITION, "not CREATE TABLE"),
        ("VALUES is fine but EXPLAIN is not", create("st", "EXPLAIN SELECT 1"), S::INVALID_OBJECT_DEFINITION, "not EXPLAIN"),
        ("SELECT INTO", create("st", "SELECT id INTO newtab FROM src"), S::INVALID_OBJECT_DEFINITION, "SELECT INTO"),
        ("FOR UPDATE", create("st", "SELECT id FROM src FOR UPDATE"), S::INVALID_OBJECT_DEFINITION, "FOR UPDATE"),
        ("modifying CTE", create("st", "WITH d AS (DELETE FROM src RETURNING id) SELECT id FROM d"), S::INVALID_OBJECT_DEFINITION, "data-modifying"),
        ("modifying CTE (insert)", create("st", "WITH d AS (INSERT INTO src VALUES (9) RETURNING id) SELECT * FROM d"), S::INVALID_OBJECT_DEFINITION, "data-modifying"),
        ("name exists (table)", create("existing", "SELECT id FROM src"), S::DUPLICATE_TABLE, "already exists"),
        ("missing source", create("st", "SELECT id FROM no_such_table"), S::UNDEFINED_TABLE, "no_such_table"),
        ("missing column", create("st", "SELECT nope FROM src"), S::UNDEFINED_COLUMN, "nope"),
        ("wrong types", create("st", "SELECT id + 'x'::text FROM src"), S::UNDEFINED_FUNCTION, "operator does not exist"),
        ("parameter", create("st", "SELECT id FROM src WHERE id = $1"), S::UNDEFINED_PARAMETER, "$1"),
        ("unknown refresh mode", "SELECT pgtrickle.create_stream_table('st', 'SELECT id FROM src', refresh_mode => 'SOMETIMES')".into(), S::INVALID_PARAMETER_VALUE, "invalid refresh mode \"SOMETIMES\""),
        ("DIFFERENTIAL of LIMIT", "SELECT pgtrickle.create_stream_table('st', 'SELECT id FROM src LIMIT 1', refresh_mode => 'DIFFERENTIAL')".into(), S::FEATURE_NOT_SUPPORTED, "cannot maintain stream table \"public.st\" incrementally"),
        ("DIFFERENTIAL of a correlated aggregate subquery", "SELECT pgtrickle.create_stream_table('st', 'SELECT id FROM src s WHERE EXISTS (SELECT 1 FROM src t WHERE t.id = s.id GROUP BY t.v HAVING count(*) > 1)', refresh_mode => 'DIFFERENTIAL')".into(), S::FEATURE_NOT_SUPPORTED, "incrementally"),
        ("DIFFERENTIAL of an IN subquery under OR", "SELECT pgtrickle.create_stream_table('st', 'SELECT id FROM src s WHERE s.id = 1 OR s.id IN (SELECT t.id + 1 FROM src t)', refresh_mode => 'DIFFERENTIAL')".into(), S::FEATURE_NOT_SUPPORTED, "incrementally"),
        ("DIFFERENTIAL of last_value over a RANGE frame", "SELECT pgtrickle.create_stream_table('st', 'SELECT id, last_value(id) OVER (ORDER BY v) AS r FROM src', refresh_mode => 'DIFFERENTIAL')".into(), S::FEATURE_NOT_SUPPORTED, "incrementally"),
        ("DIFFERENTIAL of random()", "SELECT pgtrickle.create_stream_table('st', 'SELECT id, random() AS r FROM src', refresh_mode => 'DIFFERENTIAL')".into(), S::FEATURE_NOT_SUPPORTED, "incrementally"),
        ("malformed schedule", "SELECT pgtrickle.create_stream_table('st', 'SELECT id FROM src', schedule => '5 minutes')".into(), S::INVALID_PARAMETER_VALUE, "invalid schedule"),
        ("zero schedule", "SELECT pgtrickle.create_stream_table('st', 'SELECT id FROM src', schedule => '0s')".into(), S::INVALID_PARAMETER_VALUE, "invalid schedule"),
        ("bad cron", "SELECT pgtrickle.create_stream_table('st', 'SELECT id FROM src', schedule => '61 * * * *')".into(), S::INVALID_PARAMETER_VALUE, "invalid schedule"),
        ("duplicate columns", create("st", "SELECT id, v AS id FROM src"), S::DUPLICATE_COLUMN, "\"id\" specified more than once"),
        ("unnamed duplicates", create("st", "SELECT id + 1, id + 2 FROM src"), S::DUPLICATE_COLUMN, "?column?"),
        ("reserved column", create("st", "SELECT id AS __pgt_row_id FROM src"), S::RESERVED_NAME, "reserved"),
        ("reserved via star", create("st", "SELECT * FROM src"), S::RESERVED_NAME, "__pgt_secret"),
        ("pseudo-type", create("st", "SELECT ROW(id, v) AS r FROM src"), S::INVALID_TABLE_DEFINITION, "pseudo-type record"),
        ("no columns", create("st", "SELECT FROM src"), S::INVALID_TABLE_DEFINITION, "no columns"),
        ("temp source", create("st", "SELECT id FROM tmp_src"), S::FEATURE_NOT_SUPPORTED, "temporary table"),
        ("catalog source", create("st", "SELECT relname FROM pg_class"), S::FEATURE_NOT_SUPPORTED, "system catalog \"pg_catalog.pg_class\""),
        ("catalog in subquery", create("st", "SELECT id FROM src WHERE id IN (SELECT oid::int FROM pg_class)"), S::FEATURE_NOT_SUPPORTED, "system catalog"),
        ("information_schema", create("st", "SELECT table_name FROM information_schema.tables"), S::FEATURE_NOT_SUPPORTED, "system catalog"),
        ("NULL name", "SELECT pgtrickle.create_stream_table(NULL, 'SELECT 1')".into(), S::NULL_VALUE_NOT_ALLOWED, "\"name\""),
        ("NULL query", "SELECT pgtrickle.create_stream_table('st', NULL)".into(), S::NULL_VALUE_NOT_ALLOWED, "\"query\""),
        ("NULL mode", "SELECT pgtrickle.create_stream_table('st', 'SELECT 1', refresh_mode => NULL)".into(), S::NULL_VALUE_NOT_ALLOWED, "refresh_mode"),
        ("four-part name", create("db.s.st.x", "SELECT id FROM src"), S::INVALID_NAME, "improper"),
        ("a name in another database", create("db.s.st", "SELECT id FROM src"), S::FEATURE_NOT_SUPPORTED, "cross-database references are not implemented: db.s.st"),
        ("empty name", create("", "SELECT id FROM src"), S::INVALID_NAME, "improper stream table name"),
        ("missing schema", create("nosuchschema.st", "SELECT id FROM src"), S::INVALID_SCHEMA_NAME, "nosuchschema"),
    ];
    for (what, sql, code, part) in cases {
        let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            expect_sql_error(&mut c, &sql, code.clone(), part)
        }));
        match e {
            Ok(info) => {
                // Messages follow PostgreSQL style: no final period, no Rust backtrace.
                assert!(!info.message.ends_with('.'), "{what}: {}", info.message);
                assert!(
                    info.detail
                        .as_deref()
                        .is_none_or(|d| !d.contains("rust_begin_unwind")),
                    "{what}: backtrace in DETAIL"
                );
            }
            Err(p) => {
                std::panic::resume_unwind(Box::new(format!("case {what:?}: {}", panic_text(&p))))
            }
        }
        assert_nothing_left(&mut c, "st");
    }
    // The existing table is untouched and nothing is half-created; the session still works.
    c.batch_execute(&create("st", "SELECT id, v FROM src"))
        .unwrap();
    assert_stream_table_matches_query(&mut c, "st");
    // Creating a second stream table with the same name is refused.
    expect_sql_error(
        &mut c,
        &create("st", "SELECT id FROM src"),
        SqlState::DUPLICATE_TABLE,
        "already exists",
    );
    assert_eq!(
        c.query_one("SELECT count(*) FROM pgtrickle.pgt_stream_tables", &[])
            .unwrap()
            .get::<_, i64>(0),
        1
    );
    assert_stream_table_matches_query(&mut c, "st");
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn bad_names_for_refresh_alter_drop() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute("CREATE TABLE plain (x int); SELECT pgtrickle.create_stream_table('st', 'SELECT x FROM plain')").unwrap();
    for f in [
        "refresh_stream_table",
        "drop_stream_table",
        "alter_stream_table",
    ] {
        let e = expect_sql_error(
            &mut c,
            &format!("SELECT pgtrickle.{f}('nope')"),
            SqlState::UNDEFINED_TABLE,
            "stream table \"nope\" does not exist",
        );
        assert!(e.hint.is_some());
        expect_sql_error(
            &mut c,
            &format!("SELECT pgtrickle.{f}('plain')"),
            SqlState::WRONG_OBJECT_TYPE,
            "\"plain\" is not a stream table",
        );
        expect_sql_error(
            &mut c,
            &format!("SELECT pgtrickle.{f}(NULL)"),
            SqlState::NULL_VALUE_NOT_ALLOWED,
            "\"name\"",
        );
        for bad in ["a.b.c.d", "", "a..b", "\"unclosed"] {
            expect_sql_error(
                &mut c,
                &format!("SELECT pgtrickle.{f}('{bad}')"),
                SqlState::INVALID_NAME,
                "improper stream table name",
            );
        }
        // A database part is accepted for the current database only, as in PostgreSQL.
        expect_sql_error(
            &mut c,
            &format!("SELECT pgtrickle.{f}('otherdb.public.st')"),
            SqlState::FEATURE_NOT_SUPPORTED,
            "cross-database references are not implemented",
        );
    }
    let db: String = c
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    c.batch_execute(&format!(
        "SELECT pgtrickle.refresh_stream_table('{db}.public.st');
         SELECT pgtrickle.create_stream_table('{db}.public.st3', 'SELECT x FROM plain');
         SELECT pgtrickle.drop_stream_table('\"{db}\".public.st3');"
    ))
    .unwrap();
    // Quoted and qualified spellings resolve to the same stream table.
    c.batch_execute(r#"SELECT pgtrickle.refresh_stream_table('public."st"')"#)
        .unwrap();
    assert_stream_table_matches_query(&mut c, "st");
}
