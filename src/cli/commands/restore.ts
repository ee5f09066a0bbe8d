/**
 * `restorable restore`: restores a backup (whole, or `--table`s) into a database: refuses a
 * non-empty target without `--force`, verifies the archive before touching the target, restores
 * roles then data, and exits 1 when a restored table's row count differs from the manifest. A
 * table the target already has comes back beside it (a new schema) unless `--replace`.
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
    .option(
      '--target-url <postgres-url>',
      'database to restore into (default: PGHOST/PGPORT/PGUSER/PGDATABASE; password: prefer PGPASSWORD or ~/.pgpass)',
    )
    .option(
      '--table <schema.name>',
      'restore only this table (repeatable); a table the target has comes back beside it, in a new schema',
      collect,
    )
    .option(
      '--replace',
      'with --table: swap the restored table(s) in for the live ones in one transaction (dependent views and foreign keys re-created), or refuse',
    )
    .addOption(new Option('--jobs <n>', 'pg_restore parallel jobs').argParser(positiveInt('--jobs')))
    .option('--force', 'restore the whole backup into a target that is not empty')
    .option('--clean', 'with --force: drop each object the backup holds before re-creating it')
    .option('--no-roles', 'do not create the roles from the backup first')
    .option(
      '--sslmode <mode>',
      `TLS mode for the target (${SSL_MODE_NAMES}; default: PGSSLMODE, else verify-full)`,
    )
    .option(
      '--ca-bundle <file>',
      'CA bundle for verify-full (default: PGSSLROOTCERT, else the system CA store)',
    )
    .action(runs(cli, restore));
}

export async function restore(
  o: StoreOptions & {
    backup: string;
    targetUrl?: string;
    table?: string[];
    replace?: boolean;
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
    throw new UsageError('--clean is for a whole-database restore; --table --replace replaces tables');
  if (o.force && o.table) {
    throw new UsageError(
      '--force is for a whole-database restore: --table restores beside a live table, --table --replace swaps it in',
    );
  }
  if (o.replace && !o.table) throw new UsageError('--replace goes with --table');
  const conn = targetConnection(
    '--target-url',
    o.targetUrl,
    o.sslmode === undefined ? undefined : parseSslMode(o.sslmode),
    o.caBundle,
    (m) => io.err(`warning: ${scrub(m)}`),
  );
  const store = await resolveStore(o);
  const entry = await findBackup(store, o.db, o.backup);
  await probeConnection(conn, conn.caBundlePath, 'target');
  const progress = new Progress(showProgress(o));
  const signal = interruptible();
  let result: RestoreResult;
  try {
    result = await core().restoreBackup(
      { s3: store.s3, bucket: store.bucket, manifest: entry.manifest, manifestKey: entry.manifestKey },
      conn,
      {
        jobs: o.jobs,
        tables: o.table,
        force: o.force,
        replace: o.replace,
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
  for (const role of r.roles.roles.filter((x) => x.status === 'failed' || x.dropped)) {
    io.err(`role ${role.name}: ${role.status}${role.reason ? ` (${role.reason})` : ''}`);
  }
  for (const m of r.roles.memberships.filter((x) => x.status === 'failed' || x.status === 'skipped')) {
    io.err(`membership ${m.member} in ${m.role}: ${m.status} (${m.reason})`);
  }
  const created = r.roles.roles.filter((x) => x.status === 'created' && x.login).map((x) => x.name);
  if (created.length > 0) {
    io.out(
      `login roles created without passwords (backups never hold them): ${created.join(', ')}; ` +
        'set them as docs/RUNBOOK.md "Role passwords" says',
    );
  }
  if (r.databaseProperties) {
    io.out(
      `database settings and grants: ${r.databaseProperties.applied} applied, ${r.databaseProperties.failed} failed`,
    );
  }
  if (r.beside && !r.beside.swapped) {
    io.out(`the live table(s) were not touched; the backup's copy is in schema ${r.beside.schema}:`);
    for (const step of r.beside.nextSteps) io.out(`  ${step}`);
  }
  if (r.swap) {
    io.out(
      `replaced ${r.swap.replaced.join(', ')} in one transaction; views re-created: ${r.swap.viewsRecreated.join(', ') || 'none'}; ` +
        `foreign keys re-added: ${r.swap.foreignKeysReadded.join(', ') || 'none'}`,
    );
  }
  for (const w of r.warnings) io.err(`warning: ${scrub(w)}`);
  io.out(
    mismatches === 0 ? 'row counts match the manifest' : `${mismatches} table(s) differ from the manifest`,
  );
}
