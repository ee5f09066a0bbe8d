/**
 * The parallel layout (for the Fargate runner): `pg_dump -Fd -j N --snapshot=<exported>` into a
 * private work dir on task storage, then every file pg_dump wrote uploaded as its own object under
 * `<tier>/<db>/<period>/<backupId>.dir/<file>`, each hashed (SHA-256) and counted on its way up.
 * The caller writes the manifest listing every file, last, only after this resolved.
 *
 * Why dump first and upload after: pg_dump's workers write many files at once and none is known
 * complete before pg_dump exits, so a file is only read once the whole dump succeeded. A pg_dump
 * that dies therefore leaves nothing in S3 at all. An upload that fails midway aborts every
 * multipart upload of the backup by its id (and lists again to be sure none is left); files
 * completed before the failure stay as unlisted objects (the dump role cannot delete, Object Lock
 * would refuse it) and expire with their tier's lifecycle rule. Without a manifest no listing,
 * freshness check or drill ever sees them.
 *
 * With `-j`, the leader and every worker import the exporter's snapshot, so all files describe the
 * same instant as the inventory.
 * @see https://www.postgresql.org/docs/current/app-pgdump.html (--jobs, --snapshot)
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { Upload } from '@aws-sdk/lib-storage';
import { prepareWorkDir } from './archive-read';
import { BackupError, type BackupFailureReason } from './backup-error';
import type { Compression, CompressionSettings } from './compression-settings';
import { isPreconditionFailed } from './dump-claim';
import {
  abortUploads,
  archiveUploadParams,
  collectWarnings,
  isLockWaitTimeout,
  partSizeFor,
  trackingClient,
  versionOf,
  type StoredDump,
  type StreamRun,
} from './dump-stream';
import { DIRECTORY_TOC, directoryPrefixOf, type DirectoryFile, type StoredObject } from './manifest';
import { deadlineAdvice } from './runner-settings';

/** Prefix of the dump's work dirs (leftovers of a dead run are removed at the next start). */
export const DUMP_WORK_DIR_PREFIX = 'restorable-dump-';
const STDERR_KEEP = 8 * 1024;
const ARCHIVE_MAGIC = Buffer.from('PGDMP');

export interface DirectoryRun extends StreamRun {
  /** Where the work dir is made. @default os.tmpdir() */
  readonly workBase?: string;
  /** Files uploaded at once. @default 2 */
  readonly uploadConcurrency?: number;
  /** Called once pg_dump succeeded, before the uploads (the caller ends the snapshot). */
  readonly afterDump?: () => Promise<void>;
}

export interface StoredDirectory extends StoredDump {
  /** `toc.dat`: the manifest's `object`. */
  readonly object: StoredObject;
  readonly files: DirectoryFile[];
  /** What pg_dump compressed each data file with. */
  readonly compression: Compression;
}

/**
 * pg_dump's own per-file compression for the directory layout: the zstd wrapper compresses one
 * stream and has no place here, but `-j` already spreads pg_dump's compression over the workers.
 * zstd is pg_dump's own on pg_dump ≥ 16, else its gzip at pg_dump's default level.
 * @see https://www.postgresql.org/docs/16/app-pgdump.html (--compress=method[:detail])
 */
export function directoryCompression(
  settings: CompressionSettings,
  pgDumpMajor: number,
): { args: string[]; compression: Compression } {
  if (settings.kind === 'none') return { args: ['--compress=0'], compression: { kind: 'none' } };
  if ((settings.kind === 'zstd-wrapped' || settings.kind === 'pg-zstd') && pgDumpMajor >= 16) {
    return {
      args: [`--compress=zstd:${settings.level}`],
      compression: { kind: 'pg-zstd', level: settings.level },
    };
  }
  const level = settings.kind === 'pg-gzip' ? settings.level : 6;
  return { args: [`--compress=${level}`], compression: { kind: 'pg-gzip', level } };
}

/** Counts and hashes one file on its way to S3. */
class FileTap extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/** Dumps into a work dir, uploads every file; resolves once all are stored. Throws BackupError. */
export async function dumpDirectory(run: DirectoryRun, args: string[]): Promise<StoredDirectory> {
  const backupId = run.placement.backupId;
  const makeError = (reason: BackupFailureReason, message: string) => run.fail(reason, message, backupId);
  if (run.deadlineAt && run.deadlineAt() <= 0) {
    throw makeError(
      'DEADLINE',
      `not enough time left to start the dump (${deadlineAdvice(run.options.runner)})`,
    );
  }
  const work = await prepareWorkDir(run.workBase ?? os.tmpdir(), DUMP_WORK_DIR_PREFIX);
  try {
    const out = path.join(work.dir, 'dump');
    const { args: zArgs, compression } = directoryCompression(run.compression, run.pgDumpMajor);
    const warnings = await runPgDump(run, [...args, ...zArgs, `--file=${out}`], makeError);
    const names = await dumpedFiles(out, run.options.minBytes ?? 512, makeError);
    await run.afterDump?.();
    const files = await uploadAll(run, out, names, makeError);
    const toc = files.find((f) => f.name === DIRECTORY_TOC)!;
    const bytes = files.reduce((n, f) => n + f.bytes, 0);
    return {
      bytes,
      sha256: toc.sha256,
      rawBytes: bytes,
      warnings: warnings.map(run.clean),
      object: {
        key: toc.key,
        bytes: toc.bytes,
        sha256: toc.sha256,
        ...(toc.versionId ? { versionId: toc.versionId } : {}),
      },
      files,
      compression,
    };
  } finally {
    await work.release();
  }
}

/** Runs pg_dump to its end; its warnings, or a BackupError naming why it failed. */
async function runPgDump(
  run: DirectoryRun,
  args: string[],
  makeError: (reason: BackupFailureReason, message: string) => BackupError,
): Promise<string[]> {
  const child = spawn(run.pgDumpPath, args, {
    env: run.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const warnings = collectWarnings(child.stderr);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-STDERR_KEEP)));
  let deadline: BackupError | undefined;
  // SIGTERM first: pg_dump's leader then cancels its workers' queries (parallel.c); SIGKILL after.
  const stop = () => {
    child.kill('SIGTERM');
    setTimeout(
      () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'),
      5_000,
    ).unref();
  };
  const timer = run.deadlineAt
    ? setInterval(() => {
        if (!deadline && run.deadlineAt!() <= 0) {
          deadline = makeError(
            'DEADLINE',
            `time nearly exhausted; dump aborted before the deadline (${deadlineAdvice(run.options.runner)})`,
          );
          stop();
        }
      }, 200)
    : undefined;
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    },
  ).finally(() => timer && clearInterval(timer));
  if (deadline) throw deadline;
  const err = run.clean(stderr.trim()) || '(no stderr)';
  if (exit.error) throw makeError('PG_DUMP_FAILED', `cannot run pg_dump: ${exit.error.message}`);
  if (exit.signal) throw makeError('PG_DUMP_SIGNALED', `pg_dump was killed by ${exit.signal}: ${err}`);
  if (exit.code === 0) return warnings;
  if (isLockWaitTimeout(stderr)) {
    throw makeError(
      'LOCK_TIMEOUT',
      `pg_dump could not lock a table within --lock-wait-timeout (a migration or another long ` +
        `transaction holds a conflicting lock); retry after it ends: ${err}`,
    );
  }
  if (/No space left on device/i.test(stderr)) {
    throw makeError(
      'PG_DUMP_FAILED',
      `pg_dump ran out of task storage: ${err} (raise the database's ephemeral storage, up to 200 GiB)`,
    );
  }
  throw makeError('PG_DUMP_FAILED', `pg_dump exited ${exit.code}: ${err}`);
}

/** The files pg_dump wrote, `toc.dat` last; refuses output that is not a directory dump. */
async function dumpedFiles(
  dir: string,
  minBytes: number,
  makeError: (reason: BackupFailureReason, message: string) => BackupError,
): Promise<string[]> {
  const entries = await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => []);
  if (entries.length === 0) throw makeError('EMPTY_OUTPUT', 'pg_dump exited 0 but wrote no files');
  const odd = entries.filter((e) => !e.isFile()).map((e) => e.name);
  if (odd.length > 0) throw makeError('NOT_AN_ARCHIVE', `pg_dump wrote more than files: ${odd.join(', ')}`);
  const names = entries.map((e) => e.name);
  if (!names.includes(DIRECTORY_TOC)) {
    throw makeError('NOT_AN_ARCHIVE', `pg_dump wrote no ${DIRECTORY_TOC}: not a directory-format dump`);
  }
  const head = Buffer.alloc(ARCHIVE_MAGIC.length);
  const fd = await fs.promises.open(path.join(dir, DIRECTORY_TOC), 'r');
  try {
    await fd.read(head, 0, head.length, 0);
  } finally {
    await fd.close();
  }
  if (!head.equals(ARCHIVE_MAGIC))
    throw makeError('NOT_AN_ARCHIVE', `${DIRECTORY_TOC} does not start with PGDMP`);
  let total = 0;
  for (const name of names) total += (await fs.promises.stat(path.join(dir, name))).size;
  if (total < minBytes) {
    throw makeError('OUTPUT_TOO_SMALL', `pg_dump wrote ${total} bytes, below the ${minBytes}-byte floor`);
  }
  // toc.dat last: a partly uploaded set (never listed anyway) then visibly lacks its entry point.
  return names
    .filter((n) => n !== DIRECTORY_TOC)
    .sort()
    .concat(DIRECTORY_TOC);
}

/**
 * Uploads the files, `uploadConcurrency` at a time. The first failure stops the rest: in-flight
 * uploads are aborted, and every multipart upload any file started is aborted by its id.
 */
async function uploadAll(
  run: DirectoryRun,
  dir: string,
  names: readonly string[],
  makeError: (reason: BackupFailureReason, message: string) => BackupError,
): Promise<DirectoryFile[]> {
  const { options, placement, log } = run;
  const prefix = directoryPrefixOf({ ...placement, databaseId: options.databaseId });
  /** Upload ids per key of every file not yet stored: what a failure must abort. */
  const pending = new Map<string, Set<string>>();
  const inFlight = new Set<Upload>();
  const files: DirectoryFile[] = [];
  let failure: BackupError | undefined;
  let next = 0;
  const stopAll = (e: BackupError) => {
    failure ??= e;
    for (const u of inFlight) void u.abort().catch(() => undefined);
  };

  const uploadOne = async (name: string): Promise<DirectoryFile> => {
    const key = `${prefix}${name}`;
    const file = path.join(dir, name);
    const size = (await fs.promises.stat(file)).size;
    const ids = new Set<string>();
    pending.set(key, ids);
    const tap = new FileTap();
    const source = fs.createReadStream(file);
    source.on('error', (e) => tap.destroy(e));
    source.pipe(tap);
    const upload = new Upload({
      client: trackingClient(options.s3, key, ids),
      queueSize: options.queueSize ?? 2,
      partSize: options.partSizeBytes ?? partSizeFor(size),
      leavePartsOnError: false,
      params: archiveUploadParams(run, key, tap),
    });
    inFlight.add(upload);
    let done;
    try {
      done = await upload.done();
    } catch (e) {
      source.destroy();
      throw (
        failure ??
        (isPreconditionFailed(e)
          ? makeError('ID_CONFLICT', `an object already exists at ${key}`)
          : makeError('UPLOAD_FAILED', `upload of ${name} (${key}) failed: ${(e as Error).message}`))
      );
    } finally {
      inFlight.delete(upload);
    }
    pending.delete(key);
    if (tap.bytes !== size) {
      throw makeError(
        'STREAM_ERROR',
        `${name} changed while uploading: ${tap.bytes} bytes read, ${size} on disk`,
      );
    }
    return { name, key, bytes: tap.bytes, sha256: tap.hash.digest('hex'), ...versionOf(done) };
  };

  const worker = async () => {
    while (!failure && next < names.length) files.push(await uploadOne(names[next++]));
  };
  const timer = run.deadlineAt
    ? setInterval(() => {
        if (run.deadlineAt!() <= 0) {
          stopAll(
            makeError(
              'DEADLINE',
              `time nearly exhausted; upload of the dump files stopped before the deadline (${deadlineAdvice(run.options.runner)})`,
            ),
          );
        }
      }, 200)
    : undefined;
  try {
    await Promise.all(
      Array.from({ length: Math.max(1, run.uploadConcurrency ?? 2) }, () =>
        worker().catch((e: unknown) =>
          stopAll(
            e instanceof BackupError
              ? e
              : makeError('UPLOAD_FAILED', `upload failed: ${(e as Error).message}`),
          ),
        ),
      ),
    );
  } finally {
    if (timer) clearInterval(timer);
  }
  if (!failure) {
    const order = new Map(names.map((n, i) => [n, i]));
    return files.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
  }
  let left = 0;
  for (const [key, ids] of pending) left += await abortUploads(options.s3, options.bucket, key, ids, log);
  log.error('dump failed', {
    backupId: placement.backupId,
    reason: failure.reason,
    error: failure.message,
    filesStored: files.length,
    uploadsLeft: left,
  });
  throw left > 0
    ? makeError(failure.reason, `${failure.message} (and ${left} multipart upload(s) could not be aborted)`)
    : failure;
}
