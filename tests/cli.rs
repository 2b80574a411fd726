//! The `pgtrickle` command-line tool against a real cluster: every command, tables and
//! JSON, dependency order, hostile names, failures and exit codes, the progress line.

use pgt_testkit::{cluster, Capture, TestDb};
use serde_json::Value;

/// Runs `pgtrickle --dsn <db> args…`: (exit code, stdout, stderr).
fn pgt(db: &TestDb, args: &[&str]) -> (i32, String, String) {
    let dsn = db.cluster.conninfo(&db.name);
    let mut argv = vec!["pgtrickle", "--dsn", dsn.as_str()];
    argv.extend_from_slice(args);
    let mut out = Vec::new();
    let err = Capture::default();
    let code = pgt_cli::run(argv, &mut out, pgt_cli::shared(err.clone()));
    let err = err.text();
    (code, String::from_utf8(out).unwrap(), err)
}

fn json_of(db: &TestDb, args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let (code, out, err) = pgt(db, &a);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

fn setup(db: &TestDb) {
    db.client()
        .batch_execute(
            r#"CREATE TABLE orders (id int PRIMARY KEY, customer int, amount numeric(10,2));
               CREATE TABLE customers (id int PRIMARY KEY, region text);
               INSERT INTO customers SELECT i, 'r' || (i % 3) FROM generate_series(1, 30) i;
               INSERT INTO orders SELECT i, 1 + i % 30, i FROM generate_series(1, 300) i;
               CREATE SCHEMA "Odd ""Schema""";
               SELECT pgtrickle.create_stream_table('by_region',
                 $$SELECT c.region, count(*) AS n, sum(o.amount) AS total
                     FROM orders o JOIN customers c ON c.id = o.customer GROUP BY c.region$$,
                 schedule => '1h');
               SELECT pgtrickle.create_stream_table('"Odd ""Schema""".top',
                 $$SELECT region, total FROM by_region WHERE total > 100$$, schedule => '1h',
                 refresh_mode => 'DIFFERENTIAL');
               SELECT pgtrickle.create_stream_table('counted',
                 'SELECT count(*) AS n FROM orders', schedule => '1h', refresh_mode => 'FULL');"#,
        )
        .unwrap();
}

#[test]
fn list_show_graph_and_explain_describe_the_stream_tables() {
    let db = cluster().new_database();
    setup(&db);

    let (code, out, err) = pgt(&db, &["list"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("name"), "{out}");
    assert!(
        lines[0].contains("staleness") && lines[0].contains("last refresh"),
        "{out}"
    );
    assert!(lines[2].starts_with("\"Odd \"\"Schema\"\"\".top"), "{out}");
    assert!(
        out.contains("public.by_region") && out.contains("DIFFERENTIAL (AUTO)"),
        "{out}"
    );
    assert!(
        out.contains("public.counted") && out.contains("FULL "),
        "{out}"
    );

    let list = json_of(&db, &["list"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    let by_region = list
        .iter()
        .find(|r| r["name"] == "public.by_region")
        .unwrap();
    assert_eq!(by_region["requested_mode"], "AUTO");
    assert_eq!(by_region["mode"], "DIFFERENTIAL");
    assert_eq!(by_region["status"], "ACTIVE");
    assert_eq!(by_region["populated"], true);
    assert!(by_region["staleness_seconds"].as_f64().unwrap() >= 0.0);

    // show: by search path and qualified, table and JSON.
    let (code, out, err) = pgt(&db, &["show", "by_region"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "name:",
        "public.by_region",
        "mode:",
        "DIFFERENTIAL (AUTO)",
        "schedule:",
        "1h",
        "query:",
        "GROUP BY c.region",
        "sources:",
        "public.orders",
        "public.customers",
        "TRIGGER",
        "last 1 refreshes:",
        "CREATE",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let show = json_of(&db, &["show", r#""Odd ""Schema""".top"#, "--limit", "5"]);
    assert_eq!(show["stream_table"]["name"], r#""Odd ""Schema""".top"#);
    assert_eq!(show["sources"][0]["source"], "public.by_region");
    assert_eq!(show["sources"][0]["type"], "STREAM_TABLE");
    assert_eq!(show["refreshes"].as_array().unwrap().len(), 1);

    // graph: text tree, DOT, JSON with the refresh order.
    let (code, out, _) = pgt(&db, &["graph"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "public.customers [table]\n\
         └─ public.by_region [stream table: DIFFERENTIAL, 1h]\n\
         \u{20}  └─ \"Odd \"\"Schema\"\"\".top [stream table: DIFFERENTIAL, 1h]\n\
         public.orders [table]\n\
         ├─ public.by_region (see above)\n\
         └─ public.counted [stream table: FULL, 1h]\n"
    );
    let (_, dot, _) = pgt(&db, &["graph", "--dot"]);
    assert!(dot.starts_with("digraph pg_trickle {"), "{dot}");
    assert!(
        dot.contains(r#"  "public.by_region" -> "\"Odd \"\"Schema\"\"\".top";"#),
        "{dot}"
    );
    let g = json_of(&db, &["graph"]);
    let order: Vec<&str> = g["refresh_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let pos = |n: &str| order.iter().position(|x| *x == n).unwrap();
    assert!(pos("public.by_region") < pos(r#""Odd ""Schema""".top"#));
    assert_eq!(g["edges"].as_array().unwrap().len(), 4);

    // explain: the extension's own explanation, line by line.
    let (code, out, err) = pgt(&db, &["explain", "by_region"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.to_lowercase().contains("aggregate"), "{out}");
    let e = json_of(&db, &["explain", "by_region", "--analyze"]);
    assert!(e["lines"].as_array().unwrap().len() > 3);
    assert_eq!(e["analyze"], true);
}

#[test]
fn refresh_all_goes_upstream_first_and_reports_each_refresh() {
    let db = cluster().new_database();
    setup(&db);
    let mut c = db.client();
    c.batch_execute(
        "INSERT INTO orders VALUES (1001, 1, 500), (1002, 2, NULL); DELETE FROM orders WHERE id <= 10;
         UPDATE customers SET region = 'moved' WHERE id = 3;",
    )
    .unwrap();

    let r = json_of(&db, &["refresh", "--all"]);
    let r = r.as_array().unwrap();
    let names: Vec<&str> = r.iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 3);
    assert!(
        names.iter().position(|n| *n == "public.by_region")
            < names.iter().position(|n| *n == r#""Odd ""Schema""".top"#),
        "{names:?}"
    );
    let by_region = r.iter().find(|x| x["name"] == "public.by_region").unwrap();
    assert_eq!(by_region["status"], "COMPLETED");
    // AUTO: either action, with the reason recorded when it is FULL.
    assert!(by_region["action"] == "DIFFERENTIAL" || by_region["reason"].is_string());
    let top = r
        .iter()
        .find(|x| x["name"] == r#""Odd ""Schema""".top"#)
        .unwrap();
    // Its 7 pending changes are over the change-ratio threshold of a 3-row source: FULL,
    // and the table says why.
    assert_eq!(top["action"], "FULL", "{top}");
    assert!(
        top["reason"]
            .as_str()
            .unwrap()
            .contains("differential_max_change_ratio"),
        "{top}"
    );
    assert!(top["wall_ms"].as_f64().unwrap() > 0.0, "{top}");
    let counted = r.iter().find(|x| x["name"] == "public.counted").unwrap();
    assert_eq!(counted["action"], "FULL");

    // Every stream table now equals its query.
    for (st, cols, q) in [
        (
            "by_region",
            "region, n, total",
            "SELECT c.region, count(*) AS n, sum(o.amount) AS total FROM orders o JOIN customers c ON c.id = o.customer GROUP BY c.region",
        ),
        ("counted", "n", "SELECT count(*) AS n FROM orders"),
        (
            r#""Odd ""Schema""".top"#,
            "region, total",
            "SELECT region, total FROM by_region WHERE total > 100",
        ),
    ] {
        let diff: i64 = c
            .query_one(
                &format!(
                    "SELECT count(*) FROM ((SELECT {cols} FROM {st} EXCEPT ALL ({q})) UNION ALL (({q}) EXCEPT ALL SELECT {cols} FROM {st})) d"
                ),
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(diff, 0, "{st}");
    }

    // Names given: refreshed in the order given; the table says what happened.
    c.batch_execute("INSERT INTO orders VALUES (2000, 5, 1)")
        .unwrap();
    let (code, out, err) = pgt(&db, &["refresh", "by_region", "counted"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("name") && lines[0].contains("action"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("public.by_region") && lines[2].contains("COMPLETED"),
        "{out}"
    );
    assert!(
        lines[3].starts_with("public.counted") && lines[3].contains("FULL"),
        "{out}"
    );

    // A suspended stream table is skipped by --all, with the reason.
    c.batch_execute("SELECT pgtrickle.alter_stream_table('counted', status => 'SUSPENDED')")
        .unwrap();
    let r = json_of(&db, &["refresh", "--all"]);
    let counted = r
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "public.counted")
        .unwrap()
        .clone();
    assert_eq!(counted["status"], "SKIPPED");
    assert!(counted["reason"].as_str().unwrap().contains("SUSPENDED"));
}

#[test]
fn failures_have_messages_and_exit_codes() {
    let db = cluster().new_database();
    setup(&db);

    // Unknown names fail before anything is refreshed.
    let (code, out, err) = pgt(&db, &["refresh", "by_region", "no_such_table"]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("stream table \"no_such_table\" does not exist"),
        "{err}"
    );
    // A plain table is not a stream table; hostile text is just a name that is not found.
    let (code, _, err) = pgt(&db, &["show", "orders"]);
    assert_eq!(code, 1);
    assert!(err.contains("\"orders\" does not exist"), "{err}");
    let (code, _, err) = pgt(&db, &["show", "x'; DROP TABLE orders; --"]);
    assert_eq!(code, 1, "{err}");
    db.client().batch_execute("TABLE orders LIMIT 0").unwrap();

    // Usage errors are clap's (2), help goes to standard output.
    let (code, _, err) = pgt(&db, &["refresh"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = pgt(&db, &["refresh", "--all", "by_region"]);
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = pgt(&db, &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("health"), "{out}");

    // A refresh that fails: the server's message with its SQLSTATE, exit 1.
    let mut c = db.client();
    c.batch_execute("CREATE ROLE cli_reader LOGIN; GRANT USAGE ON SCHEMA pgtrickle TO cli_reader;")
        .unwrap();
    let dsn = format!("{} user=cli_reader", db.cluster.conninfo(&db.name));
    let mut out = Vec::new();
    let errw = Capture::default();
    let code = pgt_cli::run(
        ["pgtrickle", "--dsn", &dsn, "refresh", "by_region"],
        &mut out,
        pgt_cli::shared(errw.clone()),
    );
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED") && out.contains("SQLSTATE 42501"),
        "{out}"
    );
    // The same role may still look.
    let mut out = Vec::new();
    let code = pgt_cli::run(
        ["pgtrickle", "--dsn", &dsn, "list"],
        &mut out,
        pgt_cli::shared(Capture::default()),
    );
    assert_eq!(code, 0);
    assert!(String::from_utf8(out).unwrap().contains("public.by_region"));
    c.batch_execute("DROP OWNED BY cli_reader; DROP ROLE cli_reader")
        .unwrap();

    // Health: 0 when healthy, 1 with warnings only (the test clusters run without the
    // scheduler: "automatic refresh disabled"), 2 with an ERROR row.
    let (code, out, _) = pgt(&db, &["health"]);
    assert!(
        code == 0 || (code == 1 && out.contains("WARNING") && !out.contains("ERROR")),
        "{code}: {out}"
    );
    c.batch_execute("SELECT pgtrickle.alter_stream_table('counted', status => 'SUSPENDED')")
        .unwrap();
    let (code, out, _) = pgt(&db, &["health"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("suspended") && out.contains("public.counted"),
        "{out}"
    );
    let h = {
        let (code, out, _) = pgt(&db, &["--json", "health"]);
        assert_eq!(code, 2);
        serde_json::from_str::<Value>(&out).unwrap()
    };
    assert_eq!(h["healthy"], false);

    // A database without the extension; a server that is not there (health: 3).
    let bare = cluster().new_database();
    bare.client()
        .batch_execute("DROP EXTENSION pg_trickle CASCADE")
        .unwrap();
    let (code, _, err) = pgt(&bare, &["list"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("pg_trickle is not installed in database"),
        "{err}"
    );
    let mut out = Vec::new();
    let errw = Capture::default();
    let code = pgt_cli::run(
        [
            "pgtrickle",
            "--dsn",
            "host=/nonexistent port=1 user=x dbname=x",
            "health",
        ],
        &mut out,
        pgt_cli::shared(errw.clone()),
    );
    assert_eq!(code, 3);
    let err = errw.text();
    assert!(
        err.contains("could not connect (host=/nonexistent port=1"),
        "{err}"
    );
}

#[test]
fn a_long_refresh_shows_what_it_waits_for() {
    let db = cluster().new_database();
    setup(&db);
    let mut locker = db.client();
    locker
        .batch_execute("INSERT INTO orders VALUES (5000, 1, 1); BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(2500));
        locker.batch_execute("COMMIT").unwrap();
    });
    let (code, out, err) = pgt(&db, &["refresh", "--progress", "by_region"]);
    release.join().unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("refreshing public.by_region: ")
                && l.contains("(waiting for Lock: relation)")),
        "{err}"
    );
    assert!(out.contains("DIFFERENTIAL"), "{out}");
}
