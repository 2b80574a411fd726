//! The command line.

use clap::{Parser, Subcommand};

/// pgtrickle: inspect, refresh and check pg_trickle stream tables.
///
/// Connects like psql: `--dsn` (a libpq key/value string or a postgres:// URL), else the
/// PGHOST, PGPORT, PGUSER, PGDATABASE and PGPASSWORD environment variables.
#[derive(Debug, Parser)]
#[command(name = "pgtrickle", version, about, long_about = None)]
pub struct Args {
    /// Connection string (`host=... dbname=...` or `postgres://...`); what it leaves out
    /// comes from the PG* environment variables and libpq's defaults.
    #[arg(short = 'd', long, global = true, env = "PGTRICKLE_DSN")]
    pub dsn: Option<String>,

    /// Print JSON instead of tables (one document per command).
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every stream table with its mode, schedule, status and staleness.
    #[command(alias = "ls")]
    List,
    /// One stream table: its query, mode and why, schedule, status, sources and last
    /// refreshes.
    Show {
        /// The stream table (schema-qualified or found through the search path).
        name: String,
        /// How many recent refreshes to list.
        #[arg(long, default_value_t = 10)]
        limit: i32,
    },
    /// Refresh stream tables now (as `pgtrickle.refresh_stream_table` does).
    Refresh {
        /// The stream tables to refresh, in the order given.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        names: Vec<String>,
        /// Refresh every active stream table, upstream before downstream.
        #[arg(long)]
        all: bool,
        /// Show a progress line while a refresh runs (on by default when standard error
        /// is a terminal).
        #[arg(long)]
        progress: bool,
    },
    /// How a stream table is maintained: operator tree, delta SQL and its plan.
    Explain {
        name: String,
        /// Run the delta statement under EXPLAIN ANALYZE (rolled back: nothing is
        /// consumed).
        #[arg(long)]
        analyze: bool,
    },
    /// The dependency graph: sources and the stream tables that read them.
    Graph {
        /// Graphviz DOT instead of a tree (`pgtrickle graph --dot | dot -Tsvg`).
        #[arg(long)]
        dot: bool,
    },
    /// Run the health check. Exit code 0: healthy, 1: warnings, 2: errors, 3: could not
    /// check.
    Health,
}
