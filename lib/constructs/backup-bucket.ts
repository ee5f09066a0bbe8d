/**
 * The backup bucket construct (owned: versioned, Object Lock, SSE-KMS, lifecycle per tier,
 * optionally replicating) and the import of one by name (the replica, from the other region), both
 * behind {@link IBackupBucket}: what the workflows write to and read from.
 */
import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { DEFAULT_DRILL_REPORT_DAYS } from '../../lambda/core/drill-settings';
import {
  ADHOC_TIER,
  ARCHIVE_TAG,
  DEFAULT_ADHOC_RETENTION_DAYS,
  DRILL_REPORTS_PREFIX,
  TIERS,
} from '../../lambda/core/tiers';
import { suppressControls } from '../control-tower';
import { BackupBucketGrants, type KeyReference } from './backup-bucket-grants';
import { BackupKey, defaultDeploymentRoleArn } from './backup-key';
import {
  type BackupBucketAttributes,
  type IBackupBucket,
  ImportedBackupBucket,
} from './imported-backup-bucket';
import {
  addReplicationPolicy,
  type BackupReplicationProps,
  planReplication,
  replicationMetric,
} from './backup-replication';
import { validateBucketName, validateObjectLock } from './backup-bucket-validation';
import { RetentionTiers } from './retention-tiers';
import { addVaultDenies, addWriteGuards } from './vault-policy';

export type { BackupBucketAttributes, IBackupBucket } from './imported-backup-bucket';
export type { BackupReplicationProps } from './backup-replication';

export {
  RetentionTiers,
  type RetentionTiersProps,
  type TierLifecycle,
  type TierTransition,
} from './retention-tiers';

/** Who may still change the bucket once deployed (see `vault-policy.ts`). */
export interface BackupVaultProps {
  /**
   * The role exempt from every vault deny: version deletion, governance bypass, legal holds and
   * changes to the bucket policy, lifecycle, replication, versioning and Object Lock.
   *
   * @default - the account root user only
   */
  readonly breakGlassRoleArn?: string;

  /**
   * Also exempt the CloudFormation execution role, for bucket policy and lifecycle updates only.
   *
   * @default false - deployments that change them run with the break-glass role
   */
  readonly deploymentRoleMayUpdatePolicies?: boolean;
}

export interface BackupBucketProps {
  /**
   * Physical name. A stable name lets other stacks and the CLI find the bucket without lookups.
   *
   * @default - CloudFormation generates a name
   */
  readonly bucketName?: string;

  /**
   * Customer-managed key for SSE-KMS.
   *
   * @default - a new {@link BackupKey} (rotation on, 30-day deletion window, retained, destructive
   *   actions denied to all but admins)
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * Expiry and storage classes per tier prefix.
   *
   * @default RetentionTiers.standard() - daily 30 d, weekly 90 d, monthly 365 d, yearly 2555 d
   */
  readonly retention?: RetentionTiers;

  /**
   * Bucket-default Object Lock for objects written without their own retain-until. Must not be
   * longer than the shortest tier expiry (or objects would outlive their tier, locked).
   *
   * @default ObjectLockRetention.governance(Duration.days(30))
   */
  readonly objectLockRetention?: s3.ObjectLockRetention;

  /**
   * Age at which drill reports (`drills/`) expire.
   *
   * @default Duration.days(400) - a year of monthly reports plus a margin
   */
  readonly drillReportExpiration?: Duration;

  /**
   * How long on-demand backups (`adhoc/`, e.g. before a migration) are kept; their Object Lock
   * retain-until (RetentionDays.adhoc in the dump) must say the same.
   * @default Duration.days(30) - DEFAULT_ADHOC_RETENTION_DAYS
   */
  readonly adhocExpiration?: Duration;

  /**
   * Age at which server access logs expire in the log bucket.
   *
   * @default Duration.days(365)
   */
  readonly accessLogsExpiration?: Duration;

  /**
   * Replicate every object to another bucket with S3 Replication Time Control.
   *
   * @default - no replication
   */
  readonly replication?: BackupReplicationProps;

  /**
   * Who may still change the bucket.
   *
   * @default - only the account root user; the deployment role may not change the bucket policy
   */
  readonly vault?: BackupVaultProps;

  /**
   * @default RemovalPolicy.RETAIN - for the bucket and its access-log bucket
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The bucket backups live in: versioned, Object Lock, SSE-KMS with a customer-managed key and S3
 * Bucket Keys, TLS only, wrong-key and non-KMS uploads denied, server access logs to a separate
 * bucket, one lifecycle rule per tier prefix, retained on stack deletion, and a vault policy
 * (`vault-policy.ts`): conditional creates only, bounded retention, and no version deletion,
 * governance bypass or configuration change except by the break-glass role. Optionally the source
 * of a cross-region (and cross-account) replication with RTC.
 *
 * Key layout (see `lambda/core/tiers.ts`): `<tier>/<databaseId>/<period>/<backupId>.*` and
 * `drills/<databaseId>/<yyyy-mm>/<drillId>.json`.
 */
export class BackupBucket extends Construct implements IBackupBucket {
  /** Imports a backup bucket by name, e.g. the replica from the primary region's stack. */
  public static fromBucketAttributes(
    scope: Construct,
    id: string,
    attrs: BackupBucketAttributes,
  ): IBackupBucket {
    return new ImportedBackupBucket(scope, id, attrs);
  }

  /** Server access log prefix inside the log bucket. */
  public static readonly ACCESS_LOGS_PREFIX = 'backup-bucket/';
  /** Replication Time Control threshold (and metrics event threshold). */
  public static readonly REPLICATION_TIME = s3.ReplicationTimeValue.FIFTEEN_MINUTES;

  public readonly bucket: s3.Bucket;
  public readonly encryptionKey: kms.IKey;
  /** The key created by this construct, when `encryptionKey` was not given. */
  public readonly backupKey?: BackupKey;
  public readonly accessLogsBucket: s3.Bucket;
  public readonly retention: RetentionTiers;
  public readonly objectLockRetention: s3.ObjectLockRetention;
  /** Expiry of on-demand backups under `adhoc/`. */
  public readonly adhocExpiration: Duration;
  /** The role S3 assumes to replicate, when `replication` was given. */
  public readonly replicationRole?: iam.Role;
  /** Id of the replication rule (the replication metrics' `RuleId`), when `replication` was given. */
  public readonly replicationRuleId?: string;
  /** ARNs exempt from every vault deny. */
  public readonly breakGlassPrincipalArns: string[];
  public readonly keyReference: KeyReference;
  public readonly keyId: string;
  public readonly grants: BackupBucketGrants;

  constructor(scope: Construct, id: string, props: BackupBucketProps = {}) {
    super(scope, id);

    this.retention = props.retention ?? RetentionTiers.standard();
    this.objectLockRetention =
      props.objectLockRetention ?? s3.ObjectLockRetention.governance(Duration.days(30));
    const drillReportExpiration = props.drillReportExpiration ?? Duration.days(DEFAULT_DRILL_REPORT_DAYS);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.adhocExpiration = props.adhocExpiration ?? Duration.days(DEFAULT_ADHOC_RETENTION_DAYS);
    validateObjectLock(this.objectLockRetention, this.retention, drillReportExpiration);
    if (props.bucketName !== undefined && !Token.isUnresolved(props.bucketName)) {
      validateBucketName(props.bucketName);
    }

    if (props.encryptionKey) {
      this.encryptionKey = props.encryptionKey;
    } else {
      this.backupKey = new BackupKey(this, 'Key');
      this.encryptionKey = this.backupKey.key;
    }
    this.keyReference = { key: this.encryptionKey };

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      // S3 server access logging can only deliver to buckets encrypted with SSE-S3.
      // @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      // Object Lock without a default retention (a default would stop log delivery): logs can be
      // locked object by object, and Control Tower's CT.S3.PR.9 holds.
      // @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html
      objectLockEnabled: true,
      removalPolicy,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: props.accessLogsExpiration ?? Duration.days(365),
          noncurrentVersionExpiration: Duration.days(1),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        { id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true },
      ],
    });
    // cdk-nag already treats a bucket that receives another bucket's access logs as logged (S1).
    NagSuppressions.addResourceSuppressions(this.accessLogsBucket, [
      {
        id: 'NIST.800.53.R5-S3DefaultEncryptionKMS',
        reason:
          'S3 server access logging only delivers to buckets with SSE-S3 default encryption, not SSE-KMS.',
      },
      {
        id: 'NIST.800.53.R5-S3BucketReplicationEnabled',
        reason:
          'Access logs are region-local operational telemetry about the backup bucket, not backup data; the backups themselves are replicated.',
      },
    ]);
    enableEventBridge(this.accessLogsBucket);
    suppressControls(this.accessLogsBucket, {
      s3_bucket_default_encryption_kms_check:
        'S3 server access logging delivers only to buckets with SSE-S3 default encryption, not SSE-KMS.',
      s3_bucket_logging_enabled_check:
        'This is the server access log destination; logging it to itself would log every log delivery, and to another bucket would need that bucket logged in turn.',
    });

    const replication = props.replication
      ? planReplication(this, props.replication, BackupBucket.REPLICATION_TIME)
      : undefined;
    this.replicationRole = replication
      ? new iam.Role(this, 'ReplicationRole', {
          roleName: props.replication?.roleName,
          // Only S3 acting for this account may assume it (confused-deputy protection).
          assumedBy: new iam.ServicePrincipal('s3.amazonaws.com', {
            conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
          }),
          description: 'S3 replication of Restorable backups to the replica region',
        })
      : undefined;

    this.bucket = new s3.Bucket(this, 'Resource', {
      bucketName: props.bucketName,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.encryptionKey,
      // One KMS call per bucket key lifetime instead of one per object: cheaper, fewer throttles.
      bucketKeyEnabled: true,
      versioned: true,
      objectLockEnabled: true,
      objectLockDefaultRetention: this.objectLockRetention,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: BackupBucket.ACCESS_LOGS_PREFIX,
      lifecycleRules: this.lifecycleRules(drillReportExpiration),
      removalPolicy,
      replicationRole: this.replicationRole,
      replicationRules: replication ? [replication.rule] : undefined,
    });

    this.replicationRuleId = replication?.rule.id;
    this.replicationDestination = replication?.destination;
    this.keyId = this.encryptionKey.keyArn;
    this.grants = BackupBucketGrants.fromBucket(this.bucket, this.keyReference);

    this.addEncryptionGuards();
    if (replication && this.replicationRole) {
      addReplicationPolicy(
        this,
        { bucket: this.bucket, keyReference: this.keyReference },
        this.replicationRole,
        replication,
      );
    }
    enableEventBridge(this.bucket);

    const stack = Stack.of(this);
    this.breakGlassPrincipalArns = [
      props.vault?.breakGlassRoleArn ?? stack.formatArn({ service: 'iam', region: '', resource: 'root' }),
    ];
    addVaultDenies(this.bucket, {
      breakGlassPrincipalArns: this.breakGlassPrincipalArns,
      deploymentRoleArn: props.vault?.deploymentRoleMayUpdatePolicies
        ? defaultDeploymentRoleArn(stack)
        : undefined,
    });
    addWriteGuards(this.bucket, this.retention, this.objectLockRetention.mode);
  }

  /**
   * One rule per tier prefix, so four rules cover every database. Current versions expire at the
   * tier's age (their Object Lock ends then too); the version that expiry turns noncurrent is
   * removed a day later, and the delete marker left behind by a separate rule, because S3 does
   * not allow ExpiredObjectDeleteMarker in a rule that also has an expiration age.
   */
  private lifecycleRules(drillReportExpiration: Duration): s3.LifecycleRule[] {
    const cleanup = {
      noncurrentVersionExpiration: Duration.days(1),
      abortIncompleteMultipartUploadAfter: Duration.days(1),
    };
    const tierRules: s3.LifecycleRule[] = [...TIERS].reverse().flatMap((tier) => {
      const lifecycle = this.retention.tier(tier);
      const expiry: s3.LifecycleRule = {
        id: `${tier}-tier`,
        prefix: `${tier}/`,
        expiration: lifecycle.expiration,
        ...cleanup,
      };
      if (!lifecycle.transitions?.length) return [expiry];
      // Only dump archives (tagged on upload) move to colder classes: a manifest or roles file in
      // Deep Archive would make its backup unreadable until thawed. A tag, not a size filter,
      // because a manifest's size grows with the number of tables.
      return [
        expiry,
        {
          id: `${tier}-archive-transitions`,
          prefix: `${tier}/`,
          tagFilters: { [ARCHIVE_TAG.key]: ARCHIVE_TAG.value },
          transitions: lifecycle.transitions.map((t) => ({
            storageClass: t.storageClass,
            transitionAfter: t.transitionAfter,
          })),
        },
      ];
    });
    return [
      ...tierRules,
      // On-demand backups: their own prefix and short expiry, never transitioned (a 30-day copy in
      // a colder class would only pay its minimum-duration charge).
      { id: 'adhoc-backups', prefix: `${ADHOC_TIER}/`, expiration: this.adhocExpiration, ...cleanup },
      {
        id: 'drill-reports',
        prefix: DRILL_REPORTS_PREFIX,
        expiration: drillReportExpiration,
        ...cleanup,
      },
      {
        id: 'remove-expired-delete-markers',
        expiredObjectDeleteMarker: true,
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      },
    ];
  }

  /**
   * Bucket policy statements that keep every object under this bucket's key.
   *
   * The conditions only fire when an upload *asks* for something else. An upload without
   * encryption headers gets the bucket default (SSE-KMS with this key), and UploadPart /
   * CompleteMultipartUpload carry no encryption headers at all, so requiring the headers on every
   * s3:PutObject request would break multipart uploads without making any object safer.
   *
   * Writers that name a key must name it by its key ARN: the condition compares strings.
   *
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
   */
  private addEncryptionGuards(): void {
    const objects = this.bucket.arnForObjects('*');
    const sse = 's3:x-amz-server-side-encryption';
    const sseKeyId = 's3:x-amz-server-side-encryption-aws-kms-key-id';
    const deny = (sid: string, conditions: Record<string, Record<string, string>>) =>
      this.bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid,
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:PutObject'],
          resources: [objects],
          conditions,
        }),
      );
    deny('DenyWrongKmsKey', {
      StringNotEquals: { [sseKeyId]: this.encryptionKey.keyArn },
      Null: { [sseKeyId]: 'false' },
    });
    // AES256 (SSE-S3) or aws:kms:dsse would leave the object outside this key.
    deny('DenyNonKmsEncryption', {
      StringNotEquals: { [sse]: 'aws:kms' },
      Null: { [sse]: 'false' },
    });
    // aws:kms without a key id means the AWS managed aws/s3 key, not this one.
    deny('DenyKmsWithoutKeyId', {
      StringEquals: { [sse]: 'aws:kms' },
      Null: { [sseKeyId]: 'true' },
    });
    // SSE-C objects could only be read back with a key that lives outside AWS: no drill could.
    deny('DenyCustomerProvidedKeys', {
      Null: { 's3:x-amz-server-side-encryption-customer-algorithm': 'false' },
    });
  }

  // Replication metrics (built in backup-replication.ts); the alarms take them from here.

  /** The replica this bucket replicates to, when `replication` was given. */
  private readonly replicationDestination?: IBackupBucket;

  /** `ReplicationLatency`: seconds the replica lags behind. @default - maximum over 5 minutes (a gauge) */
  public metricReplicationLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.replicationMetric('ReplicationLatency', cloudwatch.Stats.MAXIMUM, props);
  }

  /** `OperationsFailedReplication`: objects that failed to replicate. @default - sum over 5 minutes */
  public metricOperationsFailedReplication(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.replicationMetric('OperationsFailedReplication', cloudwatch.Stats.SUM, props);
  }

  /** `OperationsPendingReplication`: objects not yet replicated. @default - maximum over 5 minutes (a gauge) */
  public metricOperationsPendingReplication(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.replicationMetric('OperationsPendingReplication', cloudwatch.Stats.MAXIMUM, props);
  }

  private replicationMetric(metricName: string, statistic: string, props?: cloudwatch.MetricOptions) {
    return replicationMetric(this, this.replicationDestination, metricName, statistic, props);
  }
}

/**
 * S3 event notifications to EventBridge, set on the bucket resource itself rather than through
 * CDK's notification custom resource (a Lambda function): Control Tower's CT.S3.PR.4 asks for a
 * notification configuration, and EventBridge delivery of S3 events costs nothing until a rule
 * matches them.
 */
function enableEventBridge(bucket: s3.Bucket): void {
  (bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
    eventBridgeConfiguration: { eventBridgeEnabled: true },
  };
}
