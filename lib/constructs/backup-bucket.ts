/**
 * The backup bucket construct (owned: versioned, Object Lock, SSE-KMS, lifecycle per tier,
 * optionally replicating) and the import of one by name (the replica, from the other region), both
 * behind {@link IBackupBucket}: what the workflows write to and read from.
 */
import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { DEFAULT_DRILL_REPORT_DAYS } from '../../lambda/core/drill-settings';
import {
  ADHOC_TIER,
  DEFAULT_ADHOC_RETENTION_DAYS,
  DRILL_REPORTS_PREFIX,
  TIERS,
} from '../../lambda/core/tiers';
import { BackupBucketGrants, keyStatement, type KeyReference } from './backup-bucket-grants';
import { BackupKey } from './backup-key';
import {
  type BackupBucketAttributes,
  type IBackupBucket,
  ImportedBackupBucket,
} from './imported-backup-bucket';
import { RetentionTiers } from './retention-tiers';

export type { BackupBucketAttributes, IBackupBucket } from './imported-backup-bucket';

export {
  RetentionTiers,
  type RetentionTiersProps,
  type TierLifecycle,
  type TierTransition,
} from './retention-tiers';

/** Where a source bucket replicates to. */
export interface BackupReplicationProps {
  /**
   * The replica bucket, with its account and region known (e.g. imported with
   * {@link BackupBucket.fromBucketAttributes} and `region`). It must have versioning and Object
   * Lock enabled. Its key (or key alias) is the `ReplicaKmsKeyID`.
   */
  readonly destination: IBackupBucket;
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
   * @default RemovalPolicy.RETAIN - for the bucket and its access-log bucket
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The bucket backups live in: versioned, Object Lock, SSE-KMS with a customer-managed key and S3
 * Bucket Keys, TLS only, wrong-key and non-KMS uploads denied, server access logs to a separate
 * bucket, one lifecycle rule per tier prefix, retained on stack deletion. Optionally the source of
 * a cross-region replication with RTC.
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
    this.validateObjectLock(drillReportExpiration);
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

    const replication = props.replication ? this.planReplication(props.replication) : undefined;
    this.replicationRole = replication
      ? new iam.Role(this, 'ReplicationRole', {
          assumedBy: new iam.ServicePrincipal('s3.amazonaws.com'),
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
    this.keyId = this.encryptionKey.keyArn;
    this.grants = BackupBucketGrants.fromBucket(this.bucket, this.keyReference);

    this.addEncryptionGuards();
    if (replication && this.replicationRole) {
      this.addReplicationPolicy(this.replicationRole, replication);
    }
  }

  private validateObjectLock(drillReportExpiration: Duration): void {
    const lock = this.objectLockRetention.duration;
    if (lock.isUnresolved()) return;
    const lockDays = lock.toDays();
    const limits: [string, Duration][] = [
      ['the daily tier expiration', this.retention.shortestExpiration],
      ['drillReportExpiration', drillReportExpiration],
    ];
    for (const [what, limit] of limits) {
      if (!limit.isUnresolved() && lockDays > limit.toDays()) {
        throw new Error(
          `BackupBucket objectLockRetention (${lockDays} days) must not exceed ${what} (${limit.toDays()} days): objects would stay locked after they expire`,
        );
      }
    }
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
    const tierRules: s3.LifecycleRule[] = [...TIERS].reverse().map((tier) => {
      const lifecycle = this.retention.tier(tier);
      return {
        id: `${tier}-tier`,
        prefix: `${tier}/`,
        expiration: lifecycle.expiration,
        transitions: lifecycle.transitions?.length
          ? lifecycle.transitions.map((t) => ({
              storageClass: t.storageClass,
              transitionAfter: t.transitionAfter,
            }))
          : undefined,
        ...cleanup,
      };
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

  /**
   * Replication of every object with RTC (15 min) and its metrics, KMS-encrypted objects
   * included and re-encrypted under the replica's key; delete markers stay behind, so deleting in
   * the primary never deletes in the replica.
   *
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html
   */
  private planReplication(replication: BackupReplicationProps): ReplicationPlan {
    const { destination } = replication;
    // An alias ARN is a valid ReplicaKmsKeyID, so a key known only by alias is imported from that
    // ARN. It only renders ReplicaKmsKeyID; grants go through keyReference, because KMS authorizes
    // against the key ARN, not the alias ARN.
    // @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_EncryptionConfiguration.html
    const replicaKey =
      destination.encryptionKey ?? kms.Key.fromKeyArn(this, 'ReplicaKeyAlias', destination.keyId);
    return {
      destination,
      rule: {
        id: 'all-objects-to-replica',
        priority: 1,
        filter: { prefix: '' },
        destination: destination.bucket,
        kmsKey: replicaKey,
        sseKmsEncryptedObjects: true,
        replicationTimeControl: BackupBucket.REPLICATION_TIME,
        metrics: BackupBucket.REPLICATION_TIME,
        deleteMarkerReplication: false,
      },
    };
  }

  /**
   * The replication role's only permissions, as a customer-managed policy.
   *
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html
   */
  private addReplicationPolicy(role: iam.Role, plan: ReplicationPlan): void {
    const policy = new iam.ManagedPolicy(this, 'ReplicationPolicy', {
      description: 'Least privilege for S3 replication of Restorable backups',
      roles: [role],
      statements: [
        new iam.PolicyStatement({
          sid: 'SourceBucket',
          actions: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
          resources: [this.bucket.bucketArn],
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
          resources: [this.bucket.arnForObjects('*')],
        }),
        new iam.PolicyStatement({
          sid: 'DestinationObjects',
          // No s3:ReplicateDelete: a delete in the primary must never reach the replica.
          actions: ['s3:ReplicateObject', 's3:ReplicateTags'],
          resources: [plan.destination.bucket.arnForObjects('*')],
        }),
        keyStatement(this.bucket, this.keyReference, ['kms:Decrypt'], { sid: 'DecryptSource' }),
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
}

interface ReplicationPlan {
  readonly destination: IBackupBucket;
  readonly rule: s3.ReplicationRule & { readonly id: string };
}

function validateBucketName(name: string): void {
  // @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || name.includes('..')) {
    throw new Error(
      `BackupBucket bucketName must be 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, got "${name}"`,
    );
  }
}
