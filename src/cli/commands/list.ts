/**
 * `restorable list`: the backups of a database, newest first, with each one's validity and where
 * its newest drill restored it (engine, server major; from the newest drill reports only), as a
 * table or `--json`.
 */
import type { Command } from 'commander';
import type { DrillOfBackup } from '../../../lambda/core/drill-report';
import { isTier, TIERS, type Tier } from '../../../lambda/core/tiers';
import { UsageError } from '../errors';
import { core } from '../load-core';
import { formatBytes, table, type Io } from '../output';
import { resolveStore, storeOptions, type StoreOptions } from '../store';
import { runs, type CliContext } from './command';

export function register(program: Command, cli: CliContext): void {
  storeOptions(program.command('list').description('list the backups of a database, newest first'))
    .option('--tier <tier>', `only this tier (${TIERS.join(', ')})`)
    .action(runs(cli, list));
}

export async function list(o: StoreOptions & { tier?: string }, io: Io): Promise<number> {
  if (o.tier !== undefined && !isTier(o.tier)) {
    throw new UsageError(`--tier must be one of ${TIERS.join(', ')} (got ${o.tier})`);
  }
  const tier = o.tier as Tier | undefined;
  const store = await resolveStore(o);
  const entries = await core().listBackups(store.s3, store.bucket, o.db, { tier, includeInvalid: true });
  const drills = entries.length > 0 ? await core().latestDrills(store.s3, store.bucket, o.db) : new Map();
  if (o.json) {
    io.out(
      JSON.stringify(
        entries.map((b) => ({
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
      ['BACKUP', 'TIER', 'PERIOD', 'SIZE', 'TABLES', 'CREATED (UTC)', 'STATUS', 'DRILLED'],
      entries.map((b) => [
        b.backupId,
        b.tier,
        b.period,
        b.bytes === undefined ? '-' : formatBytes(b.bytes),
        b.manifest ? b.manifest.tables.length : '-',
        b.createdAt.toISOString().replace('.000Z', 'Z'),
        b.valid ? 'valid' : `INVALID: ${b.problem ?? 'unknown'}`,
        drilledText(drills.get(b.backupId)),
      ]),
    ),
  );
  return 0;
}

/** `PASSED pg16 rds`, `FAILED pg15 local`, or `-` when no recent drill restored this backup. */
function drilledText(d: DrillOfBackup | undefined): string {
  if (!d) return '-';
  return d.restoredOn ? `${d.status} pg${d.restoredOn.serverMajor} ${d.restoredOn.engine}` : d.status;
}
