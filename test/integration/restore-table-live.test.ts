/**
 * `restore --table` into the live database the table came from, with a view (and a view on that
 * view) and foreign keys both ways depending on it: by default the table comes back beside the
 * live one and nothing live changes; with replace, everything is intact with all rows back, or
 * the restore refused/rolled back and the live table is exactly as before.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dumpDatabase } from '../../lambda/core/dump';
import type { Manifest } from '../../lambda/core/manifest';
import { RestoreError, restoreBackup, type RestoreTarget } from '../../lambda/core/restore';
import { objectFingerprint, startHarness, type Harness } from '../support/harness';

let h: Harness;
let manifest: Manifest;
let tempDir: string;

const target = (): RestoreTarget => ({ ...h.connection, sslMode: 'disable' });
const restoreOrders = (replace: boolean) =>
  restoreBackup({ s3: h.s3, bucket: h.bucket, manifest }, target(), {
    tables: ['shop.orders'],
    replace,
    tempDir,
  });

/** Objects, rows, view definitions, constraints, grants and policies: what "exactly as before" means. */
async function liveState(): Promise<string> {
  const [rows] = await h.query<{ s: string }>(
    `SELECT concat_ws(' | ',
       (SELECT string_agg(id || ':' || customer_id || ':' || total, ',' ORDER BY id) FROM shop.orders),
       (SELECT string_agg(conrelid::regclass || '.' || conname || '=' || pg_get_constraintdef(oid) || ':' || convalidated, ',' ORDER BY conrelid::regclass::text, conname)
          FROM pg_constraint WHERE connamespace = 'shop'::regnamespace),
       (SELECT string_agg(viewname || '=' || definition, ',' ORDER BY viewname) FROM pg_views WHERE schemaname = 'shop'),
       (SELECT string_agg(grantee || ':' || table_name || ':' || privilege_type, ',' ORDER BY table_name, grantee, privilege_type)
          FROM information_schema.role_table_grants WHERE table_schema = 'shop' AND grantee <> 'postgres'),
       (SELECT string_agg(policyname, ',') FROM pg_policies WHERE schemaname = 'shop'),
       (SELECT relrowsecurity::text FROM pg_class WHERE oid = 'shop.orders'::regclass),
       (SELECT last_value::text FROM shop.orders_id_seq)) AS s`,
  );
  return `${await objectFingerprint(h.cluster, h.database)} | ${rows.s}`;
}

beforeAll(async () => {
  h = await startHarness({ seed: false });
  await h.query(`
    CREATE ROLE reader NOLOGIN;
    CREATE SCHEMA shop;
    CREATE TABLE shop.customers (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE shop.orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES shop.customers (id), total numeric NOT NULL);
    CREATE TABLE shop.order_notes (id int PRIMARY KEY, order_id int NOT NULL REFERENCES shop.orders (id), note text);
    INSERT INTO shop.customers SELECT g, 'c' || g FROM generate_series(1, 5) g;
    INSERT INTO shop.orders (customer_id, total) SELECT 1 + g % 5, g * 10 FROM generate_series(1, 50) g;
    INSERT INTO shop.order_notes SELECT g, g, 'note ' || g FROM generate_series(1, 10) g;
    CREATE VIEW shop.order_totals AS SELECT customer_id, sum(total) AS total FROM shop.orders GROUP BY customer_id;
    CREATE VIEW shop.big_customers AS SELECT customer_id FROM shop.order_totals WHERE total > 2000;
    GRANT SELECT ON shop.order_totals, shop.orders TO reader;
    ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY;
    CREATE POLICY reader_sees_all ON shop.orders FOR SELECT TO reader USING (true);
  `);
  manifest = await dumpDatabase(h.dumpOptions());
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-table-live-'));
}, 120_000);

afterAll(async () => {
  await h?.stop();
  if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
});

/** The accident the restore is for: rows deleted (none with notes pointing at them). */
const loseRows = () => h.query(`DELETE FROM shop.orders WHERE id > 30`);

describe('restore --table into the live database', () => {
  it('restores beside the live table by default, changing nothing live', async () => {
    await loseRows();
    const before = await liveState();
    const result = await restoreOrders(false);
    expect(result.beside?.swapped).toBe(false);
    const side = result.beside!.schema;
    expect(side).toMatch(/^restorable_restore_\d{8}_\d{6}$/);
    expect(result.tables).toEqual([
      { schema: side, name: 'orders', expected: 50, expectedExact: true, restored: 50 },
    ]);
    expect(result.beside!.nextSteps.join('\n')).toMatch(
      /EXCEPT TABLE "shop"."orders"[\s\S]*--replace[\s\S]*DROP SCHEMA/,
    );
    // Live: the same except for the new schema and its objects.
    const after = (await liveState()).replace(new RegExp(`(?:ns|rel):${side}[^,|]*,`, 'g'), '');
    expect(after).toBe(before);
    await h.query(`DROP SCHEMA ${side} CASCADE`);
  });

  it('refuses --replace up front, naming the dependents it cannot re-create, with the live table as before', async () => {
    await h.query(`CREATE MATERIALIZED VIEW shop.order_counts AS SELECT count(*) AS n FROM shop.orders`);
    const before = await liveState();
    const err = await restoreOrders(true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreError);
    expect((err as RestoreError).code).toBe('TABLE_DEPENDENTS');
    expect((err as Error).message).toMatch(/materialized view shop\.order_counts.*Nothing was changed/);
    expect(await liveState()).toBe(before);
    await h.query(`DROP MATERIALIZED VIEW shop.order_counts`);
  });

  it('rolls back --replace when a foreign key no longer validates, leaving the live table exactly as before', async () => {
    // A note written after the backup, for an order the backup does not have.
    await h.query(
      `INSERT INTO shop.orders (id, customer_id, total) VALUES (99, 1, 1); INSERT INTO shop.order_notes VALUES (99, 99, 'new')`,
    );
    const before = await liveState();
    const err = await restoreOrders(true).catch((e: unknown) => e);
    expect((err as RestoreError).code).toBe('PG_RESTORE_FAILED');
    expect((err as Error).message).toMatch(/rolled back.*order_notes_order_id_fkey/);
    expect(await liveState()).toBe(before);
    await h.query(`DELETE FROM shop.order_notes WHERE id = 99; DELETE FROM shop.orders WHERE id = 99`);
  });

  it('replaces the table in one transaction: all rows back, views, foreign keys both ways, grants and policy intact', async () => {
    await loseRows();
    const [{ n }] = await h.query<{ n: string }>(`SELECT count(*) AS n FROM shop.orders`);
    expect(Number(n)).toBe(30);
    const before = await liveState();
    const result = await restoreOrders(true);
    expect(result.swap?.viewsRecreated).toEqual(['shop.order_totals', 'shop.big_customers']);
    expect([...(result.swap?.foreignKeysReadded ?? [])].sort()).toEqual([
      'shop.order_notes.order_notes_order_id_fkey', // to the table
      'shop.orders.orders_customer_id_fkey', // from it (the archive's is skipped: customers not restored)
    ]);
    expect(result.tables).toEqual([
      { schema: 'shop', name: 'orders', expected: 50, expectedExact: true, restored: 50 },
    ]);
    const after = await liveState();
    // Only the rows differ: definitions, constraints (validated), grants, policy and schemas are as before.
    const [objectsAfter, , ...definitionsAfter] = after.split(' | ');
    const [objectsBefore, , ...definitionsBefore] = before.split(' | ');
    expect(objectsAfter).toBe(objectsBefore);
    expect(definitionsAfter).toEqual(definitionsBefore);
    const [check] = await h.query<{ rows: string; view: string; notes: string }>(
      `SELECT (SELECT count(*) FROM shop.orders) AS rows, (SELECT sum(total) FROM shop.order_totals) AS view,
              (SELECT count(*) FROM shop.order_notes n JOIN shop.orders o ON o.id = n.order_id) AS notes`,
    );
    expect(check).toEqual({ rows: '50', view: '12750', notes: '10' });
  });
});
