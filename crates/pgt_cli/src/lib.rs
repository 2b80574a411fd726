//! # pgt_cli: `pgtrickle`, the command-line tool for operators
//!
//! Lists stream tables with their status and staleness, shows one (query, mode and why,
//! schedule, sources, last refreshes), refreshes one or all of them in dependency order
//! (with progress for long refreshes), explains how one is maintained, draws the
//! dependency graph (text or Graphviz DOT) and runs the health check. Every command
//! prints readable tables by default and JSON with `--json`.
//!
//! It reads only the `pgtrickle` schema's documented views and functions
//! (`stream_tables_info`, `pg_stat_stream_tables`, `refresh_history_info`,
//! `health_check()`, `explain_stream_table()`, the catalog tables), as any role with
//! access to them: nothing here needs more rights than the same SQL typed in psql.
//!
//! Layout: [`cli`] the arguments, [`conn`] the connection settings (libpq's environment
//! variables), [`output`] tables and JSON, [`graph`] the dependency graph's renderings,
//! `commands` the SQL of each command, `progress` the refresh progress line.

use std::ffi::OsString;
use std::io::Write;
use std::sync::{Arc, Mutex};

use clap::Parser;

pub mod cli;
mod commands;
pub mod conn;
pub mod graph;
pub mod output;
mod progress;

/// A writer several threads share (standard error: the progress line is written while
/// the main thread waits for the server).
pub type SharedWriter = Arc<Mutex<Box<dyn Write + Send>>>;

/// Wraps a writer for [`run`].
pub fn shared(w: impl Write + Send + 'static) -> SharedWriter {
    Arc::new(Mutex::new(Box::new(w)))
}

/// Exit codes. `health` follows the monitoring-plugin convention instead (see
/// [`commands::health`]).
pub mod exit {
    pub const OK: i32 = 0;
    /// The command failed: no connection, an unknown stream table, a failed refresh.
    pub const FAILED: i32 = 1;
    /// The arguments could not be parsed (clap's code).
    pub const USAGE: i32 = 2;
}

/// What a command returns: its exit code, or a message for standard error.
pub(crate) type CmdResult = Result<i32, String>;

/// Runs `pgtrickle` with `args` (the program name first), writing results to `out` and
/// diagnostics and progress to `err`. Returns the process exit code.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: SharedWriter) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match cli::Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            // --help and --version are "errors" that print to standard output.
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let text = e.render().to_string();
            if e.use_stderr() {
                let _ = err.lock().map(|mut w| w.write_all(text.as_bytes()));
            } else {
                let _ = out.write_all(text.as_bytes());
            }
            return code;
        }
    };
    let result = commands::dispatch(&args, out, &err);
    let _ = out.flush();
    match result {
        Ok(code) => code,
        Err(msg) => {
            let _ = err
                .lock()
                .map(|mut w| writeln!(w, "pgtrickle: error: {msg}").and_then(|_| w.flush()));
            if matches!(args.command, cli::Command::Health) {
                commands::HEALTH_UNKNOWN
            } else {
                exit::FAILED
            }
        }
    }
}
