//! The server functions of generated SQL outside the extension (ADR-077,
//! `pgt_sql::server_functions::PlainSql`): installed with plain SQL on a server that never
//! loaded pg_trickle, they hash rows stably whatever the caller's search_path,
//! raise the SQLSTATEs the extension's own functions raise, and a FULL refresh statement
//! generated for them keeps a table equal to its query.

use pgt_sql::server_functions::{PlainSql, ServerFunctions};
use pgt_testkit::cluster_without_extension;
use pgt_testkit::postgres::Client;

fn plain() -> PlainSql {
    PlainSql {
        schema: "pgt engine\"x".into(),
        quiet_message: "a quiet source changed".into(),
    }
}

fn one_i64(c: &mut Client, sql: &str) -> Option<i64> {
    c.query_one(sql, &[]).unwrap().get(0)
}

fn error_of(c: &mut Client, sql: &str) -> (String, String) {
    let e = c.batch_execute(sql).unwrap_err();
    let db = e.as_db_error().expect("a server error");
    (db.code().code().to_string(), db.message().to_string())
}

#[test]
fn plain_sql_server_functions_work_without_the_extension() {
    // A cluster that never loaded pg_trickle.
    let db = cluster_without_extension().new_database();
    let mut c = db.client();
    let p = plain();
    c.batch_execute(&format!(
        "CREATE SCHEMA {}",
        pgt_sql::quote_ident(&p.schema)
    ))
    .unwrap();
    for _ in 0..2 {
        for ddl in p.install() {
            c.batch_execute(&ddl).unwrap();
        }
    }

    // Hashes: stable, distinct for distinct rows and occurrences, NULL for NULL, and not
    // affected by functions planted in the caller's search_path.
    let row = p.hash_bytes("pg_catalog.record_send(ROW(1, 'a'::text, NULL::int))");
    let other = p.hash_bytes("pg_catalog.record_send(ROW(1, 'b'::text, NULL::int))");
    let h1 = one_i64(&mut c, &format!("SELECT {row}"));
    assert!(h1.is_some());
    assert_ne!(h1, one_i64(&mut c, &format!("SELECT {other}")));
    assert_eq!(
        one_i64(&mut c, &format!("SELECT {}", p.hash_bytes("NULL::bytea"))),
        None
    );
    let occ1 = one_i64(&mut c, &format!("SELECT {}", p.hash_combine("42", "1")));
    let occ2 = one_i64(&mut c, &format!("SELECT {}", p.hash_combine("42", "2")));
    assert_ne!(occ1, occ2);
    c.batch_execute(
        "CREATE SCHEMA evil;
         CREATE FUNCTION evil.hashtextextended(text, bigint) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
         CREATE FUNCTION evil.encode(bytea, text) RETURNS text LANGUAGE sql AS 'SELECT ''x''::text';
         SET search_path = evil, pg_catalog;",
    )
    .unwrap();
    assert_eq!(one_i64(&mut c, &format!("SELECT {row}")), h1);
    assert_eq!(
        one_i64(&mut c, &format!("SELECT {}", p.hash_combine("42", "1"))),
        occ1
    );
    c.batch_execute("RESET search_path").unwrap();

    // Checks: true passes; otherwise the SQLSTATE of the extension's function.
    c.batch_execute(&format!(
        "SELECT {}, {}, {}, {}",
        p.check("true", "'unused'"),
        p.single_row_check("true"),
        p.single_row_check("NULL"),
        p.quiet_check("true")
    ))
    .unwrap();
    assert_eq!(
        error_of(
            &mut c,
            &format!("SELECT {}", p.check("false", "'state went negative'"))
        ),
        ("XX001".into(), "state went negative".into())
    );
    assert_eq!(
        error_of(&mut c, &format!("SELECT {}", p.check("NULL", "'unknown'"))).0,
        "XX001"
    );
    assert_eq!(
        error_of(&mut c, &format!("SELECT {}", p.single_row_check("false"))),
        (
            "21000".into(),
            "more than one row returned by a subquery used as an expression".into()
        )
    );
    assert_eq!(
        error_of(&mut c, &format!("SELECT {}", p.quiet_check("false"))),
        ("40001".into(), "a quiet source changed".into())
    );

    // A FULL refresh statement generated for these functions, run twice over changing
    // rows (NULLs, duplicates): the table equals its query, and rows that stay keep their
    // identities.
    c.batch_execute(
        "CREATE TABLE src (k int, v text);
         INSERT INTO src VALUES (1, 'a'), (1, 'a'), (2, NULL), (NULL, 'z');
         CREATE TABLE st (__pgt_row_id bigint PRIMARY KEY, k int, v text);",
    )
    .unwrap();
    let columns = vec![
        pgt_core::OutputColumn {
            name: "k".into(),
            type_sql: "integer".into(),
            collation_sql: None,
            is_pseudo_type: false,
        },
        pgt_core::OutputColumn {
            name: "v".into(),
            type_sql: "text".into(),
            collation_sql: None,
            is_pseudo_type: false,
        },
    ];
    let full = pgt_sql::full_refresh::full_refresh_statement(
        &pgt_sql::QualifiedName::new("public", "st"),
        &columns,
        "SELECT k, v FROM src",
        &p,
    );
    assert!(!full.contains("pgtrickle."), "{full}");
    let differs = "SELECT (SELECT count(*) FROM (SELECT k, v FROM st EXCEPT ALL SELECT k, v FROM src) a) \
                        + (SELECT count(*) FROM (SELECT k, v FROM src EXCEPT ALL SELECT k, v FROM st) b)";
    c.batch_execute(&full).unwrap();
    assert_eq!(one_i64(&mut c, differs), Some(0));
    let kept: Option<i64> = one_i64(&mut c, "SELECT __pgt_row_id FROM st WHERE k = 2");
    c.batch_execute(
        "DELETE FROM src WHERE k IS NULL; INSERT INTO src VALUES (1, 'a'), (3, 'c'); UPDATE src SET v = 'b' WHERE k = 1 AND v = 'a' AND ctid = (SELECT min(ctid) FROM src WHERE k = 1);",
    )
    .unwrap();
    c.batch_execute(&full).unwrap();
    assert_eq!(one_i64(&mut c, differs), Some(0));
    assert_eq!(
        one_i64(&mut c, "SELECT __pgt_row_id FROM st WHERE k = 2"),
        kept
    );
}
