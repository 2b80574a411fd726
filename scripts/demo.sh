#!/usr/bin/env bash
# The pg_trickle demo: starts a local PostgreSQL 18 cluster with the extension preloaded,
# creates sample tables and a stream table, changes the base tables, refreshes, and
# prints the stream table before and after. The cluster keeps running afterwards.
#
#   bash scripts/demo.sh         # (re)start the demo cluster and run the demo
#   bash scripts/demo.sh stop    # stop the demo cluster
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PGT_REPO_ROOT"

eval "$(bash scripts/setup.sh | tail -n 1)"
bindir="$("$PG_CONFIG" --bindir)"
demo_dir="$PGT_CACHE_DIR/demo"
data="$demo_dir/data"
port="${PGT_DEMO_PORT:-54329}"
db=pgtrickle_demo

stop_cluster() {
  if [ -f "$data/postmaster.pid" ]; then
    as_pg_user "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

if [ "${1:-}" = stop ]; then
  stop_cluster
  log "demo cluster stopped"
  exit 0
fi

log "building and installing the extension"
CARGO_TARGET_DIR="$PGT_REPO_ROOT/target/pgrx-install" cargo pgrx install --pg-config "$PG_CONFIG" >/dev/null

stop_cluster
rm -rf "$demo_dir"
mkdir -p "$demo_dir"
chown "$PGT_PG_USER": "$demo_dir" 2>/dev/null || true
log "initializing a PostgreSQL 18 cluster in $data"
as_pg_user "$bindir/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
cat >> "$data/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_trickle'
wal_level = logical
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$demo_dir'
temp_file_limit = 4GB
CONF
as_pg_user "$bindir/pg_ctl" -D "$data" -l "$demo_dir/postgres.log" -w start >/dev/null

psql_cmd=("$bindir/psql" -X -q -h "$demo_dir" -p "$port" -U postgres)
"${psql_cmd[@]}" -d postgres -c "CREATE DATABASE $db" >/dev/null
"${psql_cmd[@]}" -d "$db" -v ON_ERROR_STOP=1 -P pager=off -f "$PGT_REPO_ROOT/scripts/demo.sql"

cat <<MSG

The demo cluster is still running.
  Connect:  ${psql_cmd[*]} -d $db
     (or:   psql "host=127.0.0.1 port=$port user=postgres dbname=$db")
  Inspect:  cargo run -q -p pgt_cli -- --dsn "host=$demo_dir port=$port user=postgres dbname=$db" list
            (the pgtrickle CLI: show, refresh, explain, graph, health; docs/CLI.md)
  Stop:     bash scripts/demo.sh stop
MSG
