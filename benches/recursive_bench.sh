#!/usr/bin/env bash
# WITH RECURSIVE over 1M-row keyed tables, FULL vs DIFFERENTIAL, release build, bench
# cluster (benches/bench_cluster.sh):
#  1. UNION ALL (recomputed at both snapshots, ADR-007): chains of 4 orders starting at
#     every 1000th, after rounds that delete 1% of the orders, insert 1,500 and update
#     6,600; both tables compared (EXCEPT ALL both ways); a one-row UPDATE refreshed.
#  2. UNION (delete and rederive, ADR-046): each employee of a 1M-row hierarchy (fan-out
#     10, depth 6) with its top manager, after rounds that delete 0.1% of the employees
#     (their subtrees leave), move 0.4% to another manager and hire 0.5%; compared; then
#     a one-row insert, move and delete refreshed.
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

psql -q <<SQL
CREATE TABLE emp (id int PRIMARY KEY, manager int);
INSERT INTO emp SELECT i, CASE WHEN i <= 10 THEN NULL ELSE i / 10 END FROM generate_series(1, 1000000) i;
CREATE INDEX ON emp (manager);
ANALYZE emp;
SELECT pgtrickle.create_stream_table('hf', \$q\$WITH RECURSIVE s(id, top) AS (SELECT id, id FROM emp WHERE manager IS NULL UNION SELECT e.id, s.top FROM emp e JOIN s ON e.manager = s.id) SELECT id, top FROM s\$q\$, refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('hd', \$q\$WITH RECURSIVE s(id, top) AS (SELECT id, id FROM emp WHERE manager IS NULL UNION SELECT e.id, s.top FROM emp e JOIN s ON e.manager = s.id) SELECT id, top FROM s\$q\$, refresh_mode => 'DIFFERENTIAL');
SQL
for i in 1 2 3; do
psql -q -c "DELETE FROM emp WHERE id % 1000 = $i AND id > 100000" -c "UPDATE emp SET manager = manager + 1 WHERE id % 250 = $i AND id > 1000" -c "INSERT INTO emp SELECT 1000000 + $i * 10000 + g, g * 37 % 900000 + 1 FROM generate_series(1, 5000) g" \
     -c '\timing on' -c "SELECT pgtrickle.refresh_stream_table('hf')" -c "SELECT pgtrickle.refresh_stream_table('hd')" | grep Time
done
psql -At -c "SELECT count(*) FROM (SELECT id, top FROM hd EXCEPT ALL SELECT id, top FROM hf) a" -c "SELECT count(*) FROM (SELECT id, top FROM hf EXCEPT ALL SELECT id, top FROM hd) a"
psql -q -c "INSERT INTO emp VALUES (2000001, 4242)" -c '\timing on' -c "SELECT pgtrickle.refresh_stream_table('hd')" | grep Time
psql -q -c "UPDATE emp SET manager = 7 WHERE id = 4243" -c '\timing on' -c "SELECT pgtrickle.refresh_stream_table('hd')" | grep Time
psql -q -c "DELETE FROM emp WHERE id = 5555" -c '\timing on' -c "SELECT pgtrickle.refresh_stream_table('hd')" | grep Time
