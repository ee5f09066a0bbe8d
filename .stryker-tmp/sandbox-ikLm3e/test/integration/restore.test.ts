/**
 * restore.ts against real PostgreSQL, the real pg_dump/pg_restore and the local S3 server: a full
 * restore, table restores (exact schema + name, hostile names, partitions, prerequisites), refusals
 * that change nothing, integrity failures, and credentials kept out of argv and the environment.
 */
// @ts-nocheck

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Client } from 'pg';
import { readArchiveToc } from '../../lambda/core/archive-toc';
import { dumpDatabase } from '../../lambda/core/dump';
import type { Manifest } from '../../lambda/core/manifest';
import {
  RestoreError,
  restoreBackup,
  type RestoreProgress,
  type RestoreTarget,
} from '../../lambda/core/restore';
import {
  liveCounts,
  objectFingerprint,
  onDatabase as withDatabase,
  startHarness,
  type Harness,
} from '../support/harness';

const PASSWORD = 'restore-test-Secr3t-pw-7f3a';

let h: Harness;
let manifest: Manifest;
let tempDir: string;

const target = (database: string): RestoreTarget => ({
  ...h.cluster.connection(database),
  sslMode: 'disable',
});

async function createDatabase(name: string, sql?: string): Promise<void> {
  await h.query(`CREATE DATABASE "${name}"`);
  if (sql) await onDatabase(name, (c) => c.query(sql));
}

const onDatabase = <T>(database: string, fn: (c: Client) => Promise<T>): Promise<T> =>
  withDatabase(h.cluster, database, fn);

/** Everything a refusal must leave untouched: relations, schemas, roles. */
const fingerprint = (database: string): Promise<string> => objectFingerprint(h.cluster, database);

beforeAll(async () => {
  h = await startHarness({ password: PASSWORD });
  // Owners and grants that only restore when the roles exist.
  await h.query(`CREATE ROLE app_owner NOLOGIN; CREATE ROLE "weird role;" NOLOGIN`);
  await h.query(`ALTER TABLE shop.products OWNER TO app_owner; GRANT SELECT ON shop.orders TO "weird role;"`);
  // A role that is in the backup's globals but no longer in the cluster: only a roles restore creates it.
  await h.query(`CREATE ROLE ghost_role NOLOGIN`);
  manifest = await dumpDatabase(h.dumpOptions());
  await h.query(`DROP ROLE ghost_role`);
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-restore-test-'));
});

afterAll(async () => {
  await h?.stop();
  if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
});

afterEach(() => {
  // Every restore, successful or not, removes its temporary archive and PGPASSFILE.
  expect(fs.readdirSync(tempDir)).toEqual([]);
});

describe('full restore', () => {
  it('refuses a non-empty target without force and changes nothing (no download, no roles)', async () => {
    await createDatabase('nonempty', 'CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (1)');
    const before = await fingerprint('nonempty');
    const err = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest }, target('nonempty'), {
      tempDir,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreError);
    expect((err as RestoreError).code).toBe('TARGET_NOT_EMPTY');
    expect((err as Error).message).toMatch(/not empty \(relation public\.keep_me\).*force/);
    expect(await fingerprint('nonempty')).toBe(before);
    expect(before).not.toContain('role:ghost_role');
  });

  it('restores into a new database with row counts equal to the manifest and the source', async () => {
    await createDatabase('full1');
    const progress: RestoreProgress[] = [];
    const leaks: string[] = [];
    let pgRestoresSeen = 0;
    const result = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest }, target('full1'), {
      jobs: 3,
      tempDir,
      onProgress: (p) => {
        progress.push(p);
        // Scan while pg_restore runs (it is the one emitting these lines) until one has been seen.
        if (p.phase === 'restore' && pgRestoresSeen === 0) {
          const scan = scanProcessesFor(PASSWORD);
          leaks.push(...scan.hits);
          pgRestoresSeen = scan.pgRestores;
        }
      },
    });

    expect(result.mode).toBe('full');
    expect(result.tables.length).toBe(manifest.tables.length);
    for (const t of result.tables) {
      expect(t.expectedExact).toBe(true);
      expect({ table: `${t.schema}.${t.name}`, rows: t.restored }).toEqual({
        table: `${t.schema}.${t.name}`,
        rows: t.expected,
      });
    }
    expect(await liveCounts(h.cluster, 'full1')).toEqual(await liveCounts(h.cluster, h.database));

    // Roles existed already (same cluster): tolerated and recorded; owners and grants kept.
    expect(result.roles.attempted).toBe(true);
    expect(result.roles.alreadyExisted).toEqual(expect.arrayContaining(['app_owner', 'weird role;']));
    expect(result.roles.skipped.join(' ')).toMatch(/ROLE postgres/);
    expect(result.roles.failed).toEqual([]);
    expect(await fingerprint('full1')).toContain('role:ghost_role'); // created from the globals file
    expect(result.owners).toBe('kept');
    const owner = await onDatabase('full1', (c) =>
      c.query<{ o: string; g: boolean }>(
        `SELECT (SELECT tableowner FROM pg_tables WHERE schemaname = 'shop' AND tablename = 'products') AS o,
                has_table_privilege('weird role;', 'shop.orders', 'SELECT') AS g`,
      ),
    );
    expect(owner.rows[0]).toEqual({ o: 'app_owner', g: true });

    // Progress: bytes up to the archive size, then TOC entries.
    const download = progress.filter((p) => p.phase === 'download');
    expect(download.at(-1)).toEqual({
      phase: 'download',
      bytes: manifest.object.bytes,
      totalBytes: manifest.object.bytes,
    });
    const restore = progress.filter((p) => p.phase === 'restore');
    const last = restore.at(-1) as Extract<RestoreProgress, { phase: 'restore' }>;
    expect(last.entriesTotal).toBeGreaterThan(40);
    expect(last.entriesDone).toBeGreaterThan(last.entriesTotal * 0.8);
    expect(result.entries.processed).toBe(last.entriesDone);

    // TESTING 9: the password is in no process's argv or environment while pg_restore runs.
    expect(pgRestoresSeen).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
    expect(JSON.stringify(result)).not.toContain(PASSWORD);
  });

  it('restores into a non-empty target with force, leaving what was there', async () => {
    await createDatabase('forced', 'CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (1)');
    const result = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest }, target('forced'), {
      force: true,
      tempDir,
    });
    expect(result.tables.every((t) => t.restored === t.expected)).toBe(true);
    const kept = await onDatabase('forced', (c) => c.query('SELECT count(*)::int AS n FROM keep_me'));
    expect(kept.rows[0].n).toBe(1);
  });

  it('refuses an archive whose bytes do not match the manifest, before touching the target', async () => {
    await createDatabase('tampered');
    const before = await fingerprint('tampered');
    const bad = { ...manifest, object: { ...manifest.object, sha256: 'f'.repeat(64) } };
    const err = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest: bad }, target('tampered'), {
      tempDir,
    }).catch((e: unknown) => e);
    expect((err as RestoreError).code).toBe('CHECKSUM_MISMATCH');
    const short = { ...manifest, object: { ...manifest.object, bytes: manifest.object.bytes + 4 } };
    const err2 = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest: short }, target('tampered'), {
      tempDir,
    }).catch((e: unknown) => e);
    expect((err2 as RestoreError).code).toBe('SIZE_MISMATCH');
    expect(await fingerprint('tampered')).toBe(before);
  });
});

describe('archive table of contents', () => {
  it('reads the same entries, descriptors and dependencies as pg_restore --list, with exact names', () => {
    const file = h.s3server.objectPath(h.bucket, manifest.object.key);
    const toc = readArchiveToc(file);
    const listing = execFileSync(path.join(h.realBinDir, 'pg_restore'), ['--list', '--verbose', file], {
      encoding: 'utf8',
    });
    const listed: { id: number; text: string; deps: number[] }[] = [];
    for (const line of listing.split('\n')) {
      const m = /^(\d+); \d+ \d+ (.*)$/.exec(line);
      if (m) listed.push({ id: Number(m[1]), text: m[2], deps: [] });
      const d = /^;\s+depends on: ([\d ]+)$/.exec(line);
      if (d) listed[listed.length - 1].deps = d[1].trim().split(' ').map(Number);
    }
    expect(toc.entries.map((e) => e.dumpId)).toEqual(listed.map((l) => l.id));
    toc.entries.forEach((e, i) => {
      // pg_restore prints "<desc> <schema or -> <tag> <owner>" unquoted; ours has the fields apart.
      expect(listed[i].text.trimEnd()).toBe(
        `${e.desc} ${e.namespace ?? '-'} ${e.tag} ${e.owner ?? ''}`.trimEnd(),
      );
      expect(e.dependencies).toEqual(listed[i].deps);
    });
    expect(toc.entries.find((e) => e.desc === 'TABLE' && e.tag.startsWith('x"'))).toMatchObject({
      namespace: 'Mixed Case',
      tag: 'x"; DROP TABLE shop.products;--',
    });
  });
});

describe('table restore', () => {
  it('restores exactly one table with a hostile name, and nothing else', async () => {
    await createDatabase('t_hostile');
    const result = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest }, target('t_hostile'), {
      tables: ['Mixed Case.x"; DROP TABLE shop.products;--'],
      tempDir,
    });
    expect(result.mode).toBe('tables');
    expect(result.tables).toEqual([
      {
        schema: 'Mixed Case',
        name: 'x"; DROP TABLE shop.products;--',
        expected: 3,
        expectedExact: true,
        restored: 3,
      },
    ]);
    expect(result.prerequisites).toEqual(['SCHEMA Mixed Case']);
    const rels = await onDatabase('t_hostile', (c) =>
      c.query<{ r: string }>(
        `SELECT n.nspname || '.' || c.relname AS r FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1`,
      ),
    );
    expect(rels.rows.map((r) => r.r)).toEqual([
      'Mixed Case.x"; DROP TABLE shop.products;--',
      'Mixed Case.x"; DROP TABLE shop.products;--_pkey',
    ]);
    // And the source still has shop.products: nothing was executed from the name.
    expect((await h.query(`SELECT count(*)::int AS n FROM shop.products`))[0].n).toBe(40);
  });

  it('restores a table with what it needs: types, sequences, trigger function; skips foreign keys to tables left out', async () => {
    await createDatabase('t_orders');
    const result = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest }, target('t_orders'), {
      tables: [{ schema: 'shop', name: 'orders' }],
      tempDir,
    });
    expect(result.tables).toEqual([
      { schema: 'shop', name: 'orders', expected: 900, expectedExact: true, restored: 900 },
    ]);
    expect(result.prerequisites).toEqual(
      expect.arrayContaining([
        'SCHEMA shop',
        'TYPE shop.order_status',
        'SEQUENCE shop.invoice_number_seq',
        'FUNCTION shop.touch_updated_at()',
      ]),
    );
    expect(result.skipped.map((s) => `${s.desc} ${s.tag}`)).toEqual(
      expect.arrayContaining(['FK CONSTRAINT orders orders_customer_id_fkey']),
    );
    const facts = await onDatabase('t_orders', (c) =>
      c.query(
        `SELECT (SELECT count(*)::int FROM pg_trigger WHERE tgname = 'orders_touch') AS triggers,
                (SELECT count(*)::int FROM pg_class WHERE relname IN ('customers', 'products', 'paid_orders')) AS others,
                nextval('shop.orders_id_seq') > (SELECT max(id) FROM shop.orders) AS seq_continues,
                nextval('shop.invoice_number_seq') > (SELECT max(invoice_number) FROM shop.orders) AS invoice_continues,
                (SELECT relowner::regrole::text FROM pg_class WHERE oid = 'shop.orders'::regclass) AS owner,
                has_table_privilege('weird role;', 'shop.orders', 'SELECT') AS granted`,
      ),
    );
    expect(facts.rows[0]).toEqual({
      triggers: 1,
      others: 0,
      seq_continues: true,
      invoice_continues: true,
      owner: 'postgres',
      granted: true,
    });
  });

  it('restores a partitioned table with its partitions, by SQL-quoted name', async () => {
    await createDatabase('t_events');
    const result = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest }, target('t_events'), {
      tables: ['"shop"."events"'],
      tempDir,
    });
    const byName = Object.fromEntries(result.tables.map((t) => [t.name, t.restored]));
    expect(byName).toEqual({
      events: 2000,
      events_2026_10: expect.any(Number),
      events_2026_11: expect.any(Number),
      events_default: expect.any(Number),
    });
    const inserted = await onDatabase('t_events', (c) =>
      c.query(`INSERT INTO shop.events (occurred_at, kind) VALUES ('2026-10-05', 'new') RETURNING id`),
    );
    expect(Number(inserted.rows[0].id)).toBeGreaterThan(2000); // identity sequence value restored
  });

  it('refuses a table that already exists in the target without force, and replaces it with force', async () => {
    await createDatabase(
      't_exists',
      `CREATE SCHEMA "Mixed Case"; CREATE TABLE "Mixed Case"."Audit Log" (id int)`,
    );
    const before = await fingerprint('t_exists');
    const err = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest }, target('t_exists'), {
      tables: ['Mixed Case.Audit Log'],
      tempDir,
    }).catch((e: unknown) => e);
    expect((err as RestoreError).code).toBe('TABLE_EXISTS');
    expect(await fingerprint('t_exists')).toBe(before);

    const result = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest }, target('t_exists'), {
      tables: ['Mixed Case.Audit Log'],
      force: true,
      tempDir,
    });
    expect(result.tables[0].restored).toBe(25);
  });

  it('names tables that are not in the archive', async () => {
    await createDatabase('t_missing');
    const err = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest }, target('t_missing'), {
      tables: ['shop.nope', 'products'],
      tempDir,
    }).catch((e: unknown) => e);
    expect((err as RestoreError).code).toBe('TABLE_NOT_IN_ARCHIVE');
    expect((err as Error).message).toMatch(/"shop\.nope", "products"/);
  });
});

/** Lines of /proc/<pid>/{cmdline,environ} of running processes that contain `secret`. */
/** Every process's argv and environment holding the secret, and how many pg_restore processes were looked at. */
function scanProcessesFor(secret: string): { hits: string[]; pgRestores: number } {
  const hits: string[] = [];
  let pgRestores = 0;
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    for (const file of ['cmdline', 'environ']) {
      try {
        const text = fs.readFileSync(`/proc/${pid}/${file}`, 'latin1');
        if (file === 'cmdline' && /(^|\/)pg_restore\0/.test(text)) pgRestores++;
        if (text.includes(secret) && Number(pid) !== process.pid)
          hits.push(`${pid}/${file}: ${text.split('\0')[0]}`);
      } catch {
        // gone, or not ours to read
      }
    }
  }
  return { hits, pgRestores };
}
