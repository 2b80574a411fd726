//! The Docker tier (ADR-032): the image built from `Dockerfile.e2e` starts through the
//! `testcontainers` crate with PostgreSQL 18 and pg_trickle preloaded and created, and
//! maintains stream tables — incrementally, on a schedule, in new databases too.
//!
//! `scripts/test.sh` starts a Docker engine and builds the image when it can (as root), and
//! passes the image in `PGT_E2E_IMAGE` and the engine in `DOCKER_HOST`. Without them this
//! test says so and passes: run `bash scripts/test.sh` as root, or
//! `eval "$(bash scripts/docker.sh start)"; PGT_E2E_IMAGE=$(bash scripts/docker.sh image) cargo test --test docker_e2e`.
//!
//! The sidecar's image (`pg_trickle-sidecar:<same tag>`, the `sidecar` stage of the same
//! Dockerfile) keeps a stream table incrementally in a database of that server without
//! the extension.

use std::time::{Duration, Instant};

use pgt_testkit::postgres::{Client, NoTls};
use pgt_testkit::{assert_stream_table_matches_query, stream_table_matches};
use testcontainers::core::WaitFor;
use testcontainers::runners::SyncRunner;
use testcontainers::{GenericImage, ImageExt};

/// A TCP port nobody listens on now (the container uses the host's network).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn connect(port: u16, db: &str) -> Client {
    let conninfo = format!("host=127.0.0.1 port={port} user=postgres dbname={db}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Client::connect(&conninfo, NoTls) {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("connect to {conninfo}: {e}"),
        }
    }
}

#[test]
fn the_e2e_image_runs_pg_trickle_preloaded_and_ready() {
    let Ok(image) = std::env::var("PGT_E2E_IMAGE") else {
        eprintln!(
            "docker_e2e skipped: no image (PGT_E2E_IMAGE unset). scripts/test.sh builds one when it can start a Docker engine (as root)."
        );
        return;
    };
    let (name, tag) = image.split_once(':').unwrap_or((&image, "latest"));
    let port = free_port();
    let _container = GenericImage::new(name, tag)
        .with_wait_for(WaitFor::message_on_stderr(
            "database system is ready to accept connections",
        ))
        .with_network("host")
        .with_env_var("PGPORT", port.to_string())
        .with_env_var(
            "PGTRICKLE_SETTINGS",
            "pg_trickle.scheduler_interval_ms = 200",
        )
        .with_startup_timeout(Duration::from_secs(180))
        .start()
        .expect("starting the pg_trickle-e2e container");

    let mut c = connect(port, "postgres");
    let (version, preload): (String, String) = {
        let r = c
            .query_one(
                "SELECT extversion, current_setting('shared_preload_libraries') FROM pg_extension WHERE extname = 'pg_trickle'",
                &[],
            )
            .expect("pg_trickle is created in database postgres");
        (r.get(0), r.get(1))
    };
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    assert!(preload.contains("pg_trickle"), "{preload}");
    let server: String = c
        .query_one("SELECT current_setting('server_version')", &[])
        .unwrap()
        .get(0);
    assert!(server.starts_with("18"), "{server}");

    // Incremental maintenance, manual and scheduled.
    c.batch_execute(
        "CREATE TABLE orders (id int PRIMARY KEY, region text, amount numeric);
         INSERT INTO orders SELECT i, 'r' || (i % 4), i * 1.25 FROM generate_series(1, 1000) i;
         SELECT pgtrickle.create_stream_table('by_region', 'SELECT region, count(*) AS n, sum(amount) AS s FROM orders GROUP BY region', schedule => '1s', refresh_mode => 'DIFFERENTIAL');
         INSERT INTO orders VALUES (5000, NULL, 1), (5001, 'r9', NULL);
         UPDATE orders SET region = 'r1' WHERE id % 10 = 0;
         DELETE FROM orders WHERE id % 7 = 0;
         SELECT pgtrickle.refresh_stream_table('by_region');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut c, "by_region");
    c.batch_execute(
        "DELETE FROM orders WHERE region = 'r2'; INSERT INTO orders VALUES (6000, 'r2', 3);",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stream_table_matches(&mut c, "by_region") {
        assert!(
            Instant::now() < deadline,
            "the scheduler did not refresh by_region"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let action: String = c
        .query_one(
            "SELECT action FROM pgtrickle.pgt_refresh_history WHERE initiated_by = 'SCHEDULER' ORDER BY refresh_id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(action, "DIFFERENTIAL");

    // New databases come with pg_trickle (it is created in template1).
    c.batch_execute("CREATE DATABASE app").unwrap();
    let mut app = connect(port, "app");
    app.batch_execute(
        "CREATE TABLE t (k int, v int);
         INSERT INTO t SELECT i % 5, i FROM generate_series(1, 50) i;
         SELECT pgtrickle.create_stream_table('totals', 'SELECT k, sum(v) AS s FROM t GROUP BY k');
         INSERT INTO t VALUES (1, 100), (NULL, 1);
         SELECT pgtrickle.refresh_stream_table('totals');",
    )
    .unwrap();
    assert_stream_table_matches_query(&mut app, "totals");
}

#[test]
fn the_sidecar_image_maintains_a_database_without_the_extension() {
    let Ok(image) = std::env::var("PGT_E2E_IMAGE") else {
        eprintln!("docker_e2e skipped: no image (PGT_E2E_IMAGE unset).");
        return;
    };
    let (name, tag) = image.split_once(':').unwrap_or((&image, "latest"));
    let port = free_port();
    let _server = GenericImage::new(name, tag)
        .with_wait_for(WaitFor::message_on_stderr(
            "database system is ready to accept connections",
        ))
        .with_network("host")
        .with_env_var("PGPORT", port.to_string())
        .with_startup_timeout(Duration::from_secs(180))
        .start()
        .expect("starting the pg_trickle-e2e container");
    // template0 has no pg_trickle: a database as a managed service would have it.
    connect(port, "postgres")
        .batch_execute("CREATE DATABASE plain TEMPLATE template0")
        .unwrap();
    let mut c = connect(port, "plain");
    c.batch_execute(
        "CREATE TABLE orders (id int PRIMARY KEY, region text, amount numeric(10,2));
         INSERT INTO orders SELECT i, 'r' || (i % 4), i * 1.25 FROM generate_series(1, 1000) i;",
    )
    .unwrap();
    let query = "SELECT region, count(*) AS n, sum(amount) AS s FROM orders GROUP BY region";
    pgt_sidecar::catalog::install(&mut c).unwrap();
    pgt_sidecar::catalog::create(&mut c, "by_region", query, Some("1s")).unwrap();
    let _sidecar = GenericImage::new("pg_trickle-sidecar", tag)
        .with_wait_for(WaitFor::message_on_stderr("serving database plain"))
        .with_network("host")
        .with_env_var(
            "PGT_SIDECAR_DSN",
            format!("host=127.0.0.1 port={port} user=postgres dbname=plain"),
        )
        .with_env_var("PGT_SIDECAR_INTERVAL_MS", "200")
        .with_startup_timeout(Duration::from_secs(60))
        .start()
        .expect("starting the pg_trickle-sidecar container");
    c.batch_execute(
        "INSERT INTO orders VALUES (5000, NULL, 1), (5001, 'r9', NULL);
         UPDATE orders SET region = 'r1' WHERE id % 10 = 0;
         DELETE FROM orders WHERE id % 7 = 0;",
    )
    .unwrap();
    let differs = |c: &mut Client| -> i64 {
        c.query_one(
            &format!(
                "SELECT (SELECT count(*) FROM (SELECT region, n, s FROM by_region EXCEPT ALL {query}) a) \
                      + (SELECT count(*) FROM ({query} EXCEPT ALL SELECT region, n, s FROM by_region) b)"
            ),
            &[],
        )
        .unwrap()
        .get(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while differs(&mut c) != 0 {
        assert!(
            Instant::now() < deadline,
            "the sidecar did not refresh by_region"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (mode, action): (String, String) = {
        let r = c
            .query_one(
                "SELECT s.refresh_mode, h.action FROM pgtrickle_sidecar.refresh_history h \
                   JOIN pgtrickle_sidecar.stream_tables s USING (pgt_id) \
                  WHERE h.initiated_by = 'SCHEDULER' AND h.status = 'COMPLETED' ORDER BY h.refresh_id DESC LIMIT 1",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(
        (mode.as_str(), action.as_str()),
        ("DIFFERENTIAL", "DIFFERENTIAL")
    );
}
