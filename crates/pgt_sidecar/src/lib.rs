//! `pg_trickle_sidecar`: stream tables on a PostgreSQL server where the extension cannot be
//! installed (managed services), kept by a separate process over ordinary connections
//! (ADR-079, `docs/SIDECAR.md`).
//!
//! It installs its catalog with plain SQL (`schema.rs`), creates stream tables from a
//! defining query (`catalog::create`: PostgreSQL analyzes the query as a temporary view,
//! which gives the columns and the relations read), and runs, per database, the same
//! scheduler tick as the extension's background worker (`pgt_scheduler` over
//! `catalog::SidecarCatalog` and `catalog::SidecarRefresher`: schedules, dependency order,
//! consistency groups, skips, error accounting and suspension, history). Refreshes
//! recompute with the statement the extension's FULL mode runs (`pgt_sql`), its row
//! hashes from the plain-SQL server functions (`pgt_sql::server_functions::PlainSql`).
//! Incremental refresh needs the second parse frontend (ADR-077's next step); until then
//! every sidecar stream table is FULL.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

pub mod capture;
pub mod catalog;
pub mod config;
pub mod schema;

pub use config::Config;

/// Connects to `dsn` as `psql` would (libpq's settings and `sslmode` rules, `PG*`
/// variables; the `pgtrickle` CLI's connection code).
pub fn connect(dsn: &str) -> Result<postgres::Client, String> {
    let (cfg, tls) = pgt_cli::conn::config(Some(dsn), &pgt_cli::conn::ProcessEnv)?;
    cfg.connect(tls.connector()?)
        .map_err(|e| format!("connecting to {}: {e}", pgt_cli::conn::describe(&cfg)))
}

/// Serves every configured database until `stop` is set (SIGTERM): one thread each,
/// installing the catalog, then ticking every `interval_ms`; a lost connection is
/// re-established. Returns when every thread has finished its current tick.
pub fn serve(config: &Config, stop: Arc<AtomicBool>) -> Result<(), String> {
    if config.databases.is_empty() {
        return Err(
            "no database to serve: add [[databases]] to the configuration or set PGT_SIDECAR_DSN"
                .into(),
        );
    }
    let threads: Vec<_> = config
        .databases
        .iter()
        .map(|db| {
            let (config, dsn, stop) = (config.clone(), db.dsn.clone(), stop.clone());
            std::thread::spawn(move || serve_database(&config, &dsn, &stop))
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// Sleeps `d`, waking early when `stop` is set; false when it was.
fn nap(d: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
    }
    !stop.load(Ordering::Relaxed)
}

fn serve_database(config: &Config, dsn: &str, stop: &AtomicBool) {
    let interval = Duration::from_millis(config.interval_ms);
    let mut last_error: Option<String> = None;
    let mut announced = false;
    let report = |last_error: &mut Option<String>, e: String| {
        if last_error.as_deref() != Some(e.as_str()) {
            eprintln!("pg_trickle_sidecar: {e}");
        }
        *last_error = Some(e);
    };
    while !stop.load(Ordering::Relaxed) {
        let mut client = match connect(dsn) {
            Ok(c) => c,
            Err(e) => {
                report(&mut last_error, e);
                nap(interval, stop);
                continue;
            }
        };
        if let Err(e) = catalog::install(&mut client) {
            report(
                &mut last_error,
                format!("installing the catalog: {}", catalog::message(&e)),
            );
            nap(interval, stop);
            continue;
        }
        if last_error.is_some() || !announced {
            let db: String = client
                .query_one("SELECT pg_catalog.current_database()::text", &[])
                .map(|r| r.get(0))
                .unwrap_or_default();
            eprintln!("pg_trickle_sidecar: serving database {db}");
            announced = true;
            last_error = None;
        }
        let shared: catalog::Shared = std::rc::Rc::new(std::cell::RefCell::new(client));
        let mut cat = catalog::SidecarCatalog(shared.clone());
        let mut refresher = catalog::SidecarRefresher {
            client: shared.clone(),
            lock_timeout_ms: config.lock_timeout_ms,
        };
        let mut scheduler = pgt_scheduler::Scheduler::new();
        let started = Instant::now();
        while nap(interval, stop) {
            let ms = started.elapsed().as_millis() as u64;
            // No shared memory to count catalog changes in: the catalog is read again
            // after each refresh and at least every few seconds (new stream tables are
            // served within that).
            match scheduler.reload(&mut cat, 0, ms) {
                pgt_scheduler::Reload::Ready => {}
                pgt_scheduler::Reload::Gone => continue, // uninstalled: idle
                pgt_scheduler::Reload::Failed(e) => {
                    report(&mut last_error, format!("reading the catalog: {e}"));
                    if shared.borrow().is_closed() {
                        break; // reconnect
                    }
                    continue;
                }
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default();
            let r = scheduler.run_due(
                &mut cat,
                &mut refresher,
                &config.scheduler_settings(),
                now,
                started.elapsed().as_millis() as u64,
            );
            for id in &r.failed {
                let name = scheduler
                    .entries()
                    .iter()
                    .find(|e| e.pgt_id == *id)
                    .map(|e| e.name.clone())
                    .unwrap_or_default();
                eprintln!(
                    "pg_trickle_sidecar: automatic refresh of {name} failed (see its history)"
                );
            }
            if shared.borrow().is_closed() {
                break;
            }
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "pg_trickle_sidecar",
    about = "Stream tables on PostgreSQL without the pg_trickle extension, kept fresh by this process"
)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, env = "PGT_SIDECAR_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// The database of a management command (default: the first configured one).
    #[arg(long)]
    dsn: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Installs (or completes) the sidecar's catalog in the database.
    Install,
    /// Creates a stream table and fills it.
    Create {
        /// `name` or `schema.name`.
        name: String,
        /// The defining query.
        query: String,
        /// How fresh to keep it: a duration (`30s`, `5m`, `1h`) or a cron expression;
        /// none: as fresh as the stream tables reading it need.
        #[arg(long)]
        schedule: Option<String>,
    },
    /// Drops a stream table and its table.
    Drop { name: String },
    /// Refreshes a stream table now.
    Refresh { name: String },
    /// Lists the stream tables.
    List,
    /// Serves every configured database until SIGTERM or SIGINT.
    Run,
}

/// The command line, in-process (the binary's `main` and the tests): exit code 0 on
/// success, 1 on an error (written to `err`), 2 on a usage error.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = write!(err, "{e}");
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match execute(cli, out) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "pg_trickle_sidecar: {e}");
            1
        }
    }
}

fn execute(cli: Cli, out: &mut dyn Write) -> Result<(), String> {
    let text = match &cli.config {
        Some(p) => {
            Some(std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))?)
        }
        None => None,
    };
    let config = Config::load(text.as_deref(), &|k| {
        std::env::var(k).ok().filter(|v| !v.is_empty())
    })?;
    if let Command::Run = cli.command {
        let stop = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(sig, stop.clone())
                .map_err(|e| format!("installing the signal handler: {e}"))?;
        }
        return serve(&config, stop);
    }
    let dsn = cli
        .dsn
        .clone()
        .or_else(|| config.databases.first().map(|d| d.dsn.clone()))
        .ok_or("no database: pass --dsn, or configure [[databases]] or PGT_SIDECAR_DSN")?;
    let mut c = connect(&dsn)?;
    let w = |out: &mut dyn Write, s: String| {
        writeln!(out, "{s}").map_err(|e| format!("writing the output: {e}"))
    };
    match cli.command {
        Command::Install => {
            catalog::install(&mut c).map_err(|e| catalog::message(&e))?;
            w(out, format!("installed schema {}", schema::SCHEMA))
        }
        Command::Create {
            name,
            query,
            schedule,
        } => {
            if !catalog::installed(&mut c).map_err(|e| catalog::message(&e))? {
                catalog::install(&mut c).map_err(|e| catalog::message(&e))?;
            }
            catalog::create(&mut c, &name, &query, schedule.as_deref())?;
            w(out, format!("created stream table {name}"))
        }
        Command::Drop { name } => {
            catalog::drop(&mut c, &name)?;
            w(out, format!("dropped stream table {name}"))
        }
        Command::Refresh { name } => {
            catalog::refresh(&mut c, &name)?;
            w(out, format!("refreshed {name}"))
        }
        Command::List => {
            w(out, "name\tschedule\tstatus\tlast refresh\terrors".into())?;
            for l in catalog::list(&mut c)? {
                w(
                    out,
                    format!(
                        "{}\t{}\t{}{}\t{}\t{}",
                        l.name,
                        l.schedule.as_deref().unwrap_or("calculated"),
                        l.status,
                        l.status_reason
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default(),
                        l.last_refresh_at.as_deref().unwrap_or("never"),
                        l.consecutive_errors
                    ),
                )?;
            }
            Ok(())
        }
        Command::Run => unreachable!("handled above"),
    }
}
