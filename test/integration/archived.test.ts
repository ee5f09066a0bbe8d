/**
 * TESTING.md item 24: a backup whose archive is in Deep Archive, against a real PostgreSQL
 * cluster, the local S3 server (which stores and reports an object's storage class) and the real
 * pg_dump/pg_restore. `list` says archived; `verify` and `restore` refuse in one line naming the
 * exact `restorable thaw` command and leave the target untouched; once S3 reports the restore done
 * (`x-amz-restore: ongoing-request="false"`, injected at the SDK boundary: the local server has no
 * RestoreObject), the same backup restores with every row.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { dumpDatabase } from '../../lambda/core/dump';
import type { Manifest } from '../../lambda/core/manifest';
import { restoreBackup } from '../../lambda/core/restore';
import { makeS3Client } from '../../lambda/core/s3';
import { liveCounts, objectFingerprint, startHarness, type Harness } from '../support/harness';
import { runMain } from '../support/cli-main';

let h: Harness;
let manifest: Manifest;

beforeAll(async () => {
  h = await startHarness();
  manifest = await dumpDatabase(h.dumpOptions({ tier: 'yearly' }));
  // What the yearly lifecycle rule does after its days in Glacier IR: the same bytes, now in
  // Deep Archive (the local server keeps the class the object is written with).
  const got = await h.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: manifest.object.key }));
  const bytes = Buffer.from(await got.Body!.transformToByteArray());
  await h.s3.send(
    new PutObjectCommand({
      Bucket: h.bucket,
      Key: manifest.object.key,
      Body: bytes,
      StorageClass: 'DEEP_ARCHIVE',
    }),
  );
  const head = await h.s3.send(new HeadObjectCommand({ Bucket: h.bucket, Key: manifest.object.key }));
  expect(head.StorageClass).toBe('DEEP_ARCHIVE');
});

afterAll(async () => {
  await h?.stop();
});

const thawCommand = () =>
  `restorable thaw --db app --backup ${manifest.backupId} --bucket backups --tier bulk (about 48 h) or --tier standard (about 12 h)`;

test('list shows the backup as archived in DEEP_ARCHIVE', async () => {
  const r = await runMain('list', '--db', 'app', '--bucket', h.bucket);
  expect(r.code).toBe(0);
  const line = r.stdout.split('\n').find((l) => l.startsWith(manifest.backupId));
  expect(line).toMatch(/DEEP_ARCHIVE archived\s+valid\s+-$/);
  const json = JSON.parse((await runMain('list', '--db', 'app', '--bucket', h.bucket, '--json')).stdout);
  expect(json[0]).toMatchObject({
    backupId: manifest.backupId,
    storageClass: 'DEEP_ARCHIVE',
    archived: true,
    restore: 'none',
  });
});

test('verify says how to thaw, in one line, with no stack trace', async () => {
  const r = await runMain('verify', '--db', 'app', '--bucket', h.bucket, '--backup', manifest.backupId);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(
    `restorable: error: backup ${manifest.backupId} is in DEEP_ARCHIVE; run: ${thawCommand()}`,
  );
});

test('restore says how to thaw and leaves the target untouched', async () => {
  await h.query('CREATE DATABASE archived_target');
  const before = await objectFingerprint(h.cluster, 'archived_target');
  const url = `postgresql://${encodeURIComponent(h.connection.user)}:${encodeURIComponent(h.connection.password)}@${h.connection.host}:${h.connection.port}/archived_target?sslmode=disable`;
  const r = await runMain(
    'restore',
    '--db',
    'app',
    '--bucket',
    h.bucket,
    '--backup',
    manifest.backupId,
    '--target-url',
    url,
    '--no-progress',
  );
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(
    `restorable: error: backup ${manifest.backupId} is in DEEP_ARCHIVE; run: ${thawCommand()} [ARCHIVED]`,
  );
  expect(await objectFingerprint(h.cluster, 'archived_target')).toBe(before);
});

test('once thawed, the archived backup restores with every row', async () => {
  // S3 after the restore finished: HeadObject reports the temporary copy, GetObject reads it.
  const thawed = makeS3Client();
  thawed.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName === 'HeadObjectCommand') {
        (result.output as { Restore?: string }).Restore =
          'ongoing-request="false", expiry-date="Fri, 21 Nov 2031 00:00:00 GMT"';
      }
      return result;
    },
    { step: 'initialize', name: 'thawedObject' },
  );
  await h.query('CREATE DATABASE thawed_target');
  const result = await restoreBackup(
    { s3: thawed, bucket: h.bucket, manifestKey: manifest.object.key.replace(/\.dump$/, '.manifest.json') },
    { ...h.cluster.connection('thawed_target'), sslMode: 'disable' },
    { pgBinDirs: [h.realBinDir] },
  );
  expect(result.tables.length).toBeGreaterThan(0);
  expect(result.tables.every((t) => t.restored === t.expected)).toBe(true);
  expect(await liveCounts(h.cluster, 'thawed_target')).toEqual(await liveCounts(h.cluster, h.database));
  thawed.destroy();
});
