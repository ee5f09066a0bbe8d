// @ts-nocheck
import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { DEFAULT_RETENTION_DAYS, type RetentionDays, type Tier, TIERS } from '../../lambda/core/tiers';
import { BackupKey } from './backup-key';

/** A lifecycle transition of one tier's objects to a colder storage class. */
export interface TierTransition {
  readonly storageClass: s3.StorageClass;
  /** Age of the object (since it was written) at which it moves. */
  readonly transitionAfter: Duration;
}

/** How long one tier's objects live and where they live meanwhile. */
export interface TierLifecycle {
  /** Age at which current versions expire; also the Object Lock retain-until the dump sets. */
  readonly expiration: Duration;
  /**
   * @default - objects stay in S3 Standard until they expire
   */
  readonly transitions?: TierTransition[];
}

export interface RetentionTiersProps {
  readonly daily: TierLifecycle;
  readonly weekly: TierLifecycle;
  readonly monthly: TierLifecycle;
  readonly yearly: TierLifecycle;
}

/**
 * Lifecycle per grandfather-father-son tier, validated against the rules S3 itself enforces so a
 * bad combination fails at synth rather than at deploy.
 *
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
 */
export class RetentionTiers {
  /** DESIGN.md "Storage": daily 30 d; weekly 90 d (IA at 30); monthly 365 d (Glacier IR at 30); yearly 2555 d (Glacier IR at 30, Deep Archive at 90). */
  public static standard(): RetentionTiers {
    return RetentionTiers.fromDays(DEFAULT_RETENTION_DAYS);
  }

  /**
   * The standard storage classes with the given expiries. A transition is kept only when it
   * happens before the tier expires (S3 rejects a rule whose expiration is not after its
   * transitions), so short tiers simply stay in S3 Standard.
   */
  public static fromDays(days: RetentionDays): RetentionTiers {
    const tier = (expiryDays: number, transitions: [s3.StorageClass, number][]): TierLifecycle => ({
      expiration: Duration.days(expiryDays),
      transitions: transitions
        .filter(([, after]) => after < expiryDays)
        .map(([storageClass, after]) => ({ storageClass, transitionAfter: Duration.days(after) })),
    });
    return new RetentionTiers({
      daily: tier(days.daily, []),
      weekly: tier(days.weekly, [[s3.StorageClass.INFREQUENT_ACCESS, 30]]),
      monthly: tier(days.monthly, [[s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, 30]]),
      yearly: tier(days.yearly, [
        [s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, 30],
        [s3.StorageClass.DEEP_ARCHIVE, 90],
      ]),
    });
  }

  public readonly daily: TierLifecycle;
  public readonly weekly: TierLifecycle;
  public readonly monthly: TierLifecycle;
  public readonly yearly: TierLifecycle;

  constructor(props: RetentionTiersProps) {
    this.daily = props.daily;
    this.weekly = props.weekly;
    this.monthly = props.monthly;
    this.yearly = props.yearly;
    this.validate();
  }

  /** The lifecycle of one tier. */
  public tier(tier: Tier): TierLifecycle {
    return this[tier];
  }

  /** The shortest expiry of any tier: the longest any bucket-default Object Lock may be. */
  public get shortestExpiration(): Duration {
    return this.daily.expiration;
  }

  /** Expiry days per tier, as `lambda/core/tiers.ts` takes them for Object Lock retain-until. */
  public toRetentionDays(): RetentionDays {
    return {
      daily: this.daily.expiration.toDays(),
      weekly: this.weekly.expiration.toDays(),
      monthly: this.monthly.expiration.toDays(),
      yearly: this.yearly.expiration.toDays(),
    };
  }

  private validate(): void {
    const ordered = [...TIERS].reverse(); // daily, weekly, monthly, yearly
    let previous: { tier: Tier; days: number } | undefined;
    for (const tier of ordered) {
      const lifecycle = this[tier];
      if (lifecycle.expiration.isUnresolved()) {
        previous = undefined;
        continue;
      }
      const expiry = wholeDays(lifecycle.expiration, `${tier} expiration`);
      if (expiry < 1)
        throw new Error(`RetentionTiers: ${tier} expiration must be at least 1 day, got ${expiry}`);
      if (previous && expiry <= previous.days) {
        throw new Error(
          `RetentionTiers: ${tier} expiration (${expiry} days) must be greater than ${previous.tier} expiration (${previous.days} days)`,
        );
      }
      previous = { tier, days: expiry };

      let last: { storageClass: string; days: number } | undefined;
      for (const transition of lifecycle.transitions ?? []) {
        if (transition.transitionAfter.isUnresolved()) continue;
        const at = wholeDays(transition.transitionAfter, `${tier} transition`);
        const storageClass = transition.storageClass.value;
        // S3 does not move objects to Standard-IA or One Zone-IA before they are 30 days old.
        if (isInfrequentAccess(storageClass) && at < 30) {
          throw new Error(
            `RetentionTiers: ${tier} transition to ${storageClass} after ${at} days is too early: S3 requires at least 30 days`,
          );
        }
        if (last && at <= last.days) {
          throw new Error(
            `RetentionTiers: ${tier} transition to ${storageClass} (${at} days) must come after the transition to ${last.storageClass} (${last.days} days)`,
          );
        }
        // S3 keeps objects at least 30 days in Standard-IA / One Zone-IA before the next transition.
        if (last && isInfrequentAccess(last.storageClass) && at - last.days < 30) {
          throw new Error(
            `RetentionTiers: ${tier} transition to ${storageClass} (${at} days) must be at least 30 days after the transition to ${last.storageClass} (${last.days} days)`,
          );
        }
        if (at >= expiry) {
          throw new Error(
            `RetentionTiers: ${tier} transition to ${storageClass} (${at} days) must come before the tier expires (${expiry} days)`,
          );
        }
        last = { storageClass, days: at };
      }
    }
  }
}

const isInfrequentAccess = (storageClass: string): boolean =>
  storageClass === s3.StorageClass.INFREQUENT_ACCESS.value ||
  storageClass === s3.StorageClass.ONE_ZONE_INFREQUENT_ACCESS.value;

function wholeDays(duration: Duration, what: string): number {
  const value = duration.toDays({ integral: false });
  if (!Number.isInteger(value))
    throw new Error(`RetentionTiers: ${what} must be a whole number of days, got ${value}`);
  return value;
}

/** Where a source bucket replicates to. */
export interface BackupReplicationProps {
  /**
   * The replica bucket, with its account and region known (e.g. `Bucket.fromBucketAttributes`
   * with `region`). It must have versioning and Object Lock enabled.
   */
  readonly destination: s3.IBucket;

  /**
   * The replica bucket's KMS key, when its key ARN is known in this stack.
   *
   * @default - the key is named by `destinationKeyAlias`
   */
  readonly destinationKey?: kms.IKey;

  /**
   * Alias (e.g. `alias/restorable/backups`) of the replica bucket's key in the destination's
   * region and account. Lets a stack in another region name the key without a cross-region
   * reference: S3 accepts an alias ARN as `ReplicaKmsKeyID`, and the replication role is allowed
   * the key through the `kms:ResourceAliases` condition.
   *
   * @default - the key is given by `destinationKey`
   */
  readonly destinationKeyAlias?: string;
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
export class BackupBucket extends Construct {
  /** Prefix of drill reports. */
  public static readonly DRILL_REPORTS_PREFIX = 'drills/';
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
  /** The role S3 assumes to replicate, when `replication` was given. */
  public readonly replicationRole?: iam.Role;

  constructor(scope: Construct, id: string, props: BackupBucketProps = {}) {
    super(scope, id);

    this.retention = props.retention ?? RetentionTiers.standard();
    this.objectLockRetention =
      props.objectLockRetention ?? s3.ObjectLockRetention.governance(Duration.days(30));
    const drillReportExpiration = props.drillReportExpiration ?? Duration.days(400);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
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

    this.addEncryptionGuards();
    if (replication && this.replicationRole) {
      this.addReplicationPolicy(this.replicationRole, replication);
    }
  }

  /**
   * Lets the grantee write backups under the tier prefixes: PutObject (multipart included), set
   * the Object Lock retention per object, and abort its failed multipart uploads. No delete, no
   * overwrite of drill reports. KMS: GenerateDataKey and Decrypt (multipart uploads need both).
   *
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html
   */
  public grantWriteBackups(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObject', 's3:PutObjectRetention', 's3:AbortMultipartUpload'],
      resourceArns: TIERS.map((tier) => this.bucket.arnForObjects(`${tier}/*`)),
    });
    this.encryptionKey.grant(grantee, 'kms:GenerateDataKey', 'kms:Decrypt');
    return grant;
  }

  /** Lets the grantee list the bucket and read backups, their versions and their retention. */
  public grantReadBackups(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
    });
    grant.combine(
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectRetention', 's3:GetObjectAttributes'],
        resourceArns: TIERS.map((tier) => this.bucket.arnForObjects(`${tier}/*`)),
      }),
    );
    this.encryptionKey.grantDecrypt(grantee);
    return grant;
  }

  /** Lets the grantee write drill reports under `drills/`, and nothing else. */
  public grantWriteDrillReports(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObject'],
      resourceArns: [this.bucket.arnForObjects(`${BackupBucket.DRILL_REPORTS_PREFIX}*`)],
    });
    this.encryptionKey.grant(grantee, 'kms:GenerateDataKey');
    return grant;
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
      {
        id: 'drill-reports',
        prefix: BackupBucket.DRILL_REPORTS_PREFIX,
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
    if ((replication.destinationKey === undefined) === (replication.destinationKeyAlias === undefined)) {
      throw new Error('BackupBucket replication needs exactly one of destinationKey and destinationKeyAlias');
    }
    const destinationRegion = destination.env.region;

    let replicaKey: kms.IKey;
    let replicaKeyGrant: ReplicationPlan['replicaKeyGrant'];
    if (replication.destinationKey) {
      replicaKey = replication.destinationKey;
      replicaKeyGrant = { resource: replicaKey.keyArn, conditions: {} };
    } else {
      const alias = replication.destinationKeyAlias!;
      if (!Token.isUnresolved(alias) && !/^alias\/[A-Za-z0-9/_-]+$/.test(alias)) {
        throw new Error(
          `BackupBucket replication destinationKeyAlias must look like alias/<name>, got "${alias}"`,
        );
      }
      const kmsArn = (resource: string) =>
        Stack.of(this).formatArn({
          service: 'kms',
          region: destinationRegion,
          account: destination.env.account,
          resource,
        });
      // An IKey whose keyArn is the alias ARN. It only renders ReplicaKmsKeyID; it is never used
      // for grants, because KMS authorizes against the key ARN, not the alias ARN.
      // @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_EncryptionConfiguration.html
      replicaKey = kms.Key.fromKeyArn(this, 'ReplicaKeyAlias', kmsArn(alias));
      // So allow the replica account's keys in that region, but only the one carrying the alias.
      // @see https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-resource-aliases
      replicaKeyGrant = {
        resource: kmsArn('key/*'),
        conditions: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': alias } },
      };
    }

    return {
      destination,
      destinationRegion,
      replicaKeyGrant,
      viaAlias: replication.destinationKeyAlias !== undefined,
      rule: {
        id: 'all-objects-to-replica',
        priority: 1,
        filter: { prefix: '' },
        destination,
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
    const stack = Stack.of(this);
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
          resources: [plan.destination.arnForObjects('*')],
        }),
        new iam.PolicyStatement({
          sid: 'DecryptSource',
          actions: ['kms:Decrypt'],
          resources: [this.encryptionKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.${stack.urlSuffix}` } },
        }),
        new iam.PolicyStatement({
          sid: 'EncryptReplica',
          actions: ['kms:Encrypt'],
          resources: [plan.replicaKeyGrant.resource],
          conditions: {
            StringEquals: { 'kms:ViaService': `s3.${plan.destinationRegion}.${stack.urlSuffix}` },
            ...plan.replicaKeyGrant.conditions,
          },
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
      ...(plan.viaAlias
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
  readonly destination: s3.IBucket;
  readonly destinationRegion: string;
  readonly replicaKeyGrant: {
    readonly resource: string;
    readonly conditions: Record<string, Record<string, string>>;
  };
  readonly viaAlias: boolean;
  readonly rule: s3.ReplicationRule;
}

function validateBucketName(name: string): void {
  // @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || name.includes('..')) {
    throw new Error(
      `BackupBucket bucketName must be 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, got "${name}"`,
    );
  }
}
