import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { RestorableConfig } from '../config';
import { BackupBucket } from '../constructs/backup-bucket';
import { BackupKey } from '../constructs/backup-key';
import { BACKUP_KEY_ALIAS, backupBucketName, backupBucketSettings } from './replica-stack';

export interface BackupStackProps extends Omit<StackProps, 'env'> {
  /** The validated config; the stack deploys to its account and primary region. */
  readonly config: RestorableConfig;
}

/**
 * The primary region: the backup key, the primary bucket replicating to the replica region, and
 * (in later issues) everything per database — backup workflow, restore drill, monitoring.
 *
 * Deploy {@link ReplicaStack} first: S3 checks that the replication destination exists.
 */
export class BackupStack extends Stack {
  public readonly config: RestorableConfig;
  public readonly key: BackupKey;
  /** The primary bucket; grant workloads through its `grantXxx` methods. */
  public readonly backups: BackupBucket;
  /** The replica bucket, imported by its stable name (read-only use; see {@link grantReadReplicaBackups}). */
  public readonly replicaBucket: s3.IBucket;
  public readonly replicaRegion: string;
  /** `ReplicaKmsKeyID`: the alias ARN of the replica key. Not usable as an IAM resource. */
  public readonly replicaKeyAliasArn: string;

  constructor(scope: Construct, id: string, props: BackupStackProps) {
    super(scope, id, {
      description: 'Restorable: PostgreSQL backups, verification, restore drills and alarms (primary region)',
      ...props,
      env: { account: props.config.account, region: props.config.primaryRegion },
    });
    this.config = props.config;
    this.replicaRegion = this.config.replicaRegion;

    this.replicaBucket = s3.Bucket.fromBucketAttributes(this, 'ReplicaBucket', {
      bucketName: backupBucketName(this.config.account, this.replicaRegion),
      account: this.config.account,
      region: this.replicaRegion,
    });
    this.replicaKeyAliasArn = this.formatArn({
      service: 'kms',
      region: this.replicaRegion,
      resource: BACKUP_KEY_ALIAS,
    });

    this.key = new BackupKey(this, 'BackupKey', {
      alias: BACKUP_KEY_ALIAS,
      description: 'Restorable backups (primary region)',
      adminPrincipalArns: this.config.keyAdmins,
    });

    this.backups = new BackupBucket(this, 'Backups', {
      bucketName: backupBucketName(this.config.account, this.config.primaryRegion),
      encryptionKey: this.key.key,
      ...backupBucketSettings(this.config),
      replication: { destination: this.replicaBucket, destinationKeyAlias: BACKUP_KEY_ALIAS },
    });

    // Per-database resources. Later issues add them here, each under its own scope named after
    // the database id, so adding or removing a database never renames another one's resources:
    //
    //   for (const database of this.config.databases) {
    //     const scope = new Construct(this, `Database-${database.id}`);
    //     const workflow = new BackupWorkflow(scope, 'Backup', { database, backups: this.backups, ... });
    //     new RestoreDrill(scope, 'Drill', { database, backups: this.backups, ... });
    //     new DatabaseMonitoring(scope, 'Monitoring', { database, workflow, ... });
    //   }
    //
    // Grants: this.backups.grantWriteBackups / grantReadBackups / grantWriteDrillReports, and
    // this.grantReadReplicaBackups for drills that restore from the replica (the default).

    new CfnOutput(this, 'BackupBucketName', { value: this.backups.bucket.bucketName });
    new CfnOutput(this, 'BackupKeyArn', { value: this.key.key.keyArn });
    new CfnOutput(this, 'ReplicaBucketName', { value: this.replicaBucket.bucketName });
  }

  /**
   * Lets the grantee list and read backups in the replica bucket and decrypt them with the
   * replica key. The key's ARN is unknown in this region, so the KMS statement allows the replica
   * account's keys in the replica region that carry the backup alias, used through S3 there.
   */
  public grantReadReplicaBackups(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.replicaBucket.bucketArn],
    });
    grant.combine(
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectRetention', 's3:GetObjectAttributes'],
        resourceArns: [this.replicaBucket.arnForObjects('*')],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [
          this.formatArn({ service: 'kms', region: this.replicaRegion, resource: 'key', resourceName: '*' }),
        ],
        conditions: {
          StringEquals: { 'kms:ViaService': `s3.${this.replicaRegion}.amazonaws.com` },
          'ForAnyValue:StringEquals': { 'kms:ResourceAliases': BACKUP_KEY_ALIAS },
        },
      }),
    );
    return grant;
  }
}
