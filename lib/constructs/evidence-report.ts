import { Duration, RemovalPolicy, TimeZone, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { assertDatabaseId } from '../../lambda/core/tiers';
import { keyStatement, objectStatement } from '../grants';
import { scheduledInvoke } from '../workflows';
import { RunnerFunction, type RunnerCommonProps } from './runner-function';

/** 06:00 UTC on the 1st: last month is complete, and its last backups have been verified. */
export const DEFAULT_EVIDENCE_SCHEDULE = 'cron(0 6 1 * ? *)';

/** Where the reports go (lambda/core/tiers.ts evidenceReportKey). */
export const EVIDENCE_REPORTS_PREFIX = 'reports/';

export interface EvidenceReportProps extends RunnerCommonProps {
  /** The primary backup bucket: the report is built from it and written into it. */
  readonly bucket: s3.IBucket;

  /** The bucket's key (reads manifests; encrypts the reports). */
  readonly key: kms.IKey;

  /** The databases reported on, with the RPO each is judged against. */
  readonly databases: readonly { readonly id: string; readonly rpo: Duration }[];

  /**
   * When the report is made (it covers the previous calendar month).
   * @default - 06:00 UTC on the 1st of each month, `cron(0 6 1 * ? *)`
   */
  readonly schedule?: scheduler.ScheduleExpression;

  /**
   * Object Lock mode of the reports.
   * @default 'COMPLIANCE' - as the backups
   */
  readonly objectLockMode?: 'GOVERNANCE' | 'COMPLIANCE';

  /**
   * How long each report is locked.
   * @default Duration.days(2555) - seven years
   */
  readonly reportRetention?: Duration;

  /**
   * The key of the announcement topic.
   * @default - a new customer-managed key (rotation on, retained)
   */
  readonly topicKey?: kms.IKey;
}

/**
 * The monthly evidence report: a function on an EventBridge Scheduler schedule builds last month's
 * report from the bucket alone and writes it under `reports/<yyyy-mm>/` (HTML, Markdown, JSON;
 * Object Lock, conditional create), and its on-success destination announces it on a
 * KMS-encrypted topic (the invocation record carries the report keys and the gap days). A failed
 * run is announced on the same topic, so no month passes silently.
 */
export class EvidenceReport extends Construct {
  public readonly function: RunnerFunction;
  public readonly schedule: scheduler.Schedule;
  /** Where each month's report is announced; subscribe auditors or a ticketing endpoint. */
  public readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: EvidenceReportProps) {
    super(scope, id);
    if (props.databases.length === 0) throw new Error('databases must list at least one database');
    for (const d of props.databases) if (!Token.isUnresolved(d.id)) assertDatabaseId(d.id);
    const retention = props.reportRetention ?? Duration.days(2555);
    // Object Lock retention is counted in whole days.
    if (!retention.isUnresolved() && (retention.toHours() < 24 || retention.toHours() % 24 !== 0)) {
      throw new Error(
        `reportRetention must be a whole number of days, at least 1 (got ${retention.toHumanString()})`,
      );
    }

    const topicKey =
      props.topicKey ??
      new kms.Key(this, 'TopicKey', {
        description: 'Restorable: evidence report announcements',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Restorable evidence reports',
      masterKey: topicKey,
      enforceSSL: true,
    });

    this.function = new RunnerFunction(this, 'Resource', {
      handler: 'report',
      description: 'Restorable: monthly evidence report from the backup bucket',
      image: props.image,
      environment: {
        // The report handler's contract (lambda/handlers/report.ts).
        BACKUP_BUCKET: props.bucket.bucketName,
        DATABASE_IDS: JSON.stringify(props.databases.map((d) => d.id)),
        RPO_HOURS: JSON.stringify(Object.fromEntries(props.databases.map((d) => [d.id, d.rpo.toHours()]))),
        OBJECT_LOCK_MODE: props.objectLockMode ?? 'COMPLIANCE',
        REPORT_RETENTION_DAYS: String(retention.toDays()),
        BACKUP_KMS_KEY_ARN: props.key.keyArn,
      },
      logEncryptionKey: props.logEncryptionKey,
      logRetention: props.logRetention,
    });
    // EventBridge Scheduler invokes asynchronously, so the function's async destinations see every
    // run. The runner already has an event invoke config (no silent retries); add the destinations
    // to it, since Lambda allows one config per function.
    const invokeConfig = this.function.function.node.tryFindChild('EventInvokeConfig');
    const cfnInvokeConfig = invokeConfig?.node.defaultChild as lambda.CfnEventInvokeConfig | undefined;
    if (!cfnInvokeConfig)
      throw new Error('the runner function has no event invoke config to add destinations to');
    cfnInvokeConfig.destinationConfig = {
      onSuccess: { destination: this.topic.topicArn },
      onFailure: { destination: this.topic.topicArn },
    };
    this.topic.grantPublish(this.function.role);

    const role = this.function.role;
    const { bucket } = props;
    // Reads everything the report is built from: manifests and verification records of every
    // tier, drill reports; HeadObject on dumps (the catalog's validity check).
    role.addToPrincipalPolicy(objectStatement(bucket, [''], ['s3:GetObject']));
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket', 's3:GetLifecycleConfiguration', 's3:GetBucketObjectLockConfiguration'],
        resources: [bucket.bucketArn],
      }),
    );
    role.addToPrincipalPolicy(
      objectStatement(bucket, [EVIDENCE_REPORTS_PREFIX], ['s3:PutObject', 's3:PutObjectRetention']),
    );
    role.addToPrincipalPolicy(keyStatement(this, { key: props.key }, ['kms:Decrypt', 'kms:GenerateDataKey']));
    NagSuppressions.addResourceSuppressions(
      role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'The report reads every object the evidence is built from (all tiers, verification records, drill reports) and writes under reports/; object ARNs need the trailing wildcard.',
          appliesTo: [{ regex: '/^Resource::.*\\/(reports\\/)?\\*$/' }],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Announcing on the KMS-encrypted report topic needs kms:GenerateDataKey* on its key (SNS may call any ' +
            'GenerateDataKey variant); the grant comes from topic.grantPublish and names that key only.',
          appliesTo: ['Action::kms:GenerateDataKey*'],
        },
      ],
      true,
    );

    this.schedule = scheduledInvoke(this, this.function.function, {
      description: 'Restorable: monthly evidence report',
      roleDescription: 'EventBridge Scheduler: run the Restorable evidence report',
      schedule:
        props.schedule ??
        scheduler.ScheduleExpression.expression(DEFAULT_EVIDENCE_SCHEDULE, TimeZone.ETC_UTC),
    });
  }
}
