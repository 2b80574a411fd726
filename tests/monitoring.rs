//! Monitoring views and functions: stream_tables_info, pg_stat_stream_tables,
//! refresh_history() and health_check().

use pgt_testkit::cluster;
use pgt_testkit::postgres::Client;

fn checks(c: &mut Client) -> Vec<(String, Option<String>)> {
    c.query(
        "SELECT check_name, stream_table FROM pgtrickle.health_check() ORDER BY 1, 2",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[test]
fn views_and_health_check_show_what_happened() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE src (id int PRIMARY KEY, v int); INSERT INTO src SELECT i, i FROM generate_series(1, 10) i;
         SELECT pgtrickle.create_stream_table('inc', 'SELECT id, v FROM src WHERE v > 2', schedule => '5m');
         SELECT pgtrickle.create_stream_table('full_st', 'SELECT count(*) AS n FROM src', schedule => '*/10 * * * *', refresh_mode => 'FULL');
         INSERT INTO src VALUES (11, 11); SELECT pgtrickle.refresh_stream_table('inc');
         UPDATE src SET v = 0 WHERE id = 5; SELECT pgtrickle.refresh_stream_table('inc');",
    )
    .unwrap();

    let r = c
        .query_one(
            "SELECT schedule, effective_refresh_mode, status, is_populated, staleness IS NOT NULL, \
                    next_due_at > last_refresh_at AND next_due_at <= last_refresh_at + interval '5 minutes' \
                    AND extract(epoch FROM next_due_at)::bigint % 192 = 0 FROM pgtrickle.stream_tables_info WHERE name = 'inc'",
            &[],
        )
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "5m");
    assert_eq!(r.get::<_, String>(1), "DIFFERENTIAL");
    assert_eq!(r.get::<_, String>(2), "ACTIVE");
    assert!(r.get::<_, bool>(3) && r.get::<_, bool>(4) && r.get::<_, bool>(5));
    let cron_next: bool = c
        .query_one("SELECT next_due_at > last_refresh_at AND extract(minute FROM next_due_at)::int % 10 = 0 FROM pgtrickle.stream_tables_info WHERE name = 'full_st'", &[])
        .unwrap()
        .get(0);
    assert!(cron_next);

    let r = c
        .query_one(
            "SELECT refreshes, differential_refreshes, full_refreshes, failures, rows_inserted, rows_deleted, avg_duration IS NOT NULL \
               FROM pgtrickle.pg_stat_stream_tables WHERE name = 'inc'",
            &[],
        )
        .unwrap();
    // Creation (FULL) + two DIFFERENTIAL refreshes: one row inserted, then one deleted.
    assert_eq!(
        (
            r.get::<_, i64>(0),
            r.get::<_, i64>(1),
            r.get::<_, i64>(2),
            r.get::<_, i64>(3)
        ),
        (3, 2, 1, 0)
    );
    assert_eq!((r.get::<_, i64>(4), r.get::<_, i64>(5)), (9, 1));
    assert!(r.get::<_, bool>(6));

    let hist: Vec<String> = c
        .query(
            "SELECT action FROM pgtrickle.refresh_history('inc', 2)",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(hist, vec!["DIFFERENTIAL", "DIFFERENTIAL"]);

    // The test cluster runs with the scheduler off, which health_check reports.
    assert_eq!(
        checks(&mut c),
        vec![("automatic refresh disabled".to_string(), None)]
    );
    c.batch_execute(
        "SELECT pgtrickle.alter_stream_table('full_st', status => 'SUSPENDED');
         UPDATE pgtrickle.pgt_stream_tables SET last_refresh_at = now() - interval '1 hour' WHERE pgt_name = 'inc';",
    )
    .unwrap();
    assert_eq!(
        checks(&mut c),
        vec![
            ("automatic refresh disabled".to_string(), None),
            ("stale".to_string(), Some("public.inc".to_string())),
            ("suspended".to_string(), Some("public.full_st".to_string())),
        ]
    );
    // An IMMEDIATE stream table is never stale (it is current inside every writing
    // transaction); one restored a while ago but still waiting for its primary key is
    // reported; buffers of state tables are not mistaken for change buffers.
    c.batch_execute(
        "CREATE TABLE src2 (id int PRIMARY KEY, g int, v int);
         INSERT INTO src2 SELECT i, i % 3, i FROM generate_series(1, 20) i;
         SELECT pgtrickle.create_stream_table('now_st', 'SELECT id, v FROM src2', refresh_mode => 'IMMEDIATE');
         SELECT pgtrickle.create_stream_table('nested', 'SELECT g, max(n) AS m FROM (SELECT g, v, count(*) AS n FROM src2 GROUP BY g, v) x GROUP BY g', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('waiting', 'SELECT id FROM src2');
         UPDATE pgtrickle.pgt_stream_tables SET last_refresh_at = now() - interval '1 hour' WHERE pgt_name = 'now_st';
         UPDATE pgtrickle.pgt_stream_tables SET restored_at = now() - interval '2 minutes' WHERE pgt_name = 'waiting';
         ALTER TABLE waiting DROP CONSTRAINT waiting_pkey;",
    )
    .unwrap();
    let found = checks(&mut c);
    assert!(
        !found
            .iter()
            .any(|(_, st)| st.as_deref() == Some("public.now_st")),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "restore incomplete".to_string(),
            Some("public.waiting".to_string())
        )),
        "{found:?}"
    );
    c.batch_execute("SELECT pgtrickle.drop_stream_table('full_st'); DROP TABLE src CASCADE;")
        .unwrap();
    assert!(checks(&mut c).contains(&("error".to_string(), Some("public.inc".to_string()))));
}
