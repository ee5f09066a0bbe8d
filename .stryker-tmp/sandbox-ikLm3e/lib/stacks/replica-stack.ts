// @ts-nocheck
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { type RestorableConfig, retentionDaysOf } from '../config';
import { BackupBucket, RetentionTiers } from '../constructs/backup-bucket';
import { BackupKey } from '../constructs/backup-key';

/**
 * Alias of the backup key in both regions. Stable, so the primary region's stack can name the
 * replica key (`ReplicaKmsKeyID`) without a cross-region reference.
 */
export const BACKUP_KEY_ALIAS = 'alias/restorable/backups';

/** Physical name of the backup bucket in a region: stable, so no cross-region reference is needed. */
export function backupBucketName(account: string, region: string): string {
  return `restorable-${account}-${region}-backups`;
}

/** The bucket-default Object Lock the config asks for. */
export function objectLockRetentionOf(config: RestorableConfig): s3.ObjectLockRetention {
  const duration = Duration.days(config.objectLock.defaultRetentionDays);
  return config.objectLock.mode === 'COMPLIANCE'
    ? s3.ObjectLockRetention.compliance(duration)
    : s3.ObjectLockRetention.governance(duration);
}

/** The {@link BackupBucket} settings shared by the primary and the replica bucket. */
export function backupBucketSettings(config: RestorableConfig) {
  return {
    retention: RetentionTiers.fromDays(retentionDaysOf(config)),
    objectLockRetention: objectLockRetentionOf(config),
    drillReportExpiration: Duration.days(config.retention.drillReportDays),
  };
}

export interface ReplicaStackProps extends Omit<StackProps, 'env'> {
  /** The validated config; the stack deploys to its account and replica region. */
  readonly config: RestorableConfig;
}

/**
 * The replica region: its own customer-managed key and the destination bucket of cross-region
 * replication, with the same Object Lock, lifecycle and guards as the primary.
 *
 * Nothing is exported through CloudFormation: the bucket name and the key alias are stable, so
 * the primary stack builds them from the account and region ({@link backupBucketName},
 * {@link BACKUP_KEY_ALIAS}).
 */
export class ReplicaStack extends Stack {
  public readonly config: RestorableConfig;
  public readonly key: BackupKey;
  public readonly backups: BackupBucket;

  constructor(scope: Construct, id: string, props: ReplicaStackProps) {
    super(scope, id, {
      description: 'Restorable: replica backup bucket and key (replica region)',
      ...props,
      env: { account: props.config.account, region: props.config.replicaRegion },
    });
    this.config = props.config;

    this.key = new BackupKey(this, 'BackupKey', {
      alias: BACKUP_KEY_ALIAS,
      description: 'Restorable backups (replica region)',
      adminPrincipalArns: this.config.keyAdmins,
    });

    this.backups = new BackupBucket(this, 'Backups', {
      bucketName: backupBucketName(this.config.account, this.config.replicaRegion),
      encryptionKey: this.key.key,
      ...backupBucketSettings(this.config),
    });
    NagSuppressions.addResourceSuppressions(this.backups.bucket, [
      {
        id: 'NIST.800.53.R5-S3BucketReplicationEnabled',
        reason:
          'This bucket is the cross-region replication destination of the primary backup bucket; it holds the second copy.',
      },
    ]);

    new CfnOutput(this, 'BackupBucketName', { value: this.backups.bucket.bucketName });
    new CfnOutput(this, 'BackupKeyArn', { value: this.key.key.keyArn });
  }
}
