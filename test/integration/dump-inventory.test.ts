/**
 * What the manifest says a backup holds, on real PostgreSQL with real PostGIS: extension
 * configuration tables (TESTING 21), large objects under a schema filter (22), counts that cannot
 * pass falsely (never-analysed tables unknown, row security bypassed or the count marked
 * filtered), and pg_dump's warnings.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { decompressedArchive } from '../../lambda/core/compression';
import { Client } from 'pg';
import { dumpDatabase } from '../../lambda/core/dump';
import { countRows, listTables } from '../../lambda/core/inventory';
import { summarizeLargeObjects } from '../../lambda/core/large-objects';
import { tableLabel, type Manifest } from '../../lambda/core/manifest';
import { findPgBinary } from '../../lambda/core/pg-bin';
import { verifyBackup } from '../../lambda/core/verify';
import { recordingLogger, startHarness, type Harness } from '../support/harness';

const execFileAsync = promisify(execFile);
jest.setTimeout(180_000);

let h: Harness;
const USER_SRID = 990001;

beforeAll(async () => {
  h = await startHarness({ seed: false });
  await h.query('CREATE SCHEMA extensions');
  await h.query('CREATE EXTENSION postgis SCHEMA extensions');
  await h.query(
    `INSERT INTO extensions.spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text)
     VALUES (${USER_SRID}, 'restorable-test', ${USER_SRID}, '', '+proj=longlat +datum=WGS84')`,
  );
  await h.query('CREATE SCHEMA app');
  await h.query('CREATE TABLE app.places (id int PRIMARY KEY, at extensions.geometry(Point, 4326))');
  await h.query(`INSERT INTO app.places SELECT g, extensions.ST_SetSRID(extensions.ST_MakePoint(g, g), 4326)
                 FROM generate_series(1, 30) g`);
  await h.query(`SELECT lo_from_bytea(0, 'first large object'::bytea), lo_from_bytea(0, 'second'::bytea)`);
  // A table nobody ever analysed (autovacuum kept off it) and one that was.
  await h.query('CREATE TABLE app.fresh (id int) WITH (autovacuum_enabled = false)');
  await h.query('INSERT INTO app.fresh SELECT generate_series(1, 50)');
  await h.query('CREATE TABLE app.analysed (id int) WITH (autovacuum_enabled = false)');
  await h.query('INSERT INTO app.analysed SELECT generate_series(1, 70)');
  await h.query('ANALYZE app.analysed');
});

afterAll(async () => {
  await h?.stop();
});

async function archiveText(m: Manifest, args: string[]): Promise<string> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-inv-')), 'a.dump');
  const out = await h.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: m.object.key }));
  // The plain custom archive inside the (by default zstd-wrapped) object.
  await pipeline(decompressedArchive(out.Body as Readable), fs.createWriteStream(file));
  const pgRestore = findPgBinary('pg_restore', [h.realBinDir]).path;
  const { stdout } = await execFileAsync(pgRestore, [...args, file], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

test('PostGIS in its own schema: backup and verify pass, and the user row of spatial_ref_sys is in the archive', async () => {
  const manifest = await dumpDatabase(h.dumpOptions({ databaseId: 'postgis' }));
  const srs = manifest.tables.find((t) => t.name === 'spatial_ref_sys');
  // Counted under the extension's filter: the user's rows, not the thousands PostGIS ships.
  expect(srs).toMatchObject({ schema: 'extensions', extension: 'postgis', rows: 1, count: 'exact' });
  expect(manifest.extensions).toContainEqual({
    name: 'postgis',
    version: expect.stringMatching(/^3\./),
    schema: 'extensions',
  });
  expect(manifest.extensions!.map((e) => e.name)).toContain('plpgsql');
  expect(manifest.tables.find((t) => t.name === 'places')).toMatchObject({ rows: 30, count: 'exact' });

  const verified = await verifyBackup({ s3: h.s3, bucket: h.bucket, manifest, pgBinDirs: [h.realBinDir] });
  expect(verified.checks.find((c) => c.name === 'toc')).toMatchObject({ status: 'pass' });
  expect(verified.ok).toBe(true);

  const listing = await archiveText(manifest, ['--list']);
  expect(listing).toMatch(/TABLE DATA extensions spatial_ref_sys/);
  expect(listing).not.toMatch(/\d+ TABLE extensions spatial_ref_sys/);
  const data = await archiveText(manifest, [
    '--data-only',
    '--schema=extensions',
    '--table=spatial_ref_sys',
    '-f',
    '-',
  ]);
  expect(data).toContain(`${USER_SRID}\trestorable-test`);
  expect(data.match(/^\d+\t/gm)).toHaveLength(1); // only the user's row travels
});

test('verify fails when an extension configuration table has no TABLE DATA in the archive', async () => {
  const manifest = await dumpDatabase(h.dumpOptions({ databaseId: 'postgis-tamper' }));
  const tampered: Manifest = {
    ...manifest,
    tables: [
      ...manifest.tables,
      { ...manifest.tables.find((t) => t.name === 'spatial_ref_sys')!, name: 'gone_config' },
    ],
  };
  const verified = await verifyBackup({
    s3: h.s3,
    bucket: h.bucket,
    manifest: tampered,
    pgBinDirs: [h.realBinDir],
  });
  const toc = verified.checks.find((c) => c.name === 'toc')!;
  expect(toc).toMatchObject({ status: 'fail', code: 'TOC_MISSING_TABLES' });
  expect(toc.detail).toContain('extensions.gone_config (TABLE DATA)');
  expect(toc.detail).not.toContain('gone_config (TABLE)');
});

test('large objects are in the archive, counted and hashed when schemas are filtered', async () => {
  const manifest = await dumpDatabase(h.dumpOptions({ databaseId: 'lo', schemas: { include: ['app'] } }));
  expect(manifest.pgDump.options).toContain('-b');
  expect(manifest.largeObjects).toMatchObject({ count: 2, method: 'content', bytes: 24 });
  expect(manifest.largeObjects!.sha256).toMatch(/^[0-9a-f]{64}$/);
  const listing = await archiveText(manifest, ['--list']);
  expect(listing.match(/ BLOB - \d+ /g)).toHaveLength(2);
  // Outside the scope: no PostGIS tables in the manifest, so verify passes without them.
  expect(manifest.tables.some((t) => t.schema === 'extensions')).toBe(false);
  expect((await verifyBackup({ s3: h.s3, bucket: h.bucket, manifest, pgBinDirs: [h.realBinDir] })).ok).toBe(
    true,
  );

  // The same summary changes when one byte of one object does (what a drill compares).
  const before = await onTransaction((c) => summarizeLargeObjects(c));
  expect(before).toEqual(manifest.largeObjects);
  await h.query(`SELECT lo_put((SELECT min(oid) FROM pg_largeobject_metadata), 0, 'F'::bytea)`);
  const after = await onTransaction((c) => summarizeLargeObjects(c));
  expect(after.sha256).not.toBe(before.sha256);
  expect(await onTransaction((c) => summarizeLargeObjects(c, { method: 'size' }))).toMatchObject({
    count: 2,
    method: 'size',
  });
});

test('a count budget of zero: never-analysed tables are unknown, never 0; analysed ones estimated', async () => {
  const manifest = await dumpDatabase(h.dumpOptions({ databaseId: 'budget', countBudgetMs: 0 }));
  const by = Object.fromEntries(manifest.tables.map((t) => [tableLabel(t), t]));
  expect(by['app.fresh']).toMatchObject({ count: 'unknown', exact: false, rows: 0 });
  expect(by['app.analysed']).toMatchObject({ count: 'estimated', exact: false, rows: 70 });
  expect(manifest.rowCounts.exact).toBe(false);
});

describe('row security while counting', () => {
  beforeAll(async () => {
    await h.query(`CREATE ROLE rls_owner LOGIN PASSWORD 'rls-owner-pw'`);
    await h.query('CREATE SCHEMA rls AUTHORIZATION rls_owner');
    await h.query('CREATE TABLE rls.notes (id int, owner text)');
    await h.query(
      `INSERT INTO rls.notes SELECT g, CASE WHEN g <= 3 THEN 'rls_owner' ELSE 'other' END FROM generate_series(1, 10) g`,
    );
    await h.query('ALTER TABLE rls.notes OWNER TO rls_owner');
    await h.query('ALTER TABLE rls.notes ENABLE ROW LEVEL SECURITY');
    await h.query('ALTER TABLE rls.notes FORCE ROW LEVEL SECURITY');
    await h.query(`CREATE POLICY mine ON rls.notes USING (owner = current_user)`);
  });

  test('a role that may bypass RLS counts every row of a FORCE RLS table', async () => {
    const [t] = await onTransaction(async (c) => countRows(c, await listTables(c, { include: ['rls'] })));
    expect(t).toMatchObject({ rows: 10, count: 'exact', forceRowSecurity: true });
    expect(t.rowsFiltered).toBeUndefined();
  });

  test('an owner without BYPASSRLS gets the rows it can see, marked as filtered', async () => {
    const [t] = await onTransaction(async (c) => countRows(c, await listTables(c, { include: ['rls'] })), {
      user: 'rls_owner',
      password: 'rls-owner-pw',
    });
    expect(t).toMatchObject({ rows: 3, count: 'exact', rowsFiltered: true });
  });
});

test("pg_dump's warnings go into the manifest and the log", async () => {
  // The real warning needs a subscription (a second cluster publishing) and a non-superuser
  // dumper; the stand-in prints pg_dump's exact line and then runs the real pg_dump.
  const real = findPgBinary('pg_dump', [h.realBinDir]).path;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-warn-'));
  fs.writeFileSync(
    path.join(dir, 'pg_dump'),
    `#!/bin/sh\nif [ "$1" != "--version" ]; then echo "pg_dump: warning: subscriptions not dumped because current user is not a superuser" >&2; fi\nexec "${real}" "$@"\n`,
    { mode: 0o755 },
  );
  for (const tool of ['pg_dumpall', 'pg_restore'])
    fs.symlinkSync(path.join(h.realBinDir, tool), path.join(dir, tool));
  const log = recordingLogger();
  const manifest = await dumpDatabase(h.dumpOptions({ databaseId: 'warned', pgBinDirs: [dir], logger: log }));
  expect(manifest.pgDump.warnings).toEqual([
    'subscriptions not dumped because current user is not a superuser',
  ]);
  expect(log.lines.some((l) => l.includes('pg_dump warning') && l.includes('subscriptions not dumped'))).toBe(
    true,
  );
});

async function onTransaction<T>(
  fn: (c: Client) => Promise<T>,
  as: { user: string; password: string } | undefined = undefined,
): Promise<T> {
  const c = new Client({ ...h.cluster.connection(h.database), ...(as ?? {}) });
  await c.connect();
  try {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return await fn(c);
  } finally {
    await c.query('ROLLBACK').catch(() => undefined);
    await c.end();
  }
}
