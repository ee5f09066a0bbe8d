/**
 * Content fingerprints against real PostgreSQL and the real pg_dump/pg_restore: taken in the
 * dump's snapshot on one cluster, recomputed on a copy restored into another cluster. An untouched
 * copy matches (composite keys, no-key tables, hostile names, a sampled 120k-row table), even after
 * its rows are physically reordered; one changed value, a reset sequence, an unpopulated matview,
 * changed large objects and a missing collation each fail naming the object; the budget skips
 * tables and says so.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  compareFingerprints,
  summarizeFingerprintChecks,
  type FingerprintCheck,
} from '../../lambda/core/fingerprint-compare';
import {
  FingerprintsSchema,
  isSkippedTable,
  type Fingerprints,
  type HashedTable,
} from '../../lambda/core/fingerprint-schema';
import { startLocalCluster, type LocalCluster } from '../../lambda/core/local-cluster';
import { startHarness, type Harness } from '../support/harness';
import { dumpWithFingerprints, fingerprintOf, onCluster, restoreInto } from '../support/fingerprint-io';

/** Added to the seeded database (which already has hostile names, a partitioned table, RLS). */
const FIXTURE_SQL = `
CREATE SCHEMA fp;
CREATE COLLATION fp.german (provider = icu, locale = 'de-DE');
CREATE TABLE fp.composite (
  tenant text COLLATE fp.german, n int, at timestamptz, amount numeric(12,2), f float8, tags text[],
  PRIMARY KEY (tenant, n));
INSERT INTO fp.composite
  SELECT (ARRAY['ä','z','a','Ö','b'])[1 + g % 5], g, timestamptz '2026-01-01' + g * interval '37 minutes',
         g * 1.25, g / 3.0, ARRAY['t' || g % 3, NULL]
  FROM generate_series(1, 500) g;
CREATE TABLE fp.nokey (a int, b text);
INSERT INTO fp.nokey VALUES (1, 'x'), (1, 'x'), (2, NULL), (3, ''), (NULL, 'y');
CREATE TABLE fp.big (id uuid PRIMARY KEY, body text, doc jsonb, amount numeric, seen timestamptz);
INSERT INTO fp.big
  SELECT md5(g::text)::uuid, repeat('body ' || g, 3), jsonb_build_object('g', g, 'tags', jsonb_build_array(g % 7)),
         g * 3.14159, timestamptz '2026-01-01' + g * interval '1 second'
  FROM generate_series(1, 120000) g;
CREATE TABLE "Mixed Case"."dotted.name ü" ("x""; DROP TABLE y;--" int PRIMARY KEY, "Ünïcode Col" text);
INSERT INTO "Mixed Case"."dotted.name ü" SELECT g, 'wert ' || g FROM generate_series(1, 50) g;
INSERT INTO "Mixed Case"."x""; DROP TABLE shop.products;--" SELECT generate_series(1001, 1020);
CREATE MATERIALIZED VIEW fp.totals AS SELECT tenant, count(*) AS n FROM fp.composite GROUP BY tenant;
CREATE SEQUENCE fp.counter;
SELECT setval('fp.counter', 41);
SELECT lo_from_bytea(0, convert_to('large object ' || g, 'UTF8')) FROM generate_series(1, 3) g;
ANALYZE;
`;

let h: Harness;
let target: LocalCluster;
let tmp: string;
let archive: string;
let expected: Fingerprints;

const failing = (checks: readonly FingerprintCheck[]) =>
  checks
    .filter((c) => c.status === 'fail')
    .map((c) => c.name)
    .sort();
const table = (fp: Fingerprints, schema: string, name: string) =>
  fp.tables.find((t) => t.schema === schema && t.name === name);

beforeAll(async () => {
  h = await startHarness();
  await h.query(FIXTURE_SQL);
  target = await startLocalCluster();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-fp-test-'));
  archive = path.join(tmp, 'app.dump');
  expected = await dumpWithFingerprints(h.cluster, h.database, archive);
});

afterAll(async () => {
  await target?.stop();
  await h?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('fingerprints of the source', () => {
  it('records every table, hashes small ones whole and samples the 120k-row one by key hash', () => {
    expect(() => FingerprintsSchema.parse(expected)).not.toThrow();
    expect(expected.complete).toBe(true);
    const big = table(expected, 'fp', 'big') as HashedTable;
    expect(big).toMatchObject({ method: 'sample', strength: 'strong', key: ['id'], rowsTotal: 120000 });
    expect(big.modulus).toBeGreaterThan(1);
    expect(big.rowsHashed).toBeGreaterThan(0);
    expect(big.rowsHashed).toBeLessThan(120000);
    expect(table(expected, 'fp', 'composite')).toMatchObject({
      method: 'full',
      key: ['tenant', 'n'],
      rowsHashed: 500,
    });
    expect(table(expected, 'fp', 'nokey')).toMatchObject({ strength: 'weak', key: [], rowsHashed: 5 });
    expect(table(expected, 'Mixed Case', 'dotted.name ü')).toMatchObject({ rowsHashed: 50 });
    expect(table(expected, 'Mixed Case', 'x"; DROP TABLE shop.products;--')).toMatchObject({
      rowsHashed: 23,
    });
    // Partitions are hashed one by one (the rows live there), the parent is not a table of its own.
    expect(table(expected, 'shop', 'events_default')).toBeDefined();
    expect(table(expected, 'shop', 'events')).toBeUndefined();
    expect(expected.sequences.find((s) => s.name === 'counter')).toMatchObject({
      lastValue: '41',
      isCalled: true,
    });
    expect(expected.materializedViews).toEqual([{ schema: 'fp', name: 'totals', populated: true, rows: 5 }]);
    expect(expected.largeObjects.count).toBe(3);
    expect(expected.collations).toEqual([
      expect.objectContaining({ schema: 'fp', name: 'german', provider: 'i', locale: 'de-DE' }),
    ]);
    expect(expected.extensions).toEqual([{ name: 'plpgsql', version: '1.0' }]);
  });
});

describe('an untouched restore', () => {
  const db = 'copy_ok';
  beforeAll(async () => {
    const r = await restoreInto(target, db, archive, ['--exit-on-error', '--jobs=2']);
    expect(r.stderr).toBe('');
  });

  it('matches every fingerprint', async () => {
    const checks = compareFingerprints(expected, await fingerprintOf(target, db, expected));
    expect(failing(checks)).toEqual([]);
    expect(checks.filter((c) => c.status === 'skipped')).toEqual([]);
    expect(checks.map((c) => c.name)).toEqual(
      expect.arrayContaining([
        'rows-hash:fp.big',
        'rows-hash:fp.nokey',
        'rows-hash:Mixed Case.x"; DROP TABLE shop.products;--',
        'sequence:fp.counter',
        'matview:fp.totals',
        'large-objects:database',
        'extension:plpgsql',
        'collation:fp.german',
        'locale:database',
      ]),
    );
    expect(summarizeFingerprintChecks(checks)).toMatchObject({ ok: true, failed: 0, skipped: 0 });
  });

  it('still matches after the rows are physically reordered', async () => {
    const firstByCtid = (c: import('pg').Client) =>
      c.query<{ id: string }>('SELECT id::text FROM fp.big LIMIT 1').then((r) => r.rows[0].id);
    const before = await onCluster(target, db, firstByCtid);
    await onCluster(target, db, async (c) => {
      // Rewrite every other row (new tuple versions at the end of the heap), then compact, and
      // re-insert the key-less table in reverse: same content, another physical order.
      await c.query('UPDATE fp.big SET body = body WHERE (get_byte(uuid_send(id), 0) % 2) = 0');
      await c.query('VACUUM FULL fp.big');
      await c.query('CREATE INDEX composite_desc ON fp.composite (n DESC)');
      await c.query('CLUSTER fp.composite USING composite_desc');
      await c.query(
        'CREATE TEMP TABLE k AS SELECT * FROM fp.nokey; TRUNCATE fp.nokey; INSERT INTO fp.nokey SELECT * FROM k ORDER BY a DESC NULLS FIRST',
      );
    });
    expect(await onCluster(target, db, firstByCtid)).not.toBe(before);
    const checks = compareFingerprints(expected, await fingerprintOf(target, db, expected));
    expect(failing(checks)).toEqual([]);
  });
});

describe('a restore altered after the fact', () => {
  const db = 'copy_bad';
  beforeAll(async () => {
    expect((await restoreInto(target, db, archive)).code).toBe(0);
  });

  it('fails naming each altered table, sequence, matview and the large objects', async () => {
    await onCluster(target, db, async (c) => {
      // One value in one row of a fully hashed table with a composite key.
      await c.query(`UPDATE fp.composite SET amount = amount + 0.01 WHERE tenant = 'ä' AND n = 5`);
      // One value in one row of the sampled table, a row the sample contains.
      await c.query(
        `UPDATE fp.big SET doc = doc || '{"x":1}' WHERE id = (SELECT id FROM fp.big
           WHERE ('x' || encode(substring(sha256(convert_to(ROW(id)::text, 'UTF8')) from 1 for 4), 'hex'))::bit(32)::int8 % $1 = 0
           ORDER BY id LIMIT 1)`,
        [(table(expected, 'fp', 'big') as HashedTable).modulus],
      );
      await c.query(`UPDATE fp.nokey SET b = 'X' WHERE b = 'y'`);
      await c.query(
        `UPDATE "Mixed Case"."dotted.name ü" SET "Ünïcode Col" = 'changed' WHERE "x""; DROP TABLE y;--" = 7`,
      );
      await c.query(`SELECT setval('fp.counter', 1)`);
      await c.query('REFRESH MATERIALIZED VIEW fp.totals WITH NO DATA');
      await c.query(`SELECT lo_put((SELECT min(oid) FROM pg_largeobject_metadata), 0, '\\x4c'::bytea)`);
    });
    const checks = compareFingerprints(expected, await fingerprintOf(target, db, expected));
    expect(failing(checks)).toEqual(
      [
        'large-objects:database',
        'matview:fp.totals',
        'rows-hash:Mixed Case.dotted.name ü',
        'rows-hash:fp.big',
        'rows-hash:fp.composite',
        'rows-hash:fp.nokey',
        'sequence:fp.counter',
      ].sort(),
    );
    const byName = new Map(checks.map((c) => [c.name, c]));
    expect(byName.get('rows-hash:fp.composite')?.detail).toMatch(/same count, different hash/);
    expect(byName.get('rows-hash:fp.nokey')?.detail).toMatch(/weak check/);
    expect(byName.get('matview:fp.totals')?.detail).toMatch(/not populated/);
    expect(byName.get('sequence:fp.counter')?.detail).toMatch(/reuse/);
    expect(summarizeFingerprintChecks(checks).reason).toMatch(/^7 fingerprint\(s\) differ: /);
  });

  it('fails when a row is deleted, even from a table hashed in full', async () => {
    await onCluster(target, db, (c) =>
      c.query(`DELETE FROM "Mixed Case"."x""; DROP TABLE shop.products;--" WHERE id = 3`),
    );
    const checks = compareFingerprints(expected, await fingerprintOf(target, db, expected));
    const check = checks.find((c) => c.name === 'rows-hash:Mixed Case.x"; DROP TABLE shop.products;--');
    expect(check).toMatchObject({ status: 'fail', pass: false });
    expect(check?.detail).toMatch(/22 hashed after restore, 23 at dump time/);
  });
});

describe('collations and locale', () => {
  it('reports a collation the target lacks and a database locale that differs', async () => {
    const db = 'copy_locale';
    // template0 with LC_COLLATE 'C': the source database is C.UTF-8.
    expect(
      (
        await restoreInto(
          target,
          db,
          archive,
          ['--exit-on-error'],
          `TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'`,
        )
      ).code,
    ).toBe(0);
    // The column keeps its collation; the collation the source knew as fp.german is gone by that name.
    await onCluster(target, db, (c) => c.query('ALTER COLLATION fp.german RENAME TO something_else'));
    const checks = compareFingerprints(expected, await fingerprintOf(target, db, expected));
    expect(failing(checks)).toEqual(['collation:fp.german', 'locale:database']);
    expect(checks.find((c) => c.name === 'collation:fp.german')?.detail).toBe(
      'collation missing after restore',
    );
    expect(checks.find((c) => c.name === 'locale:database')?.detail).toMatch(/collate, ctype differ/);
  });
});

describe('the time budget', () => {
  it('with no time left skips every table, matview count and the large objects, and none passes', async () => {
    const actual = await fingerprintOf(target, 'copy_ok', expected, { budgetMs: 0 });
    expect(actual.complete).toBe(false);
    expect(actual.tables.every((t) => isSkippedTable(t) && t.skipped === 'budget')).toBe(true);
    const checks = compareFingerprints(expected, actual);
    const hashes = checks.filter((c) => c.kind === 'rows-hash');
    expect(hashes.length).toBe(expected.tables.length);
    expect(hashes.every((c) => c.status === 'skipped' && !c.pass)).toBe(true);
    expect(checks.find((c) => c.name === 'large-objects:database')?.status).toBe('skipped');
    expect(summarizeFingerprintChecks(checks)).toMatchObject({ ok: true, skipped: expect.any(Number) });
  });

  it('cancels a table that outruns the budget at dump time and records it as skipped; the snapshot survives', async () => {
    // A frozen clock: every unit gets 1 ms of statement_timeout; scanning 120k rows cannot make it.
    const frozen = Date.now();
    const file = path.join(tmp, 'budget.dump');
    const partial = await dumpWithFingerprints(h.cluster, h.database, file, {
      budgetMs: 1,
      now: () => frozen,
    });
    expect(table(partial, 'fp', 'big')).toEqual({ schema: 'fp', name: 'big', skipped: 'budget' });
    expect(partial.complete).toBe(false);
    // pg_dump ran in the same snapshot after the cancelled statement: the archive restores whole.
    expect((await restoreInto(target, 'copy_budget', file)).code).toBe(0);
    const checks = compareFingerprints(partial, await fingerprintOf(target, 'copy_budget', partial));
    expect(checks.find((c) => c.name === 'rows-hash:fp.big')).toMatchObject({
      status: 'skipped',
      pass: false,
      detail: 'not fingerprinted at dump time (budget)',
    });
    expect(failing(checks)).toEqual([]);
  });
});
