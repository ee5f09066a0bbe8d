/**
 * `restorable`: the operator CLI. The same core code the Lambdas run, pointed at AWS or at any
 * S3-compatible server through the standard AWS environment (`AWS_ENDPOINT_URL_S3`, `AWS_REGION`,
 * credentials).
 *
 * Exit codes: 0 success; 1 the operation failed (a verify found a problem, a restore was refused,
 * a drill FAILED, an error); 2 the command line was wrong; 130 interrupted (Ctrl-C). Errors are one
 * line on stderr, `restorable: error: ...`, scrubbed of passwords.
 */
// @ts-nocheck

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { S3Client } from '@aws-sdk/client-s3';
import type { BackupEntry } from '../../lambda/core/catalog';
import type { VerifyResult } from '../../lambda/core/verify';
import type { RestoreProgress, RestoreResult } from '../../lambda/core/restore';
import type { DrillReport } from '../../lambda/core/drill';
import { stopAllLocalClustersSync } from '../../lambda/core/local-cluster';
import { isTier, TIERS, type Tier } from '../../lambda/core/tiers';
import type { CoreLogger } from '../../lambda/core/logger';
import type { SslMode } from '../../lambda/core/secrets';
import type { Manifest } from '../../lambda/core/manifest';
import type { CliConnection } from './connection';
import { formatBytes, formatSeconds, Progress, table } from './output';
import { runInterruptHandlers } from './cleanup';

/**
 * The core, pg and the AWS SDK, loaded when a command first needs them (see core.ts). require
 * rather than import(): under tsx's CommonJS hook a dynamic import() of a .ts file bypasses it.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const core = (): typeof import('./core') => require('./core');

/** libpq sslmodes, for help text (parsing checks against the core's SSL_MODES). */
const SSL_MODE_NAMES = 'disable, require, verify-ca, verify-full';

/** Messages shown to the operator are scrubbed of every secret we hold. */
const secrets: string[] = [];

/**
 * Every secret we hold, and the password of anything that looks like a URL (a mistyped flag can
 * echo its value in commander's error), replaced by `***`.
 */
function scrub(text: string): string {
  const redacted = secrets.length > 0 ? core().redact(text, secrets) : text;
  return redacted.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)(?!password@)[^@\s]*@/gi, '$1***@');
}

class UsageError extends Error {}
class Failure extends Error {}
/** The operator pressed Ctrl-C and the command stopped cleanly. */
class Interrupted extends Error {}

/**
 * Backup, restore and drill hold a PGPASSFILE and temporary files (a drill also an ephemeral
 * cluster), and backup holds an open multipart
 * upload: on the first Ctrl-C they are asked to stop through this signal so their own cleanup runs
 * (a process.exit from the signal handler would skip it). A second Ctrl-C exits at once.
 */
let interruption: AbortController | undefined;

function interruptible(): AbortSignal {
  interruption = new AbortController();
  return interruption.signal;
}

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIo: Io = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

interface StoreOptions {
  db: string;
  bucket?: string;
  stack?: string;
  region?: string;
  json?: boolean;
  progress?: boolean;
}

interface Store {
  s3: S3Client;
  bucket: string;
  replicaBucket?: string;
  replicaRegion?: string;
}

/** The bucket from `--bucket`, or from the deployed BackupStack's outputs with `--stack`. */
async function resolveStore(
  o: StoreOptions & { replicaBucket?: string; replicaRegion?: string },
): Promise<Store> {
  let bucket = o.bucket;
  let replicaBucket = o.replicaBucket;
  let replicaRegion = o.replicaRegion;
  if (!bucket && o.stack) {
    // Loaded on use: most runs name --bucket, and loading this client costs start-up time.
    const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
    const cfn = new CloudFormationClient(o.region ? { region: o.region } : {});
    let out;
    try {
      out = await cfn.send(new DescribeStacksCommand({ StackName: o.stack }));
    } catch (e) {
      throw new Failure(`cannot read stack ${o.stack}: ${(e as Error).name}: ${(e as Error).message}`);
    }
    const outputs = new Map((out.Stacks?.[0]?.Outputs ?? []).map((x) => [x.OutputKey, x.OutputValue]));
    bucket = outputs.get('BackupBucketName');
    replicaBucket ??= outputs.get('ReplicaBucketName');
    replicaRegion ??= outputs.get('ReplicaRegion');
    if (!bucket) throw new Failure(`stack ${o.stack} has no BackupBucketName output`);
    if (replicaBucket && !replicaRegion) {
      // The stack names the replica bucket but not its region: ask S3 where the bucket lives.
      const located = await core()
        .makeS3Client(o.region)
        .send(new (core().GetBucketLocationCommand)({ Bucket: replicaBucket }))
        .catch((e: Error) => {
          throw new Failure(
            `cannot find the region of replica bucket ${replicaBucket}: ${e.name}: ${e.message}`,
          );
        });
      // us-east-1 buckets report no LocationConstraint.
      replicaRegion = located.LocationConstraint || 'us-east-1';
    }
  }
  if (!bucket) throw new UsageError('give --bucket <name> or --stack <name>');
  const { makeS3Client, HeadBucketCommand, isNotFound } = core();
  const s3 = makeS3Client(o.region);
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (e) {
    const where = process.env.AWS_ENDPOINT_URL_S3 ?? `S3 (${await s3.config.region()})`;
    if (isNotFound(e)) throw new Failure(`bucket ${bucket} does not exist at ${where}`);
    throw new Failure(
      `bucket ${bucket} is not reachable at ${where}: ${(e as Error).name}: ${(e as Error).message}`,
    );
  }
  return { s3, bucket, replicaBucket, replicaRegion };
}

async function findBackup(store: Store, db: string, backup: string): Promise<BackupEntry> {
  if (backup === 'latest') {
    const latest = await core().latestValidBackup(store.s3, store.bucket, db);
    if (!latest) throw new Failure(`no valid backup of ${db} in bucket ${store.bucket}`);
    return latest;
  }
  const all = await core().listBackups(store.s3, store.bucket, db, { includeInvalid: true });
  const found = all.find((b) => b.backupId === backup);
  if (!found) throw new Failure(`backup ${backup} not found for database ${db} in bucket ${store.bucket}`);
  if (!found.valid) throw new Failure(`backup ${backup} is not valid: ${found.problem}`);
  return found;
}

/**
 * The backup to verify. Unlike restore, verify also takes a backup the listing already marks
 * invalid (a dump whose size changed, say): finding out exactly what is wrong with it is the point.
 * `latest` is the newest backup with a readable manifest, valid or not, so a damaged newest backup
 * is reported rather than silently passed over for an older good one.
 */
async function findBackupToVerify(store: Store, db: string, backup: string): Promise<BackupEntry> {
  const all = await core().listBackups(store.s3, store.bucket, db, { includeInvalid: true });
  const withManifest = all.filter((b) => b.manifest !== undefined);
  if (backup === 'latest') {
    if (withManifest.length === 0) throw new Failure(`no backups of ${db} in bucket ${store.bucket}`);
    return withManifest[0];
  }
  const found = all.find((b) => b.backupId === backup);
  if (!found) throw new Failure(`backup ${backup} not found for database ${db} in bucket ${store.bucket}`);
  if (!found.manifest) throw new Failure(`backup ${backup} cannot be verified: ${found.problem}`);
  return found;
}

function parseTier(value: string): Tier | 'auto' {
  if (value === 'auto' || isTier(value)) return value;
  throw new UsageError(`--tier must be auto or one of ${TIERS.join(', ')} (got ${value})`);
}

function parseSslMode(value: string): SslMode {
  if ((core().SSL_MODES as readonly string[]).includes(value)) return value as SslMode;
  throw new UsageError(`--sslmode must be one of ${SSL_MODE_NAMES} (got ${value})`);
}

function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new UsageError(`${flag} must be a positive integer (got ${value})`);
    return n;
  };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function targetConnection(flag: string, url: string, sslMode: SslMode | undefined): CliConnection {
  // An explicit --sslmode wins, then the URL's sslmode, then verify-full (never a silent downgrade).
  let conn: CliConnection;
  try {
    conn = core().connectionFromUrl(url, 'verify-full');
  } catch (e) {
    // The core's URL errors never echo the URL (it may hold a password).
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
  if (conn.password) secrets.push(conn.password);
  return sslMode ? { ...conn, sslMode } : conn;
}

/**
 * Connects once before any work, so an unreachable database, a wrong password or a TLS problem is
 * one clear line naming the database (without its password) rather than a bare socket error from
 * deep inside a restore.
 */
async function probeConnection(
  conn: CliConnection,
  caBundlePath: string | undefined,
  what: string,
): Promise<void> {
  const { Client, describeTarget, pgClientConfig } = core();
  const where = describeTarget(conn);
  let client: InstanceType<typeof Client>;
  try {
    client = new Client(
      pgClientConfig(conn, { sslMode: conn.sslMode, caBundlePath }, { connectionTimeoutMillis: 15_000 }),
    );
  } catch (e) {
    throw new Failure(
      `${what} ${where}: ${(e as Error).message} (pass --ca-bundle <file>, or --sslmode for a server without TLS)`,
    );
  }
  try {
    await client.connect();
  } catch (e) {
    const message = (e as Error).message;
    // node-postgres' words when the server asks for a password and none was given.
    const hint = /client password must be a string|no password/i.test(message)
      ? 'the server wants a password and none was given: set PGPASSWORD, add it to ~/.pgpass, or put it in the URL'
      : message;
    throw new Failure(`cannot connect to ${what} ${where}: ${hint}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function showProgress(o: { progress?: boolean }): boolean {
  return o.progress ?? Boolean(process.stderr.isTTY);
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

async function cmdList(o: StoreOptions & { tier?: string }, io: Io): Promise<number> {
  if (o.tier !== undefined && !isTier(o.tier)) {
    throw new UsageError(`--tier must be one of ${TIERS.join(', ')} (got ${o.tier})`);
  }
  const tier = o.tier as Tier | undefined;
  const store = await resolveStore(o);
  const entries = await core().listBackups(store.s3, store.bucket, o.db, { tier, includeInvalid: true });
  const shown = entries;
  if (o.json) {
    io.out(
      JSON.stringify(
        shown.map((b) => ({
          backupId: b.backupId,
          tier: b.tier,
          period: b.period,
          createdAt: b.createdAt.toISOString(),
          lastModified: b.lastModified?.toISOString(),
          bytes: b.bytes,
          valid: b.valid,
          problem: b.problem,
          manifestKey: b.manifestKey,
          rowCountsExact: b.manifest?.rowCounts.exact,
        })),
        null,
        2,
      ),
    );
    return 0;
  }
  if (shown.length === 0) {
    io.out(`no backups of ${o.db} in bucket ${store.bucket}${tier ? ` (tier ${tier})` : ''}`);
    return 0;
  }
  io.out(
    table(
      ['BACKUP', 'TIER', 'PERIOD', 'SIZE', 'TABLES', 'CREATED (UTC)', 'STATUS'],
      shown.map((b) => [
        b.backupId,
        b.tier,
        b.period,
        b.bytes === undefined ? '-' : formatBytes(b.bytes),
        b.manifest ? b.manifest.tables.length : '-',
        b.createdAt.toISOString().replace('.000Z', 'Z'),
        b.valid ? 'valid' : `INVALID: ${b.problem ?? 'unknown'}`,
      ]),
    ),
  );
  return 0;
}

function printVerify(result: VerifyResult, o: { json?: boolean }, io: Io): number {
  if (o.json) io.out(JSON.stringify(result, null, 2));
  else {
    io.out(`backup ${result.backupId ?? '?'}: ${result.ok ? 'OK' : result.pending ? 'PENDING' : 'FAILED'}`);
    io.out(
      table(
        ['CHECK', 'RESULT', 'DETAIL'],
        result.checks.map((c) => [c.name, c.code ? `${c.status} (${c.code})` : c.status, c.detail]),
      ),
    );
  }
  return result.ok ? 0 : 1;
}

async function cmdVerify(
  o: StoreOptions & { backup: string; replicaBucket?: string; replicaRegion?: string },
  io: Io,
): Promise<number> {
  if (Boolean(o.replicaBucket) !== Boolean(o.replicaRegion) && !o.stack) {
    throw new UsageError('--replica-bucket and --replica-region go together');
  }
  const store = await resolveStore(o);
  const entry = await findBackupToVerify(store, o.db, o.backup);
  const replica =
    store.replicaBucket && store.replicaRegion
      ? {
          s3: core().makeS3Client(store.replicaRegion),
          bucket: store.replicaBucket,
          region: store.replicaRegion,
        }
      : undefined;
  const result = await core().verifyBackup({
    s3: store.s3,
    bucket: store.bucket,
    manifestKey: entry.manifestKey,
    replica,
  });
  return printVerify(result, o, io);
}

async function cmdBackup(
  o: StoreOptions & {
    url: string;
    tier: string;
    sslmode?: string;
    caBundle?: string;
    kmsKeyId?: string;
    objectLockMode: string;
    schema?: string[];
    excludeSchema?: string[];
  },
  io: Io,
): Promise<number> {
  const tier = parseTier(o.tier);
  const lock = o.objectLockMode.toUpperCase();
  if (!['GOVERNANCE', 'COMPLIANCE', 'NONE'].includes(lock)) {
    throw new UsageError(
      `--object-lock-mode must be GOVERNANCE, COMPLIANCE or NONE (got ${o.objectLockMode})`,
    );
  }
  const conn = targetConnection(
    '--url',
    o.url,
    o.sslmode === undefined ? undefined : parseSslMode(o.sslmode),
  );
  const store = await resolveStore(o);
  await probeConnection(conn, o.caBundle, 'database');
  const progress = new Progress(showProgress(o));
  progress.update(`dumping ${o.db} from ${core().describeTarget(conn)}...`);
  const signal = interruptible();
  let manifest: Manifest;
  try {
    manifest = await core().dumpDatabase({
      databaseId: o.db,
      connection: conn,
      sslMode: conn.sslMode,
      caBundlePath: o.caBundle,
      s3: store.s3,
      bucket: store.bucket,
      kmsKeyId: o.kmsKeyId,
      objectLockMode: lock as 'GOVERNANCE' | 'COMPLIANCE' | 'NONE',
      tier,
      schemas: { include: o.schema ?? [], exclude: o.excludeSchema ?? [] },
      logger: progressLogger(progress, io),
      // The dump's deadline machinery is how it stops cleanly (pg_dump killed, multipart upload
      // aborted, no manifest): Ctrl-C makes the time run out.
      remainingTimeMs: () => (signal.aborted ? 0 : Number.MAX_SAFE_INTEGER),
      safetyMarginMs: 0,
    });
  } catch (e) {
    if (signal.aborted && e instanceof core().BackupError) {
      throw new Interrupted(
        `backup interrupted: ${e.backupId ?? o.db} not written (upload aborted, no manifest)`,
      );
    }
    throw e;
  } finally {
    progress.done();
  }
  if (o.json) io.out(JSON.stringify(manifest, null, 2));
  else printManifestSummary(manifest, io);
  return 0;
}

function printManifestSummary(m: Manifest, io: Io): void {
  const rows = m.tables.reduce((sum, t) => sum + (t.kind === 'r' ? t.rows : 0), 0);
  io.out(
    `backup ${m.backupId} written: ${m.tier} ${m.period}, ${formatBytes(m.object.bytes)}, ` +
      `${m.tables.length} tables, ${rows} rows${m.rowCounts.exact ? '' : ' (some estimated)'}, ` +
      `${formatSeconds(m.durationSeconds)}`,
  );
  io.out(`  archive  ${m.object.key}`);
  io.out(`  sha256   ${m.object.sha256}`);
  io.out(`  roles    ${m.globals.present ? m.globals.key : `absent (${m.globals.reason})`}`);
  io.out(`  retain   until ${m.retainUntil}`);
}

/** Core log lines as progress (info) and warnings (always shown); core never logs credentials. */
function progressLogger(progress: Progress, io: Io): CoreLogger {
  const describe = (message: string, extra: Record<string, unknown>[]) => {
    const fields = Object.entries(Object.assign({}, ...extra) as Record<string, unknown>)
      .filter(([, v]) => v !== undefined && (typeof v !== 'object' || v === null))
      .map(([k, v]) => `${k}=${String(v)}`);
    return fields.length > 0 ? `${message} (${fields.join(', ')})` : message;
  };
  return {
    debug: () => undefined,
    info: (message, ...extra) => progress.update(describe(message, extra), message),
    warn: (message, ...extra) => io.err(`warning: ${scrub(describe(message, extra))}`),
    error: () => undefined, // failures reach the operator as the command's error
  };
}

function describeRestoreProgress(p: RestoreProgress): string {
  switch (p.phase) {
    case 'download':
      return `downloading ${formatBytes(p.bytes)} / ${formatBytes(p.totalBytes)}`;
    case 'roles':
      return `roles: ${p.applied} applied, ${p.failed} failed`;
    case 'restore':
      return `restoring: ${p.entriesDone}/${p.entriesTotal} TOC entries${p.item ? ` (${p.item})` : ''}`;
    case 'count':
      return `counting rows of ${p.tables} tables`;
  }
}

async function cmdRestore(
  o: StoreOptions & {
    backup: string;
    targetUrl: string;
    table?: string[];
    jobs?: number;
    force?: boolean;
    clean?: boolean;
    sslmode?: string;
    caBundle?: string;
    roles: boolean;
  },
  io: Io,
): Promise<number> {
  if (o.clean && !o.force)
    throw new UsageError('--clean replaces what the target holds: add --force to confirm');
  if (o.clean && o.table)
    throw new UsageError('--clean is for a whole-database restore; --table --force replaces tables');
  const conn = targetConnection(
    '--target-url',
    o.targetUrl,
    o.sslmode === undefined ? undefined : parseSslMode(o.sslmode),
  );
  const store = await resolveStore(o);
  const entry = await findBackup(store, o.db, o.backup);
  await probeConnection(conn, o.caBundle, 'target');
  const progress = new Progress(showProgress(o));
  const signal = interruptible();
  let result: RestoreResult;
  try {
    result = await core().restoreBackup(
      { s3: store.s3, bucket: store.bucket, manifest: entry.manifest, manifestKey: entry.manifestKey },
      { ...conn, caBundlePath: o.caBundle },
      {
        jobs: o.jobs,
        tables: o.table,
        force: o.force,
        clean: o.clean,
        restoreRoles: o.roles,
        signal,
        onProgress: (p) => progress.update(describeRestoreProgress(p), progressKey(p)),
      },
    );
  } catch (e) {
    throw restoreFailure(e, signal, o);
  } finally {
    progress.done();
  }
  const mismatched = result.tables.filter(
    (t) => t.expectedExact && t.expected !== null && t.restored !== t.expected,
  );
  if (o.json) io.out(JSON.stringify({ ...result, mismatches: mismatched.length }, null, 2));
  else printRestore(result, mismatched.length, io);
  return mismatched.length === 0 ? 0 : 1;
}

/** Each phase, and the end of each phase, is shown even when it comes right after the last line. */
function progressKey(p: RestoreProgress): string {
  if (p.phase === 'download') return p.bytes === p.totalBytes ? 'download-done' : 'download';
  if (p.phase === 'restore') return p.entriesDone === p.entriesTotal ? 'restore-done' : 'restore';
  return p.phase;
}

/** Core restore errors, worded for the command line (flags rather than option names, next steps). */
function restoreFailure(e: unknown, signal: AbortSignal, o: { force?: boolean; clean?: boolean }): unknown {
  const { RestoreError } = core();
  if (!(e instanceof RestoreError)) return e;
  if (signal.aborted) return new Interrupted(`restore interrupted: ${e.message}`);
  const message = e.message.replace(/\bpass force\b/, 'pass --force');
  switch (e.code) {
    case 'CHECKSUM_MISMATCH':
    case 'SIZE_MISMATCH':
      return new RestoreError(
        e.code,
        `${message}; the target was not touched (pick another backup from \`restorable list\`)`,
      );
    case 'PG_RESTORE_FAILED':
      if (o.force && !o.clean && /already exists/.test(message)) {
        return new RestoreError(
          e.code,
          `${message} (add --clean to drop and re-create what the backup holds)`,
        );
      }
      return new RestoreError(e.code, message);
    default:
      return new RestoreError(e.code, message);
  }
}

/** `shop.orders`, or `"Mixed Case"."Audit Log"`: a name the operator can paste into --table. */
function qualifiedName(schema: string, name: string): string {
  const q = (id: string) => (/^[a-z_][a-z0-9_$]*$/.test(id) ? id : `"${id.replace(/"/g, '""')}"`);
  return `${q(schema)}.${q(name)}`;
}

function printRestore(r: RestoreResult, mismatches: number, io: Io): void {
  io.out(
    `restored ${r.backupId} (${r.mode === 'tables' ? `${r.tables.length} table(s)` : 'whole database'}) into ` +
      `${r.target} in ${formatSeconds(r.restoreSeconds)} with ${r.jobs} job(s); roles: ` +
      (r.roles.attempted
        ? `${r.roles.applied} applied, ${r.roles.failed.length} failed`
        : `skipped (${r.roles.reason})`),
  );
  io.out(
    table(
      ['TABLE', 'MANIFEST', 'RESTORED', ''],
      r.tables.map((t) => [
        qualifiedName(t.schema, t.name),
        t.expected === null ? '-' : `${t.expected}${t.expectedExact ? '' : '~'}`,
        t.restored === null ? '-' : t.restored,
        t.expected !== null && t.expectedExact && t.restored !== t.expected ? 'MISMATCH' : 'ok',
      ]),
    ),
  );
  for (const w of r.warnings) io.err(`warning: ${scrub(w)}`);
  io.out(
    mismatches === 0 ? 'row counts match the manifest' : `${mismatches} table(s) differ from the manifest`,
  );
}

async function cmdDrill(
  o: StoreOptions & { local?: boolean; replicaBucket?: string; checks?: string; rtoMinutes?: number },
  io: Io,
): Promise<number> {
  if (!o.local) {
    throw new UsageError(
      'only --local drills run from the CLI; deployed drills run from their Step Functions workflow',
    );
  }
  const store = await resolveStore(o);
  let checks: unknown[] = [];
  if (o.checks) {
    const fs = await import('node:fs');
    try {
      checks = JSON.parse(fs.readFileSync(o.checks, 'utf8'));
    } catch (e) {
      throw new UsageError(`--checks ${o.checks}: ${(e as Error).message}`);
    }
  }
  const progress = new Progress(showProgress(o));
  progress.update(`drilling ${o.db}: selecting a backup, starting an ephemeral cluster...`);
  const { LocalDatabaseProvider, runDrill } = core();
  const signal = interruptible();
  const { report, reportKey } = await runDrill({
    signal,
    databaseId: o.db,
    source: o.replicaBucket
      ? { s3: store.s3, bucket: o.replicaBucket, kind: 'replica' }
      : { s3: store.s3, bucket: store.bucket, kind: 'primary' },
    reportS3: store.s3,
    reportBucket: store.bucket,
    provider: new LocalDatabaseProvider(),
    settings: {
      checks: checks as never,
      ...(o.rtoMinutes ? { rtoTargetMinutes: o.rtoMinutes } : {}),
    },
    logger: progressLogger(progress, io),
  });
  progress.done();
  if (o.json) io.out(JSON.stringify({ ...report, reportKey }, null, 2));
  else printDrillReport(report, reportKey, io);
  if (signal.aborted) {
    throw new Interrupted(
      `drill interrupted at ${report.failure?.step ?? 'the end'}; ephemeral cluster ` +
        (report.ephemeral.released ? 'released' : 'NOT released'),
    );
  }
  return report.status === 'PASSED' ? 0 : 1;
}

export function printDrillReport(r: DrillReport, reportKey: string | undefined, io: Io): void {
  io.out(`drill ${r.drillId}: ${r.status}${r.failure ? ` at ${r.failure.step}: ${r.failure.reason}` : ''}`);
  io.out(`  backup     ${r.backupId ?? 'none'} (${r.source.kind} bucket ${r.source.bucket})`);
  if (r.skippedBackups.length > 0) {
    io.out(`  skipped    ${r.skippedBackups.map((s) => `${s.backupId} (${s.reason})`).join(', ')}`);
  }
  io.out(
    `  RTO        ${r.rtoSeconds === null ? '-' : formatSeconds(r.rtoSeconds)} ` +
      `(target ${formatSeconds(r.rtoTargetSeconds)}); restore ${r.restoreSeconds === null ? '-' : formatSeconds(r.restoreSeconds)}`,
  );
  if (r.checks) {
    io.out(`  checks     ${r.checks.passed} passed, ${r.checks.failed} failed`);
    for (const f of r.checks.results.filter((c) => !c.ok)) io.out(`    FAILED ${f.name}: ${f.detail ?? ''}`);
  }
  io.out(
    `  ephemeral  ${r.ephemeral.id ?? '-'} ${r.ephemeral.released ? 'released' : `NOT RELEASED ${r.ephemeral.releaseError ?? ''}`}`,
  );
  if (reportKey) io.out(`  report     ${reportKey}`);
}

// ---------------------------------------------------------------------------------------------
// Program
// ---------------------------------------------------------------------------------------------

function storeOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--db <id>', 'database id (as in the config)')
    .option('--bucket <name>', 'backup bucket')
    .option('--stack <name>', 'read the bucket names from this deployed BackupStack')
    .option('--region <region>', 'AWS region of the bucket (default: AWS_REGION)')
    .option('--json', 'machine-readable output')
    .option('--progress', 'show progress on stderr (default: when stderr is a terminal)')
    .option('--no-progress', 'never show progress');
}

export function buildProgram(io: Io, run: (code: number) => void): Command {
  const program = new Command('restorable')
    .description('PostgreSQL backups you have proven you can restore: list, verify, back up, restore, drill.')
    .version(packageVersion(), '-V, --version')
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      // Commander's "error: unknown option '--x'" becomes the same single line as every other error.
      outputError: (s, write) =>
        write(`restorable: error: ${scrub(s.trim().replace(/^error: /, ''))} (see --help)\n`),
    })
    .exitOverride();

  const wrap =
    <T>(fn: (o: T, io: Io) => Promise<number>) =>
    async (o: T) =>
      run(await fn(o, io));

  storeOptions(program.command('list').description('list the backups of a database, newest first'))
    .option('--tier <tier>', `only this tier (${TIERS.join(', ')})`)
    .action(wrap(cmdList));

  storeOptions(
    program.command('verify').description('re-check a backup: checksum, size, archive TOC, replica'),
  )
    .option('--backup <id>', 'backup id, or latest', 'latest')
    .option('--replica-bucket <name>', 'also check the copy in this replica bucket')
    .option('--replica-region <region>', 'region of the replica bucket')
    .action(wrap(cmdVerify));

  storeOptions(program.command('backup').description('dump a database into the bucket now'))
    .requiredOption('--url <postgres-url>', 'database to dump (password: prefer PGPASSWORD or ~/.pgpass)')
    .option('--tier <tier>', 'auto (grandfather-father-son by first success) or a tier', 'auto')
    .option('--sslmode <mode>', `TLS mode (${SSL_MODE_NAMES}; default: the URL's, else verify-full)`)
    .option('--ca-bundle <file>', 'CA bundle for verify-full (default: the RDS bundle)')
    .option('--kms-key-id <key>', 'KMS key for SSE-KMS (default: the bucket default)')
    .option('--object-lock-mode <mode>', 'GOVERNANCE, COMPLIANCE or NONE', 'GOVERNANCE')
    .option('--schema <name>', 'only this schema (repeatable)', collect)
    .option('--exclude-schema <name>', 'leave this schema out (repeatable)', collect)
    .action(wrap(cmdBackup));

  storeOptions(
    program
      .command('restore')
      .description('restore a backup into a database: checksum first, roles then data, row counts after'),
  )
    .requiredOption('--backup <id>', 'backup id, or latest')
    .requiredOption('--target-url <postgres-url>', 'database to restore into (password: prefer PGPASSWORD)')
    .option('--table <schema.name>', 'restore only this table (repeatable)', collect)
    .addOption(new Option('--jobs <n>', 'pg_restore parallel jobs').argParser(positiveInt('--jobs')))
    .option('--force', 'restore into a target that is not empty (with --table: replace tables that exist)')
    .option('--clean', 'with --force: drop each object the backup holds before re-creating it')
    .option('--no-roles', 'do not create the roles from the backup first')
    .option('--sslmode <mode>', `TLS mode for the target (${SSL_MODE_NAMES})`)
    .option('--ca-bundle <file>', 'CA bundle for verify-full')
    .action(wrap(cmdRestore));

  storeOptions(
    program.command('drill').description('restore drill into an ephemeral local cluster, with checks'),
  )
    .option('--local', 'run the drill here, into a throwaway local PostgreSQL cluster')
    .option('--replica-bucket <name>', 'read the backup from this replica bucket instead')
    .option('--checks <file>', 'JSON file with operator checks [{name, sql, expect}]')
    .addOption(new Option('--rto-minutes <n>', 'RTO target').argParser(positiveInt('--rto-minutes')))
    .action(wrap(cmdDrill));

  program
    .command('demo')
    .description('the whole cycle on this machine: seeded PostgreSQL, local S3, backup, verify, drill')
    .option('--small', 'a small dataset (seconds instead of about a minute)')
    .option('--keep', 'leave the cluster and S3 server running until Ctrl-C')
    .action(async (o: { small?: boolean; keep?: boolean }) => {
      // Loaded on use: the demo's S3 server is a large part of the CLI's start-up time. require,
      // not import(): under tsx's CommonJS hook a dynamic import() of a .ts file bypasses the hook.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { runDemo } = require('./demo') as typeof import('./demo');
      run(await runDemo(o, io));
    });

  return program;
}

function packageVersion(): string {
  try {
    return (
      JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    return 'unknown';
  }
}

function errorMessage(e: unknown): string {
  const err = e as Error & { reason?: string; code?: string };
  const prefix =
    err?.reason ?? (typeof err?.code === 'string' && /^[A-Z_]+$/.test(err.code) ? err.code : undefined);
  const text = (err?.message ?? String(e)).split('\n')[0];
  return prefix && !text.includes(prefix) ? `${text} [${prefix}]` : text;
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  let code = 0;
  const interrupted = (signal: NodeJS.Signals) => {
    if (interruption && !interruption.signal.aborted) {
      // First Ctrl-C during a backup or restore: let it stop and clean up after itself.
      io.err(`\nrestorable: ${signal}: stopping (again to quit at once)`);
      interruption.abort();
      return;
    }
    io.err(`\nrestorable: ${signal}: cleaning up`);
    stopAllLocalClustersSync();
    runInterruptHandlers();
    process.exit(130);
  };
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; bad flags are usage errors.
      return e.exitCode === 0 ? 0 : 2;
    }
    io.err(`restorable: error: ${scrub(errorMessage(e))}`);
    return e instanceof UsageError ? 2 : e instanceof Interrupted ? 130 : 1;
  } finally {
    interruption = undefined;
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
  }
}
