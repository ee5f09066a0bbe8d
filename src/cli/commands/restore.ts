/**
 * `restorable restore`: restores a backup (whole, or `--table`s) into a database: refuses a
 * non-empty target without `--force`, verifies the archive before touching the target, restores
 * roles then data, and exits 1 when a restored table's row count differs from the manifest.
 */
import { Option, type Command } from 'commander';
import type { RestoreProgress, RestoreResult } from '../../../lambda/core/restore';
import { interruptible } from '../cleanup';
import { parseSslMode, probeConnection, SSL_MODE_NAMES, targetConnection } from '../connection';
import { Interrupted, scrub, UsageError } from '../errors';
import { core } from '../load-core';
import { formatBytes, formatSeconds, Progress, showProgress, table, type Io } from '../output';
import { findBackup, resolveStore, storeOptions, type StoreOptions } from '../store';
import { collect, positiveInt, runs, type CliContext } from './command';

export function register(program: Command, cli: CliContext): void {
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
    .action(runs(cli, restore));
}

export async function restore(
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
