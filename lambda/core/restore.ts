/**
 * Restores a backup into a PostgreSQL database: used by the monthly drill (into an ephemeral
 * database) and by the operator CLI (`restorable restore`). This file owns the order of the steps;
 * each step lives in its own file: versions (restore-versions.ts), the target (restore-target.ts),
 * the archive (restore-archive.ts), extensions (restore-extensions.ts), roles (restore-roles.ts),
 * which entries a table restore takes (restore-plan.ts), a table restore beside or over a live
 * table (restore-table-side.ts, restore-table-swap.ts), running pg_restore (pg-restore.ts),
 * database properties (restore-database.ts); options and result types are restore-types.ts.
 *
 * 1. Look at the target first: refuse a non-empty target unless forced, a target server older than
 *    the backup's source, or no pg_restore that reads the archive — before anything is downloaded
 *    or changed.
 * 2. Download the archive to a private work dir (pg_restore -j needs a seekable file): free
 *    space checked first, leftovers of an earlier invocation removed, and SHA-256, size and
 *    decompression (zstd-wrapped archives) in the same pass, refusing it unless all agree with
 *    the manifest. The work dir is removed afterwards, on failure too. Then, still before any
 *    change: every extension the archive uses must be offered by the target (all missing ones
 *    named), and a `--replace` whose table has dependents it cannot re-create is refused.
 * 3. Roles from the globals file: missing ones created with what the restorer may set, existing
 *    ones never altered, each reported (restore-roles.ts).
 * 4. `pg_restore -j N --exit-on-error`, the client matching the target's major, credentials only
 *    in a 0600 PGPASSFILE. Owners and grants are kept when the roles are there (restored, and the
 *    restoring user can act as each owner); otherwise `--no-owner --no-privileges`. A table
 *    restore, or a restore leaving pre-installed extensions' entries out, passes a `--use-list`.
 *    Then the archive's database settings and grants, under the target's name.
 *    Materialized view data is left out of the restore and refreshed afterwards with the source
 *    database's search_path (restore-matviews.ts says why).
 * 5. Count the rows of the restored tables (exact, in one read-only snapshot).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { prepareWorkDir } from './archive-read';
import { compressionOf } from './compression-settings';
import * as path from 'node:path';
import { readArchiveToc, type ArchiveToc } from './archive-toc';
import { quoteIdent } from './inventory';
import { DIRECTORY_TOC } from './manifest';
import { restorableEntries, runPgRestore } from './pg-restore';
import { downloadVerified, fetchVerifiedText, readManifest } from './restore-archive';
import { directoryBytes, downloadDirectory } from './restore-directory';
import { RestoreError } from './restore-error';
import { planTableRestore, useListText, type TableRef } from './restore-plan';
import { applyDatabaseProperties, archivedDatabase, isDatabaseEntry } from './restore-database';
import {
  fullRestoreEntries,
  loadTargetExtensions,
  notRestoredOf,
  planExtensions,
} from './restore-extensions';
import { restoreOwnersAndPrivileges, type OwnersApplied } from './restore-owners';
import { orderByForeignKeys, planPlatformSchemas, platformDataEntries } from './restore-platform';
import { presetRules } from './presets';
import {
  ownersUsable,
  parseRolesScript,
  restoreRoles,
  rolesNotAttempted,
  type RolesResult,
} from './restore-roles';
import { besideNextSteps, countRestored, entryLabel, NO_OWNER_CHANGE, withExpected } from './restore-result';
import { restoreBeside, type SideRestore } from './restore-table-side';
import { findDependents, swapTables, type SwapResult } from './restore-table-swap';
import { checkArchiveFormat, checkVersions } from './restore-versions';
import type { RestoreOptions, RestoreResult, RestoreSource } from './restore-types';
import { deferredMatviews, refreshMatviews } from './restore-matviews';
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
  parseRolesScript,
  restoreRoles,
  roleOfStatement,
  splitSqlStatements,
  type MembershipOutcome,
  type RoleOutcome,
  type RoleStatementFailure,
  type RolesResult,
} from './restore-roles';
export {
  checkRestoredGlobals,
  type GlobalsCheck,
  type GlobalsExpectation,
  type GlobalsProblem,
} from './restore-check';
export { archivedDatabase, type DatabasePropertiesResult } from './restore-database';
export type { ExtensionsResult, NotRestored, UnavailableExtension } from './restore-extensions';
export type { PlatformSchemasResult } from './restore-platform';
export type { OwnerMapping } from './restore-owners';
export {
  describeTarget,
  inspectTarget,
  loadTargetCatalog,
  withTargetClient,
  type RestoreTarget,
  type TargetInfo,
} from './restore-target';

export type { RestoredTable } from './restore-result';
export type { RestoreOptions, RestoreProgress, RestoreResult, RestoreSource } from './restore-types';

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
  // Under a preset, the schemas the target's platform made are not the user's objects.
  const platformRules = presetRules(manifest.preset);
  const info = await withTargetClient(target, (c) =>
    inspectTarget(c, [...platformRules.excludeSchemas, ...platformRules.platformSchemas]),
  );
  if (!tableMode && info.userObjects.length > 0 && !options.force) {
    throw new RestoreError(
      'TARGET_NOT_EMPTY',
      `target ${describeTarget(target)} is not empty (${info.userObjects.slice(0, 5).join(', ')}` +
        `${info.userObjects.length > 5 ? ', ...' : ''}); restore into an empty database or pass force`,
    );
  }
  // A target older than the source, or no pg_restore that reads the archive: refused now.
  const bin = checkVersions(manifest, info, options.pgBinDirs);

  const work = await prepareWorkDir(options.tempDir ?? os.tmpdir());
  const dir = work.dir;
  try {
    // 2. The archive, verified while it downloads.
    // The directory layout: every file checked into one directory pg_restore reads (restore-directory.ts).
    const directory = manifest.layout === 'directory';
    const archive = path.join(dir, directory ? 'archive.dir' : 'archive.dump');
    const downloadStarted = Date.now();
    if (directory) {
      await downloadDirectory({
        s3: source.s3,
        bucket: source.bucket,
        manifest,
        dir: archive,
        onBytes: options.onProgress
          ? (bytes) => options.onProgress!({ phase: 'download', bytes, totalBytes: directoryBytes(manifest) })
          : undefined,
        signal: options.signal,
      });
    } else
      await downloadVerified(
        source.s3,
        source.bucket,
        manifest.object,
        archive,
        options.onProgress
          ? (bytes) => options.onProgress!({ phase: 'download', bytes, totalBytes: manifest.object.bytes })
          : undefined,
        options.signal,
        compressionOf(manifest),
      );
    const downloadSeconds = seconds(downloadStarted);
    // Our reading of the TOC drives table selection and progress; a whole-database restore does
    // not depend on it, so an archive format newer than this parser knows is left to pg_restore.
    let toc: ArchiveToc | undefined;
    try {
      toc = readArchiveToc(directory ? path.join(archive, DIRECTORY_TOC) : archive);
    } catch (e) {
      const message = `s3://${source.bucket}/${manifest.object.key}: ${(e as Error).message}`;
      if (tableMode || /no PGDMP header/.test((e as Error).message))
        throw new RestoreError('NOT_AN_ARCHIVE', message);
      warnings.push(`table of contents not read (${message}); progress and owner checks are approximate`);
    }
    if (toc) checkArchiveFormat(toc.version, toc.pgDumpVersion, bin);

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
      // Tables the target already has: restored beside them, swapped in only with replace, whose
      // dependents are checked now, before anything changes.
      if (options.replace && plan.conflicts.length > 0) {
        if (plan.conflicts.length !== plan.tables.length) {
          throw new RestoreError(
            'TABLE_EXISTS',
            `replace needs every restored table to exist in the target; missing: ${plan.tables
              .filter((t) => !plan!.conflicts.includes(t))
              .map((t) => `"${t.schema}"."${t.name}"`)
              .join(', ')}`,
          );
        }
        const tables = plan.conflicts;
        await withTargetClient(target, (c) => findDependents(c, tables));
      }
    }

    // Extensions: all missing ones named at once, before anything is changed (or, under a preset
    // that allows it, left out with what needs them); the platform's schemas, data only.
    const rules = platformRules;
    const targetExtensions = toc ? await withTargetClient(target, loadTargetExtensions) : undefined;
    const extensions = toc
      ? planExtensions(plan?.entries ?? toc.entries, targetExtensions!, {
          missingExtensions: rules.missingExtensions,
        })
      : undefined;
    const platform =
      toc && !plan && rules.platformSchemas.length > 0
        ? planPlatformSchemas(toc.entries, rules.platformSchemas, targetExtensions!.schemas)
        : undefined;
    for (const u of extensions?.unavailable ?? []) {
      warnings.push(
        `extension ${u.extension} is not offered by the target: left out` +
          (u.objects.length > 0 ? ` with ${u.objects.join(', ')}` : '') +
          (u.referencedBy.length > 0
            ? `; restored but failing when called: ${u.referencedBy.join(', ')}`
            : ''),
      );
    }

    // 3. Roles.
    let roles: RolesResult;
    let rolesSql: string | undefined;
    const wantRoles = options.restoreRoles !== false;
    if (!wantRoles) {
      roles = rolesNotAttempted('roles not requested');
    } else if (!manifest.globals.present) {
      roles = rolesNotAttempted(`backup has no globals file: ${manifest.globals.reason}`);
    } else {
      const sql = await fetchVerifiedText(source.s3, source.bucket, manifest.globals);
      rolesSql = sql;
      roles = await withTargetClient(target, (c) => restoreRoles(c, sql));
      options.onProgress?.({ phase: 'roles', applied: roles.applied, failed: roles.failed.length });
    }

    // Owners and grants are kept when the roles are there and usable (entries left out aside).
    const leftOutEntries = [...(extensions?.leftOut ?? []), ...(platform?.leftOut ?? [])];
    const leftOut = new Set(leftOutEntries.map((l) => l.dumpId));
    const entries = (plan?.entries ?? toc?.entries)?.filter((e) => !leftOut.has(e.dumpId));
    const owners = [
      ...new Set(
        (entries ?? [])
          .filter((e) => !NO_OWNER_CHANGE.has(e.desc) && !isDatabaseEntry(e))
          .map((e) => e.owner)
          .filter((o): o is string => !!o),
      ),
    ];
    let keepOwners = false;
    let unusableOwners: ReadonlyMap<string, string> | undefined;
    let ownersReason: string | undefined;
    let ownersSelfGrants: readonly string[] = [];
    if (!roles.attempted) ownersReason = roles.reason;
    else {
      const usable =
        entries || info.superuser
          ? await withTargetClient(target, (c) => ownersUsable(c, owners, info))
          : {
              ok: false,
              selfGrants: [],
              unusable: new Map<string, string>(),
              reason: 'owner roles unknown (table of contents not read) and not restoring as a superuser',
            };
      keepOwners = usable.ok;
      ownersSelfGrants = usable.selfGrants;
      ownersReason = usable.reason;
      // A full restore with a readable TOC keeps every owner it can, object by object
      // (restore-owners.ts); otherwise owners and grants are dropped for the whole restore.
      if (!usable.ok && entries && !plan) unusableOwners = usable.unusable;
      else if (!usable.ok) warnings.push(`owners and grants not restored: ${usable.reason}`);
    }
    if (plan && !keepOwners) {
      plan = planTableRestore(toc!, options.tables!, await withTargetClient(target, loadTargetCatalog), {
        privileges: false,
      });
    }

    // 4. pg_restore.
    // A --use-list for a table restore, or for a full restore that leaves extension entries out;
    // materialized view data is always left out here and refreshed in step 4b.
    // The rows of platform schemas restored data-only go in first, on their own (see below).
    const platformData = toc && platform ? platformDataEntries(toc.entries, platform) : [];
    const candidates = plan
      ? plan.entries.filter((e) => !leftOut.has(e.dumpId))
      : toc && (leftOut.size > 0 || platformData.length > 0)
        ? fullRestoreEntries(toc, [...leftOutEntries, ...platformData])
        : undefined;
    const deferred = deferredMatviews(candidates ?? toc?.entries ?? []);
    const deferredIds = new Set(deferred.map((e) => e.dumpId));
    const listed =
      candidates || deferred.length > 0
        ? (candidates ?? toc!.entries).filter((e) => !deferredIds.has(e.dumpId))
        : undefined;
    // Rows into the platform's own tables (restore-platform.ts): before the user's foreign keys to
    // them are added, one table after those it references, all or nothing.
    if (platformData.length > 0) {
      const ordered = await withTargetClient(target, (c) => orderByForeignKeys(c, platformData));
      const platformList = path.join(dir, 'platform-data.txt');
      fs.writeFileSync(platformList, useListText(ordered), { mode: 0o600 });
      await runPgRestore({
        bin,
        target,
        archive,
        jobs: 1,
        keepOwners: false,
        clean: false,
        useList: platformList,
        singleTransaction: true,
        entriesTotal: ordered.length,
        signal: options.signal,
      });
    }
    // The schemas of extensions this restore creates, when neither the target nor the archive has them.
    for (const schema of extensions?.schemasToCreate ?? []) {
      await withTargetClient(target, (c) => c.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`));
    }
    let useList: string | undefined;
    if (listed) {
      useList = path.join(dir, 'use-list.txt');
      fs.writeFileSync(useList, useListText(listed), { mode: 0o600 });
    }
    const entriesTotal = toc ? restorableEntries({ ...toc, entries: listed ?? toc.entries }, keepOwners) : 0;
    const pgRestoreStarted = Date.now();
    let beside: SideRestore | undefined;
    let swap: SwapResult | undefined;
    let processed = 0;
    let ownersApplied: OwnersApplied | undefined;
    if (plan && plan.conflicts.length > 0) {
      beside = await restoreBeside({
        bin,
        target,
        serverMajor: info.serverMajor,
        archive,
        toc: toc!,
        tables: options.tables!,
        dir,
        pgBinDirs: options.pgBinDirs,
        signal: options.signal,
      });
      processed = beside.plan.entries.length;
      if (options.replace) {
        const pairs = beside.tables;
        const schema = beside.schema;
        try {
          swap = await withTargetClient(target, (c) => swapTables(c, pairs, schema));
        } catch (e) {
          // The swap rolled back; the copies are ours and were made for it: leave nothing behind.
          await withTargetClient(target, (c) => c.query(`DROP SCHEMA ${quoteIdent(schema)} CASCADE`)).catch(
            () => undefined,
          );
          throw e;
        }
      }
    } else {
      processed = await runPgRestore({
        bin,
        target,
        archive,
        jobs,
        keepOwners,
        clean: options.clean === true && !plan,
        useList,
        entriesTotal,
        onProgress: options.onProgress,
        signal: options.signal,
      });
      if (unusableOwners) {
        ownersApplied = await restoreOwnersAndPrivileges({
          bin,
          target,
          archive,
          entries: listed ?? toc!.entries,
          unusable: unusableOwners,
          dir,
          signal: options.signal,
        });
        for (const [owner, why] of unusableOwners) {
          const n = ownersApplied.mapped.filter((m) => m.owner === owner).length;
          warnings.push(
            `${n} object(s) owned by ${owner} in the archive now belong to ${info.currentUser}: ${why}`,
          );
        }
      }
    }
    const pgRestoreSeconds = seconds(pgRestoreStarted);

    // 4b. Materialized views, with the source database's search_path.
    const matviews =
      deferred.length > 0
        ? await withTargetClient(target, (c) => refreshMatviews(c, deferred, manifest.source.searchPath))
        : undefined;
    for (const f of matviews?.failed ?? []) {
      warnings.push(`materialized view ${f.name} left unpopulated: ${f.error}`);
    }
    // Database settings and grants: only pg_restore --create would apply them, under the source's name.
    const database = toc ? archivedDatabase(toc) : undefined;
    const databaseProperties =
      database && !plan
        ? await withTargetClient(target, (c) => applyDatabaseProperties(c, database))
        : undefined;
    for (const s of databaseProperties?.statements ?? []) {
      if (!s.applied) warnings.push(`database property not applied: ${s.statement}: ${s.error}`);
    }
    const restoreSeconds = seconds(started);

    // 5. Row counts of what was restored.
    const countStarted = Date.now();
    const besideOnly = beside && !swap;
    const restoredTables: readonly TableRef[] =
      (besideOnly ? beside!.tables.map((t) => t.copy) : plan?.tables) ??
      (toc
        ? toc.entries.filter((e) => e.desc === 'TABLE').map((e) => ({ schema: e.namespace!, name: e.tag }))
        : manifest.tables.map((t) => ({ schema: t.schema, name: t.name })));
    let tables =
      options.countRows === false
        ? restoredTables.map((t) => withExpected(manifest, t, null))
        : await withTargetClient(target, (c) => countRestored(c, manifest, restoredTables));
    options.onProgress?.({ phase: 'count', tables: tables.length });
    if (besideOnly) {
      // A copy's expected rows are its live name's in the manifest.
      tables = tables.map((t, i) => {
        const live = withExpected(manifest, beside!.tables[i].live, t.restored);
        return { ...live, schema: t.schema, name: t.name };
      });
    }

    return {
      backupId: manifest.backupId,
      databaseId: manifest.databaseId,
      target: describeTarget(target),
      mode: plan ? 'tables' : 'full',
      archive: { key: manifest.object.key, bytes: manifest.object.bytes, sha256: manifest.object.sha256 },
      pgRestore: { path: bin.path, major: bin.major, version: bin.version },
      targetServerVersion: info.serverVersion,
      jobs,
      owners: keepOwners ? 'kept' : ownersApplied ? 'mapped' : 'dropped',
      ...(ownersApplied ? { ownerMappings: ownersApplied.mapped } : {}),
      ...(ownersReason ? { ownersReason } : {}),
      ownersSelfGrants,
      roles,
      ...(extensions ? { extensions } : {}),
      ...(platform && platform.schemas.length > 0 ? { platformSchemas: platform } : {}),
      ...(toc && extensions && notRestoredOf(toc.entries, extensions)
        ? { notRestored: notRestoredOf(toc.entries, extensions) }
        : {}),
      ...(databaseProperties ? { databaseProperties } : {}),
      ...(database
        ? { expected: { ...(rolesSql !== undefined ? { roles: parseRolesScript(rolesSql) } : {}), database } }
        : {}),
      entries: { total: entriesTotal, processed },
      ...(beside
        ? {
            beside: {
              schema: beside.schema,
              tables: beside.tables,
              swapped: swap !== undefined,
              nextSteps: swap ? [] : besideNextSteps(beside),
            },
          }
        : {}),
      ...(swap ? { swap } : {}),
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
    await work.release();
  }
}
