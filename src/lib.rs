//! # pg_trickle
//!
//! The PostgreSQL extension: thin glue (pgrx) over the pure crates in `crates/`.
//!
//! | module | role |
//! |---|---|
//! | [`api`] | the SQL functions in schema `pgtrickle` |
//! | [`analyze`] | parsing and analyzing defining queries with PostgreSQL's parser |
//! | [`budget`] | the time, memory and temp-file budget of every refresh |
//! | [`catalog`] | SPI access to the `pgtrickle.pgt_*` catalog tables |
//! | [`frontend`] | the parse frontend: analyzed `Query` → DVM operator tree |
//! | [`refresh`] | FULL and DIFFERENTIAL refresh |
//! | [`cdc`] | change buffers, capture triggers, frontiers |
//! | [`capture`] | the capture trigger function copying transition tables into buffers |
//! | [`cdc_partitions`] | capture triggers on the partitions of partitioned sources |
//! | [`config`] | GUCs |
//! | [`scheduler`] | launcher and per-database scheduler background workers |
//! | [`security`] | pinned search_path and running refreshes as the stream table's owner |
//! | [`settings`] | the session settings a stream table pins at creation |
//! | [`shmem`] | shared-memory signals for the workers |
//! | [`guard`] | the trigger that keeps users from writing to stream tables |
//! | [`error`] | the error type and its mapping to SQLSTATEs |

use pgrx::prelude::*;

mod analyze;
mod api;
mod budget;
mod capture;
mod catalog;
mod cdc;
mod cdc_partitions;
mod config;
mod error;
mod frontend;
mod guard;
mod immediate;
mod ownership;
mod plan_cache;
mod planning_clock;
mod refresh;
mod restore;
mod scheduler;
mod security;
mod settings;
mod shmem;
mod spi_cache;
mod statement_cache;
mod subtransaction;
mod wal;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);

extension_sql_file!("../sql/monitoring.sql", name = "monitoring", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // Error texts must not depend on the server's environment: with RUST_BACKTRACE set,
    // pgrx would capture (slowly) and append a Rust backtrace to every error's DETAIL.
    // RUST_LIB_BACKTRACE=0 turns std's capture off for this process and its children
    // (when preloaded, the postmaster's environment is what every backend inherits).
    // Backends are single-threaded, so changing the environment here races with nothing.
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    config::register();
    planning_clock::install();
    // Shared memory and the launcher exist only when preloaded (shared_preload_libraries).
    if shmem::init() {
        scheduler::register_launcher();
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn hash_is_stable_and_seeded() {
        let a = Spi::get_one::<i64>("SELECT pgtrickle.pg_trickle_hash('abc')")
            .unwrap()
            .unwrap();
        assert_eq!(a as u64, 0x44BC_2CF5_AD77_0999);
        let b = Spi::get_one::<i64>("SELECT pgtrickle.pg_trickle_hash('abc', 1)")
            .unwrap()
            .unwrap();
        assert_ne!(a, b);
    }

    #[pg_test]
    fn create_refresh_drop_in_server() {
        Spi::run("CREATE TABLE src (id int, v text)").unwrap();
        Spi::run("INSERT INTO src VALUES (1, 'a'), (1, 'a'), (2, NULL)").unwrap();
        Spi::run("SELECT pgtrickle.create_stream_table('st', 'SELECT id, v FROM src', refresh_mode => 'FULL')").unwrap();
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM st").unwrap(),
            Some(3)
        );
        Spi::run("INSERT INTO src VALUES (3, 'c')").unwrap();
        Spi::run("SELECT pgtrickle.refresh_stream_table('st')").unwrap();
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM st").unwrap(),
            Some(4)
        );
        Spi::run("SELECT pgtrickle.drop_stream_table('st')").unwrap();
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM pgtrickle.pgt_stream_tables").unwrap(),
            Some(0)
        );
    }

    #[pg_test(error = "cannot INSERT stream table \"public.st2\"")]
    fn direct_insert_is_refused() {
        Spi::run("CREATE TABLE src2 (id int)").unwrap();
        Spi::run("SELECT pgtrickle.create_stream_table('st2', 'SELECT id FROM src2')").unwrap();
        Spi::run("INSERT INTO st2 VALUES (1, 1)").unwrap();
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![
            "shared_preload_libraries = 'pg_trickle'",
            "wal_level = logical",
            "pg_trickle.enabled = off",
            "temp_file_limit = 2GB",
        ]
    }
}
