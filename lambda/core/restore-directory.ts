/**
 * A directory-layout backup (dump-directory.ts) brought back for `pg_restore -j N <dir>`: every
 * file the manifest lists downloaded into one private directory, each hashed and counted on the
 * way and refused unless size and SHA-256 agree with the manifest — the file named. Free space
 * for all of them is checked before a byte is written; on any failure the directory is removed,
 * so pg_restore never starts on a partial or corrupted set.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ArchiveReadError, ensureFreeSpace, type StatFs } from './archive-read';
import { isInvalidObjectState } from './archive-state';
import { DIRECTORY_TOC, type DirectoryFile, type Manifest } from './manifest';
import { archivedRestoreError, assertRestorable, RestoreError } from './restore-error';
import { atVersion, isNotFound } from './s3';

/** Files downloaded at once. */
const CONCURRENCY = 4;

export interface DirectoryDownload {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly manifest: Manifest;
  /** The directory pg_restore reads; created 0700, must not exist. */
  readonly dir: string;
  /** Bytes downloaded so far, every file together. */
  readonly onBytes?: (bytes: number) => void;
  readonly signal?: AbortSignal;
  readonly statfs?: StatFs;
}

/** Every stored byte of a directory-layout backup. */
export const directoryBytes = (manifest: Pick<Manifest, 'files'>): number =>
  (manifest.files ?? []).reduce((n, f) => n + f.bytes, 0);

/**
 * Downloads every file into `dir`, checked as it lands. Throws RestoreError: MANIFEST_UNREADABLE
 * (no toc.dat listed), INSUFFICIENT_SPACE, OBJECT_MISSING, SIZE_MISMATCH, CHECKSUM_MISMATCH,
 * ARCHIVED or ABORTED, each naming the file.
 */
export async function downloadDirectory(options: DirectoryDownload): Promise<void> {
  const { s3, bucket, manifest, dir } = options;
  const files = manifest.files ?? [];
  if (!files.some((f) => f.name === DIRECTORY_TOC)) {
    throw new RestoreError('MANIFEST_UNREADABLE', `directory-layout manifest lists no ${DIRECTORY_TOC}`);
  }
  try {
    await ensureFreeSpace(path.dirname(dir), directoryBytes(manifest), {
      statfs: options.statfs,
      what: `the ${files.length} files of ${manifest.backupId}`,
    });
  } catch (e) {
    if (e instanceof ArchiveReadError) throw new RestoreError('INSUFFICIENT_SPACE', e.message);
    throw e;
  }
  await fs.promises.mkdir(dir, { mode: 0o700 });
  // One failure stops the other downloads: nothing more is read once the set is known bad.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let total = 0;
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < files.length) {
      await downloadFile(s3, bucket, files[next++], dir, stop.signal, (n) => {
        total += n;
        options.onBytes?.(total);
      });
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, files.length) }, () =>
        worker().catch((e: unknown) => {
          failure ??= e;
          stop.abort();
        }),
      ),
    );
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (failure !== undefined) {
    await fs.promises.rm(dir, { recursive: true, force: true });
    if (options.signal?.aborted)
      throw new RestoreError('ABORTED', `download of ${manifest.backupId} aborted`);
    throw failure;
  }
}

async function downloadFile(
  s3: S3Client,
  bucket: string,
  file: DirectoryFile,
  dir: string,
  signal: AbortSignal,
  onChunk: (bytes: number) => void,
): Promise<void> {
  const where = `file ${file.name} (s3://${bucket}/${file.key})`;
  let body: Readable;
  let version = file.versionId;
  try {
    // An archived (and not restored) file is refused with the thaw command to run.
    version = await assertRestorable(s3, bucket, file.key, file.versionId);
    const res = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: file.key, ...atVersion(version) }),
      {
        abortSignal: signal,
      },
    );
    body = res.Body as Readable;
  } catch (e) {
    if (isNotFound(e)) throw new RestoreError('OBJECT_MISSING', `${where} is missing`);
    if (isInvalidObjectState(e)) throw await archivedRestoreError(s3, bucket, file.key, version);
    throw e;
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, callback: TransformCallback) {
      hash.update(chunk);
      bytes += chunk.length;
      onChunk(chunk.length);
      callback(null, chunk);
    },
  });
  // The name is one path segment (the manifest schema says so): it cannot leave `dir`.
  await pipeline(body, tap, fs.createWriteStream(path.join(dir, file.name), { mode: 0o600, flags: 'wx' }), {
    signal,
  });
  if (bytes !== file.bytes) {
    throw new RestoreError(
      'SIZE_MISMATCH',
      `size mismatch for ${where}: manifest says ${file.bytes} bytes, downloaded ${bytes}`,
    );
  }
  const sha256 = hash.digest('hex');
  if (sha256 !== file.sha256) {
    throw new RestoreError(
      'CHECKSUM_MISMATCH',
      `SHA-256 mismatch for ${where}: manifest ${file.sha256}, downloaded ${sha256}`,
    );
  }
}
