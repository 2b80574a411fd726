#!/usr/bin/env bash
# pg_trickle refresh benchmark: FULL vs DIFFERENTIAL refresh on 1M-row sources.
#
#   bash benches/refresh_bench.sh            # ROWS=1000000 RUNS=5 by default
#   ROWS=200000 RUNS=3 bash benches/refresh_bench.sh
#
# Uses a non-cassert PostgreSQL 18 (PGT_PG_FLAVOR=release, built once into the cache) and
# a release build of the extension, on a throwaway cluster in $PGT_CACHE_DIR/bench.
# For each shape it creates the same query twice, as a FULL and as a DIFFERENTIAL stream
# table, applies a 1% mixed change (70% updates, 15% inserts, 15% deletes) to `orders`,
# and times each refresh (client-side, psql \timing, one warm session per round); medians
# over RUNS rounds. Then it
# times a refresh with no pending change and one after a single-row update.
# Prints a Markdown table (also written to target/bench/results.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$PGT_REPO_ROOT"

ROWS="${ROWS:-1000000}"
RUNS="${RUNS:-5}"
CHANGE=$((ROWS / 100))
source "$(dirname "${BASH_SOURCE[0]}")/bench_cluster.sh"
bench_cluster_start

log "loading $ROWS orders, 10000 customers"
psql <<SQL
CREATE EXTENSION pg_trickle;
SET pg_trickle.differential_max_change_ratio = 0;
CREATE TABLE customers (id int PRIMARY KEY, region text NOT NULL);
INSERT INTO customers SELECT i, 'region_' || (i % 50) FROM generate_series(1, 10000) i;
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(10,2) NOT NULL, note text);
INSERT INTO orders SELECT i, 1 + (i::bigint * 7919) % 10000, ((i::bigint * 37) % 10000) / 100.0, 'n' || (i % 100) FROM generate_series(1, $ROWS) i;
CREATE INDEX ON orders (customer_id);
CREATE SEQUENCE order_ids START $((ROWS + 1));
ANALYZE;
SQL

shapes=(
  "scan|SELECT id, customer_id, amount FROM orders"
  "filter|SELECT id, amount FROM orders WHERE amount > 50"
  "aggregate|SELECT customer_id, count(*) AS n, sum(amount) AS total, avg(amount) AS mean FROM orders GROUP BY customer_id"
  "join|SELECT o.id, o.amount, c.region FROM orders o JOIN customers c ON c.id = o.customer_id"
  "join_aggregate|SELECT c.region, count(*) AS n, sum(o.amount) AS total FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.region"
)
for s in "${shapes[@]}"; do
  name="${s%%|*}"; q="${s#*|}"
  log "creating $name (FULL and DIFFERENTIAL)"
  psql -c "SELECT pgtrickle.create_stream_table('${name}_full', \$q\$$q\$q\$, refresh_mode => 'FULL')" \
       -c "SELECT pgtrickle.create_stream_table('${name}_diff', \$q\$$q\$q\$, refresh_mode => 'DIFFERENTIAL')" >/dev/null
done
psql -c "VACUUM ANALYZE" >/dev/null

# times "<sql>"...: client-side wall times (ms) of each statement, run in order in one
# session (a warm backend, as the scheduler or a pooled connection would be).
times() {
  local args=(-c "SET pg_trickle.differential_max_change_ratio = 0" -c "SELECT 1" -c '\timing on')
  for sql in "$@"; do args+=(-c "$sql"); done
  psql "${args[@]}" | awk '/^Time:/ {print $2}'
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
apply_change() {
  local upd=$((CHANGE * 70 / 100)) ins=$((CHANGE * 15 / 100)) del=$((CHANGE * 15 / 100))
  psql <<SQL
UPDATE orders SET amount = amount + 1 WHERE id IN (SELECT id FROM orders TABLESAMPLE SYSTEM_ROWS($upd));
INSERT INTO orders SELECT nextval('order_ids'), 1 + (random() * 9999)::int, (random() * 100)::numeric(10,2), 'new' FROM generate_series(1, $ins);
DELETE FROM orders WHERE id IN (SELECT id FROM orders TABLESAMPLE SYSTEM_ROWS($del));
SQL
}
psql -c "CREATE EXTENSION IF NOT EXISTS tsm_system_rows" >/dev/null 2>&1 || {
  # tsm_system_rows is a contrib module; fall back to a random id range.
  apply_change() {
    local upd=$((CHANGE * 70 / 100)) ins=$((CHANGE * 15 / 100)) del=$((CHANGE * 15 / 100))
    psql <<SQL
UPDATE orders SET amount = amount + 1 WHERE id IN (SELECT (random() * $ROWS)::bigint FROM generate_series(1, $upd));
INSERT INTO orders SELECT nextval('order_ids'), 1 + (random() * 9999)::int, (random() * 100)::numeric(10,2), 'new' FROM generate_series(1, $ins);
DELETE FROM orders WHERE id IN (SELECT (random() * $ROWS)::bigint FROM generate_series(1, $del));
SQL
  }
}

declare -A full diff
for s in "${shapes[@]}"; do name="${s%%|*}"; full[$name]=""; diff[$name]=""; done
for run in $(seq 1 "$RUNS"); do
  log "round $run/$RUNS: 1% change ($CHANGE rows), refreshing every stream table"
  apply_change
  stmts=()
  for s in "${shapes[@]}"; do
    name="${s%%|*}"
    stmts+=("SELECT pgtrickle.refresh_stream_table('${name}_full')" "SELECT pgtrickle.refresh_stream_table('${name}_diff')")
  done
  mapfile -t t < <(times "${stmts[@]}")
  i=0
  for s in "${shapes[@]}"; do
    name="${s%%|*}"
    full[$name]+="${t[$i]} "; diff[$name]+="${t[$((i + 1))]} "; i=$((i + 2))
  done
done

# Correctness spot check: the differential tables equal the full ones.
for s in "${shapes[@]}"; do
  name="${s%%|*}"
  bad=$(psql -At -c "SELECT count(*) FROM ((SELECT * FROM (${s#*|}) q EXCEPT ALL SELECT $(psql -At -c "SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '${name}_diff'::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt\_%'") FROM ${name}_diff)) x")
  [ "$bad" = 0 ] || die "$name: differential stream table differs from its query ($bad rows)"
done

stmts=()
for i in $(seq 1 10); do
  stmts+=("SELECT pgtrickle.refresh_stream_table('aggregate_diff')" "UPDATE orders SET amount = amount + 1 WHERE id = $((i * 1000))" "SELECT pgtrickle.refresh_stream_table('aggregate_diff')")
done
mapfile -t t < <(times "${stmts[@]}")
zero="" single=""
for i in $(seq 0 9); do zero+="${t[$((i * 3))]} "; single+="${t[$((i * 3 + 2))]} "; done

out="$PGT_REPO_ROOT/target/bench/results.md"; mkdir -p "$(dirname "$out")"
{
  echo "| shape | FULL refresh (ms) | DIFFERENTIAL refresh (ms) | speed-up |"
  echo "|---|---:|---:|---:|"
  for s in "${shapes[@]}"; do
    name="${s%%|*}"
    f=$(echo ${full[$name]} | tr ' ' '\n' | median); d=$(echo ${diff[$name]} | tr ' ' '\n' | median)
    printf "| %s | %s | %s | %sx |\n" "$name" "$f" "$d" "$(awk -v f="$f" -v d="$d" 'BEGIN {printf "%.1f", f / d}')"
  done
  echo
  echo "| refresh of \`aggregate_diff\` | median (ms) |"
  echo "|---|---:|"
  echo "| no pending change | $(echo $zero | tr ' ' '\n' | median) |"
  echo "| after a single-row UPDATE | $(echo $single | tr ' ' '\n' | median) |"
  echo
  echo "ROWS=$ROWS, RUNS=$RUNS, change per round = $CHANGE rows; $(uname -m), $(nproc) cores; PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}') (no assertions), extension release build."
} | tee "$out"
