/**
 * Restore drills end to end: real pg_dump backups (dumpDatabase) replicated to the "replica"
 * bucket of the local S3 server, drilled into throwaway local clusters by `runDrill`. The happy
 * path, then one fault per test (TESTING 3, 11, 12, 13): every fault gives a FAILED report with
 * the step and reason, and the ephemeral database is released (data directory gone, port closed).
 */
// @ts-nocheck

import * as fs from 'node:fs';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { readArchiveToc } from '../../lambda/core/archive-toc';
import {
  runDrill,
  type DrillReport,
  type DrillSettingsInput,
  type DrillSource,
} from '../../lambda/core/drill';
import { dumpDatabase } from '../../lambda/core/dump';
import { keysOfManifest, type Manifest } from '../../lambda/core/manifest';
import { LocalDatabaseProvider } from '../../lambda/core/providers/local';
import type {
  EphemeralDatabaseProvider,
  EphemeralHandle,
  ProvisionRequest,
  StatusResult,
} from '../../lambda/core/providers/provider';
import type { RestoreTarget } from '../../lambda/core/restore';
import { replicateLocally } from '../../src/local/replicate';
import { acceptsConnections, startHarness, type Harness } from '../support/harness';

let h: Harness;
let appManifest: Manifest;

/** The local provider, recording what it created and able to run a hook on each event. */
class TrackedProvider implements EphemeralDatabaseProvider {
  readonly name = 'local' as const;
  readonly handles: EphemeralHandle[] = [];
  readonly releasedIds: string[] = [];
  private readonly inner = new LocalDatabaseProvider();

  constructor(
    private readonly hooks: {
      onProvision?: (req: ProvisionRequest) => Promise<void>;
      status?: () => StatusResult;
      beforeRelease?: (target: RestoreTarget) => Promise<void>;
    } = {},
  ) {}

  async provision(req: ProvisionRequest) {
    await this.hooks.onProvision?.(req);
    const handle = await this.inner.provision(req);
    this.handles.push(handle);
    return handle;
  }
  status(handle: EphemeralHandle) {
    return this.hooks.status ? Promise.resolve(this.hooks.status()) : this.inner.status(handle);
  }
  connection(handle: EphemeralHandle) {
    return this.inner.connection(handle);
  }
  async release(handle: EphemeralHandle) {
    if (this.hooks.beforeRelease) await this.hooks.beforeRelease(await this.inner.connection(handle));
    this.releasedIds.push(handle.id);
    return this.inner.release(handle);
  }
  describe(handle: EphemeralHandle) {
    return this.inner.describe(handle);
  }
}

const replica = (): DrillSource => ({ s3: h.s3, bucket: h.replicaBucket, kind: 'replica' });

async function drill(
  databaseId: string,
  provider: EphemeralDatabaseProvider,
  settings: DrillSettingsInput = {},
  extra = {},
) {
  const result = await runDrill({
    databaseId,
    source: replica(),
    provider,
    settings,
    reportBucket: h.bucket,
    pgBinDirs: [h.realBinDir],
    ...extra,
  });
  // The report in the bucket is the one returned.
  const body = await h.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: result.reportKey! }));
  const stored = JSON.parse(await body.Body!.transformToString()) as DrillReport;
  expect(stored).toEqual(result.report);
  expect(result.reportKey).toBe(
    `drills/${databaseId}/${result.report.startedAt.slice(0, 7)}/${result.report.drillId}.json`,
  );
  return result.report;
}

/** The ephemeral cluster is gone: data directory removed and nothing listening on its port. */
async function expectGone(provider: TrackedProvider): Promise<void> {
  expect(provider.handles.length).toBeGreaterThan(0);
  for (const handle of provider.handles) {
    expect(provider.releasedIds).toContain(handle.id);
    expect(fs.existsSync(String(handle.details!.dataDir))).toBe(false);
    await expect(acceptsConnections(Number(handle.details!.port))).resolves.toBe(false);
  }
}

/** Dumps the harness database under another database id and replicates it. */
async function backup(databaseId: string): Promise<Manifest> {
  const m = await dumpDatabase(h.dumpOptions({ databaseId }));
  await replicateLocally(h.s3, h.bucket, h.replicaBucket, `${m.tier}/${databaseId}/`);
  return m;
}

/** Flips bytes of the replica copy on disk (S3 metadata untouched, like bit rot). */
function corruptReplicaObject(m: Manifest, at: number): void {
  const file = h.s3server.objectPath(h.replicaBucket, m.object.key);
  const bytes = fs.readFileSync(file);
  for (let i = at; i < at + 8; i++) bytes[i] ^= 0xff;
  fs.writeFileSync(file, bytes);
}

beforeAll(async () => {
  h = await startHarness();
  await h.query(`CREATE ROLE app_owner NOLOGIN`);
  await h.query(`ALTER TABLE shop.products OWNER TO app_owner`);
  appManifest = await backup('app');
});

afterAll(async () => {
  await h?.stop();
});

describe('a drill of a good backup', () => {
  it('restores into an ephemeral cluster, passes every check, writes the report and removes the cluster', async () => {
    let productsAfterChecks: number | undefined;
    let hostileRows: number | undefined;
    const provider = new TrackedProvider({
      beforeRelease: async (t) => {
        const c = new Client(t);
        await c.connect();
        // TESTING 13: the hostile table name was counted, and nothing in it ran.
        productsAfterChecks = Number((await c.query('SELECT count(*) AS n FROM shop.products')).rows[0].n);
        hostileRows = Number(
          (await c.query(`SELECT count(*) AS n FROM "Mixed Case"."x""; DROP TABLE shop.products;--"`)).rows[0]
            .n,
        );
        await c.end();
      },
    });
    const report = await drill('app', provider, {
      rtoTargetMinutes: 30,
      checks: [
        {
          name: 'paid orders',
          sql: `SELECT count(*) FROM shop.orders WHERE status = 'paid'`,
          expect: { equals: 225 },
        },
        { name: 'some customers', sql: 'SELECT count(*) FROM shop.customers', expect: { min: 1 } },
        { name: 'tenants', sql: 'SELECT DISTINCT tenant FROM shop.customers', expect: { rows: 7 } },
        {
          name: 'owner kept',
          sql: `SELECT tableowner FROM pg_tables WHERE tablename = 'products'`,
          expect: { equals: 'app_owner' },
        },
      ],
    });

    expect(report).toMatchObject({
      formatVersion: 1,
      databaseId: 'app',
      backupId: appManifest.backupId,
      source: { bucket: 'replica', kind: 'replica' },
      provider: 'local',
      status: 'PASSED',
      mismatches: 0,
      rtoTargetSeconds: 1800,
      ephemeral: { released: true },
    });
    expect(report.failure).toBeUndefined();
    expect(report.rtoSeconds).toBeGreaterThan(0);
    expect(report.restoreSeconds).toBeGreaterThan(0);
    expect(report.rtoSeconds!).toBeGreaterThanOrEqual(report.restoreSeconds!);
    const results = report.checks!.results;
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results.filter((r) => r.kind === 'rows')).toHaveLength(appManifest.tables.length);
    expect(results.find((r) => r.name === 'rows:Mixed Case.x"; DROP TABLE shop.products;--')).toMatchObject({
      ok: true,
      expected: 3,
      actual: 3,
    });
    expect(results.find((r) => r.name === 'rls:shop.customers')).toMatchObject({ ok: true });
    expect(results.filter((r) => r.kind === 'sql').map((r) => r.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(results.filter((r) => r.kind === 'catalog')).toHaveLength(10);
    expect(report.restore).toMatchObject({
      mode: 'full',
      owners: 'kept',
      roles: { attempted: true, failedCount: 0 },
    });
    expect(productsAfterChecks).toBe(40);
    expect(hostileRows).toBe(3);
    await expectGone(provider);
  });

  it('skips a newer backup whose replica copy is corrupt and drills the previous one (TESTING 3)', async () => {
    const older = await backup('skipper');
    const newer = await backup('skipper');
    corruptReplicaObject(newer, Math.floor(newer.object.bytes / 2));
    const provider = new TrackedProvider();
    const report = await drill('skipper', provider);
    expect(report.status).toBe('PASSED');
    expect(report.backupId).toBe(older.backupId);
    expect(report.skippedBackups).toEqual([
      { backupId: newer.backupId, reason: expect.stringMatching(/CHECKSUM_MISMATCH/) },
    ]);
    await expectGone(provider);
  });
});

describe('drill faults: FAILED with the reason, ephemeral database released', () => {
  it('fails at select when the only backup is corrupt, creating nothing', async () => {
    const m = await backup('rotten');
    corruptReplicaObject(m, 100);
    const provider = new TrackedProvider();
    const report = await drill('rotten', provider);
    expect(report.status).toBe('FAILED');
    expect(report.failure).toEqual({
      step: 'select',
      reason: expect.stringMatching(/no valid backup of rotten.*CHECKSUM_MISMATCH/s),
    });
    expect(report.ephemeral).toEqual({ id: null, released: true, alreadyGone: true });
    expect(provider.handles).toEqual([]);
  });

  it('fails the restore when the archive is corrupted after selection (checksum while downloading)', async () => {
    const m = await backup('flipped');
    const provider = new TrackedProvider({
      onProvision: async () => corruptReplicaObject(m, m.object.bytes - 50),
    });
    const report = await drill('flipped', provider);
    expect(report.status).toBe('FAILED');
    expect(report.failure).toEqual({ step: 'restore', reason: expect.stringMatching(/SHA-256 mismatch/) });
    expect(report.ephemeral.released).toBe(true);
    await expectGone(provider);
  });

  it('fails when pg_restore errors on an archive whose checksum matches but whose data is corrupt', async () => {
    const m = await backup('garbled');
    // Damage compressed table data, leave the table of contents intact, and record the damaged
    // bytes' checksum in a rewritten manifest: verification passes, pg_restore cannot inflate.
    const obj = await h.s3.send(new GetObjectCommand({ Bucket: h.replicaBucket, Key: m.object.key }));
    const bytes = Buffer.from(await obj.Body!.transformToByteArray());
    const tmp = `${h.s3server.directory}/garbled.dump`;
    fs.writeFileSync(tmp, bytes);
    const orders = readArchiveToc(tmp).entries.find((e) => e.desc === 'TABLE DATA' && e.tag === 'orders')!;
    fs.rmSync(tmp);
    // pg_dump wrote to a pipe, so the TOC holds no data offsets: find the data block's header
    // (block type 1, then the entry id as a sign byte plus 4 little-endian bytes).
    const id = Buffer.alloc(4);
    id.writeUInt32LE(orders.dumpId);
    const block = bytes.indexOf(Buffer.concat([Buffer.from([1, 0]), id]));
    expect(block).toBeGreaterThan(0);
    for (let i = block + 30; i < block + 60; i++) bytes[i] ^= 0x5a;
    const { createHash } = await import('node:crypto');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await h.s3.send(new PutObjectCommand({ Bucket: h.replicaBucket, Key: m.object.key, Body: bytes }));
    await h.s3.send(
      new PutObjectCommand({
        Bucket: h.replicaBucket,
        Key: keysOfManifest(m).manifest,
        Body: JSON.stringify({ ...m, object: { ...m.object, sha256 } }),
      }),
    );
    const provider = new TrackedProvider();
    const report = await drill('garbled', provider);
    expect(report.backupId).toBe(m.backupId);
    expect(report.status).toBe('FAILED');
    expect(report.failure).toEqual({
      step: 'restore',
      reason: expect.stringMatching(/pg_restore exited with code 1: .*(compress|zlib|inflate|data)/is),
    });
    await expectGone(provider);
  });

  it('fails the checks when a table is missing after the restore (TESTING 12)', async () => {
    const provider = new TrackedProvider();
    const report = await drill(
      'app',
      provider,
      {},
      {
        afterRestore: async (t: RestoreTarget) => {
          const c = new Client(t);
          await c.connect();
          await c.query(`DROP TABLE "Mixed Case"."Audit Log"`);
          await c.end();
        },
      },
    );
    expect(report.status).toBe('FAILED');
    expect(report.failure!.step).toBe('checks');
    expect(report.failure!.reason).toMatch(/rows:Mixed Case\.Audit Log missing/);
    const failed = report.checks!.results.filter((r) => !r.ok).map((r) => r.name);
    expect(failed).toEqual(
      expect.arrayContaining(['rows:Mixed Case.Audit Log', 'catalog:tables', 'catalog:sequences']),
    );
    expect(report.mismatches).toBe(failed.length);
    expect(report.rtoSeconds).not.toBeNull(); // the data was examined; it just was not right
    await expectGone(provider);
  });

  it('fails when an operator check fails, errors, times out or tries to write, and nothing is changed (TESTING 12, 13)', async () => {
    let productsBefore: number | undefined;
    const provider = new TrackedProvider({
      beforeRelease: async (t) => {
        const c = new Client(t);
        await c.connect();
        productsBefore = Number((await c.query('SELECT count(*) AS n FROM shop.products')).rows[0].n);
        await c.end();
      },
    });
    const report = await drill('app', provider, {
      checks: [
        { name: 'wrong count', sql: 'SELECT count(*) FROM shop.products', expect: { equals: 41 } },
        { name: 'broken sql', sql: 'SELECT * FROM shop.no_such_table', expect: { rows: 0 } },
        { name: 'slow', sql: 'SELECT pg_sleep(5)', expect: { rows: 1 }, timeoutSeconds: 0.2 },
        { name: 'writes', sql: 'DELETE FROM shop.products', expect: { rows: 0 } },
        { name: 'smuggled', sql: 'SELECT 1; DROP TABLE shop.products', expect: { rows: 1 } },
        { name: 'fine', sql: 'SELECT 1', expect: { equals: 1 } },
      ],
    });
    expect(report.status).toBe('FAILED');
    expect(report.failure!.step).toBe('checks');
    const sql = Object.fromEntries(
      report.checks!.results.filter((r) => r.kind === 'sql').map((r) => [r.name, r]),
    );
    expect(sql['sql:wrong count']).toMatchObject({
      ok: false,
      status: 'mismatch',
      expected: 41,
      actual: '40',
    });
    expect(sql['sql:broken sql']).toMatchObject({
      ok: false,
      status: 'error',
      detail: expect.stringMatching(/42P01.*does not exist/),
    });
    expect(sql['sql:slow']).toMatchObject({ ok: false, status: 'error', detail: 'timed out after 0.2s' });
    expect(sql['sql:writes']).toMatchObject({
      ok: false,
      status: 'error',
      detail: expect.stringMatching(/read-only transaction/),
    });
    expect(sql['sql:smuggled']).toMatchObject({
      ok: false,
      status: 'error',
      detail: expect.stringMatching(/multiple commands/),
    });
    expect(sql['sql:fine']).toMatchObject({ ok: true });
    expect(report.mismatches).toBe(5);
    expect(productsBefore).toBe(40);
    await expectGone(provider);
  });

  it('fails at provision when the provider cannot create the database', async () => {
    const provider = new TrackedProvider({
      onProvision: async () => {
        throw new Error('InsufficientDBInstanceCapacity: no capacity for db.t4g.medium');
      },
    });
    const report = await drill('app', provider);
    expect(report.status).toBe('FAILED');
    expect(report.failure).toEqual({
      step: 'provision',
      reason: expect.stringMatching(/InsufficientDBInstanceCapacity/),
    });
    expect(report.ephemeral).toMatchObject({ id: null, released: true });
    expect(report.rtoSeconds).toBeNull();
  });

  it('fails at wait when the database never becomes available, and still releases it', async () => {
    const provider = new TrackedProvider({
      status: () => ({ status: 'failed', detail: 'incompatible-parameters' }),
    });
    const report = await drill('app', provider);
    expect(report.status).toBe('FAILED');
    expect(report.failure).toEqual({
      step: 'wait',
      reason: expect.stringMatching(/failed \(incompatible-parameters\)/),
    });
    expect(report.ephemeral.released).toBe(true);
    await expectGone(provider);
  });

  it('stops when interrupted while provisioning (Ctrl-C), fails at provision and still releases', async () => {
    const interrupt = new AbortController();
    const provider = new TrackedProvider({
      onProvision: async () => interrupt.abort(),
    });
    const report = await drill('app', provider, {}, { signal: interrupt.signal });
    expect(report.status).toBe('FAILED');
    expect(report.failure).toEqual({ step: 'provision', reason: 'drill interrupted' });
    expect(report.restore).toBeNull();
    expect(report.ephemeral.released).toBe(true);
    await expectGone(provider);
  });

  it('fails when the RTO exceeds the target, with the data verified', async () => {
    const provider = new TrackedProvider();
    const report = await drill('app', provider, { rtoTargetSeconds: 0.01 });
    expect(report.status).toBe('FAILED');
    expect(report.failure).toEqual({
      step: 'rto',
      reason: expect.stringMatching(/exceeds the target of 0\.01s/),
    });
    expect(report.checks!.ok).toBe(true);
    expect(report.mismatches).toBe(0);
    await expectGone(provider);
  });
});
