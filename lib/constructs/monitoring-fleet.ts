/**
 * A fleet's alarms and dashboard: one Metrics Insights alarm per condition (`GROUP BY DatabaseId`)
 * instead of eleven alarms per database. Each database is a contributor of the alarm with its own
 * state, so paging still names the database (`DescribeAlarmContributors`), a database that joins
 * the fleet by tag is covered without a deploy, and the alarm count stays the same at 300
 * databases. Per-database thresholds (RPO, RTO target) are normalized by the runners into ratios
 * (`BackupAgeOverRpo`, `DrillRtoOverTarget`), so one threshold (1) serves every database.
 *
 * Limits (AWS, 2026): Metrics Insights alarms evaluate the last 3 hours, report at most 100
 * contributors in ALARM, and go PARTIAL_DATA beyond 500 series; see docs/FLEETS.md.
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/multi-time-series-alarm.html
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create_Metrics_Insights_Alarm.html
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { FleetMetricNames, type FleetWorkload } from '../../lambda/core/fleet-settings';
import { DIMENSION_DATABASE, METRIC_NAMESPACE, MetricNames } from '../../lambda/core/metric-names';
import { failureAlarm, type AlarmFactory } from './monitoring-alarm';
import { DEFAULT_MAX_DRILL_AGE, DEFAULT_MAX_SIZE_CHANGE } from './monitoring-database';

/**
 * The fleet's own metrics (fleet contract; published by the freshness check, the drill and
 * discovery). Kept here until lambda/core/metric-names.ts carries them.
 */
export const FleetGaugeNames = {
  /** age of the newest valid backup / (RPO + 1 h): over 1 is stale. */
  backupAgeOverRpo: 'BackupAgeOverRpo',
  /** drill RTO / RTO target: over 1 is too slow. */
  drillRtoOverTarget: 'DrillRtoOverTarget',
  /** databases the selection matched but cannot run (dimension `Reason`). */
  discoverySkipped: 'DiscoverySkipped',
  discoveredDatabases: 'DiscoveredDatabases',
} as const;

/** Something with a failed-executions metric: an orchestrator's state machine. */
export interface FleetOrchestratorMetrics {
  readonly workload: FleetWorkload;
  readonly stateMachine: { metricFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric };
}

export interface FleetAlarmsProps {
  readonly orchestrators: readonly FleetOrchestratorMetrics[];
  /**
   * Longest tolerated time since a database's newest passing drill.
   * @default Duration.days(35)
   */
  readonly maxDrillAge?: Duration;
}

export type FleetAlarms = Record<string, cloudwatch.Alarm>;

/**
 * A Metrics Insights query over every database: `SELECT <stat>(<metric>) FROM SCHEMA("Restorable",
 * DatabaseId) GROUP BY DatabaseId` (plus ORDER BY / LIMIT for a dashboard's worst-first view).
 */
export function fleetQuery(
  metricName: string,
  options: {
    readonly stat?: 'MAX' | 'SUM';
    readonly period?: Duration;
    readonly worst?: number;
    readonly dimension?: string;
    readonly label?: string;
  } = {},
): cloudwatch.MathExpression {
  const stat = options.stat ?? 'MAX';
  const dimension = options.dimension ?? DIMENSION_DATABASE;
  const order = options.worst ? ` ORDER BY ${stat}() DESC LIMIT ${options.worst}` : '';
  return new cloudwatch.MathExpression({
    expression: `SELECT ${stat}(${metricName}) FROM SCHEMA("${METRIC_NAMESPACE}", ${dimension}) GROUP BY ${dimension}${order}`,
    period: options.period ?? Duration.hours(1),
    label: options.label ?? metricName,
  });
}

const over = (
  metric: cloudwatch.IMetric,
  threshold: number,
  treatMissingData: cloudwatch.TreatMissingData,
  description: string,
) => ({
  metric,
  threshold,
  comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
  treatMissingData,
  description,
});

/** The fleet alarms (through `alarm`, which names them and pages) and the dashboard's widgets. */
export function fleetMonitoring(
  props: FleetAlarmsProps,
  alarm: (id: string, runbook: string, spec: Parameters<AlarmFactory>[1]) => cloudwatch.Alarm,
): { alarms: FleetAlarms; widgets: cloudwatch.IWidget[] } {
  const maxDrillAge = props.maxDrillAge ?? DEFAULT_MAX_DRILL_AGE;
  const events = { stat: 'SUM' as const, period: Duration.hours(1) };
  const alarms: FleetAlarms = {
    backupFailed: alarm(
      'FleetBackupFailed',
      'backup-failed',
      failureAlarm(
        fleetQuery(MetricNames.backupFailure, events),
        'A backup failed (the contributor names the database): no new backup was written.',
      ),
    ),
    // Silence is the failure here: a freshness check that reports nothing breaches.
    backupStale: alarm(
      'FleetBackupStale',
      'backup-stale',
      over(
        fleetQuery(FleetGaugeNames.backupAgeOverRpo),
        1,
        cloudwatch.TreatMissingData.BREACHING,
        "A database's newest valid backup is older than its RPO + 1 h (BackupAgeOverRpo > 1), or the freshness check reported nothing.",
      ),
    ),
    sizeAnomaly: alarm(
      'FleetSizeAnomaly',
      'size-anomaly',
      over(
        fleetQuery(MetricNames.backupSizeRatio),
        1 + DEFAULT_MAX_SIZE_CHANGE,
        cloudwatch.TreatMissingData.NOT_BREACHING,
        `A database's newest backup is more than ${Math.round(DEFAULT_MAX_SIZE_CHANGE * 100)} % larger than the median of its last 7.`,
      ),
    ),
    verifyFailed: alarm(
      'FleetVerifyFailed',
      'verify-failed',
      failureAlarm(fleetQuery(MetricNames.verifyFailure, events), 'A backup failed verification.'),
    ),
    replicaMissing: alarm(
      'FleetReplicaMissing',
      'replica-missing',
      failureAlarm(
        fleetQuery(MetricNames.replicaMissing, events),
        'A backup has no copy in the replica region.',
      ),
    ),
    drillFailed: alarm(
      'FleetDrillFailed',
      'drill-failed',
      failureAlarm(fleetQuery(MetricNames.drillFailure, events), 'A restore drill failed.'),
    ),
    drillStale: alarm(
      'FleetDrillStale',
      'drill-stale',
      over(
        fleetQuery(MetricNames.drillAgeDays),
        maxDrillAge.toDays(),
        cloudwatch.TreatMissingData.NOT_BREACHING,
        `A database's newest passing drill is older than ${maxDrillAge.toDays()} days.`,
      ),
    ),
    drillRtoExceeded: alarm(
      'FleetDrillRtoExceeded',
      'drill-rto-exceeded',
      over(
        fleetQuery(FleetGaugeNames.drillRtoOverTarget, { period: Duration.hours(3) }),
        1,
        cloudwatch.TreatMissingData.NOT_BREACHING,
        "A drill's restore took longer than the database's RTO target (DrillRtoOverTarget > 1).",
      ),
    ),
    discoverySkipped: alarm(
      'FleetDiscoverySkipped',
      'discovery-skipped',
      failureAlarm(
        fleetQuery(FleetGaugeNames.discoverySkipped, { ...events, dimension: 'Reason' }),
        'A tag-selected database cannot be backed up or drilled (no secret, secret tagged for another id, invalid id...): see the discovery log.',
      ),
    ),
  };
  for (const orchestrator of props.orchestrators) {
    const workload = orchestrator.workload;
    const name = workload === 'backup' ? 'Backup' : 'Drill';
    alarms[`${workload}QueueOverdue`] = alarm(
      `Fleet${name}QueueOverdue`,
      'fleet-queue-overdue',
      failureAlarm(
        fleetQuery(FleetMetricNames[workload].queueOverdue, { period: Duration.minutes(5) }),
        `A ${workload} run waited longer than it may before it started (fleet queue too long for its RPO or window).`,
      ),
    );
    alarms[`${workload}RunsFailed`] = alarm(
      `Fleet${name}RunsFailed`,
      'fleet-runs-failed',
      failureAlarm(
        orchestrator.stateMachine.metricFailed({ period: Duration.minutes(5) }),
        `The fleet ${workload} orchestrator ended failed: its error cause names the databases whose runs failed.`,
      ),
    );
  }

  // The fleet at a glance: worst first, no per-database widget to maintain.
  const bar = (title: string, metric: cloudwatch.IMetric, period = Duration.hours(1)) =>
    new cloudwatch.GraphWidget({
      title,
      left: [metric],
      view: cloudwatch.GraphWidgetView.BAR,
      period,
      width: 12,
      height: 6,
    });
  const widgets: cloudwatch.IWidget[] = [
    new cloudwatch.TextWidget({
      markdown:
        '## Fleet\nWorst 20 databases per view (Metrics Insights). Ratios: 1 = at the RPO / RTO target.',
      width: 24,
      height: 2,
    }),
    bar('Backup age / RPO (worst 20)', fleetQuery(FleetGaugeNames.backupAgeOverRpo, { worst: 20 })),
    bar('Backup age, hours (worst 20)', fleetQuery(MetricNames.backupAgeHours, { worst: 20 })),
    bar(
      'Failed drills, last day',
      fleetQuery(MetricNames.drillFailure, { stat: 'SUM', period: Duration.days(1), worst: 20 }),
      Duration.days(1),
    ),
    bar('Drill RTO / target (worst 20)', fleetQuery(FleetGaugeNames.drillRtoOverTarget, { worst: 20 })),
    bar('Days since the last passing drill (worst 20)', fleetQuery(MetricNames.drillAgeDays, { worst: 20 })),
    bar(
      'Queue wait before a backup started, minutes (worst 20)',
      fleetQuery(FleetMetricNames.backup.queuedMinutes, { worst: 20 }),
    ),
  ];
  return { alarms, widgets };
}
