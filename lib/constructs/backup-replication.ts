/**
 * Cross-region (and cross-account) replication of a backup bucket: the rule S3 follows, the
 * replication role's only permissions, and the replication metrics S3 publishes for the rule
 * (BackupBucket's `metricReplication*` methods delegate here). Used by {@link BackupBucket}.
 */
import { Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { keyStatement, type KeyReference } from './backup-bucket-grants';
import type { IBackupBucket } from './imported-backup-bucket';

/** Where a source bucket replicates to. */
export interface BackupReplicationProps {
  /**
   * The replica bucket, with its account and region known (e.g. imported with
   * `BackupBucket.fromBucketAttributes` and `region`). It must have versioning and Object
   * Lock enabled. Its key (or key alias) is the `ReplicaKmsKeyID`.
   */
  readonly destination: IBackupBucket;

  /**
   * Physical name of the replication role. A replica in another account trusts this role by ARN
   * in its bucket and key policies, so it needs a name known before either side is deployed.
   *
   * @default - CloudFormation generates a name
   */
  readonly roleName?: string;
}

export interface ReplicationPlan {
  readonly destination: IBackupBucket;
  readonly crossAccount: boolean;
  readonly rule: s3.ReplicationRule & { readonly id: string };
}

/**
 * Replication of every object with RTC (15 min) and its metrics, KMS-encrypted objects
 * included and re-encrypted under the replica's key; delete markers stay behind, so deleting in
 * the primary never deletes in the replica.
 *
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html
 */
export function planReplication(
  scope: Construct,
  replication: BackupReplicationProps,
  time: s3.ReplicationTimeValue,
): ReplicationPlan {
  const { destination } = replication;
  // An alias ARN is a valid ReplicaKmsKeyID, so a key known only by alias is imported from that
  // ARN. It only renders ReplicaKmsKeyID; grants go through keyReference, because KMS authorizes
  // against the key ARN, not the alias ARN.
  // @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_EncryptionConfiguration.html
  const replicaKey =
    destination.encryptionKey ?? kms.Key.fromKeyArn(scope, 'ReplicaKeyAlias', destination.keyId);
  const crossAccount = destination.bucket.env.account !== Stack.of(scope).account;
  return {
    destination,
    crossAccount,
    rule: {
      // Replicas in a backup account belong to it, so nobody in this account can touch them.
      accessControlTransition: crossAccount ? true : undefined,
      id: 'all-objects-to-replica',
      priority: 1,
      filter: { prefix: '' },
      destination: destination.bucket,
      kmsKey: replicaKey,
      sseKmsEncryptedObjects: true,
      replicationTimeControl: time,
      metrics: time,
      deleteMarkerReplication: false,
    },
  };
}

/**
 * The replication role's only permissions, as a customer-managed policy.
 *
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html
 */
export function addReplicationPolicy(
  scope: Construct,
  source: { bucket: s3.IBucket; keyReference: KeyReference },
  role: iam.Role,
  plan: ReplicationPlan,
): void {
  const policy = new iam.ManagedPolicy(scope, 'ReplicationPolicy', {
    description: 'Least privilege for S3 replication of Restorable backups',
    roles: [role],
    statements: [
      new iam.PolicyStatement({
        sid: 'SourceBucket',
        actions: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
        resources: [source.bucket.bucketArn],
      }),
      new iam.PolicyStatement({
        sid: 'SourceObjects',
        actions: [
          's3:GetObjectVersionForReplication',
          's3:GetObjectVersionAcl',
          's3:GetObjectVersionTagging',
          // Object Lock retention and legal holds travel with the replica only if the role may read them.
          's3:GetObjectRetention',
          's3:GetObjectLegalHold',
        ],
        resources: [source.bucket.arnForObjects('*')],
      }),
      new iam.PolicyStatement({
        sid: 'DestinationObjects',
        // No s3:ReplicateDelete: a delete in the primary must never reach the replica. In another
        // account the replicas become that account's (owner override).
        actions: [
          's3:ReplicateObject',
          's3:ReplicateTags',
          ...(plan.crossAccount ? ['s3:ObjectOwnerOverrideToBucketOwner'] : []),
        ],
        resources: [plan.destination.bucket.arnForObjects('*')],
      }),
      keyStatement(source.bucket, source.keyReference, ['kms:Decrypt'], { sid: 'DecryptSource' }),
      keyStatement(plan.destination.bucket, plan.destination.keyReference, ['kms:Encrypt'], {
        sid: 'EncryptReplica',
      }),
    ],
  });
  NagSuppressions.addResourceSuppressions(policy, [
    {
      id: 'AwsSolutions-IAM5',
      reason:
        'S3 replication reads every object version of the source bucket and writes every object of the replica bucket; object ARNs need the /* suffix.',
      // The source bucket (`<LogicalId.Arn>/*`) and the replica bucket (`arn:...:s3:::name/*`), nothing else.
      appliesTo: [{ regex: '/^Resource::(<[A-Za-z0-9]+\\.Arn>|arn:[^:]+:s3:::[a-z0-9.-]+)\\/\\*$/' }],
    },
    ...(plan.destination.keyReference.alias
      ? [
          {
            id: 'AwsSolutions-IAM5',
            reason:
              'The replica key lives in another region and its ARN is unknown here; key/* is narrowed to the key carrying the backup alias (kms:ResourceAliases) used through S3 in that region (kms:ViaService).',
            appliesTo: [{ regex: '/^Resource::arn:.*:kms:.*:key\\/\\*$/' }],
          },
        ]
      : []),
  ]);
}

/** What a replication metric needs from its source bucket (a {@link BackupBucket}). */
export interface ReplicationMetricSource {
  readonly node: { readonly path: string };
  readonly bucket: s3.IBucket;
  /** The replication rule's id; undefined when the bucket does not replicate. */
  readonly replicationRuleId?: string;
}

/**
 * One of the per-rule replication metrics S3 publishes in the source bucket's region, because the
 * rule turns replication metrics on (planReplication). Throws for a bucket that does not
 * replicate: S3 would publish nothing, and an alarm on it would never fire.
 *
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/repl-metrics.html
 */
export function replicationMetric(
  source: ReplicationMetricSource,
  destination: IBackupBucket | undefined,
  metricName: string,
  statistic: string,
  props: cloudwatch.MetricOptions = {},
): cloudwatch.Metric {
  if (source.replicationRuleId === undefined || destination === undefined) {
    throw new Error(
      `${metricName}: the backup bucket ${source.node.path} does not replicate (no \`replication\` prop), so S3 publishes no replication metrics for it`,
    );
  }
  return new cloudwatch.Metric({
    statistic,
    ...props,
    namespace: 'AWS/S3',
    metricName,
    dimensionsMap: {
      SourceBucket: source.bucket.bucketName,
      DestinationBucket: destination.bucket.bucketName,
      RuleId: source.replicationRuleId,
    },
  });
}
