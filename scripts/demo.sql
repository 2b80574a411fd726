-- The pg_trickle demo script, run by scripts/demo.sh.
\set QUIET on
CREATE EXTENSION pg_trickle;

CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, region text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, amount numeric(10,2) NOT NULL);

INSERT INTO customers VALUES (1, 'Ada', 'north'), (2, 'Brian', 'south'), (3, 'Chen', 'north'), (4, 'Dana', NULL);
INSERT INTO orders SELECT i, 1 + i % 4, (i * 7 % 100) + 0.99 FROM generate_series(1, 20) i;

\echo
\echo '== Create a stream table: revenue per region, kept by pg_trickle'
\echo
SELECT pgtrickle.create_stream_table(
    'revenue_by_region',
    $$SELECT c.region, count(*) AS orders, sum(o.amount) AS revenue
        FROM orders o JOIN customers c ON c.id = o.customer_id
       GROUP BY c.region$$,
    schedule => '1m') \gset

SELECT region, orders, revenue FROM revenue_by_region ORDER BY region NULLS LAST;

\echo '== Change the base tables: 3 new orders, a customer moves south, an order is deleted'
INSERT INTO orders VALUES (21, 1, 500.00), (22, 4, 25.50), (23, 3, 10.00);
UPDATE customers SET region = 'south' WHERE name = 'Chen';
DELETE FROM orders WHERE id = 2;

\echo
\echo '== Before refresh: the stream table still shows its last refresh'
\echo
SELECT region, orders, revenue FROM revenue_by_region ORDER BY region NULLS LAST;

SELECT pgtrickle.refresh_stream_table('revenue_by_region') \gset

\echo '== After refresh: the stream table follows its query'
\echo
SELECT region, orders, revenue FROM revenue_by_region ORDER BY region NULLS LAST;

\echo '== Does the stream table equal its defining query (both directions of EXCEPT ALL)?'
\echo
SELECT NOT EXISTS (
         (SELECT region, orders, revenue FROM revenue_by_region
          EXCEPT ALL
          SELECT c.region, count(*), sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.region)
         UNION ALL
         (SELECT c.region, count(*), sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.region
          EXCEPT ALL
          SELECT region, orders, revenue FROM revenue_by_region)
       ) AS stream_table_equals_query;

\echo '== Refresh history'
\echo
SELECT h.refresh_id, h.action, h.status, h.initiated_by, h.rows_inserted, h.rows_deleted,
       round(extract(epoch FROM h.ended_at - h.started_at) * 1000, 1) AS ms
  FROM pgtrickle.pgt_refresh_history h ORDER BY refresh_id;

\echo '== Automatic refresh: a stream table with a 1-second schedule, no manual refresh below'
SELECT pgtrickle.create_stream_table(
    'orders_per_customer',
    $$SELECT c.name, count(*) AS orders, sum(o.amount) AS spent
        FROM orders o JOIN customers c ON c.id = o.customer_id
       GROUP BY c.name$$,
    schedule => '1s') \gset
\echo '   inserting 40 orders ...'
INSERT INTO orders SELECT 100 + i, 1 + i % 4, 5.00 FROM generate_series(1, 40) i;
SELECT pg_sleep(2.5) \gset
SELECT name, orders, spent FROM orders_per_customer ORDER BY name;
\echo '   inserting 40 more and deleting Ada''s orders ...'
INSERT INTO orders SELECT 200 + i, 2 + i % 3, 7.50 FROM generate_series(1, 40) i;
DELETE FROM orders WHERE customer_id = 1;
SELECT pg_sleep(2.5) \gset
SELECT name, orders, spent FROM orders_per_customer ORDER BY name;
SELECT name, effective_refresh_mode, schedule, status, date_trunc('second', staleness) AS staleness
  FROM pgtrickle.stream_tables_info ORDER BY name;
SELECT name, refreshes, differential_refreshes, failures FROM pgtrickle.pg_stat_stream_tables ORDER BY name;

\echo '== Direct writes are refused'
\set ON_ERROR_STOP off
\set VERBOSITY terse
DELETE FROM revenue_by_region;
\set ON_ERROR_STOP on
