#!/usr/bin/env bash
# pg_trickle join-chain benchmark: how a DIFFERENTIAL refresh scales with the number of
# joined inputs, for a self-join chain of one table (`s a0 JOIN s a1 ON a1.id = a0.id …`)
# and a chain of distinct tables (`t0 JOIN t1 … JOIN t{n-1}`), against FULL refresh.
#
#   bash benches/join_chain_bench.sh             # ROWS=100000 RUNS=5 by default
#   ROWS=20000 RUNS=3 bash benches/join_chain_bench.sh
#
# Each round updates one row of `s` and one row of every `t_i`, then refreshes each stream
# table once (client-side \timing in one warm session); medians over RUNS rounds. Before
# delta consolidation a 16-way self-join took minutes (about 3^16 delta rows); the
# refresh must grow about linearly with the number of inputs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$PGT_REPO_ROOT"
source "$(dirname "${BASH_SOURCE[0]}")/bench_cluster.sh"

ROWS="${ROWS:-100000}"
RUNS="${RUNS:-5}"
SIZES=(2 4 8 12 16)
bench_cluster_start

log "loading s and t0..t15 ($ROWS rows each)"
{
  echo "CREATE EXTENSION pg_trickle;"
  echo "CREATE TABLE s (id int PRIMARY KEY, v int); INSERT INTO s SELECT g, g % 97 FROM generate_series(1, $ROWS) g;"
  for i in $(seq 0 15); do
    echo "CREATE TABLE t$i (id int PRIMARY KEY, v int); INSERT INTO t$i SELECT g, g % 89 FROM generate_series(1, $ROWS) g;"
  done
  echo "ANALYZE;"
} | psql

for n in "${SIZES[@]}"; do
  self="SELECT a0.id, a0.v FROM s a0"
  chain="SELECT t0.id, t0.v + t$((n - 1)).v AS v FROM t0"
  for i in $(seq 1 $((n - 1))); do
    self+=" JOIN s a$i ON a$i.id = a$((i - 1)).id"
    chain+=" JOIN t$i ON t$i.id = t$((i - 1)).id"
  done
  for mode in full diff; do
    m=$([ $mode = full ] && echo FULL || echo DIFFERENTIAL)
    psql -c "SELECT pgtrickle.create_stream_table('self${n}_$mode', \$q\$$self\$q\$, refresh_mode => '$m')" \
         -c "SELECT pgtrickle.create_stream_table('chain${n}_$mode', \$q\$$chain\$q\$, refresh_mode => '$m')" >/dev/null
  done
done
psql -c "VACUUM ANALYZE" >/dev/null

times() {
  local args=(-c "SELECT 1" -c '\timing on')
  for sql in "$@"; do args+=(-c "$sql"); done
  psql "${args[@]}" | awk '/^Time:/ {print $2}'
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

declare -A t_all
for run in $(seq 1 "$RUNS"); do
  log "round $run/$RUNS"
  change="UPDATE s SET v = v + 1 WHERE id = $((run * 17));"
  for i in $(seq 0 15); do change+="UPDATE t$i SET v = v + 1 WHERE id = $((run * 13 + i));"; done
  psql -c "$change" >/dev/null
  stmts=()
  for n in "${SIZES[@]}"; do
    for k in self chain; do
      for mode in full diff; do stmts+=("SELECT pgtrickle.refresh_stream_table('${k}${n}_$mode')"); done
    done
  done
  mapfile -t t < <(times "${stmts[@]}")
  i=0
  for n in "${SIZES[@]}"; do
    for k in self chain; do
      for mode in full diff; do t_all[$k$n$mode]+="${t[$i]} "; i=$((i + 1)); done
    done
  done
done

# Correctness spot check: every DIFFERENTIAL table equals its FULL twin.
for n in "${SIZES[@]}"; do
  for k in self chain; do
    bad=$(psql -At -c "SELECT (SELECT count(*) FROM (SELECT id, v FROM ${k}${n}_full EXCEPT ALL SELECT id, v FROM ${k}${n}_diff) a) + (SELECT count(*) FROM (SELECT id, v FROM ${k}${n}_diff EXCEPT ALL SELECT id, v FROM ${k}${n}_full) b)")
    [ "$bad" = 0 ] || die "${k}${n}: DIFFERENTIAL differs from FULL ($bad rows)"
  done
done

out="$PGT_REPO_ROOT/target/bench/join_chain.md"; mkdir -p "$(dirname "$out")"
{
  echo "| inputs | self-join FULL (ms) | self-join DIFFERENTIAL (ms) | chain FULL (ms) | chain DIFFERENTIAL (ms) |"
  echo "|---|---|---|---|---|"
  for n in "${SIZES[@]}"; do
    row="| $n"
    for key in self${n}full self${n}diff chain${n}full chain${n}diff; do
      row+=" | $(echo "${t_all[$key]}" | tr ' ' '\n' | grep -v '^$' | median)"
    done
    echo "$row |"
  done
} | tee "$out"
