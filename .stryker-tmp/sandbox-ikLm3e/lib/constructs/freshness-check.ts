// @ts-nocheck
import { TimeZone, Token } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { assertDatabaseId } from '../../lambda/core/tiers';
import {
  drillReportPrefix,
  keyIdentifier,
  keyStatement,
  objectStatement,
  tierPrefixes,
  type KeyReference,
} from '../grants';
import { scheduledInvoke } from '../workflows';
import { RunnerFunction, type RunnerCommonProps } from './runner-function';

/**
 * Minute 5 of every hour: each hourly alarm period then holds exactly one data point, well clear
 * of the period boundary, so a missing point really means a missed check.
 */
export const DEFAULT_FRESHNESS_SCHEDULE = 'cron(5 * * * ? *)';

export interface FreshnessCheckProps extends RunnerCommonProps {
  /** The primary backup bucket. */
  readonly bucket: s3.IBucket;

  /** The primary bucket's key (checked for usability; decrypts manifests). */
  readonly key: kms.IKey;

  /** The databases whose newest backup is measured. */
  readonly databaseIds: string[];

  /**
   * The replica bucket's key, checked for usability too.
   * @default - only the primary key is checked
   */
  readonly replicaKey?: KeyReference;

  /**
   * The replica key's region (with `replicaKey`).
   * @default - the stack's region
   */
  readonly replicaRegion?: string;

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
    if (props.databaseIds.length === 0) throw new Error('databaseIds must list at least one database');
    for (const databaseId of props.databaseIds) {
      if (!Token.isUnresolved(databaseId)) assertDatabaseId(databaseId);
    }

    const environment: Record<string, string> = {
      // The freshness handler's contract (lambda/handlers/freshness.ts).
      BACKUP_BUCKET: props.bucket.bucketName,
      DATABASE_IDS: JSON.stringify(props.databaseIds),
      BACKUP_KMS_KEY_ARN: props.key.keyArn,
    };
    if (props.replicaKey) {
      // DescribeKey accepts an alias ARN, so a replica key known only by alias works here.
      environment.REPLICA_KMS_KEY_ARN = keyIdentifier(this, props.replicaKey, props.replicaRegion);
      environment.REPLICA_REGION = props.replicaRegion ?? props.bucket.env.region;
    }

    this.function = new RunnerFunction(this, 'Resource', {
      handler: 'freshness',
      description: 'Restorable: backup age, size trend and key state per database',
      image: props.image,
      environment,
      logEncryptionKey: props.logEncryptionKey,
      logRetention: props.logRetention,
    });

    const role = this.function.role;
    const prefixes = props.databaseIds.flatMap(tierPrefixes);
    role.addToPrincipalPolicy(objectStatement(props.bucket, prefixes, ['s3:GetObject']));
    // Drill reports, for the age of the newest passing drill (the drill-stale alarm's DrillAgeDays).
    role.addToPrincipalPolicy(
      objectStatement(props.bucket, props.databaseIds.map(drillReportPrefix), ['s3:GetObject']),
    );
    // No prefix condition: the catalog checks that each manifest's dump exists (HeadObject), and
    // S3 answers a missing object with 404 only to callers allowed to list the bucket (403
    // otherwise, which would fail the whole check instead of marking that backup invalid).
    // Listing reveals key names (database ids, timestamps), never contents.
    // @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.bucket.bucketArn] }),
    );
    // Manifests are SSE-KMS: reading them decrypts through S3.
    role.addToPrincipalPolicy(keyStatement(this, { key: props.key }, ['kms:Decrypt']));
    role.addToPrincipalPolicy(keyStatement(this, { key: props.key }, ['kms:DescribeKey'], { viaS3: false }));
    if (props.replicaKey) {
      role.addToPrincipalPolicy(
        keyStatement(this, props.replicaKey, ['kms:DescribeKey'], {
          region: props.replicaRegion,
          viaS3: false,
        }),
      );
    }
    NagSuppressions.addResourceSuppressions(
      role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "Reads manifests under each configured database's tier prefixes (<tier>/<db>/*) and its drill reports " +
            '(drills/<db>/*); object ARNs need the trailing wildcard.',
          appliesTo: [
            { regex: '/^Resource::.*\\/(yearly|monthly|weekly|daily|drills)\\/[a-z0-9-]+\\/\\*$/' },
          ],
        },
        ...(props.replicaKey?.alias
          ? [
              {
                id: 'AwsSolutions-IAM5',
                reason:
                  'kms:DescribeKey on the replica key, known here only by alias: key/* of the replica region narrowed by kms:ResourceAliases.',
                appliesTo: [{ regex: '/^Resource::arn:.*:kms:.*:key\\/\\*$/' }],
              },
            ]
          : []),
      ],
      true,
    );

    this.schedule = scheduledInvoke(this, this.function.function, {
      description: 'Restorable: hourly backup freshness check',
      roleDescription: 'EventBridge Scheduler: run the Restorable freshness check',
      schedule:
        props.schedule ??
        scheduler.ScheduleExpression.expression(DEFAULT_FRESHNESS_SCHEDULE, TimeZone.ETC_UTC),
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
