/**
 * `restorable list`: the backups of a database, newest first, with each one's validity and where
 * its archive is stored: a backup in Glacier Flexible Retrieval or Deep Archive is marked archived
 * (it needs `restorable thaw` before verify, restore or a drill can read it), or thawing, or
 * thawed until the restored copy expires; and where its newest drill restored it (engine, server
 * major; from the newest drill reports only) — as a table, or `--json`.
 * On-demand backups (`adhoc`) show why they were taken.
 */
import type { Command } from 'commander';
import type { ArchiveState } from '../../../lambda/core/archive-state';
import type { BackupEntry } from '../../../lambda/core/catalog';
import type { DrillOfBackup } from '../../../lambda/core/drill-report';
import { isStoredTier, STORED_TIERS, type StoredTier } from '../../../lambda/core/tiers';
import { UsageError } from '../errors';
import { core } from '../load-core';
import { formatBytes, table, type Io } from '../output';
import { resolveStore, storeOptions, type StoreOptions } from '../store';
import { runs, type CliContext } from './command';

export function register(program: Command, cli: CliContext): void {
  storeOptions(program.command('list').description('list the backups of a database, newest first'))
    .option('--tier <tier>', `only this tier (${STORED_TIERS.join(', ')})`)
    .action(runs(cli, list));
}

export async function list(o: StoreOptions & { tier?: string }, io: Io): Promise<number> {
  if (o.tier !== undefined && !isStoredTier(o.tier)) {
    throw new UsageError(`--tier must be one of ${STORED_TIERS.join(', ')} (got ${o.tier})`);
  }
  const tier = o.tier as StoredTier | undefined;
  const store = await resolveStore(o);
  const entries = await core().listBackups(store.s3, store.bucket, o.db, { tier, includeInvalid: true });
  const storage = await storageOf(store.s3, store.bucket, entries);
  const drills = entries.length > 0 ? await core().latestDrills(store.s3, store.bucket, o.db) : new Map();
  if (o.json) {
    io.out(
      JSON.stringify(
        entries.map((b, i) => ({
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
          reason: b.manifest?.reason,
          storageClass: storage[i]?.storageClass,
          archived: storage[i]?.archived,
          restore: storage[i]?.restore,
          restoreExpiresAt: storage[i]?.expiresAt?.toISOString(),
          drill: drills.get(b.backupId),
        })),
        null,
        2,
      ),
    );
    return 0;
  }
  if (entries.length === 0) {
    io.out(`no backups of ${o.db} in bucket ${store.bucket}${tier ? ` (tier ${tier})` : ''}`);
    return 0;
  }
  io.out(
    table(
      ['BACKUP', 'TIER', 'PERIOD', 'SIZE', 'TABLES', 'CREATED (UTC)', 'STORAGE', 'STATUS', 'DRILLED'],
      entries.map((b, i) => [
        b.backupId,
        b.tier,
        b.period,
        b.bytes === undefined ? '-' : formatBytes(b.bytes),
        b.manifest ? b.manifest.tables.length : '-',
        b.createdAt.toISOString().replace('.000Z', 'Z'),
        describeStorage(storage[i]),
        (b.valid ? 'valid' : `INVALID: ${b.problem ?? 'unknown'}`) +
          (b.manifest?.reason ? ` (reason: ${b.manifest.reason})` : ''),
        drilledText(drills.get(b.backupId)),
      ]),
    ),
  );
  return 0;
}

/**
 * Each entry's archive object as HeadObject reports it (ListObjectsV2 gives the class but not the
 * restore state), a few at a time; undefined where the object is gone or unreadable.
 */
async function storageOf(
  s3: Parameters<ReturnType<typeof core>['headArchiveState']>[0],
  bucket: string,
  entries: readonly BackupEntry[],
): Promise<(ArchiveState | undefined)[]> {
  const out = new Array<ArchiveState | undefined>(entries.length);
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const i = next++;
      out[i] = await core()
        .headArchiveState(s3, bucket, entries[i].dumpKey)
        .catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, entries.length) }, worker));
  return out;
}

/** `STANDARD`, `DEEP_ARCHIVE archived`, `GLACIER thawing`, `DEEP_ARCHIVE thawed until 2026-...`. */
export function describeStorage(state: ArchiveState | undefined): string {
  if (!state) return '-';
  if (!state.archived) return state.storageClass;
  if (state.restore === 'ongoing') return `${state.storageClass} thawing`;
  if (state.restore === 'restored')
    return `${state.storageClass} thawed${state.expiresAt ? ` until ${state.expiresAt.toISOString().slice(0, 10)}` : ''}`;
  return `${state.storageClass} archived`;
}

/** `PASSED pg16 rds`, `FAILED pg15 local`, or `-` when no recent drill restored this backup. */
function drilledText(d: DrillOfBackup | undefined): string {
  if (!d) return '-';
  return d.restoredOn ? `${d.status} pg${d.restoredOn.serverMajor} ${d.restoredOn.engine}` : d.status;
}
