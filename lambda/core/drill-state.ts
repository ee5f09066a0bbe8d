/**
 * A drill's state: the JSON carried between the workflow's steps (one Lambda invocation each) and
 * through the in-process drill, what it records about the backup, the restore, the checks and the
 * release, and the step a failure belongs to. It never holds credentials.
 *
 * Also here: turning a restore's and the checks' full results into the small summaries the state
 * carries (Step Functions state is limited to 256 KB).
 */
import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CheckResult, ChecksResult } from './checks';
import type { ResolvedDrillSettings } from './drill-settings';
import type { EphemeralDescription, EphemeralHandle } from './providers/provider';
import type { RestoreResult } from './restore';
import { compactTimestamp } from './tiers';

/** The steps a drill failure is attributed to, in the order a drill runs them. */
export const DRILL_STEPS = [
  'select',
  'provision',
  'wait',
  'restore',
  'checks',
  'rto',
  'cleanup',
  'report',
] as const;
export type DrillStep = (typeof DRILL_STEPS)[number];

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
  readonly owners: 'kept' | 'mapped' | 'dropped';
  /** owners `mapped`: how many objects now belong to the restorer instead of their archived owner. */
  readonly ownersMapped?: number;
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
  /** Extensions the target does not offer, left out with the objects that need them (preset backups). */
  readonly unavailable?: readonly {
    readonly extension: string;
    readonly objects: readonly string[];
    readonly referencedBy: readonly string[];
  }[];
}

export interface ChecksSummary {
  readonly ok: boolean;
  readonly total: number;
  readonly passed: number;
  readonly failed: number;
  readonly estimated: number;
  /** Not proven either way (fingerprints the time budget did not reach): never counted as passed. */
  readonly skipped?: number;
  readonly seconds: number;
  /** Every result, or when there are many, every failed/estimated/skipped/operator one (see omitted). */
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

export function summarizeRestore(r: RestoreResult): RestoreSummary {
  return {
    mode: r.mode,
    archiveBytes: r.archive.bytes,
    pgRestore: r.pgRestore.version,
    targetServerVersion: r.targetServerVersion,
    jobs: r.jobs,
    owners: r.owners,
    ...(r.ownerMappings ? { ownersMapped: r.ownerMappings.length } : {}),
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
    ...(r.extensions && r.extensions.unavailable.length > 0
      ? {
          unavailable: r.extensions.unavailable.map((u) => ({
            extension: u.extension,
            objects: u.objects.slice(0, 50),
            referencedBy: u.referencedBy.slice(0, 50),
          })),
        }
      : {}),
  };
}

/** Beyond this many results only failed, estimated, skipped and operator results are kept. */
export const MAX_FULL_RESULTS = 300;

export function summarizeChecks(c: ChecksResult): ChecksSummary {
  const keep =
    c.results.length <= MAX_FULL_RESULTS
      ? c.results
      : c.results.filter((r) => !r.ok || r.status !== 'ok' || r.kind === 'sql');
  return {
    ok: c.ok,
    total: c.summary.total,
    passed: c.summary.passed,
    failed: c.summary.failed,
    estimated: c.summary.estimated,
    skipped: c.summary.skipped,
    seconds: c.seconds,
    results: keep.slice(0, 2 * MAX_FULL_RESULTS),
    omitted: c.results.length - Math.min(keep.length, 2 * MAX_FULL_RESULTS),
  };
}
