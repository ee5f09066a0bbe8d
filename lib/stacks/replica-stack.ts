/**
 * The replica-region stack: the replica bucket and its key (under a stable alias and name, so the
 * primary stack needs no cross-region reference), and the settings both stacks derive from the config.
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { type RestorableConfig, retentionDaysOf } from '../config';
import { BackupBucket, RetentionTiers } from '../constructs/backup-bucket';
import { BackupKey } from '../constructs/backup-key';
import { VaultAudit } from '../constructs/vault-audit';
import { applyGovernedAccountDefaults } from './governed-account';
import { eventBridgeRole } from '../workflows';

/**
 * Alias of the backup key in both regions. Stable, so the primary region's stack can name the
 * replica key (`ReplicaKmsKeyID`) without a cross-region reference.
 */
export const BACKUP_KEY_ALIAS = 'alias/restorable/backups';

/** Physical name of the backup bucket in a region: stable, so no cross-region reference is needed. */
export function backupBucketName(account: string, region: string): string {
  return `restorable-${account}-${region}-backups`;
}

/** The account the replica lives in: a separate backup account when the config names one. */
export function replicaAccountOf(config: RestorableConfig): string {
  return config.replica.account ?? config.account;
}

/**
 * Physical name of the primary bucket's replication role: stable, so a replica in a backup
 * account can trust it by ARN before the primary stack exists.
 */
export function replicationRoleName(config: RestorableConfig): string {
  return `restorable-replication-${config.primaryRegion}`;
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
    retention: RetentionTiers.fromDays(retentionDaysOf(config), {
      allowEarlyDeletionCharges: config.retention.allowEarlyDeletionCharges,
    }),
    objectLockRetention: objectLockRetentionOf(config),
    drillReportExpiration: Duration.days(config.retention.drillReportDays),
    vault: {
      breakGlassRoleArn: config.vault.breakGlassRoleArn,
      deploymentRoleMayUpdatePolicies: config.vault.deploymentRoleMayUpdatePolicies,
    },
    // The dump's adhoc retain-until comes from the bucket (BackupWorkflow), so they agree.
    adhocExpiration: Duration.days(config.retention.adhocDays),
  };
}

export interface ReplicaStackProps extends Omit<StackProps, 'env'> {
  /** The validated config; the stack deploys to the replica account and region. */
  readonly config: RestorableConfig;
}

/**
 * The replica region: its own customer-managed key and the destination bucket of cross-region
 * replication, with the same Object Lock, lifecycle and vault policy as the primary, and rules
 * that page on any attempt to change them.
 *
 * With `replica.account` this stack is deployed into the backup account (first, by someone with
 * credentials there): its bucket and key policies let the primary account's replication role
 * (named by {@link replicationRoleName}) replicate into it, replicas become the backup account's,
 * and it records its own trail; vault events go to the primary account's default event bus.
 *
 * Nothing is exported through CloudFormation: the bucket name and the key alias are stable, so
 * the primary stack builds them from the account and region ({@link backupBucketName},
 * {@link BACKUP_KEY_ALIAS}); a backup account's key ARN goes into the config (`replica.keyArn`).
 */
export class ReplicaStack extends Stack {
  public readonly config: RestorableConfig;
  public readonly key: BackupKey;
  public readonly backups: BackupBucket;
  public readonly audit: VaultAudit;

  constructor(scope: Construct, id: string, props: ReplicaStackProps) {
    super(scope, id, {
      description: 'Restorable: replica backup bucket and key (replica region)',
      terminationProtection: true,
      ...props,
      env: { account: replicaAccountOf(props.config), region: props.config.replicaRegion },
    });
    this.config = props.config;
    const crossAccount = this.config.replica.account !== undefined;

    this.key = new BackupKey(this, 'BackupKey', {
      alias: BACKUP_KEY_ALIAS,
      description: 'Restorable backups (replica region)',
      adminPrincipalArns: this.config.keyAdmins,
    });

    this.backups = new BackupBucket(this, 'Backups', {
      bucketName: backupBucketName(this.account, this.config.replicaRegion),
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
    if (crossAccount) this.allowReplicationFromPrimaryAccount();

    const primaryBus = events.EventBus.fromEventBusArn(
      this,
      'PrimaryBus',
      this.formatArn({
        service: 'events',
        region: this.config.primaryRegion,
        account: this.config.account,
        resource: 'event-bus',
        resourceName: 'default',
      }),
    );
    const forwardRole = eventBridgeRole(
      this,
      'ForwardVaultEventsRole',
      'Forwards Restorable vault events to the primary region',
    );
    this.audit = new VaultAudit(this, 'VaultAudit', {
      buckets: [this.backups.bucket],
      keys: [this.key.key],
      // One role for both rules: put events on the primary region's default bus, nothing else.
      targets: [new targets.EventBus(primaryBus, { role: forwardRole })],
      // In the same account the primary's multi-region trail records this region.
      trail: crossAccount
        ? { bucket: this.backups.accessLogsBucket, managementEvents: this.config.vault.auditManagementEvents }
        : undefined,
    });

    // After the targets bound: that is when the role's policy exists.
    NagSuppressions.addResourceSuppressions(
      forwardRole,
      [
        {
          id: 'NIST.800.53.R5-IAMNoInlinePolicy',
          reason:
            'One statement (events:PutEvents on the primary region default bus) for one role, sharing its lifecycle.',
        },
      ],
      true,
    );
    applyGovernedAccountDefaults(this, { reservedConcurrency: this.config.functions.reservedConcurrency });
    new CfnOutput(this, 'BackupBucketName', { value: this.backups.bucket.bucketName });
    new CfnOutput(this, 'BackupKeyArn', { value: this.key.key.keyArn });
  }

  /**
   * What the backup account grants the primary account's replication role: writing replicas
   * (owned by this account) into the bucket and encrypting them with this key, nothing else.
   *
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-walkthrough-2.html
   */
  private allowReplicationFromPrimaryAccount(): void {
    const roleArn = this.formatArn({
      service: 'iam',
      region: '',
      account: this.config.account,
      resource: 'role',
      resourceName: replicationRoleName(this.config),
    });
    const bucket = this.backups.bucket;
    const role = new iam.ArnPrincipal(roleArn);
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'SourceAccountReplicatesObjects',
        principals: [role],
        actions: ['s3:ReplicateObject', 's3:ReplicateTags', 's3:ObjectOwnerOverrideToBucketOwner'],
        resources: [bucket.arnForObjects('*')],
      }),
    );
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'SourceAccountReadsVersioning',
        principals: [role],
        actions: ['s3:GetBucketVersioning', 's3:ListBucket'],
        resources: [bucket.bucketArn],
      }),
    );
    this.key.allowReplicationFrom(roleArn);
  }
}
