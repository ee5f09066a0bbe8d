/**
 * The backup a restore reads: its manifest, and its objects downloaded and checked against the
 * manifest's size and SHA-256 before anything is restored from them.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parseManifest, type Manifest, type StoredObject } from './manifest';
import { isInvalidObjectState } from './archive-state';
import { archivedRestoreError, assertRestorable, RestoreError } from './restore-error';
import { readText } from './s3';

/** Reads and validates a manifest object. */
export async function readManifest(s3: S3Client, bucket: string, key: string): Promise<Manifest> {
  let body: string;
  try {
    body = await readText(s3, bucket, key);
  } catch (e) {
    if (isInvalidObjectState(e)) throw await archivedRestoreError(s3, bucket, key);
    throw new RestoreError(
      'MANIFEST_UNREADABLE',
      `cannot read manifest s3://${bucket}/${key}: ${(e as Error).message}`,
    );
  }
  try {
    return parseManifest(body);
  } catch (e) {
    throw new RestoreError('MANIFEST_UNREADABLE', `s3://${bucket}/${key}: ${(e as Error).message}`);
  }
}

/**
 * Streams an object to `file` (created 0600, must not exist), hashing and counting on the way;
 * throws SIZE_MISMATCH or CHECKSUM_MISMATCH (size first: a truncated object is reported as such).
 */
export async function downloadVerified(
  s3: S3Client,
  bucket: string,
  object: StoredObject,
  file: string,
  onBytes?: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  // An archived (and not restored) archive is refused up front with the thaw command to run.
  await assertRestorable(s3, bucket, object.key);
  let res;
  try {
    res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.key }), { abortSignal: signal });
  } catch (e) {
    throw isInvalidObjectState(e) ? await archivedRestoreError(s3, bucket, object.key) : e;
  }
  if (!res.Body) throw new RestoreError('SIZE_MISMATCH', `s3://${bucket}/${object.key} has no body`);
  const hash = createHash('sha256');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes?.(bytes);
      done(null, chunk);
    },
  });
  await pipeline(
    res.Body as NodeJS.ReadableStream,
    meter,
    fs.createWriteStream(file, { mode: 0o600, flags: 'wx' }),
    ...(signal ? [{ signal }] : []),
  );
  const sha256 = hash.digest('hex');
  if (bytes !== object.bytes) {
    throw new RestoreError(
      'SIZE_MISMATCH',
      `size mismatch for s3://${bucket}/${object.key}: manifest says ${object.bytes} bytes, downloaded ${bytes}`,
    );
  }
  if (sha256 !== object.sha256) {
    throw new RestoreError(
      'CHECKSUM_MISMATCH',
      `SHA-256 mismatch for s3://${bucket}/${object.key}: manifest ${object.sha256}, downloaded ${sha256}`,
    );
  }
}

/** Reads a small object (the globals file) into memory, verified like the archive. */
export async function fetchVerifiedText(s3: S3Client, bucket: string, object: StoredObject): Promise<string> {
  await assertRestorable(s3, bucket, object.key);
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.key }));
  const body = Buffer.from(await res.Body!.transformToByteArray());
  if (body.length !== object.bytes) {
    throw new RestoreError(
      'SIZE_MISMATCH',
      `size mismatch for s3://${bucket}/${object.key}: manifest says ${object.bytes} bytes, downloaded ${body.length}`,
    );
  }
  const sha256 = createHash('sha256').update(body).digest('hex');
  if (sha256 !== object.sha256) {
    throw new RestoreError('CHECKSUM_MISMATCH', `SHA-256 mismatch for s3://${bucket}/${object.key}`);
  }
  return body.toString('utf8');
}
