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
# times, for every shape, a refresh with no pending change and one after a single-row
# update.
# Prints a Markdown table (also written to target/bench/results.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$PGT_REPO_ROOT"

ROWS="${ROWS:-1000000}"
RUNS="${RUNS:-5}"
CHANGE=$((ROWS / 100))
source "$(dirname "${BASH_SOURCE[0]}")/bench_cluster.sh"
bench_cluster_start

log "loading $ROWS orders, 10000 customers, 2000 products"
psql <<SQL
CREATE EXTENSION pg_trickle;
SET pg_trickle.differential_max_change_ratio = 0;
CREATE TABLE regions (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO regions SELECT i, 'region_' || i FROM generate_series(0, 49) i;
CREATE TABLE customers (id int PRIMARY KEY, region text NOT NULL, region_id int NOT NULL, segment text NOT NULL);
INSERT INTO customers SELECT i, 'region_' || (i % 50), i % 50, 'seg_' || (i % 5) FROM generate_series(1, 10000) i;
CREATE TABLE categories (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO categories SELECT i, 'cat_' || i FROM generate_series(0, 19) i;
CREATE TABLE products (id int PRIMARY KEY, category_id int NOT NULL, name text NOT NULL);
INSERT INTO products SELECT i, i % 20, 'product_' || i FROM generate_series(1, 2000) i;
-- amount numeric(10,2); price plain numeric (scales 0-3); qty integer; weight float (multiples of
-- 1/8 and their products by 1.5: exact in binary, so float sums do not depend on summation order
-- and the correctness check below can compare exactly).
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, product_id int NOT NULL, amount numeric(10,2) NOT NULL,
                     price numeric NOT NULL, qty int NOT NULL, weight float8 NOT NULL, note text);
INSERT INTO orders SELECT i, 1 + (i::bigint * 7919) % 10000, 1 + (i::bigint * 31) % 2000, ((i::bigint * 37) % 10000) / 100.0,
                          round(((i::bigint * 53) % 100000) / 100.0, (i % 4)::int), 1 + i % 9, (i % 1000) / 8.0, 'n' || (i % 100)
  FROM generate_series(1, $ROWS) i;
CREATE INDEX ON orders (customer_id);
CREATE INDEX ON orders (product_id);
CREATE SEQUENCE order_ids START $((ROWS + 1));
ANALYZE;
SQL

shapes=(
  "scan|SELECT id, customer_id, amount FROM orders"
  "filter|SELECT id, amount FROM orders WHERE amount > 50"
  "aggregate|SELECT customer_id, count(*) AS n, sum(amount) AS total, avg(amount) AS mean FROM orders GROUP BY customer_id"
  "join|SELECT o.id, o.amount, c.region FROM orders o JOIN customers c ON c.id = o.customer_id"
  "join_aggregate|SELECT c.region, count(*) AS n, sum(o.amount) AS total FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.region"
  "aggregate_numeric|SELECT customer_id, sum(price) AS total, avg(price) AS mean FROM orders GROUP BY customer_id"
  "aggregate_int_float|SELECT product_id, sum(qty) AS units, avg(qty) AS mean_qty, sum(weight) AS weight FROM orders GROUP BY product_id"
  "join_aggregate_numeric|SELECT c.region, count(*) AS n, sum(o.price * o.qty) AS revenue FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.region"
  "comma_join5|SELECT o.id, c.segment, r.name AS region, p.name AS product, k.name AS category FROM orders o, customers c, regions r, products p, categories k WHERE c.id = o.customer_id AND r.id = c.region_id AND p.id = o.product_id AND k.id = p.category_id"
  "window_rank|SELECT id, customer_id, amount, rank() OVER (PARTITION BY customer_id ORDER BY amount DESC) AS r FROM orders"
  "window_lag|SELECT id, amount, amount - lag(amount) OVER (PARTITION BY id / 10 ORDER BY id) AS step FROM orders"
  "union|SELECT customer_id FROM orders WHERE amount > 90 UNION SELECT customer_id FROM orders WHERE qty = 9"
  "except_all|SELECT product_id FROM orders WHERE qty > 4 EXCEPT ALL SELECT product_id FROM orders WHERE amount < 20"
  "lateral_unnest|SELECT o.id, t.tag FROM orders o, LATERAL unnest(string_to_array(o.note, 'n')) WITH ORDINALITY AS t(tag, pos)"
  "recursive_chain|WITH RECURSIVE chain(id, start, depth) AS (SELECT id, id, 0 FROM orders WHERE id % 1000 = 0 UNION ALL SELECT o.id, c.start, c.depth + 1 FROM orders o JOIN chain c ON o.id = c.id + 1 WHERE c.depth < 3) SELECT * FROM chain"
  "recursive_chain_union|WITH RECURSIVE chain(id, start, depth) AS (SELECT id, id, 0 FROM orders WHERE id % 1000 = 0 UNION SELECT o.id, c.start, c.depth + 1 FROM orders o JOIN chain c ON o.id = c.id + 1 WHERE c.depth < 3) SELECT * FROM chain"
  "lateral_top1|SELECT c.id, c.segment, o.id AS top_order, o.amount FROM customers c LEFT JOIN LATERAL (SELECT o.id, o.amount FROM orders o WHERE o.customer_id = c.id ORDER BY o.amount DESC, o.id DESC LIMIT 1) o ON true"
  "comma_join5_aggregate|SELECT r.name AS region, k.name AS category, count(*) AS n, sum(o.price * o.qty) AS revenue FROM orders o, customers c, regions r, products p, categories k WHERE c.id = o.customer_id AND r.id = c.region_id AND p.id = o.product_id AND k.id = p.category_id GROUP BY r.name, k.name"
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
change_sql() {
  local upd=$((CHANGE * 70 / 100)) ins=$((CHANGE * 15 / 100)) del=$((CHANGE * 15 / 100))
  cat <<SQL
UPDATE orders SET amount = amount + 1, price = price + 0.5, qty = qty + 1, weight = weight * 1.5 WHERE id IN (SELECT id FROM orders TABLESAMPLE SYSTEM_ROWS($upd));
INSERT INTO orders SELECT nextval('order_ids'), 1 + (random() * 9999)::int, 1 + (random() * 1999)::int, (random() * 100)::numeric(10,2),
                          round((random() * 1000)::numeric, 2), 1 + (random() * 8)::int, (random() * 800)::int / 8.0, 'new' FROM generate_series(1, $ins);
DELETE FROM orders WHERE id IN (SELECT id FROM orders TABLESAMPLE SYSTEM_ROWS($del));
SQL
}
psql -c "CREATE EXTENSION IF NOT EXISTS tsm_system_rows" >/dev/null 2>&1 || {
  # tsm_system_rows is a contrib module; fall back to a random id range.
  change_sql() {
    local upd=$((CHANGE * 70 / 100)) ins=$((CHANGE * 15 / 100)) del=$((CHANGE * 15 / 100))
    cat <<SQL
UPDATE orders SET amount = amount + 1, price = price + 0.5, qty = qty + 1, weight = weight * 1.5 WHERE id IN (SELECT (random() * $ROWS)::bigint FROM generate_series(1, $upd));
INSERT INTO orders SELECT nextval('order_ids'), 1 + (random() * 9999)::int, 1 + (random() * 1999)::int, (random() * 100)::numeric(10,2),
                          round((random() * 1000)::numeric, 2), 1 + (random() * 8)::int, (random() * 800)::int / 8.0, 'new' FROM generate_series(1, $ins);
DELETE FROM orders WHERE id IN (SELECT (random() * $ROWS)::bigint FROM generate_series(1, $del));
SQL
  }
}

declare -A full diff
for s in "${shapes[@]}"; do name="${s%%|*}"; full[$name]=""; diff[$name]=""; done
# All rounds run in one session, as the scheduler's worker or a pooled connection would:
# each round applies the change (untimed), then refreshes every stream table (timed).
args=()
for run in $(seq 1 "$RUNS"); do
  args+=('\timing off' "$(change_sql)" '\timing on')
  for s in "${shapes[@]}"; do
    name="${s%%|*}"
    args+=("SELECT pgtrickle.refresh_stream_table('${name}_full')" "SELECT pgtrickle.refresh_stream_table('${name}_diff')")
  done
done
log "$RUNS rounds of a 1% change ($CHANGE rows), each followed by a refresh of every stream table"
mapfile -t t < <(times "${args[@]}")
i=0
for run in $(seq 1 "$RUNS"); do
  for s in "${shapes[@]}"; do
    name="${s%%|*}"
    full[$name]+="${t[$i]} "; diff[$name]+="${t[$((i + 1))]} "; i=$((i + 2))
  done
done

# Correctness spot check: the differential tables equal their queries (both directions of
# EXCEPT ALL, compared as text with 12 significant float digits: a float sum depends on
# summation order, in PostgreSQL itself too).
for s in "${shapes[@]}"; do
  name="${s%%|*}"
  cols=$(psql -At -c "SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '${name}_diff'::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt\_%'")
  bad=$(psql -At -c "SET extra_float_digits = -3" -c "WITH q AS (SELECT (ROW($cols))::text AS r FROM (${s#*|}) x), st AS (SELECT (ROW($cols))::text AS r FROM ${name}_diff)
      SELECT (SELECT count(*) FROM (SELECT r FROM q EXCEPT ALL SELECT r FROM st) a) + (SELECT count(*) FROM (SELECT r FROM st EXCEPT ALL SELECT r FROM q) b)")
  if [ "$bad" != 0 ]; then
    psql -At -c "SET extra_float_digits = -3" -c "WITH q AS (SELECT (ROW($cols))::text AS r FROM (${s#*|}) x), st AS (SELECT (ROW($cols))::text AS r FROM ${name}_diff)
      (SELECT 'query only: ' || r FROM (SELECT r FROM q EXCEPT ALL SELECT r FROM st) a LIMIT 5) UNION ALL (SELECT 'stream table only: ' || r FROM (SELECT r FROM st EXCEPT ALL SELECT r FROM q) b LIMIT 5)" >&2
    die "$name: differential stream table differs from its query ($bad rows)"
  fi
done

# Per shape: a refresh with no pending change, and one after a single-row UPDATE.
declare -A zero single
for s in "${shapes[@]}"; do
  name="${s%%|*}"
  stmts=()
  for i in $(seq 1 5); do
    stmts+=("SELECT pgtrickle.refresh_stream_table('${name}_diff')"
            "UPDATE orders SET amount = amount + 1, price = price + 0.25, qty = qty + 1 WHERE id = $((i * 1000 + 7))"
            "SELECT pgtrickle.refresh_stream_table('${name}_diff')")
  done
  mapfile -t t < <(times "${stmts[@]}")
  z="" o=""
  for i in $(seq 0 4); do z+="${t[$((i * 3))]} "; o+="${t[$((i * 3 + 2))]} "; done
  zero[$name]=$(echo $z | tr ' ' '\n' | median); single[$name]=$(echo $o | tr ' ' '\n' | median)
done

out="$PGT_REPO_ROOT/target/bench/results.md"; mkdir -p "$(dirname "$out")"
{
  echo "| shape | FULL refresh (ms) | DIFFERENTIAL refresh (ms) | speed-up | no change (ms) | one-row UPDATE (ms) |"
  echo "|---|---:|---:|---:|---:|---:|"
  for s in "${shapes[@]}"; do
    name="${s%%|*}"
    f=$(echo ${full[$name]} | tr ' ' '\n' | median); d=$(echo ${diff[$name]} | tr ' ' '\n' | median)
    printf "| %s | %s | %s | %sx | %s | %s |\n" "$name" "$f" "$d" "$(awk -v f="$f" -v d="$d" 'BEGIN {printf "%.1f", f / d}')" "${zero[$name]}" "${single[$name]}"
  done
  echo
  echo "ROWS=$ROWS, RUNS=$RUNS, change per round = $CHANGE rows; $(uname -m), $(nproc) cores; PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}') (no assertions), extension release build."
} | tee "$out"
