/**
 * Running pg_restore: the command line (`--exit-on-error`, owners kept or dropped, `--use-list`
 * for a table restore), credentials only in a 0600 PGPASSFILE, progress from its `--verbose`
 * output, and its stderr read back into the error that names what went wrong.
 */
import { spawn } from 'node:child_process';
import type { ArchiveToc } from './archive-toc';
import type { PgBinary } from './pg-bin';
import { PgRestoreLog } from './pg-restore-log';
import type { RestoreProgress } from './restore-types';
import { RestoreError } from './restore-error';
import type { RestoreTarget } from './restore-target';
import { libpqEnv, withPgPassFile } from './secrets';

/** Quotes a libpq connection-string value. */
const conninfoValue = (value: string): string => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export interface PgRestoreRun {
  readonly bin: PgBinary;
  readonly target: RestoreTarget;
  readonly archive: string;
  readonly jobs: number;
  readonly keepOwners: boolean;
  /** Restore privileges (ACL entries) even when owners are not kept. @default - as keepOwners */
  readonly privileges?: boolean;
  readonly clean: boolean;
  readonly useList?: string;
  /** `--single-transaction`: everything or nothing (jobs must be 1). */
  readonly singleTransaction?: boolean;
  readonly entriesTotal: number;
  readonly onProgress?: (p: RestoreProgress) => void;
  readonly signal?: AbortSignal;
}

/** Runs pg_restore; resolves with the number of entries processed, rejects with its error lines. */
export function runPgRestore(run: PgRestoreRun): Promise<number> {
  // Connection parameters, TLS and the PGPASSFILE go through the environment libpqEnv builds
  // (nothing else inherited); --dbname carries only the database name, as a connection string
  // so that a name containing "=" cannot be read as one.
  return withPgPassFile(run.target, (passFile) =>
    spawnPgRestore(run, libpqEnv(run.target, run.target, passFile), [
      '--verbose',
      '--exit-on-error',
      ...(run.singleTransaction ? ['--single-transaction'] : [`--jobs=${run.jobs}`]),
      ...(run.keepOwners ? [] : ['--no-owner']),
      ...((run.privileges ?? run.keepOwners) ? [] : ['--no-privileges']),
      ...(run.clean ? ['--clean', '--if-exists'] : []),
      ...(run.useList ? ['--use-list', run.useList] : []),
      `--dbname=dbname=${conninfoValue(run.target.database)} application_name='restorable-restore'`,
      run.archive,
    ]),
  );
}

function spawnPgRestore(run: PgRestoreRun, env: Record<string, string>, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    if (run.signal?.aborted) {
      reject(new RestoreError('ABORTED', 'restore aborted before pg_restore started'));
      return;
    }
    const child = spawn(run.bin.path, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const done = new Set<number>();
    let serialDone = 0;
    const log = new PgRestoreLog();
    let partial = '';
    let lastReport = 0;
    const onAbort = () => child.kill('SIGTERM');
    // entriesTotal is 0 when the TOC could not be read: count without a cap then.
    const processedSoFar = () => {
      const n = run.jobs > 1 ? done.size : serialDone;
      return run.entriesTotal > 0 ? Math.min(run.entriesTotal, n) : n;
    };
    run.signal?.addEventListener('abort', onAbort, { once: true });

    const consume = (text: string) => {
      // Parallel workers interleave their writes ("pg_restore:pg_restore:  finished ..."), so
      // match item ids anywhere rather than per line (pg-restore-log.ts reads the messages).
      for (const m of text.matchAll(/(?:processing|finished) item (\d+)/g)) done.add(Number(m[1]));
      serialDone += (text.match(/pg_restore: (?:creating|processing data for table|executing) /g) ?? [])
        .length;
      for (const line of text.split('\n')) log.line(line);
      const now = Date.now();
      if (run.onProgress && now - lastReport > 250) {
        lastReport = now;
        run.onProgress({
          phase: 'restore',
          entriesDone: processedSoFar(),
          entriesTotal: run.entriesTotal,
          ...(log.lastProgress ? { item: log.lastProgress } : {}),
        });
      }
    };
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      const text = partial + chunk;
      const cut = text.lastIndexOf('\n');
      partial = cut < 0 ? text : text.slice(cut + 1);
      if (cut >= 0) consume(text.slice(0, cut + 1));
    });
    child.on('error', (e) => {
      run.signal?.removeEventListener('abort', onAbort);
      reject(new RestoreError('PG_RESTORE_FAILED', `could not run ${run.bin.path}: ${e.message}`));
    });
    child.on('close', (code, sig) => {
      run.signal?.removeEventListener('abort', onAbort);
      if (partial) consume(`${partial}\n`);
      const processed = processedSoFar();
      if (code === 0) {
        run.onProgress?.({ phase: 'restore', entriesDone: processed, entriesTotal: run.entriesTotal });
        resolve(processed);
        return;
      }
      if (run.signal?.aborted) {
        reject(new RestoreError('ABORTED', 'restore aborted: pg_restore was stopped'));
        return;
      }
      const detail = log.summary();
      const how = sig ? `was killed by ${sig}` : `exited with code ${code}`;
      reject(
        new RestoreError(
          'PG_RESTORE_FAILED',
          `pg_restore ${how}: ${detail || 'no error output'}`.slice(0, 4000),
        ),
      );
    });
  });
}

/** TOC entries a full restore processes (pg_restore handles ENCODING and friends by itself). */
export function restorableEntries(toc: ArchiveToc, privileges: boolean): number {
  const special = new Set(['ENCODING', 'STDSTRINGS', 'SEARCHPATH', 'DATABASE', 'DATABASE PROPERTIES']);
  return toc.entries.filter(
    (e) =>
      !special.has(e.desc) &&
      !(e.desc === 'COMMENT' && e.tag.startsWith('DATABASE ')) &&
      (privileges || (e.desc !== 'ACL' && e.desc !== 'DEFAULT ACL')),
  ).length;
}
