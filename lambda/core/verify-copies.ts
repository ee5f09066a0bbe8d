/**
 * verify's checks on the backup's other copies: the roles file (size and SHA-256 against the
 * manifest) and the replica bucket (every object present with the manifest's sizes, replication
 * not pending or failed).
 */
import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Manifest } from './manifest';
import { atVersion, isNotFound } from './s3';
import type { VerifyOptions } from './verify';
import { failed, pass, skipped, VerifyInfraError, type VerifyCheck } from './verify-result';

export async function globalsCheck(s3: S3Client, bucket: string, manifest: Manifest): Promise<VerifyCheck> {
  const g = manifest.globals;
  if (!g.present) return skipped('globals', `no roles file: ${g.reason}`);
  let body: Uint8Array;
  try {
    const out = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: g.key, ...atVersion(g.versionId) }),
    );
    body = await out.Body!.transformToByteArray();
  } catch (e) {
    if (isNotFound(e)) return failed('globals', 'GLOBALS_MISSING', `roles file ${g.key} does not exist`);
    throw new VerifyInfraError(`cannot read ${g.key}: ${(e as Error).message}`);
  }
  const sha = createHash('sha256').update(body).digest('hex');
  if (body.length !== g.bytes || sha !== g.sha256) {
    return failed(
      'globals',
      'GLOBALS_MISMATCH',
      `roles file is ${body.length} bytes sha256 ${sha}, manifest says ${g.bytes} / ${g.sha256}`,
    );
  }
  return pass('globals', `${body.length} bytes`);
}

async function head(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId?: string,
): Promise<HeadObjectCommandOutput | undefined> {
  try {
    return await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...atVersion(versionId) }));
  } catch (e) {
    // A version that is a delete marker answers 405 to a HEAD naming it: not there either.
    if (
      isNotFound(e) ||
      (versionId && (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 405)
    )
      return undefined;
    throw e;
  }
}

/**
 * The replica bucket must hold the dump, the roles file and the manifest with the primary's sizes.
 * S3 reports replication on the source object: PENDING → not there yet (retry), FAILED → alarm.
 * Each replica is looked up at the version this backup wrote (replication keeps version ids):
 * a newer version of the same size, written into the replica bucket by anyone, is not this
 * backup's copy. Without a recorded version (old manifests, an unversioned server) the primary's
 * HEAD names it, and without that the newest version is judged.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html
 */
export async function replicaCheck(
  options: VerifyOptions,
  manifest: Manifest,
  manifestKey: string,
): Promise<VerifyCheck> {
  const replica = options.replica!;
  const where = `replica bucket ${replica.bucket} in ${replica.region}`;
  // Expected sizes come from the manifest where it records them, so a replica is judged against
  // what was written, not against a primary copy that may itself be damaged.
  type Copy = { key: string; recorded?: number; version?: string };
  const keys: Copy[] = [
    { key: manifest.object.key, recorded: manifest.object.bytes, version: manifest.object.versionId },
    ...(manifest.globals.present
      ? [{ key: manifest.globals.key, recorded: manifest.globals.bytes, version: manifest.globals.versionId }]
      : []),
    { key: manifestKey },
  ];
  const problems: string[] = [];
  let pending = false;
  let failedReplication = false;
  let missing = false;
  let sizeMismatch = false;
  try {
    for (const { key, recorded, version } of keys) {
      const src = await head(options.s3, options.bucket, key, version);
      const dst = await head(replica.s3, replica.bucket, key, version ?? src?.VersionId);
      const status = src?.ReplicationStatus;
      if (status === 'FAILED') {
        failedReplication = true;
        problems.push(`${key}: replication to ${replica.region} FAILED`);
        continue;
      }
      if (!dst) {
        if (status === 'PENDING') {
          pending = true;
          problems.push(`${key}: replication to ${replica.region} pending`);
        } else {
          missing = true;
          problems.push(`${key}: replica copy missing in ${where}`);
        }
        continue;
      }
      const expected = recorded ?? src?.ContentLength;
      if (expected !== undefined && dst.ContentLength !== expected) {
        sizeMismatch = true;
        problems.push(
          `${key}: replica in ${replica.region} is ${dst.ContentLength} bytes, expected ${expected}` +
            (recorded !== undefined ? ' (manifest)' : ' (primary)'),
        );
      }
    }
  } catch (e) {
    throw new VerifyInfraError(`cannot check ${where}: ${(e as Error).message}`);
  }
  if (failedReplication) return failed('replica', 'REPLICA_FAILED', problems.join('; '));
  if (missing) return failed('replica', 'REPLICA_MISSING', problems.join('; '));
  if (sizeMismatch) return failed('replica', 'REPLICA_SIZE_MISMATCH', problems.join('; '));
  if (pending)
    return {
      name: 'replica',
      status: 'pending',
      ok: false,
      code: 'REPLICA_PENDING',
      detail: problems.join('; '),
    };
  return pass('replica', `${keys.length} objects present with the same sizes in ${where}`);
}
