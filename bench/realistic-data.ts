/**
 * Realistic rows for the compression benchmark: what an application database holds — uuids,
 * e-mail addresses, prose in several lengths, jsonb documents with arrays and numbers, numerics,
 * timestamps, text arrays and secondary indexes — not pgbench's blank-padded filler, which
 * compresses far better than real data and would flatter every compressor.
 */
import type { Client } from 'pg';

const WORDS = (
  'order shipped delayed customer refund invoice payment card warehouse parcel label return damaged ' +
  'express standard priority discount coupon loyalty member account address street city postal ' +
  'country region tax vat total subtotal item quantity price colour size small medium large blue ' +
  'green red black white cotton leather steel glass wooden garden kitchen office outdoor travel ' +
  'please call before delivery leave at door fragile handle with care gift wrap message birthday ' +
  'thank you again for shopping with us the package arrived late but in good condition replacement'
).split(' ');

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS shop;
CREATE TABLE IF NOT EXISTS shop.customers (
  id uuid PRIMARY KEY, email text NOT NULL, full_name text NOT NULL, country char(2) NOT NULL,
  created_at timestamptz NOT NULL, profile jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS shop.orders (
  id uuid PRIMARY KEY, customer_id uuid NOT NULL, placed_at timestamptz NOT NULL, status text NOT NULL,
  total numeric(12,2) NOT NULL, currency char(3) NOT NULL, items jsonb NOT NULL, note text,
  tags text[] NOT NULL);
CREATE INDEX IF NOT EXISTS orders_customer ON shop.orders (customer_id);
CREATE INDEX IF NOT EXISTS orders_placed ON shop.orders (placed_at);
`;

/** A SQL expression: `n` random words (correlated with `g` so each row draws its own). */
const words = (n: string) =>
  `(SELECT string_agg(w[1 + floor(random() * array_length(w, 1))::int + k * 0], ' ') ` +
  `FROM generate_series(1, ${n} + g * 0) AS k)`;

/** Inserts batches of customers and orders until the database holds `targetBytes`. */
export async function fillRealistic(
  client: Client,
  targetBytes: number,
  log: (s: string) => void,
): Promise<number> {
  await client.query(SCHEMA);
  const w = `ARRAY[${WORDS.map((x) => `'${x}'`).join(',')}]`;
  const size = async () =>
    Number((await client.query<{ b: string }>('SELECT pg_database_size(current_database()) AS b')).rows[0].b);
  let batch = 0;
  while ((await size()) < targetBytes) {
    const base = batch * 40_000;
    await client.query(
      `WITH c AS (SELECT ${w} AS w)
       INSERT INTO shop.customers
       SELECT gen_random_uuid(),
              lower(w[1 + (g % 97) % array_length(w, 1)]) || '.' || (g::bigint * 7919 % 100000) || '@example' || (g % 13) || '.com',
              initcap(w[1 + (g * 31) % array_length(w, 1)]) || ' ' || initcap(w[1 + (g * 17) % array_length(w, 1)]),
              (ARRAY['US','DE','FR','GB','NL','SE','JP','BR','IN','CA'])[1 + g % 10],
              timestamptz '2019-01-01' + random() * interval '6 years',
              jsonb_build_object('newsletter', random() < 0.3, 'tier', (ARRAY['bronze','silver','gold'])[1 + g % 3],
                                 'preferences', jsonb_build_object('language', (ARRAY['en','de','fr','ja'])[1 + g % 4],
                                                                   'bio', ${words('3 + (random() * 12)::int')}))
       FROM c, generate_series($1::int, $1::int + 7999) AS g`,
      [base / 5],
    );
    await client.query(
      `WITH c AS (SELECT ${w} AS w)
       INSERT INTO shop.orders
       SELECT gen_random_uuid(), gen_random_uuid(),
              timestamptz '2020-01-01' + random() * interval '5 years',
              (ARRAY['placed','paid','shipped','delivered','returned','cancelled'])[1 + (random() * 5)::int],
              round((random() * 900 + 5)::numeric, 2),
              (ARRAY['USD','EUR','GBP','JPY'])[1 + g % 4],
              (SELECT jsonb_agg(jsonb_build_object('sku', 'SKU-' || (random() * 50000 + i * 0)::int,
                                                   'qty', 1 + (random() * 4)::int,
                                                   'price', round((random() * 200)::numeric, 2),
                                                   'name', ${words('2')}))
                 FROM generate_series(1, 1 + (random() * 3)::int + g * 0) AS i),
              CASE WHEN random() < 0.6 THEN ${words('4 + (random() * 25)::int')} END,
              (SELECT array_agg(w[1 + floor(random() * array_length(w, 1))::int + t * 0])
                 FROM generate_series(0, (random() * 3)::int + g * 0) AS t)
       FROM c, generate_series($1::int, $1::int + 39999) AS g`,
      [base],
    );
    batch += 1;
    if (batch % 5 === 0) log(`  … ${((await size()) / 1024 / 1024).toFixed(0)} MiB`);
  }
  await client.query('VACUUM ANALYZE');
  return size();
}
