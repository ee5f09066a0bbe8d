/**
 * One read of a stored archive serves three checks: every chunk is hashed (SHA-256) and counted,
 * and fed to `pg_restore --list` on stdin, which reads the table of contents and exits without
 * reading table data.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ArchivedObjectError, assertReadable, headArchiveState, isInvalidObjectState } from './archive-state';
import { isNotFound } from './s3';
import { VerifyInfraError } from './verify-result';

export interface ArchiveRead {
  bytes: number;
  sha256: string;
  /** pg_restore --list outcome, when requested. */
  toc?: { ok: true; listing: string } | { ok: false; error: string };
}

/**
 * Streams the object once: every chunk is hashed and counted, and fed to `pg_restore --list` on
 * stdin until pg_restore has read the TOC it needs and exits (it does not read table data).
 * Undefined when the object does not exist.
 */
export async function readArchive(
  s3: S3Client,
  bucket: string,
  key: string,
  pgRestorePath?: string,
): Promise<ArchiveRead | undefined> {
  let body: Readable;
  try {
    // An archived object is not a verdict on the backup: say how to thaw it instead of reading.
    await assertReadable(s3, bucket, key);
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    body = out.Body as Readable;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    if (e instanceof ArchivedObjectError) throw new VerifyInfraError(e.message);
    if (isInvalidObjectState(e)) {
      const state = await headArchiveState(s3, bucket, key).catch(() => undefined);
      throw new VerifyInfraError(
        state ? new ArchivedObjectError(state, bucket).message : `${key} is archived; run restorable thaw`,
      );
    }
    throw new VerifyInfraError(`cannot read ${key}: ${(e as Error).message}`);
  }
  const hash = createHash('sha256');
  let bytes = 0;

  const child = pgRestorePath
    ? spawn(pgRestorePath, ['--list'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH ?? '' },
      })
    : undefined;
  let stdinOpen = !!child;
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
    // pg_restore exits once it has the TOC; later writes fail with EPIPE, which is expected.
    child.stdin.on('error', () => (stdinOpen = false));
    child.stdin.on('close', () => (stdinOpen = false));
  }

  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      if (child && stdinOpen && !child.stdin.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            child.stdin.off('drain', done);
            child.stdin.off('close', done);
            child.stdin.off('error', done);
            resolve();
          };
          child.stdin.on('drain', done).on('close', done).on('error', done);
        });
      }
    }
  } catch (e) {
    child?.kill('SIGKILL');
    throw new VerifyInfraError(`reading ${key} failed: ${(e as Error).message}`);
  } finally {
    if (child && stdinOpen) child.stdin.end();
  }

  let toc: ArchiveRead['toc'];
  if (child && exited) {
    const { code, spawnError } = await exited;
    if (spawnError) throw new VerifyInfraError(`cannot run pg_restore: ${spawnError.message}`);
    toc =
      code === 0 ? { ok: true, listing } : { ok: false, error: stderr.trim() || `pg_restore exited ${code}` };
  }
  return { bytes, sha256: hash.digest('hex'), toc };
}
