//! # pgt_testkit
//!
//! The end-to-end test harness for pg_trickle: a throwaway PostgreSQL 18 cluster per test
//! process, a fresh database per test, and the assertion every stream-table test ends with.
//!
//! * [`cluster()`] starts (once per process) a cluster as the unprivileged `postgres` user
//!   when running as root — PostgreSQL refuses root — with `shared_preload_libraries =
//!   'pg_trickle'` and `wal_level = logical`, listening only on a unix socket in a private
//!   temp dir. It first installs the freshly built extension (`cargo pgrx install`) unless
//!   `PGT_TEST_SKIP_INSTALL=1`. A detached reaper process stops and removes the cluster as
//!   soon as the test process exits, whether the tests passed, failed or were killed.
//!   `PGT_TEST_KEEP=1` keeps it for debugging (its location is printed).
//! * [`TestDb`] is a database created from a template that already has the extension.
//! * [`assert_stream_table_matches_query`] checks that a stream table holds exactly the rows
//!   of its defining query, as a multiset, with a readable diff when it does not.

mod assertions;
mod cluster;

pub use assertions::{
    analyzed_refresh_plan, assert_stream_table_equals_query, assert_stream_table_matches_query,
    change_buffer, expect_sql_error, explain_stream_table, last_refresh, refresh_and_assert,
    stream_table_diff, stream_table_matches, sync_change_capture, SqlErrorInfo,
};
mod capture;
pub use capture::Capture;
pub use cluster::{cluster, cluster_with, cluster_without_extension, Cluster, TestDb};
pub use postgres;
