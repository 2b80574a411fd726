//! Assertions shared by every end-to-end test.

use postgres::error::SqlState;
use postgres::Client;

/// How many differing rows a failure message shows per side.
const MAX_DIFF_ROWS: i64 = 25;

/// The difference between a stream table and a fresh run of its defining query.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StreamTableDiff {
    /// Rows the stream table holds more often than the query returns them.
    pub extra: Vec<String>,
    /// Rows the query returns more often than the stream table holds them.
    pub missing: Vec<String>,
    pub extra_count: i64,
    pub missing_count: i64,
}

/// Computes the two-way multiset difference (`EXCEPT ALL` in both directions) between the
/// user-visible columns of stream table `st` and its defining query, in one statement (one
/// snapshot). Rows are compared by their text form, which works for every type (json has
/// no equality operator) and is stricter than `=`: `1.50` and `1.5` differ, as a user
/// would see them differ.
pub fn stream_table_diff(client: &mut Client, st: &str) -> StreamTableDiff {
    diff(client, st, Compare::Text)
}

/// How rows are compared.
#[derive(Clone, Copy)]
enum Compare {
    /// By text form (strict: `1.50` ≠ `1.5`).
    Text,
    /// By the types' own equality (`1.50` = `1.5`, `-0` = `0`): for queries where
    /// PostgreSQL itself may return any one of several equal values (a GROUP BY key over
    /// values of different scales).
    Equality,
}

fn diff(client: &mut Client, st: &str, how: Compare) -> StreamTableDiff {
    let row = client
        .query_one(
            "SELECT s.defining_query, \
                    (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) \
                       FROM pg_attribute a \
                      WHERE a.attrelid = s.pgt_relid AND a.attnum > 0 AND NOT a.attisdropped \
                        AND a.attname NOT LIKE '\\_\\_pgt\\_%'), \
                    s.pgt_relid::regclass::text \
               FROM pgtrickle.pgt_stream_tables s WHERE s.pgt_relid = $1::text::regclass",
            &[&st],
        )
        .unwrap_or_else(|e| panic!("looking up stream table {st}: {e:?}"));
    let query: String = row.get(0);
    let cols: String = row.get(1);
    let rel: String = row.get(2);
    let (st_row, q_row) = match how {
        Compare::Text => (
            format!("(ROW({cols}))::text AS r FROM {rel}"),
            format!("(ROW({cols}))::text AS r FROM ({query}) AS __q"),
        ),
        Compare::Equality => (
            format!("ROW({cols}) AS r FROM {rel}"),
            format!("ROW({cols}) AS r FROM ({query}) AS __q"),
        ),
    };
    let sql = format!(
        "WITH st AS (SELECT {st_row}), \
              q AS (SELECT {q_row}), \
              extra AS (SELECT r FROM st EXCEPT ALL SELECT r FROM q), \
              missing AS (SELECT r FROM q EXCEPT ALL SELECT r FROM st) \
         SELECT (SELECT count(*) FROM extra), (SELECT count(*) FROM missing), \
                ARRAY(SELECT r::text FROM extra ORDER BY r::text LIMIT {MAX_DIFF_ROWS}), \
                ARRAY(SELECT r::text FROM missing ORDER BY r::text LIMIT {MAX_DIFF_ROWS})"
    );
    let row = client
        .query_one(&sql, &[])
        .unwrap_or_else(|e| panic!("comparing {st} with its query: {e:?}\n{sql}"));
    StreamTableDiff {
        extra_count: row.get(0),
        missing_count: row.get(1),
        extra: row.get(2),
        missing: row.get(3),
    }
}

/// Whether the stream table holds exactly the rows of its defining query (see
/// [`stream_table_diff`]); for polling while background workers refresh.
pub fn stream_table_matches(client: &mut Client, st: &str) -> bool {
    let d = stream_table_diff(client, st);
    d.extra_count == 0 && d.missing_count == 0
}

/// Panics with a readable diff unless stream table `st` equals its defining query as a
/// multiset (both directions of `EXCEPT ALL`).
#[track_caller]
pub fn assert_stream_table_matches_query(client: &mut Client, st: &str) {
    report(st, diff(client, st, Compare::Text));
}

/// Like [`assert_stream_table_matches_query`], comparing rows with the types' equality
/// instead of their text: for keys where PostgreSQL returns any one of several equal
/// values (`1.0`/`1.00`, `-0`/`0`).
#[track_caller]
pub fn assert_stream_table_equals_query(client: &mut Client, st: &str) {
    report(st, diff(client, st, Compare::Equality));
}

#[track_caller]
fn report(st: &str, d: StreamTableDiff) {
    if d.extra_count == 0 && d.missing_count == 0 {
        return;
    }
    let mut msg = format!(
        "stream table {st} differs from its defining query: {} row(s) only in the stream table, {} row(s) only in the query\n",
        d.extra_count, d.missing_count
    );
    for r in &d.extra {
        msg.push_str(&format!(
            "  + {r}    (stream table has it, query does not)\n"
        ));
    }
    for r in &d.missing {
        msg.push_str(&format!(
            "  - {r}    (query returns it, stream table does not)\n"
        ));
    }
    panic!("{msg}");
}

/// What a failing statement reported.
#[derive(Debug, Clone)]
pub struct SqlErrorInfo {
    pub code: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

/// Runs `sql`, expects it to fail with SQLSTATE `code` and a message containing
/// `message_part`, and returns the error for further checks.
#[track_caller]
pub fn expect_sql_error(
    client: &mut Client,
    sql: &str,
    code: SqlState,
    message_part: &str,
) -> SqlErrorInfo {
    let err = match client.batch_execute(sql) {
        Ok(()) => panic!("expected an error from:\n{sql}"),
        Err(e) => e,
    };
    let db = err
        .as_db_error()
        .unwrap_or_else(|| panic!("expected a database error from {sql}, got {err:?}"));
    let info = SqlErrorInfo {
        code: db.code().clone(),
        message: db.message().to_string(),
        detail: db.detail().map(str::to_string),
        hint: db.hint().map(str::to_string),
    };
    assert_eq!(
        &info.code,
        &code,
        "wrong SQLSTATE for:\n{sql}\ngot {} ({:?}): {}",
        info.code.code(),
        info.code,
        info.message
    );
    assert!(
        info.message.contains(message_part),
        "error message for:\n{sql}\nis {:?}, expected it to contain {message_part:?}",
        info.message
    );
    info
}

/// The text of `pgtrickle.explain_stream_table(st)`, one line per row.
pub fn explain_stream_table(client: &mut Client, st: &str) -> String {
    client
        .query("SELECT * FROM pgtrickle.explain_stream_table($1)", &[&st])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The executed plan of the stream table's next refresh (`explain_stream_table(st, actual
/// => true)`, the part after "plan (executed"): the changes stay pending.
pub fn analyzed_refresh_plan(client: &mut Client, st: &str) -> String {
    let text = client
        .query(
            "SELECT * FROM pgtrickle.explain_stream_table($1, actual => true)",
            &[&st],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n");
    text.split("plan (executed")
        .nth(1)
        .unwrap_or_else(|| panic!("no analyzed plan for {st}:\n{text}"))
        .to_string()
}

/// The action (`FULL`, `DIFFERENTIAL`) and reason of the stream table's latest recorded
/// refresh.
pub fn last_refresh(client: &mut Client, st: &str) -> (String, Option<String>) {
    let r = client
        .query_one(
            "SELECT h.action, h.reason FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) \
              WHERE s.pgt_name = $1 ORDER BY h.refresh_id DESC LIMIT 1",
            &[&st],
        )
        .unwrap();
    (r.get(0), r.get(1))
}

/// Runs `pgtrickle.sync_change_capture()`: each change-captured source with its mode and
/// reason.
pub fn sync_change_capture(client: &mut Client) -> Vec<(String, String, Option<String>)> {
    client
        .query(
            "SELECT source, mode, reason FROM pgtrickle.sync_change_capture()",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// The qualified name of the change buffer of `source` (a table name as SQL text).
pub fn change_buffer(client: &mut Client, source: &str) -> String {
    client
        .query_one(
            "SELECT 'pgtrickle_changes.changes_' || $1::text::regclass::oid::text",
            &[&source],
        )
        .unwrap()
        .get(0)
}

/// Refreshes each stream table and checks it against its defining query.
#[track_caller]
pub fn refresh_and_assert(client: &mut Client, sts: &[&str]) {
    for st in sts {
        if let Err(e) = client.batch_execute(&format!(
            "SELECT pgtrickle.refresh_stream_table({})",
            quote_literal(st)
        )) {
            panic!("refreshing {st}: {e:?}");
        }
        assert_stream_table_matches_query(client, st);
    }
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
