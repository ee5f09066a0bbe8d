// @ts-nocheck
import { ArnFormat, Duration, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cw_actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DIMENSION_DATABASE, METRIC_NAMESPACE, MetricNames } from '../../lambda/core/metric-names';
import { restorableMetric } from '../metrics';
import { pascalCase } from '../naming';
import type { DrillSweeper } from './drill-sweeper';

/** A backup is stale once its age passes the RPO by this much (time for the dump and the next check). */
export const STALE_BACKUP_GRACE = Duration.hours(1);
/** A backup is anomalous when its size differs from the median of the last 7 by more than this. */
export const DEFAULT_MAX_SIZE_CHANGE = 0.2;
/** A database is out of compliance when its newest passing drill is older than this. */
export const DEFAULT_MAX_DRILL_AGE = Duration.days(35);
/** Replication Time Control's 15-minute target: anything slower is late. */
export const DEFAULT_MAX_REPLICATION_LATENCY = Duration.minutes(15);
/** One failure pages: a backup system has no tolerable failure rate. */
export const FAILURE_THRESHOLD = 1;

export interface MonitoringProps {
  /**
   * Email addresses subscribed to the on-call topic (each must confirm the subscription).
   * @default - no email subscriptions
   */
  readonly emails?: string[];

  /**
   * HTTPS endpoints subscribed to the on-call topic (e.g. a PagerDuty or Opsgenie integration URL).
   * @default - no HTTPS subscriptions
   */
  readonly httpsEndpoints?: string[];

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

export interface DatabaseMonitoringProps {
  /** The database id, as in the config (also the `DatabaseId` metric dimension). */
  readonly databaseId: string;

  /** Recovery point objective: the backup-stale alarm fires when the newest backup is older than this plus one hour. */
  readonly rpo: Duration;

  /** Recovery time objective: the drill-RTO alarm fires when a drill takes longer. */
  readonly rtoTarget: Duration;

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

  /**
   * The drill workflow: its failed executions count as failed drills too, because a drill that dies
   * before writing its report never emits `DrillFailure`.
   * @default - only `DrillFailure` counts
   */
  readonly drillStateMachine?: sfn.IStateMachine;

  /**
   * Whether the database has restore drills. Without drills there is nothing to alarm on, and a
   * drill-stale alarm (missing data breaching) would page forever.
   * @default true
   */
  readonly drills?: boolean;
}

export interface ReplicationMonitoringProps {
  /** The replication source (the primary backup bucket). */
  readonly sourceBucket: s3.IBucket;

  /** The destination bucket's name (the replica bucket, in the replica region). */
  readonly destinationBucketName: string;

  /** The id of the replication rule, as in the bucket's replication configuration. */
  readonly ruleId: string;

  /**
   * Longest tolerated replication latency.
   * @default Duration.minutes(15) - the Replication Time Control target
   */
  readonly maxLatency?: Duration;
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

interface AlarmSpec {
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly comparisonOperator: cloudwatch.ComparisonOperator;
  readonly treatMissingData: cloudwatch.TreatMissingData;
  readonly description: string;
  readonly evaluationPeriods?: number;
  /** The RUNBOOK.md section (anchor) that says what to do. */
  readonly runbook: string;
}

/**
 * On-call paging: one KMS-encrypted SNS topic with the configured subscriptions, the alarms that
 * page it (each with alarm and OK actions), and a dashboard with backup age, size trend and drill
 * RTO per database.
 *
 * Metrics come from `restorableMetric` (the shared names), built apart from the alarms; every
 * threshold is a named value. "Something did not happen" alarms (stale backup, stale drill) treat
 * missing data as breaching: silence is exactly the failure they exist to catch.
 *
 * Add alarms with `addDatabase`, `addReplication`, `addFunction` and `addDrillSweeper`/`addKeyCheck`.
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
    validateSubscriptions(props);
    const stack = Stack.of(this);

    this.key = props.key ?? this.createKey();

    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Restorable on-call',
      masterKey: this.key,
      enforceSSL: true,
    });
    // A topic policy replaces SNS's default one, so the publishers that are AWS services are named
    // explicitly, each limited to this account.
    // @see https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
    const publishers = [
      {
        sid: 'AllowCloudWatchAlarms',
        service: 'cloudwatch.amazonaws.com',
        sourceArn: stack.formatArn({
          service: 'cloudwatch',
          resource: 'alarm',
          resourceName: '*',
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      },
      {
        sid: 'AllowEventBridgeRules',
        service: 'events.amazonaws.com',
        sourceArn: stack.formatArn({ service: 'events', resource: 'rule', resourceName: '*' }),
      },
    ];
    for (const { sid, service, sourceArn } of publishers) {
      this.topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid,
          principals: [new iam.ServicePrincipal(service)],
          actions: ['sns:Publish'],
          resources: [this.topic.topicArn],
          conditions: {
            StringEquals: { 'aws:SourceAccount': stack.account },
            ArnLike: { 'aws:SourceArn': sourceArn },
          },
        }),
      );
    }
    for (const email of props.emails ?? []) {
      this.topic.addSubscription(new subs.EmailSubscription(email));
    }
    for (const url of props.httpsEndpoints ?? []) {
      this.topic.addSubscription(new subs.UrlSubscription(url, { protocol: sns.SubscriptionProtocol.HTTPS }));
    }
    this.alarmAction = new cw_actions.SnsAction(this.topic);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(35),
    });
  }

  /** Every alarm created so far. */
  public get alarms(): readonly cloudwatch.Alarm[] {
    return [...this.alarmList];
  }

  /** Alarms for one database, plus its dashboard row. */
  public addDatabase(props: DatabaseMonitoringProps): DatabaseAlarms {
    const { databaseId } = props;
    if (this.databases.has(databaseId)) {
      throw new Error(`database "${databaseId}" is already monitored: database ids must be unique`);
    }
    this.databases.add(databaseId);
    validateDatabase(props);

    const maxBackupAgeHours = props.rpo.toHours({ integral: false }) + STALE_BACKUP_GRACE.toHours();
    const maxSizeChange = props.maxSizeChange ?? DEFAULT_MAX_SIZE_CHANGE;
    const maxDrillAgeDays = (props.maxDrillAge ?? DEFAULT_MAX_DRILL_AGE).toDays({ integral: false });
    const maxRtoSeconds = props.rtoTarget.toSeconds();

    // Metrics first, alarms second.
    const hourly = { databaseId, period: Duration.hours(1) };
    const metrics = {
      backupFailure: restorableMetric(MetricNames.backupFailure, hourly),
      // The freshness check runs at minute 5 of every hour, so every hourly period holds one point.
      backupAgeHours: restorableMetric(MetricNames.backupAgeHours, {
        ...hourly,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      backupSizeRatio: restorableMetric(MetricNames.backupSizeRatio, {
        ...hourly,
        statistic: cloudwatch.Stats.AVERAGE,
      }),
      backupBytes: restorableMetric(MetricNames.backupBytes, {
        databaseId,
        period: Duration.days(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      verifyFailure: restorableMetric(MetricNames.verifyFailure, hourly),
      replicaMissing: restorableMetric(MetricNames.replicaMissing, hourly),
      drillFailure: restorableMetric(MetricNames.drillFailure, hourly),
      // Six-hour periods: drill staleness is measured in days, and one missed freshness run must not page.
      drillAgeDays: restorableMetric(MetricNames.drillAgeDays, {
        databaseId,
        period: Duration.hours(6),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      drillRtoSeconds: restorableMetric(MetricNames.drillRtoSeconds, {
        ...hourly,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
    };
    // The ratio is newest / median of the last 7: distance from 1 is the relative change either way.
    const sizeChange = new cloudwatch.MathExpression({
      expression: 'ABS(ratio - 1)',
      usingMetrics: { ratio: metrics.backupSizeRatio },
      period: Duration.hours(1),
      label: `${databaseId} size change vs median of last 7`,
    });
    const drillFailures = props.drillStateMachine
      ? new cloudwatch.MathExpression({
          expression: 'FILL(failures, 0) + FILL(executionsFailed, 0)',
          usingMetrics: {
            failures: metrics.drillFailure,
            executionsFailed: props.drillStateMachine.metricFailed({ period: Duration.hours(1) }),
          },
          period: Duration.hours(1),
          label: `${databaseId} failed drills`,
        })
      : metrics.drillFailure;

    const scope = new Construct(this, `Database${pascalCase(databaseId)}`);
    const alarm = (id: string, spec: Omit<AlarmSpec, 'runbook'>) =>
      this.createAlarm(scope, id, `${databaseId}-${kebab(id)}`, { ...spec, runbook: kebab(id) });
    const drills = props.drills ?? true;
    const alarms: DatabaseAlarms = {
      backupFailed: alarm('BackupFailed', {
        metric: metrics.backupFailure,
        threshold: FAILURE_THRESHOLD,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        description: `A backup of ${databaseId} failed: no new backup was written.`,
      }),
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
      verifyFailed: alarm('VerifyFailed', {
        metric: metrics.verifyFailure,
        threshold: FAILURE_THRESHOLD,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        description: `Verification of a ${databaseId} backup failed (checksum, size, table of contents or replica).`,
      }),
      replicaMissing: alarm('ReplicaMissing', {
        metric: metrics.replicaMissing,
        threshold: FAILURE_THRESHOLD,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        description: `A verified backup of ${databaseId} has no matching copy in the replica region.`,
      }),
      ...(drills
        ? {
            drillFailed: alarm('DrillFailed', {
              metric: drillFailures,
              threshold: FAILURE_THRESHOLD,
              comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
              treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
              description: `A restore drill of ${databaseId} failed: the backup could not be proven restorable.`,
            }),
            drillStale: alarm('DrillStale', {
              metric: metrics.drillAgeDays,
              threshold: maxDrillAgeDays,
              comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
              treatMissingData: cloudwatch.TreatMissingData.BREACHING,
              description: `No restore drill of ${databaseId} has passed in ${maxDrillAgeDays} days, or no drill age was reported.`,
            }),
            drillRtoExceeded: alarm('DrillRtoExceeded', {
              metric: metrics.drillRtoSeconds,
              threshold: maxRtoSeconds,
              comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
              treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
              description: `A restore drill of ${databaseId} took longer than the ${maxRtoSeconds} s RTO target.`,
            }),
          }
        : {}),
    };

    this.dashboard.addWidgets(
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
      new cloudwatch.GraphWidget({
        title: `${databaseId}: drill RTO (seconds)`,
        left: [metrics.drillRtoSeconds.with({ period: Duration.days(1) })],
        leftAnnotations: [{ value: maxRtoSeconds, label: 'RTO target', color: cloudwatch.Color.RED }],
        leftYAxis: { min: 0, showUnits: false },
        width: 8,
      }),
    );
    return alarms;
  }

  /** Replication failed and replication late, from S3's replication metrics for one rule. */
  public addReplication(props: ReplicationMonitoringProps): {
    failed: cloudwatch.Alarm;
    late: cloudwatch.Alarm;
  } {
    const maxLatency = props.maxLatency ?? DEFAULT_MAX_REPLICATION_LATENCY;
    const dimensionsMap = {
      SourceBucket: props.sourceBucket.bucketName,
      DestinationBucket: props.destinationBucketName,
      RuleId: props.ruleId,
    };
    // Published by S3 in the source bucket's region when replication metrics (or RTC) are on.
    // @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/repl-metrics.html
    const failedOperations = new cloudwatch.Metric({
      namespace: 'AWS/S3',
      metricName: 'OperationsFailedReplication',
      dimensionsMap,
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(15),
    });
    const latency = new cloudwatch.Metric({
      namespace: 'AWS/S3',
      metricName: 'ReplicationLatency',
      dimensionsMap,
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.minutes(15),
    });
    const scope = new Construct(this, 'Replication');
    return {
      failed: this.createAlarm(scope, 'Failed', 'replication-failed', {
        metric: failedOperations,
        threshold: FAILURE_THRESHOLD,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        description:
          'Objects failed to replicate to the replica region (check the replication role and replica key).',
        runbook: 'replication-failed',
      }),
      late: this.createAlarm(scope, 'Late', 'replication-late', {
        metric: latency,
        threshold: maxLatency.toSeconds(),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        description: `Replication to the replica region is slower than ${maxLatency.toMinutes()} minutes.`,
        runbook: 'replication-late',
      }),
    };
  }

  /** Pages on any error of a function (the runner-errors alarm). */
  public addFunction(id: string, fn: lambda.IFunction): cloudwatch.Alarm {
    return this.createAlarm(new Construct(this, `Function${id}`), 'Errors', `${kebab(id)}-errors`, {
      metric: fn.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: FAILURE_THRESHOLD,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      description: `The ${id} function failed (see its log group).`,
      runbook: 'runner-errors',
    });
  }

  /** Pages when the sweeper found an expired drill instance (a drill did not clean up). */
  public addDrillSweeper(sweeper: DrillSweeper): cloudwatch.Alarm {
    return this.createAlarm(
      new Construct(this, 'DrillSweeper'),
      'OrphanedInstances',
      'orphaned-drill-instances',
      {
        metric: sweeper.metricOrphanedInstances(),
        threshold: FAILURE_THRESHOLD,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        description:
          'The sweeper found an expired restore-drill instance: a drill did not delete its database.',
        runbook: 'orphaned-drill-instances',
      },
    );
  }

  /**
   * Pages when a backup key is disabled or pending deletion. The freshness check reports the same
   * value under every database, so one Metrics Insights query takes the maximum across them: one
   * alarm (not one per database) that keeps working as databases come and go.
   * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-alarms.html
   */
  public addKeyCheck(): cloudwatch.Alarm {
    const keyUnusable = new cloudwatch.MathExpression({
      expression: `SELECT MAX(${MetricNames.backupKeyUnusable}) FROM SCHEMA("${METRIC_NAMESPACE}", ${DIMENSION_DATABASE})`,
      period: Duration.hours(1),
      label: 'backup key unusable (any database)',
    });
    return this.createAlarm(new Construct(this, 'BackupKey'), 'Unusable', 'backup-key-unusable', {
      metric: keyUnusable,
      threshold: FAILURE_THRESHOLD,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      description:
        'A backup KMS key is disabled or pending deletion: new backups fail and existing ones cannot be read.',
      runbook: 'backup-key-unusable',
    });
  }

  /** Lets `grantee` publish to the on-call topic (including use of its key). */
  public grantPublish(grantee: iam.IGrantable): iam.Grant {
    return this.topic.grantPublish(grantee);
  }

  private createAlarm(scope: Construct, id: string, name: string, spec: AlarmSpec): cloudwatch.Alarm {
    const created = new cloudwatch.Alarm(scope, id, {
      alarmName: `${Stack.of(this).stackName}-${name}`,
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

  private createKey(): kms.Key {
    const stack = Stack.of(this);
    const key = new kms.Key(this, 'Key', {
      description: 'Restorable operational data: the on-call topic and log groups (never backups)',
      enableKeyRotation: true,
      pendingWindow: Duration.days(30),
    });
    // Alarms and rules publish to the encrypted topic as their service, which needs the key.
    // @see https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowAlarmsAndRulesToPublishToTheEncryptedTopic',
        principals: [
          new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
          new iam.ServicePrincipal('events.amazonaws.com'),
        ],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    // CloudWatch Logs encrypts this stack's log groups, and only log groups of this account and region.
    // @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchLogsForThisAccountsLogGroups',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.${stack.urlSuffix}`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    return key;
  }
}

function validateSubscriptions(props: MonitoringProps): void {
  for (const email of props.emails ?? []) {
    if (!Token.isUnresolved(email) && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
      throw new Error(`emails: "${email}" is not an email address`);
    }
  }
  for (const url of props.httpsEndpoints ?? []) {
    if (!Token.isUnresolved(url) && !/^https:\/\/[^\s/]+/.test(url)) {
      throw new Error(`httpsEndpoints: "${url}" must be an https:// URL`);
    }
  }
}

function validateDatabase(props: DatabaseMonitoringProps): void {
  if (!Token.isUnresolved(props.rpo.toSeconds()) && props.rpo.toSeconds() <= 0) {
    throw new Error(`rpo (${props.rpo.toHumanString()}) for database "${props.databaseId}" must be positive`);
  }
  if (!Token.isUnresolved(props.rtoTarget.toSeconds()) && props.rtoTarget.toSeconds() <= 0) {
    throw new Error(
      `rtoTarget (${props.rtoTarget.toHumanString()}) for database "${props.databaseId}" must be positive`,
    );
  }
  const change = props.maxSizeChange;
  if (change !== undefined && !Token.isUnresolved(change) && !(change > 0 && change < 1)) {
    throw new Error(`maxSizeChange (${change}) for database "${props.databaseId}" must be between 0 and 1`);
  }
}

function kebab(id: string): string {
  return id.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}
