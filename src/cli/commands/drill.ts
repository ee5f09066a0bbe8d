/**
 * `restorable drill --local`: a restore drill from the bucket into a throwaway local cluster, with
 * the automatic and operator checks and a measured RTO; exits 1 unless the drill PASSED. (Deployed
 * drills run from their Step Functions workflow, not from here.)
 */
import * as fs from 'node:fs';
import { Option, type Command } from 'commander';
import type { DrillReport } from '../../../lambda/core/drill';
import { interruptible } from '../cleanup';
import { Interrupted, UsageError } from '../errors';
import { core } from '../load-core';
import { formatSeconds, Progress, progressLogger, showProgress, type Io } from '../output';
import { resolveStore, storeOptions, type StoreOptions } from '../store';
import { positiveInt, runs, type CliContext } from './command';

export function register(program: Command, cli: CliContext): void {
  storeOptions(
    program.command('drill').description('restore drill into an ephemeral local cluster, with checks'),
  )
    .option('--local', 'run the drill here, into a throwaway local PostgreSQL cluster')
    .option('--replica-bucket <name>', 'read the backup from this replica bucket instead')
    .option('--checks <file>', 'JSON file with operator checks [{name, sql, expect}]')
    .addOption(new Option('--rto-minutes <n>', 'RTO target').argParser(positiveInt('--rto-minutes')))
    .action(runs(cli, drill));
}

export async function drill(
  o: StoreOptions & { local?: boolean; replicaBucket?: string; checks?: string; rtoMinutes?: number },
  io: Io,
): Promise<number> {
  if (!o.local) {
    throw new UsageError(
      'only --local drills run from the CLI; deployed drills run from their Step Functions workflow',
    );
  }
  const store = await resolveStore(o);
  let checks: unknown[] = [];
  if (o.checks) {
    try {
      checks = JSON.parse(fs.readFileSync(o.checks, 'utf8'));
    } catch (e) {
      throw new UsageError(`--checks ${o.checks}: ${(e as Error).message}`);
    }
  }
  const progress = new Progress(showProgress(o));
  progress.update(`drilling ${o.db}: selecting a backup, starting an ephemeral cluster...`);
  const { LocalDatabaseProvider, runDrill } = core();
  const signal = interruptible();
  const { report, reportKey } = await runDrill({
    signal,
    databaseId: o.db,
    source: o.replicaBucket
      ? { s3: store.s3, bucket: o.replicaBucket, kind: 'replica' }
      : { s3: store.s3, bucket: store.bucket, kind: 'primary' },
    reportS3: store.s3,
    reportBucket: store.bucket,
    provider: new LocalDatabaseProvider(),
    settings: {
      checks: checks as never,
      ...(o.rtoMinutes ? { rtoTargetMinutes: o.rtoMinutes } : {}),
    },
    logger: progressLogger(progress, io),
  });
  progress.done();
  if (o.json) io.out(JSON.stringify({ ...report, reportKey }, null, 2));
  else printDrillReport(report, reportKey, io);
  if (signal.aborted) {
    throw new Interrupted(
      `drill interrupted at ${report.failure?.step ?? 'the end'}; ephemeral cluster ` +
        (report.ephemeral.released ? 'released' : 'NOT released'),
    );
  }
  return report.status === 'PASSED' ? 0 : 1;
}

export function printDrillReport(r: DrillReport, reportKey: string | undefined, io: Io): void {
  io.out(`drill ${r.drillId}: ${r.status}${r.failure ? ` at ${r.failure.step}: ${r.failure.reason}` : ''}`);
  io.out(`  backup     ${r.backupId ?? 'none'} (${r.source.kind} bucket ${r.source.bucket})`);
  if (r.skippedBackups.length > 0) {
    io.out(`  skipped    ${r.skippedBackups.map((s) => `${s.backupId} (${s.reason})`).join(', ')}`);
  }
  io.out(
    `  RTO        ${r.rtoSeconds === null ? '-' : formatSeconds(r.rtoSeconds)} ` +
      `(target ${formatSeconds(r.rtoTargetSeconds)}); restore ${r.restoreSeconds === null ? '-' : formatSeconds(r.restoreSeconds)}`,
  );
  if (r.checks) {
    io.out(`  checks     ${r.checks.passed} passed, ${r.checks.failed} failed`);
    for (const f of r.checks.results.filter((c) => !c.ok)) io.out(`    FAILED ${f.name}: ${f.detail ?? ''}`);
  }
  io.out(
    `  ephemeral  ${r.ephemeral.id ?? '-'} ${r.ephemeral.released ? 'released' : `NOT RELEASED ${r.ephemeral.releaseError ?? ''}`}`,
  );
  if (reportKey) io.out(`  report     ${reportKey}`);
}
