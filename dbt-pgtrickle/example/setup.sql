-- The source tables the example models read (an application would own these).
CREATE SCHEMA IF NOT EXISTS shop;
CREATE TABLE shop.customers (id int PRIMARY KEY, name text NOT NULL, region text);
CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2), placed_at timestamptz NOT NULL DEFAULT now());
INSERT INTO shop.customers SELECT i, 'customer ' || i, (ARRAY['north', 'south', 'east', NULL])[i % 4 + 1] FROM generate_series(1, 40) i;
INSERT INTO shop.orders (id, customer_id, amount) SELECT i, i % 40 + 1, (i % 17) * 3.25 FROM generate_series(1, 500) i;
