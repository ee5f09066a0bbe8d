/**
 * The FreshnessCheck construct: the hourly function that reports each database's backup and
 * drill age, size ratio and key state (lambda/handlers/freshness.ts), with its grants and metrics.
 */
import { Duration, TimeZone, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { DIMENSION_DATABASE, METRIC_NAMESPACE, MetricNames } from '../../lambda/core/metric-names';
import type { HandlerEnvInput } from '../../lambda/core/handler-env';
import { assertDatabaseId } from '../../lambda/core/tiers';
import type { FleetSelectionInput } from '../../lambda/core/fleet-settings';
import { scheduledInvoke } from '../workflows';
import type { IBackupBucket } from './backup-bucket';
import { RunnerFunction, type RunnerCommonProps } from './runner-function';

/**
 * Minute 5 of every hour: each hourly alarm period then holds exactly one data point, well clear
 * of the period boundary, so a missing point really means a missed check.
 */
export const DEFAULT_FRESHNESS_SCHEDULE = 'cron(5 * * * ? *)';

export interface FreshnessCheckProps extends RunnerCommonProps {
  /** The primary backup bucket (its key is checked for usability and decrypts manifests). */
  readonly bucket: IBackupBucket;

  /** The databases whose newest backup is measured (may be empty with `selection`). */
  readonly databaseIds: string[];

  /**
   * A fleet's tag selection: the check also discovers the tag-selected databases and measures them
   * (an expected database without a backup is stale, not absent), and reads every database's
   * manifests and drill reports (`<tier>/*` and `drills/*`) instead of the listed ones'.
   * @default - only `databaseIds`
   */
  readonly selection?: FleetSelectionInput;

  /**
   * RPO hours per listed database and for tag-selected ones: the check publishes
   * `BackupAgeOverRpo` (age / (RPO + 1 h)) for the fleet's single Metrics Insights alarm.
   * @default - the check's defaults (24 hours)
   */
  readonly rpoHours?: { readonly byDatabase: Readonly<Record<string, number>>; readonly default: number };

  /**
   * Pass the listed databases and their RPOs in the scheduled event (`{ listedDatabases: [{ id,
   * rpoHours }] }`) instead of DATABASE_IDS / RPO_HOURS: a fleet's list outgrows the 4 KB a Lambda
   * environment holds in all.
   * @default false
   */
  readonly listInEvent?: boolean;

  /**
   * The replica bucket, whose key is checked for usability too.
   * @default - only the primary key is checked
   */
  readonly replicaBucket?: IBackupBucket;

  /**
   * When the check runs.
   * @default - hourly at minute 5, `cron(5 * * * ? *)` (UTC)
   */
  readonly schedule?: scheduler.ScheduleExpression;
}

/**
 * The scheduled freshness check behind the "backup stale", "size anomaly" and "backup key
 * unusable" alarms: per database it publishes the age of the newest valid manifest (S3's clock,
 * not the function's) and the size ratio against the median of the last 7, and whether the backup
 * keys are usable. Read-only: it lists and reads manifests and describes keys.
 */
export class FreshnessCheck extends Construct {
  /** The freshness function. */
  public readonly function: RunnerFunction;
  /** The hourly schedule. */
  public readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: FreshnessCheckProps) {
    super(scope, id);
    if (props.databaseIds.length === 0 && !props.selection) {
      throw new Error('databaseIds must list at least one database (or give a selection)');
    }
    for (const databaseId of props.databaseIds) {
      if (!Token.isUnresolved(databaseId)) assertDatabaseId(databaseId);
    }

    const environment = {
      BACKUP_BUCKET: props.bucket.bucket.bucketName,
      DATABASE_IDS: props.listInEvent ? [] : props.databaseIds,
      BACKUP_KMS_KEY_ARN: props.bucket.keyId,
      // DescribeKey accepts an alias ARN, so a replica key known only by alias works here.
      ...(props.replicaBucket
        ? {
            REPLICA_KMS_KEY_ARN: props.replicaBucket.keyId,
            REPLICA_REGION: props.replicaBucket.bucket.env.region,
          }
        : {}),
      // The fleet's variables (fleet contract; typed by FreshnessEnvSchema once the runtime adds them).
      ...(props.selection ? { SELECTION: props.selection } : {}),
      ...(props.rpoHours
        ? {
            ...(props.listInEvent ? {} : { RPO_HOURS: props.rpoHours.byDatabase }),
            DEFAULT_RPO_HOURS: props.rpoHours.default,
          }
        : {}),
    } satisfies HandlerEnvInput<'freshness'> & Record<string, unknown>;

    this.function = new RunnerFunction(this, 'Resource', {
      handler: 'freshness',
      description: 'Restorable: backup age, size trend and key state per database',
      image: props.image,
      environment,
      logEncryptionKey: props.logEncryptionKey,
      logRetention: props.logRetention,
    });

    // Read-only: manifests (and each manifest's dump exists: readBackups lists the bucket), drill
    // reports for the age of the newest passing drill, and whether the keys are usable.
    const role = this.function.role;
    // A fleet's databases come and go by tag: every database's (`*`), still read-only.
    for (const databaseId of props.selection ? ['*'] : props.databaseIds) {
      props.bucket.grants.readBackups(role, databaseId);
      props.bucket.grants.readDrillReports(role, databaseId);
    }
    props.bucket.grants.describeKey(role);
    props.replicaBucket?.grants.describeKey(role);

    this.schedule = scheduledInvoke(this, this.function.function, {
      description: 'Restorable: hourly backup freshness check',
      roleDescription: 'EventBridge Scheduler: run the Restorable freshness check',
      input: props.listInEvent
        ? {
            listedDatabases: props.databaseIds.map((id) => ({
              id,
              rpoHours: props.rpoHours?.byDatabase[id] ?? props.rpoHours?.default,
            })),
          }
        : undefined,
      schedule:
        props.schedule ??
        scheduler.ScheduleExpression.expression(DEFAULT_FRESHNESS_SCHEDULE, TimeZone.ETC_UTC),
    });
  }

  /**
   * `BackupKeyUnusable`: 1 when a backup KMS key is disabled or pending deletion. The check reports
   * the same value under every database, so one Metrics Insights query takes the maximum across
   * them: one series (not one per database) that keeps working as databases come and go.
   * @default - maximum across databases over 1 hour (the check runs hourly)
   * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-alarms.html
   */
  public metricBackupKeyUnusable(props: { readonly period?: Duration } = {}): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `SELECT MAX(${MetricNames.backupKeyUnusable}) FROM SCHEMA("${METRIC_NAMESPACE}", ${DIMENSION_DATABASE})`,
      period: props.period ?? Duration.hours(1),
      label: 'backup key unusable (any database)',
    });
  }

  /** Lambda `Errors` of the check. @default - sum over 5 minutes */
  public metricErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.function.metricErrors(props);
  }

  /** Lets `grantee` run the check now. */
  public grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return this.function.grantInvoke(grantee);
  }
}
