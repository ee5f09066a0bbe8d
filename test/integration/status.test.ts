/**
 * `restorable status` against the local S3 server (backups with chosen LastModified, verification
 * records, drill reports) and a mocked CloudWatch (no local server): ages on S3's clock, the last
 * drill with its RTO, the replica as verified, alarms attributed to their database.
 */
import * as fs from 'node:fs';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import type { StatusReport } from '../../lambda/core/evidence/status';
import { keysOfManifest } from '../../lambda/core/manifest';
import { recordVerification } from '../../lambda/core/verification';
import { runStatus } from '../../src/cli/commands/status';
import { putFakeBackup } from '../support/fake-backup';
import { startS3Harness, type S3Harness } from '../support/harness';

jest.setTimeout(60_000);

const HOUR = 3_600_000;
const cw = mockClient(CloudWatchClient);
let h: S3Harness;

async function backup(databaseId: string, hoursAgo: number, verified: boolean) {
  const at = new Date(Date.now() - hoursAgo * HOUR);
  const m = await putFakeBackup(h.s3, h.bucket, { databaseId, at, bytes: 10_000 });
  const key = keysOfManifest(m).manifest;
  fs.utimesSync(h.s3server.objectPath(h.bucket, key), at, at);
  await recordVerification({
    s3: h.s3,
    bucket: h.bucket,
    manifest: m,
    by: 'workflow',
    result: {
      ok: verified,
      pending: false,
      backupId: m.backupId,
      databaseId,
      manifestKey: key,
      checks: [
        verified
          ? { name: 'replica', status: 'pass', ok: true, detail: 'present' }
          : {
              name: 'replica',
              status: 'fail',
              ok: false,
              code: 'REPLICA_MISSING',
              detail: 'missing in eu-central-1',
            },
      ],
      durationSeconds: 1,
    },
  });
}

beforeAll(async () => {
  h = await startS3Harness();
  await backup('orders', 30, true);
  await backup('orders', 6, true); // fresh
  await backup('orders-eu', 40, false); // stale, replica missing
  const drill = (db: string, status: string, rto: number, day: string) =>
    h.s3.send(
      new PutObjectCommand({
        Bucket: h.bucket,
        Key: `drills/${db}/${day.slice(0, 7)}/${db}-drill-${day}.json`,
        Body: JSON.stringify({
          drillId: `${db}-drill-${day}`,
          status,
          startedAt: `${day}T03:00:00.000Z`,
          rtoSeconds: rto,
          rtoTargetSeconds: 3600,
          checks: { passed: 5, failed: status === 'PASSED' ? 0 : 1, total: 5 },
          ephemeral: { released: true },
          source: { kind: 'replica' },
        }),
      }),
    );
  await drill('orders', 'FAILED', 5000, '2026-09-25');
  await drill('orders', 'PASSED', 1200, '2026-10-30');
});

beforeEach(() => {
  cw.reset();
  cw.on(DescribeAlarmsCommand).resolves({
    MetricAlarms: [
      {
        AlarmName: 'Restorable-orders-eu-backup-stale',
        StateValue: 'ALARM',
        StateReason: 'Threshold Crossed: BackupAgeHours 40 > 25',
      },
      { AlarmName: 'Restorable-backup-key-unusable', StateValue: 'ALARM', StateReason: 'key disabled' },
    ],
  });
});

afterAll(async () => {
  await h?.stop();
});

async function status(extra: Record<string, unknown> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runStatus(
    { bucket: h.bucket, stack: 'Restorable', json: true, ...extra },
    { out: (t) => out.push(t), err: (t) => err.push(t) },
    { s3: h.s3, cloudwatch: new CloudWatchClient({ region: 'eu-west-1' }) },
  );
  return { code, report: JSON.parse(out.join('')) as StatusReport, err };
}

test('per database: newest backup age on S3 clock vs RPO, last drill, replica, own alarms', async () => {
  const { code, report } = await status();
  expect(code).toBe(1); // a stale database and alarms in ALARM
  const [orders, eu] = report.databases;
  expect(report.databases.map((d) => d.databaseId)).toEqual(['orders', 'orders-eu']);
  expect(orders.clock).toBe('server');
  expect(orders.newestBackup!.ageHours).toBeGreaterThan(5.9);
  expect(orders.newestBackup!.ageHours).toBeLessThan(6.2);
  expect(orders).toMatchObject({ rpo: 'ok', alarms: [] });
  expect(orders.newestBackup!.verified).toBe(true);
  expect(orders.replication.verifiedReplica).toBe('present');
  expect(orders.lastDrill).toMatchObject({ status: 'PASSED', rtoSeconds: 1200, rtoMet: true });
  expect(eu).toMatchObject({ rpo: 'stale', lastDrill: null, replication: { verifiedReplica: 'missing' } });
  expect(eu.newestBackup!.verified).toBe(false);
  // orders-eu's alarm is its own, not orders' (longest id wins); the key alarm is stack-wide.
  expect(eu.alarms.map((a) => a.name)).toEqual(['Restorable-orders-eu-backup-stale']);
  expect(report.otherAlarms.map((a) => a.name)).toEqual(['Restorable-backup-key-unusable']);
  const call = cw.commandCalls(DescribeAlarmsCommand)[0].args[0].input;
  expect(call).toMatchObject({ StateValue: 'ALARM', AlarmNamePrefix: 'Restorable-' });
});

test('healthy database alone: exit 0; CloudWatch unreachable is said, not hidden', async () => {
  cw.reset();
  cw.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
  expect((await status({ db: ['orders'] })).code).toBe(0);
  cw.reset();
  cw.on(DescribeAlarmsCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDenied' }));
  const { report } = await status({ db: ['orders'] });
  expect(report).toMatchObject({ alarmsChecked: false, alarmsError: 'AccessDenied: not authorized' });
});

test('the table names the stale database and its alarm', async () => {
  const out: string[] = [];
  await runStatus(
    { bucket: h.bucket, stack: 'Restorable' },
    { out: (t) => out.push(t), err: () => undefined },
    { s3: h.s3, cloudwatch: new CloudWatchClient({ region: 'eu-west-1' }) },
  );
  const text = out.join('\n');
  expect(text).toMatch(/orders-eu .*\/ 24 h STALE.*Restorable-orders-eu-backup-stale/);
  expect(text).toMatch(/orders {2,}.*PASSED 2026-10-30 {2,}20\.0 \/ 60 min/);
  expect(text).toContain('ALARM Restorable-backup-key-unusable: key disabled');
});
