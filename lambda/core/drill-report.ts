/**
 * A drill's report: the verdict drawn from its state (a stopping failure, else failed checks, RTO
 * over target, an ephemeral database not released), the JSON written to
 * `drills/<db>/<yyyy-mm>/<drillId>.json`, and the metrics it publishes.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type {
  ChecksSummary,
  DrillState,
  DrillStep,
  RestoreSummary,
  SelectedBackup,
  SkippedBackup,
} from './drill-state';
import { MetricNames, type MetricName } from './metric-names';
import type { EphemeralDescription, ProviderName } from './providers/provider';
import { listNewestFirst, readText } from './s3';
import { drillReportKey, drillReportPrefix } from './tiers';

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
  /**
   * Where this backup was proven (or failed) to restore: the target's engine and server major,
   * and the pg_restore used. null when the restore never ran.
   */
  readonly restoredOn: RestoredOn | null;
  readonly ephemeral: {
    readonly id: string | null;
    readonly released: boolean;
    readonly alreadyGone?: boolean;
    readonly releaseError?: string;
    readonly description?: EphemeralDescription;
  };
}

export interface RestoredOn {
  readonly engine: ProviderName;
  /** null when the server's version could not be read. */
  readonly serverMajor: number | null;
  readonly serverVersion: string;
  /** `pg_restore --version` of the client used, e.g. `pg_restore (PostgreSQL) 16.4`. */
  readonly pgRestore: string;
  /** The backup's source major, for "restored into a newer major" at a glance. */
  readonly sourceMajor: number | null;
}

/** The server major of a `server_version` string (`16.4 (Debian ...)`, `9.6.24`). */
export function majorOfVersion(version: string | undefined): number | null {
  const m = /^(\d+)(?:\.(\d+))?/.exec((version ?? '').trim());
  if (!m) return null;
  const major = Number(m[1]);
  return major < 10 && m[2] !== undefined ? Number(`${m[1]}.${m[2]}`) : major;
}

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
    restoredOn: outcome
      ? {
          engine: providerName,
          serverMajor: majorOfVersion(outcome.restore.targetServerVersion),
          serverVersion: outcome.restore.targetServerVersion,
          pgRestore: outcome.restore.pgRestore,
          sourceMajor: state.backup?.serverMajor ?? null,
        }
      : null,
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
export function drillMetrics(report: DrillReport): [MetricName, 'Count' | 'Seconds' | 'None', number][] {
  const passed = report.status === 'PASSED';
  const values: [MetricName, 'Count' | 'Seconds' | 'None', number][] = [
    [MetricNames.drillSuccess, 'Count', passed ? 1 : 0],
    [MetricNames.drillFailure, 'Count', passed ? 0 : 1],
    [MetricNames.drillMismatches, 'Count', report.mismatches],
  ];
  if (report.rtoSeconds !== null) {
    values.push([MetricNames.drillRtoSeconds, 'Seconds', report.rtoSeconds]);
    // Normalized, so one fleet alarm at > 1 serves every database whatever its target.
    if (report.rtoTargetSeconds > 0) {
      const ratio = Math.round((report.rtoSeconds / report.rtoTargetSeconds) * 1000) / 1000;
      values.push([MetricNames.drillRtoOverTarget, 'None', ratio]);
    }
  }
  if (report.restoreSeconds !== null)
    values.push([MetricNames.drillRestoreSeconds, 'Seconds', report.restoreSeconds]);
  return values;
}

/** What `list` shows of a backup's newest drill. */
export interface DrillOfBackup {
  readonly drillId: string;
  readonly status: DrillReport['status'];
  readonly finishedAt: string;
  readonly restoredOn: RestoredOn | null;
}

/**
 * The newest drill of each backup, from the newest `maxReports` reports (by S3 LastModified):
 * one GET per report read, so `list` stays cheap; older backups simply show none. Unreadable
 * reports are passed over.
 */
export async function latestDrills(
  s3: S3Client,
  bucket: string,
  databaseId: string,
  maxReports = 24,
): Promise<Map<string, DrillOfBackup>> {
  const objects = await listNewestFirst(s3, bucket, drillReportPrefix(databaseId), '.json');
  const byBackup = new Map<string, DrillOfBackup>();
  for (const o of objects.slice(0, maxReports)) {
    try {
      const r = JSON.parse(await readText(s3, bucket, o.Key!)) as Partial<DrillReport>;
      if (!r.backupId || byBackup.has(r.backupId) || !r.drillId || !r.status) continue;
      byBackup.set(r.backupId, {
        drillId: r.drillId,
        status: r.status,
        finishedAt: r.finishedAt ?? o.LastModified!.toISOString(),
        restoredOn: r.restoredOn ?? null,
      });
    } catch {
      // An unreadable report says nothing about its backup.
    }
  }
  return byBackup;
}
