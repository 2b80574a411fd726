//! User triggers on stream tables (ADR-006): AFTER row triggers see each refresh's effect
//! as INSERT, UPDATE and DELETE with the right OLD and NEW (a keyed row that changes is one
//! UPDATE), statement triggers get the refresh's transition tables, recomputations touch
//! only rows that changed, and BEFORE row triggers are refused.

use pgt_testkit::postgres::error::SqlState;
use pgt_testkit::postgres::Client;
use pgt_testkit::{cluster, expect_sql_error, refresh_and_assert, TestDb};

/// Installs an audit trigger on `st` recording (op, old key, new key, old value, new value).
/// Refreshes run with `search_path = pg_catalog, pg_temp` (ADR-074): trigger functions
/// qualify their names (or set their own search_path).
fn audit(c: &mut Client, st: &str, key: &str, val: &str) {
    c.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS audit (seq serial, st text, op text, old_key text, new_key text, old_val text, new_val text);
         CREATE OR REPLACE FUNCTION audit_{st}() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           INSERT INTO public.audit (st, op, old_key, new_key, old_val, new_val)
           VALUES ('{st}', TG_OP,
                   CASE WHEN TG_OP <> 'INSERT' THEN OLD.{key}::text END, CASE WHEN TG_OP <> 'DELETE' THEN NEW.{key}::text END,
                   CASE WHEN TG_OP <> 'INSERT' THEN OLD.{val}::text END, CASE WHEN TG_OP <> 'DELETE' THEN NEW.{val}::text END);
           RETURN NULL;
         END $$;
         CREATE TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE ON {st} FOR EACH ROW EXECUTE FUNCTION audit_{st}();"
    ))
    .unwrap();
}

/// A database with `item` (five rows, keyed by `id`) and the DIFFERENTIAL stream table
/// `keyed` over it.
fn items() -> (TestDb, Client) {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE item (id int PRIMARY KEY, price int);
         INSERT INTO item SELECT i, i FROM generate_series(1, 5) i;
         SELECT pgtrickle.create_stream_table('keyed', 'SELECT id, price FROM item', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    (db, c)
}

/// (op, old key, new key, old value, new value) of one audited row change.
type Audited = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The audit rows since the last call, sorted.
fn drain(c: &mut Client, st: &str) -> Vec<Audited> {
    let rows = c
        .query(
            "DELETE FROM audit WHERE st = $1 RETURNING op, old_key, new_key, old_val, new_val, seq",
            &[&st],
        )
        .unwrap();
    let mut out: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.get::<_, i32>(5),
                (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)),
            )
        })
        .collect();
    out.sort_by_key(|(seq, _)| *seq);
    let mut v: Vec<_> = out.into_iter().map(|(_, x)| x).collect();
    v.sort();
    v
}

fn s(x: &str) -> Option<String> {
    Some(x.to_string())
}

#[test]
fn user_triggers_see_inserts_updates_and_deletes_with_old_and_new() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE item (id int PRIMARY KEY, g int, price int);
         INSERT INTO item SELECT i, i % 3, i * 10 FROM generate_series(1, 9) i;
         SELECT pgtrickle.create_stream_table('keyed', 'SELECT id, price FROM item WHERE price < 1000', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('per_g', 'SELECT g, sum(price) AS total FROM item GROUP BY g', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    audit(&mut c, "keyed", "id", "price");
    audit(&mut c, "per_g", "g", "total");
    c.batch_execute(
        "INSERT INTO item VALUES (10, 5, 100);
         UPDATE item SET price = 11 WHERE id = 1;
         UPDATE item SET price = 5000 WHERE id = 2;
         DELETE FROM item WHERE id = 3;
         DELETE FROM item WHERE g = 2;
         SELECT pgtrickle.refresh_stream_table('keyed');
         SELECT pgtrickle.refresh_stream_table('per_g');",
    )
    .unwrap();
    assert_eq!(
        drain(&mut c, "keyed"),
        vec![
            ("DELETE".into(), s("2"), None, s("20"), None),
            ("DELETE".into(), s("3"), None, s("30"), None),
            ("DELETE".into(), s("5"), None, s("50"), None),
            ("DELETE".into(), s("8"), None, s("80"), None),
            ("INSERT".into(), None, s("10"), None, s("100")),
            // A keyed row that changes is one UPDATE with its OLD and NEW.
            ("UPDATE".into(), s("1"), s("1"), s("10"), s("11")),
        ]
    );
    // Group 0 and 1 change (one UPDATE each), 2 goes, 5 comes.
    assert_eq!(
        drain(&mut c, "per_g"),
        vec![
            ("DELETE".into(), s("2"), None, s("150"), None),
            ("INSERT".into(), None, s("5"), None, s("100")),
            ("UPDATE".into(), s("0"), s("0"), s("180"), s("150")),
            ("UPDATE".into(), s("1"), s("1"), s("120"), s("121")),
        ]
    );
    // A recomputation (TRUNCATE) touches only what changed, keyed rows as UPDATEs.
    c.batch_execute(
        "BEGIN; TRUNCATE item; INSERT INTO item VALUES (1, 1, 12), (4, 1, 40), (6, 0, 60), (7, 1, 70), (9, 0, 90), (10, 5, 100), (11, 0, 1); COMMIT;
         SELECT pgtrickle.refresh_stream_table('keyed');",
    )
    .unwrap();
    assert_eq!(
        drain(&mut c, "keyed"),
        vec![
            ("INSERT".into(), None, s("11"), None, s("1")),
            ("UPDATE".into(), s("1"), s("1"), s("11"), s("12")),
        ]
    );
    refresh_and_assert(&mut c, &["keyed", "per_g"]);
}

#[test]
fn user_statement_triggers_get_the_refresh_transition_tables() {
    let (_db, mut c) = items();
    c.batch_execute(
        "CREATE TABLE seen (op text, n bigint);
         CREATE FUNCTION seen_ins() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO public.seen SELECT 'INSERT', count(*) FROM new_rows; RETURN NULL; END $$;
         CREATE FUNCTION seen_del() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO public.seen SELECT 'DELETE', count(*) FROM old_rows; RETURN NULL; END $$;
         CREATE TRIGGER seen_i AFTER INSERT ON keyed REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION seen_ins();
         CREATE TRIGGER seen_d AFTER DELETE ON keyed REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION seen_del();
         INSERT INTO item VALUES (6, 6), (7, 7);
         DELETE FROM item WHERE id = 1;
         SELECT pgtrickle.refresh_stream_table('keyed');",
    )
    .unwrap();
    let got: Vec<(String, i64)> = c
        .query(
            "SELECT op, sum(n)::bigint FROM seen GROUP BY op ORDER BY op",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        got,
        vec![("DELETE".to_string(), 1), ("INSERT".to_string(), 2)]
    );
}

#[test]
fn user_before_row_triggers_are_refused_and_full_mode_replaces_changed_rows() {
    let (_db, mut c) = items();
    c.batch_execute(
        "SELECT pgtrickle.create_stream_table('full_st', 'SELECT id, price FROM item', refresh_mode => 'FULL');
         CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.price := NEW.price + 1; RETURN NEW; END $$;",
    )
    .unwrap();
    expect_sql_error(
        &mut c,
        "CREATE TRIGGER bump BEFORE INSERT OR UPDATE ON keyed FOR EACH ROW EXECUTE FUNCTION bump()",
        SqlState::WRONG_OBJECT_TYPE,
        "BEFORE row trigger",
    );
    // A FULL-mode stream table has no row identity but its content: a changed row is a
    // DELETE of the old and an INSERT of the new; unchanged rows are not touched.
    audit(&mut c, "full_st", "id", "price");
    c.batch_execute("UPDATE item SET price = 50 WHERE id = 5; SELECT pgtrickle.refresh_stream_table('full_st');")
        .unwrap();
    assert_eq!(
        drain(&mut c, "full_st"),
        vec![
            ("DELETE".into(), s("5"), None, s("5"), None),
            ("INSERT".into(), None, s("5"), None, s("50")),
        ]
    );
}
