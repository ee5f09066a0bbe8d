/**
 * One read of a stored archive serves every check on its bytes: each chunk is hashed (SHA-256)
 * and counted, and goes through the decompressor the manifest's kind calls for (zstd for
 * `zstd-wrapped`, nothing for pg_dump's own gzip) to `pg_restore --list` on stdin, which reads the
 * table of contents and exits without reading table data. A zstd stream is decompressed straight
 * into pg_restore's stdin (the plain bytes do not pass through Node) while `zstd -t` checks the
 * whole stream, so a truncated or corrupt stream is named (TRUNCATED, CORRUPT) even when its TOC
 * reads (archive-read.ts, scanArchive).
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ArchivedObjectError, assertReadable, headArchiveState, isInvalidObjectState } from './archive-state';
import { scanArchive } from './archive-read';
import type { CompressionError } from './compression';
import { LEGACY_COMPRESSION, storedFormatOf, type Compression } from './compression-settings';
import { atVersion, isNotFound } from './s3';
import { VerifyInfraError } from './verify-result';

export interface ArchiveRead {
  bytes: number;
  sha256: string;
  /** pg_restore --list outcome, when requested. */
  toc?: { ok: true; listing: string } | { ok: false; error: string };
  /** Why the stored bytes did not decompress (TRUNCATED, CORRUPT, FORMAT_MISMATCH). */
  decompressError?: CompressionError;
}

/**
 * Streams the object once: every chunk is hashed and counted, decompressed as `compression` says
 * and fed to `pg_restore --list` until it has read the TOC it needs and exits. Undefined when the
 * object does not exist.
 */
export async function readArchive(
  s3: S3Client,
  bucket: string,
  key: string,
  pgRestorePath?: string,
  compression: Compression = LEGACY_COMPRESSION,
  versionId?: string,
): Promise<ArchiveRead | undefined> {
  let body: Readable;
  let version = versionId;
  try {
    // An archived object is not a verdict on the backup: say how to thaw it instead of reading.
    // The read is pinned to the version checked (the manifest's, else the one HeadObject saw).
    version = await assertReadable(s3, bucket, key, versionId);
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...atVersion(version) }));
    body = out.Body as Readable;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    if (e instanceof ArchivedObjectError) throw new VerifyInfraError(e.message);
    if (isInvalidObjectState(e)) {
      const state = await headArchiveState(s3, bucket, key, version).catch(() => undefined);
      throw new VerifyInfraError(
        state ? new ArchivedObjectError(state, bucket).message : `${key} is archived; run restorable thaw`,
      );
    }
    throw new VerifyInfraError(`cannot read ${key}: ${(e as Error).message}`);
  }

  const child = pgRestorePath
    ? spawn(pgRestorePath, ['--list'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH ?? '' },
      })
    : undefined;
  let listing = '';
  let stderr = '';
  const exited = child
    ? new Promise<{ code: number | null; spawnError?: Error }>((resolve) => {
        child.once('error', (e) => resolve({ code: null, spawnError: e }));
        child.once('close', (code) => resolve({ code }));
      })
    : undefined;
  if (child) {
    child.stdout.setEncoding('utf8').on('data', (d: string) => (listing += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
  }

  let scan;
  try {
    // pg_restore exits once it has the TOC; later writes fail with EPIPE, which is expected.
    scan = await scanArchive(body, {
      expect: storedFormatOf(compression.kind),
      sink: child?.stdin,
      sinkMayCloseEarly: true,
      direct: true,
    });
  } catch (e) {
    child?.kill('SIGKILL');
    throw new VerifyInfraError(`reading ${key} failed: ${(e as Error).message}`);
  }

  let toc: ArchiveRead['toc'];
  if (child && exited) {
    // A stream that never decompressed leaves pg_restore nothing to read; it exits on EOF.
    if (!child.stdin.writableEnded) child.stdin.end();
    const { code, spawnError } = await exited;
    if (spawnError) throw new VerifyInfraError(`cannot run pg_restore: ${spawnError.message}`);
    toc =
      code === 0 ? { ok: true, listing } : { ok: false, error: stderr.trim() || `pg_restore exited ${code}` };
  }
  return { bytes: scan.bytes, sha256: scan.sha256, toc, decompressError: scan.decompressError };
}
