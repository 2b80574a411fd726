//! Starting, sharing and reaping the throwaway cluster.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use postgres::{Client, NoTls};

/// The PostgreSQL port; the socket lives in a private directory, so it never collides.
const PORT: u16 = 5432;
const TEMPLATE_DB: &str = "pgt_template";

/// The messages a connection of [`Cluster::connect_recording_notices`] received, as
/// `"SEVERITY: message"`.
pub type Notices = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A running throwaway cluster.
#[derive(Debug)]
pub struct Cluster {
    pub bindir: PathBuf,
    pub root: PathBuf,
    pub datadir: PathBuf,
    pub socket_dir: PathBuf,
    pub log_file: PathBuf,
    pub superuser: String,
    /// Environment variables given to the server (settings lines `env NAME=value`).
    server_env: Vec<(String, String)>,
    create_db_lock: Mutex<()>,
    next_db: AtomicUsize,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// Settings every test cluster gets unless a test binary asks otherwise: the scheduler is
/// off, so background refreshes never race a test's own.
const DEFAULT_SETTINGS: &[&str] = &["pg_trickle.enabled = off"];

/// The cluster of this test process, started on first use (scheduler off).
pub fn cluster() -> &'static Cluster {
    cluster_with(DEFAULT_SETTINGS)
}

/// The cluster of this test process, started on first use with these extra
/// `postgresql.conf` lines (the first call in a process decides). A line `env NAME=value`
/// puts a variable into the server's environment instead.
pub fn cluster_with(settings: &[&str]) -> &'static Cluster {
    match CLUSTER.get_or_init(|| Cluster::start(settings)) {
        Ok(c) => c,
        Err(e) => panic!("could not start the test cluster:\n{e}"),
    }
}

/// The cluster of this test process without pg_trickle: not in `shared_preload_libraries`,
/// not installed in any database (for what must work on a server that has never seen the
/// extension: the sidecar, ADR-079). A test binary uses either this or the others.
pub fn cluster_without_extension() -> &'static Cluster {
    match CLUSTER.get_or_init(|| Cluster::start_as(&[], false)) {
        Ok(c) => c,
        Err(e) => panic!("could not start the test cluster:\n{e}"),
    }
}

fn is_root() -> bool {
    run_output(Command::new("id").arg("-u"))
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

fn run_output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Finds an 18.x pg_config: `$PG_CONFIG`, or `pg_config` on PATH.
fn find_pg_config() -> Result<PathBuf, String> {
    let candidate = std::env::var_os("PG_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("pg_config"));
    let version = run_output(Command::new(&candidate).arg("--version")).map_err(|e| {
        format!("no usable pg_config ({e}); run scripts/setup.sh and export PG_CONFIG")
    })?;
    if !version.starts_with("PostgreSQL 18") {
        return Err(format!(
            "{} is {}, not PostgreSQL 18; export PG_CONFIG",
            candidate.display(),
            version.trim()
        ));
    }
    Ok(candidate)
}

impl Cluster {
    fn start(settings: &[&str]) -> Result<Cluster, String> {
        Cluster::start_as(settings, true)
    }

    fn start_as(settings: &[&str], extension: bool) -> Result<Cluster, String> {
        let pg_config = find_pg_config()?;
        let bindir = PathBuf::from(run_output(Command::new(&pg_config).arg("--bindir"))?.trim());
        if std::env::var("PGT_TEST_SKIP_INSTALL")
            .map(|v| v != "1")
            .unwrap_or(true)
        {
            install_extension(&pg_config)?;
        }
        let root_user = is_root();
        let superuser = if root_user {
            "postgres".to_string()
        } else {
            run_output(Command::new("id").arg("-un"))?
                .trim()
                .to_string()
        };

        let root = tempfile::Builder::new()
            .prefix("pgt-test-")
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?
            .keep();
        if root_user {
            run_output(Command::new("chown").arg("postgres:").arg(&root))?;
        }
        let datadir = root.join("data");
        let log_file = root.join("postgres.log");
        let cluster = Cluster {
            bindir,
            datadir: datadir.clone(),
            socket_dir: root.clone(),
            log_file: log_file.clone(),
            root,
            superuser,
            server_env: settings
                .iter()
                .filter_map(|l| l.strip_prefix("env "))
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            create_db_lock: Mutex::new(()),
            next_db: AtomicUsize::new(0),
        };
        cluster.spawn_reaper()?;

        cluster.pg_cmd(
            "initdb",
            &[
                "-D",
                path(&datadir),
                "-A",
                "trust",
                "-U",
                &cluster.superuser,
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        )?;
        // Extra lines for a debugging session, e.g.
        // PGT_TEST_PG_SETTINGS="backtrace_functions = 'ResourceOwnerForget'" (`;` separates).
        let extra = std::env::var("PGT_TEST_PG_SETTINGS").unwrap_or_default();
        let settings: Vec<&str> = settings
            .iter()
            .copied()
            .chain(extra.split(';').map(str::trim).filter(|l| !l.is_empty()))
            .collect();
        let conf = format!(
            "\n# pg_trickle test harness\n\
             shared_preload_libraries = '{}'\n\
             wal_level = logical\n\
             listen_addresses = ''\n\
             unix_socket_directories = '{}'\n\
             port = {PORT}\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             max_connections = 200\n\
             max_wal_senders = 10\n\
             max_replication_slots = 10\n\
             log_min_messages = warning\n\
             log_min_error_statement = error\n\
             temp_file_limit = 2GB\n{}\n",
            if extension { "pg_trickle" } else { "" },
            cluster.socket_dir.display(),
            settings
                .iter()
                .filter(|l| !l.starts_with("env "))
                .copied()
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(datadir.join("postgresql.conf"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, conf.as_bytes()))
            .map_err(|e| format!("writing postgresql.conf: {e}"))?;
        if let Err(e) = cluster.pg_cmd(
            "pg_ctl",
            &[
                "-D",
                path(&datadir),
                "-l",
                path(&log_file),
                "-w",
                "-t",
                "120",
                "start",
            ],
        ) {
            return Err(format!("{e}\n--- server log ---\n{}", cluster.log_tail()));
        }

        // Marked as a template *before* the extension is created, so pg_trickle's launcher
        // never starts a scheduler there (a connection would make CREATE DATABASE ...
        // TEMPLATE fail). Separate calls: CREATE DATABASE cannot run in a transaction block.
        let mut admin = cluster.connect("postgres").map_err(|e| e.to_string())?;
        admin
            .batch_execute(&format!("CREATE DATABASE {TEMPLATE_DB}"))
            .map_err(|e| e.to_string())?;
        admin
            .batch_execute(&format!("ALTER DATABASE {TEMPLATE_DB} IS_TEMPLATE true"))
            .map_err(|e| e.to_string())?;
        drop(admin);
        if extension {
            let mut tmpl = cluster.connect(TEMPLATE_DB).map_err(|e| e.to_string())?;
            tmpl.batch_execute("CREATE EXTENSION pg_trickle")
                .map_err(|e| format!("CREATE EXTENSION pg_trickle: {e:?}"))?;
        }
        if std::env::var("PGT_TEST_KEEP").as_deref() == Ok("1") {
            eprintln!(
                "pgt_testkit: keeping cluster at {} (socket dir, port {PORT})",
                cluster.root.display()
            );
        }
        Ok(cluster)
    }

    /// Runs a client program of the cluster's installation (`pg_dump`, `pg_restore`, `psql`,
    /// …) as the cluster's owner, returning its output or an error with its stderr.
    pub fn run_program(&self, program: &str, args: &[&str]) -> Result<String, String> {
        self.pg_cmd(program, args)
    }

    /// Runs a PostgreSQL program from the cluster's bindir as the cluster's owner.
    fn pg_cmd(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let exe = self.bindir.join(program);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        // The server must not inherit the test's RUST_BACKTRACE: pgrx would append Rust
        // backtraces to every error's DETAIL.
        cmd.args(args)
            .stdin(Stdio::null())
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE");
        if !self.server_env.is_empty() {
            // runuser resets the environment only with -l; pass the variables explicitly.
            let mut with_env = if is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--", "env"]);
                c
            } else {
                Command::new("env")
            };
            with_env.args(self.server_env.iter().map(|(k, v)| format!("{k}={v}")));
            with_env.arg(&exe).args(args).stdin(Stdio::null());
            return run_output(&mut with_env);
        }
        run_output(&mut cmd)
    }

    /// A detached process that waits for this test process to exit, then stops the cluster
    /// and removes its directory. It survives panics, failed tests and SIGKILL of the tests.
    fn spawn_reaper(&self) -> Result<(), String> {
        if std::env::var("PGT_TEST_KEEP").as_deref() == Ok("1") {
            return Ok(());
        }
        let as_owner = if is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; \
             {as_owner}'{pg_ctl}' -D '{data}' -m fast -w stop >/dev/null 2>&1; \
             rm -rf '{root}'",
            pid = std::process::id(),
            pg_ctl = self.bindir.join("pg_ctl").display(),
            data = self.datadir.display(),
            root = self.root.display(),
        );
        Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning the reaper: {e}"))?;
        Ok(())
    }

    /// Restarts the server (fast shutdown), e.g. to test what survives a restart.
    pub fn restart(&self) -> Result<(), String> {
        self.pg_cmd(
            "pg_ctl",
            &[
                "-D",
                path(&self.datadir),
                "-l",
                path(&self.log_file),
                "-m",
                "fast",
                "-w",
                "-t",
                "120",
                "restart",
            ],
        )
        .map(|_| ())
    }

    /// Crashes the server (`pg_ctl stop -m immediate`: no shutdown checkpoint, crash
    /// recovery on the next start) and starts it again.
    pub fn crash_restart(&self) -> Result<(), String> {
        self.pg_cmd(
            "pg_ctl",
            &["-D", path(&self.datadir), "-m", "immediate", "-w", "stop"],
        )?;
        // `pg_ctl restart` starts a stopped server (with the options it last ran with).
        self.restart()
    }

    /// The last lines of the server log (for failure messages).
    /// Waits (up to 60 s: generous for loaded CI machines) until `cond` holds; panics with
    /// `what` and the tail of the server log otherwise.
    pub fn eventually(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(60) {
            if cond() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!(
            "timed out waiting until {what}\n--- server log (tail) ---\n{}",
            self.log_tail()
        );
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// A new connection to `dbname` as the cluster's superuser.
    pub fn connect(&self, dbname: &str) -> Result<Client, postgres::Error> {
        postgres::Config::new()
            .host_path(&self.socket_dir)
            .port(PORT)
            .user(&self.superuser)
            .dbname(dbname)
            .application_name("pgt_testkit")
            .connect(NoTls)
    }

    /// A new connection to `dbname` that records the NOTICEs and WARNINGs it receives.
    pub fn connect_recording_notices(
        &self,
        dbname: &str,
    ) -> Result<(Client, Notices), postgres::Error> {
        let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = notices.clone();
        let client = postgres::Config::new()
            .host_path(&self.socket_dir)
            .port(PORT)
            .user(&self.superuser)
            .dbname(dbname)
            .application_name("pgt_testkit")
            .notice_callback(move |n| {
                sink.lock()
                    .unwrap()
                    .push(format!("{}: {}", n.severity(), n.message()))
            })
            .connect(NoTls)?;
        Ok((client, notices))
    }

    /// A fresh database, with the extension installed (unless this is the
    /// [`cluster_without_extension`]).
    pub fn new_database(&'static self) -> TestDb {
        let n = self.next_db.fetch_add(1, Ordering::SeqCst);
        let name = format!("pgt_test_{}_{n}", std::process::id());
        let _guard = self
            .create_db_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut admin = self
            .connect("postgres")
            .expect("connect to postgres database");
        // The template must have no other session. Ours close before this point, but the
        // server may still be tearing one down: retry for a few seconds.
        let create = format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}");
        let mut attempt = 0;
        loop {
            match admin.batch_execute(&create) {
                Ok(()) => break,
                Err(e)
                    if attempt < 50
                        && e.code() == Some(&postgres::error::SqlState::OBJECT_IN_USE) =>
                {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => panic!("CREATE DATABASE {name}: {e:?}"),
            }
        }
        TestDb {
            cluster: self,
            name,
        }
    }

    /// The psql-style connection string of a database (for messages).
    pub fn conninfo(&self, dbname: &str) -> String {
        format!(
            "host={} port={PORT} user={} dbname={dbname}",
            self.socket_dir.display(),
            self.superuser
        )
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Builds and installs the extension into the PostgreSQL that `pg_config` describes.
/// Uses its own target dir so it never waits on the lock of the `cargo test` that runs us.
fn install_extension(pg_config: &Path) -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let ws = workspace_root();
            let out = Command::new("cargo")
                .current_dir(&ws)
                .env("CARGO_TARGET_DIR", ws.join("target/pgrx-install"))
                .args(["pgrx", "install", "--pg-config"])
                .arg(pg_config)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("running cargo pgrx install: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "cargo pgrx install failed:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(())
        })
        .clone()
}

/// A database of its own for one test. Dropped (forcibly) when the test passes; kept when
/// it fails so the reaper's log and `PGT_TEST_KEEP=1` allow a post-mortem.
pub struct TestDb {
    pub cluster: &'static Cluster,
    pub name: String,
}

impl TestDb {
    /// A new connection to this database.
    pub fn client(&self) -> Client {
        self.cluster.connect(&self.name).unwrap_or_else(|e| {
            panic!(
                "connect to {}: {e:?}\n{}",
                self.name,
                self.cluster.log_tail()
            )
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "pgt_testkit: test database kept for inspection: {}",
                self.cluster.conninfo(&self.name)
            );
            return;
        }
        if let Ok(mut admin) = self.cluster.connect("postgres") {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
