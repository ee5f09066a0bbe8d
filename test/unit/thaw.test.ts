/**
 * Archived backups at the S3 SDK boundary (aws-sdk-client-mock on S3Client: the local S3 server
 * has no RestoreObject and never reports a restore): what HeadObject's `Restore` header means,
 * RestoreObject requests, waiting for a thaw, the ARCHIVED refusal of restore and verify with the
 * exact thaw command, a thawed object read like any other, and `restorable thaw` / `list` messages.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  RestoreObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  parseRestoreHeader,
  requestThaw,
  thawHint,
  waitForThaw,
  type ArchiveState,
} from '../../lambda/core/archive-state';
import { downloadVerified, RestoreError } from '../../lambda/core/restore';
import { verifyBackup } from '../../lambda/core/verify';
import type { Manifest } from '../../lambda/core/manifest';
import { runMain } from '../support/cli-main';

const DB = 'orders';
const ID = 'orders-20250105T020000Z';
const BASE = `yearly/${DB}/2025/${ID}`;
const DUMP = `${BASE}.dump`;
const GLOBALS = `${BASE}.globals.sql`;
const MANIFEST = `${BASE}.manifest.json`;
const EXPIRY = 'Fri, 21 Nov 2031 00:00:00 GMT';
const body = Buffer.from('PGDMP archived bytes');
const object = { key: DUMP, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') };

const s3Mock = mockClient(S3Client);
const s3 = new S3Client({ region: 'us-east-1' });
afterAll(() => s3Mock.restore());

/** HeadObject as S3 answers for an archived object in each restore state. */
const head = (storageClass: string | undefined, restore?: string) => ({
  ContentLength: body.length,
  StorageClass: storageClass as 'DEEP_ARCHIVE',
  Restore: restore,
});
const ONGOING = 'ongoing-request="true"';
const DONE = `ongoing-request="false", expiry-date="${EXPIRY}"`;

function listing(keys: string[]) {
  s3Mock.on(ListObjectsV2Command).resolves({ Contents: [] });
  s3Mock.on(ListObjectsV2Command, { Prefix: `yearly/${DB}/` }).resolves({
    Contents: [
      ...keys.map((Key) => ({ Key, Size: 1 })),
      { Key: `yearly/${DB}/2025/orders-20250301T020000Z.dump` },
    ],
  });
}

beforeEach(() => s3Mock.reset());

describe('the x-amz-restore header', () => {
  test.each([
    [undefined, { restore: 'none' }],
    [ONGOING, { restore: 'ongoing' }],
    [DONE, { restore: 'restored', expiresAt: new Date(EXPIRY) }],
  ])('%s', (value, expected) => {
    expect(parseRestoreHeader(value)).toEqual(expected);
  });
});

describe('thawHint', () => {
  const state = (storageClass: string, restore: ArchiveState['restore'] = 'none'): ArchiveState => ({
    key: DUMP,
    storageClass,
    archived: true,
    restore,
    readable: false,
  });
  test('Deep Archive: the exact command, bulk and standard with their hours', () => {
    expect(thawHint(state('DEEP_ARCHIVE'), 'backups')).toBe(
      `backup ${ID} is in DEEP_ARCHIVE; run: restorable thaw --db ${DB} --backup ${ID} --bucket backups ` +
        '--tier bulk (about 48 h) or --tier standard (about 12 h)',
    );
  });
  test('Glacier Flexible Retrieval also offers expedited', () => {
    expect(thawHint(state('GLACIER'))).toMatch(
      /--tier bulk \(about 5-12 h\) or --tier standard \(about 3-5 h\) or --tier expedited \(about 1-5 min\)$/,
    );
  });
  test('a restore in progress: wait for it', () => {
    expect(thawHint(state('DEEP_ARCHIVE', 'ongoing'))).toMatch(
      /still in progress; wait for it with: .* --wait$/,
    );
  });
});

describe('requestThaw', () => {
  test('requests a restore of every archived object with the tier and days, and nothing else', async () => {
    listing([DUMP, GLOBALS, MANIFEST]);
    s3Mock.on(HeadObjectCommand, { Key: DUMP }).resolves(head('DEEP_ARCHIVE'));
    s3Mock.on(HeadObjectCommand, { Key: GLOBALS }).resolves(head('DEEP_ARCHIVE', ONGOING));
    s3Mock.on(HeadObjectCommand, { Key: MANIFEST }).resolves(head(undefined));
    s3Mock.on(RestoreObjectCommand).resolves({});
    const r = await requestThaw(s3, 'backups', DB, ID, { tier: 'standard', days: 3 });
    expect(r.map((x) => [x.state.key, x.action])).toEqual([
      [DUMP, 'requested'],
      [GLOBALS, 'in-progress'],
      [MANIFEST, 'not-needed'],
    ]);
    const calls = s3Mock.commandCalls(RestoreObjectCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({
      Bucket: 'backups',
      Key: DUMP,
      RestoreRequest: { Days: 3, GlacierJobParameters: { Tier: 'Standard' } },
    });
  });

  test('S3 answering RestoreAlreadyInProgress counts as in progress', async () => {
    listing([DUMP]);
    s3Mock.on(HeadObjectCommand).resolves(head('GLACIER'));
    s3Mock
      .on(RestoreObjectCommand)
      .rejects(Object.assign(new Error('restore already in progress'), { name: 'RestoreAlreadyInProgress' }));
    const r = await requestThaw(s3, 'backups', DB, ID);
    expect(r[0].action).toBe('in-progress');
    expect(s3Mock.commandCalls(RestoreObjectCommand)[0].args[0].input.RestoreRequest).toEqual({
      Days: 7,
      GlacierJobParameters: { Tier: 'Bulk' },
    });
  });

  test('expedited from Deep Archive is refused before anything is requested', async () => {
    listing([DUMP]);
    s3Mock.on(HeadObjectCommand).resolves(head('DEEP_ARCHIVE'));
    await expect(requestThaw(s3, 'backups', DB, ID, { tier: 'expedited' })).rejects.toThrow(
      /--tier expedited is not offered for DEEP_ARCHIVE .*use standard or bulk/,
    );
    expect(s3Mock.commandCalls(RestoreObjectCommand)).toHaveLength(0);
  });
});

test('waitForThaw polls HeadObject until ongoing-request="false"', async () => {
  s3Mock
    .on(HeadObjectCommand)
    .resolvesOnce(head('DEEP_ARCHIVE', ONGOING))
    .resolvesOnce(head('DEEP_ARCHIVE', ONGOING))
    .resolves(head('DEEP_ARCHIVE', DONE));
  const polls: number[] = [];
  const r = await waitForThaw(s3, 'backups', [DUMP], {
    intervalMs: 60_000,
    sleep: async () => undefined,
    onPoll: (states) => polls.push(states.filter((s) => s.readable).length),
  });
  expect(r.complete).toBe(true);
  expect(polls).toEqual([0, 0, 1]);
  expect(r.states[0].expiresAt).toEqual(new Date(EXPIRY));
});

test('waitForThaw gives up at its timeout while S3 is still restoring', async () => {
  s3Mock.on(HeadObjectCommand).resolves(head('DEEP_ARCHIVE', ONGOING));
  const r = await waitForThaw(s3, 'backups', [DUMP], {
    intervalMs: 60_000,
    timeoutMs: 180_000,
    sleep: async () => undefined,
  });
  expect(r.complete).toBe(false);
  expect(s3Mock.commandCalls(HeadObjectCommand)).toHaveLength(4);
});

describe('reading an archived backup', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thaw-test-'));
    s3Mock.on(GetObjectCommand).callsFake(() => ({ Body: Readable.from([body]) }));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('restore refuses an un-thawed Deep Archive object with ARCHIVED and the thaw command', async () => {
    s3Mock.on(HeadObjectCommand).resolves(head('DEEP_ARCHIVE'));
    const err = await downloadVerified(s3, 'backups', object, path.join(dir, 'a')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreError);
    expect(err).toMatchObject({
      code: 'ARCHIVED',
      message: `backup ${ID} is in DEEP_ARCHIVE; run: restorable thaw --db ${DB} --backup ${ID} --bucket backups --tier bulk (about 48 h) or --tier standard (about 12 h)`,
    });
    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('S3 refusing the read (InvalidObjectState) is the same ARCHIVED error', async () => {
    s3Mock.on(HeadObjectCommand).resolvesOnce(head('STANDARD')).resolves(head('GLACIER'));
    s3Mock
      .on(GetObjectCommand)
      .rejects(Object.assign(new Error('The operation is not valid'), { name: 'InvalidObjectState' }));
    await expect(downloadVerified(s3, 'backups', object, path.join(dir, 'a'))).rejects.toMatchObject({
      code: 'ARCHIVED',
      message: expect.stringMatching(/is in GLACIER; run: restorable thaw/),
    });
  });

  test('a thawed object (ongoing-request="false") downloads and verifies', async () => {
    s3Mock.on(HeadObjectCommand).resolves(head('DEEP_ARCHIVE', DONE));
    await downloadVerified(s3, 'backups', object, path.join(dir, 'a'));
    expect(fs.readFileSync(path.join(dir, 'a'))).toEqual(body);
  });

  test('verify of an archived object says how to thaw instead of reading', async () => {
    s3Mock.on(HeadObjectCommand).resolves(head('DEEP_ARCHIVE', ONGOING));
    const manifest = {
      backupId: ID,
      databaseId: DB,
      tier: 'yearly',
      period: '2025',
      object,
      globals: { present: false, reason: 'test' },
      tables: [],
      pgDump: { major: 15 },
    } as unknown as Manifest;
    await expect(verifyBackup({ s3, bucket: 'backups', manifest, toc: false })).rejects.toThrow(
      `backup ${ID} is in DEEP_ARCHIVE and its restore is still in progress; wait for it with: restorable thaw --db ${DB} --backup ${ID} --bucket backups --wait`,
    );
  });
});

describe('restorable thaw', () => {
  beforeEach(() => s3Mock.on(HeadBucketCommand).resolves({}));

  test('requests the restore and reports it thawing, with the command to wait', async () => {
    listing([DUMP, MANIFEST]);
    s3Mock.on(HeadObjectCommand, { Key: DUMP }).resolves(head('DEEP_ARCHIVE'));
    s3Mock.on(HeadObjectCommand, { Key: MANIFEST }).resolves(head(undefined));
    s3Mock.on(RestoreObjectCommand).resolves({});
    const r = await runMain('thaw', '--db', DB, '--bucket', 'backups', '--backup', ID, '--tier', 'standard');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('requested a standard restore of 1 object(s) for 7 day(s)');
    expect(r.stdout).toMatch(new RegExp(`${DUMP}\\s+DEEP_ARCHIVE\\s+thawing`));
    expect(r.stdout).toContain(
      `backup ${ID} is thawing; check again or wait with: restorable thaw --db ${DB} --backup ${ID} --wait`,
    );
  });

  test('--wait polls until S3 says the copy is there', async () => {
    listing([DUMP]);
    s3Mock
      .on(HeadObjectCommand)
      .resolvesOnce(head('DEEP_ARCHIVE'))
      .resolvesOnce(head('DEEP_ARCHIVE', ONGOING))
      .resolves(head('DEEP_ARCHIVE', DONE));
    s3Mock.on(RestoreObjectCommand).resolves({});
    const r = await runMain(
      'thaw',
      '--db',
      DB,
      '--bucket',
      'backups',
      '--backup',
      ID,
      '--wait',
      '--interval',
      '1',
      '--progress',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`backup ${ID} is thawed (readable until 2031-11-21T00:00:00.000Z)`);
    expect(s3Mock.commandCalls(HeadObjectCommand).length).toBeGreaterThanOrEqual(3);
  });

  test('a backup not in an archive class needs nothing', async () => {
    listing([DUMP]);
    s3Mock.on(HeadObjectCommand).resolves(head('GLACIER_IR'));
    const r = await runMain('thaw', '--db', DB, '--bucket', 'backups', '--backup', ID);
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout).toContain(`backup ${ID} is not archived (GLACIER_IR): nothing to thaw`);
    expect(s3Mock.commandCalls(RestoreObjectCommand)).toHaveLength(0);
  });

  test('an unknown backup and a bad tier are one-line errors', async () => {
    listing([]);
    const missing = await runMain(
      'thaw',
      '--db',
      DB,
      '--bucket',
      'backups',
      '--backup',
      'orders-20990101T000000Z',
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      'restorable: error: backup orders-20990101T000000Z of orders has no objects in bucket backups',
    );
    const bad = await runMain('thaw', '--db', DB, '--bucket', 'backups', '--backup', ID, '--tier', 'fast');
    expect(bad.code).toBe(2);
  });
});
