/**
 * The drill's check runner (checks.ts) against a real PostgreSQL database, without a restore: a
 * manifest written by hand for a small schema, then runChecks and runOperatorCheck on it. What
 * the summary counts, which failures it names, that an operator check is read-only, one statement
 * and bounded by its own or the default timeout, how PostgreSQL values are compared, and that a
 * count taken under row-level security (a role that cannot bypass it) fails as a lower bound.
 */
import { Client } from 'pg';
import {
  DEFAULT_CHECK_TIMEOUT_SECONDS,
  describeFailures,
  runChecks,
  runOperatorCheck,
  type ChecksResult,
  type OperatorCheck,
} from '../../lambda/core/checks';
import { catalogCounts } from '../../lambda/core/inventory';
import { startLocalCluster, type LocalCluster } from '../../lambda/core/local-cluster';
import type { CatalogCounts, Manifest, TableEntry } from '../../lambda/core/manifest';

const FIXTURE_SQL = `
CREATE SCHEMA shop;
CREATE TABLE shop.orders (id serial PRIMARY KEY, amount int NOT NULL);
INSERT INTO shop.orders (amount) VALUES (10), (20), (30);
CREATE TABLE shop.customers (id int PRIMARY KEY, tenant text NOT NULL);
INSERT INTO shop.customers VALUES (1, 'a'), (2, 'a'), (3, 'b');
ALTER TABLE shop.customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE shop.customers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_a ON shop.customers FOR SELECT USING (tenant = 'a');
CREATE VIEW shop.totals AS SELECT sum(amount) AS total FROM shop.orders;
CREATE ROLE auditor LOGIN PASSWORD 'auditor-pw' NOSUPERUSER NOBYPASSRLS;
GRANT USAGE ON SCHEMA shop TO auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA shop TO auditor;
`;

const entry = (name: string, rows: number, extra: Partial<TableEntry> = {}): TableEntry => ({
  schema: 'shop',
  name,
  rows,
  exact: true,
  rowSecurity: false,
  forceRowSecurity: false,
  kind: 'r',
  ...extra,
});

const TABLES: TableEntry[] = [
  entry('customers', 3, { rowSecurity: true, forceRowSecurity: true }),
  entry('orders', 3),
];

let cluster: LocalCluster;
let client: Client;
let catalog: CatalogCounts;

/** Only what runChecks reads; the rest of a manifest is about the archive. */
const manifest = (over: { tables?: TableEntry[]; catalog?: Partial<CatalogCounts> } = {}): Manifest =>
  ({
    schemas: { include: [], exclude: [] },
    tables: over.tables ?? TABLES,
    catalog: { ...catalog, ...over.catalog },
  }) as unknown as Manifest;

const byName = (r: ChecksResult) => Object.fromEntries(r.results.map((c) => [c.name, c]));

/** Runs checks and returns them with the wall-clock seconds they took (to bound `seconds`). */
async function timed(run: () => Promise<ChecksResult>): Promise<[ChecksResult, number]> {
  const t0 = Date.now();
  const result = await run();
  return [result, (Date.now() - t0) / 1000];
}

beforeAll(async () => {
  cluster = await startLocalCluster();
  const admin = new Client(cluster.connection());
  await admin.connect();
  await admin.query('CREATE DATABASE checks');
  await admin.end();
  client = new Client(cluster.connection('checks'));
  await client.connect();
  await client.query(FIXTURE_SQL);
  catalog = await catalogCounts(client, {});
}, 120_000);

afterAll(async () => {
  await client?.end().catch(() => undefined);
  await cluster?.stop();
});

describe('runChecks', () => {
  it('passes a database that matches its manifest, and counts what passed, was skipped and how long it took', async () => {
    const [result, wall] = await timed(() => runChecks(client, manifest()));
    const checks = byName(result);
    expect(result).toMatchObject({ ok: true, mismatches: 0 });
    // 2 row counts, 10 catalog counts, 1 RLS table, the fingerprints (none recorded: skipped).
    expect(result.summary).toEqual({ total: 14, passed: 13, failed: 0, estimated: 0, skipped: 1 });
    expect(checks['rows:shop.orders']).toMatchObject({ ok: true, status: 'ok', expected: 3, actual: 3 });
    expect(checks['rows:shop.customers']).toMatchObject({ ok: true, status: 'ok', actual: 3 });
    expect(checks['catalog:tables']).toMatchObject({ ok: true, expected: 2, actual: 2 });
    expect(checks['catalog:views']).toMatchObject({ ok: true, expected: 1, actual: 1 });
    expect(checks['rls:shop.customers']).toMatchObject({ ok: true, status: 'ok' });
    expect(checks.fingerprints).toMatchObject({ ok: true, status: 'skipped' });
    expect(result.seconds).toBeGreaterThanOrEqual(0);
    expect(result.seconds).toBeLessThanOrEqual(wall + 0.01);
    // The counting transaction is over: the session is usable and not inside a transaction.
    expect((await client.query('SELECT now() = statement_timestamp() AS fresh')).rows).toEqual([
      { fresh: true },
    ]);
  });

  it('fails on more rows, a catalog count and RLS flags that differ, and names each failure', async () => {
    const [result, wall] = await timed(() =>
      runChecks(
        client,
        manifest({
          tables: [
            entry('customers', 3, { rowSecurity: true, forceRowSecurity: false }),
            entry('orders', 2),
            entry('gone', 1),
          ],
          catalog: { tables: 3 },
        }),
      ),
    );
    const checks = byName(result);
    expect(result.ok).toBe(false);
    expect(result.mismatches).toBe(4);
    expect(result.summary).toEqual({ total: 15, passed: 10, failed: 4, estimated: 0, skipped: 1 });
    expect(checks['rows:shop.orders']).toMatchObject({
      ok: false,
      status: 'mismatch',
      expected: 2,
      actual: 3,
    });
    expect(checks['rows:shop.gone']).toMatchObject({ ok: false, status: 'missing' });
    expect(checks['catalog:tables']).toMatchObject({ ok: false, status: 'mismatch', expected: 3, actual: 2 });
    expect(checks['rls:shop.customers']).toMatchObject({
      ok: false,
      status: 'mismatch',
      detail: 'row-level security flags differ',
    });
    expect(result.seconds).toBeLessThanOrEqual(wall + 0.01);
    expect(describeFailures(result)).toBe(
      '4 check(s) failed: rows:shop.orders mismatch: +1 rows; rows:shop.gone missing: table not found after restore; ' +
        'catalog:tables mismatch: expected 3, got 2; rls:shop.customers mismatch: row-level security flags differ',
    );
    expect(describeFailures(result, 2)).toBe(
      '4 check(s) failed: rows:shop.orders mismatch: +1 rows; rows:shop.gone missing: table not found after restore; ...',
    );
    expect(describeFailures(result, 4)).not.toMatch(/\.\.\.$/);
  });

  it('reports an estimated or unknown count as such, and judges estimates with the given tolerance', async () => {
    const tables = [
      entry('customers', 0, { ...TABLES[0], count: 'unknown' }),
      entry('orders', 5, { exact: false }),
    ];
    const result = await runChecks(client, manifest({ tables }));
    expect(byName(result)['rows:shop.orders']).toMatchObject({
      ok: true,
      status: 'estimated',
      detail: 'manifest count is an estimate (5)',
    });
    expect(byName(result)['rows:shop.customers']).toMatchObject({ ok: true, status: 'unknown' });
    expect(result.summary).toEqual({ total: 14, passed: 13, failed: 0, estimated: 2, skipped: 1 });

    const strict = await runChecks(client, manifest({ tables }), { estimateTolerance: 1.5 });
    expect(byName(strict)['rows:shop.orders']).toMatchObject({
      ok: false,
      status: 'mismatch',
      detail: '3 rows, outside ×1.5 of the 5-row estimate',
    });
  });

  it('runs the operator checks, each with its own timeout or the configured or built-in default', async () => {
    const setting: OperatorCheck['expect'] = { equals: `${DEFAULT_CHECK_TIMEOUT_SECONDS}s` };
    const checks: OperatorCheck[] = [
      { name: 'timeout', sql: "SELECT current_setting('statement_timeout')", expect: setting },
      {
        name: 'own',
        sql: "SELECT current_setting('statement_timeout')",
        expect: { equals: '5s' },
        timeoutSeconds: 5,
      },
      { name: 'wrong', sql: 'SELECT count(*) FROM shop.orders', expect: { equals: 4 } },
    ];
    const result = await runChecks(client, manifest(), { operatorChecks: checks });
    expect(result.results.filter((r) => r.kind === 'sql').map((r) => [r.name, r.ok, r.actual])).toEqual([
      ['sql:timeout', true, `${DEFAULT_CHECK_TIMEOUT_SECONDS}s`],
      ['sql:own', true, '5s'],
      ['sql:wrong', false, '3'],
    ]);
    expect(result.summary).toEqual({ total: 17, passed: 15, failed: 1, estimated: 0, skipped: 1 });

    const configured = await runChecks(client, manifest(), {
      operatorChecks: checks.slice(0, 1),
      timeoutSeconds: 7,
    });
    expect(byName(configured)['sql:timeout']).toMatchObject({ ok: false, actual: '7s' });
  });

  it('takes a count under row-level security as a lower bound when the role cannot bypass it', async () => {
    const auditor = new Client({ ...cluster.connection('checks'), user: 'auditor', password: 'auditor-pw' });
    await auditor.connect();
    try {
      const result = await runChecks(auditor, manifest());
      const customers = byName(result)['rows:shop.customers'];
      // The policy shows 2 of the 3 rows: fewer than the manifest's, and said to be filtered.
      expect(customers).toMatchObject({ ok: false, status: 'mismatch', expected: 3, actual: 2 });
      expect(customers.detail).toBe(
        '-1 rows; counted with row-level security on (the drill role cannot bypass it): a lower bound',
      );
      const visible = await runChecks(auditor, manifest({ tables: [{ ...TABLES[0], rows: 2 }, TABLES[1]] }));
      // Equal to what the role sees passes; the filtered note is only for a failure.
      expect(byName(visible)['rows:shop.customers']).toMatchObject({ ok: true, status: 'ok', actual: 2 });
      expect(byName(visible)['rows:shop.customers'].detail).toBeUndefined();
      expect(byName(visible)['rows:shop.orders'].detail).toBeUndefined();
    } finally {
      await auditor.end();
    }
  });
});

describe('runOperatorCheck', () => {
  const run = (check: Omit<OperatorCheck, 'name'>, defaultTimeout = 30) =>
    runOperatorCheck(client, { name: 'c', ...check } as OperatorCheck, defaultTimeout);

  it('judges the first value and renders what PostgreSQL returned as JSON-safe values', async () => {
    expect(await run({ sql: 'SELECT 2 + 2, 99', expect: { equals: 4 } })).toEqual({
      name: 'sql:c',
      kind: 'sql',
      ok: true,
      status: 'ok',
      expected: 4,
      actual: 4,
    });
    expect(
      await run({ sql: "SELECT timestamptz '2026-11-27 03:00:00+00'", expect: { equals: 'x' } }),
    ).toMatchObject({
      ok: false,
      status: 'mismatch',
      actual: '2026-11-27T03:00:00.000Z',
    });
    expect(await run({ sql: "SELECT '\\x01ff'::bytea", expect: { equals: '\\x01ff' } })).toMatchObject({
      ok: true,
      actual: '\\x01ff',
    });
    expect(await run({ sql: `SELECT '{"a": [1, null]}'::json`, expect: { equals: 'x' } })).toMatchObject({
      actual: { a: [1, null] },
    });
    expect(await run({ sql: 'SELECT NULL', expect: { equals: null } })).toMatchObject({
      ok: true,
      actual: null,
    });
    expect(await run({ sql: 'SELECT true', expect: { equals: true } })).toMatchObject({
      ok: true,
      actual: true,
    });
    // Two columns of the same name: the first one counts (rows as arrays, not objects).
    expect(await run({ sql: 'SELECT 1 AS n, 2 AS n', expect: { equals: 1 } })).toMatchObject({ ok: true });
    expect(await run({ sql: 'SELECT 1 WHERE false', expect: { min: 1 } })).toMatchObject({
      ok: false,
      status: 'mismatch',
      detail: 'query returned no rows',
    });
    expect(await run({ sql: 'SELECT id FROM shop.orders', expect: { rows: 3 } })).toMatchObject({
      ok: true,
      actual: 3,
    });
  });

  it('is read-only, one statement, bounded by its timeout, and leaves the session as it was', async () => {
    const refused = await run({
      sql: 'INSERT INTO shop.orders (amount) VALUES (1) RETURNING id',
      expect: { rows: 1 },
    });
    expect(refused).toMatchObject({ ok: false, status: 'error', actual: null, expected: { rows: 1 } });
    expect(refused.detail).toMatch(/^25006: cannot execute INSERT in a read-only transaction/);

    const smuggled = await run({ sql: 'SELECT 1; DROP TABLE shop.orders', expect: { rows: 1 } });
    expect(smuggled).toMatchObject({ ok: false, status: 'error' });
    expect(smuggled.detail).toMatch(/^42601: cannot insert multiple commands into a prepared statement/);

    const slow = await run({ sql: 'SELECT pg_sleep(5)', expect: { rows: 1 }, timeoutSeconds: 0.3 });
    expect(slow).toMatchObject({ ok: false, status: 'error', detail: 'timed out after 0.3s' });

    const broken = await run({ sql: 'SELECT * FROM shop.nothing', expect: { rows: 1 } });
    expect(broken.detail).toMatch(/^42P01: relation "shop.nothing" does not exist/);

    // Nothing written, no transaction left open, the timeout not left behind.
    expect((await client.query('SELECT count(*)::int AS n FROM shop.orders')).rows).toEqual([{ n: 3 }]);
    expect((await client.query('SHOW statement_timeout')).rows).toEqual([{ statement_timeout: '0' }]);
    expect((await client.query('SELECT now() = statement_timestamp() AS fresh')).rows).toEqual([
      { fresh: true },
    ]);
  });

  it('gives a check at least a millisecond, and the default timeout when it has none', async () => {
    expect(
      await run({
        sql: "SELECT current_setting('statement_timeout')",
        expect: { equals: '1ms' },
        timeoutSeconds: 0.0001,
      }),
    ).toMatchObject({ ok: true });
    expect(
      await run({ sql: "SELECT current_setting('statement_timeout')", expect: { equals: '12s' } }, 12),
    ).toMatchObject({ ok: true });
  });
});
