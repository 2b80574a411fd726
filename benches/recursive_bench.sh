#!/usr/bin/env bash
# WITH RECURSIVE over a 1M-row keyed table: FULL vs DIFFERENTIAL refresh of chains of 4
# orders starting at every 1000th, after rounds that delete 1% of the orders, insert 1,500
# and update 6,600; then both tables are compared (EXCEPT ALL both ways) and a one-row
# UPDATE is refreshed. Release build, bench cluster (benches/bench_cluster.sh).
#
#   bash benches/recursive_bench.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$PGT_REPO_ROOT"
source benches/bench_cluster.sh
bench_cluster_start
psql -q <<SQL
CREATE EXTENSION pg_trickle;
CREATE TABLE orders (id bigint PRIMARY KEY, amount numeric(10,2) NOT NULL);
INSERT INTO orders SELECT i, (i % 1000) / 10.0 FROM generate_series(1, 1000000) i;
ANALYZE orders;
SELECT pgtrickle.create_stream_table('rf', \$q\$WITH RECURSIVE chain(id, start, depth) AS (SELECT id, id, 0 FROM orders WHERE id % 1000 = 0 UNION ALL SELECT o.id, c.start, c.depth + 1 FROM orders o JOIN chain c ON o.id = c.id + 1 WHERE c.depth < 3) SELECT * FROM chain\$q\$, refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('rd', \$q\$WITH RECURSIVE chain(id, start, depth) AS (SELECT id, id, 0 FROM orders WHERE id % 1000 = 0 UNION ALL SELECT o.id, c.start, c.depth + 1 FROM orders o JOIN chain c ON o.id = c.id + 1 WHERE c.depth < 3) SELECT * FROM chain\$q\$, refresh_mode => 'DIFFERENTIAL');
SQL
for i in 1 2 3; do
psql -q -c "DELETE FROM orders WHERE id % 100 = $i" -c "INSERT INTO orders SELECT 1000000 + $i * 10000 + g, 1 FROM generate_series(1, 1500) g" -c "UPDATE orders SET amount = amount + 1 WHERE id % 150 = $i" \
     -c '\timing on' -c "SELECT pgtrickle.refresh_stream_table('rf')" -c "SELECT pgtrickle.refresh_stream_table('rd')" | grep Time
done
psql -At -c "SELECT count(*) FROM (SELECT id, start, depth FROM rd EXCEPT ALL SELECT id, start, depth FROM rf) a" -c "SELECT count(*) FROM (SELECT id, start, depth FROM rf EXCEPT ALL SELECT id, start, depth FROM rd) a"
psql -q -c "UPDATE orders SET amount = amount + 1 WHERE id = 5001" -c '\timing on' -c "SELECT pgtrickle.refresh_stream_table('rd')" | grep Time
