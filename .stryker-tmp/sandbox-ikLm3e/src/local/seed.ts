/**
 * A realistic schema for the demo and the integration tests: foreign keys, row-level security,
 * triggers, functions, an enum, sequences, a view, a partitioned table, and identifiers that
 * break naive SQL (mixed case, unicode, a quote-and-semicolon injection attempt).
 */
// @ts-nocheck

import type { ClientBase } from 'pg';

export const SEED_SCHEMA_SQL = `
CREATE SCHEMA shop;
CREATE TYPE shop.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');
CREATE SEQUENCE shop.invoice_number_seq START 1000;

CREATE TABLE shop.customers (
  id bigserial PRIMARY KEY,
  tenant text NOT NULL,
  email text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE shop.products (
  id serial PRIMARY KEY,
  sku text NOT NULL UNIQUE,
  name text NOT NULL,
  price_cents integer NOT NULL CHECK (price_cents >= 0)
);
CREATE TABLE shop.orders (
  id bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES shop.customers(id) ON DELETE CASCADE,
  status shop.order_status NOT NULL DEFAULT 'pending',
  invoice_number bigint NOT NULL DEFAULT nextval('shop.invoice_number_seq'),
  total_cents bigint NOT NULL DEFAULT 0,
  placed_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_idx ON shop.orders(customer_id);
CREATE TABLE shop.order_items (
  order_id bigint NOT NULL REFERENCES shop.orders(id) ON DELETE CASCADE,
  product_id integer NOT NULL REFERENCES shop.products(id),
  quantity integer NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (order_id, product_id)
);

-- Row-level security: each tenant sees only its own customers.
ALTER TABLE shop.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON shop.customers
  USING (tenant = current_setting('app.tenant', true));

-- Trigger function keeping updated_at honest.
CREATE FUNCTION shop.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END $$;
CREATE TRIGGER customers_touch BEFORE UPDATE ON shop.customers
  FOR EACH ROW EXECUTE FUNCTION shop.touch_updated_at();
CREATE TRIGGER orders_touch BEFORE UPDATE ON shop.orders
  FOR EACH ROW EXECUTE FUNCTION shop.touch_updated_at();

CREATE FUNCTION shop.order_total(p_order bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(i.quantity * p.price_cents), 0)
  FROM shop.order_items i JOIN shop.products p ON p.id = i.product_id
  WHERE i.order_id = p_order
$$;

CREATE VIEW shop.paid_orders AS SELECT * FROM shop.orders WHERE status = 'paid';

-- A partitioned table: events by month.
CREATE TABLE shop.events (
  id bigint GENERATED ALWAYS AS IDENTITY,
  occurred_at timestamptz NOT NULL,
  kind text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}'
) PARTITION BY RANGE (occurred_at);
CREATE TABLE shop.events_2026_10 PARTITION OF shop.events
  FOR VALUES FROM ('2026-10-01') TO ('2026-11-01');
CREATE TABLE shop.events_2026_11 PARTITION OF shop.events
  FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
CREATE TABLE shop.events_default PARTITION OF shop.events DEFAULT;

-- Identifiers that break naive quoting.
CREATE SCHEMA "Mixed Case";
CREATE TABLE "Mixed Case"."Audit Log" (id serial PRIMARY KEY, "Message" text NOT NULL);
CREATE TABLE "Mixed Case"."x""; DROP TABLE shop.products;--" (id integer PRIMARY KEY);
CREATE TABLE "Mixed Case"."données_é" (id integer PRIMARY KEY, label text);
`;

export interface SeedSize {
  readonly customers: number;
  readonly products: number;
  readonly orders: number;
  /** Events spread across the partitions. */
  readonly events: number;
}

export const DEMO_SEED: SeedSize = { customers: 20_000, products: 500, orders: 60_000, events: 200_000 };
export const TEST_SEED: SeedSize = { customers: 300, products: 40, orders: 900, events: 2_000 };

/** Creates the schema and fills it with deterministic data, set-based so it is fast. */
export async function seedDatabase(client: ClientBase, size: SeedSize = TEST_SEED): Promise<void> {
  await client.query(SEED_SCHEMA_SQL);
  await client.query(
    `INSERT INTO shop.customers (tenant, email)
       SELECT 'tenant-' || (g % 7), 'customer' || g || '@example.com' FROM generate_series(1, $1) g`,
    [size.customers],
  );
  await client.query(
    `INSERT INTO shop.products (sku, name, price_cents)
       SELECT 'SKU-' || g, 'Product ' || g, (g * 137) % 10000 FROM generate_series(1, $1) g`,
    [size.products],
  );
  await client.query(
    `INSERT INTO shop.orders (customer_id, status)
       SELECT 1 + (g % $2), (ARRAY['pending','paid','shipped','cancelled']::shop.order_status[])[1 + g % 4]
       FROM generate_series(1, $1) g`,
    [size.orders, size.customers],
  );
  await client.query(
    `INSERT INTO shop.order_items (order_id, product_id, quantity)
       SELECT o.id, 1 + ((o.id * k) % $1), 1 + (o.id + k) % 5
       FROM shop.orders o CROSS JOIN generate_series(1, 2) k
       ON CONFLICT DO NOTHING`,
    [size.products],
  );
  await client.query(
    `INSERT INTO shop.events (occurred_at, kind, payload)
       SELECT timestamptz '2026-10-01' + (g % 90) * interval '1 day', 'kind-' || (g % 5),
              jsonb_build_object('n', g)
       FROM generate_series(1, $1) g`,
    [size.events],
  );
  await client.query(
    `INSERT INTO "Mixed Case"."Audit Log" ("Message") SELECT 'entry ' || g FROM generate_series(1, 25) g`,
  );
  await client.query(`INSERT INTO "Mixed Case"."x""; DROP TABLE shop.products;--" VALUES (1), (2), (3)`);
  await client.query(`INSERT INTO "Mixed Case"."données_é" VALUES (1, 'café'), (2, 'naïve')`);
  await client.query('ANALYZE');
}
