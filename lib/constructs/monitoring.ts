/**
 * The Monitoring construct: on-call paging for the whole stack. It owns the alarm list, the
 * dashboard and how an alarm is made (named, runbook linked, paging the topic on alarm and OK),
 * and the stack-wide alarms (replication, function errors, orphaned drill instances, backup key).
 * The per-database alarms and dashboard row are in monitoring-database.ts, the topic and its key in
 * monitoring-on-call.ts, the alarm spec in monitoring-alarm.ts.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cw_actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { pascalCase } from '../naming';
import type { BackupBucket } from './backup-bucket';
import type { DrillSweeper } from './drill-sweeper';
import type { FreshnessCheck } from './freshness-check';
import { failureAlarm, kebab, type AlarmSpec } from './monitoring-alarm';
import {
  databaseMonitoring,
  validateDatabaseAlarms,
  type DatabaseAlarms,
  type DatabaseAlarmsProps,
} from './monitoring-database';
import { fleetMonitoring, type FleetAlarms, type FleetAlarmsProps } from './monitoring-fleet';
import { createOnCallTopic, createOperationalKey, type OnCallSubscriptions } from './monitoring-on-call';

export { FAILURE_THRESHOLD } from './monitoring-alarm';
export {
  DEFAULT_MAX_DRILL_AGE,
  DEFAULT_MAX_SIZE_CHANGE,
  STALE_BACKUP_GRACE,
  type BackupMetrics,
  type DatabaseAlarms,
  type DatabaseAlarmsProps,
  type DrillMetrics,
} from './monitoring-database';

/** Replication Time Control's 15-minute target: anything slower is late. */
export const DEFAULT_MAX_REPLICATION_LATENCY = Duration.minutes(15);

export interface MonitoringProps extends OnCallSubscriptions {
  /**
   * The key that encrypts the on-call topic (and may encrypt the stack's log groups). When given,
   * its key policy must already allow CloudWatch and EventBridge to use it.
   * @default - a new customer-managed key with rotation, used only for operational data (the topic
   * and log groups), never for backups: the backup keys' policies stay free of service principals
   */
  readonly key?: kms.IKey;

  /**
   * The dashboard's name.
   * @default - a generated name
   */
  readonly dashboardName?: string;
}

/** Anything with Lambda-style `Errors` (a function, or a construct wrapping one). */
export interface ErrorMetrics {
  metricErrors(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
}

export interface ErrorAlarmOptions {
  /**
   * Where the alarm is created. A construct of another stack (a fleet group stack) keeps the alarm
   * beside its function, so the fleet stack holds nothing per group and the only reference is the
   * group's to the on-call topic; the alarm's name then starts with that stack's name.
   * @default - this Monitoring construct
   */
  readonly scope?: Construct;
  /**
   * What failed, for on-call (the runbook link is added).
   * @default - "The <id> function failed (see its log group)."
   */
  readonly description?: string;
}

/** The replication metrics the replication alarms watch: a replicating {@link BackupBucket} provides them. */
export type ReplicationMetrics = Pick<
  BackupBucket,
  'metricOperationsFailedReplication' | 'metricReplicationLatency'
>;

export interface ReplicationMonitoringProps {
  /** The replication source (the primary backup bucket, with `replication`). */
  readonly bucket: ReplicationMetrics;

  /**
   * Longest tolerated replication latency.
   * @default Duration.minutes(15) - the Replication Time Control target
   */
  readonly maxLatency?: Duration;
}

/**
 * On-call paging: one KMS-encrypted SNS topic with the configured subscriptions, the alarms that
 * page it (each with alarm and OK actions), and a dashboard with backup age, size trend and drill
 * RTO per database.
 *
 * Metrics come from the constructs that own them (`BackupWorkflow.metricBackupAgeHours()`,
 * `RestoreDrill.metricDrillRtoSeconds()`, `BackupBucket.metricReplicationLatency()`, ...):
 * Monitoring only sets the period an alarm evaluates, never the metric's identity or statistic, so
 * a metric changed in its construct changes its alarm. Every threshold is a named value. "Something
 * did not happen" alarms (stale backup, stale drill) treat missing data as breaching: silence is
 * exactly the failure they exist to catch.
 *
 * Add alarms with `addDatabaseAlarms`, `addReplicationAlarms`, `addErrorAlarm`,
 * `addOrphanedInstancesAlarm` and `addBackupKeyAlarm`.
 */
export class Monitoring extends Construct {
  /** The on-call topic. */
  public readonly topic: sns.Topic;

  /** The key encrypting the topic (and usable for the stack's log groups). */
  public readonly key: kms.IKey;

  /** The dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;

  private readonly alarmList: cloudwatch.Alarm[] = [];
  private readonly databases = new Set<string>();
  private readonly alarmAction: cw_actions.SnsAction;

  constructor(scope: Construct, id: string, props: MonitoringProps = {}) {
    super(scope, id);
    this.key = props.key ?? createOperationalKey(this);
    this.topic = createOnCallTopic(this, this.key, props);
    this.alarmAction = new cw_actions.SnsAction(this.topic);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(35),
    });
  }

  /** Every alarm created so far (those it created in fleet group stacks included). */
  public get alarms(): readonly cloudwatch.Alarm[] {
    return [...this.alarmList];
  }

  /** Alarms for one database, plus its dashboard row. */
  public addDatabaseAlarms(props: DatabaseAlarmsProps): DatabaseAlarms {
    const databaseId = props.backup.databaseId;
    if (this.databases.has(databaseId)) {
      throw new Error(`database "${databaseId}" is already monitored: database ids must be unique`);
    }
    this.databases.add(databaseId);
    validateDatabaseAlarms(databaseId, props);

    const scope = new Construct(this, `Database${pascalCase(databaseId)}`);
    const { alarms, widgets } = databaseMonitoring(props, (id, spec) =>
      this.createAlarm(scope, id, `${databaseId}-${kebab(id)}`, { ...spec, runbook: kebab(id) }),
    );
    this.dashboard.addWidgets(...widgets);
    return alarms;
  }

  /**
   * A fleet's alarms: one Metrics Insights alarm per condition over every database (each database
   * a contributor), the orchestrators' queue and failure alarms, and the fleet dashboard row.
   */
  public addFleetAlarms(props: FleetAlarmsProps): FleetAlarms {
    const scope = new Construct(this, 'Fleet');
    const { alarms, widgets } = fleetMonitoring(props, (id, runbook, spec) =>
      this.createAlarm(scope, id, kebab(id), { ...spec, runbook }),
    );
    this.dashboard.addWidgets(...widgets);
    return alarms;
  }

  /** Replication failed and replication late, from S3's replication metrics of the bucket's rule. */
  public addReplicationAlarms(props: ReplicationMonitoringProps): {
    failed: cloudwatch.Alarm;
    late: cloudwatch.Alarm;
  } {
    const maxLatency = props.maxLatency ?? DEFAULT_MAX_REPLICATION_LATENCY;
    const period = { period: Duration.minutes(15) };
    const scope = new Construct(this, 'Replication');
    return {
      failed: this.createAlarm(scope, 'Failed', 'replication-failed', {
        ...failureAlarm(
          props.bucket.metricOperationsFailedReplication(period),
          'Objects failed to replicate to the replica region (check the replication role and replica key).',
        ),
        runbook: 'replication-failed',
      }),
      late: this.createAlarm(scope, 'Late', 'replication-late', {
        metric: props.bucket.metricReplicationLatency(period),
        threshold: maxLatency.toSeconds(),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        description: `Replication to the replica region is slower than ${maxLatency.toMinutes()} minutes.`,
        runbook: 'replication-late',
      }),
    };
  }

  /**
   * Pages on any error of a function (the runner-errors alarm): a Lambda function, or a construct
   * that wraps one and offers `metricErrors()` (`FreshnessCheck`, `DrillSweeper`). Lambda counts
   * as an error every invocation that ends without the handler's result (an uncaught error, an
   * init or configuration failure, out of memory, a timeout), whatever the caller does with it.
   */
  public addErrorAlarm(id: string, source: ErrorMetrics, options: ErrorAlarmOptions = {}): cloudwatch.Alarm {
    const scope = new Construct(options.scope ?? this, `Function${id}`);
    return this.createAlarm(scope, 'Errors', `${kebab(id)}-errors`, {
      ...failureAlarm(
        source.metricErrors({ period: Duration.minutes(5) }),
        options.description ?? `The ${id} function failed (see its log group).`,
      ),
      runbook: 'runner-errors',
    });
  }

  /** Pages when the sweeper found an expired drill instance (a drill did not clean up). */
  public addOrphanedInstancesAlarm(sweeper: Pick<DrillSweeper, 'metricOrphanedInstances'>): cloudwatch.Alarm {
    return this.createAlarm(
      new Construct(this, 'DrillSweeper'),
      'OrphanedInstances',
      'orphaned-drill-instances',
      {
        ...failureAlarm(
          sweeper.metricOrphanedInstances(),
          'The sweeper found an expired restore-drill instance: a drill did not delete its database.',
        ),
        runbook: 'orphaned-drill-instances',
      },
    );
  }

  /** Pages when a backup key is disabled or pending deletion (any database's, as the check reports it). */
  public addBackupKeyAlarm(freshness: Pick<FreshnessCheck, 'metricBackupKeyUnusable'>): cloudwatch.Alarm {
    return this.createAlarm(new Construct(this, 'BackupKey'), 'Unusable', 'backup-key-unusable', {
      ...failureAlarm(
        freshness.metricBackupKeyUnusable({ period: Duration.hours(1) }),
        'A backup KMS key is disabled or pending deletion: new backups fail and existing ones cannot be read.',
      ),
      runbook: 'backup-key-unusable',
    });
  }

  /** Lets `grantee` publish to the on-call topic (including use of its key). */
  public grantPublish(grantee: iam.IGrantable): iam.Grant {
    return this.topic.grantPublish(grantee);
  }

  private createAlarm(scope: Construct, id: string, name: string, spec: AlarmSpec): cloudwatch.Alarm {
    const created = new cloudwatch.Alarm(scope, id, {
      alarmName: `${Stack.of(scope).stackName}-${name}`,
      alarmDescription: `${spec.description} Runbook: docs/RUNBOOK.md#${spec.runbook}`,
      metric: spec.metric,
      threshold: spec.threshold,
      comparisonOperator: spec.comparisonOperator,
      evaluationPeriods: spec.evaluationPeriods ?? 1,
      treatMissingData: spec.treatMissingData,
    });
    created.addAlarmAction(this.alarmAction);
    created.addOkAction(this.alarmAction);
    this.alarmList.push(created);
    return created;
  }
}
