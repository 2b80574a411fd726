# Shared by the benchmark scripts: a release build of PostgreSQL 18 and of pg_trickle, and a
# throwaway cluster in $PGT_CACHE_DIR/bench with `psql` pointing at it. Source it after
# scripts/lib.sh, then call bench_cluster_start.
bench_cluster_start() {
  # Always the release flavor: a PG_CONFIG of the environment may point at a cassert build.
  PG_CONFIG="$(env -u PG_CONFIG PGT_PG_FLAVOR=release bash scripts/setup.sh --pg-only | tail -n1 | sed 's/^export PG_CONFIG=//')"
  bindir="$("$PG_CONFIG" --bindir)"
  log "release build of the extension for $PG_CONFIG"
  CARGO_TARGET_DIR="$PGT_REPO_ROOT/target/pgrx-release" cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null

  dir="$PGT_CACHE_DIR/bench"
  [ -f "$dir/data/postmaster.pid" ] && as_pg_user "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"; mkdir -p "$dir"; chown "$PGT_PG_USER": "$dir" 2>/dev/null || true
  as_pg_user "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >> "$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_trickle'
# Refreshes are timed one by one: the scheduler must not refresh the same stream tables
# in the background (a manual refresh would wait for its lock, and time the wait).
pg_trickle.enabled = off
wal_level = logical
listen_addresses = ''
unix_socket_directories = '$dir'
port = 54331
temp_file_limit = 4GB
# Every temporary file is logged with its size (the TPC-H benchmark sums them per refresh).
log_temp_files = 0
shared_buffers = 1GB
# The data fits in memory (and would sit on SSDs in production): with the default of 4,
# the planner prices a few thousand index probes of a delta above a sequential scan of a
# million-row table. 1.1 is the usual setting for such storage; FULL and incremental
# refreshes run under it alike.
random_page_cost = 1.1
effective_cache_size = 8GB
work_mem = 64MB
maintenance_work_mem = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
synchronous_commit = off
CONF
  as_pg_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w start >/dev/null
  # PGT_BENCH_KEEP=1 leaves the cluster running for a look afterwards (psql -h $dir -p 54331).
  [ "${PGT_BENCH_KEEP:-0}" = 1 ] || trap 'as_pg_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true' EXIT
  psql() { "$bindir/psql" -X -q -h "$dir" -p 54331 -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
}
