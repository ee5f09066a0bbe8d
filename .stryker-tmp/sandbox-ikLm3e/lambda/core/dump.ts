/**
 * One backup of one database: a streaming `pg_dump -Fc` into S3, constant memory, nothing on
 * local disk but the 0600 PGPASSFILE.
 *
 * Order of events, and why:
 * 1. Resolve credentials (Secrets Manager or a plain connection).
 * 2. Preflight over `pg`: server version → the pg_dump of that major (or the nearest newer one).
 *    Refuse before anything is written to S3 when no installed pg_dump can dump the server.
 * 3. Place the backup (GFS by first success: the highest tier whose current period has no valid
 *    manifest) and claim its id with a conditional write, moving on by one second when another
 *    run already holds it, so overlapping runs never share keys.
 * 4. `BEGIN REPEATABLE READ READ ONLY`, `pg_export_snapshot()`, inventory and exact row counts in
 *    that snapshot, then `pg_dump --snapshot=<id>`: the counts in the manifest describe exactly the
 *    data in the archive, however many writes happen meanwhile.
 * 5. pg_dump's stdout → SHA-256 + byte count → `@aws-sdk/lib-storage` multipart upload (SSE-KMS
 *    with a bucket key, Object Lock retain-until of the tier, conditional create). The body stream
 *    only *ends* after pg_dump exited 0 and the output passed its checks (PGDMP magic, size
 *    floor), so a bad dump can never be completed as an object.
 * 6. Any failure (non-zero exit or signal, stream error, empty/short/non-PGDMP output, deadline
 *    approaching, S3 error) kills pg_dump, aborts the multipart upload explicitly (and checks no
 *    upload for the key is left), writes no manifest, and throws a BackupError with a reason code.
 * 7. Roles (`pg_dumpall --roles-only --no-role-passwords`) → `<id>.globals.sql`; a server that
 *    refuses (managed services without pg_authid access) is recorded, not fatal.
 * 8. The manifest, last: the commit marker.
 */
// @ts-nocheck

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Client } from 'pg';
import { backupIdTime, occupiedPeriods } from './catalog';
import { catalogCounts, countRows, listTables, schemaArgs, type SchemaScope } from './inventory';
import { silentLogger, type CoreLogger } from './logger';
import { ManifestSchema, type Manifest, type TableEntry } from './manifest';
import { majorFromVersionNum, pgBinDirs as defaultPgBinDirs, pgToolForServer, type PgBinary } from './pg-bin';
import {
  ConnectionConfigError,
  libpqEnv,
  pgClientConfig,
  redact,
  resolveConnection,
  withPgPassFile,
  type ConnectionSource,
  type DbConnection,
  type TlsOptions,
} from './secrets';
import {
  backupKeys,
  DEFAULT_RETENTION_DAYS,
  periodOf,
  placeBackup,
  type Placement,
  type RetentionDays,
  type Tier,
} from './tiers';

/** Why a backup failed; stable codes for metrics, alarms and tests. */
export type BackupFailureReason =
  | 'CONFIG'
  | 'CONNECT'
  | 'VERSION_UNSUPPORTED'
  | 'SNAPSHOT'
  | 'PG_DUMP_FAILED'
  | 'PG_DUMP_SIGNALED'
  | 'EMPTY_OUTPUT'
  | 'OUTPUT_TOO_SMALL'
  | 'NOT_AN_ARCHIVE'
  | 'DEADLINE'
  | 'STREAM_ERROR'
  | 'UPLOAD_FAILED'
  | 'ID_CONFLICT'
  | 'MANIFEST_WRITE_FAILED'
  | 'INTERNAL';

export class BackupError extends Error {
  override readonly name = 'BackupError';
  constructor(
    readonly reason: BackupFailureReason,
    message: string,
    /** Backup id, when one had been assigned. */
    readonly backupId?: string,
  ) {
    super(message);
  }
}

/** Object Lock mode for every object of a backup; `NONE` for buckets without Object Lock. */
export type ObjectLockMode = 'COMPLIANCE' | 'GOVERNANCE' | 'NONE';

export interface DumpOptions extends TlsOptions {
  readonly databaseId: string;
  readonly connection: ConnectionSource;
  readonly s3: S3Client;
  readonly bucket: string;
  /** KMS key (ARN or id) for SSE-KMS. @default - the bucket's default encryption (still aws:kms) */
  readonly kmsKeyId?: string;
  /** @default 'COMPLIANCE' */
  readonly objectLockMode?: ObjectLockMode;
  /** Per-tier retention, which is also each object's Object Lock retain-until. @default DEFAULT_RETENTION_DAYS */
  readonly retentionDays?: RetentionDays;
  /** Force a tier; `auto` places by first success. @default 'auto' */
  readonly tier?: Tier | 'auto';
  /** Schemas to include/exclude (exact names). @default - every non-system schema */
  readonly schemas?: SchemaScope;
  /** Directories holding pg_dump/pg_dumpall (only these are searched). @default - pgBinDirs() */
  readonly pgBinDirs?: string[];
  /** Time for exact row counts before falling back to estimates, ms. @default 300000 */
  readonly countBudgetMs?: number;
  /** Smallest acceptable archive, bytes. An empty database dumps to ~850 bytes. @default 512 */
  readonly minBytes?: number;
  /** Stop and abort when this moment minus `safetyMarginMs` is reached. */
  readonly deadline?: Date;
  /** Remaining time (e.g. Lambda `context.getRemainingTimeInMillis`); same effect as `deadline`. */
  readonly remainingTimeMs?: () => number;
  /** Time kept back for aborting the upload and reporting. @default 60000 */
  readonly safetyMarginMs?: number;
  /** Multipart part size override, bytes (min 5 MiB). @default - sized so 10,000 parts cover 1.2 × database size */
  readonly partSizeBytes?: number;
  /** Parts in flight. Memory ≈ (queueSize + 1) × partSize. @default 2 */
  readonly queueSize?: number;
  /** Clock (GFS simulations inject one). @default () => new Date() */
  readonly now?: () => Date;
  readonly logger?: CoreLogger;
  /** How many later seconds to try when the backup id is taken. @default 30 */
  readonly maxIdAttempts?: number;
}

const MIB = 1024 * 1024;
const MIN_PART = 5 * MIB;
const MAX_PART = 5 * 1024 * MIB;
const MAX_PARTS = 10_000;
const ARCHIVE_MAGIC = Buffer.from('PGDMP');
const STDERR_KEEP = 8 * 1024;

/**
 * Part size so that 10,000 parts (the S3 maximum) cover 1.2 × the database size, at least 5 MiB.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
 */
export function partSizeFor(estimatedBytes: number): number {
  return Math.min(MAX_PART, Math.max(MIN_PART, Math.ceil((Math.max(0, estimatedBytes) * 1.2) / MAX_PARTS)));
}

interface Preflight {
  serverVersion: string;
  serverVersionNum: number;
  serverMajor: number;
  databaseBytes: number;
  pgDump: PgBinary;
  pgDumpall?: PgBinary;
  pgDumpallProblem?: string;
}

/** Dumps one database; returns the manifest that was written. Throws BackupError on any failure. */
export async function dumpDatabase(options: DumpOptions): Promise<Manifest> {
  const log = options.logger ?? silentLogger;
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const startedMono = Date.now();
  let conn: DbConnection;
  try {
    conn = await resolveConnection(options.connection);
  } catch (e) {
    throw new BackupError('CONFIG', (e as Error).message);
  }
  const secrets = [conn.password];
  const clean = (text: string) => redact(text, secrets);
  const fail = (reason: BackupFailureReason, message: string, backupId?: string) =>
    new BackupError(reason, clean(message), backupId);

  const dirs = options.pgBinDirs ?? defaultPgBinDirs();
  const tls: TlsOptions = { sslMode: options.sslMode, caBundlePath: options.caBundlePath };
  const scope: SchemaScope = options.schemas ?? {};
  const deadlineAt = effectiveDeadline(options);

  try {
    return await runDump({
      options,
      conn,
      tls,
      dirs,
      scope,
      deadlineAt,
      startedAt,
      startedMono,
      now,
      log,
      fail,
      clean,
    });
  } catch (e) {
    // Whatever went wrong, the caller gets a BackupError whose message holds no secret.
    if (e instanceof BackupError) {
      throw e.message === clean(e.message) ? e : new BackupError(e.reason, clean(e.message), e.backupId);
    }
    if (e instanceof ConnectionConfigError) throw fail('CONFIG', e.message);
    throw fail('INTERNAL', `backup failed: ${(e as Error).message ?? String(e)}`);
  }
}

interface RunContext {
  options: DumpOptions;
  conn: DbConnection;
  tls: TlsOptions;
  dirs: string[];
  scope: SchemaScope;
  deadlineAt?: () => number;
  startedAt: Date;
  startedMono: number;
  now: () => Date;
  log: CoreLogger;
  fail: (reason: BackupFailureReason, message: string, backupId?: string) => BackupError;
  clean: (text: string) => string;
}

async function runDump(ctx: RunContext): Promise<Manifest> {
  const { options, conn, tls, log, fail, clean } = ctx;
  let client: Client;
  try {
    client = new Client(pgClientConfig(conn, tls));
    await client.connect();
  } catch (e) {
    if (e instanceof ConnectionConfigError) throw fail('CONFIG', e.message);
    throw fail('CONNECT', `cannot connect to database ${conn.database}: ${(e as Error).message}`);
  }
  // An error event on an idle client (server restart) must not crash the process; the next query fails.
  client.on('error', (e) => log.warn('database connection error', { error: clean(e.message) }));
  try {
    const pre = await preflight(client, ctx.dirs, log);
    log.info('preflight ok', {
      databaseId: options.databaseId,
      serverVersion: pre.serverVersion,
      pgDump: pre.pgDump.version,
      databaseBytes: pre.databaseBytes,
    });
    if (ctx.deadlineAt && ctx.deadlineAt() <= 0) {
      throw fail('DEADLINE', 'not enough time left to start a backup');
    }
    return await withPgPassFile(conn, async (passFile) => {
      const env = libpqEnv(conn, tls, passFile);
      const placement = await claimPlacement(options, ctx.startedAt, log);
      try {
        return await dumpInSnapshot({
          ...ctx,
          client,
          pre,
          placement,
          lock: lockParams(options, placement),
          env,
        });
      } catch (e) {
        await releaseClaim(options, placement, log);
        throw e;
      }
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}

function effectiveDeadline(options: DumpOptions): (() => number) | undefined {
  const margin = options.safetyMarginMs ?? 60_000;
  const fromDate = options.deadline ? options.deadline.getTime() : undefined;
  const fromRemaining = options.remainingTimeMs;
  if (fromDate === undefined && !fromRemaining) return undefined;
  // Milliseconds left before we must have given up.
  return () =>
    Math.min(
      fromDate === undefined ? Infinity : fromDate - Date.now(),
      fromRemaining ? fromRemaining() : Infinity,
    ) - margin;
}

async function preflight(client: Client, dirs: string[], log: CoreLogger): Promise<Preflight> {
  const { rows } = await client.query<{ num: string; version: string; bytes: string }>(
    `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
            pg_database_size(current_database())::text AS bytes`,
  );
  const serverVersionNum = Number(rows[0].num);
  const serverMajor = majorFromVersionNum(serverVersionNum);
  let pgDump: PgBinary;
  try {
    pgDump = pgToolForServer('pg_dump', serverMajor, dirs);
  } catch (e) {
    throw new BackupError(
      'VERSION_UNSUPPORTED',
      `preflight refused: ${(e as Error).message} (server version ${rows[0].version})`,
    );
  }
  let pgDumpall: PgBinary | undefined;
  let pgDumpallProblem: string | undefined;
  try {
    pgDumpall = pgToolForServer('pg_dumpall', serverMajor, dirs);
  } catch (e) {
    pgDumpallProblem = (e as Error).message;
    log.warn('no usable pg_dumpall; roles will not be saved', { problem: pgDumpallProblem });
  }
  return {
    serverVersion: rows[0].version,
    serverVersionNum,
    serverMajor,
    databaseBytes: Number(rows[0].bytes),
    pgDump,
    pgDumpall,
    pgDumpallProblem,
  };
}

/**
 * A conditional create lost: 412 when the key exists, 409 ConditionalRequestConflict when another
 * conditional write to the key is in flight.
 */
const isPreconditionFailed = (e: unknown): boolean => {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const status = err?.$metadata?.httpStatusCode;
  return (
    err?.name === 'PreconditionFailed' ||
    err?.Code === 'PreconditionFailed' ||
    err?.name === 'ConditionalRequestConflict' ||
    status === 412 ||
    (status === 409 && /Conditional/i.test(err?.name ?? ''))
  );
};

/**
 * Where a backup id is claimed: one place per id whatever the tier, so an id is unique across all
 * tiers of a database. Under the daily prefix, the daily lifecycle rule expires it.
 */
export function claimKey(databaseId: string, backupId: string): string {
  const at = backupIdTime(backupId);
  return `${backupKeys('daily', databaseId, periodOf('daily', at), backupId).prefix}${backupId}.claim`;
}

/**
 * Places the backup and claims its id with a conditional create (`If-None-Match: *`) of a small
 * claim object (see claimKey). When the id is taken (another run started in the same second),
 * tries the next second, so ids keep the `<db>-<yyyymmddThhmmssZ>` format and never collide. The
 * claim of a successful backup stays (it keeps the id reserved); a failed run removes its claim.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 */
async function claimPlacement(options: DumpOptions, startedAt: Date, log: CoreLogger): Promise<Placement> {
  const attempts = options.maxIdAttempts ?? 30;
  const base = Math.floor(startedAt.getTime() / 1000) * 1000;
  for (let i = 0; i < attempts; i++) {
    const at = new Date(base + i * 1000);
    const occupied = await occupiedPeriods(options.s3, options.bucket, options.databaseId, at);
    const placement = placeBackup({
      databaseId: options.databaseId,
      at,
      occupied,
      retentionDays: options.retentionDays ?? DEFAULT_RETENTION_DAYS,
      tier: options.tier === 'auto' ? undefined : options.tier,
    });
    try {
      await options.s3.send(
        new PutObjectCommand({
          Bucket: options.bucket,
          Key: claimKey(options.databaseId, placement.backupId),
          Body: JSON.stringify({
            backupId: placement.backupId,
            tier: placement.tier,
            period: placement.period,
            claimedAt: new Date().toISOString(),
          }),
          ContentType: 'application/json',
          IfNoneMatch: '*',
          ...encryptionParams(options),
        }),
      );
      log.info('backup placed', {
        backupId: placement.backupId,
        tier: placement.tier,
        period: placement.period,
      });
      return placement;
    } catch (e) {
      if (!isPreconditionFailed(e)) {
        throw new BackupError(
          'UPLOAD_FAILED',
          `cannot claim backup id ${placement.backupId}: ${(e as Error).message}`,
        );
      }
      log.info('backup id taken by another run; trying the next second', { backupId: placement.backupId });
    }
  }
  throw new BackupError(
    'ID_CONFLICT',
    `no free backup id for ${options.databaseId} within ${attempts} seconds`,
  );
}

async function releaseClaim(options: DumpOptions, placement: Placement, log: CoreLogger): Promise<void> {
  const key = claimKey(options.databaseId, placement.backupId);
  try {
    await options.s3.send(new DeleteObjectCommand({ Bucket: options.bucket, Key: key }));
  } catch (e) {
    // Harmless if left: tiny, ignored by listings, expired by the daily lifecycle rule.
    log.warn('could not remove the backup id claim', { key, error: (e as Error).message });
  }
}

function encryptionParams(options: DumpOptions): Partial<PutObjectCommandInput> {
  return {
    ServerSideEncryption: 'aws:kms',
    ...(options.kmsKeyId ? { SSEKMSKeyId: options.kmsKeyId } : {}),
    BucketKeyEnabled: true,
  };
}

function lockParams(options: DumpOptions, placement: Placement): Partial<PutObjectCommandInput> {
  const mode = options.objectLockMode ?? 'COMPLIANCE';
  // Object Lock requires an integrity checksum on the upload; the SDK's default (WHEN_SUPPORTED)
  // sends CRC32 on PutObject and every part.
  // @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html
  return mode === 'NONE' ? {} : { ObjectLockMode: mode, ObjectLockRetainUntilDate: placement.retainUntil };
}

interface SnapshotRun extends RunContext {
  client: Client;
  pre: Preflight;
  placement: Placement;
  lock: Partial<PutObjectCommandInput>;
  env: Record<string, string>;
}

async function dumpInSnapshot(run: SnapshotRun): Promise<Manifest> {
  const { options, client, pre, placement, log, fail } = run;
  // Counting must leave most of the time for the dump itself.
  const budgetMs = Math.max(
    0,
    Math.min(options.countBudgetMs ?? 300_000, run.deadlineAt ? run.deadlineAt() / 4 : Infinity),
  );
  let snapshot: string;
  let tables: TableEntry[];
  let catalog: Awaited<ReturnType<typeof catalogCounts>>;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0].id;
    // The exporting transaction must outlive pg_dump's import; a server-side idle timeout would
    // kill it while we only stream. row_security=off makes a count error out (as pg_dump does)
    // rather than silently count only the rows a policy lets us see.
    await client.query('SET LOCAL idle_in_transaction_session_timeout = 0');
    await client.query('SET LOCAL row_security = off');
    const infos = await listTables(client, run.scope);
    catalog = await catalogCounts(client, run.scope);
    tables = await countRows(client, infos, { budgetMs });
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw fail('SNAPSHOT', `cannot take the inventory snapshot: ${(e as Error).message}`, placement.backupId);
  }
  log.info('snapshot taken', {
    backupId: placement.backupId,
    tables: tables.length,
    exactCounts: tables.every((t) => t.exact),
  });

  const dumpArgs = ['--format=custom', `--snapshot=${snapshot}`, '--no-password', ...schemaArgs(run.scope)];
  let stored: { bytes: number; sha256: string };
  try {
    stored = await streamDump(run, dumpArgs);
  } finally {
    // The snapshot has served its purpose (or the dump failed); end the transaction either way.
    await client.query('COMMIT').catch(() => undefined);
  }
  log.info('dump stored', { backupId: placement.backupId, key: placement.keys.dump, bytes: stored.bytes });

  const globals = await storeGlobals(run);
  const completedAt = run.now();
  const manifest: Manifest = ManifestSchema.parse({
    formatVersion: 1,
    backupId: placement.backupId,
    databaseId: options.databaseId,
    tier: placement.tier,
    period: placement.period,
    startedAt: run.startedAt.toISOString(),
    completedAt: completedAt.toISOString(),
    durationSeconds: Math.max(0, (Date.now() - run.startedMono) / 1000),
    retainUntil: placement.retainUntil.toISOString(),
    source: {
      database: run.conn.database,
      serverVersion: pre.serverVersion,
      serverVersionNum: pre.serverVersionNum,
      serverMajor: pre.serverMajor,
    },
    pgDump: {
      version: pre.pgDump.version,
      major: pre.pgDump.major,
      format: 'custom',
      // The snapshot id is per-run noise; the options that shape the archive are what matter.
      options: dumpArgs.filter((a) => !a.startsWith('--snapshot=')),
    },
    object: { key: placement.keys.dump, bytes: stored.bytes, sha256: stored.sha256 },
    globals,
    rowCounts: { exact: tables.every((t) => t.exact), budgetSeconds: budgetMs / 1000 },
    tables,
    catalog,
    schemas: { include: [...(run.scope.include ?? [])], exclude: [...(run.scope.exclude ?? [])] },
    encryption: options.kmsKeyId ? { kmsKeyId: options.kmsKeyId } : {},
  });
  try {
    await options.s3.send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: placement.keys.manifest,
        Body: JSON.stringify(manifest, null, 2),
        ContentType: 'application/json',
        IfNoneMatch: '*',
        ...encryptionParams(options),
        ...run.lock,
      }),
    );
  } catch (e) {
    throw fail('MANIFEST_WRITE_FAILED', `cannot write manifest: ${(e as Error).message}`, placement.backupId);
  }
  log.info('backup complete', {
    backupId: placement.backupId,
    manifestKey: placement.keys.manifest,
    bytes: stored.bytes,
    durationSeconds: manifest.durationSeconds,
  });
  return manifest;
}

/** Counts and hashes the archive on its way to S3, and holds back its end until pg_dump's verdict. */
class ArchiveTap extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  private head = Buffer.alloc(0);

  constructor(
    private readonly verdict: () => Promise<BackupError | undefined>,
    private readonly minBytes: number,
    private readonly makeError: (reason: BackupFailureReason, message: string) => BackupError,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (this.head.length < ARCHIVE_MAGIC.length) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, ARCHIVE_MAGIC.length - this.head.length)]);
      if (this.head.length >= ARCHIVE_MAGIC.length && !this.head.equals(ARCHIVE_MAGIC)) {
        callback(this.makeError('NOT_AN_ARCHIVE', 'pg_dump output does not start with PGDMP'));
        return;
      }
    }
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.verdict().then(
      (err) => {
        if (err) return callback(err);
        if (this.bytes === 0)
          return callback(this.makeError('EMPTY_OUTPUT', 'pg_dump exited 0 but wrote nothing'));
        if (this.bytes < this.minBytes) {
          return callback(
            this.makeError(
              'OUTPUT_TOO_SMALL',
              `pg_dump wrote ${this.bytes} bytes, below the ${this.minBytes}-byte floor`,
            ),
          );
        }
        if (!this.head.equals(ARCHIVE_MAGIC)) {
          return callback(this.makeError('NOT_AN_ARCHIVE', 'pg_dump output does not start with PGDMP'));
        }
        callback();
      },
      (e: Error) => callback(e),
    );
  }
}

type Child = ChildProcessByStdio<null, Readable, Readable>;

function collectStderr(child: Child): () => string {
  let tail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    tail = (tail + d).slice(-STDERR_KEEP);
  });
  return () => tail.trim();
}

function exitOf(child: Child): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('close', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: -1, signal: null }));
  });
}

async function streamDump(run: SnapshotRun, args: string[]): Promise<{ bytes: number; sha256: string }> {
  const { options, placement, pre, log, clean } = run;
  const backupId = placement.backupId;
  const key = placement.keys.dump;
  const makeError = (reason: BackupFailureReason, message: string) => run.fail(reason, message, backupId);

  if (run.deadlineAt && run.deadlineAt() <= 0) {
    throw makeError('DEADLINE', 'not enough time left to start the dump');
  }

  const child: Child = spawn(pre.pgDump.path, args, { env: run.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = collectStderr(child);
  const exited = exitOf(child);
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));

  // First failure wins; everything after it is cleanup.
  let failure: BackupError | undefined;
  const tap = new ArchiveTap(
    async () => {
      const { code, signal } = await exited;
      if (failure) return failure;
      if (spawnError) return makeError('PG_DUMP_FAILED', `cannot run pg_dump: ${spawnError.message}`);
      if (signal)
        return makeError(
          'PG_DUMP_SIGNALED',
          `pg_dump was killed by ${signal}: ${clean(stderr()) || '(no stderr)'}`,
        );
      if (code !== 0)
        return makeError('PG_DUMP_FAILED', `pg_dump exited ${code}: ${clean(stderr()) || '(no stderr)'}`);
      return undefined;
    },
    options.minBytes ?? 512,
    makeError,
  );
  const abortWith = (err: BackupError) => {
    if (failure) return;
    failure = err;
    child.kill('SIGKILL');
    tap.destroy(err);
  };
  child.stdout.on('error', (e) =>
    abortWith(makeError('STREAM_ERROR', `reading pg_dump output failed: ${e.message}`)),
  );
  child.stdout.pipe(tap);

  const timer = run.deadlineAt
    ? setInterval(() => {
        if (run.deadlineAt!() <= 0) {
          abortWith(makeError('DEADLINE', 'time nearly exhausted; dump aborted before the deadline'));
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
    partSize: options.partSizeBytes ?? partSizeFor(pre.databaseBytes),
    leavePartsOnError: false,
    params: {
      Bucket: options.bucket,
      Key: key,
      Body: tap,
      ContentType: 'application/octet-stream',
      // On AWS a completed object can never be replaced under our feet (or by us).
      IfNoneMatch: '*',
      ...encryptionParams(options),
      ...run.lock,
    },
  });

  try {
    await upload.done();
    if (failure) throw failure; // defensive: a failure raced the final part
    return { bytes: tap.bytes, sha256: tap.hash.digest('hex') };
  } catch (e) {
    const err =
      failure ??
      (e instanceof BackupError
        ? e
        : isPreconditionFailed(e)
          ? makeError('ID_CONFLICT', `an object already exists at ${key}`)
          : makeError('UPLOAD_FAILED', `upload of ${key} failed: ${(e as Error).message}`));
    failure = err;
    child.kill('SIGKILL');
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
    await exited;
  }
}

/**
 * Wraps an S3 client so that the UploadId of each CreateMultipartUpload for `key` is recorded.
 * lib-storage only reads `send` and `config` from its client.
 */
function trackingClient(s3: S3Client, key: string, uploadIds: Set<string>): S3Client {
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
async function abortUploads(
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

/** `pg_dumpall --roles-only --no-role-passwords` into `<id>.globals.sql`; refusal is recorded, not fatal. */
async function storeGlobals(run: SnapshotRun): Promise<Manifest['globals']> {
  const { options, pre, placement, log, clean } = run;
  if (!pre.pgDumpall) return { present: false, reason: pre.pgDumpallProblem ?? 'pg_dumpall not available' };
  const database = run.env.PGDATABASE;
  const child: Child = spawn(
    pre.pgDumpall.path,
    ['--roles-only', '--no-role-passwords', '--no-password', `--database=${database}`],
    { env: run.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stderr = collectStderr(child);
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const { code, signal } = await exitOf(child);
  clearTimeout(killer);
  if (code !== 0 || signal) {
    const reason = clean(
      stderr()
        .split('\n')
        .find((l) => /error|fatal|denied/i.test(l)) ?? stderr(),
    ).slice(0, 500);
    log.warn('roles not saved: pg_dumpall refused', { backupId: placement.backupId, reason });
    return { present: false, reason: reason || `pg_dumpall exited ${code ?? signal}` };
  }
  const body = Buffer.concat(chunks);
  try {
    await options.s3.send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: placement.keys.globals,
        Body: body,
        ContentType: 'application/sql; charset=utf-8',
        IfNoneMatch: '*',
        ...encryptionParams(options),
        ...run.lock,
      }),
    );
  } catch (e) {
    throw run.fail('UPLOAD_FAILED', `cannot store roles: ${(e as Error).message}`, placement.backupId);
  }
  return {
    present: true,
    key: placement.keys.globals,
    bytes: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
  };
}
