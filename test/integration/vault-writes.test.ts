/**
 * TESTING.md 25, the part a local server can show: a second write to an existing backup key is
 * refused, for a single PutObject and for a multipart upload, with the headers our dump sends
 * (`If-None-Match: *` and the archive tag), and the first object is left as it was. (s3rver
 * accepts but does not store tags sent as a header; the lifecycle filter on the tag is asserted
 * in test/unit/backup-bucket.test.ts.) On AWS the
 * bucket policy also refuses writes without `If-None-Match` (test/unit/vault.test.ts asserts the
 * deny); the local server has no bucket policies.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { isPreconditionFailed } from '../../lambda/core/dump-claim';
import { makeS3Client } from '../../lambda/core/s3';
import { ARCHIVE_TAGGING } from '../../lambda/core/tiers';
import { type LocalS3Server, startLocalS3 } from '../../src/local/s3-server';

const BUCKET = 'vault-writes';
let server: LocalS3Server;
let s3: S3Client;
const saved = { ...process.env };

beforeAll(async () => {
  server = await startLocalS3({ buckets: [BUCKET] });
  Object.assign(process.env, server.env);
  s3 = makeS3Client();
});

afterAll(async () => {
  s3.destroy();
  await server.stop();
  process.env = saved;
});

/** The error a write fails with (none when it succeeds). */
const failureOf = (write: Promise<unknown>): Promise<unknown> =>
  write.then(() => undefined).catch((e: unknown) => e);

const body = async (key: string) =>
  (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString('utf8');

/** The upload our dump makes (dump-stream.ts): a conditional create carrying the archive tag. */
function dumpLikeUpload(key: string, content: string | Buffer, partSize = 5 * 1024 * 1024) {
  return new Upload({
    client: s3,
    partSize,
    leavePartsOnError: false,
    params: { Bucket: BUCKET, Key: key, Body: content, IfNoneMatch: '*', Tagging: ARCHIVE_TAGGING },
  });
}

test('a second PutObject to an existing backup key is refused and the first stays', async () => {
  const key = 'daily/app/2026-11-22/app-20261122T020000Z.manifest.json';
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'first', IfNoneMatch: '*' }));
  const second = s3.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'second', IfNoneMatch: '*' }),
  );
  expect(isPreconditionFailed(await failureOf(second))).toBe(true);
  expect(await body(key)).toBe('first');
});

test('a second multipart upload to an existing archive key is refused at completion', async () => {
  const key = 'yearly/app/2026/app-20260101T020000Z.dump';
  const part = Buffer.alloc(5 * 1024 * 1024 + 1, 1); // two parts
  await dumpLikeUpload(key, part).done();
  const again = dumpLikeUpload(key, Buffer.alloc(5 * 1024 * 1024 + 1, 2)).done();
  expect(isPreconditionFailed(await failureOf(again))).toBe(true);
  const stored = Buffer.from(
    await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray(),
  );
  expect(stored.equals(part)).toBe(true);
  expect(server.pendingUploads(BUCKET)).toEqual([]);
});
