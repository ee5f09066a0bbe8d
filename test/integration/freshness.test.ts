/**
 * Freshness against the local S3 server: ages from S3 LastModified measured on S3's clock, immune
 * to a skewed local clock (TESTING 16), the size ratio against the median of the previous seven,
 * and the handler's metrics (KMS mocked: there is no local KMS).
 */
import * as fs from 'node:fs';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { databaseFreshness, s3ServerTime } from '../../lambda/core/freshness';
import { keysOfManifest } from '../../lambda/core/manifest';
import { makeS3Client } from '../../lambda/core/s3';
import { startLocalS3 } from '../../src/local/s3-server';
import { handler as freshnessHandler } from '../../lambda/handlers/freshness';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { putFakeBackup } from '../support/fake-backup';
import { BACKUP, instance, onePage, ownersOf, secretArn, secretsOwnedBy } from '../support/rds-fixtures';
import { captureOutput, setEnv } from '../support/handler-io';
import { startS3Harness, type S3Harness } from '../support/harness';

jest.setTimeout(60_000);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let h: S3Harness;

/** Makes S3 report an older LastModified for a stored object (the local server reads the file mtime). */
function backdate(key: string, to: Date): void {
  fs.utimesSync(h.s3server.objectPath(h.bucket, key), to, to);
}

beforeAll(async () => {
  // Two keys per listing page: backups and drill reports are found across pages.
  h = await startS3Harness({ listPageSize: 2 });
  // "orders": eight daily backups; the newest (26 h old) is 1.5× the median of the seven before it,
  // and a much older, huge one sits outside the window.
  const now = Date.now();
  const sizes = [90_000, 4_000, 4_000, 4_200, 3_800, 4_000, 4_100, 3_900, 6_000]; // oldest first
  for (let i = 0; i < sizes.length; i++) {
    const age = (sizes.length - i) * DAY + 2 * HOUR;
    const m = await putFakeBackup(h.s3, h.bucket, {
      databaseId: 'orders',
      at: new Date(now - age),
      bytes: sizes[i],
    });
    backdate(keysOfManifest(m).manifest, new Date(now - age + 0.5 * HOUR));
  }
});

afterAll(async () => {
  await h?.stop();
});

describe('databaseFreshness', () => {
  test('age comes from the newest manifest LastModified; size ratio from the median of the previous 7', async () => {
    const f = await databaseFreshness(h.s3, h.bucket, 'orders');
    expect(f.reference.source).toBe('server');
    expect(f.validBackups).toBe(9);
    expect(f.ageHours).toBeGreaterThan(25.4);
    expect(f.ageHours).toBeLessThan(25.6);
    expect(f.previousCount).toBe(7);
    expect(f.medianPreviousBytes).toBe(4_000);
    expect(f.sizeRatio).toBeCloseTo(1.5, 5);
  });

  test('a skewed local clock does not change the age (TESTING 16)', async () => {
    const skews = [10 * DAY, -10 * DAY, 365 * DAY];
    const truth = (await databaseFreshness(h.s3, h.bucket, 'orders')).ageHours!;
    for (const skew of skews) {
      const f = await databaseFreshness(h.s3, h.bucket, 'orders', { now: () => new Date(Date.now() + skew) });
      expect(f.reference.source).toBe('server');
      expect(Math.abs(f.ageHours! - truth)).toBeLessThan(0.01);
    }
  });

  test('a backup stamped by a machine whose clock runs days ahead is still aged by S3 time', async () => {
    // Its id and manifest say it was taken 5 days in the future; S3 says it was written just now.
    const future = new Date(Date.now() + 5 * DAY);
    await putFakeBackup(h.s3, h.bucket, { databaseId: 'skewed', at: future, bytes: 2_000 });
    const f = await databaseFreshness(h.s3, h.bucket, 'skewed', { now: () => future });
    expect(f.newest?.backupId).toMatch(/^skewed-/);
    expect(f.ageHours).toBeLessThan(0.05);
    expect(f.sizeRatio).toBeUndefined(); // nothing to compare with
  });

  test('the S3 server clock is read from the response Date header', async () => {
    const t = await s3ServerTime(h.s3, h.bucket);
    expect(t).toBeInstanceOf(Date);
    expect(Math.abs(t!.getTime() - Date.now())).toBeLessThan(5_000);
  });

  test('a database without backups has no age (the stale alarm treats missing data as breaching)', async () => {
    const f = await databaseFreshness(h.s3, h.bucket, 'never-backed-up');
    expect(f).toMatchObject({ databaseId: 'never-backed-up', validBackups: 0, previousCount: 0 });
    expect(f.ageHours).toBeUndefined();
    expect(f.newest).toBeUndefined();
  });
});

describe('a server whose clock is hours off the local one (TESTING 16)', () => {
  // The server's clock, not the local one, is the truth: a check on a machine whose clock runs
  // behind the server's must not see a 30-hour-old backup as 24 hours old.
  test.each([
    ['ahead of', 6 * HOUR],
    ['behind', -6 * HOUR],
  ])('server clock 6 h %s the local one: ages are measured on the server clock', async (_, offset) => {
    const server = await startLocalS3({ buckets: ['skew'], clockOffsetMs: offset });
    const s3 = makeS3Client(undefined, { endpoint: server.endpoint });
    try {
      const now = Date.now();
      const m = await putFakeBackup(s3, 'skew', {
        databaseId: 'orders',
        at: new Date(now - 30 * HOUR),
        bytes: 4_000,
      });
      const key = keysOfManifest(m).manifest;
      fs.utimesSync(server.objectPath('skew', key), new Date(now - 30 * HOUR), new Date(now - 30 * HOUR));

      // The server really is skewed: its Date header, HeadObject and ListObjects all say so.
      const serverNow = await s3ServerTime(s3, 'skew');
      expect(Math.abs(serverNow!.getTime() - (Date.now() + offset))).toBeLessThan(5_000);
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'skew', Key: key }));
      expect(Math.abs(head.LastModified!.getTime() - (now - 30 * HOUR + offset))).toBeLessThan(2_000);
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'skew', Prefix: key }));
      expect(Math.abs(listed.Contents![0].LastModified!.getTime() - (now - 30 * HOUR + offset))).toBeLessThan(
        2_000,
      );

      const f = await databaseFreshness(s3, 'skew', 'orders');
      expect(f.reference.source).toBe('server');
      expect(Math.abs(f.reference.time.getTime() - (Date.now() + offset))).toBeLessThan(5_000);
      expect(f.ageHours).toBeGreaterThan(29.95);
      expect(f.ageHours).toBeLessThan(30.05);
      // Unproven since its only backup: the drill age is on the server clock too.
      expect(f.drillAgeDays! * 24).toBeGreaterThan(29.95);
      expect(f.drillAgeDays! * 24).toBeLessThan(30.05);
    } finally {
      s3.destroy();
      await server.stop();
    }
  });
});

describe('drill age (the drill-stale alarm)', () => {
  const putReport = async (key: string, status: string, age: number) => {
    await h.s3.send(
      new PutObjectCommand({
        Bucket: h.bucket,
        Key: key,
        Body: JSON.stringify({ formatVersion: 1, status }),
      }),
    );
    backdate(key, new Date(Date.now() - age));
  };

  test('counts from the oldest valid backup until a drill has passed, then from the newest PASSED report', async () => {
    const now = Date.now();
    for (const age of [20 * DAY, 10 * DAY, 1 * DAY]) {
      const m = await putFakeBackup(h.s3, h.bucket, {
        databaseId: 'drilled',
        at: new Date(now - age),
        bytes: 5_000,
      });
      backdate(keysOfManifest(m).manifest, new Date(now - age));
    }
    const unproven = await databaseFreshness(h.s3, h.bucket, 'drilled');
    expect(unproven.lastPassedDrill).toBeUndefined();
    expect(unproven.drillAgeDays).toBeGreaterThan(19.9);
    expect(unproven.drillAgeDays).toBeLessThan(20.1);

    // A FAILED report, however new, proves nothing; an unreadable one is skipped.
    await putReport('drills/drilled/2026-11/drilled-drill-a.json', 'PASSED', 12 * DAY);
    await putReport('drills/drilled/2026-11/drilled-drill-b.json', 'FAILED', 2 * DAY);
    await h.s3.send(
      new PutObjectCommand({ Bucket: h.bucket, Key: 'drills/drilled/2026-11/junk.json', Body: '{' }),
    );
    backdate('drills/drilled/2026-11/junk.json', new Date(now - DAY));
    const proven = await databaseFreshness(h.s3, h.bucket, 'drilled');
    expect(proven.lastPassedDrill?.key).toBe('drills/drilled/2026-11/drilled-drill-a.json');
    expect(proven.drillAgeDays).toBeGreaterThan(11.9);
    expect(proven.drillAgeDays).toBeLessThan(12.1);
  });

  test('finds a PASSED report on a later listing page', async () => {
    // Two keys per page: the failed reports fill the first page, the passed one is on the second.
    await putReport('drills/paged/2026-11/paged-drill-a.json', 'FAILED', 1 * DAY);
    await putReport('drills/paged/2026-11/paged-drill-b.json', 'FAILED', 2 * DAY);
    await putReport('drills/paged/2026-11/paged-drill-c.json', 'PASSED', 3 * DAY);
    const f = await databaseFreshness(h.s3, h.bucket, 'paged');
    expect(f.lastPassedDrill?.key).toBe('drills/paged/2026-11/paged-drill-c.json');
    expect(f.drillAgeDays).toBeGreaterThan(2.9);
    expect(f.drillAgeDays).toBeLessThan(3.1);
  });

  test('the newest PASSED report by LastModified wins, whatever the key order; only .json files are reports', async () => {
    await putReport('drills/order/2026-10/order-drill-a.json', 'PASSED', 10 * DAY);
    await putReport('drills/order/2026-10/order-drill-b.json', 'PASSED', 3 * DAY);
    // Not a report, however it reads: an operator's note beside them.
    await putReport('drills/order/2026-10/order-drill-c.txt', 'PASSED', 1 * DAY);
    const f = await databaseFreshness(h.s3, h.bucket, 'order');
    expect(f.lastPassedDrill?.key).toBe('drills/order/2026-10/order-drill-b.json');
  });

  test('a database with neither backups nor drills has no drill age', async () => {
    expect((await databaseFreshness(h.s3, h.bucket, 'never-backed-up')).drillAgeDays).toBeUndefined();
  });
});

describe('freshness handler', () => {
  test('emits age and size ratio per database and flags an unusable replica key', async () => {
    const kms = mockClient(KMSClient);
    kms.on(DescribeKeyCommand, { KeyId: 'arn:primary' }).resolves({
      KeyMetadata: { KeyId: 'primary', Enabled: true, KeyState: 'Enabled' },
    });
    kms.on(DescribeKeyCommand, { KeyId: 'arn:replica' }).resolves({
      KeyMetadata: {
        KeyId: 'replica',
        Enabled: false,
        KeyState: 'PendingDeletion',
        DeletionDate: new Date('2026-12-01'),
      },
    });
    const restoreEnv = setEnv({
      BACKUP_BUCKET: h.bucket,
      DATABASE_IDS: JSON.stringify(['orders', 'never-backed-up']),
      BACKUP_KMS_KEY_ARN: 'arn:primary',
      REPLICA_KMS_KEY_ARN: 'arn:replica',
      REPLICA_REGION: 'eu-west-1',
    });
    const output = captureOutput();
    let out;
    try {
      out = await freshnessHandler({}, { getRemainingTimeInMillis: () => 60_000 });
    } finally {
      output.restore();
      kms.restore();
      restoreEnv();
    }
    expect(out.keys).toEqual([
      expect.objectContaining({ label: 'primary', usable: true, state: 'Enabled' }),
      expect.objectContaining({ label: 'replica', usable: false, state: 'PendingDeletion' }),
    ]);
    const emf = output.emf();
    expect(emf).toHaveLength(2);
    const orders = emf.find((e) => e.DatabaseId === 'orders')!;
    expect(orders.BackupKeyUnusable).toBe(1);
    expect(orders.BackupAgeHours as number).toBeGreaterThan(25.4);
    expect(orders.BackupSizeRatio as number).toBeCloseTo(1.5, 5);
    // No drill has passed for orders: unproven since its oldest backup (about 9 days).
    expect(orders.DrillAgeDays as number).toBeGreaterThan(9);
    const never = emf.find((e) => e.DatabaseId === 'never-backed-up')!;
    expect(never).not.toHaveProperty('BackupAgeHours');
    expect(never).not.toHaveProperty('BackupSizeRatio');
    expect(never).not.toHaveProperty('DrillAgeDays');
    expect(never.BackupKeyUnusable).toBe(1);
    expect(output.lines.join('')).toMatch(/"message":"backup key unusable".*pending deletion/);
  });
});

describe('freshness handler with a tag selection', () => {
  const kms = mockClient(KMSClient);
  const rds = mockClient(RDSClient);
  const secrets = mockClient(SecretsManagerClient);
  let restoreEnv: () => void;

  beforeEach(() => {
    kms.reset();
    rds.reset();
    secrets.reset();
    kms.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: 'k', Enabled: true, KeyState: 'Enabled' } });
    restoreEnv = setEnv({
      BACKUP_BUCKET: h.bucket,
      DATABASE_IDS: JSON.stringify(['listed-only']),
      SELECTION: JSON.stringify({ tags: { backup: 'nightly' } }),
      RPO_HOURS: JSON.stringify({ 'listed-only': 6 }),
      DEFAULT_RPO_HOURS: '12',
      BACKUP_KMS_KEY_ARN: 'arn:primary',
    });
  });

  afterEach(() => restoreEnv());

  afterAll(() => {
    kms.restore();
    rds.restore();
    secrets.restore();
  });

  test('checks every selected database: one without a backup, or skipped by discovery, is stale (BackupAgeOverRpo)', async () => {
    const lost = secretArn('deleted');
    const instances = [
      instance('orders'),
      instance('new-db'),
      instance('lost-secret', { TagList: [BACKUP, { Key: 'restorable:secret-arn', Value: lost }] }),
    ];
    onePage(rds, instances);
    secretsOwnedBy(secrets, ownersOf(instances));
    const output = captureOutput();
    let out;
    try {
      out = await freshnessHandler({}, { getRemainingTimeInMillis: () => 60_000 });
    } finally {
      output.restore();
    }
    expect(out.databases.map((d) => d.databaseId)).toEqual([
      'listed-only',
      'lost-secret',
      'new-db',
      'orders',
    ]);
    const gauge = Object.fromEntries(output.emf().map((e) => [e.DatabaseId, e.BackupAgeOverRpo]));
    // orders: its newest backup is about 25.5 hours old, against the default RPO of 12 (+ 1 h).
    expect(gauge.orders as number).toBeCloseTo(25.5 / 13, 1);
    // No backup at all: far over the threshold, whether listed, newly tagged, or skipped.
    expect(gauge).toMatchObject({ 'listed-only': 1000, 'new-db': 1000, 'lost-secret': 1000 });
  });

  test('a fleet passes its listed databases and RPOs in the event (over DATABASE_IDS and RPO_HOURS)', async () => {
    const restore = setEnv({ DATABASE_IDS: '[]' });
    delete process.env.SELECTION;
    const output = captureOutput();
    let out;
    let empty: unknown;
    try {
      out = await freshnessHandler(
        { listedDatabases: [{ id: 'orders', rpoHours: 48 }] },
        { getRemainingTimeInMillis: () => 60_000 },
      );
      empty = await freshnessHandler({}, { getRemainingTimeInMillis: () => 60_000 }).catch((e: Error) => e);
    } finally {
      output.restore();
      restore();
    }
    expect(out.databases.map((d) => d.databaseId)).toEqual(['orders']);
    expect(output.emf()[0].BackupAgeOverRpo as number).toBeCloseTo(25.5 / 49, 1);
    expect(rds.calls()).toHaveLength(0);
    expect(String(empty)).toMatch(/EventError: nothing to check: no listed databases/);
  });

  test('when discovery fails the listed databases are still checked, then the invocation fails', async () => {
    rds.onAnyCommand().rejects(new Error('Rate exceeded'));
    const output = captureOutput();
    let err: unknown;
    try {
      err = await freshnessHandler({}, { getRemainingTimeInMillis: () => 60_000 }).catch((e: Error) => e);
    } finally {
      output.restore();
    }
    expect(String(err)).toMatch(/tag-selected databases could not be discovered .*Rate exceeded/);
    expect(output.emf().map((e) => e.DatabaseId)).toEqual(['listed-only']);
  });
});
