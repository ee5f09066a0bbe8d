/**
 * The report handler as a fleet deploys it, against the local S3 server: no database list in its
 * environment, the listed databases and RPOs from the scheduled event, and the tag-selected ones
 * found in the bucket and judged against UNLISTED_RPO_HOURS, each only for the months it has
 * backups in (a database untagged since keeps its evidence and is not reported as gaps after).
 *
 * Every S3 request the handler makes is checked against the policy the fleet's EvidenceReport
 * construct synthesizes (test/unit/iam-eval.ts) and refused with AccessDenied when that policy
 * would refuse it, so the report is shown to work with exactly the fleet's grant: manifests,
 * verification records and drill reports, never a dump (dump presence and size come from the
 * listing).
 */
import * as fs from 'node:fs';
import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { EvidenceReport } from '../../lib/constructs/evidence-report';
import type { EvidenceReport as EvidenceReportJson } from '../../lambda/core/evidence/model';
import { keysOfManifest, type Manifest } from '../../lambda/core/manifest';
import { verificationKey } from '../../lambda/core/verification';
import { handler as reportHandler } from '../../lambda/handlers/report';
import { s3Client } from '../../lambda/handlers/s3-clients';
import { allowed } from '../unit/iam-eval';
import { PRIMARY_BUCKET, statementsOf, workflowFixture } from '../unit/workflow-support';
import { putFakeBackup } from '../support/fake-backup';
import { captureOutput, setEnv } from '../support/handler-io';
import { startS3Harness, type S3Harness } from '../support/harness';

jest.setTimeout(120_000);

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
let h: S3Harness;
let restoreEnv: () => void;

/** The fleet construct's role policy, as CloudFormation would deploy it. */
function fleetReportStatements() {
  const { stack, bucket, image } = workflowFixture();
  const report = new EvidenceReport(stack, 'Evidence', {
    bucket,
    image,
    databases: [{ id: 'orders', rpo: Duration.hours(24) }],
    listInEvent: true,
    unlistedRpo: Duration.hours(36),
  });
  return statementsOf(Template.fromStack(stack), stack, report.function.role);
}

/** What each S3 command the report sends authorizes as (the ones it may send). */
function iamRequests(command: string, input: Record<string, unknown>) {
  const object = (action: string) => ({
    action,
    resource: `arn:aws:s3:::${PRIMARY_BUCKET}/${String(input.Key)}`,
    context: {},
  });
  const bucket = (action: string, context: Record<string, string> = {}) => ({
    action,
    resource: `arn:aws:s3:::${PRIMARY_BUCKET}`,
    context,
  });
  switch (command) {
    case 'GetObjectCommand':
    case 'HeadObjectCommand':
      return [object('s3:GetObject')];
    case 'PutObjectCommand':
      return [object('s3:PutObject'), ...(input.ObjectLockMode ? [object('s3:PutObjectRetention')] : [])];
    case 'ListObjectsV2Command':
      return [bucket('s3:ListBucket', input.Prefix ? { 's3:prefix': String(input.Prefix) } : {})];
    case 'GetBucketLifecycleConfigurationCommand':
      return [bucket('s3:GetLifecycleConfiguration')];
    case 'GetObjectLockConfigurationCommand':
      return [bucket('s3:GetBucketObjectLockConfiguration')];
    default:
      throw new Error(`the report sent ${command}, which this test does not map to IAM`);
  }
}

const sent: { command: string; key?: string; allowed: boolean }[] = [];

/** Writes a verification record that passed, so the backup counts toward the RPO. */
async function verified(m: Manifest, at: Date) {
  const manifestKey = keysOfManifest(m).manifest;
  await h.s3.send(
    new PutObjectCommand({
      Bucket: h.bucket,
      Key: verificationKey(manifestKey, at),
      Body: JSON.stringify({
        formatVersion: 1,
        backupId: m.backupId,
        databaseId: m.databaseId,
        manifestKey,
        verifiedAt: at.toISOString(),
        by: 'workflow',
        ok: true,
        failed: [],
        replica: 'not-checked',
        checks: [],
      }),
    }),
  );
}

/**
 * Makes S3 report `to` as the object's LastModified (the local server reads the file's mtime; it
 * answers a PutObject only once the file is written, so the write cannot reset it afterwards).
 */
function backdate(key: string, to: Date): void {
  fs.utimesSync(h.s3server.objectPath(h.bucket, key), to, to);
}

/** Daily backups of `databaseId` at 02:00 from `first` to `last` (yyyy-mm-dd), committed 5 minutes later. */
async function dailyBackups(databaseId: string, first: string, last: string): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for (let t = Date.parse(`${first}T02:00:00Z`); t <= Date.parse(`${last}T02:00:00Z`); t += DAY) {
    const m = await putFakeBackup(h.s3, h.bucket, { databaseId, at: new Date(t), bytes: 64 });
    backdate(keysOfManifest(m).manifest, new Date(t + 5 * MIN));
    await verified(m, new Date(t + 10 * MIN));
    out.push(m);
  }
  return out;
}

const days = (month: string, from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `${month}-${String(from + i).padStart(2, '0')}`);

async function readReport(month: string): Promise<EvidenceReportJson> {
  const out = await h.s3.send(
    new GetObjectCommand({ Bucket: h.bucket, Key: `reports/${month}/evidence.json` }),
  );
  return JSON.parse(await out.Body!.transformToString()) as EvidenceReportJson;
}

/** The scheduled event of the fleet's report: the listed databases with their RPOs. */
const LISTED = [
  { id: 'orders', rpoHours: 24 },
  // Listed, never backed up: expected every day, so a month of gaps.
  { id: 'quiet', rpoHours: 12 },
];

let tagged: Manifest[];

beforeAll(async () => {
  h = await startS3Harness({ listPageSize: 5 });
  await dailyBackups('orders', '2026-02-27', '2026-03-31');
  // Tag-selected on Mar 15: the bucket alone knows it.
  tagged = await dailyBackups('tagged', '2026-03-15', '2026-03-31');
  // Tag-selected in February, untagged after Feb 20: old backups stay, no new ones.
  await dailyBackups('gone', '2026-02-01', '2026-02-20');
  // One of tagged's dumps is gone: found from the listing, without reading any dump.
  await h.s3.send(new DeleteObjectCommand({ Bucket: h.bucket, Key: tagged[5].object.key }));
  // And one (Mar 23) was replaced by 10 bytes: its size, too, comes from the listing.
  await h.s3.send(
    new PutObjectCommand({ Bucket: h.bucket, Key: tagged[8].object.key, Body: Buffer.alloc(10) }),
  );

  const statements = fleetReportStatements();
  s3Client().middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      const command = String(context.commandName);
      const ok = iamRequests(command, input).every((request) => allowed(statements, request));
      sent.push({ command, key: input.Key as string | undefined, allowed: ok });
      if (!ok) {
        throw Object.assign(
          new Error(`AccessDenied: ${command} ${String(input.Key ?? input.Prefix ?? '')}`),
          {
            name: 'AccessDenied',
            $metadata: { httpStatusCode: 403 },
          },
        );
      }
      return next(args);
    },
    { step: 'initialize', name: 'fleetReportPolicy' },
  );
  // As the fleet deploys it: no DATABASE_IDS or RPO_HOURS (they are in the event).
  restoreEnv = setEnv({ BACKUP_BUCKET: h.bucket, OBJECT_LOCK_MODE: 'NONE', UNLISTED_RPO_HOURS: '36' });
});

afterAll(async () => {
  restoreEnv?.();
  await h?.stop();
});

async function invoke(event: unknown) {
  const output = captureOutput();
  try {
    return await reportHandler(event);
  } finally {
    output.restore();
  }
}

test('the listed databases come from the event, the tag-selected one from the bucket, within the fleet grant', async () => {
  sent.length = 0;
  const result = await invoke({ listedDatabases: LISTED, month: '2026-03' });
  expect(result.month).toBe('2026-03');
  // Listed first (in the event's order), then the ones found in the bucket; `gone` had no backup
  // in March, so it is not reported as a month of gaps.
  expect(result.databases.map((d) => d.databaseId)).toEqual(['orders', 'quiet', 'tagged']);

  const report = await readReport('2026-03');
  const db = (id: string) => report.databases.find((d) => d.databaseId === id)!;
  expect(db('orders')).toMatchObject({ rpoHours: 24, gapDays: [] });
  expect(db('quiet')).toMatchObject({ rpoHours: 12, gapDays: days('2026-03', 1, 31) });
  // Judged against the fleet's default RPO: uncovered until its first backup on Mar 15, 02:05,
  // and on the two days each of its backups of Mar 20 (dump missing) and Mar 23 (dump changed)
  // should have covered.
  expect(db('tagged').rpoHours).toBe(36);
  expect(db('tagged').gapDays).toEqual([
    ...days('2026-03', 1, 15),
    ...['2026-03-20', '2026-03-21', '2026-03-23', '2026-03-24'],
  ]);
  expect(db('tagged').summary).toMatchObject({ backups: 17, verified: 17 });
  const missing = db('tagged').days.find((d) => d.date === '2026-03-20')!.backups[0];
  expect(missing).toMatchObject({ valid: false, problem: 'dump object missing', countable: false });
  const changed = db('tagged').days.find((d) => d.date === '2026-03-23')!.backups[0];
  expect(changed).toMatchObject({
    valid: false,
    problem: `dump is 10 bytes, manifest says ${tagged[8].object.bytes}`,
    countable: false,
  });

  // Every request was within the fleet policy, and no dump was read or even headed.
  expect(sent.filter((r) => !r.allowed)).toEqual([]);
  expect(sent.filter((r) => r.key && /\.dump$|\.dir\//.test(r.key))).toEqual([]);
  expect(new Set(sent.map((r) => r.command))).toEqual(
    new Set([
      'ListObjectsV2Command',
      'GetObjectCommand',
      'GetBucketLifecycleConfigurationCommand',
      'GetObjectLockConfigurationCommand',
      'PutObjectCommand',
    ]),
  );
});

test('a database untagged since still appears for the months it had backups', async () => {
  const result = await invoke({ listedDatabases: LISTED, month: '2026-02' });
  expect(result.databases.map((d) => d.databaseId)).toEqual(['orders', 'quiet', 'gone']);
  const gone = (await readReport('2026-02')).databases.find((d) => d.databaseId === 'gone')!;
  expect(gone.rpoHours).toBe(36);
  // Uncovered before its first backup (Feb 1, 02:05) and after its last one (Feb 20, 02:05) has
  // aged past 36 h + the hour of grace: the report cannot tell untagging from a failure.
  expect(gone.gapDays).toEqual(['2026-02-01', ...days('2026-02', 21, 28)]);
  expect(gone.summary.backups).toBe(20);
});

test('without listed databases in the event or the environment, nothing is written', async () => {
  await expect(invoke({ month: '2026-01' })).rejects.toThrow(
    /nothing to report: no listed databases \(DATABASE_IDS is unset, so the event must carry the schedule's listedDatabases/,
  );
  await expect(invoke({ listedDatabases: [{ id: 'Orders!', rpoHours: 24 }] })).rejects.toThrow(
    /invalid report event: listedDatabases\.0\.id: must be a lowercase-hyphen database id/,
  );
});

test('with every database tag-selected the event lists none, and the report covers what the bucket holds', async () => {
  const result = await invoke({ listedDatabases: [], month: '2026-01' });
  // January: no database had a backup, so none is reported (and none is invented).
  expect(result.databases).toEqual([]);
});
