/**
 * A table restore into a database that already has the table: the archived table(s) come back
 * into a NEW schema beside the live ones (`restorable_restore_<stamp>`), never over them.
 *
 * pg_restore cannot restore into another schema, and pg_dump names every object by its schema,
 * so no rewriting of SQL text is trusted to keep the live table safe. Instead:
 * 1. a scratch database on the same server (the restorer needs CREATEDB, which managed admins
 *    have) receives the table restore as planned against its empty catalog;
 * 2. there, each restored table moves into the new schema (`ALTER TABLE … SET SCHEMA` takes its
 *    indexes, constraints and owned sequences along; types and functions stay where they were,
 *    so the copy refers to the live database's own);
 * 3. `pg_dump -n <new schema>` of the scratch database is restored into the live database with
 *    `--single-transaction`: it either all arrives, in a schema nobody uses yet, or nothing does;
 * 4. the scratch database is dropped, on failure too.
 * `--replace` then swaps the copies in, in one transaction (restore-table-swap.ts).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import type { ArchiveToc } from './archive-toc';
import { quoteIdent } from './inventory';
import { pgToolForServer, type PgBinary } from './pg-bin';
import { runPgRestore } from './pg-restore';
import { RestoreError } from './restore-error';
import { planTableRestore, useListText, type TableRef, type TableRestorePlan } from './restore-plan';
import { loadTargetCatalog, withTargetClient, type RestoreTarget } from './restore-target';
import { libpqEnv, withPgPassFile } from './secrets';
import * as fs from 'node:fs';

export interface SideRestore {
  /** The new schema the tables were restored into. */
  readonly schema: string;
  /** The live tables and their restored copies. */
  readonly tables: readonly { readonly live: TableRef; readonly copy: TableRef }[];
  readonly plan: TableRestorePlan;
}

/** `restorable_restore_20250101_120000`: sortable, and obviously ours. */
export const sideSchemaName = (now: Date): string =>
  `restorable_restore_${now.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15)}`;

export interface SideRestoreRun {
  readonly bin: PgBinary;
  readonly target: RestoreTarget;
  readonly serverMajor: number;
  readonly archive: string;
  readonly toc: ArchiveToc;
  readonly tables: readonly (string | TableRef)[];
  readonly dir: string;
  readonly pgBinDirs?: string[];
  readonly signal?: AbortSignal;
  readonly now?: Date;
}

/** Restores the tables into a new schema of the target (see the file comment). */
export async function restoreBeside(run: SideRestoreRun): Promise<SideRestore> {
  const schema = sideSchemaName(run.now ?? new Date());
  const exists = await withTargetClient(
    run.target,
    async (c) => (await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount,
  );
  if (exists)
    throw new RestoreError('TABLE_EXISTS', `schema ${schema} already exists; try again in a second`);
  const scratchName = `restorable_scratch_${randomBytes(6).toString('hex')}`;
  const scratch: RestoreTarget = { ...run.target, database: scratchName };
  try {
    await withTargetClient(run.target, (c) => c.query(`CREATE DATABASE ${quoteIdent(scratchName)}`));
  } catch (e) {
    throw new RestoreError(
      'PG_RESTORE_FAILED',
      `cannot create a scratch database for the table restore (${(e as Error).message}); ` +
        'the restoring user needs CREATEDB',
    );
  }
  try {
    const plan = planTableRestore(run.toc, run.tables, await withTargetClient(scratch, loadTargetCatalog), {
      privileges: false,
    });
    const useList = path.join(run.dir, 'side-use-list.txt');
    fs.writeFileSync(useList, useListText(plan.entries), { mode: 0o600 });
    await runPgRestore({
      bin: run.bin,
      target: scratch,
      archive: run.archive,
      jobs: 1,
      keepOwners: false,
      clean: false,
      useList,
      entriesTotal: plan.entries.length,
      signal: run.signal,
    });
    await withTargetClient(scratch, async (c) => {
      await c.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
      for (const t of plan.tables) {
        await c.query(
          `ALTER TABLE ${quoteIdent(t.schema)}.${quoteIdent(t.name)} SET SCHEMA ${quoteIdent(schema)}`,
        );
      }
    });
    const copies = new Set<string>();
    const tables = plan.tables.map((t) => {
      if (copies.has(t.name)) {
        throw new RestoreError(
          'TABLE_EXISTS',
          `two restored tables are named ${t.name}; restore them one schema at a time`,
        );
      }
      copies.add(t.name);
      return { live: t, copy: { schema, name: t.name } };
    });
    const dump = path.join(run.dir, 'side.dump');
    await pgDumpSchema(scratch, schema, dump, run.serverMajor, run.pgBinDirs);
    await runPgRestore({
      bin: run.bin,
      target: run.target,
      archive: dump,
      jobs: 1,
      keepOwners: false,
      clean: false,
      singleTransaction: true,
      entriesTotal: 0,
      signal: run.signal,
    });
    return { schema, tables, plan };
  } finally {
    await withTargetClient(run.target, (c) =>
      c.query(`DROP DATABASE IF EXISTS ${quoteIdent(scratchName)} WITH (FORCE)`),
    ).catch(() => undefined);
  }
}

/** `pg_dump -Fc -n <schema>` of the scratch database into `file`. */
function pgDumpSchema(
  db: RestoreTarget,
  schema: string,
  file: string,
  serverMajor: number,
  dirs?: string[],
): Promise<void> {
  const bin = pgToolForServer('pg_dump', serverMajor, dirs);
  return withPgPassFile(
    db,
    (passFile) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(
          bin.path,
          ['-Fc', '--no-owner', '--no-privileges', `--schema=${quoteIdent(schema)}`, '-f', file],
          { env: libpqEnv(db, db, passFile), stdio: ['ignore', 'ignore', 'pipe'] },
        );
        let stderr = '';
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (d: string) => (stderr += d).slice(-4000));
        child.on('error', (e) =>
          reject(new RestoreError('PG_RESTORE_FAILED', `cannot run ${bin.path}: ${e.message}`)),
        );
        child.on('close', (code) =>
          code === 0
            ? resolve()
            : reject(
                new RestoreError('PG_RESTORE_FAILED', `pg_dump of the scratch copy failed: ${stderr.trim()}`),
              ),
        );
      }),
  );
}
