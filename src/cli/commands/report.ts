/**
 * `restorable report --db <id>|--all --from <date> --to <date> [--format html|md|json] [--out <file>]`:
 * the evidence report, built only from what the bucket holds (lambda/core/evidence), rendered by
 * src/report. Exit 0 when the report was produced, whatever it shows; 2 for a wrong command line.
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { S3Client } from '@aws-sdk/client-s3';
import { parseDay } from '../../../lambda/core/evidence/model';
import { REPORT_FORMATS, renderReport, type ReportFormat } from '../../report/render';
import { core } from '../load-core';
import type { Io } from '../output';
import { bucketFrom, usageError } from '../stack-outputs';
import { collect, runs, type CliContext } from './command';

export interface ReportOptions {
  readonly db?: string[];
  readonly all?: boolean;
  readonly from?: string;
  readonly to?: string;
  readonly format?: string;
  readonly out?: string;
  readonly rpoHours?: string;
  readonly graceMinutes?: string;
  readonly bucket?: string;
  readonly stack?: string;
  readonly region?: string;
}

/** Checks the command line; a message for each problem, all at once. */
export function reportProblems(o: ReportOptions): string[] {
  const problems: string[] = [];
  if (!o.all && !(o.db && o.db.length)) problems.push('give --db <id> (repeatable) or --all');
  if (o.all && o.db?.length) problems.push('--db and --all exclude each other');
  for (const [flag, v] of [
    ['--from', o.from],
    ['--to', o.to],
  ] as const) {
    if (!v) problems.push(`${flag} <yyyy-mm-dd> is required`);
    else {
      try {
        parseDay(v, flag);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
  }
  if (o.from && o.to && o.from > o.to) problems.push(`--to (${o.to}) is before --from (${o.from})`);
  if (o.format && !(REPORT_FORMATS as readonly string[]).includes(o.format)) {
    problems.push(`--format must be one of ${REPORT_FORMATS.join(', ')} (got ${o.format})`);
  }
  for (const [flag, v] of [
    ['--rpo-hours', o.rpoHours],
    ['--grace-minutes', o.graceMinutes],
  ] as const) {
    if (v !== undefined && !(Number(v) >= 0 && Number.isFinite(Number(v)))) {
      problems.push(`${flag} must be a number of at least 0 (got ${v})`);
    }
  }
  return problems;
}

export async function runReport(o: ReportOptions, io: Io, s3?: S3Client): Promise<number> {
  const problems = reportProblems(o);
  if (problems.length > 0) return usageError(io, problems.join('; '));
  const bucket = await bucketFrom(o);
  const { buildEvidenceReport, makeS3Client } = core();
  const report = await buildEvidenceReport({
    s3: s3 ?? makeS3Client(o.region),
    bucket,
    databaseIds: o.all ? undefined : o.db,
    from: o.from!,
    to: o.to!,
    ...(o.rpoHours !== undefined ? { rpoHours: Number(o.rpoHours) } : {}),
    ...(o.graceMinutes !== undefined ? { graceMinutes: Number(o.graceMinutes) } : {}),
  });
  const text = renderReport(report, (o.format ?? 'json') as ReportFormat);
  if (o.out) {
    fs.writeFileSync(o.out, text);
    const gaps = report.databases.reduce((n, d) => n + d.gapDays.length, 0);
    io.err(
      `report written to ${o.out}: ${report.databases.length} database(s), ${gaps} day(s) without a valid backup within the RPO`,
    );
  } else io.out(text);
  return 0;
}

export function register(program: Command, cli: CliContext): void {
  program
    .command('report')
    .description('evidence report from the bucket: daily backups, verification, RPO gaps, drills, retention')
    .option('--db <id>', 'database id (repeatable)', collect)
    .option('--all', 'every database found in the bucket')
    .option('--from <yyyy-mm-dd>', 'first day (UTC)')
    .option('--to <yyyy-mm-dd>', 'last day (UTC), included')
    .option('--format <format>', `${REPORT_FORMATS.join(', ')}`, 'json')
    .option('--out <file>', 'write the report to this file instead of stdout')
    .option('--rpo-hours <n>', 'recovery point objective', '24')
    .option('--grace-minutes <n>', 'slack on the RPO, as the stale-backup alarm allows', '60')
    .option('--bucket <name>', 'backup bucket')
    .option('--stack <name>', 'read the bucket name from this deployed BackupStack')
    .option('--region <region>', 'AWS region of the bucket (default: AWS_REGION)')
    .action(runs(cli, runReport));
}
