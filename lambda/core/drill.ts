/**
 * Restore drills: prove a backup restores by restoring it.
 *
 * select a backup (the newest that re-verifies, or a random verified one within a window) →
 * create an ephemeral database (providers/) → wait until it is available → restore roles, then
 * the archive (restore.ts) → checks (checks.ts) → report → release the ephemeral database, always.
 *
 * Two shapes share these steps:
 * - `runDrill` runs everything in one process (the CLI's `drill --local`, the demo, tests) and
 *   releases the ephemeral database in a `finally`;
 * - the Step Functions workflow (RDS) calls one step per Lambda invocation (handlers/drill.ts),
 *   carrying a JSON `DrillState` between them; its Catch path releases the database and writes a FAILED report.
 *
 * RTO is measured from the drill's start (before selection) to the moment the checks finished on
 * the restored data: the time an operator would need to get verified data back from scratch,
 * including creating a database. `restoreSeconds` is the restore step alone (download, roles,
 * pg_restore). An RTO over the target fails the drill, as do failed checks and a database that
 * could not be released.
 *
 * This file owns the in-process drill (`runDrill`) and is the drill's entry point: it re-exports
 * the settings (drill-settings.ts), the state (drill-state.ts), the steps (drill-steps.ts) and the
 * report (drill-report.ts), so callers import from one place.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { buildReport, writeReport, type DrillReport } from './drill-report';
import { resolveDrillSettings, type DrillSettingsInput } from './drill-settings';
import { DrillStepError, initialState, type DrillSource, type DrillStep } from './drill-state';
import { provisionStep, releaseStep, restoreAndCheckStep, selectBackup } from './drill-steps';
import { silentLogger, type CoreLogger } from './logger';
import { waitUntilAvailable, type EphemeralDatabaseProvider, type WaitOptions } from './providers/provider';
import type { RestoreTarget } from './restore';

export * from './drill-report';
export * from './drill-settings';
export * from './drill-state';
export * from './drill-steps';

export interface RunDrillOptions {
  readonly databaseId: string;
  /** Where backups are read from: the replica bucket by default (the caller picks the client's region). */
  readonly source: DrillSource;
  readonly provider: EphemeralDatabaseProvider;
  /** Drill settings (selection, checks, RTO target, jobs). */
  readonly settings?: DrillSettingsInput;
  /** Where the report goes. @default - the source bucket */
  readonly reportS3?: S3Client;
  readonly reportBucket?: string;
  /** Write no report (the CLI's dry runs). @default true */
  readonly writeReport?: boolean;
  readonly now?: () => Date;
  readonly random?: () => number;
  readonly pgBinDirs?: string[];
  readonly tempDir?: string;
  readonly wait?: WaitOptions;
  readonly maxLifetimeHours?: number;
  readonly logger?: CoreLogger;
  readonly drillId?: string;
  /** Test seam: runs between the restore and the checks. */
  readonly afterRestore?: (target: RestoreTarget) => Promise<void>;
  /**
   * Stops the drill (the CLI's Ctrl-C): the current step ends as soon as it can, the drill FAILS
   * with the step it was at, and the ephemeral database is released as always.
   */
  readonly signal?: AbortSignal;
}

export interface RunDrillResult {
  readonly report: DrillReport;
  /** Where the report was written (undefined when `writeReport` is false). */
  readonly reportKey?: string;
}

/**
 * The whole drill in this process. Never throws for a drill failure (the report says FAILED and
 * why); the ephemeral database is released in a `finally`, whatever happened.
 */
export async function runDrill(options: RunDrillOptions): Promise<RunDrillResult> {
  const log = options.logger ?? silentLogger;
  const now = options.now ?? (() => new Date());
  const settings = resolveDrillSettings(options.settings);
  const startedAt = now();
  let state = initialState(options.databaseId, settings, options.source, startedAt, options.drillId);
  let failure: { step: DrillStep; reason: string } | undefined;
  let step: DrillStep = 'select';
  log.info('drill starting', {
    drillId: state.drillId,
    databaseId: options.databaseId,
    provider: options.provider.name,
  });
  try {
    const selected = await selectBackup(options.source, {
      databaseId: options.databaseId,
      selection: settings.selection,
      randomWindowDays: settings.randomWindowDays,
      now: startedAt,
      pgBinDirs: options.pgBinDirs,
      random: options.random,
      logger: log,
    });
    state = { ...state, backup: selected.backup, skippedBackups: selected.skipped };
    log.info('backup selected', { backupId: selected.backup.backupId, skipped: selected.skipped.length });
    const stopIfAborted = () => {
      if (options.signal?.aborted) throw new DrillStepError(step, 'drill interrupted');
    };
    stopIfAborted();
    step = 'provision';
    state = await provisionStep(options.provider, state, { maxLifetimeHours: options.maxLifetimeHours });
    stopIfAborted();
    step = 'wait';
    await waitUntilAvailable(options.provider, state.ephemeral!, {
      intervalMs: options.provider.name === 'local' ? 200 : undefined,
      ...options.wait,
    });
    stopIfAborted();
    step = 'restore';
    state = await restoreAndCheckStep(state, {
      signal: options.signal,
      source: options.source,
      provider: options.provider,
      now,
      pgBinDirs: options.pgBinDirs,
      tempDir: options.tempDir,
      logger: log,
      afterRestore: options.afterRestore,
    });
  } catch (e) {
    failure = {
      step: e instanceof DrillStepError ? e.step : step,
      reason: (e as Error).message,
    };
    log.error('drill step failed', { ...failure });
  } finally {
    state = await releaseStep(options.provider, state, { now, logger: log });
  }
  const report = buildReport(state, options.provider.name, now(), failure);
  log.info('drill finished', {
    status: report.status,
    rtoSeconds: report.rtoSeconds,
    failure: report.failure,
  });
  if (options.writeReport === false) return { report };
  const reportS3 = options.reportS3 ?? options.source.s3;
  const reportKey = await writeReport(reportS3, options.reportBucket ?? options.source.bucket, report);
  return { report, reportKey };
}
