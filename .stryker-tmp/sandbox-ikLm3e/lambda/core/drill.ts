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
 *   carrying a JSON `DrillState` between them; its Catch path calls `failedReport` + release.
 *
 * RTO is measured from the drill's start (before selection) to the moment the checks finished on
 * the restored data: the time an operator would need to get verified data back from scratch,
 * including creating a database. `restoreSeconds` is the restore step alone (download, roles,
 * pg_restore). An RTO over the target fails the drill, as do failed checks and a database that
 * could not be released.
 */
// @ts-nocheck

import { randomBytes } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { latestValidBackup, listBackups, type BackupEntry } from './catalog';
import {
  describeFailures,
  OperatorCheckSchema,
  runChecks,
  type CheckResult,
  type ChecksResult,
  type OperatorCheck,
} from './checks';
import { silentLogger, type CoreLogger } from './logger';
import type { Manifest } from './manifest';
import { MetricNames, type MetricName } from './metric-names';
import {
  allocatedStorageFor,
  waitUntilAvailable,
  type EphemeralDatabaseProvider,
  type EphemeralDescription,
  type EphemeralHandle,
  type ProviderName,
  type WaitOptions,
} from './providers/provider';
import {
  readManifest,
  restoreBackup,
  withTargetClient,
  type RestoreProgress,
  type RestoreResult,
  type RestoreTarget,
} from './restore';
import { compactTimestamp, drillReportKey } from './tiers';
import { verifyBackup } from './verify';

// ---------------------------------------------------------------------------------------------
// Settings and state
// ---------------------------------------------------------------------------------------------

/**
 * Per-database drill settings (the config's `databases[].drill`, extra keys such as `enabled` and
 * `schedule` ignored).
 */
export const DrillSettingsSchema = z.object({
  selection: z.enum(['latest', 'random']).default('latest'),
  randomWindowDays: z.number().positive().default(30),
  /** Restore from the replica bucket (default) or the primary one. */
  source: z.enum(['replica', 'primary']).default('replica'),
  instanceClass: z.string().min(1).optional(),
  /** RTO target; `rtoTargetSeconds` wins over `rtoTargetMinutes`. @default 60 minutes */
  rtoTargetMinutes: z.number().positive().optional(),
  rtoTargetSeconds: z.number().positive().optional(),
  checks: z.array(OperatorCheckSchema).default([]),
  /** Default statement timeout of operator checks. @default 30 */
  checkTimeoutSeconds: z.number().positive().max(3600).optional(),
  /** pg_restore jobs. @default - min(4, CPUs) */
  jobs: z.number().int().min(1).max(64).optional(),
});
export type DrillSettingsInput = z.input<typeof DrillSettingsSchema>;

export interface ResolvedDrillSettings {
  readonly selection: 'latest' | 'random';
  readonly randomWindowDays: number;
  readonly source: 'replica' | 'primary';
  readonly instanceClass?: string;
  readonly rtoTargetSeconds: number;
  readonly checks: readonly OperatorCheck[];
  readonly checkTimeoutSeconds?: number;
  readonly jobs?: number;
}

export const DEFAULT_RTO_TARGET_SECONDS = 3600;

/** Validates settings; throws listing every problem. */
export function resolveDrillSettings(input: unknown): ResolvedDrillSettings {
  const parsed = DrillSettingsSchema.safeParse(input ?? {});
  if (!parsed.success) {
    throw new Error(
      `invalid drill settings: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(settings)'}: ${i.message}`).join('; ')}`,
    );
  }
  const s = parsed.data;
  return {
    selection: s.selection,
    randomWindowDays: s.randomWindowDays,
    source: s.source,
    ...(s.instanceClass ? { instanceClass: s.instanceClass } : {}),
    rtoTargetSeconds:
      s.rtoTargetSeconds ??
      (s.rtoTargetMinutes !== undefined ? s.rtoTargetMinutes * 60 : DEFAULT_RTO_TARGET_SECONDS),
    checks: s.checks,
    ...(s.checkTimeoutSeconds !== undefined ? { checkTimeoutSeconds: s.checkTimeoutSeconds } : {}),
    ...(s.jobs !== undefined ? { jobs: s.jobs } : {}),
  };
}

export type DrillStep = 'select' | 'provision' | 'wait' | 'restore' | 'checks' | 'rto' | 'cleanup' | 'report';

/** A drill failure tied to the step it happened in. */
export class DrillStepError extends Error {
  override readonly name = 'DrillStepError';
  constructor(
    readonly step: DrillStep,
    message: string,
  ) {
    super(message);
  }
}

export interface SelectedBackup {
  readonly backupId: string;
  readonly manifestKey: string;
  readonly dumpKey: string;
  readonly tier: string;
  readonly period: string;
  readonly bytes: number;
  readonly createdAt: string;
  readonly serverMajor: number;
  readonly serverVersion: string;
}

export interface SkippedBackup {
  readonly backupId: string;
  readonly reason: string;
}

/** What a restore step reports, small enough for Step Functions state (256 KB). */
export interface RestoreSummary {
  readonly mode: 'full' | 'tables';
  readonly archiveBytes: number;
  readonly pgRestore: string;
  readonly targetServerVersion: string;
  readonly jobs: number;
  readonly owners: 'kept' | 'dropped';
  readonly ownersReason?: string;
  readonly roles: {
    readonly attempted: boolean;
    readonly reason?: string;
    readonly statements: number;
    readonly applied: number;
    readonly alreadyExisted: number;
    readonly skipped: number;
    /** The first 20 failed statements (passwords redacted), with the error. */
    readonly failed: readonly { readonly statement: string; readonly error: string }[];
    readonly failedCount: number;
  };
  readonly entries: { readonly total: number; readonly processed: number };
  readonly downloadSeconds: number;
  readonly pgRestoreSeconds: number;
  readonly restoreSeconds: number;
  readonly warnings: readonly string[];
}

export interface ChecksSummary {
  readonly ok: boolean;
  readonly total: number;
  readonly passed: number;
  readonly failed: number;
  readonly estimated: number;
  readonly seconds: number;
  /** Every result, or when there are many, every failed/estimated/operator one (see omitted). */
  readonly results: readonly CheckResult[];
  /** Results left out (passing row/catalog/RLS ones first) to keep the report and the workflow state small. */
  readonly omitted: number;
}

export interface DrillOutcome {
  readonly verifiedAt: string;
  readonly restoreSeconds: number;
  readonly restore: RestoreSummary;
  readonly checks: ChecksSummary;
  /** Short description of failed checks (empty when all passed). */
  readonly checksFailure?: string;
}

export interface ReleaseRecord {
  readonly released: boolean;
  readonly alreadyGone?: boolean;
  readonly at: string;
  readonly error?: string;
}

/** JSON carried between workflow steps. Never holds credentials. */
export interface DrillState {
  readonly formatVersion: 1;
  readonly drillId: string;
  readonly databaseId: string;
  readonly startedAt: string;
  readonly settings: ResolvedDrillSettings;
  readonly source: {
    readonly bucket: string;
    readonly region?: string;
    readonly kind: 'replica' | 'primary';
  };
  /** The last step that completed. */
  readonly completed: 'select' | 'provision' | 'restore-and-check' | 'cleanup';
  readonly backup?: SelectedBackup;
  readonly skippedBackups?: readonly SkippedBackup[];
  readonly ephemeral?: EphemeralHandle;
  readonly ephemeralDescription?: EphemeralDescription;
  readonly outcome?: DrillOutcome;
  readonly release?: ReleaseRecord;
}

export interface DrillReport {
  readonly formatVersion: 1;
  readonly drillId: string;
  readonly databaseId: string;
  readonly backupId: string | null;
  readonly backup: SelectedBackup | null;
  readonly skippedBackups: readonly SkippedBackup[];
  readonly source: DrillState['source'];
  readonly provider: ProviderName;
  readonly status: 'PASSED' | 'FAILED';
  readonly failure?: { readonly step: DrillStep; readonly reason: string };
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly verifiedAt: string | null;
  /** Drill start → verified data (checks done); null when the data was never verified. */
  readonly rtoSeconds: number | null;
  /** The restore step alone (download, roles, pg_restore); null when it did not finish. */
  readonly restoreSeconds: number | null;
  readonly rtoTargetSeconds: number;
  readonly checks: ChecksSummary | null;
  /** Failed checks (0 when checks never ran: see status and failure). */
  readonly mismatches: number;
  readonly restore: RestoreSummary | null;
  readonly ephemeral: {
    readonly id: string | null;
    readonly released: boolean;
    readonly alreadyGone?: boolean;
    readonly releaseError?: string;
    readonly description?: EphemeralDescription;
  };
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

export interface DrillSource {
  /** A client for the bucket's region. */
  readonly s3: S3Client;
  readonly bucket: string;
  readonly region?: string;
  readonly kind: 'replica' | 'primary';
}

/** `<databaseId>-drill-<yyyymmddThhmmssZ>-<4 hex>`: unique even for two drills in one second. */
export function newDrillId(databaseId: string, at: Date): string {
  return `${databaseId}-drill-${compactTimestamp(at)}-${randomBytes(2).toString('hex')}`;
}

export interface SelectOptions {
  readonly databaseId: string;
  readonly selection: 'latest' | 'random';
  readonly randomWindowDays: number;
  readonly now: Date;
  /** pg_restore directories for the verification's TOC check. */
  readonly pgBinDirs?: string[];
  readonly random?: () => number;
  readonly logger?: CoreLogger;
}

/**
 * Picks the backup to drill. Candidates are valid backups (catalog.ts); each is re-verified
 * (SHA-256, size, archive TOC) before it is chosen, and one that fails is skipped and recorded.
 * `random` picks uniformly among those created within the window, falling back to the newest
 * when the window holds none.
 */
export async function selectBackup(
  source: DrillSource,
  options: SelectOptions,
): Promise<{ backup: SelectedBackup; manifest: Manifest; skipped: SkippedBackup[] }> {
  const log = options.logger ?? silentLogger;
  const skipped: SkippedBackup[] = [];
  const verify = { pgBinDirs: options.pgBinDirs, logger: log };
  const reasonOf = (r: { checks: readonly { ok: boolean; code?: string; detail: string }[] }) =>
    r.checks
      .filter((c) => !c.ok)
      .map((c) => `${c.code ?? 'FAILED'}: ${c.detail}`)
      .join('; ') || 'verification pending';

  let chosen: BackupEntry | undefined;
  if (options.selection === 'random') {
    const all = await listBackups(source.s3, source.bucket, options.databaseId);
    const since = options.now.getTime() - options.randomWindowDays * 86_400_000;
    const inWindow = all.filter((b) => b.createdAt.getTime() >= since);
    const pool = inWindow.length > 0 ? [...inWindow] : all.slice(0, 1);
    if (inWindow.length === 0 && all.length > 0) {
      log.warn('no backup within the random window; drilling the newest', {
        windowDays: options.randomWindowDays,
      });
    }
    const random = options.random ?? Math.random;
    while (!chosen && pool.length > 0) {
      const [candidate] = pool.splice(Math.floor(random() * pool.length), 1);
      const result = await verifyBackup({
        ...verify,
        s3: source.s3,
        bucket: source.bucket,
        manifest: candidate.manifest!,
      });
      if (result.ok) chosen = candidate;
      else skipped.push({ backupId: candidate.backupId, reason: reasonOf(result) });
    }
  } else {
    chosen = await latestValidBackup(source.s3, source.bucket, options.databaseId, {
      verify,
      onSkip: (entry, result) => skipped.push({ backupId: entry.backupId, reason: reasonOf(result) }),
    });
  }
  for (const s of skipped) log.warn('backup skipped: verification failed', { ...s });
  if (!chosen) {
    const why =
      skipped.length > 0 ? `; skipped: ${skipped.map((s) => `${s.backupId} (${s.reason})`).join(', ')}` : '';
    throw new DrillStepError(
      'select',
      `no valid backup of ${options.databaseId} in s3://${source.bucket}${why}`.slice(0, 2000),
    );
  }
  const manifest = chosen.manifest!;
  return {
    backup: {
      backupId: chosen.backupId,
      manifestKey: chosen.manifestKey,
      dumpKey: manifest.object.key,
      tier: chosen.tier,
      period: chosen.period,
      bytes: manifest.object.bytes,
      createdAt: chosen.createdAt.toISOString(),
      serverMajor: manifest.source.serverMajor,
      serverVersion: manifest.source.serverVersion,
    },
    manifest,
    skipped,
  };
}

export interface StartOptions extends Omit<
  SelectOptions,
  'databaseId' | 'selection' | 'randomWindowDays' | 'now'
> {
  readonly databaseId: string;
  readonly settings: ResolvedDrillSettings;
  readonly source: DrillSource;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Use this id (tests). @default - newDrillId */
  readonly drillId?: string;
}

/** Step 1: a new drill with its backup selected. */
export async function startDrill(options: StartOptions): Promise<DrillState> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const base = initialState(options.databaseId, options.settings, options.source, startedAt, options.drillId);
  const { backup, skipped } = await selectBackup(options.source, {
    ...options,
    selection: options.settings.selection,
    randomWindowDays: options.settings.randomWindowDays,
    now: startedAt,
  });
  return { ...base, backup, skippedBackups: skipped };
}

/** A state for a drill that may fail before selecting anything (the report still needs ids). */
export function initialState(
  databaseId: string,
  settings: ResolvedDrillSettings,
  source: Omit<DrillSource, 's3'>,
  startedAt: Date,
  drillId?: string,
): DrillState {
  return {
    formatVersion: 1,
    drillId: drillId ?? newDrillId(databaseId, startedAt),
    databaseId,
    startedAt: startedAt.toISOString(),
    settings,
    source: { bucket: source.bucket, ...(source.region ? { region: source.region } : {}), kind: source.kind },
    completed: 'select',
  };
}

export interface ProvisionOptions {
  /** The sweeper may delete the database this long after the drill started. @default 24 */
  readonly maxLifetimeHours?: number;
}

/** Step 2: ask the provider for an ephemeral database of the backup's major, sized for the dump. */
export async function provisionStep(
  provider: EphemeralDatabaseProvider,
  state: DrillState,
  options: ProvisionOptions = {},
): Promise<DrillState> {
  const backup = requireBackup(state);
  const startedAt = new Date(state.startedAt);
  try {
    const handle = await provider.provision({
      drillId: state.drillId,
      databaseId: state.databaseId,
      engineMajor: backup.serverMajor,
      allocatedStorageGb: allocatedStorageFor(backup.bytes),
      expiresAt: new Date(startedAt.getTime() + (options.maxLifetimeHours ?? 24) * 3_600_000),
      startedAt,
    });
    return { ...state, completed: 'provision', ephemeral: handle };
  } catch (e) {
    throw new DrillStepError('provision', `could not create the ephemeral database: ${(e as Error).message}`);
  }
}

export interface RestoreStepOptions {
  readonly source: DrillSource;
  readonly provider: EphemeralDatabaseProvider;
  readonly now?: () => Date;
  readonly pgBinDirs?: string[];
  readonly tempDir?: string;
  readonly logger?: CoreLogger;
  readonly signal?: AbortSignal;
  /** Test seam: runs between the restore and the checks (e.g. to damage the restored data). */
  readonly afterRestore?: (target: RestoreTarget) => Promise<void>;
}

/** Step 4: restore roles and archive into the ephemeral database, then run the checks. */
export async function restoreAndCheckStep(
  state: DrillState,
  options: RestoreStepOptions,
): Promise<DrillState> {
  const log = options.logger ?? silentLogger;
  const now = options.now ?? (() => new Date());
  const backup = requireBackup(state);
  if (!state.ephemeral) throw new DrillStepError('restore', 'drill state has no ephemeral database');
  const target = await options.provider.connection(state.ephemeral);
  const manifest = await readManifest(options.source.s3, options.source.bucket, backup.manifestKey);

  let restored: RestoreResult;
  try {
    restored = await restoreBackup(
      { s3: options.source.s3, bucket: options.source.bucket, manifest },
      target,
      {
        jobs: state.settings.jobs,
        restoreRoles: true,
        countRows: false,
        pgBinDirs: options.pgBinDirs,
        tempDir: options.tempDir,
        signal: options.signal,
        onProgress: progressLogger(log),
      },
    );
  } catch (e) {
    throw new DrillStepError('restore', (e as Error).message);
  }
  log.info('restore finished', {
    restoreSeconds: restored.restoreSeconds,
    entries: restored.entries,
    owners: restored.owners,
    rolesFailed: restored.roles.failed.length,
  });
  if (options.afterRestore) await options.afterRestore(target);

  let checks: ChecksResult;
  try {
    checks = await withTargetClient(target, (client) =>
      runChecks(client, manifest, {
        operatorChecks: state.settings.checks,
        timeoutSeconds: state.settings.checkTimeoutSeconds,
      }),
    );
  } catch (e) {
    throw new DrillStepError('checks', `checks could not run: ${(e as Error).message}`);
  }
  const verifiedAt = now();
  log.info('checks finished', { ...checks.summary, ok: checks.ok });
  return {
    ...state,
    completed: 'restore-and-check',
    outcome: {
      verifiedAt: verifiedAt.toISOString(),
      restoreSeconds: restored.restoreSeconds,
      restore: summarizeRestore(restored),
      checks: summarizeChecks(checks),
      ...(checks.ok ? {} : { checksFailure: describeFailures(checks) }),
    },
  };
}

/** Step 5: release the ephemeral database (idempotent). Never throws; the record says what happened. */
export async function releaseStep(
  provider: EphemeralDatabaseProvider,
  state: DrillState,
  options: { now?: () => Date; logger?: CoreLogger } = {},
): Promise<DrillState> {
  const now = options.now ?? (() => new Date());
  if (!state.ephemeral) {
    return {
      ...state,
      completed: 'cleanup',
      release: { released: true, alreadyGone: true, at: now().toISOString() },
    };
  }
  let description = state.ephemeralDescription;
  try {
    description ??= await provider.describe(state.ephemeral);
  } catch {
    // describing is for the report only
  }
  try {
    const r = await provider.release(state.ephemeral);
    options.logger?.info('ephemeral database released', {
      id: state.ephemeral.id,
      alreadyGone: r.alreadyGone,
    });
    return {
      ...state,
      completed: 'cleanup',
      ...(description ? { ephemeralDescription: description } : {}),
      release: { released: r.released, alreadyGone: r.alreadyGone, at: now().toISOString() },
    };
  } catch (e) {
    options.logger?.error('could not release the ephemeral database', {
      id: state.ephemeral.id,
      error: (e as Error).message,
    });
    return {
      ...state,
      ...(description ? { ephemeralDescription: description } : {}),
      release: {
        released: false,
        at: now().toISOString(),
        error: `${(e as Error).name}: ${(e as Error).message}`,
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

const roundSeconds = (ms: number) => Math.round(ms / 10) / 100;

/**
 * The report for a drill state. `failure` is the error that stopped the drill (the workflow's
 * Catch path); without it the verdict comes from the outcome: failed checks, then RTO over
 * target, then a database that could not be released.
 */
export function buildReport(
  state: DrillState,
  providerName: ProviderName,
  finishedAt: Date,
  failure?: { step: DrillStep; reason: string },
): DrillReport {
  const outcome = state.outcome;
  const rtoSeconds = outcome
    ? roundSeconds(Date.parse(outcome.verifiedAt) - Date.parse(state.startedAt))
    : null;
  let verdict = failure;
  if (!verdict && !outcome)
    verdict = { step: 'restore', reason: 'the drill ended before the data was verified' };
  if (!verdict && outcome && !outcome.checks.ok) {
    verdict = { step: 'checks', reason: outcome.checksFailure ?? `${outcome.checks.failed} check(s) failed` };
  }
  if (!verdict && rtoSeconds !== null && rtoSeconds > state.settings.rtoTargetSeconds) {
    verdict = {
      step: 'rto',
      reason: `RTO ${rtoSeconds}s (drill start to verified data) exceeds the target of ${state.settings.rtoTargetSeconds}s`,
    };
  }
  const released = state.ephemeral ? state.release?.released === true : true;
  if (!verdict && !released) {
    verdict = {
      step: 'cleanup',
      reason: `ephemeral database ${state.ephemeral?.id} was not released${state.release?.error ? `: ${state.release.error}` : ''}`,
    };
  }
  return {
    formatVersion: 1,
    drillId: state.drillId,
    databaseId: state.databaseId,
    backupId: state.backup?.backupId ?? null,
    backup: state.backup ?? null,
    skippedBackups: state.skippedBackups ?? [],
    source: state.source,
    provider: providerName,
    status: verdict ? 'FAILED' : 'PASSED',
    ...(verdict ? { failure: verdict } : {}),
    startedAt: state.startedAt,
    finishedAt: finishedAt.toISOString(),
    verifiedAt: outcome?.verifiedAt ?? null,
    rtoSeconds,
    restoreSeconds: outcome?.restoreSeconds ?? null,
    rtoTargetSeconds: state.settings.rtoTargetSeconds,
    checks: outcome?.checks ?? null,
    mismatches: outcome?.checks.failed ?? 0,
    restore: outcome?.restore ?? null,
    ephemeral: {
      id: state.ephemeral?.id ?? null,
      released,
      ...(state.release?.alreadyGone !== undefined ? { alreadyGone: state.release.alreadyGone } : {}),
      ...(state.release?.error ? { releaseError: state.release.error } : {}),
      ...(state.ephemeralDescription ? { description: state.ephemeralDescription } : {}),
    },
  };
}

/** Writes the report to `drills/<db>/<yyyy-mm>/<drillId>.json` (month of the drill start); returns the key. */
export async function writeReport(s3: S3Client, bucket: string, report: DrillReport): Promise<string> {
  const key = drillReportKey(report.databaseId, new Date(report.startedAt), report.drillId);
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: `${JSON.stringify(report, null, 2)}\n`,
      ContentType: 'application/json',
    }),
  );
  return key;
}

/** The metrics a report publishes (namespace Restorable, dimension DatabaseId). */
export function drillMetrics(report: DrillReport): [MetricName, 'Count' | 'Seconds', number][] {
  const passed = report.status === 'PASSED';
  const values: [MetricName, 'Count' | 'Seconds', number][] = [
    [MetricNames.drillSuccess, 'Count', passed ? 1 : 0],
    [MetricNames.drillFailure, 'Count', passed ? 0 : 1],
    [MetricNames.drillMismatches, 'Count', report.mismatches],
  ];
  if (report.rtoSeconds !== null) values.push([MetricNames.drillRtoSeconds, 'Seconds', report.rtoSeconds]);
  if (report.restoreSeconds !== null)
    values.push([MetricNames.drillRestoreSeconds, 'Seconds', report.restoreSeconds]);
  return values;
}

// ---------------------------------------------------------------------------------------------
// In-process drill
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function requireBackup(state: DrillState): SelectedBackup {
  if (!state.backup) throw new DrillStepError('select', 'drill state has no selected backup');
  return state.backup;
}

function progressLogger(log: CoreLogger) {
  let lastPhase = '';
  let lastAt = 0;
  return (p: RestoreProgress) => {
    const at = Date.now();
    if (p.phase === lastPhase && at - lastAt < 15_000) return;
    lastPhase = p.phase;
    lastAt = at;
    log.info('restore progress', { ...p });
  };
}

export function summarizeRestore(r: RestoreResult): RestoreSummary {
  return {
    mode: r.mode,
    archiveBytes: r.archive.bytes,
    pgRestore: r.pgRestore.version,
    targetServerVersion: r.targetServerVersion,
    jobs: r.jobs,
    owners: r.owners,
    ...(r.ownersReason ? { ownersReason: r.ownersReason } : {}),
    roles: {
      attempted: r.roles.attempted,
      ...(r.roles.reason ? { reason: r.roles.reason } : {}),
      statements: r.roles.statements,
      applied: r.roles.applied,
      alreadyExisted: r.roles.alreadyExisted.length,
      skipped: r.roles.skipped.length,
      failed: r.roles.failed.slice(0, 20).map((f) => ({ statement: f.statement, error: f.error })),
      failedCount: r.roles.failed.length,
    },
    entries: r.entries,
    downloadSeconds: r.downloadSeconds,
    pgRestoreSeconds: r.pgRestoreSeconds,
    restoreSeconds: r.restoreSeconds,
    warnings: r.warnings.slice(0, 20),
  };
}

/** Beyond this many results only failed, estimated and operator results are kept. */
export const MAX_FULL_RESULTS = 300;

export function summarizeChecks(c: ChecksResult): ChecksSummary {
  const keep =
    c.results.length <= MAX_FULL_RESULTS
      ? c.results
      : c.results.filter((r) => !r.ok || r.status === 'estimated' || r.kind === 'sql');
  return {
    ok: c.ok,
    total: c.summary.total,
    passed: c.summary.passed,
    failed: c.summary.failed,
    estimated: c.summary.estimated,
    seconds: c.seconds,
    results: keep.slice(0, 2 * MAX_FULL_RESULTS),
    omitted: c.results.length - Math.min(keep.length, 2 * MAX_FULL_RESULTS),
  };
}
