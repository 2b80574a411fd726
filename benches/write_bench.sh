#!/usr/bin/env bash
# What change capture costs the writer (ADR-002, ADR-024): pgbench single-row writes and
# bulk statements on a 100,000-row source with 0, 1 and 3 stream tables reading it, under
# trigger capture, WAL capture and IMMEDIATE maintenance. Configurations alternate within
# each round (so drift hits them alike); the report gives TPS and p99 latency against the
# run without stream tables, bulk statement times, and whether every stream table equals
# its query after each run (two-way EXCEPT ALL).
#
#   bash benches/write_bench.sh                       # ROUNDS=3 SECONDS_PER_RUN=10 CLIENTS=4 SYNC=off
#   SYNC=on bash benches/write_bench.sh               # writers commit with synchronous_commit = on
#   CAPTURES="trigger wal" bash benches/write_bench.sh  # only these capture modes (and the baseline)
# Capture modes: trigger (unlogged buffers, the default), logged (trigger capture into
# logged buffers: pg_trickle.unlogged_change_buffers = off), wal, immediate.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$PGT_REPO_ROOT"
source benches/bench_cluster.sh
bench_cluster_start
ROUNDS="${ROUNDS:-3}"
SECS="${SECONDS_PER_RUN:-10}"
CLIENTS="${CLIENTS:-4}"
# synchronous_commit of the writers (the bench cluster's default is off).
SYNC="${SYNC:-off}"
ROWS=100000
work="$(mktemp -d)"
chmod 777 "$work"
trap 'rm -rf "$work"; as_pg_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true' EXIT

psql -q <<SQL
CREATE EXTENSION pg_trickle;
CREATE TABLE grp (g int PRIMARY KEY, label text NOT NULL);
INSERT INTO grp SELECT g, 'group ' || g FROM generate_series(0, 99) g;
CREATE TABLE acct (id bigint PRIMARY KEY, g int NOT NULL, bal numeric(12,2) NOT NULL, note text);
-- WAL capture needs the whole old row of an UPDATE or DELETE; every configuration runs on
-- the same table, so the baseline pays for the larger WAL records too.
ALTER TABLE acct REPLICA IDENTITY FULL;
INSERT INTO acct SELECT i, i % 100, (i % 1000) / 10.0, 'n' || i FROM generate_series(1, $ROWS) i;
CREATE SEQUENCE acct_seq START $((ROWS + 1));
ANALYZE acct;
SQL

# One transaction per script run; weights: 6 updates, 2 inserts, 2 deletes.
cat > "$work/update.sql" <<'EOF'
\set id random(1, 100000)
UPDATE acct SET bal = bal + 1 WHERE id = :id;
EOF
cat > "$work/insert.sql" <<'EOF'
\set g random(0, 99)
INSERT INTO acct VALUES (nextval('acct_seq'), :g, 1, 'new');
EOF
cat > "$work/delete.sql" <<'EOF'
\set id random(1, 100000)
DELETE FROM acct WHERE id = :id;
EOF

STS=("SELECT g, count(*) AS n, sum(bal) AS total FROM acct GROUP BY g"
     "SELECT id, bal FROM acct WHERE bal > 90"
     "SELECT a.id, l.label, a.bal FROM acct a JOIN grp l ON l.g = a.g WHERE a.g < 10")

configure() { # configure <capture: trigger|logged|wal|immediate> <number of stream tables>
  local capture=$1 n=$2 mode=DIFFERENTIAL cdc=trigger unlogged=on
  [ "$capture" = immediate ] && mode=IMMEDIATE
  # logged: trigger capture into logged buffers (pg_trickle.unlogged_change_buffers = off).
  [ "$capture" = logged ] && unlogged=off
  [ "$capture" = wal ] && cdc=auto
  psql -q -c "SELECT pgtrickle.drop_stream_table(pgt_name) FROM pgtrickle.pgt_stream_tables" \
          -c "ALTER SYSTEM SET pg_trickle.cdc_mode = '$cdc'" -c "SELECT pg_reload_conf()" >/dev/null
  # Every run starts from the same 100,000 rows.
  psql -q -c "TRUNCATE acct" -c "INSERT INTO acct SELECT i, i % 100, (i % 1000) / 10.0, 'n' || i FROM generate_series(1, $ROWS) i" \
          -c "SELECT setval('acct_seq', $ROWS)" >/dev/null
  sleep 0.2
  for ((i = 0; i < n; i++)); do
    psql -q -c "SET pg_trickle.unlogged_change_buffers = $unlogged" \
            -c "SELECT pgtrickle.create_stream_table('st$i', \$q\$${STS[$i]}\$q\$, refresh_mode => '$mode')" >/dev/null
  done
  if [ "$capture" = wal ] && [ "$n" -gt 0 ]; then
    psql -q -c "SELECT * FROM pgtrickle.sync_change_capture()" >/dev/null
    [ "$(psql -At -c "SELECT mode FROM pgtrickle.change_capture WHERE source = 'acct'::regclass")" = WAL ] \
      || { echo "acct did not hand over to WAL capture"; exit 1; }
  fi
  psql -q -c "CHECKPOINT" -c "VACUUM ANALYZE acct" >/dev/null
}

# Refreshes (not timed) and checks every stream table against its query.
check() {
  local ok=yes
  for st in $(psql -At -c "SELECT pgt_name FROM pgtrickle.pgt_stream_tables ORDER BY 1"); do
    psql -q -c "SELECT pgtrickle.refresh_stream_table('$st')" >/dev/null
    local q
    q="$(psql -At -c "SELECT defining_query FROM pgtrickle.pgt_stream_tables WHERE pgt_name = '$st'")"
    local cols
    cols="$(psql -At -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '$st'::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt\_%'")"
    local d
    d="$(psql -At -c "SELECT (SELECT count(*) FROM (SELECT $cols FROM $st EXCEPT ALL SELECT * FROM ($q) q) a) + (SELECT count(*) FROM (SELECT * FROM ($q) q EXCEPT ALL SELECT $cols FROM $st) b)")"
    [ "$d" = 0 ] || ok="no ($st: $d rows differ)"
  done
  echo "$ok"
}

run_pgbench() { # prints "tps p99_ms"
  # A short untimed run first: the first seconds after a configuration change (fresh rows,
  # a new slot) are slower in every configuration.
  (cd "$work" && PGOPTIONS="-c synchronous_commit=$SYNC" as_pg_user "$bindir/pgbench" -n -h "$dir" -p 54331 -U postgres -c "$CLIENTS" -j 2 -T 3 \
      -f update.sql@6 -f insert.sql@2 -f delete.sql@2 postgres) >/dev/null 2>&1
  rm -f "$work"/pgbench_log.*
  (cd "$work" && PGOPTIONS="-c synchronous_commit=$SYNC" as_pg_user "$bindir/pgbench" -n -h "$dir" -p 54331 -U postgres -c "$CLIENTS" -j 2 -T "$SECS" \
      -f update.sql@6 -f insert.sql@2 -f delete.sql@2 -l --log-prefix="$work/pgbench_log" postgres) > "$work/out.txt" 2>&1
  local tps p99
  tps="$(grep -E '^tps = ' "$work/out.txt" | head -1 | awk '{print $3}')"
  # Per-transaction logs: the third field is the latency in microseconds.
  p99="$(cat "$work"/pgbench_log.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.2f", a[i]/1000}')"
  echo "$tps $p99"
}

run_bulk() { # prints insert/update/delete ms of statements rolled back afterwards
  PGOPTIONS="-c synchronous_commit=$SYNC" psql -At <<SQL | grep -E '^Time' | awk 'NR >= 2 && NR <= 4 {printf "%s ", $2}'
\timing on
BEGIN;
INSERT INTO acct SELECT 1000000000 + i, i % 100, 1, 'bulk' FROM generate_series(1, 20000) i;
UPDATE acct SET bal = bal + 1 WHERE g IN (1, 2);
DELETE FROM acct WHERE g IN (3, 4);
ROLLBACK;
SQL
}

CONFIGS=("none 0" "trigger 1" "trigger 3" "logged 1" "logged 3" "wal 1" "wal 3" "immediate 1" "immediate 3")
# CAPTURES="trigger wal" runs only those (and the baseline).
if [ -n "${CAPTURES:-}" ]; then
  kept=("none 0")
  for cfg in "${CONFIGS[@]:1}"; do
    [[ " $CAPTURES " == *" ${cfg%% *} "* ]] && kept+=("$cfg")
  done
  CONFIGS=("${kept[@]}")
fi
results="$work/results.txt"
: > "$results"
for ((r = 1; r <= ROUNDS; r++)); do
  for cfg in "${CONFIGS[@]}"; do
    read -r capture n <<<"$cfg"
    [ "$capture" = none ] && capture=trigger
    configure "$capture" "$n"
    read -r tps p99 <<<"$(run_pgbench)"
    bulk="$(run_bulk)"
    eq="$(check)"
    echo "$cfg|$tps|$p99|$bulk|$eq" | tee -a "$results" >&2
  done
done

log "median over $ROUNDS rounds ($CLIENTS clients, ${SECS}s runs, synchronous_commit = $SYNC, single-row mix 6 updates : 2 inserts : 2 deletes)"
python3 - "$results" <<'PY'
import sys, statistics
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1]) if l.strip()]
by = {}
for cfg, tps, p99, bulk, eq in rows:
    b = [float(x) for x in bulk.split()]
    by.setdefault(cfg, []).append((float(tps), float(p99), b, eq))
base = by["none 0"]
btps = statistics.median(x[0] for x in base)
bp99 = statistics.median(x[1] for x in base)
bbulk = [statistics.median(x[2][i] for x in base) for i in range(3)]
print("| configuration | TPS | TPS vs none | p99 (ms) | p99 vs none | bulk INSERT / UPDATE / DELETE (ms) | bulk vs none | equal to query |")
print("|---|---:|---:|---:|---:|---|---|---|")
for cfg, xs in by.items():
    tps = statistics.median(x[0] for x in xs)
    p99 = statistics.median(x[1] for x in xs)
    bulk = [statistics.median(x[2][i] for x in xs) for i in range(3)]
    eq = "yes" if all(x[3] == "yes" for x in xs) else "; ".join(sorted({x[3] for x in xs if x[3] != "yes"}))
    name = "no stream table" if cfg == "none 0" else cfg.replace(" ", ", ") + " stream table(s)"
    print(f"| {name} | {tps:.0f} | {tps / btps:.2f}x | {p99:.2f} | {p99 / bp99:.2f}x | "
          f"{' / '.join(f'{v:.0f}' for v in bulk)} | {' / '.join(f'{v / max(bv, 0.001):.2f}x' for v, bv in zip(bulk, bbulk))} | {eq} |")
PY
