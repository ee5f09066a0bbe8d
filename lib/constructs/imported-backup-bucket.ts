/**
 * {@link IBackupBucket}, what the workflows need of a backup bucket, and the import of one that
 * exists already by its name (the replica, in the other region, with its key known by alias).
 * Created through `BackupBucket.fromBucketAttributes`.
 */
import { Duration } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, type IConstruct } from 'constructs';
import {
  assertKeyReference,
  BackupBucketGrants,
  keyIdentifier,
  type KeyReference,
} from './backup-bucket-grants';
import { DEFAULT_ADHOC_RETENTION_DAYS } from '../../lambda/core/tiers';
import { RetentionTiers } from './retention-tiers';

/**
 * A backup bucket as the workflows use it: owned here ({@link BackupBucket}) or imported by name
 * ({@link BackupBucket.fromBucketAttributes}, the replica in the other region).
 */
export interface IBackupBucket extends IConstruct {
  /** The S3 bucket; its `env.region` is the bucket's region. */
  readonly bucket: s3.IBucket;
  /**
   * The bucket's key when its ARN is known in this stack.
   * @default - the key is known by alias only (a bucket in another region)
   */
  readonly encryptionKey?: kms.IKey;
  /** The bucket's key, by key or by alias in the bucket's region. */
  readonly keyReference: KeyReference;
  /** A key id the KMS API accepts: the key ARN, or the alias ARN in the bucket's region. */
  readonly keyId: string;
  /** Expiry per tier, which is also the Object Lock retain-until of each object written there. */
  readonly retention: RetentionTiers;
  /** Expiry of on-demand backups under `adhoc/`, also their Object Lock retain-until. */
  readonly adhocExpiration: Duration;
  /** The only way roles get access to the bucket's objects. */
  readonly grants: BackupBucketGrants;
}

/** A backup bucket that exists already, named. */
export interface BackupBucketAttributes {
  /** The bucket's name (stable: see `backupBucketName`). */
  readonly bucketName: string;
  /**
   * The bucket's region.
   * @default - the stack's region
   */
  readonly region?: string;
  /**
   * The bucket's account.
   * @default - the stack's account
   */
  readonly account?: string;
  /**
   * The bucket's key, when its ARN is known in this stack.
   * @default - the key is named by `encryptionKeyAlias`
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Alias (e.g. `alias/restorable/backups`) of the bucket's key in its region and account. Lets a
   * stack in another region name the key without a cross-region reference: S3 accepts an alias
   * ARN as `ReplicaKmsKeyID`, and IAM allows the key through `kms:ResourceAliases`.
   * @default - the key is given by `encryptionKey`
   */
  readonly encryptionKeyAlias?: string;
  /**
   * Expiry per tier the bucket was created with.
   * @default RetentionTiers.standard() - daily 30 d, weekly 90 d, monthly 365 d, yearly 2555 d
   */
  readonly retention?: RetentionTiers;
  /**
   * Expiry of on-demand backups (`adhoc/`) the bucket was created with.
   * @default Duration.days(30) - DEFAULT_ADHOC_RETENTION_DAYS
   */
  readonly adhocExpiration?: Duration;
}

/** A backup bucket created elsewhere, known by name (see {@link BackupBucket.fromBucketAttributes}). */
export class ImportedBackupBucket extends Construct implements IBackupBucket {
  public readonly bucket: s3.IBucket;
  public readonly encryptionKey?: kms.IKey;
  public readonly keyReference: KeyReference;
  public readonly keyId: string;
  public readonly retention: RetentionTiers;
  public readonly adhocExpiration: Duration;
  public readonly grants: BackupBucketGrants;

  constructor(scope: Construct, id: string, attrs: BackupBucketAttributes) {
    super(scope, id);
    if ((attrs.encryptionKey === undefined) === (attrs.encryptionKeyAlias === undefined)) {
      throw new Error(
        'BackupBucket.fromBucketAttributes needs exactly one of encryptionKey and encryptionKeyAlias',
      );
    }
    this.keyReference = attrs.encryptionKey
      ? { key: attrs.encryptionKey }
      : { alias: attrs.encryptionKeyAlias };
    assertKeyReference(this.keyReference);
    this.encryptionKey = attrs.encryptionKey;
    this.bucket = s3.Bucket.fromBucketAttributes(this, 'Resource', {
      bucketName: attrs.bucketName,
      region: attrs.region,
      account: attrs.account,
      encryptionKey: attrs.encryptionKey,
    });
    this.keyId = keyIdentifier(this.bucket, this.keyReference);
    this.retention = attrs.retention ?? RetentionTiers.standard();
    this.adhocExpiration = attrs.adhocExpiration ?? Duration.days(DEFAULT_ADHOC_RETENTION_DAYS);
    this.grants = BackupBucketGrants.fromBucket(this.bucket, this.keyReference);
  }
}
