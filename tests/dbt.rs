//! The dbt package (`dbt-pgtrickle/`) for real: dbt-core and dbt-postgres from PyPI
//! (`scripts/dbt_venv.sh`, a cached virtualenv) run the example project against a
//! throwaway database of the test cluster, as a role without superuser that owns its
//! target schema. After each step the stream tables in the database are checked:
//! `dbt deps`, `dbt run` (create), `dbt test`, the operations, a changed schedule (altered
//! in place), a changed query (re-created), `on_configuration_change: fail`,
//! `dbt run --full-refresh`, a table of the same name that is not a stream table, and
//! `dbt source freshness` of a stream table read as a source.

use std::path::{Path, PathBuf};
use std::process::Command;

use pgt_testkit::postgres::Client;
use pgt_testkit::{assert_stream_table_matches_query, cluster, TestDb};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The `dbt` executable of the cached virtualenv (installed on first use).
fn dbt_executable() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/dbt_venv.sh"))
        .output()
        .expect("running scripts/dbt_venv.sh");
    assert!(
        out.status.success(),
        "scripts/dbt_venv.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The example project copied into a scratch directory, with a profile for `role` on `db`.
struct Project {
    dir: PathBuf,
    dbt: PathBuf,
}

impl Project {
    fn new(db: &TestDb, role: &str) -> Project {
        let dir = std::env::temp_dir().join(format!("pgt-dbt-{}-{}", std::process::id(), db.name));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&repo_root().join("dbt-pgtrickle/example"), &dir);
        // The package from this checkout, wherever the copy lives.
        std::fs::write(
            dir.join("packages.yml"),
            format!(
                "packages:\n  - local: {}\n",
                repo_root().join("dbt-pgtrickle").display()
            ),
        )
        .unwrap();
        // Connect through the cluster's socket directory as `role` (trust authentication).
        let conninfo = db.cluster.conninfo(&db.name);
        let field = |key: &str| {
            conninfo
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                .unwrap()
                .to_string()
        };
        std::fs::write(
            dir.join("profiles.yml"),
            format!(
                "pgtrickle_example:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      host: \"{}\"\n      port: {}\n      user: \"{role}\"\n      password: \"\"\n      dbname: \"{}\"\n      schema: analytics\n      threads: 2\n",
                field("host"),
                field("port"),
                db.name
            ),
        )
        .unwrap();
        Project {
            dir,
            dbt: dbt_executable(),
        }
    }

    /// Runs `dbt <args>`; returns (succeeded, output).
    fn dbt(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(&self.dbt)
            .args(args)
            .arg("--project-dir")
            .arg(&self.dir)
            .arg("--profiles-dir")
            .arg(&self.dir)
            .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
            .env("DBT_VERSION_CHECK", "false")
            .env("DBT_LOG_PATH", self.dir.join("logs"))
            .env("DBT_TARGET_PATH", self.dir.join("target"))
            .env_remove("RUST_BACKTRACE")
            .output()
            .expect("running dbt");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.dbt(args);
        assert!(ok, "dbt {} failed:\n{text}", args.join(" "));
        text
    }

    fn write_model(&self, name: &str, sql: &str) {
        std::fs::write(self.dir.join("models").join(format!("{name}.sql")), sql).unwrap();
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// (pgt_id, schedule, refresh_mode, original_query) of a stream table.
fn catalog_row(c: &mut Client, name: &str) -> (i64, Option<String>, String, String) {
    let r = c
        .query_one(
            "SELECT pgt_id, schedule, refresh_mode, original_query FROM pgtrickle.pgt_stream_tables WHERE pgt_relid = $1::text::regclass",
            &[&name],
        )
        .unwrap_or_else(|e| panic!("{name} is not a stream table: {e}"));
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

fn scalar<T: for<'a> pgt_testkit::postgres::types::FromSql<'a>>(c: &mut Client, sql: &str) -> T {
    c.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn dbt_builds_and_maintains_stream_tables_as_a_non_superuser() {
    let db = cluster().new_database();
    let mut c = db.client();
    let role = format!("{}_analyst", db.name);
    let reader = format!("{}_reader", db.name);
    c.batch_execute(
        &std::fs::read_to_string(repo_root().join("dbt-pgtrickle/example/setup.sql")).unwrap(),
    )
    .unwrap();
    c.batch_execute(&format!(
        "CREATE ROLE {role} LOGIN; CREATE ROLE {reader};
         CREATE SCHEMA analytics AUTHORIZATION {role};
         GRANT USAGE ON SCHEMA shop TO {role};
         GRANT SELECT ON ALL TABLES IN SCHEMA shop TO {role};"
    ))
    .unwrap();
    let p = Project::new(&db, &role);
    let vars = format!("{{readers: [{reader}]}}");

    // deps + run: both models become stream tables owned by the role, filled, documented,
    // granted.
    p.ok(&["deps"]);
    let out = p.ok(&["run", "--vars", &vars]);
    assert!(out.contains("Completed successfully"), "{out}");
    let (rev_id, schedule, mode, _) = catalog_row(&mut c, "analytics.revenue_by_region");
    assert_eq!(
        (schedule.as_deref(), mode.as_str()),
        (Some("1m"), "DIFFERENTIAL")
    );
    let (top_id, schedule, mode, _) = catalog_row(&mut c, "analytics.top_regions");
    assert_eq!((schedule, mode.as_str()), (None, "AUTO"));
    for st in ["analytics.revenue_by_region", "analytics.top_regions"] {
        assert_stream_table_matches_query(&mut c, st);
        let owner: String = scalar(
            &mut c,
            &format!(
                "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = '{st}'::regclass"
            ),
        );
        assert_eq!(owner, role);
        assert!(scalar::<bool>(
            &mut c,
            &format!("SELECT has_table_privilege('{reader}', '{st}', 'SELECT')")
        ));
    }
    let comment: Option<String> = scalar(
        &mut c,
        "SELECT obj_description('analytics.revenue_by_region'::regclass, 'pg_class')",
    );
    assert!(comment
        .unwrap_or_default()
        .contains("kept fresh by pg_trickle"));
    let col: Option<String> = scalar(
        &mut c,
        "SELECT col_description('analytics.revenue_by_region'::regclass, 2)",
    );
    assert!(col.unwrap_or_default().contains("region"));

    // test: the generic stream_table_healthy test and a column test pass.
    let out = p.ok(&["test", "--vars", &vars]);
    assert!(out.contains("PASS=3"), "{out}");

    // Source freshness of a stream table read as a source: fresh after its refresh, an
    // error once its data is older than error_after (a day).
    let out = p.ok(&["source", "freshness"]);
    assert!(
        out.contains("PASS freshness of streams.revenue_by_region"),
        "{out}"
    );
    c.batch_execute("UPDATE pgtrickle.pgt_stream_tables SET data_timestamp = now() - interval '2 days' WHERE pgt_name = 'revenue_by_region'")
        .unwrap();
    let (ok, out) = p.dbt(&["source", "freshness"]);
    assert!(
        !ok && out.contains("ERROR STALE freshness of streams.revenue_by_region"),
        "{out}"
    );
    c.batch_execute("SELECT pgtrickle.refresh_stream_table('analytics.revenue_by_region')")
        .unwrap();

    // A second run with nothing changed changes nothing (same stream tables).
    p.ok(&["run", "--vars", &vars]);
    assert_eq!(catalog_row(&mut c, "analytics.revenue_by_region").0, rev_id);

    // Operations: source changes, then refresh in dependency order, and status.
    c.batch_execute(
        "INSERT INTO shop.orders (id, customer_id, amount) SELECT i, i % 40 + 1, 99.5 FROM generate_series(1001, 1100) i;
         DELETE FROM shop.orders WHERE id % 7 = 0;
         UPDATE shop.customers SET region = 'west' WHERE id % 5 = 0;",
    )
    .unwrap();
    let out = p.ok(&[
        "run-operation",
        "refresh_all_stream_tables",
        "--args",
        "{schema: analytics}",
    ]);
    assert!(
        out.contains("refreshed analytics.revenue_by_region (1/2)"),
        "{out}"
    );
    assert!(
        out.contains("refreshed analytics.top_regions (2/2)"),
        "{out}"
    );
    for st in ["analytics.revenue_by_region", "analytics.top_regions"] {
        assert_stream_table_matches_query(&mut c, st);
    }
    p.ok(&[
        "run-operation",
        "refresh_stream_table",
        "--args",
        "{name: analytics.top_regions}",
    ]);
    let out = p.ok(&["run-operation", "stream_table_status"]);
    assert!(
        out.contains("analytics.revenue_by_region  DIFFERENTIAL  ACTIVE"),
        "{out}"
    );

    // A new schedule is applied in place (alter_stream_table: same stream table).
    p.write_model(
        "revenue_by_region",
        &std::fs::read_to_string(p.dir.join("models/revenue_by_region.sql"))
            .unwrap()
            .replace("schedule='1m'", "schedule='5m'"),
    );
    p.ok(&["run", "--vars", &vars]);
    let (id, schedule, _, _) = catalog_row(&mut c, "analytics.revenue_by_region");
    assert_eq!((id, schedule.as_deref()), (rev_id, Some("5m")));

    // A new query re-creates the stream table (its query cannot change in place).
    p.write_model(
        "top_regions",
        "{{ config(schedule=none) }}\nselect region, revenue, orders\n  from {{ ref('revenue_by_region') }}\n where revenue > 500\n",
    );
    p.ok(&["run", "--vars", &vars]);
    let (id, _, _, query) = catalog_row(&mut c, "analytics.top_regions");
    assert_ne!(id, top_id);
    assert!(query.contains("revenue > 500"), "{query}");
    assert_stream_table_matches_query(&mut c, "analytics.top_regions");
    assert!(scalar::<bool>(
        &mut c,
        &format!("SELECT has_table_privilege('{reader}', 'analytics.top_regions', 'SELECT')")
    ));

    // on_configuration_change: fail refuses a change and leaves the stream table alone;
    // continue warns and leaves it alone too.
    p.write_model(
        "top_regions",
        "{{ config(schedule='10m', on_configuration_change='fail') }}\nselect region, revenue, orders\n  from {{ ref('revenue_by_region') }}\n where revenue > 500\n",
    );
    let (ok, out) = p.dbt(&["run", "--vars", &vars]);
    assert!(!ok, "{out}");
    assert!(out.contains("on_configuration_change"), "{out}");
    assert_eq!(catalog_row(&mut c, "analytics.top_regions").1, None);
    p.write_model(
        "top_regions",
        "{{ config(schedule='10m', on_configuration_change='continue') }}\nselect region, revenue, orders\n  from {{ ref('revenue_by_region') }}\n where revenue > 500\n",
    );
    p.ok(&["run", "--vars", &vars]);
    assert_eq!(catalog_row(&mut c, "analytics.top_regions").0, id);

    // --full-refresh drops and re-creates every stream table, in dependency order.
    p.ok(&["run", "--full-refresh", "--vars", &vars]);
    let (new_rev, _, _, _) = catalog_row(&mut c, "analytics.revenue_by_region");
    let (new_top, schedule, _, _) = catalog_row(&mut c, "analytics.top_regions");
    assert!(new_rev != rev_id && new_top != id && new_top > new_rev);
    assert_eq!(schedule.as_deref(), Some("10m"));
    for st in ["analytics.revenue_by_region", "analytics.top_regions"] {
        assert_stream_table_matches_query(&mut c, st);
    }
    p.ok(&["test", "--vars", &vars]);

    // A plain table where a stream table model goes is replaced by the stream table.
    c.batch_execute(&format!(
        "SELECT pgtrickle.drop_stream_table('analytics.top_regions');
         CREATE TABLE analytics.top_regions (x int); ALTER TABLE analytics.top_regions OWNER TO {role};"
    ))
    .unwrap();
    p.ok(&["run", "--vars", &vars]);
    assert_stream_table_matches_query(&mut c, "analytics.top_regions");

    drop(p);
    c.batch_execute(&format!(
        "DROP SCHEMA analytics CASCADE; DROP OWNED BY {role} CASCADE; DROP OWNED BY {reader};
         DROP ROLE {role}; DROP ROLE {reader};"
    ))
    .unwrap();
}
