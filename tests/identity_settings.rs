//! Row identities do not depend on session settings (a property test, seeded): random rows
//! of many types, random changes (NULLs, duplicates, deleting groups), and every refresh in
//! a session with randomly chosen DateStyle, TimeZone, IntervalStyle, extra_float_digits,
//! bytea_output, lc_monetary and client_encoding. After each refresh the stream tables
//! must equal their queries as their creator would evaluate them, and no refresh may hit
//! an identity that does not match (which would raise XX001 or leave duplicates).

use pgt_testkit::postgres::Client;
use pgt_testkit::{assert_stream_table_matches_query, cluster};

/// xorshift64*: a small deterministic generator, so a failure can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &'a [&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const TEXTS: &[&str] = &[
    "'Müller'",
    "'Łódź'",
    "'plain'",
    "'café'",
    "NULL",
    "'ß'",
    "''",
];

fn random_row(r: &mut Rng, id: u64) -> String {
    let t = r.pick(TEXTS);
    let num = if r.below(6) == 0 {
        "NULL".to_string()
    } else {
        format!("{}.{:02}", r.below(50), r.below(100))
    };
    let day = format!("'2024-{:02}-{:02}'", 1 + r.below(12), 1 + r.below(28));
    let ts = format!(
        "'2024-03-{:02} {:02}:30:00+00'",
        1 + r.below(28),
        r.below(24)
    );
    let iv = format!("'{} days {} hours'", r.below(40), r.below(24));
    let fl = r
        .pick(&["0.1", "1e-300", "'NaN'", "-0.0", "3.14159265358979", "NULL"])
        .to_string();
    let by = r
        .pick(&["'\\x00ff'::bytea", "'\\xdeadbeef'::bytea", "NULL"])
        .to_string();
    let js = r
        .pick(&["'{\"a\": 1, \"ü\": [1, 2]}'", "'[]'", "NULL"])
        .to_string();
    let mood = r.pick(&["'sad'", "'ok'", "'happy'", "NULL"]).to_string();
    let arr = r
        .pick(&["ARRAY['x', 'Ł']", "ARRAY[]::text[]", "NULL"])
        .to_string();
    format!(
        "({id}, {t}, {num}, {day}, {ts}, {iv}, {fl}, {by}, {js}, {mood}, {arr}, {})",
        r.below(2) == 0
    )
}

const SETTINGS: &[&[&str]] = &[
    &[
        "DateStyle = 'ISO, MDY'",
        "DateStyle = 'SQL, DMY'",
        "DateStyle = 'German'",
        "DateStyle = 'Postgres, YMD'",
    ],
    &[
        "TimeZone = 'UTC'",
        "TimeZone = 'Asia/Kathmandu'",
        "TimeZone = 'America/St_Johns'",
    ],
    &[
        "IntervalStyle = 'postgres'",
        "IntervalStyle = 'iso_8601'",
        "IntervalStyle = 'sql_standard'",
    ],
    &[
        "extra_float_digits = 3",
        "extra_float_digits = -15",
        "extra_float_digits = 0",
    ],
    &["bytea_output = 'hex'", "bytea_output = 'escape'"],
];

fn refresh_under(c: &mut Client, r: &mut Rng, tables: &[&str]) {
    let mut sets: Vec<String> = SETTINGS
        .iter()
        .map(|g| format!("SET LOCAL {};", r.pick(g)))
        .collect();
    if r.below(2) == 0 {
        sets.push("SET LOCAL client_encoding = 'LATIN1';".into());
    }
    let refreshes: String = tables
        .iter()
        .map(|t| format!("PERFORM pgtrickle.refresh_stream_table('{t}');"))
        .collect();
    // SET LOCAL inside a transaction this client never reads text from, so the client
    // itself keeps talking UTF-8.
    let sql = format!(
        "BEGIN; {} DO $$ BEGIN {refreshes} END $$; COMMIT;",
        sets.join(" ")
    );
    c.batch_execute(&sql)
        .unwrap_or_else(|e| panic!("refresh under {sets:?}: {e}"));
}

#[test]
fn identities_and_results_do_not_depend_on_session_settings() {
    for seed in [0x5eed_0001u64, 0x5eed_0002] {
        let db = cluster().new_database();
        let mut c = db.client();
        let mut r = Rng(seed);
        c.batch_execute(
            "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
             CREATE TABLE t (id bigint, txt text, num numeric(10,2), day date, ts timestamptz, iv interval,
                             fl float8, by bytea, js jsonb, m mood, arr text[], flag boolean);
             CREATE TABLE labels (txt text PRIMARY KEY, label text);
             INSERT INTO labels VALUES ('Müller', 'm'), ('Łódź', 'l'), ('café', 'c'), ('ß', 's'), ('', 'empty');",
        )
        .unwrap();
        let rows: Vec<String> = (0..40).map(|i| random_row(&mut r, i)).collect();
        c.batch_execute(&format!("INSERT INTO t VALUES {}", rows.join(", ")))
            .unwrap();
        let tables = [
            "bag",
            "dist",
            "groups",
            "keyed_like",
            "first",
            "first_by_text",
            "top_text",
            "max_per_text",
            "looked_up",
            "twins",
            "fixed_scale",
            "below_by_text",
            "collated_groups",
            "common",
            "only_left",
            "windowed",
            "rolled_up",
            "unnested",
            "by_interval",
            "recursed",
            "latest_per_label",
            "counted_per_label",
        ];
        c.batch_execute(
            "SELECT pgtrickle.create_stream_table('bag', 'SELECT txt, num, day, ts, iv, fl, by, js, m, arr, flag FROM t', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('dist', 'SELECT DISTINCT txt, day, m, flag FROM t', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('groups', 'SELECT txt, m, count(*) AS n, sum(num) AS s, min(day) AS d FROM t GROUP BY txt, m', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('keyed_like', 'SELECT id, txt, ts FROM t WHERE flag', refresh_mode => 'DIFFERENTIAL');
             -- DISTINCT ON, ordered so that only duplicate rows tie.
             SELECT pgtrickle.create_stream_table('first', 'SELECT DISTINCT ON (txt) txt, id, day, ts FROM t ORDER BY txt, ts DESC, id, day', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('first_by_text', 'SELECT DISTINCT ON (m) m, txt, id FROM t ORDER BY m, txt DESC, id', refresh_mode => 'DIFFERENTIAL');
             -- A top-k by text and time (only duplicate rows tie), and a correlated subquery
             -- keyed by text.
             SELECT pgtrickle.create_stream_table('top_text', 'SELECT txt, ts, id, day FROM t ORDER BY txt DESC NULLS FIRST, ts, id, day LIMIT 5', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('max_per_text', 'SELECT id, txt, (SELECT max(t2.num) FROM t t2 WHERE t2.txt = t.txt) AS mx FROM t WHERE flag', refresh_mode => 'DIFFERENTIAL');
             -- A look-up by text on a primary key, an EXISTS flag, fixed-scale arithmetic.
             SELECT pgtrickle.create_stream_table('looked_up', 'SELECT id, day, (SELECT l.label FROM labels l WHERE l.txt = t.txt) AS label FROM t', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('twins', 'SELECT id, ts, EXISTS (SELECT 1 FROM t t2 WHERE t2.txt = t.txt AND t2.id <> t.id) AS twin FROM t', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('fixed_scale', 'SELECT m, sum(num * (1 - num)) AS s, avg(num * 2 + 0.5) AS a FROM t GROUP BY m', refresh_mode => 'DIFFERENTIAL');
             -- Groupings below the top with stored states, keyed by text (one under an
             -- explicit collation that a comparison above depends on), and set operations.
             SELECT pgtrickle.create_stream_table('below_by_text', 'SELECT s.txt, s.n, s.s, l.label FROM (SELECT txt, count(*) AS n, sum(num) AS s FROM t GROUP BY txt) s LEFT JOIN labels l ON l.txt = s.txt', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('collated_groups', 'SELECT g, n FROM (SELECT lower(txt) COLLATE \"C\" AS g, count(*) AS n FROM t GROUP BY 1) s WHERE g > ''l''', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('common', 'SELECT txt, m FROM t INTERSECT ALL SELECT txt, m FROM t WHERE flag', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('only_left', 'SELECT txt FROM t EXCEPT SELECT txt FROM labels', refresh_mode => 'DIFFERENTIAL');
             -- Windows partitioned and ordered by text and time, grouping sets over text and
             -- dates, set-returning functions over arrays and jsonb, an interval key, a
             -- recursion over dates, an ordered-set aggregate.
             SELECT pgtrickle.create_stream_table('windowed', 'SELECT id, txt, ts, rank() OVER (PARTITION BY m ORDER BY txt, ts) AS r, lag(day) OVER (PARTITION BY txt ORDER BY ts, id, day) AS prev, count(*) OVER (PARTITION BY iv) AS same_iv FROM t', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('rolled_up', 'SELECT txt, day, count(*) AS n, percentile_disc(0.5) WITHIN GROUP (ORDER BY ts) AS mid, GROUPING(txt, day) AS g FROM t GROUP BY ROLLUP (txt, day)', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('unnested', 'SELECT t.id, u.x, u.o, e.key FROM t CROSS JOIN LATERAL unnest(t.arr) WITH ORDINALITY AS u(x, o) LEFT JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(t.js) = ''object'' THEN t.js END) AS e ON true', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('by_interval', 'SELECT iv, count(*) AS n, max(ts) AS last FROM t GROUP BY iv', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('recursed', 'WITH RECURSIVE r(d, n) AS (SELECT day, 0 FROM t WHERE flag UNION SELECT r.d + 1, r.n + 1 FROM r WHERE r.n < 2) SELECT d, n FROM r', refresh_mode => 'DIFFERENTIAL');
             -- LATERAL subqueries keyed by text: the latest row per label (only duplicate
             -- rows tie) and an aggregate per label (a row even without matches).
             SELECT pgtrickle.create_stream_table('latest_per_label', 'SELECT l.txt, x.id, x.ts FROM labels l LEFT JOIN LATERAL (SELECT t.id, t.ts FROM t WHERE t.txt = l.txt ORDER BY t.ts DESC, t.id, t.day LIMIT 1) x ON true', refresh_mode => 'DIFFERENTIAL');
             SELECT pgtrickle.create_stream_table('counted_per_label', 'SELECT l.txt, x.n, x.s FROM labels l, LATERAL (SELECT count(*) AS n, sum(t.num) AS s FROM t WHERE t.txt = l.txt) x', refresh_mode => 'DIFFERENTIAL');",
        )
        .unwrap();
        let mut next_id = 1000;
        for _round in 0..12 {
            let mut dml = Vec::new();
            for _ in 0..(1 + r.below(4)) {
                next_id += 1;
                let row = random_row(&mut r, next_id);
                dml.push(format!("INSERT INTO t VALUES {row}, {row}"));
            }
            dml.push(format!("DELETE FROM t WHERE id % 9 = {}", r.below(9)));
            dml.push(format!(
                "UPDATE t SET txt = {}, num = num + 1, flag = NOT flag WHERE id % 7 = {}",
                r.pick(TEXTS),
                r.below(7)
            ));
            // The look-up's side: a label changes, goes or comes back.
            let l = r.pick(TEXTS);
            dml.push(match r.below(3) {
                0 => format!("UPDATE labels SET label = label || '+' WHERE txt = {l}"),
                1 => format!("DELETE FROM labels WHERE txt = {l}"),
                _ => format!("INSERT INTO labels SELECT {l}, 'back' WHERE {l} IS NOT NULL ON CONFLICT (txt) DO NOTHING"),
            });
            if r.below(4) == 0 {
                dml.push(format!(
                    "DELETE FROM t WHERE txt IS NOT DISTINCT FROM {}",
                    r.pick(TEXTS)
                ));
            }
            c.batch_execute(&dml.join("; ")).unwrap();
            refresh_under(&mut c, &mut r, &tables);
            for st in tables {
                assert_stream_table_matches_query(&mut c, st);
            }
        }
    }
}
