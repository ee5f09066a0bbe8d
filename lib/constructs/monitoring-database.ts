/**
 * The alarms and dashboard row of one database (`Monitoring.addDatabaseAlarms`): backup failed,
 * backup stale, size anomaly, verify failed, replica missing and, with drills, drill failed, drill
 * stale and drill RTO exceeded; their thresholds, defaults and the check of their props.
 *
 * Metrics come from the constructs that own them (`BackupWorkflow.metricBackupAgeHours()`,
 * `RestoreDrill.metricDrillRtoSeconds()`, ...): only the period an alarm evaluates is set here,
 * never the metric's identity or statistic.
 */
import { Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { BackupWorkflow } from './backup-workflow';
import { failureAlarm, type AlarmFactory } from './monitoring-alarm';
import type { RestoreDrill } from './restore-drill';

/** A backup is stale once its age passes the RPO by this much (time for the dump and the next check). */
export const STALE_BACKUP_GRACE = Duration.hours(1);
/** A backup is anomalous when its size differs from the median of the last 7 by more than this. */
export const DEFAULT_MAX_SIZE_CHANGE = 0.2;
/** A database is out of compliance when its newest passing drill is older than this. */
export const DEFAULT_MAX_DRILL_AGE = Duration.days(35);

/** The metrics a database's backup alarms watch: {@link BackupWorkflow} provides them. */
export type BackupMetrics = Pick<
  BackupWorkflow,
  | 'databaseId'
  | 'metricBackupFailure'
  | 'metricBackupAgeHours'
  | 'metricBackupSizeRatio'
  | 'metricBackupBytes'
  | 'metricVerifyFailure'
  | 'metricReplicaMissing'
>;

/** The metrics and target a database's drill alarms watch: {@link RestoreDrill} provides them. */
export type DrillMetrics = Pick<
  RestoreDrill,
  | 'rtoTarget'
  | 'metricDrillFailure'
  | 'metricExecutionsFailed'
  | 'metricDrillAgeDays'
  | 'metricDrillRtoSeconds'
>;

export interface DatabaseAlarmsProps {
  /** The database's backup workflow: the backup, verify, age and size alarms watch its metrics. */
  readonly backup: BackupMetrics;

  /**
   * The database's restore drill: the drill failed, stale and RTO alarms watch its metrics. Its
   * failed executions count as failed drills too, because a drill that dies before writing its
   * report never emits `DrillFailure`.
   * @default - no drill alarms: without drills a drill-stale alarm (missing data breaching) would
   * page forever
   */
  readonly drill?: DrillMetrics;

  /** Recovery point objective: the backup-stale alarm fires when the newest backup is older than this plus one hour. */
  readonly rpo: Duration;

  /**
   * Largest tolerated relative change of a backup's size against the median of the last 7.
   * @default 0.2 - alarm below 80 % or above 120 %
   */
  readonly maxSizeChange?: number;

  /**
   * Longest tolerated time since the last passing drill.
   * @default Duration.days(35) - a monthly drill may slip by a few days
   */
  readonly maxDrillAge?: Duration;
}

/** The alarms of one database. */
export interface DatabaseAlarms {
  readonly backupFailed: cloudwatch.Alarm;
  readonly backupStale: cloudwatch.Alarm;
  readonly sizeAnomaly: cloudwatch.Alarm;
  readonly verifyFailed: cloudwatch.Alarm;
  readonly replicaMissing: cloudwatch.Alarm;
  /** Absent when the database has no drills. */
  readonly drillFailed?: cloudwatch.Alarm;
  /** Absent when the database has no drills. */
  readonly drillStale?: cloudwatch.Alarm;
  /** Absent when the database has no drills. */
  readonly drillRtoExceeded?: cloudwatch.Alarm;
}

/** Creates one database's alarms with `alarm` and returns them with its dashboard row. */
export function databaseMonitoring(
  props: DatabaseAlarmsProps,
  alarm: AlarmFactory,
): { alarms: DatabaseAlarms; widgets: cloudwatch.IWidget[] } {
  const { backup, drill } = props;
  const databaseId = backup.databaseId;
  const maxBackupAgeHours = props.rpo.toHours({ integral: false }) + STALE_BACKUP_GRACE.toHours();
  const maxSizeChange = props.maxSizeChange ?? DEFAULT_MAX_SIZE_CHANGE;

  // Metrics first (from their constructs, only the period set here), alarms second.
  const hourly = { period: Duration.hours(1) };
  const metrics = {
    backupFailure: backup.metricBackupFailure(hourly),
    // The freshness check runs at minute 5 of every hour, so every hourly period holds one point.
    backupAgeHours: backup.metricBackupAgeHours(hourly),
    backupSizeRatio: backup.metricBackupSizeRatio(hourly),
    backupBytes: backup.metricBackupBytes({ period: Duration.days(1) }),
    verifyFailure: backup.metricVerifyFailure(hourly),
    replicaMissing: backup.metricReplicaMissing(hourly),
  };
  // The ratio is newest / median of the last 7: distance from 1 is the relative change either way.
  const sizeChange = new cloudwatch.MathExpression({
    expression: 'ABS(ratio - 1)',
    usingMetrics: { ratio: metrics.backupSizeRatio },
    period: Duration.hours(1),
    label: `${databaseId} size change vs median of last 7`,
  });
  const alarms: DatabaseAlarms = {
    backupFailed: alarm(
      'BackupFailed',
      failureAlarm(metrics.backupFailure, `A backup of ${databaseId} failed: no new backup was written.`),
    ),
    backupStale: alarm('BackupStale', {
      metric: metrics.backupAgeHours,
      threshold: maxBackupAgeHours,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      description:
        `The newest valid backup of ${databaseId} is older than ${maxBackupAgeHours} hours (RPO + 1 h), ` +
        'or the freshness check reported nothing.',
    }),
    sizeAnomaly: alarm('SizeAnomaly', {
      metric: sizeChange,
      threshold: maxSizeChange,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      description:
        `The newest backup of ${databaseId} differs from the median of the last 7 by more than ` +
        `${Math.round(maxSizeChange * 100)} %: check for lost data or a runaway table.`,
    }),
    verifyFailed: alarm(
      'VerifyFailed',
      failureAlarm(
        metrics.verifyFailure,
        `Verification of a ${databaseId} backup failed (checksum, size, table of contents or replica).`,
      ),
    ),
    replicaMissing: alarm(
      'ReplicaMissing',
      failureAlarm(
        metrics.replicaMissing,
        `A verified backup of ${databaseId} has no matching copy in the replica region.`,
      ),
    ),
    ...(drill ? drillAlarms(databaseId, drill, props.maxDrillAge ?? DEFAULT_MAX_DRILL_AGE, alarm) : {}),
  };

  const widgets: cloudwatch.IWidget[] = [
    new cloudwatch.TextWidget({ markdown: `### ${databaseId}`, width: 24, height: 1 }),
    new cloudwatch.GraphWidget({
      title: `${databaseId}: backup age (hours)`,
      left: [metrics.backupAgeHours],
      leftAnnotations: [{ value: maxBackupAgeHours, label: 'stale', color: cloudwatch.Color.RED }],
      leftYAxis: { min: 0, showUnits: false },
      width: 8,
    }),
    new cloudwatch.GraphWidget({
      title: `${databaseId}: backup size`,
      left: [metrics.backupBytes],
      right: [metrics.backupSizeRatio],
      rightAnnotations: [
        { value: 1 + maxSizeChange, label: 'grew', color: cloudwatch.Color.ORANGE },
        { value: 1 - maxSizeChange, label: 'shrank', color: cloudwatch.Color.ORANGE },
      ],
      leftYAxis: { min: 0 },
      width: 8,
    }),
  ];
  if (drill) {
    widgets.push(
      new cloudwatch.GraphWidget({
        title: `${databaseId}: drill RTO (seconds)`,
        left: [drill.metricDrillRtoSeconds({ period: Duration.days(1) })],
        leftAnnotations: [
          { value: drill.rtoTarget.toSeconds(), label: 'RTO target', color: cloudwatch.Color.RED },
        ],
        leftYAxis: { min: 0, showUnits: false },
        width: 8,
      }),
    );
  }
  return { alarms, widgets };
}

/** Drill failed (reported or crashed), drill stale and drill RTO exceeded, for one database. */
function drillAlarms(
  databaseId: string,
  drill: DrillMetrics,
  maxDrillAge: Duration,
  alarm: AlarmFactory,
): Required<Pick<DatabaseAlarms, 'drillFailed' | 'drillStale' | 'drillRtoExceeded'>> {
  const hourly = { period: Duration.hours(1) };
  const maxDrillAgeDays = maxDrillAge.toDays({ integral: false });
  const maxRtoSeconds = drill.rtoTarget.toSeconds();
  const failures = new cloudwatch.MathExpression({
    expression: 'FILL(failures, 0) + FILL(executionsFailed, 0)',
    usingMetrics: {
      failures: drill.metricDrillFailure(hourly),
      executionsFailed: drill.metricExecutionsFailed(hourly),
    },
    period: Duration.hours(1),
    label: `${databaseId} failed drills`,
  });
  return {
    drillFailed: alarm(
      'DrillFailed',
      failureAlarm(
        failures,
        `A restore drill of ${databaseId} failed: the backup could not be proven restorable.`,
      ),
    ),
    // Six-hour periods: drill staleness is measured in days, and one missed freshness run must not page.
    drillStale: alarm('DrillStale', {
      metric: drill.metricDrillAgeDays({ period: Duration.hours(6) }),
      threshold: maxDrillAgeDays,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      description: `No restore drill of ${databaseId} has passed in ${maxDrillAgeDays} days, or no drill age was reported.`,
    }),
    drillRtoExceeded: alarm('DrillRtoExceeded', {
      metric: drill.metricDrillRtoSeconds(hourly),
      threshold: maxRtoSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      description: `A restore drill of ${databaseId} took longer than the ${maxRtoSeconds} s RTO target.`,
    }),
  };
}

/** Throws on an RPO, RTO target or size change the alarms cannot work with. */
export function validateDatabaseAlarms(databaseId: string, props: DatabaseAlarmsProps): void {
  if (!Token.isUnresolved(props.rpo.toSeconds()) && props.rpo.toSeconds() <= 0) {
    throw new Error(`rpo (${props.rpo.toHumanString()}) for database "${databaseId}" must be positive`);
  }
  const rto = props.drill?.rtoTarget;
  if (rto && !Token.isUnresolved(rto.toSeconds()) && rto.toSeconds() <= 0) {
    throw new Error(
      `the drill's rtoTarget (${rto.toHumanString()}) for database "${databaseId}" must be positive`,
    );
  }
  const change = props.maxSizeChange;
  if (change !== undefined && !Token.isUnresolved(change) && !(change > 0 && change < 1)) {
    throw new Error(`maxSizeChange (${change}) for database "${databaseId}" must be between 0 and 1`);
  }
}
