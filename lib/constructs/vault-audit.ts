/**
 * The vault's alarm that pages: a CloudTrail trail recording write calls on the backup buckets
 * (S3 data events, for these buckets only, to keep the bill small) and write management events,
 * and EventBridge rules sending every attempt — allowed or denied — to delete object versions,
 * bypass or change retention, change the bucket policy, lifecycle, replication, versioning or
 * Object Lock configuration, or to disable or delete a backup key, to the on-call topic.
 *
 * EventBridge delivers CloudTrail events in the region of the call, so the replica region has its
 * own rules (forwarding to the primary region's bus, or to a topic in a backup account); one
 * multi-region trail in the primary records both regions of one account.
 *
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/cloudtrail-logging-s3-info.html
 * @see https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event.html
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { logsKeyStatement } from '../service-key-policy';
import { BackupKey } from './backup-key';

/** CloudTrail event names of the S3 calls that change or destroy the vault. */
export const VAULT_S3_EVENTS: readonly string[] = [
  // DeleteObject with a versionId is s3:DeleteObjectVersion; a governance bypass rides on it (or on
  // PutObjectRetention) as a header. Nothing in Restorable deletes objects, so every one is news.
  'DeleteObject',
  'DeleteObjects',
  'PutObjectRetention',
  'PutObjectLegalHold',
  'PutBucketPolicy',
  'DeleteBucketPolicy',
  'PutBucketLifecycle',
  'DeleteBucketLifecycle',
  'PutBucketReplication',
  'DeleteBucketReplication',
  'PutBucketVersioning',
  'PutObjectLockConfiguration',
];

/** CloudTrail event names of the KMS calls that make backups unreadable. */
export const VAULT_KMS_EVENTS: readonly string[] = [
  'DisableKey',
  'ScheduleKeyDeletion',
  'PutKeyPolicy',
  'DisableKeyRotation',
];

export interface VaultAuditProps {
  /** The backup buckets whose calls are watched. */
  readonly buckets: s3.IBucket[];
  /** The backup keys whose disabling or deletion is watched. */
  readonly keys: kms.IKey[];
  /** Where matched events go: the on-call topic, or another region's or account's event bus. */
  readonly targets: events.IRuleTarget[];
  /**
   * Also send on vault events another region's (or account's) rules forwarded to this bus.
   *
   * @default - none
   */
  readonly forwardedFrom?: { readonly account: string; readonly region: string };
  /**
   * Record the calls with a trail of this construct's own, delivering to this bucket.
   *
   * @default - no trail here (another stack's multi-region trail records this region)
   */
  readonly trail?: VaultTrailProps;
}

export interface VaultTrailProps {
  /** Bucket the trail delivers log files to (under `cloudtrail/`). */
  readonly bucket: s3.IBucket;
  /**
   * Also record write management events (policy changes, KMS). A second copy of management events
   * beyond an organization trail's is billed.
   *
   * @default true
   */
  readonly managementEvents?: boolean;
  /**
   * How long the trail's CloudWatch Logs copy is kept.
   *
   * @default logs.RetentionDays.ONE_YEAR - Control Tower's CT.CLOUDWATCH.PR.2 minimum
   */
  readonly logRetention?: logs.RetentionDays;
}

export class VaultAudit extends Construct {
  public readonly trail?: cloudtrail.Trail;
  /** Encrypts the trail's log files and its CloudWatch Logs copy, when there is a trail. */
  public readonly key?: BackupKey;
  public readonly rules: events.Rule[];

  constructor(scope: Construct, id: string, props: VaultAuditProps) {
    super(scope, id);
    if (props.trail) ({ trail: this.trail, key: this.key } = this.addTrail(props.trail, props.buckets));

    const s3Rule = new events.Rule(this, 'BucketChanges', {
      description:
        'Restorable vault: version deletion, retention and configuration changes on backup buckets',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['s3.amazonaws.com'],
          eventName: [...VAULT_S3_EVENTS],
          requestParameters: { bucketName: props.buckets.map((b) => b.bucketName) },
        },
      },
    });
    const kmsRule = new events.Rule(this, 'KeyChanges', {
      description: 'Restorable vault: backup keys disabled, scheduled for deletion or re-policied',
      eventPattern: {
        source: ['aws.kms'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['kms.amazonaws.com'],
          eventName: [...VAULT_KMS_EVENTS],
          resources: { ARN: props.keys.map((k) => k.keyArn) },
        },
      },
    });
    this.rules = [s3Rule, kmsRule];
    if (props.forwardedFrom) {
      // The forwarding side filtered them already; events keep their account and region.
      this.rules.push(
        new events.Rule(this, 'ForwardedChanges', {
          description: `Restorable vault: changes forwarded from ${props.forwardedFrom.region} (${props.forwardedFrom.account})`,
          eventPattern: {
            account: [props.forwardedFrom.account],
            region: [props.forwardedFrom.region],
            source: ['aws.s3', 'aws.kms'],
            detailType: ['AWS API Call via CloudTrail'],
          },
        }),
      );
    }
    for (const rule of this.rules) for (const target of props.targets) rule.addTarget(target);
    // Event-bus targets (the replica region forwarding here) and the trail's CloudWatch Logs
    // delivery get roles with one generated statement each.
    NagSuppressions.addResourceSuppressions(
      this,
      [
        {
          id: 'NIST.800.53.R5-IAMNoInlinePolicy',
          reason:
            'One statement (put events on one bus, or write one log group) for one role created with it, sharing its lifecycle.',
        },
      ],
      true,
    );
  }

  private addTrail(
    props: VaultTrailProps,
    buckets: s3.IBucket[],
  ): { trail: cloudtrail.Trail; key: BackupKey } {
    const stack = Stack.of(this);
    const trailName = `restorable-vault-${stack.region}`;
    const trailArn = stack.formatArn({ service: 'cloudtrail', resource: 'trail', resourceName: trailName });
    const key = new BackupKey(this, 'Key', { description: 'Restorable vault audit trail' });
    // Service principals only for this account's trail and log group (confused-deputy protection).
    key.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudTrailEncryptsThisTrail',
        principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
        actions: ['kms:GenerateDataKey*', 'kms:DescribeKey'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceArn': trailArn, 'aws:SourceAccount': stack.account },
        },
      }),
    );
    const logGroupName = `/restorable/vault-trail-${stack.region}`;
    key.key.addToResourcePolicy(logsKeyStatement(this, 'CloudWatchLogsEncryptsTheTrailCopy', logGroupName));
    const logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName,
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      encryptionKey: key.key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const trail = new cloudtrail.Trail(this, 'Trail', {
      trailName,
      bucket: props.bucket,
      s3KeyPrefix: 'cloudtrail',
      isMultiRegionTrail: true,
      includeGlobalServiceEvents: true,
      enableFileValidation: true,
      encryptionKey: key.key,
      sendToCloudWatchLogs: true,
      cloudWatchLogGroup: logGroup,
      managementEvents:
        (props.managementEvents ?? true)
          ? cloudtrail.ReadWriteType.WRITE_ONLY
          : cloudtrail.ReadWriteType.NONE,
    });
    // Writes and deletes only: reads (every verify and drill) would multiply the data-event bill.
    trail.addS3EventSelector(
      buckets.map((bucket) => ({ bucket })),
      {
        readWriteType: cloudtrail.ReadWriteType.WRITE_ONLY,
        // Management events come with the trail's own selector; once is enough.
        includeManagementEvents: false,
      },
    );
    trail.node.addDependency(key.key);
    // The Trail construct grants cloudtrail.amazonaws.com the bucket with no source condition; this
    // deny limits it to this trail (the condition CloudTrail documents for its bucket policies).
    // @see https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html
    props.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudTrailOnlyForTheVaultTrail',
        effect: iam.Effect.DENY,
        principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
        actions: ['s3:GetBucketAcl', 's3:PutObject'],
        resources: [props.bucket.bucketArn, props.bucket.arnForObjects('*')],
        conditions: { StringNotEquals: { 'aws:SourceArn': trailArn } },
      }),
    );
    NagSuppressions.addResourceSuppressions(
      trail,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'CloudTrail writes log streams of its own log group only: the stream ARN needs the trailing wildcard.',
        },
      ],
      true,
    );
    return { trail, key };
  }
}
