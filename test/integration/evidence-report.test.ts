/**
 * The evidence report over simulated days, from real backups: pg_dump runs with an injected clock
 * (Feb 28 to Mar 6, no backup on Mar 4, one pre-migration backup on Mar 2), S3 LastModified set to
 * those days, real verification recorded (Mar 6's dump gets a flipped byte first), and two real
 * local drills (one passes, one fails a check). The report's JSON must name the gap days, the
 * failed verification and the failed drill, from the bucket alone.
 */
import * as fs from 'node:fs';
import { runDrill } from '../../lambda/core/drill';
import { dumpDatabase } from '../../lambda/core/dump';
import type { EvidenceReport } from '../../lambda/core/evidence/model';
import { keysOfManifest, type Manifest } from '../../lambda/core/manifest';
import { LocalDatabaseProvider } from '../../lambda/core/providers/local';
import { readVerifications, recordVerification } from '../../lambda/core/verification';
import { handler as verifyHandler } from '../../lambda/handlers/verify';
import { captureOutput, setEnv } from '../support/handler-io';
import { verifyBackup } from '../../lambda/core/verify';
import { runReport } from '../../src/cli/commands/report';
import { main } from '../../src/cli/main';
import { replicateLocally } from '../../src/local/replicate';
import { startHarness, type Harness } from '../support/harness';

jest.setTimeout(240_000);

let h: Harness;
let report: EvidenceReport;
const manifests = new Map<string, Manifest>();
const MIN = 60_000;
const at = (day: string, hour = 2) => new Date(`${day}T${String(hour).padStart(2, '0')}:00:00Z`);
/** A clock that runs at the real pace but reads `start` now (drills measure real durations). */
const clockFrom = (start: Date) => {
  const offset = Date.now() - start.getTime();
  return () => new Date(Date.now() - offset);
};
const backdate = (key: string, to: Date) => fs.utimesSync(h.s3server.objectPath(h.bucket, key), to, to);

beforeAll(async () => {
  h = await startHarness();
  const runs: [string, string, Date, string?][] = [
    ['2026-02-28', 'auto', at('2026-02-28')],
    ['2026-03-01', 'auto', at('2026-03-01')],
    ['2026-03-02', 'auto', at('2026-03-02')],
    ['2026-03-02-adhoc', 'adhoc', at('2026-03-02', 14), 'before migration 0042_orders_index'],
    ['2026-03-03', 'auto', at('2026-03-03')],
    // 2026-03-04: the backup did not run.
    ['2026-03-05', 'auto', at('2026-03-05')],
    ['2026-03-06', 'auto', at('2026-03-06')],
  ];
  for (const [name, tier, when, reason] of runs) {
    const m = await dumpDatabase(
      h.dumpOptions({ now: () => when, tier: tier as 'auto' | 'adhoc', ...(reason ? { reason } : {}) }),
    );
    backdate(keysOfManifest(m).manifest, new Date(when.getTime() + 5 * MIN));
    manifests.set(name, m);
  }
  await replicateLocally(h.s3, h.bucket, h.replicaBucket);
  // Bit rot in the primary copy of Mar 6's dump, after replication.
  const rotten = h.s3server.objectPath(h.bucket, manifests.get('2026-03-06')!.object.key);
  const bytes = fs.readFileSync(rotten);
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  fs.writeFileSync(rotten, bytes);

  for (const [name, m] of manifests) {
    const result = await verifyBackup({
      s3: h.s3,
      bucket: h.bucket,
      manifest: m,
      replica: { s3: h.s3, bucket: h.replicaBucket, region: 'us-east-1' },
      pgBinDirs: [h.realBinDir],
    });
    expect(result.ok).toBe(name !== '2026-03-06');
    const verifiedAt = new Date(Date.parse(m.startedAt) + 10 * MIN);
    await recordVerification({ s3: h.s3, bucket: h.bucket, result, by: 'workflow', now: () => verifiedAt });
  }

  const drill = async (start: Date, checks: unknown[]) =>
    runDrill({
      databaseId: 'app',
      source: { s3: h.s3, bucket: h.replicaBucket, kind: 'replica' },
      provider: new LocalDatabaseProvider(),
      settings: { checks: checks as never, rtoTargetMinutes: 30 },
      reportBucket: h.bucket,
      pgBinDirs: [h.realBinDir],
      now: clockFrom(start),
    });
  const passed = await drill(at('2026-03-03', 3), []);
  expect(passed.report.status).toBe('PASSED');
  const failed = await drill(at('2026-03-05', 3), [
    { name: 'wrong count', sql: 'SELECT count(*) FROM shop.products', expect: { equals: 41 } },
  ]);
  expect(failed.report.status).toBe('FAILED');

  // Through the CLI command, as an auditor would run it.
  const out: string[] = [];
  const code = await runReport(
    { db: ['app'], from: '2026-03-01', to: '2026-03-07', format: 'json', bucket: h.bucket },
    { out: (t) => out.push(t), err: () => undefined },
    h.s3,
  );
  expect(code).toBe(0);
  report = JSON.parse(out.join('')) as EvidenceReport;
});

afterAll(async () => {
  await h?.stop();
});

const day = (date: string) => report.databases[0].days.find((d) => d.date === date)!;

test('every day in range is judged against the RPO; the missing day and the days it leaves uncovered are gaps', () => {
  const db = report.databases[0];
  expect(report.clock).toBe('server');
  expect(db.days.map((d) => [d.date, d.status])).toEqual([
    ['2026-03-01', 'ok'],
    ['2026-03-02', 'ok'],
    ['2026-03-03', 'ok'],
    ['2026-03-04', 'gap'], // no backup at all
    ['2026-03-05', 'gap'], // 00:00-02:00 had only Mar 3's backup, 46 h old
    ['2026-03-06', 'gap'], // the day's backup failed verification, so Mar 5's aged past the RPO
    ['2026-03-07', 'gap'],
  ]);
  expect(db.gapDays).toEqual(['2026-03-04', '2026-03-05', '2026-03-06', '2026-03-07']);
  expect(day('2026-03-04').backups).toEqual([]);
  expect(day('2026-03-05').maxAgeHours).toBe(48); // Mar 3 02:05 → Mar 5 02:05, when that day's backup committed
  expect(db.summary).toMatchObject({
    daysJudged: 7,
    daysCompliant: 3,
    backups: 6,
    verified: 5,
    verifyFailed: 1,
  });
});

test('each backup carries its tier, size, checksum, verification and replica facts from the bucket', () => {
  const [b] = day('2026-03-01').backups;
  const m = manifests.get('2026-03-01')!;
  expect(b).toMatchObject({
    backupId: m.backupId,
    tier: m.tier,
    bytes: m.object.bytes,
    sha256: m.object.sha256,
    verified: true,
    replicaPresent: true,
    countable: true,
    committedAt: '2026-03-01T02:05:00.000Z',
    verifiedAt: '2026-03-01T02:10:00.000Z',
  });
  const rotten = day('2026-03-06').backups[0];
  expect(rotten).toMatchObject({ verified: false, countable: false, valid: true });
  // The checksum fails first; a zstd stream with a flipped byte also leaves its TOC unreadable.
  expect(rotten.verifyFailures[0]).toBe('CHECKSUM_MISMATCH');
  expect(rotten.verifyFailures.filter((c) => c !== 'TOC_UNREADABLE')).toEqual(['CHECKSUM_MISMATCH']);
});

test('the pre-migration backup sits in the adhoc tier with its reason and its own retention', () => {
  const backups = day('2026-03-02').backups;
  expect(backups.map((b) => b.tier)).toEqual([manifests.get('2026-03-02')!.tier, 'adhoc']);
  expect(backups[1].reason).toBe('before migration 0042_orders_index');
  expect(backups[1].backupId).toMatch(/^app-20260302T140000Z$/);
  expect(report.retention.observedDays.adhoc).toEqual({ min: 30, max: 30, backups: 1 });
});

test('list shows the pre-migration backup in the adhoc tier with its reason', async () => {
  const out: string[] = [];
  const io = { out: (t: string) => out.push(t), err: () => undefined };
  expect(await main(['node', 'restorable', 'list', '--db', 'app', '--bucket', h.bucket], io)).toBe(0);
  expect(out.join('\n')).toMatch(
    /app-20260302T140000Z +adhoc +2026-03-02 .* valid \(reason: before migration 0042_orders_index\)/,
  );
  out.length = 0;
  await main(['node', 'restorable', 'list', '--db', 'app', '--bucket', h.bucket, '--json'], io);
  const listed = JSON.parse(out.join('')) as { backupId: string; tier: string; reason?: string }[];
  expect(listed.find((b) => b.tier === 'adhoc')).toMatchObject({
    reason: 'before migration 0042_orders_index',
  });
  expect(listed.filter((b) => b.reason !== undefined)).toHaveLength(1);
});

test('drills: the passed one within its RTO target with its checks, the failed one with its step; both released', () => {
  const drills = report.databases[0].drills;
  expect(drills).toHaveLength(2);
  const [ok, bad] = drills;
  expect(ok.startedAt.slice(0, 10)).toBe('2026-03-03');
  expect(ok).toMatchObject({
    status: 'PASSED',
    rtoMet: true,
    rtoTargetSeconds: 1800,
    instanceReleased: true,
  });
  expect(ok.checks!.failed).toBe(0);
  expect(ok.checks!.passed).toBeGreaterThan(0);
  // Where the backup was proven to restore: the local throwaway cluster, its major, the pg_restore used.
  expect(ok.restoredOn).toMatch(/^local, PostgreSQL \d+, pg_restore \d+\.\d+/);
  expect(bad.startedAt.slice(0, 10)).toBe('2026-03-05');
  expect(bad).toMatchObject({ status: 'FAILED', instanceReleased: true, failure: { step: 'checks' } });
  expect(bad.checks!.failed).toBe(1);
  expect(report.databases[0].summary).toMatchObject({ drills: 2, drillsPassed: 1 });
});

test('the markdown report names the gap days and the failed drill', async () => {
  const out: string[] = [];
  await runReport(
    { db: ['app'], from: '2026-03-01', to: '2026-03-07', format: 'md', bucket: h.bucket },
    { out: (t) => out.push(t), err: () => undefined },
    h.s3,
  );
  const md = out.join('');
  expect(md).toContain(
    'Days without a valid backup within the RPO: 2026-03-04, 2026-03-05, 2026-03-06, 2026-03-07.',
  );
  expect(md).toMatch(/\| FAILED: checks \(/);
  expect(md).toContain('before migration 0042_orders_index');
});

test('a wrong command line is a usage error naming every problem', async () => {
  const err: string[] = [];
  const code = await runReport(
    { from: '2026-02-30', to: 'yesterday', format: 'pdf' },
    { out: () => undefined, err: (t) => err.push(t) },
    h.s3,
  );
  expect(code).toBe(2);
  expect(err.join('')).toMatch(
    /--db <id>.*or --all.*--from is not a calendar day.*--to must be yyyy-mm-dd.*--format must be one of json, md, html \(got pdf\)/,
  );
});

test('the verify handler records its verdict next to the manifest, each run in its own object', async () => {
  const m = manifests.get('2026-03-03')!;
  const manifestKey = keysOfManifest(m).manifest;
  const before = await readVerifications(h.s3, h.bucket, manifestKey);
  const restoreEnv = setEnv({ BACKUP_BUCKET: h.bucket, PG_BIN_DIRS: h.realBinDir, OBJECT_LOCK_MODE: 'NONE' });
  const output = captureOutput();
  try {
    // Twice in the same second: a rerun must not be refused by the conditional create.
    await verifyHandler({ databaseId: 'app', manifestKey });
    await verifyHandler({ databaseId: 'app', manifestKey });
  } finally {
    output.restore();
    restoreEnv();
  }
  const after = await readVerifications(h.s3, h.bucket, manifestKey);
  expect(after).toHaveLength(before.length + 2);
  expect(after.at(-1)).toMatchObject({
    backupId: m.backupId,
    by: 'workflow',
    ok: true,
    failed: [],
    replica: 'not-checked',
  });
});

test('restorable verify records its verdict too (by: cli), and --no-record does not', async () => {
  const m = manifests.get('2026-03-05')!;
  const manifestKey = keysOfManifest(m).manifest;
  const count = async () => (await readVerifications(h.s3, h.bucket, manifestKey)).length;
  const before = await count();
  const io = { out: () => undefined, err: () => undefined };
  const args = ['node', 'restorable', 'verify', '--db', 'app', '--bucket', h.bucket, '--backup', m.backupId];
  expect(await main(args, io)).toBe(0);
  expect(await count()).toBe(before + 1);
  expect((await readVerifications(h.s3, h.bucket, manifestKey)).at(-1)).toMatchObject({
    by: 'cli',
    ok: true,
  });
  expect(await main([...args, '--no-record'], io)).toBe(0);
  expect(await count()).toBe(before + 1);
});
