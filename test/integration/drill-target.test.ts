/**
 * The drill target itself: a database with more tables than one transaction can lock on a drill
 * target with a small lock table (default max_locks_per_transaction, few connections) still
 * drills to PASSED — pg_restore, the row counts (batched transactions) and the fingerprints (one
 * transaction per table) each release their locks as they go — and `drill.targetMajor` asks for
 * a major the local provider must really have, or fails at provision saying so.
 */
import { Client } from 'pg';
import { runDrill, type DrillReport, type DrillSettingsInput } from '../../lambda/core/drill';
import { dumpDatabase } from '../../lambda/core/dump';
import type { Manifest } from '../../lambda/core/manifest';
import { findPgBinaries } from '../../lambda/core/pg-bin';
import { LocalDatabaseProvider } from '../../lambda/core/providers/local';
import type { RestoreTarget } from '../../lambda/core/restore';
import { replicateLocally } from '../../src/local/replicate';
import { startHarness, type Harness } from '../support/harness';

const TABLES = 1000;
/**
 * The lock table holds max_locks_per_transaction × (max_connections + background processes) =
 * 64 × ~12 entries: fewer than 1000 tables and their primary-key indexes.
 */
const SMALL_LOCK_TABLE = {
  max_locks_per_transaction: 64,
  max_connections: 10,
  autovacuum_max_workers: 1,
  max_worker_processes: 0,
  max_wal_senders: 0,
};

let h: Harness;
let manifest: Manifest;

async function drill(settings: DrillSettingsInput, provider: LocalDatabaseProvider, extra = {}) {
  const { report } = await runDrill({
    databaseId: 'many',
    source: { s3: h.s3, bucket: h.replicaBucket, kind: 'replica' },
    provider,
    settings,
    writeReport: false,
    pgBinDirs: [h.realBinDir],
    ...extra,
  });
  return report;
}

/** A drill with `provider` and default settings, noting the restored target's lock table size. */
async function drillNotingLocks(provider: LocalDatabaseProvider) {
  let locksPerTransaction: string | undefined;
  const report: DrillReport = await drill({}, provider, {
    afterRestore: async (t: RestoreTarget) => {
      const c = new Client(t);
      await c.connect();
      locksPerTransaction = (await c.query('SHOW max_locks_per_transaction')).rows[0]
        .max_locks_per_transaction as string;
      await c.end();
    },
  });
  return { report, locksPerTransaction };
}

beforeAll(async () => {
  h = await startHarness({ seed: false, database: 'many' });
  await h.query(`DO $$ BEGIN FOR i IN 1..${TABLES} LOOP
                   EXECUTE format('CREATE TABLE public.%I (id int PRIMARY KEY, v text)', 't' || i);
                   EXECUTE format('INSERT INTO public.%I VALUES (1, %L), (2, %L)', 't' || i, 'a' || i, 'b' || i);
                 END LOOP; END $$`);
  manifest = await dumpDatabase(h.dumpOptions({ databaseId: 'many' }));
  await replicateLocally(h.s3, h.bucket, h.replicaBucket, `${manifest.tier}/many/`);
});

afterAll(async () => {
  await h?.stop();
});

describe('more tables than the drill target can lock in one transaction', () => {
  it('drills to PASSED with every row count and fingerprint compared', async () => {
    const { report, locksPerTransaction } = await drillNotingLocks(
      new LocalDatabaseProvider({ settings: SMALL_LOCK_TABLE }),
    );
    expect(locksPerTransaction).toBe('64');
    expect(report.checks?.results.filter((r) => !r.ok)).toEqual([]);
    expect(report.status).toBe('PASSED');
    // A row count and a content hash per table passed (the report keeps only the other results).
    expect(report.checks).toMatchObject({ failed: 0, skipped: 0, estimated: 0 });
    expect(report.checks!.passed).toBeGreaterThanOrEqual(2 * TABLES);
  });

  it('gives local drill targets a lock table for such databases by default', async () => {
    const { report, locksPerTransaction } = await drillNotingLocks(new LocalDatabaseProvider());
    expect(report.status).toBe('PASSED');
    expect(Number(locksPerTransaction)).toBeGreaterThanOrEqual(1024);
  });
});

describe('drill.targetMajor', () => {
  const installed = findPgBinaries('initdb').map((b) => b.major);

  it('restores into the requested major and records it', async () => {
    const report = await drill({ targetMajor: manifest.source.serverMajor }, new LocalDatabaseProvider());
    expect(report.status).toBe('PASSED');
    expect(report.restoredOn).toMatchObject({
      engine: 'local',
      serverMajor: manifest.source.serverMajor,
      sourceMajor: manifest.source.serverMajor,
    });
  });

  it('fails at provision with a clear reason when that major is not installed locally', async () => {
    const missing = Math.max(...installed, manifest.source.serverMajor) + 1;
    const report = await drill({ targetMajor: missing }, new LocalDatabaseProvider());
    expect(report.status).toBe('FAILED');
    expect(report.failure).toEqual({
      step: 'provision',
      reason: expect.stringMatching(
        new RegExp(
          `drill\\.targetMajor ${missing}: no local PostgreSQL ${missing} \\(initdb\\) is installed`,
        ),
      ),
    });
  });

  it('refuses a major older than the backup before creating anything', async () => {
    const older = manifest.source.serverMajor - 1;
    const report = await drill({ targetMajor: older }, new LocalDatabaseProvider());
    expect(report.failure).toEqual({
      step: 'provision',
      reason: expect.stringMatching(/older than the backup's source major/),
    });
    expect(report.ephemeral).toMatchObject({ id: null, released: true });
  });
});
