/**
 * pg_dump's output on its way to S3: pg_dump (with `--compress=0` when zstd wraps it) → a
 * multi-threaded `zstd` process (compression.ts, startDump) → SHA-256 and byte count on the fly →
 * a multipart upload that only completes after pg_dump and zstd both exited 0 and pg_dump's
 * output passed its checks (PGDMP magic, size floor, both on pg_dump's own bytes). Any failure
 * kills both processes and aborts the upload by its id, so nothing half-written is ever
 * committed. pg_dump's stderr is read line by line: its warnings go to the manifest and the log,
 * and a lock wait that timed out becomes LOCK_TIMEOUT rather than a generic failure.
 */
import { type ChildProcessByStdio } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BackupError, type BackupFailureReason } from './backup-error';
import { CompressionError, startDump, type DumpStream } from './compression';
import type { CompressionSettings } from './compression-settings';
import { DEFAULT_MIN_DUMP_BYTES } from './backup-settings';
import { encryptionParams, isPreconditionFailed } from './dump-claim';
import type { DumpOptions } from './dump';
import type { CoreLogger } from './logger';
import { ARCHIVE_TAGGING, type Placement } from './tiers';
import { deadlineAdvice } from './runner-settings';

const MIB = 1024 * 1024;
const MIN_PART = 5 * MIB;
const MAX_PART = 5 * 1024 * MIB;
const MAX_PARTS = 10_000;
const ARCHIVE_MAGIC = Buffer.from('PGDMP');
const STDERR_KEEP = 8 * 1024;
/** Warnings kept for the manifest; a database can make pg_dump warn once per object. */
const MAX_WARNINGS = 50;

/**
 * Part size so that 10,000 parts (the S3 maximum) cover 1.2 × the database size, at least 5 MiB.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
 */
export function partSizeFor(estimatedBytes: number): number {
  return Math.min(MAX_PART, Math.max(MIN_PART, Math.ceil((Math.max(0, estimatedBytes) * 1.2) / MAX_PARTS)));
}

/** What streamDump needs from the run. */
export interface StreamRun {
  readonly options: DumpOptions;
  readonly placement: Placement;
  readonly pgDumpPath: string;
  /** pg_dump's major: `pg-zstd` needs 16 or newer. */
  readonly pgDumpMajor: number;
  readonly compression: CompressionSettings;
  readonly databaseBytes: number;
  readonly env: Record<string, string>;
  readonly lock: Partial<PutObjectCommandInput>;
  readonly deadlineAt?: () => number;
  readonly log: CoreLogger;
  readonly fail: (reason: BackupFailureReason, message: string, backupId?: string) => BackupError;
  readonly clean: (text: string) => string;
}

export interface StoredDump {
  /** Bytes stored (after the zstd wrapper, when there is one). */
  readonly bytes: number;
  readonly sha256: string;
  /** The S3 version written, when the bucket is versioned: the manifest records it for readers. */
  readonly versionId?: string;
  /** Bytes pg_dump wrote: the plain custom archive a restore writes to disk. */
  readonly rawBytes: number;
  /** pg_dump's `warning:` lines (redacted, at most 50), e.g. "subscriptions not dumped". */
  readonly warnings: string[];
}

/**
 * Counts and hashes the stored bytes on their way to S3; its end comes only after the dump
 * stream's (both processes exited 0) and pg_dump's own bytes passed their checks.
 */
class ArchiveTap extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;

  constructor(
    private readonly dump: DumpStream,
    private readonly minBytes: number,
    private readonly makeError: (reason: BackupFailureReason, message: string) => BackupError,
  ) {
    super();
  }

  private notArchive(): boolean {
    const head = this.dump.rawHead();
    return head.length >= ARCHIVE_MAGIC.length && !head.equals(ARCHIVE_MAGIC);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    // pg_dump's first bytes pass through the counter before zstd emits anything, so a stand-in
    // that writes something else is refused before its bytes reach a part.
    if (this.notArchive()) {
      callback(this.makeError('NOT_AN_ARCHIVE', 'pg_dump output does not start with PGDMP'));
      return;
    }
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const raw = this.dump.rawBytes();
    if (raw === 0) return callback(this.makeError('EMPTY_OUTPUT', 'pg_dump exited 0 but wrote nothing'));
    if (raw < this.minBytes) {
      return callback(
        this.makeError(
          'OUTPUT_TOO_SMALL',
          `pg_dump wrote ${raw} bytes, below the ${this.minBytes}-byte floor`,
        ),
      );
    }
    if (!this.dump.rawHead().equals(ARCHIVE_MAGIC)) {
      return callback(this.makeError('NOT_AN_ARCHIVE', 'pg_dump output does not start with PGDMP'));
    }
    callback();
  }
}

export type Child = ChildProcessByStdio<null, Readable, Readable>;

export function collectStderr(child: Child): () => string {
  let tail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    tail = (tail + d).slice(-STDERR_KEEP);
  });
  return () => tail.trim();
}

/** pg_dump's `pg_dump: warning: ...` lines, as they arrive (the tail kept for errors may lose them). */
export function collectWarnings(stderr: Readable): string[] {
  const warnings: string[] = [];
  let partial = '';
  stderr.on('data', (d: Buffer | string) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^pg_dump: warning: (.*)$/.exec(line.trim());
      if (m && warnings.length < MAX_WARNINGS) warnings.push(m[1].slice(0, 500));
    }
  });
  return warnings;
}

/**
 * Whether pg_dump failed for want of a table lock within `--lock-wait-timeout`. pg_dump sets
 * `statement_timeout` for its `LOCK TABLE ... IN ACCESS SHARE MODE` statements, so the error is a
 * statement (or lock) timeout on a LOCK TABLE query.
 */
export function isLockWaitTimeout(stderr: string): boolean {
  return (
    /could not obtain lock on relation/i.test(stderr) ||
    (/canceling statement due to (statement|lock) timeout/i.test(stderr) && /LOCK TABLE/i.test(stderr))
  );
}

export function exitOf(child: Child): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('close', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: -1, signal: null }));
  });
}

/** The dump stream's failure (a CompressionError from startDump) as the backup's reason. */
function dumpFailure(
  e: Error,
  stderr: string,
  clean: (text: string) => string,
  makeError: (reason: BackupFailureReason, message: string) => BackupError,
): BackupError {
  if (e instanceof BackupError) return makeError(e.reason, e.message);
  if (!(e instanceof CompressionError)) {
    return makeError('STREAM_ERROR', `reading pg_dump output failed: ${e.message}`);
  }
  if (e.code === 'COMPRESSOR_FAILED') return makeError('COMPRESSOR_FAILED', e.message);
  const err = clean(stderr) || '(no stderr)';
  if (!e.exit || (e.exit.code === null && e.exit.signal === null))
    return makeError('PG_DUMP_FAILED', e.message);
  if (e.exit.signal) return makeError('PG_DUMP_SIGNALED', `pg_dump was killed by ${e.exit.signal}: ${err}`);
  if (isLockWaitTimeout(stderr)) {
    return makeError(
      'LOCK_TIMEOUT',
      `pg_dump could not lock a table within --lock-wait-timeout (a migration or another long ` +
        `transaction holds a conflicting lock); retry after it ends: ${err}`,
    );
  }
  return makeError('PG_DUMP_FAILED', `pg_dump exited ${e.exit.code}: ${err}`);
}

/**
 * The parameters of every archive upload, single stream or one file of a directory dump: a
 * conditional create (a completed object can never be replaced under our feet, or by us), the
 * archive tag the lifecycle transitions match (manifests never leave instant access), SSE-KMS and
 * the tier's Object Lock.
 */
export function archiveUploadParams(run: StreamRun, key: string, body: Readable): PutObjectCommandInput {
  return {
    Bucket: run.options.bucket,
    Key: key,
    Body: body,
    ContentType: 'application/octet-stream',
    IfNoneMatch: '*',
    Tagging: ARCHIVE_TAGGING,
    ...encryptionParams(run.options),
    ...run.lock,
  };
}

export async function streamDump(run: StreamRun, args: string[]): Promise<StoredDump> {
  const { options, placement, log, clean } = run;
  const backupId = placement.backupId;
  const key = placement.keys.dump;
  const makeError = (reason: BackupFailureReason, message: string) => run.fail(reason, message, backupId);

  if (run.deadlineAt && run.deadlineAt() <= 0) {
    throw makeError('DEADLINE', `not enough time left to start the dump (${deadlineAdvice(options.runner)})`);
  }

  let dump: DumpStream;
  try {
    dump = startDump({
      pgDumpPath: run.pgDumpPath,
      pgDumpMajor: run.pgDumpMajor,
      args,
      env: run.env,
      compression: run.compression,
    });
  } catch (e) {
    throw makeError('CONFIG', (e as Error).message);
  }
  const warnings = collectWarnings(dump.pgDump.stderr!);

  // First failure wins; everything after it is cleanup.
  let failure: BackupError | undefined;
  const tap = new ArchiveTap(dump, options.minBytes ?? DEFAULT_MIN_DUMP_BYTES, makeError);
  const abortWith = (err: BackupError) => {
    if (failure) return;
    failure = err;
    dump.kill(err);
    tap.destroy(err);
  };
  dump.output.on('error', (e) => abortWith(dumpFailure(e, dump.stderr(), clean, makeError)));
  dump.output.pipe(tap);

  const timer = run.deadlineAt
    ? setInterval(() => {
        if (run.deadlineAt!() <= 0) {
          abortWith(
            makeError(
              'DEADLINE',
              `time nearly exhausted; dump aborted before the deadline (${deadlineAdvice(options.runner)})`,
            ),
          );
        }
      }, 200)
    : undefined;

  // Record every multipart upload lib-storage creates for this key, so the abort below is sent for
  // the exact upload id regardless of lib-storage's own cleanup.
  const uploadIds = new Set<string>();
  const s3 = trackingClient(options.s3, key, uploadIds);
  const upload = new Upload({
    client: s3,
    queueSize: options.queueSize ?? 2,
    partSize: options.partSizeBytes ?? partSizeFor(run.databaseBytes),
    leavePartsOnError: false,
    params: archiveUploadParams(run, key, tap),
  });

  try {
    const done = await upload.done();
    if (failure) throw failure; // defensive: a failure raced the final part
    return {
      bytes: tap.bytes,
      sha256: tap.hash.digest('hex'),
      ...versionOf(done),
      rawBytes: dump.rawBytes(),
      warnings: warnings.map(clean),
    };
  } catch (e) {
    const err =
      failure ??
      (e instanceof BackupError
        ? e
        : isPreconditionFailed(e)
          ? makeError('ID_CONFLICT', `an object already exists at ${key}`)
          : makeError('UPLOAD_FAILED', `upload of ${key} failed: ${(e as Error).message}`));
    failure = err;
    dump.kill(err);
    tap.destroy();
    const left = await abortUploads(options.s3, options.bucket, key, uploadIds, log);
    log.error('dump failed', { backupId, reason: err.reason, error: err.message, uploadsLeft: left });
    throw left > 0
      ? makeError(
          err.reason,
          `${err.message} (and ${left} multipart upload(s) for ${key} could not be aborted)`,
        )
      : err;
  } finally {
    if (timer) clearInterval(timer);
    await dump.exited;
  }
}

/**
 * Wraps an S3 client so that the UploadId of each CreateMultipartUpload for `key` is recorded.
 * lib-storage only reads `send` and `config` from its client.
 */
export function trackingClient(s3: S3Client, key: string, uploadIds: Set<string>): S3Client {
  return new Proxy(s3, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver);
      return async (...args: unknown[]) => {
        const send = target.send.bind(target) as (...a: unknown[]) => Promise<unknown>;
        const out = (await send(...args)) as { UploadId?: unknown } | undefined;
        const input = (args[0] as { input?: { Key?: string } }).input;
        if (typeof out?.UploadId === 'string' && input?.Key === key) uploadIds.add(out.UploadId);
        return out;
      };
    },
  });
}

/**
 * Aborts every multipart upload for `key`: the ids we saw created plus any the bucket still lists
 * (an in-flight part can recreate state after an abort, so we list again). Returns how many remain.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html
 */
export async function abortUploads(
  s3: S3Client,
  bucket: string,
  key: string,
  known: Set<string>,
  log: CoreLogger,
): Promise<number> {
  const listFor = async () => {
    try {
      const out = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
      return (out.Uploads ?? []).filter((u) => u.Key === key && u.UploadId).map((u) => u.UploadId!);
    } catch (e) {
      log.warn('cannot list multipart uploads', { key, error: (e as Error).message });
      return [];
    }
  };
  const aborted = new Set<string>();
  for (let round = 0; round < 3; round++) {
    const ids = new Set([...[...known].filter((id) => !aborted.has(id)), ...(await listFor())]);
    if (ids.size === 0) return 0;
    for (const id of ids) {
      try {
        await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: id }));
        log.info('multipart upload aborted', { key, uploadId: id });
      } catch (e) {
        const name = (e as { name?: string }).name;
        if (name !== 'NoSuchUpload')
          log.warn('abort failed', { key, uploadId: id, error: (e as Error).message });
      }
      aborted.add(id);
    }
  }
  return (await listFor()).length;
}

/** `{ versionId }` from a PutObject / Upload answer, when S3 reports one (a versioned bucket). */
export function versionOf(out: unknown): { versionId?: string } {
  const v = (out as { VersionId?: unknown } | undefined)?.VersionId;
  return typeof v === 'string' && v.length > 0 ? { versionId: v } : {};
}
