/**
 * The backup a restore reads: its manifest, and its objects downloaded, decompressed and checked
 * against the manifest's size and SHA-256 before anything is restored from them.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ArchiveReadError, downloadArchive, type StatFs } from './archive-read';
import { LEGACY_COMPRESSION, type Compression } from './compression-settings';
import { parseManifest, type Manifest, type StoredObject } from './manifest';
import { isInvalidObjectState } from './archive-state';
import { archivedRestoreError, assertRestorable, RestoreError, type RestoreErrorCode } from './restore-error';
import { atVersion, readText } from './s3';

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
 * Downloads an archive to `file` (created 0600, must not exist) in one pass: the stored bytes are
 * hashed and counted while they go through the decompressor the manifest's `compression` calls
 * for, and the plain custom archive `pg_restore -j` needs is what lands on disk (archive-read.ts).
 * Free space for the plain archive is checked before a byte is written. Throws
 * INSUFFICIENT_SPACE, SIZE_MISMATCH or CHECKSUM_MISMATCH (size first: a truncated object is
 * reported as such), then TRUNCATED, CORRUPT or FORMAT_MISMATCH from the decompressor; the
 * partial file is removed on every failure.
 */
export async function downloadVerified(
  s3: S3Client,
  bucket: string,
  object: StoredObject,
  file: string,
  onBytes?: (bytes: number) => void,
  signal?: AbortSignal,
  compression: Compression = LEGACY_COMPRESSION,
  statfs?: StatFs,
): Promise<void> {
  // An archived (and not restored) archive is refused up front with the thaw command to run.
  // Pinned to the version the manifest recorded, else the one HeadObject saw: a newer version or a
  // delete marker written meanwhile cannot change what is downloaded.
  const version = await assertRestorable(s3, bucket, object.key, object.versionId);
  let res;
  try {
    res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.key, ...atVersion(version) }), {
      abortSignal: signal,
    });
  } catch (e) {
    throw isInvalidObjectState(e) ? await archivedRestoreError(s3, bucket, object.key, version) : e;
  }
  if (!res.Body) throw new RestoreError('SIZE_MISMATCH', `s3://${bucket}/${object.key} has no body`);
  try {
    await downloadArchive({
      body: res.Body as Readable,
      object: { ...object, key: `s3://${bucket}/${object.key}` },
      compression,
      file,
      statfs,
      onBytes,
      signal,
    });
  } catch (e) {
    if (signal?.aborted)
      throw new RestoreError('ABORTED', `download of s3://${bucket}/${object.key} aborted`);
    if (e instanceof ArchiveReadError) throw new RestoreError(e.code as RestoreErrorCode, e.message);
    throw e;
  }
}

/** Reads a small object (the globals file) into memory, verified like the archive. */
export async function fetchVerifiedText(s3: S3Client, bucket: string, object: StoredObject): Promise<string> {
  const version = await assertRestorable(s3, bucket, object.key, object.versionId);
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.key, ...atVersion(version) }));
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
