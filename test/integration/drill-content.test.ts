/**
 * Drills that prove the data matches, not only that it counts the same (issue 14), end to end:
 * dumpDatabase takes fingerprints in its counting session, runDrill restores into a throwaway
 * local cluster and recomputes them. An untouched restore of a database with composite keys,
 * a table without a key, hostile names, 120k rows, a sequence, large objects, an extension and a
 * materialized view whose function relies on the database's search_path PASSES; the same
 * restore altered after the fact (afterRestore) FAILS naming the table and the kind. Row counts
 * cannot pass falsely either: one more row fails like one fewer, and a table restored empty whose
 * manifest count was an estimate fails (issues 9 and 15).
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { runDrill, type DrillReport, type DrillSettingsInput } from '../../lambda/core/drill';
import { dumpDatabase, type DumpOptions } from '../../lambda/core/dump';
import { isSkippedTable, type HashedTable } from '../../lambda/core/fingerprint-schema';
import { keysOfManifest, type Manifest } from '../../lambda/core/manifest';
import { LocalDatabaseProvider } from '../../lambda/core/providers/local';
import type { RestoreTarget } from '../../lambda/core/restore';
import { replicateLocally } from '../../src/local/replicate';
import { startHarness, type Harness } from '../support/harness';

const FIXTURE_SQL = `
CREATE EXTENSION pg_trgm;
CREATE SCHEMA fp;
CREATE TABLE fp.composite (tenant text, n int, amount numeric(12,2), tags text[], PRIMARY KEY (tenant, n));
INSERT INTO fp.composite
  SELECT (ARRAY['ä','z','a','Ö','b'])[1 + g % 5], g, g * 1.25, ARRAY['t' || g % 3, NULL]
  FROM generate_series(1, 500) g;
CREATE TABLE fp.nokey (a int, b text);
INSERT INTO fp.nokey VALUES (1, 'x'), (1, 'x'), (2, NULL), (3, ''), (NULL, 'y');
CREATE TABLE fp.big (id bigint PRIMARY KEY, body text);
INSERT INTO fp.big SELECT g, 'body ' || g FROM generate_series(1, 120000) g;
CREATE TABLE "Mixed Case"."dotted.name ü" ("x""; DROP TABLE y;--" int PRIMARY KEY, "Ünïcode" text);
INSERT INTO "Mixed Case"."dotted.name ü" SELECT g, 'wert ' || g FROM generate_series(1, 50) g;
CREATE MATERIALIZED VIEW fp.totals AS SELECT tenant, count(*) AS n FROM fp.composite GROUP BY tenant;
CREATE SEQUENCE fp.counter;
SELECT setval('fp.counter', 41);
SELECT lo_from_bytea(0, convert_to('large object ' || g, 'UTF8')) FROM generate_series(1, 3) g;
-- A matview whose function names its table without a schema: pg_restore's empty search_path
-- cannot refresh it; the database's own search_path can.
CREATE SCHEMA app;
CREATE TABLE app.items (id int PRIMARY KEY);
INSERT INTO app.items SELECT generate_series(1, 10);
SET search_path = app, public;
CREATE FUNCTION app.item_count() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM items';
CREATE MATERIALIZED VIEW app.summary AS SELECT app.item_count() AS n;
RESET search_path;
ALTER DATABASE app SET search_path = app, public;
ANALYZE;
`;

let h: Harness;
let manifest: Manifest;

async function backup(databaseId: string, extra: Partial<DumpOptions> = {}): Promise<Manifest> {
  const m = await dumpDatabase(h.dumpOptions({ databaseId, ...extra }));
  await replicateLocally(h.s3, h.bucket, h.replicaBucket, `${m.tier}/${databaseId}/`);
  return m;
}

async function drill(
  databaseId: string,
  afterRestore?: (c: Client) => Promise<unknown>,
  settings: DrillSettingsInput = {},
  provider = new LocalDatabaseProvider(),
): Promise<DrillReport> {
  const { report } = await runDrill({
    databaseId,
    source: { s3: h.s3, bucket: h.replicaBucket, kind: 'replica' },
    provider,
    settings,
    writeReport: false,
    pgBinDirs: [h.realBinDir],
    ...(afterRestore
      ? {
          afterRestore: async (t: RestoreTarget) => {
            const c = new Client(t);
            await c.connect();
            try {
              await afterRestore(c);
            } finally {
              await c.end();
            }
          },
        }
      : {}),
  });
  return report;
}

const failedNames = (r: DrillReport) => r.checks!.results.filter((c) => !c.ok).map((c) => c.name);

beforeAll(async () => {
  h = await startHarness();
  await h.query(FIXTURE_SQL);
  manifest = await backup('content');
});

afterAll(async () => {
  await h?.stop();
});

describe('the manifest', () => {
  it("records fingerprints from the dump's snapshot and the database's search_path", () => {
    const fp = manifest.fingerprints!;
    expect(fp.complete).toBe(true);
    expect(manifest.source.searchPath).toBe('app, public');
    const big = fp.tables.find((t) => t.schema === 'fp' && t.name === 'big') as HashedTable;
    expect(big).toMatchObject({ strength: 'strong', method: 'sample', rowsTotal: 120000 });
    expect(fp.tables.find((t) => t.name === 'nokey')).toMatchObject({ strength: 'weak', method: 'full' });
    expect(fp.tables.find((t) => t.name === 'composite')).toMatchObject({ key: ['tenant', 'n'] });
    expect(fp.tables.some(isSkippedTable)).toBe(false);
    expect(fp.materializedViews).toEqual(
      expect.arrayContaining([{ schema: 'app', name: 'summary', populated: true, rows: 1 }]),
    );
  });
});

describe('an untouched restore', () => {
  it('passes every fingerprint, refreshes the search_path matview, and records where it restored', async () => {
    const report = await drill('content');
    expect(failedNames(report)).toEqual([]);
    expect(report.status).toBe('PASSED');
    const results = report.checks!.results;
    const fingerprints = results.filter((r) => r.kind === 'fingerprint');
    // Every table, the sequences, both matviews, large objects, extensions, locale.
    expect(fingerprints.filter((r) => r.name.startsWith('rows-hash:'))).toHaveLength(
      manifest.fingerprints!.tables.length,
    );
    expect(fingerprints.every((r) => r.status === 'ok')).toBe(true);
    expect(results.find((r) => r.name === 'matview:app.summary')).toMatchObject({
      status: 'ok',
      actual: { populated: true, rows: 1 },
    });
    expect(results.find((r) => r.name === 'rows-hash:fp.big')).toMatchObject({ status: 'ok' });
    expect(results.find((r) => r.name === 'large-objects')).toMatchObject({ status: 'ok' });
    expect(results.find((r) => r.name === 'extension:installed')).toMatchObject({ status: 'ok' });
    expect(report.checks!.skipped).toBe(0);
    expect(report.restoredOn).toEqual({
      engine: 'local',
      serverMajor: manifest.source.serverMajor,
      serverVersion: expect.stringMatching(new RegExp(`^${manifest.source.serverMajor}\\.`)),
      pgRestore: expect.stringMatching(/\d+\.\d+/),
      sourceMajor: manifest.source.serverMajor,
    });
  });
});

describe('a restore altered after the fact fails naming the table and the kind', () => {
  it('one value in one row', async () => {
    const report = await drill('content', async (c) => {
      const r = await c.query(`UPDATE fp.composite SET amount = amount + 0.01 WHERE n = 5`);
      expect(r.rowCount).toBe(1);
    });
    expect(report.status).toBe('FAILED');
    expect(failedNames(report)).toEqual(['rows-hash:fp.composite']);
    expect(report.failure!.reason).toMatch(/rows-hash:fp\.composite mismatch: rows differ in content/);
  });

  it('a sequence reset', async () => {
    const report = await drill('content', (c) => c.query(`SELECT setval('fp.counter', 1, false)`));
    expect(report.status).toBe('FAILED');
    expect(failedNames(report)).toEqual(['sequence:fp.counter']);
  });

  it('an unpopulated materialized view', async () => {
    const report = await drill('content', (c) => c.query('REFRESH MATERIALIZED VIEW fp.totals WITH NO DATA'));
    expect(report.status).toBe('FAILED');
    expect(failedNames(report)).toEqual(['matview:fp.totals']);
  });

  it('one row more than the manifest: the count and the hash fail (never "restored >= expected")', async () => {
    const report = await drill('content', (c) => c.query(`INSERT INTO fp.nokey VALUES (9, 'extra')`));
    expect(report.status).toBe('FAILED');
    expect(failedNames(report).sort()).toEqual(['rows-hash:fp.nokey', 'rows:fp.nokey']);
    expect(report.checks!.results.find((r) => r.name === 'rows:fp.nokey')).toMatchObject({
      status: 'mismatch',
      expected: 5,
      actual: 6,
      detail: '+1 rows',
    });
  });

  it('one row fewer in a hostile-named table', async () => {
    const report = await drill('content', (c) =>
      c.query(`DELETE FROM "Mixed Case"."dotted.name ü" WHERE "x""; DROP TABLE y;--" = 7`),
    );
    expect(report.status).toBe('FAILED');
    expect(failedNames(report).sort()).toEqual([
      'rows-hash:Mixed Case.dotted.name ü',
      'rows:Mixed Case."dotted.name ü"',
    ]);
  });

  it('a large object removed and an extension dropped', async () => {
    const report = await drill('content', async (c) => {
      await c.query('SELECT lo_unlink(min(oid)) FROM pg_largeobject_metadata');
      await c.query('DROP EXTENSION pg_trgm');
    });
    expect(report.status).toBe('FAILED');
    expect(failedNames(report)).toEqual(
      expect.arrayContaining(['large-objects', 'extension:installed', 'extension:pg_trgm']),
    );
    expect(report.checks!.results.find((r) => r.name === 'extension:installed')).toMatchObject({
      status: 'missing',
      detail: 'not installed after restore: pg_trgm',
    });
  });
});

describe('estimated counts and the time budget cannot pass falsely', () => {
  it('fails a table restored empty whose manifest count was an estimate > 0', async () => {
    // No time for exact counts: every table gets its (analysed) planner estimate.
    const m = await backup('estimated', { countBudgetMs: 0 });
    const entry = m.tables.find((t) => t.schema === 'fp' && t.name === 'composite')!;
    expect(entry).toMatchObject({ count: 'estimated', rows: 500 });
    const report = await drill('estimated', (c) => c.query('TRUNCATE fp.composite'));
    expect(report.status).toBe('FAILED');
    expect(report.checks!.results.find((r) => r.name === 'rows:fp.composite')).toMatchObject({
      ok: false,
      status: 'mismatch',
      detail: 'restored empty, estimated 500 rows at dump time',
    });
    // The untouched estimated tables are reported as such, not as exact passes.
    expect(report.checks!.results.find((r) => r.name === 'rows:fp.big')).toMatchObject({
      ok: true,
      status: 'estimated',
    });
  });

  it('reports tables the drill budget did not reach as skipped, never as passed', async () => {
    const report = await drill('content', undefined, { fingerprintBudgetSeconds: 0.00001 });
    const hashes = report.checks!.results.filter((r) => r.name.startsWith('rows-hash:'));
    expect(hashes.length).toBe(manifest.fingerprints!.tables.length);
    expect(hashes.every((r) => r.status === 'skipped' && r.ok)).toBe(true);
    expect(report.checks!.skipped).toBeGreaterThanOrEqual(hashes.length);
    expect(report.checks!.passed + report.checks!.failed + report.checks!.skipped!).toBe(
      report.checks!.total,
    );
    expect(report.status).toBe('PASSED');
  });
});

describe('what the drill target must offer', () => {
  it('fails before restoring, naming every extension and collation the target lacks', async () => {
    const m = await backup('lacking');
    const fp = m.fingerprints!;
    const rewritten: Manifest = {
      ...m,
      extensions: [...(m.extensions ?? []), { name: 'no_such_extension', version: '1.0', schema: 'public' }],
      fingerprints: {
        ...fp,
        collations: [
          ...fp.collations,
          {
            schema: 'fp',
            name: 'german',
            provider: 'c',
            collate: 'xx_NOWHERE.UTF-8',
            ctype: 'xx_NOWHERE.UTF-8',
            locale: null,
            deterministic: true,
          },
        ],
      },
    };
    await h.s3.send(
      new PutObjectCommand({
        Bucket: h.replicaBucket,
        Key: keysOfManifest(m).manifest,
        Body: JSON.stringify(rewritten),
      }),
    );
    const stored = await h.s3.send(
      new GetObjectCommand({ Bucket: h.replicaBucket, Key: keysOfManifest(m).manifest }),
    );
    expect(await stored.Body!.transformToString()).toContain('xx_NOWHERE');
    const report = await drill('lacking');
    expect(report.status).toBe('FAILED');
    expect(report.failure).toEqual({
      step: 'restore',
      reason: expect.stringMatching(
        /lacks what the backup needs: extension no_such_extension 1\.0; collation fp\.german \(libc locale xx_NOWHERE\.UTF-8: .*\)/,
      ),
    });
    expect(report.restore).toBeNull();
  });
});
