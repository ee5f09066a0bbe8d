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
 * 4. `BEGIN REPEATABLE READ READ ONLY`, `pg_export_snapshot()` in a session that then holds no
 *    relation lock; inventory, row and large-object counts in a second session on that snapshot,
 *    closed before `pg_dump --snapshot=<id> --lock-wait-timeout=<ms>` starts (dump-snapshot.ts says
 *    why): the counts describe exactly the data in the archive, and a migration waits at most for
 *    the dump.
 * 5. pg_dump's stdout (`--compress=0`) → `zstd -T<cores>` (by default; or pg_dump's own gzip, per
 *    database) → SHA-256 + byte count → `@aws-sdk/lib-storage` multipart upload (SSE-KMS
 *    with a bucket key, Object Lock retain-until of the tier, conditional create). The body stream
 *    only *ends* after pg_dump and zstd exited 0 and pg_dump's output passed its checks (PGDMP
 *    magic, size floor), so a bad dump can never be completed as an object. The manifest's
 *    `compression` says which kind the object is.
 * 6. Any failure (non-zero exit or signal, stream error, empty/short/non-PGDMP output, deadline
 *    approaching, S3 error) kills pg_dump, aborts the multipart upload explicitly (and checks no
 *    upload for the key is left), writes no manifest, and throws a BackupError with a reason code.
 * 7. Roles (`pg_dumpall --roles-only --no-role-passwords`) → `<id>.globals.sql`; a server that
 *    refuses (managed services without pg_authid access) is recorded, not fatal.
 * 8. The manifest, last: the commit marker.
 *
 * This file owns the order of events and the manifest; the pieces live beside it: dump-options.ts
 * (the options and their defaults, re-exported here), dump-claim.ts (placement, id claim, object
 * parameters), dump-snapshot.ts (snapshot and inventory), dump-stream.ts (pg_dump → S3),
 * dump-globals.ts (roles file), backup-error.ts.
 */
import { PutObjectCommand, type PutObjectCommandInput } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { BackupError, type BackupFailureReason } from './backup-error';
import {
  DEFAULT_COUNT_BUDGET_SECONDS,
  DEFAULT_FINGERPRINT_BUDGET_SECONDS,
  DEFAULT_SAFETY_MARGIN_SECONDS,
} from './backup-settings';
import { availableCores } from './compression';
import { manifestCompression, resolveCompression, type CompressionSettings } from './compression-settings';
import { claimPlacement, encryptionParams, lockParams } from './dump-claim';
import { dumpDirectory, type StoredDirectory } from './dump-directory';
import { storeGlobals } from './dump-globals';
import { checkStandby, dumpFromConnection, type StandbyInfo } from './dump-replica';
import { exportSnapshot, takeInventory, type Inventory } from './dump-snapshot';
import { DEFAULT_LOCK_WAIT_TIMEOUT_MS, type DumpOptions } from './dump-options';
import { streamDump, type StoredDump } from './dump-stream';
import { schemaArgs, type SchemaScope } from './inventory';
import { silentLogger, type CoreLogger } from './logger';
import { ManifestSchema, type Manifest } from './manifest';
import { majorFromVersionNum, pgBinDirs as defaultPgBinDirs, pgToolForServer, type PgBinary } from './pg-bin';
import {
  ConnectionConfigError,
  libpqEnv,
  pgClientConfig,
  redact,
  resolveConnection,
  withPgPassFile,
  type DbConnection,
  type TlsOptions,
} from './secrets';
import { presetScope } from './presets';
import { deadlineAdvice } from './runner-settings';
import { type Placement } from './tiers';

export { BackupError, type BackupFailureReason } from './backup-error';
export { claimKey } from './dump-claim';
export { partSizeFor } from './dump-stream';
export { DEFAULT_LOCK_WAIT_TIMEOUT_MS, type DumpOptions, type ObjectLockMode } from './dump-options';

interface Preflight {
  serverVersion: string;
  serverVersionNum: number;
  serverMajor: number;
  databaseBytes: number;
  pgDump: PgBinary;
  pgDumpall?: PgBinary;
  pgDumpallProblem?: string;
  standby?: StandbyInfo;
}

/** Dumps one database; returns the manifest that was written. Throws BackupError on any failure. */
export async function dumpDatabase(options: DumpOptions): Promise<Manifest> {
  const log = options.logger ?? silentLogger;
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const startedMono = Date.now();
  let conn: DbConnection;
  const secrets: string[] = [];
  try {
    conn = await resolveConnection(options.connection);
    secrets.push(conn.password);
    // Every session of the backup goes to the replica when there is one (dump-replica.ts).
    if (options.dumpFrom) conn = await dumpFromConnection(conn, options.dumpFrom);
  } catch (e) {
    throw new BackupError('CONFIG', redact((e as Error).message, secrets));
  }
  secrets.push(conn.password);
  const clean = (text: string) => redact(text, secrets);
  const fail = (reason: BackupFailureReason, message: string, backupId?: string) =>
    new BackupError(reason, clean(message), backupId);

  const dirs = options.pgBinDirs ?? defaultPgBinDirs();
  const tls: TlsOptions = { sslMode: options.sslMode, caBundlePath: options.caBundlePath };
  const scope: SchemaScope = presetScope(options.schemas ?? {}, options.preset);
  const deadlineAt = effectiveDeadline(options);
  let compression: CompressionSettings;
  try {
    compression = resolveCompression(options.compression, options.compressionThreads ?? availableCores());
  } catch (e) {
    throw new BackupError('CONFIG', `compression: ${(e as Error).message}`);
  }

  try {
    return await runDump({
      compression,
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
  compression: CompressionSettings;
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
    // Each session of a backup says what it is in pg_stat_activity / pg_locks, for the DBA looking
    // at who holds what: restorable-snapshot (exporter), restorable-count, restorable-pg_dump.
    client = new Client(pgClientConfig(conn, tls, { application_name: 'restorable-snapshot' }));
    await client.connect();
  } catch (e) {
    if (e instanceof ConnectionConfigError) throw fail('CONFIG', e.message);
    throw fail('CONNECT', `cannot connect to database ${conn.database}: ${(e as Error).message}`);
  }
  // An error event on an idle client (server restart) must not crash the process; the next query fails.
  client.on('error', (e) => log.warn('database connection error', { error: clean(e.message) }));
  try {
    const pre = await preflight(client, ctx.dirs, log);
    if (options.dumpFrom) {
      pre.standby = await checkStandby(
        client,
        { host: conn.host, port: conn.port },
        ctx.deadlineAt ? Math.max(0, ctx.deadlineAt()) : undefined,
        log,
      );
    }
    log.info('preflight ok', {
      databaseId: options.databaseId,
      serverVersion: pre.serverVersion,
      pgDump: pre.pgDump.version,
      databaseBytes: pre.databaseBytes,
    });
    if (ctx.deadlineAt && ctx.deadlineAt() <= 0) {
      throw fail('DEADLINE', `not enough time left to start a backup (${deadlineAdvice(options.runner)})`);
    }
    return await withPgPassFile(conn, async (passFile) => {
      const env = { ...libpqEnv(conn, tls, passFile), PGAPPNAME: 'restorable-pg_dump' };
      const placement = await claimPlacement(options, ctx.startedAt, log);
      // A failed run keeps its claim (see claimPlacement): nothing here needs a delete permission.
      return await dumpInSnapshot({
        ...ctx,
        client,
        pre,
        placement,
        lock: lockParams(options, placement),
        env,
      });
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}

function effectiveDeadline(options: DumpOptions): (() => number) | undefined {
  const margin = options.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_SECONDS * 1000;
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
    Math.min(
      options.countBudgetMs ?? DEFAULT_COUNT_BUDGET_SECONDS * 1000,
      run.deadlineAt ? run.deadlineAt() / 4 : Infinity,
    ),
  );
  const perTableMs = Math.max(1, Math.min(options.countPerTableMs ?? budgetMs / 4, budgetMs));
  const lockWaitTimeoutMs = Math.max(
    1,
    Math.floor(options.lockWaitTimeoutMs ?? DEFAULT_LOCK_WAIT_TIMEOUT_MS),
  );
  let snapshot: string;
  try {
    snapshot = await exportSnapshot(client);
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw fail('SNAPSHOT', `cannot export a snapshot: ${(e as Error).message}`, placement.backupId);
  }
  let inventory: Inventory;
  let stored: StoredDump & Partial<StoredDirectory>;
  const directory = options.layout === 'directory';
  const jobs = Math.max(1, Math.floor(options.jobs ?? availableCores()));
  const dumpArgs = [
    ...(directory ? ['--format=directory', `--jobs=${jobs}`] : ['--format=custom']),
    `--snapshot=${snapshot}`,
    '--no-password',
    `--lock-wait-timeout=${lockWaitTimeoutMs}`,
    // pg_dump leaves large objects out when --schema is given; they belong to the database.
    // (-b: spelled --blobs before PostgreSQL 16 and --large-objects since; the short form is both.)
    ...(run.scope.include?.length ? ['-b'] : []),
    ...schemaArgs(run.scope),
  ];
  try {
    inventory = await takeInventory({
      conn: run.conn,
      tls: run.tls,
      snapshot,
      scope: run.scope,
      budgetMs,
      perTableMs,
      // Like the counts, fingerprints leave most of the time for the dump itself.
      fingerprintBudgetMs: Math.max(
        0,
        Math.min(
          options.fingerprintBudgetMs ?? DEFAULT_FINGERPRINT_BUDGET_SECONDS * 1000,
          run.deadlineAt ? run.deadlineAt() / 4 : Infinity,
        ),
      ),
      lockTimeoutMs: options.countLockTimeoutMs ?? 5_000,
      backupId: placement.backupId,
      log,
    });
    log.info('snapshot taken', {
      backupId: placement.backupId,
      tables: inventory.tables.length,
      exactCounts: inventory.tables.every((t) => t.exact),
      largeObjects: inventory.largeObjects.count,
    });
    const streamRun = {
      options,
      placement,
      pgDumpPath: pre.pgDump.path,
      pgDumpMajor: pre.pgDump.major,
      compression: run.compression,
      databaseBytes: pre.databaseBytes,
      env: run.env,
      lock: run.lock,
      deadlineAt: run.deadlineAt,
      log,
      fail,
      clean: run.clean,
    };
    stored = directory
      ? await dumpDirectory(
          {
            ...streamRun,
            workBase: options.workDir,
            // Uploading needs no snapshot: release it (and the xmin it holds back) once pg_dump is done.
            afterDump: () => client.query('COMMIT').then(() => undefined),
          },
          dumpArgs,
        )
      : await streamDump(streamRun, dumpArgs);
  } finally {
    // The snapshot has served its purpose (or the dump failed); end the transaction either way.
    await client.query('COMMIT').catch(() => undefined);
  }
  for (const warning of stored.warnings)
    log.warn('pg_dump warning', { backupId: placement.backupId, warning });
  log.info('dump stored', {
    backupId: placement.backupId,
    key: stored.object?.key ?? placement.keys.dump,
    compression: stored.compression?.kind ?? run.compression.kind,
    rawBytes: stored.rawBytes,
    // Last: the CLI's progress line ends with the stored size.
    bytes: stored.bytes,
  });
  const { tables, catalog } = inventory;

  const globals = await storeGlobals({
    options,
    placement,
    pgDumpall: pre.pgDumpall,
    pgDumpallProblem: pre.pgDumpallProblem,
    env: run.env,
    lock: run.lock,
    log,
    fail,
    clean: run.clean,
  });
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
      ...(inventory.searchPath !== undefined ? { searchPath: inventory.searchPath } : {}),
      ...(pre.standby ? { standby: pre.standby } : {}),
    },
    pgDump: {
      version: pre.pgDump.version,
      major: pre.pgDump.major,
      format: directory ? 'directory' : 'custom',
      // The snapshot id is per-run noise; the options that shape the archive are what matter.
      options: dumpArgs.filter((a) => !a.startsWith('--snapshot=')),
      ...(stored.warnings.length > 0 ? { warnings: stored.warnings } : {}),
    },
    object: stored.object ?? {
      key: placement.keys.dump,
      bytes: stored.bytes,
      sha256: stored.sha256,
      ...(stored.versionId ? { versionId: stored.versionId } : {}),
    },
    ...(stored.files ? { layout: 'directory', files: stored.files } : {}),
    compression: stored.compression ?? manifestCompression(run.compression, stored.rawBytes),
    globals,
    rowCounts: {
      exact: tables.every((t) => t.exact),
      budgetSeconds: budgetMs / 1000,
      perTableSeconds: perTableMs / 1000,
    },
    tables,
    catalog,
    schemas: { include: [...(run.scope.include ?? [])], exclude: [...(run.scope.exclude ?? [])] },
    encryption: options.kmsKeyId ? { kmsKeyId: options.kmsKeyId } : {},
    extensions: inventory.extensions,
    largeObjects: inventory.largeObjects,
    ...(inventory.fingerprints ? { fingerprints: inventory.fingerprints } : {}),
    ...(options.reason ? { reason: options.reason } : {}),
    ...(options.preset ? { preset: options.preset } : {}),
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
