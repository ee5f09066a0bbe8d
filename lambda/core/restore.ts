/**
 * Restores a backup into a PostgreSQL database: used by the monthly drill (into an ephemeral
 * database) and by the operator CLI (`restorable restore`). This file owns the order of the steps
 * and the result; each step lives in its own file: the target (restore-target.ts), the archive
 * (restore-archive.ts), roles (restore-roles.ts), which entries a table restore takes
 * (restore-plan.ts) and running pg_restore (pg-restore.ts).
 *
 * 1. Look at the target first: refuse a non-empty target (or, for a table restore, a target that
 *    already holds one of the tables) unless forced — before anything is downloaded or changed.
 * 2. Download the archive to a private temporary file (pg_restore -j needs a seekable file),
 *    computing SHA-256 and size on the way and refusing it unless both equal the manifest's.
 *    The file is removed afterwards, on failure too.
 * 3. Restore roles from the globals file, statement by statement, tolerating "already exists"
 *    and recording every statement that failed (the target's own login role is never altered).
 * 4. `pg_restore -j N --exit-on-error`, the client matching the target's major, credentials only
 *    in a 0600 PGPASSFILE. Owners and grants are kept when the roles are there (restored, and the
 *    restoring user can act as each owner); otherwise `--no-owner --no-privileges`.
 *    A table restore passes a `--use-list` built from the archive's TOC (restore-plan.ts).
 *    Materialized view data is left out of it and refreshed afterwards with the source
 *    database's search_path (restore-matviews.ts says why).
 * 5. Count the rows of the restored tables (exact, in one read-only snapshot).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ClientBase } from 'pg';
import { readArchiveToc, type ArchiveToc, type TocEntry } from './archive-toc';
import { countRows, listTables } from './inventory';
import type { Manifest } from './manifest';
import { pgToolForServer } from './pg-bin';
import { restorableEntries, runPgRestore } from './pg-restore';
import { downloadVerified, fetchVerifiedText, readManifest } from './restore-archive';
import { RestoreError } from './restore-error';
import { deferredMatviews, refreshMatviews, type MatviewRefresh } from './restore-matviews';
import { catalogKey, planTableRestore, useListText, type SkippedEntry, type TableRef } from './restore-plan';
import { ownersUsable, restoreRoles, rolesNotAttempted, type RolesResult } from './restore-roles';
import {
  describeTarget,
  inspectTarget,
  loadTargetCatalog,
  withTargetClient,
  type RestoreTarget,
} from './restore-target';

// The restore's public surface, in one place for its callers (the drill, the CLI, tests); each
// piece lives in the file that owns it.
export type { TableRef } from './restore-plan';
export { downloadVerified, readManifest } from './restore-archive';
export { RestoreError, type RestoreErrorCode } from './restore-error';
export {
  restoreRoles,
  roleOfStatement,
  splitSqlStatements,
  type RoleStatementFailure,
  type RolesResult,
} from './restore-roles';
export {
  describeTarget,
  inspectTarget,
  loadTargetCatalog,
  withTargetClient,
  type RestoreTarget,
  type TargetInfo,
} from './restore-target';

export type RestoreProgress =
  | { readonly phase: 'download'; readonly bytes: number; readonly totalBytes: number }
  | { readonly phase: 'roles'; readonly applied: number; readonly failed: number }
  | {
      readonly phase: 'restore';
      readonly entriesDone: number;
      readonly entriesTotal: number;
      /** The last pg_restore -v line, e.g. `processing data for table "shop.orders"`. */
      readonly item?: string;
    }
  | { readonly phase: 'count'; readonly tables: number };

export interface RestoreOptions {
  /** pg_restore parallel jobs. @default - min(4, CPUs) */
  readonly jobs?: number;
  /**
   * Restore only these tables (`"schema.name"`, `'"Schema"."Name"'` or `{ schema, name }`), with
   * what belongs to them (restore-plan.ts). @default - the whole archive
   */
  readonly tables?: readonly (string | TableRef)[];
  /**
   * Restore into a target that is not empty (full restore), or replace tables that already exist
   * (table restore: their entries are restored with `--clean --if-exists`). @default false
   */
  readonly force?: boolean;
  /** Full restore only: drop each archived object before re-creating it (`--clean --if-exists`). @default false */
  readonly clean?: boolean;
  /** Create the roles from the backup's globals file first (when it has one). @default true */
  readonly restoreRoles?: boolean;
  /** Count rows of the restored tables afterwards. @default true */
  readonly countRows?: boolean;
  /** Called with download bytes, roles, and pg_restore entries processed. */
  readonly onProgress?: (progress: RestoreProgress) => void;
  /** Where the temporary archive goes (needs room for the whole dump). @default - os.tmpdir() */
  readonly tempDir?: string;
  /** Aborts the download or kills pg_restore. */
  readonly signal?: AbortSignal;
  /** Directories holding pg_restore binaries, for tests. @default - pg-bin.ts search */
  readonly pgBinDirs?: string[];
}

export interface RestoredTable {
  readonly schema: string;
  readonly name: string;
  /** Rows in the manifest, or null when the manifest does not list the table. */
  readonly expected: number | null;
  /** Whether the manifest count was exact (false: planner estimate). */
  readonly expectedExact: boolean;
  /** Rows counted after the restore, or null when not counted or missing. */
  readonly restored: number | null;
}

export interface RestoreResult {
  readonly backupId: string;
  readonly databaseId: string;
  readonly target: string;
  readonly mode: 'full' | 'tables';
  readonly archive: { readonly key: string; readonly bytes: number; readonly sha256: string };
  readonly pgRestore: { readonly path: string; readonly major: number; readonly version: string };
  readonly targetServerVersion: string;
  readonly jobs: number;
  readonly owners: 'kept' | 'dropped';
  readonly ownersReason?: string;
  readonly roles: RolesResult;
  readonly entries: { readonly total: number; readonly processed: number };
  /** Table restore: entries of the tables that were left out, with why. */
  readonly skipped: readonly SkippedEntry[];
  /** Table restore: prerequisites (schema, types, functions) created because the target lacked them. */
  readonly prerequisites: readonly string[];
  readonly tables: readonly RestoredTable[];
  readonly downloadSeconds: number;
  /** pg_restore alone. */
  readonly pgRestoreSeconds: number;
  /** The whole restore: target checks, download, roles, pg_restore (not the row counts). */
  readonly restoreSeconds: number;
  readonly countSeconds: number;
  /** Materialized views refreshed after pg_restore with the source's search_path (restore-matviews.ts). */
  readonly matviews?: MatviewRefresh;
  readonly warnings: readonly string[];
}

export interface RestoreSource {
  readonly s3: S3Client;
  readonly bucket: string;
  /** The manifest, or `manifestKey` to read it from the bucket. */
  readonly manifest?: Manifest;
  readonly manifestKey?: string;
}

const seconds = (from: number) => Math.round((Date.now() - from) / 10) / 100;

export async function restoreBackup(
  source: RestoreSource,
  target: RestoreTarget,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const started = Date.now();
  if (!source.manifest && !source.manifestKey)
    throw new Error('restoreBackup needs a manifest or a manifestKey');
  const manifest = source.manifest ?? (await readManifest(source.s3, source.bucket, source.manifestKey!));
  const jobs = Math.max(1, Math.floor(options.jobs ?? Math.min(4, os.cpus().length)));
  const tableMode = (options.tables?.length ?? 0) > 0;
  const warnings: string[] = [];

  // 1. The target, before anything is downloaded or changed.
  const info = await withTargetClient(target, inspectTarget);
  if (!tableMode && info.userObjects.length > 0 && !options.force) {
    throw new RestoreError(
      'TARGET_NOT_EMPTY',
      `target ${describeTarget(target)} is not empty (${info.userObjects.slice(0, 5).join(', ')}` +
        `${info.userObjects.length > 5 ? ', ...' : ''}); restore into an empty database or pass force`,
    );
  }
  // pg_restore must understand the archive (at least pg_dump's major) and the target server.
  const bin = pgToolForServer(
    'pg_restore',
    Math.max(info.serverMajor, manifest.pgDump.major),
    options.pgBinDirs,
  );

  const dir = fs.mkdtempSync(path.join(options.tempDir ?? os.tmpdir(), 'restorable-restore-'));
  try {
    // 2. The archive, verified while it downloads.
    const archive = path.join(dir, 'archive.dump');
    const downloadStarted = Date.now();
    await downloadVerified(
      source.s3,
      source.bucket,
      manifest.object,
      archive,
      options.onProgress
        ? (bytes) => options.onProgress!({ phase: 'download', bytes, totalBytes: manifest.object.bytes })
        : undefined,
      options.signal,
    );
    const downloadSeconds = seconds(downloadStarted);
    // Our reading of the TOC drives table selection and progress; a whole-database restore does
    // not depend on it, so an archive format newer than this parser knows is left to pg_restore.
    let toc: ArchiveToc | undefined;
    try {
      toc = readArchiveToc(archive);
    } catch (e) {
      const message = `s3://${source.bucket}/${manifest.object.key}: ${(e as Error).message}`;
      if (tableMode || /no PGDMP header/.test((e as Error).message))
        throw new RestoreError('NOT_AN_ARCHIVE', message);
      warnings.push(`table of contents not read (${message}); progress and owner checks are approximate`);
    }

    // Table restore: decide the entries (needs the target's catalog) and refuse conflicts.
    let plan: ReturnType<typeof planTableRestore> | undefined;
    if (tableMode) {
      const catalog = await withTargetClient(target, loadTargetCatalog);
      try {
        plan = planTableRestore(toc!, options.tables!, catalog, {
          privileges: options.restoreRoles !== false,
        });
      } catch (e) {
        throw new RestoreError('TABLE_NOT_IN_ARCHIVE', (e as Error).message);
      }
      if (plan.conflicts.length > 0 && !options.force) {
        throw new RestoreError(
          'TABLE_EXISTS',
          `target ${describeTarget(target)} already has ${plan.conflicts
            .map((t) => `"${t.schema}"."${t.name}"`)
            .join(', ')}; pass force to replace ${plan.conflicts.length === 1 ? 'it' : 'them'}`,
        );
      }
    }

    // 3. Roles.
    let roles: RolesResult;
    const wantRoles = options.restoreRoles !== false;
    if (!wantRoles) {
      roles = rolesNotAttempted('roles not requested');
    } else if (!manifest.globals.present) {
      roles = rolesNotAttempted(`backup has no globals file: ${manifest.globals.reason}`);
    } else {
      const sql = await fetchVerifiedText(source.s3, source.bucket, manifest.globals);
      roles = await withTargetClient(target, (c) => restoreRoles(c, sql, info.currentUser));
      options.onProgress?.({ phase: 'roles', applied: roles.applied, failed: roles.failed.length });
    }

    // Owners and grants are kept when the roles are there and usable.
    const entries = plan?.entries ?? toc?.entries;
    const owners = [...new Set((entries ?? []).map((e) => e.owner).filter((o): o is string => !!o))];
    let keepOwners = false;
    let ownersReason: string | undefined;
    if (!roles.attempted) ownersReason = roles.reason;
    else {
      const usable =
        entries || info.superuser
          ? await withTargetClient(target, (c) => ownersUsable(c, owners, info))
          : {
              ok: false,
              reason: 'owner roles unknown (table of contents not read) and not restoring as a superuser',
            };
      keepOwners = usable.ok;
      ownersReason = usable.reason;
      if (!usable.ok) warnings.push(`owners and grants not restored: ${usable.reason}`);
    }
    if (plan && !keepOwners) {
      plan = planTableRestore(toc!, options.tables!, await withTargetClient(target, loadTargetCatalog), {
        privileges: false,
      });
    }

    // 4. pg_restore, materialized view data left for step 4b.
    const deferred = deferredMatviews(plan?.entries ?? toc?.entries ?? []);
    let useList: string | undefined;
    if (plan || deferred.length > 0) {
      const deferredIds = new Set(deferred.map((e) => e.dumpId));
      useList = path.join(dir, 'use-list.txt');
      fs.writeFileSync(
        useList,
        useListText((plan?.entries ?? toc!.entries).filter((e) => !deferredIds.has(e.dumpId))),
        { mode: 0o600 },
      );
    }
    const entriesTotal =
      (plan ? plan.entries.length : toc ? restorableEntries(toc, keepOwners) : 0) - deferred.length;
    const pgRestoreStarted = Date.now();
    const processed = await runPgRestore({
      bin,
      target,
      archive,
      jobs,
      keepOwners,
      clean: plan ? plan.conflicts.length > 0 : options.clean === true,
      useList,
      entriesTotal,
      onProgress: options.onProgress,
      signal: options.signal,
    });
    const pgRestoreSeconds = seconds(pgRestoreStarted);

    // 4b. Materialized views, with the source database's search_path.
    const matviews =
      deferred.length > 0
        ? await withTargetClient(target, (c) => refreshMatviews(c, deferred, manifest.source.searchPath))
        : undefined;
    for (const f of matviews?.failed ?? []) {
      warnings.push(`materialized view ${f.name} left unpopulated: ${f.error}`);
    }
    const restoreSeconds = seconds(started);

    // 5. Row counts of what was restored.
    const countStarted = Date.now();
    const restoredTables: readonly TableRef[] =
      plan?.tables ??
      (toc
        ? toc.entries.filter((e) => e.desc === 'TABLE').map((e) => ({ schema: e.namespace!, name: e.tag }))
        : manifest.tables.map((t) => ({ schema: t.schema, name: t.name })));
    const tables =
      options.countRows === false
        ? restoredTables.map((t) => withExpected(manifest, t, null))
        : await withTargetClient(target, (c) => countRestored(c, manifest, restoredTables));
    options.onProgress?.({ phase: 'count', tables: tables.length });

    return {
      backupId: manifest.backupId,
      databaseId: manifest.databaseId,
      target: describeTarget(target),
      mode: plan ? 'tables' : 'full',
      archive: { key: manifest.object.key, bytes: manifest.object.bytes, sha256: manifest.object.sha256 },
      pgRestore: { path: bin.path, major: bin.major, version: bin.version },
      targetServerVersion: info.serverVersion,
      jobs,
      owners: keepOwners ? 'kept' : 'dropped',
      ...(ownersReason ? { ownersReason } : {}),
      roles,
      entries: { total: entriesTotal, processed },
      skipped: plan?.skipped ?? [],
      prerequisites: (plan?.prerequisites ?? []).map(entryLabel),
      tables,
      downloadSeconds,
      pgRestoreSeconds,
      restoreSeconds,
      countSeconds: seconds(countStarted),
      ...(matviews ? { matviews } : {}),
      warnings,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const entryLabel = (e: TocEntry) => `${e.desc} ${e.namespace ? `${e.namespace}.` : ''}${e.tag}`;

function withExpected(manifest: Manifest, t: TableRef, restored: number | null): RestoredTable {
  const m = manifest.tables.find((x) => x.schema === t.schema && x.name === t.name);
  return {
    schema: t.schema,
    name: t.name,
    expected: m ? m.rows : null,
    expectedExact: m ? m.exact : false,
    restored,
  };
}

/** Exact counts of the restored tables in one read-only snapshot; partitioned parents sum their leaves. */
async function countRestored(
  client: ClientBase,
  manifest: Manifest,
  restored: readonly TableRef[],
): Promise<RestoredTable[]> {
  const schemas = [...new Set(restored.map((t) => t.schema))];
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const all = await listTables(client, { include: schemas });
    const wanted = new Set(restored.map((t) => catalogKey(t.schema, t.name)));
    const selected = all.filter((t) => wanted.has(catalogKey(t.schema, t.name)));
    const leaves = new Set(selected.flatMap((t) => t.leaves));
    const toCount = all.filter(
      (t) => wanted.has(catalogKey(t.schema, t.name)) || leaves.has(`${t.schema}.${t.name}`),
    );
    const counted = await countRows(client, toCount);
    return restored.map((t) => {
      const c = counted.find((x) => x.schema === t.schema && x.name === t.name);
      return withExpected(manifest, t, c ? c.rows : null);
    });
  } finally {
    await client.query('COMMIT');
  }
}
