#!/usr/bin/env bash
# WAL written by writers under trigger capture (ADR-078): per single-row UPDATE transaction
# and per 20,000-row INSERT, without a stream table, with an unlogged change buffer (the
# default) and with a logged one (pg_trickle.unlogged_change_buffers = off). Deterministic,
# unlike throughput on a shared machine.
#
#   bash benches/capture_wal.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$PGT_REPO_ROOT"
source benches/bench_cluster.sh
bench_cluster_start
work="$(mktemp -d)"
chmod 755 "$work"
trap 'rm -rf "$work"; as_pg_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true' EXIT
cat > "$work/update.sql" <<'X'
\set id random(1, 100000)
UPDATE acct SET bal = bal + 1 WHERE id = :id;
X
chmod 644 "$work/update.sql"
psql -c "CREATE EXTENSION pg_trickle" \
     -c "CREATE TABLE acct (id bigint PRIMARY KEY, g int NOT NULL, bal numeric(12,2) NOT NULL, note text)" \
     -c "INSERT INTO acct SELECT i, i % 100, (i % 1000) / 10.0, 'n' || i FROM generate_series(1, 100000) i" \
     -c "ALTER SYSTEM SET pg_trickle.cdc_mode = 'trigger'" -c "SELECT pg_reload_conf()" >/dev/null
echo "| capture | single-row UPDATE (bytes / transaction) | 20,000-row INSERT (bytes) |"
echo "|---|---:|---:|"
for mode in none on off; do
  psql -c "SELECT pgtrickle.drop_stream_table(pgt_name) FROM pgtrickle.pgt_stream_tables" >/dev/null
  if [ "$mode" != none ]; then
    psql -c "SET pg_trickle.unlogged_change_buffers = $mode" \
         -c "SELECT pgtrickle.create_stream_table('st0', 'SELECT g, count(*) AS n, sum(bal) AS total FROM acct GROUP BY g', refresh_mode => 'DIFFERENTIAL')" >/dev/null
  fi
  psql -c "CHECKPOINT" >/dev/null
  a="$(psql -At -c "SELECT pg_current_wal_insert_lsn()")"
  (cd "$work" && as_pg_user "$bindir/pgbench" -n -h "$dir" -p 54331 -U postgres -c 1 -t 10000 -f update.sql postgres >/dev/null 2>&1)
  per_txn="$(psql -At -c "SELECT round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$a') / 10000)")"
  bulk="$(psql -At <<'Y'
BEGIN;
SELECT pg_current_wal_insert_lsn() AS a \gset
INSERT INTO acct SELECT 1000000000 + i, i % 100, 1, 'bulk' FROM generate_series(1, 20000) i;
SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :'a');
ROLLBACK;
Y
)"
  case "$mode" in none) name="no stream table" ;; on) name="unlogged buffer" ;; off) name="logged buffer" ;; esac
  echo "| $name | $per_txn | $bulk |"
done
