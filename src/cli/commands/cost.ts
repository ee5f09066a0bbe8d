/**
 * `restorable cost`: what the configured retention costs per month and over seven years in both
 * regions (lambda/core/cost), from the real backup sizes in the bucket or from `--db-size` and
 * `--growth` before deploying; side by side with S3 Standard only and AWS Backup snapshots.
 */
import type { Command } from 'commander';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CostProjection } from '../../../lambda/core/cost/model';
import { core } from '../load-core';
import { table, type Io } from '../output';
import { bucketFrom, usageError } from '../stack-outputs';
import { collect, runs, type CliContext } from './command';

export interface CostOptions {
  readonly db?: string[];
  readonly dbSize?: string;
  readonly backupSize?: string;
  readonly growth?: string;
  readonly primaryRegion?: string;
  readonly replicaRegion?: string;
  readonly months?: string;
  readonly json?: boolean;
  readonly bucket?: string;
  readonly stack?: string;
  readonly region?: string;
}

/** pg_dump's custom format compresses typical data about 4:1; used only when one size is missing. */
export const DUMP_TO_DATABASE_RATIO = 0.25;
const GB = 1_000_000_000;

const money = (v: number) => `$${v.toFixed(2)}`;

export async function runCost(o: CostOptions, io: Io, s3?: S3Client): Promise<number> {
  const problems: string[] = [];
  const num = (flag: string, v: string | undefined, min: number) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min)
      problems.push(`${flag} must be a number of at least ${min} (got ${v})`);
    return n;
  };
  const dbSize = num('--db-size', o.dbSize, 0);
  const backupSize = num('--backup-size', o.backupSize, 0);
  const growth = num('--growth', o.growth, -100) ?? 0;
  const months = num('--months', o.months, 1) ?? 84;
  const primaryRegion = o.primaryRegion ?? process.env.AWS_REGION;
  if (!primaryRegion) problems.push('give --primary-region (or set AWS_REGION)');
  if (!o.replicaRegion) problems.push('give --replica-region');
  if (dbSize === undefined && backupSize === undefined && !o.bucket && !o.stack) {
    problems.push('give --db-size <GB> (before deploying) or --bucket/--stack to use the real backup sizes');
  }
  if (problems.length > 0) return usageError(io, problems.join('; '));
  const { projectCost } = core();
  let backupGb = backupSize ?? (dbSize !== undefined ? dbSize * DUMP_TO_DATABASE_RATIO : undefined);
  let basis = dbSize !== undefined || backupSize !== undefined ? 'given sizes' : '';
  if (backupGb === undefined) {
    const { makeS3Client, latestValidBackup, discoverDatabases } = core();
    const client = s3 ?? makeS3Client(o.region);
    const bucket = await bucketFrom(o);
    const ids = o.db?.length ? o.db : await discoverDatabases(client, bucket);
    let bytes = 0;
    for (const id of ids) bytes += (await latestValidBackup(client, bucket, id))?.bytes ?? 0;
    if (bytes === 0)
      return usageError(io, `no valid backup in bucket ${bucket} to size from: give --db-size`);
    backupGb = bytes / GB;
    basis = `newest backups in ${bucket} (${ids.join(', ')})`;
  }
  const projection = projectCost({
    backupGb,
    databaseGb: dbSize ?? backupGb / DUMP_TO_DATABASE_RATIO,
    growthPercentPerMonth: growth,
    primaryRegion: primaryRegion!,
    replicaRegion: o.replicaRegion!,
    months,
    drillsPerMonth: 1,
  });
  if (o.json) io.out(JSON.stringify({ basis, ...projection }, null, 2));
  else printCost(projection, basis, io);
  return 0;
}

export function printCost(p: CostProjection, basis: string, io: Io): void {
  const n = p.scenarios[0].months.length;
  const at = (i: number) => Math.min(i, n) - 1;
  io.out(
    `backup ${p.input.backupGb.toFixed(2)} GB, database ${p.input.databaseGb.toFixed(2)} GB (${basis}), ` +
      `growth ${p.input.growthPercentPerMonth ?? 0}%/month, ${p.input.primaryRegion} + ${p.input.replicaRegion}`,
  );
  io.out(
    table(
      ['SCENARIO', 'MONTH 1', 'MONTH 12', `MONTH ${n}`, `TOTAL ${n} MONTHS`],
      p.scenarios.map((s) => [
        s.name,
        money(s.months[0].total),
        money(s.months[at(12)].total),
        money(s.months[n - 1].total),
        money(s.total),
      ]),
    ),
  );
  const last = p.scenarios[0].months[n - 1];
  io.out(`\nrestorable, month ${n}, by item (both regions):`);
  io.out(
    table(
      ['ITEM', 'COST'],
      [
        ...Object.entries(last.storage).map(([c, v]) => [`storage ${c}`, money(v)]),
        ['early deletion', money(last.earlyDeletion)],
        ['requests (puts, gets, transitions)', money(last.requests)],
        ['replication transfer + RTC', money(last.replication)],
        ['drill instance-hours', money(last.drills)],
      ],
    ),
  );
  io.out(
    `\nrestore of one backup (${p.input.backupGb.toFixed(2)} GB) from each class, ${p.input.primaryRegion}:`,
  );
  io.out(
    table(
      ['CLASS', 'RETRIEVAL', 'WAIT'],
      p.restores.map((r) => [
        r.storageClass,
        money(r.retrievalCost),
        r.hoursBeforeFirstByte ? `up to ${r.hoursBeforeFirstByte} h` : 'milliseconds',
      ]),
    ),
  );
  for (const s of p.scenarios.filter((x) => x.note)) io.err(`note: ${s.name}: ${s.note}`);
  io.err(
    `prices: ${p.prices.primary.region} as of ${p.prices.primary.asOf}, ${p.prices.replica.region} as of ${p.prices.replica.asOf} ` +
      `(${p.prices.primary.sources.join(', ')})`,
  );
}

export function register(program: Command, cli: CliContext): void {
  program
    .command('cost')
    .description(
      'monthly and 7-year cost of the retention in both regions, against S3 Standard and AWS Backup',
    )
    .option(
      '--db <id>',
      'size from this database only (repeatable; default: every database in the bucket)',
      collect,
    )
    .option('--db-size <GB>', 'database size, before deploying')
    .option('--backup-size <GB>', `one backup's size (default: --db-size × ${DUMP_TO_DATABASE_RATIO})`)
    .option('--growth <percent>', 'growth per month, percent', '0')
    .option('--primary-region <region>', 'primary region (default: AWS_REGION)')
    .option('--replica-region <region>', 'replica region')
    .option('--months <n>', 'horizon', '84')
    .option('--json', 'machine-readable output')
    .option('--bucket <name>', 'backup bucket (real sizes)')
    .option('--stack <name>', 'read the bucket name from this deployed BackupStack')
    .option('--region <region>', 'AWS region of the bucket')
    .action(runs(cli, runCost));
}
