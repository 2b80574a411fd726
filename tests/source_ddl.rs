//! DDL on the sources of stream tables: unused changes keep working; changes to columns a
//! stream table uses, or renaming a source, put it in ERROR with a clear reason; writes to
//! sources keep working (change capture follows the new columns).

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{assert_stream_table_matches_query, cluster, expect_sql_error};

fn status(c: &mut Client, st: &str) -> (String, Option<String>) {
    let r = c
        .query_one(
            "SELECT status, status_reason FROM pgtrickle.pgt_stream_tables WHERE pgt_name = $1",
            &[&st],
        )
        .unwrap();
    (r.get(0), r.get(1))
}

#[test]
fn source_ddl_is_followed_or_refused_clearly() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE src (id int PRIMARY KEY, v int, w text, unused text);
         INSERT INTO src SELECT i, i, 'w' || i, 'u' FROM generate_series(1, 10) i;
         CREATE TABLE other (id int, k int);
         INSERT INTO other VALUES (1, 1);
         SELECT pgtrickle.create_stream_table('uses_v', 'SELECT id, v FROM src WHERE v > 2');
         SELECT pgtrickle.create_stream_table('uses_w', 'SELECT id, w FROM src');
         SELECT pgtrickle.create_stream_table('uses_other', 'SELECT id, k FROM other');",
    )
    .unwrap();

    // Adding a column nothing uses changes nothing; writes and refreshes keep working.
    c.batch_execute("ALTER TABLE src ADD COLUMN extra int DEFAULT 7; INSERT INTO src VALUES (11, 11, 'w11', 'u', 1);").unwrap();
    // Dropping and renaming unused columns: capture follows, no stream table is affected.
    c.batch_execute(
        "ALTER TABLE src DROP COLUMN unused; INSERT INTO src VALUES (12, 12, 'w12', 2);",
    )
    .unwrap();
    c.batch_execute(
        "ALTER TABLE src RENAME COLUMN extra TO extra2; UPDATE src SET extra2 = 3 WHERE id = 1;",
    )
    .unwrap();
    for st in ["uses_v", "uses_w"] {
        c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')"))
            .unwrap();
        assert_stream_table_matches_query(&mut c, st);
        assert_eq!(status(&mut c, st).0, "ACTIVE");
    }

    // A stream table that reads the extended column later still gets its changes.
    c.batch_execute("SELECT pgtrickle.create_stream_table('uses_extra', 'SELECT id, extra2 FROM src'); UPDATE src SET extra2 = 9 WHERE id = 2;")
        .unwrap();
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('uses_extra')")
        .unwrap();
    assert_stream_table_matches_query(&mut c, "uses_extra");

    // Changing the type of a used column: ERROR, naming the column; the others go on.
    c.batch_execute("ALTER TABLE src ALTER COLUMN v TYPE bigint")
        .unwrap();
    let (st, reason) = status(&mut c, "uses_v");
    assert_eq!(st, "ERROR");
    assert!(
        reason.as_deref().unwrap_or("").contains("v integer")
            && reason.as_deref().unwrap_or("").contains("v bigint"),
        "{reason:?}"
    );
    expect_sql_error(
        &mut c,
        "SELECT pgtrickle.refresh_stream_table('uses_v')",
        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
        "is in status ERROR",
    );
    assert_eq!(status(&mut c, "uses_w").0, "ACTIVE");
    c.batch_execute("INSERT INTO src (id, v, w) VALUES (13, 13, 'w13'); SELECT pgtrickle.refresh_stream_table('uses_w');").unwrap();
    assert_stream_table_matches_query(&mut c, "uses_w");

    // Dropping a used column: ERROR.
    c.batch_execute("ALTER TABLE src DROP COLUMN w").unwrap();
    assert_eq!(status(&mut c, "uses_w").0, "ERROR");
    c.batch_execute("INSERT INTO src (id, v) VALUES (14, 14)")
        .unwrap();

    // Renaming a source: ERROR naming both names.
    c.batch_execute("ALTER TABLE other RENAME TO other2")
        .unwrap();
    let (st, reason) = status(&mut c, "uses_other");
    assert_eq!(st, "ERROR");
    assert!(reason.unwrap().contains("was renamed to public.other2"));
    c.batch_execute("INSERT INTO other2 VALUES (2, 2)").unwrap();

    // The unaffected stream table still follows its source.
    c.batch_execute("UPDATE src SET extra2 = 10 WHERE id = 3; SELECT pgtrickle.refresh_stream_table('uses_extra');").unwrap();
    assert_stream_table_matches_query(&mut c, "uses_extra");
    assert_eq!(status(&mut c, "uses_extra").0, "ACTIVE");
}
