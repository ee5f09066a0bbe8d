/**
 * `restorable backup`: dumps a database into the bucket now, the way the scheduled Lambda does,
 * and prints the manifest it wrote. Ctrl-C aborts the upload and writes no manifest. A backup with
 * `--reason` is an on-demand one (the `adhoc` tier, the reason in its manifest); with `--stack` and
 * no `--url` the deployed workflow takes it instead of this machine (../remote-backup.ts).
 */
import type { Command } from 'commander';
import { DEFAULT_SSL_MODE, DumpFromSchema, type DumpFromSetting } from '../../../lambda/core/backup-settings';
import {
  DEFAULT_OBJECT_LOCK_MODE,
  OBJECT_LOCK_MODES,
  type ObjectLockMode,
} from '../../../lambda/core/handler-env';
import type { Manifest } from '../../../lambda/core/manifest';
import { DATABASE_PRESETS, DatabasePresetSchema, type DatabasePreset } from '../../../lambda/core/presets';
import { isStoredTier, STORED_TIERS, type StoredTier } from '../../../lambda/core/tiers';
import { interruptible } from '../cleanup';
import { parseSslMode, probeConnection, SSL_MODE_NAMES, targetConnection } from '../connection';
import { Interrupted, UsageError } from '../errors';
import { core } from '../load-core';
import { formatBytes, formatSeconds, Progress, progressLogger, showProgress, type Io } from '../output';
import { runRemoteBackup } from '../remote-backup';
import { resolveStore, storeOptions, type StoreOptions } from '../store';
import { collect, runs, type CliContext } from './command';

export function register(program: Command, cli: CliContext): void {
  storeOptions(program.command('backup').description('dump a database into the bucket now'))
    .option('--url <postgres-url>', 'database to dump (password: prefer PGPASSWORD or ~/.pgpass)')
    .option(
      '--reason <text>',
      'why (recorded in the manifest; an adhoc backup); with --stack and no --url: run the deployed workflow',
    )
    .option('--tier <tier>', 'auto (grandfather-father-son by first success) or a tier', 'auto')
    .option('--sslmode <mode>', `TLS mode (${SSL_MODE_NAMES}; default: the URL's, else ${DEFAULT_SSL_MODE})`)
    .option('--ca-bundle <file>', 'CA bundle for verify-full (default: the RDS bundle)')
    .option('--kms-key-id <key>', 'KMS key for SSE-KMS (default: the bucket default)')
    .option('--object-lock-mode <mode>', OBJECT_LOCK_MODE_NAMES, DEFAULT_OBJECT_LOCK_MODE)
    .option('--schema <name>', 'only this schema (repeatable)', collect)
    .option('--exclude-schema <name>', 'leave this schema out (repeatable)', collect)
    .option(
      '--preset <name>',
      `a platform's rules (${DATABASE_PRESETS.join(', ')}: leave its own schemas out), as databases[].preset`,
    )
    .option(
      '--dump-from <host[:port]>',
      "dump from this read replica (the --url's credentials; port default: the --url's), as databases[].dumpFrom",
    )
    .action(runs(cli, backup));
}

/** "GOVERNANCE, COMPLIANCE or NONE": the dump handler's modes, the same default. */
const OBJECT_LOCK_MODE_NAMES = `${OBJECT_LOCK_MODES.slice(0, -1).join(', ')} or ${OBJECT_LOCK_MODES.at(-1)}`;

function parseObjectLockMode(value: string): ObjectLockMode {
  const mode = value.toUpperCase();
  if ((OBJECT_LOCK_MODES as readonly string[]).includes(mode)) return mode as ObjectLockMode;
  throw new UsageError(`--object-lock-mode must be ${OBJECT_LOCK_MODE_NAMES} (got ${value})`);
}

function parsePreset(value: string): DatabasePreset {
  const parsed = DatabasePresetSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new UsageError(`--preset must be ${DATABASE_PRESETS.join(' or ')} (got ${value})`);
}

/** `host`, `host:port` or `[v6-address]:port` into the dump handler's DUMP_FROM shape (DumpFromSchema). */
export function parseDumpFrom(value: string): DumpFromSetting {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(value.trim());
  const parsed = m
    ? DumpFromSchema.safeParse({ host: m[1] ?? m[2], ...(m[3] ? { port: Number(m[3]) } : {}) })
    : undefined;
  if (parsed?.success) return parsed.data;
  throw new UsageError(`--dump-from must be host or host:port with a port of 1-65535 (got ${value})`);
}

function parseTier(value: string): StoredTier | 'auto' {
  if (value === 'auto' || isStoredTier(value)) return value;
  throw new UsageError(`--tier must be auto or one of ${STORED_TIERS.join(', ')} (got ${value})`);
}

export async function backup(
  o: StoreOptions & {
    url?: string;
    reason?: string;
    tier: string;
    sslmode?: string;
    caBundle?: string;
    kmsKeyId?: string;
    objectLockMode: string;
    schema?: string[];
    excludeSchema?: string[];
    preset?: string;
    dumpFrom?: string;
  },
  io: Io,
): Promise<number> {
  if (!o.url && o.stack) {
    return runRemoteBackup({ ...o, stack: o.stack }, io, { signal: interruptible() });
  }
  if (!o.url) {
    throw new UsageError('give --url <postgres-url>, or --stack <name> to run the deployed backup workflow');
  }
  // A backup with a reason is an on-demand one: its own adhoc tier unless --tier says otherwise.
  const tier = o.reason && o.tier === 'auto' ? 'adhoc' : parseTier(o.tier);
  const lock = parseObjectLockMode(o.objectLockMode);
  const preset = o.preset === undefined ? undefined : parsePreset(o.preset);
  const dumpFrom = o.dumpFrom === undefined ? undefined : parseDumpFrom(o.dumpFrom);
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
      caBundlePath: o.caBundle ?? conn.caBundlePath,
      s3: store.s3,
      bucket: store.bucket,
      kmsKeyId: o.kmsKeyId,
      objectLockMode: lock,
      tier,
      reason: o.reason,
      schemas: { include: o.schema ?? [], exclude: o.excludeSchema ?? [] },
      preset,
      // As the dump handler passes DUMP_FROM: the replica's host and port, the --url's credentials.
      ...(dumpFrom ? { dumpFrom: { host: dumpFrom.host, port: dumpFrom.port } } : {}),
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
  if (m.reason) io.out(`  reason   ${m.reason}`);
}
