//! Change capture by logical decoding (ADR-002): a source with `REPLICA IDENTITY FULL` is
//! handed over from its statement triggers to the database's replication slot, and no
//! change is lost or applied twice across the handover, under concurrent writers, long
//! transactions, rollbacks and savepoints, TRUNCATE, DDL, a refresh in the writing
//! transaction, a lost slot, and back to triggers.

use std::thread;

use pgt_testkit::postgres::Client;
use pgt_testkit::{
    change_buffer, cluster, last_refresh, refresh_and_assert, sync_change_capture, TestDb,
};

fn sync(c: &mut Client) -> Vec<(String, String, Option<String>)> {
    sync_change_capture(c)
}

fn mode(c: &mut Client, source: &str) -> (String, Option<String>) {
    let r = c
        .query_one(
            "SELECT mode, reason FROM pgtrickle.change_capture WHERE source = $1::text::regclass",
            &[&source],
        )
        .unwrap();
    (r.get(0), r.get(1))
}

/// Refreshes without comparing (writers are still committing: the query would see more).
fn refresh_only(c: &mut Client, sts: &[&str]) {
    for st in sts {
        if let Err(e) = c.batch_execute(&format!("SELECT pgtrickle.refresh_stream_table('{st}')")) {
            panic!("refreshing {st}: {e:?}");
        }
    }
}

fn refresh_all(c: &mut Client, sts: &[&str]) {
    refresh_and_assert(c, sts);
}

/// Two writers committing into `src` until `stop`: each transaction inserts a row, updates
/// an old one and deletes the row it inserted `lag` transactions earlier; every tenth is
/// followed by a rolled-back insert. Each returns how many transactions it committed.
fn spawn_writers(
    db: &TestDb,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    lag: i64,
) -> Vec<thread::JoinHandle<i64>> {
    (0..2i64)
        .map(|w| {
            let mut wc = db.client();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut i = 0i64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let id = 10_000 + w * 100_000 + i;
                    wc.batch_execute(&format!(
                        "INSERT INTO src VALUES ({id}, {g}, {id}, 'w'); UPDATE src SET v = v + 1 WHERE id = {old}; DELETE FROM src WHERE id = {gone};",
                        g = i % 5,
                        old = 100 + i % 50,
                        gone = id - lag
                    ))
                    .unwrap();
                    if i % 10 == 0 {
                        wc.batch_execute(&format!("BEGIN; INSERT INTO src VALUES ({}, 0, 0, 'rb'); ROLLBACK", 900_000 + id))
                            .unwrap();
                    }
                    i += 1;
                }
                i
            })
        })
        .collect()
}

/// `src` (REPLICA IDENTITY FULL, a long text column), `dim` (default identity), a bag, a
/// join and an aggregate over them, all DIFFERENTIAL.
fn setup() -> (TestDb, Client) {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "SET pg_trickle.differential_max_change_ratio = 0;
         CREATE TABLE src (id int, g int, v numeric, t text);
         ALTER TABLE src REPLICA IDENTITY FULL;
         CREATE TABLE dim (g int PRIMARY KEY, label text);
         INSERT INTO dim SELECT i, 'g' || i FROM generate_series(0, 4) i;
         INSERT INTO src SELECT i, i % 5, i * 1.5, CASE WHEN i % 7 = 0 THEN NULL ELSE repeat('x', i) END FROM generate_series(1, 200) i;
         SELECT pgtrickle.create_stream_table('bag', 'SELECT id, v, t FROM src WHERE id % 2 = 0', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('agg', 'SELECT g, count(*) AS n, sum(v) AS s, max(v) AS m, min(t) AS mt FROM src GROUP BY g', refresh_mode => 'DIFFERENTIAL');
         SELECT pgtrickle.create_stream_table('joined', 'SELECT s.id, d.label, s.v FROM src s JOIN dim d ON d.g = s.g', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    (db, c)
}

const ALL: [&str; 3] = ["bag", "agg", "joined"];

#[test]
fn wal_a_full_identity_table_hands_over_and_its_changes_flow_through_the_slot() {
    let (_db, mut c) = setup();
    let states = sync(&mut c);
    let src = states.iter().find(|s| s.0 == "src").unwrap();
    assert_eq!(src.1, "WAL", "{states:?}");
    let dim = states.iter().find(|s| s.0 == "dim").unwrap();
    assert_eq!(dim.1, "TRIGGER");
    assert!(
        dim.2
            .as_deref()
            .unwrap_or("")
            .contains("REPLICA IDENTITY is DEFAULT"),
        "{dim:?}"
    );
    // Only the statement trigger noting writers is left on src.
    let triggers: Vec<String> = c
        .query(
            "SELECT tgname::text FROM pg_trigger WHERE tgrelid = 'src'::regclass ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(triggers, vec!["__pgt_cdc_wal".to_string()]);
    // Every kind of change: NULLs, duplicates, key changes, a TOASTed value an UPDATE keeps,
    // a group's last row and its MAX deleted, in several transactions.
    c.batch_execute(
        "INSERT INTO src VALUES (1, 1, 1.5, NULL), (1, 1, 1.5, NULL), (500, NULL, NULL, repeat('y', 5000));
         UPDATE src SET v = v + 1 WHERE id = 500;
         UPDATE src SET g = 4 WHERE g = 3;
         DELETE FROM src WHERE id BETWEEN 10 AND 40;
         UPDATE src SET t = 'short' WHERE id = 60;
         INSERT INTO dim VALUES (5, 'five');
         UPDATE dim SET label = 'two' WHERE g = 2;",
    )
    .unwrap();
    // The changes of src are decoded (change id = LSN), not written by triggers.
    c.batch_execute("SELECT * FROM pgtrickle.sync_change_capture()")
        .unwrap();
    let buffer: String = change_buffer(&mut c, "src");
    let (rows, lsn_ids): (i64, bool) = {
        let r = c
            .query_one(
                &format!("SELECT count(*), bool_and(__pgt_change_id > 16777216) FROM {buffer}"),
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert!(rows >= 36 && lsn_ids, "{rows} {lsn_ids}");
    refresh_all(&mut c, &ALL);
    // The decoded rows carry their change's LSN as change id, and the writer's xid.
    let buffered: i64 = c
        .query_one(
            "SELECT count(*) FROM pgtrickle.pgt_capture WHERE mode = 'WAL'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(buffered, 1);
    c.batch_execute(
        "BEGIN; INSERT INTO src VALUES (900, 2, 9, 'nine'); SAVEPOINT a; DELETE FROM src WHERE id = 50; ROLLBACK TO a; UPDATE src SET v = 0 WHERE id = 52; COMMIT;
         BEGIN; DELETE FROM src WHERE id > 100; ROLLBACK;
         TRUNCATE dim;
         INSERT INTO dim SELECT i, 'again' || i FROM generate_series(0, 5) i;",
    )
    .unwrap();
    refresh_all(&mut c, &ALL);
    c.batch_execute("TRUNCATE src; INSERT INTO src VALUES (7, 2, 7, 'seven');")
        .unwrap();
    refresh_all(&mut c, &ALL);
    assert_eq!(
        last_refresh(&mut c, "bag").0,
        "FULL",
        "a TRUNCATE recomputes"
    );
    c.batch_execute("INSERT INTO src SELECT i, i % 5, i, 'n' FROM generate_series(1000, 1100) i")
        .unwrap();
    refresh_all(&mut c, &ALL);
    assert_eq!(last_refresh(&mut c, "agg").0, "DIFFERENTIAL");
}

#[test]
fn wal_no_change_is_lost_or_doubled_across_the_handover_and_back() {
    let (db, mut c) = setup();
    // The slot exists (created for another source) while src is still on triggers.
    c.batch_execute(
        "ALTER TABLE src REPLICA IDENTITY DEFAULT;
         CREATE TABLE other (k int);
         ALTER TABLE other REPLICA IDENTITY FULL;
         SELECT pgtrickle.create_stream_table('other_st', 'SELECT k FROM other', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    sync(&mut c);
    assert_eq!(mode(&mut c, "other").0, "WAL");
    assert_eq!(mode(&mut c, "src").0, "TRIGGER");
    c.batch_execute("ALTER TABLE src REPLICA IDENTITY FULL")
        .unwrap();
    // A transaction that wrote before the handover and is still open: the handover waits
    // for it (and gives up after pg_trickle.lock_timeout, staying TRANSITIONING). (A slot
    // cannot be created while it is open: creating one waits for every running
    // transaction.)
    let mut long = db.client();
    long.batch_execute(
        "BEGIN; INSERT INTO src VALUES (7000, 1, 70, 'long'); UPDATE src SET v = -1 WHERE id = 3;",
    )
    .unwrap();
    // Writers keep committing (and rolling back) until the end.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers = spawn_writers(&db, &stop, 7);
    let first = sync(&mut c);
    let src = first.iter().find(|s| s.0 == "src").unwrap();
    assert_eq!(
        src.1, "TRANSITIONING",
        "the open writer holds the handover back: {first:?}"
    );
    assert!(
        src.2.as_deref().unwrap_or("").contains("handover waits"),
        "{src:?}"
    );
    // A refresh meanwhile still reads trigger-captured changes.
    refresh_only(&mut c, &ALL);
    long.batch_execute("UPDATE src SET t = 'long2' WHERE id = 7000; COMMIT")
        .unwrap();
    let mut tries = 0;
    while mode(&mut c, "src").0 != "WAL" {
        tries += 1;
        assert!(tries < 50, "no handover: {:?}", mode(&mut c, "src"));
        sync(&mut c);
    }
    // A late transaction: begun (and written) under WAL capture, committed after a refresh.
    let mut late = db.client();
    late.batch_execute(
        "BEGIN; INSERT INTO src VALUES (8000, 2, 80, 'late'); DELETE FROM src WHERE id = 5;",
    )
    .unwrap();
    refresh_only(&mut c, &ALL);
    late.batch_execute("COMMIT").unwrap();
    refresh_only(&mut c, &ALL);
    // Back to triggers while the writers go on: REPLICA IDENTITY changes.
    c.batch_execute("ALTER TABLE src REPLICA IDENTITY DEFAULT")
        .unwrap();
    let (m, why) = mode(&mut c, "src");
    assert_eq!(m, "TRIGGER");
    assert!(why.unwrap_or_default().contains("REPLICA IDENTITY"));
    refresh_only(&mut c, &ALL);
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written: i64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(written > 100, "{written}");
    refresh_all(&mut c, &ALL);
    // And over once more.
    c.batch_execute("ALTER TABLE src REPLICA IDENTITY FULL")
        .unwrap();
    sync(&mut c);
    assert_eq!(mode(&mut c, "src").0, "WAL");
    c.batch_execute(
        "UPDATE src SET v = v * 2 WHERE id % 3 = 0; DELETE FROM src WHERE id % 11 = 0;",
    )
    .unwrap();
    refresh_all(&mut c, &ALL);
    for st in ALL {
        assert_eq!(last_refresh(&mut c, st).0, "DIFFERENTIAL", "{st}");
    }
}

/// Refreshes run while writers commit and the source goes back and forth between triggers
/// and the slot: each refresh decides how its sources are captured at the snapshot its
/// delta runs at (a handover committing in between must not make it consume undrained
/// transactions), and consecutive drains share their boundary (a commit record starting
/// exactly where one drain stopped belongs to the next).
#[test]
fn wal_refreshes_racing_handovers_and_fallbacks_lose_nothing() {
    let (db, mut c) = setup();
    sync(&mut c);
    assert_eq!(mode(&mut c, "src").0, "WAL");
    // Refreshes drain the slot while writers commit.
    race(&db, &mut c, "WAL only", |_| {
        std::thread::sleep(std::time::Duration::from_millis(2000))
    });
    // The same while the source goes back to triggers and over again.
    race(&db, &mut c, "back and forth", |c| {
        for round in 0..6 {
            c.batch_execute("ALTER TABLE src REPLICA IDENTITY DEFAULT")
                .unwrap();
            assert_eq!(mode(c, "src").0, "TRIGGER", "round {round}");
            std::thread::sleep(std::time::Duration::from_millis(150));
            c.batch_execute("ALTER TABLE src REPLICA IDENTITY FULL")
                .unwrap();
            let mut tries = 0;
            while mode(c, "src").0 != "WAL" {
                tries += 1;
                assert!(tries < 50, "no handover: {:?}", mode(c, "src"));
                sync(c);
            }
            std::thread::sleep(std::time::Duration::from_millis(150));
        }
    });
}

/// Runs `meanwhile` while two writers commit and another session refreshes every stream
/// table in a loop; then stops them and checks every stream table against its query.
fn race(db: &TestDb, c: &mut Client, phase: &str, meanwhile: impl FnOnce(&mut Client)) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers = spawn_writers(db, &stop, 3);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let refresher = {
        let mut rc = db.client();
        let stop = stop.clone();
        let done = done.clone();
        thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                refresh_only(&mut rc, &ALL);
                n += 1;
                done.store(n, std::sync::atomic::Ordering::Relaxed);
            }
            n
        })
    };
    meanwhile(c);
    // A race needs a few refreshes among the writes, however slow the machine (a cassert
    // build on a busy machine managed 3 in two seconds): wait for them, not a fixed time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while done.load(std::sync::atomic::Ordering::Relaxed) < 5
        && std::time::Instant::now() < deadline
        && !refresher.is_finished()
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written: i64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    let refreshes = refresher
        .join()
        .unwrap_or_else(|_| panic!("a refresh failed ({phase})"));
    assert!(
        written > 50 && refreshes > 3,
        "{phase}: {written} {refreshes}"
    );
    refresh_all(c, &ALL);
}

#[test]
fn wal_a_refresh_in_the_writing_transaction_recomputes_and_later_writes_are_not_lost() {
    let (_db, mut c) = setup();
    sync(&mut c);
    assert_eq!(mode(&mut c, "src").0, "WAL");
    // The transaction's own changes are decoded only after it commits: its refresh
    // recomputes in full, and what it writes afterwards is applied by the next refresh,
    // once (its decoded changes before the refresh are consumed by the refresh's frontier).
    c.batch_execute(
        "BEGIN;
         INSERT INTO src VALUES (600, 1, 6, 'own'), (601, 1, 6, 'own');
         SELECT pgtrickle.refresh_stream_table('agg');
         DELETE FROM src WHERE id = 601;
         INSERT INTO src VALUES (602, 2, 6, 'after');
         COMMIT;",
    )
    .unwrap();
    let (action, why) = last_refresh(&mut c, "agg");
    assert_eq!(action, "FULL");
    assert!(why.unwrap_or_default().contains("this transaction wrote"));
    refresh_all(&mut c, &ALL);
    assert_eq!(last_refresh(&mut c, "agg").0, "DIFFERENTIAL");
    // A transaction that refreshes first and writes afterwards.
    c.batch_execute(
        "BEGIN;
         SELECT pgtrickle.refresh_stream_table('bag');
         INSERT INTO src VALUES (700, 3, 7, 'x'), (702, 3, 7, 'x');
         COMMIT;",
    )
    .unwrap();
    refresh_all(&mut c, &ALL);
}

#[test]
fn wal_ddl_on_a_source_keeps_capture_working() {
    let (_db, mut c) = setup();
    sync(&mut c);
    assert_eq!(mode(&mut c, "src").0, "WAL");
    c.batch_execute("INSERT INTO src VALUES (1, 1, 1, 'before')")
        .unwrap();
    c.batch_execute(
        "ALTER TABLE src ADD COLUMN extra int DEFAULT 5;
         INSERT INTO src VALUES (2, 2, 2, 'after', 6);
         UPDATE src SET extra = 7 WHERE id = 3;
         ALTER TABLE src DROP COLUMN extra;
         INSERT INTO src VALUES (4, 4, 4, 'dropped');",
    )
    .unwrap();
    refresh_all(&mut c, &ALL);
    // A new stream table reading the new column set, created while the source is on WAL.
    c.batch_execute(
        "ALTER TABLE src ADD COLUMN w text;
         UPDATE src SET w = 'w' || id WHERE id < 20;
         SELECT pgtrickle.create_stream_table('by_w', 'SELECT w, count(*) AS n FROM src GROUP BY w', refresh_mode => 'DIFFERENTIAL');
         UPDATE src SET w = NULL WHERE id = 2;
         INSERT INTO src VALUES (5000, 1, 1, 'x', 'w1');",
    )
    .unwrap();
    assert_eq!(mode(&mut c, "src").0, "WAL");
    refresh_all(&mut c, &["bag", "agg", "joined", "by_w"]);
    assert_eq!(last_refresh(&mut c, "by_w").0, "DIFFERENTIAL");
    // RENAME and ALTER COLUMN TYPE of a column no stream table reads.
    c.batch_execute(
        "ALTER TABLE src ADD COLUMN spare int;
         UPDATE src SET spare = id WHERE id < 5;
         ALTER TABLE src RENAME COLUMN spare TO spare2;
         INSERT INTO src (id, g, v, t, w, spare2) VALUES (6000, 2, 6, 'r', 'w2', 1);
         ALTER TABLE src ALTER COLUMN spare2 TYPE bigint;
         UPDATE src SET v = v + 1, spare2 = 7 WHERE id = 6000;",
    )
    .unwrap();
    assert_eq!(mode(&mut c, "src").0, "WAL");
    refresh_all(&mut c, &["bag", "agg", "joined", "by_w"]);
}

#[test]
fn wal_a_lost_slot_returns_sources_to_triggers_and_their_stream_tables_recompute() {
    let (_db, mut c) = setup();
    sync(&mut c);
    assert_eq!(mode(&mut c, "src").0, "WAL");
    c.batch_execute("INSERT INTO src VALUES (1, 1, 1, 'x'); DELETE FROM src WHERE id = 2;")
        .unwrap();
    refresh_all(&mut c, &ALL);
    c.batch_execute("UPDATE src SET v = 0 WHERE id = 3")
        .unwrap();
    let slot: String = c
        .query_one("SELECT slot_name::text FROM pgtrickle.pgt_wal_decoder", &[])
        .unwrap()
        .get(0);
    c.batch_execute(&format!("SELECT pg_drop_replication_slot('{slot}')"))
        .unwrap();
    // A refresh cannot drain: it fails with a clear error, nothing is consumed.
    let err = c
        .batch_execute("SELECT pgtrickle.refresh_stream_table('bag')")
        .unwrap_err();
    let msg = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("WAL change capture failed") && msg.contains("does not exist"),
        "{msg}"
    );
    // The next step returns the source to triggers; its stream tables recompute in full.
    let states = sync(&mut c);
    let src = states.iter().find(|s| s.0 == "src").unwrap();
    assert_eq!(src.1, "TRIGGER", "{states:?}");
    assert!(
        src.2.as_deref().unwrap_or("").contains("no longer exists"),
        "{src:?}"
    );
    c.batch_execute("INSERT INTO src VALUES (9, 4, 9, 'trig')")
        .unwrap();
    refresh_all(&mut c, &ALL);
    assert_eq!(last_refresh(&mut c, "bag").0, "FULL");
    c.batch_execute("DELETE FROM src WHERE id = 9").unwrap();
    refresh_all(&mut c, &ALL);
    assert_eq!(last_refresh(&mut c, "bag").0, "DIFFERENTIAL");
}

#[test]
fn wal_the_slot_goes_with_the_last_stream_table_reading_a_wal_source() {
    let (_db, mut c) = setup();
    sync(&mut c);
    let slot: String = c
        .query_one("SELECT slot_name::text FROM pgtrickle.pgt_wal_decoder", &[])
        .unwrap()
        .get(0);
    let buffer = change_buffer(&mut c, "src");
    for st in ["bag", "agg"] {
        c.batch_execute(&format!("SELECT pgtrickle.drop_stream_table('{st}')"))
            .unwrap();
    }
    let slots = |c: &mut Client| -> i64 {
        c.query_one(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .unwrap()
        .get(0)
    };
    assert_eq!(slots(&mut c), 1, "joined still reads src");
    c.batch_execute("SELECT pgtrickle.drop_stream_table('joined')")
        .unwrap();
    assert_eq!(slots(&mut c), 0);
    let left: i64 = c
        .query_one(
            "SELECT (SELECT count(*) FROM pgtrickle.pgt_capture) + (SELECT count(*) FROM pgtrickle.pgt_wal_decoder)                   + (SELECT count(*) FROM pg_publication_tables WHERE pubname = 'pgtrickle_changes')                   + (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'src'::regclass)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    assert!(c
        .query_opt(
            &format!("SELECT 1 FROM pg_class WHERE oid = to_regclass('{buffer}')"),
            &[]
        )
        .unwrap()
        .is_none());
}

/// A partitioned source hands over when every partition has REPLICA IDENTITY FULL (each
/// logs its own old rows); the publication reports the partitions' changes as the
/// source's, written straight into a partition or not. A new partition without it sends
/// the source back to triggers, on every partition.
#[test]
fn wal_a_partitioned_source_with_full_identity_everywhere() {
    let db = cluster().new_database();
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE m (id int, region text, v int) PARTITION BY LIST (region);
         CREATE TABLE m_a PARTITION OF m FOR VALUES IN ('a');
         CREATE TABLE m_b PARTITION OF m FOR VALUES IN ('b');
         ALTER TABLE m REPLICA IDENTITY FULL;
         ALTER TABLE m_a REPLICA IDENTITY FULL;
         INSERT INTO m SELECT i, CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END, i FROM generate_series(1, 100) i;
         SELECT pgtrickle.create_stream_table('per_region', 'SELECT region, count(*) AS n, sum(v) AS s FROM m GROUP BY region', refresh_mode => 'DIFFERENTIAL');",
    )
    .unwrap();
    sync(&mut c);
    let (m, why) = mode(&mut c, "m");
    assert_eq!(m, "TRIGGER");
    assert!(why.unwrap_or_default().contains("DEFAULT"));
    c.batch_execute("ALTER TABLE m_b REPLICA IDENTITY FULL")
        .unwrap();
    sync(&mut c);
    assert_eq!(mode(&mut c, "m").0, "WAL");
    let triggers: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgname LIKE '__pgt_cdc\\_%' ESCAPE '\\' AND tgname <> '__pgt_cdc_wal'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(triggers, 0, "no capture trigger is left on any partition");
    c.batch_execute(
        "INSERT INTO m_a VALUES (500, 'a', 5); UPDATE m_b SET v = v * 10 WHERE id < 20; DELETE FROM m WHERE id % 9 = 0; UPDATE m SET region = 'a' WHERE id = 1;",
    )
    .unwrap();
    refresh_all(&mut c, &["per_region"]);
    assert_eq!(last_refresh(&mut c, "per_region").0, "DIFFERENTIAL");
    // A transaction that wrote a partition straight and refreshes: its own changes are not
    // decoded yet, so the refresh recomputes (the partition notes its writers too).
    c.batch_execute(
        "BEGIN; INSERT INTO m_b VALUES (501, 'b', 5); SELECT pgtrickle.refresh_stream_table('per_region'); COMMIT;",
    )
    .unwrap();
    let (action, why) = last_refresh(&mut c, "per_region");
    assert_eq!(action, "FULL");
    assert!(why.unwrap_or_default().contains("this transaction wrote"));
    refresh_all(&mut c, &["per_region"]);
    // A new partition logs only its key: back to triggers, on every partition.
    c.batch_execute("CREATE TABLE m_c PARTITION OF m FOR VALUES IN ('c')")
        .unwrap();
    assert_eq!(mode(&mut c, "m").0, "TRIGGER");
    c.batch_execute("INSERT INTO m_c VALUES (600, 'c', 6); UPDATE m_a SET v = 0 WHERE id = 500;")
        .unwrap();
    refresh_all(&mut c, &["per_region"]);
}
