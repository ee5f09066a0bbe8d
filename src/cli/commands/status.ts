/**
 * `restorable status [--db <id>] [--json]`: on-call's one screen (lambda/core/evidence/status.ts).
 * Exit 0 when every database is within its RPO, its last drill passed and no alarm is in ALARM;
 * 1 otherwise (so a script can gate on it); 2 for a wrong command line.
 */
import type { Command } from 'commander';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { S3Client } from '@aws-sdk/client-s3';
import type { StatusReport } from '../../../lambda/core/evidence/status';
import { core } from '../load-core';
import { formatBytes, table, type Io } from '../output';
import { bucketFrom, usageError } from '../stack-outputs';
import { collect, runs, type CliContext } from './command';

export interface StatusOptions {
  readonly db?: string[];
  readonly rpoHours?: string;
  readonly json?: boolean;
  readonly alarms?: boolean;
  readonly bucket?: string;
  readonly stack?: string;
  readonly region?: string;
}

export function healthy(r: StatusReport): boolean {
  return (
    r.otherAlarms.length === 0 &&
    r.databases.every((d) => d.rpo === 'ok' && d.alarms.length === 0 && d.lastDrill?.status !== 'FAILED')
  );
}

export async function runStatus(
  o: StatusOptions,
  io: Io,
  clients: { s3?: S3Client; cloudwatch?: CloudWatchClient } = {},
): Promise<number> {
  const rpo = o.rpoHours === undefined ? 24 : Number(o.rpoHours);
  if (!(rpo > 0)) return usageError(io, `--rpo-hours must be a positive number (got ${o.rpoHours})`);
  const bucket = await bucketFrom(o);
  const { collectStatus, discoverDatabases, makeS3Client, CloudWatchClient: Cw } = core();
  const s3 = clients.s3 ?? makeS3Client(o.region);
  const report = await collectStatus({
    s3,
    bucket,
    databaseIds: o.db?.length ? o.db : await discoverDatabases(s3, bucket),
    rpoHours: rpo,
    cloudwatch:
      o.alarms === false ? undefined : (clients.cloudwatch ?? new Cw(o.region ? { region: o.region } : {})),
    stackName: o.stack,
  });
  if (o.json) io.out(JSON.stringify(report, null, 2));
  else printStatus(report, io);
  return healthy(report) ? 0 : 1;
}

const hours = (h: number) => (h < 48 ? `${h.toFixed(1)} h` : `${(h / 24).toFixed(1)} d`);

export function printStatus(r: StatusReport, io: Io): void {
  io.out(
    table(
      [
        'DATABASE',
        'NEWEST BACKUP',
        'SIZE',
        'AGE / RPO',
        'VERIFIED',
        'REPLICA',
        'LAST DRILL',
        'RTO / TARGET',
        'ALARMS',
      ],
      r.databases.map((d) => [
        d.databaseId,
        d.newestBackup?.backupId ?? 'NONE',
        d.newestBackup ? formatBytes(d.newestBackup.bytes) : '-',
        d.newestBackup
          ? `${hours(d.newestBackup.ageHours)} / ${d.rpoHours} h${d.rpo === 'stale' ? ' STALE' : ''}`
          : `- / ${d.rpoHours} h NONE`,
        d.newestBackup?.verified === null || !d.newestBackup ? '-' : d.newestBackup.verified ? 'yes' : 'NO',
        `${d.replication.status.toLowerCase()}${d.replication.verifiedReplica === 'missing' ? ' MISSING' : ''}`,
        d.lastDrill ? `${d.lastDrill.status} ${d.lastDrill.startedAt.slice(0, 10)}` : 'never',
        d.lastDrill?.rtoSeconds != null
          ? `${(d.lastDrill.rtoSeconds / 60).toFixed(1)} / ${(d.lastDrill.rtoTargetSeconds / 60).toFixed(0)} min${d.lastDrill.rtoMet ? '' : ' OVER'}`
          : '-',
        d.alarms.length ? d.alarms.map((a) => a.name).join(', ') : 'none',
      ]),
    ),
  );
  for (const a of r.otherAlarms) io.out(`ALARM ${a.name}: ${a.reason}`);
  if (!r.alarmsChecked) io.err(`warning: alarms not checked${r.alarmsError ? `: ${r.alarmsError}` : ''}`);
  if (r.databases.some((d) => d.clock === 'local'))
    io.err('warning: S3 sent no Date header; ages use the local clock');
}

export function register(program: Command, cli: CliContext): void {
  program
    .command('status')
    .description('one screen for on-call: newest backup age vs RPO, last drill vs RTO, replication, alarms')
    .option('--db <id>', 'only this database (repeatable; default: every database in the bucket)', collect)
    .option('--rpo-hours <n>', 'recovery point objective', '24')
    .option('--no-alarms', 'do not ask CloudWatch')
    .option('--json', 'machine-readable output')
    .option('--bucket <name>', 'backup bucket')
    .option('--stack <name>', 'the deployed BackupStack: bucket from its outputs, alarms by its name')
    .option('--region <region>', 'AWS region (default: AWS_REGION)')
    .action(runs(cli, runStatus));
}
