// @ts-nocheck
import { Annotations, CfnOutput, Duration, Stack, TimeZone, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { retentionDaysOf, type RestorableConfig } from '../config';
import { BackupBucket } from '../constructs/backup-bucket';
import { BackupKey } from '../constructs/backup-key';
import { BackupWorkflow } from '../constructs/backup-workflow';
import { DrillSweeper } from '../constructs/drill-sweeper';
import { FreshnessCheck } from '../constructs/freshness-check';
import { Monitoring } from '../constructs/monitoring';
import { RestoreDrill } from '../constructs/restore-drill';
import type { KeyReference } from '../grants';
import { pascalCase } from '../naming';
import { importNetwork } from '../vpc-import';
import { BACKUP_KEY_ALIAS, backupBucketName, backupBucketSettings } from './replica-stack';

export interface BackupStackProps extends Omit<StackProps, 'env'> {
  /** The validated config; the stack deploys to its account and primary region. */
  readonly config: RestorableConfig;
}

/**
 * The primary region: the backup key, the primary bucket replicating to the replica region, and
 * everything per database (backup workflow, restore drill, alarms) plus the stack-wide on-call
 * topic, freshness check and drill sweeper.
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
  /** The on-call topic, the alarms and the dashboard. */
  public readonly monitoring: Monitoring;
  /** Backup workflow per database id. */
  public readonly workflows = new Map<string, BackupWorkflow>();
  /** Restore drill per database id (databases with drills enabled and a VPC). */
  public readonly drills = new Map<string, RestoreDrill>();
  /** The hourly freshness check. */
  public readonly freshness: FreshnessCheck;
  /** The drill sweeper. */
  public readonly sweeper: DrillSweeper;

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

    this.monitoring = new Monitoring(this, 'Monitoring', {
      emails: this.config.onCall.emails,
      httpsEndpoints: this.config.onCall.httpsEndpoints,
    });
    ({ freshness: this.freshness, sweeper: this.sweeper } = this.addOperations());

    new CfnOutput(this, 'BackupBucketName', { value: this.backups.bucket.bucketName });
    new CfnOutput(this, 'BackupKeyArn', { value: this.key.key.keyArn });
    new CfnOutput(this, 'ReplicaBucketName', { value: this.replicaBucket.bucketName });
    // The CLI's --stack reads these three to find both copies.
    new CfnOutput(this, 'ReplicaRegion', { value: this.replicaRegion });
    new CfnOutput(this, 'OnCallTopicArn', { value: this.monitoring.topic.topicArn });
  }

  /**
   * Backups, drills and alarms. Per database under its own scope named after the database id
   * (`DatabaseOrders`), so adding or removing a database never renames another one's resources;
   * stack-wide: the on-call topic and alarms, the freshness check and the drill sweeper.
   */
  private addOperations(): { freshness: FreshnessCheck; sweeper: DrillSweeper } {
    const { config } = this;
    const replicaKey: KeyReference = { alias: BACKUP_KEY_ALIAS };
    const logEncryptionKey = this.monitoring.key;
    const retentionDays = retentionDaysOf(config);

    for (const database of config.databases) {
      const scopeId = `Database${pascalCase(database.id)}`;
      if (this.node.tryFindChild(scopeId)) {
        throw new Error(
          `databases: "${database.id}" maps to the same construct id (${scopeId}) as another database; rename one`,
        );
      }
      const scope = new Construct(this, scopeId);
      const network = database.vpc ? importNetwork(scope, database.vpc) : undefined;

      const workflow = new BackupWorkflow(scope, 'Backup', {
        databaseId: database.id,
        secret: secretsmanager.Secret.fromSecretCompleteArn(scope, 'Secret', database.secretArn),
        bucket: this.backups.bucket,
        key: this.key.key,
        replicaBucket: this.replicaBucket,
        replicaKey,
        alarmTopic: this.monitoring.topic,
        schedule: scheduler.ScheduleExpression.expression(database.schedule, TimeZone.ETC_UTC),
        schemas: database.schemas,
        sslMode: database.sslMode,
        retentionDays,
        objectLockMode: config.objectLock.mode,
        placement: network && {
          vpc: network.vpc,
          subnets: network.subnets,
          securityGroups: network.securityGroups,
        },
        logEncryptionKey,
      });
      this.workflows.set(database.id, workflow);

      // A drill needs a VPC for its throwaway RDS instance: its own (drill.vpc), else the
      // database's. A database outside any VPC (e.g. Supabase) without drill.vpc gets no drill and a
      // synth warning.
      const drillNetwork = database.drill.vpc
        ? importNetwork(new Construct(scope, 'DrillNetwork'), { ...database.drill.vpc, securityGroupIds: [] })
        : network;
      let drill: RestoreDrill | undefined;
      if (database.drill.enabled && drillNetwork) {
        drill = new RestoreDrill(scope, 'Drill', {
          databaseId: database.id,
          bucket: this.backups.bucket,
          key: this.key.key,
          replicaBucket: this.replicaBucket,
          replicaKey,
          vpc: drillNetwork.vpc,
          vpcSubnets: drillNetwork.subnets,
          schedule: scheduler.ScheduleExpression.expression(database.drill.schedule, TimeZone.ETC_UTC),
          source: database.drill.source,
          selection: database.drill.selection,
          randomWindow: Duration.days(database.drill.randomWindowDays),
          rtoTarget: Duration.minutes(database.drill.rtoTargetMinutes),
          instanceClass: database.drill.instanceClass,
          checks: database.drill.checks,
          logEncryptionKey,
        });
        this.drills.set(database.id, drill);
      } else if (database.drill.enabled) {
        Annotations.of(scope).addWarningV2(
          'restorable:drillNeedsVpc',
          `databases "${database.id}": restore drills need a VPC for the ephemeral RDS instance and this database has none; ` +
            'no drill is deployed for it (set databases[].drill.vpc, or disable drills with drill.enabled=false)',
        );
      }

      this.monitoring.addDatabase({
        databaseId: database.id,
        rpo: Duration.hours(database.rpoHours),
        rtoTarget: Duration.minutes(database.drill.rtoTargetMinutes),
        drillStateMachine: drill?.stateMachine,
        drills: drill !== undefined,
      });
      const name = pascalCase(database.id);
      this.monitoring.addFunction(`${name}Dump`, workflow.dumpFunction.function);
      this.monitoring.addFunction(`${name}Verify`, workflow.verifyFunction.function);
      if (drill) this.monitoring.addFunction(`${name}Drill`, drill.drillFunction.function);
    }

    const freshness = new FreshnessCheck(this, 'Freshness', {
      bucket: this.backups.bucket,
      key: this.key.key,
      databaseIds: config.databases.map((d) => d.id),
      replicaKey,
      replicaRegion: this.replicaRegion,
      logEncryptionKey,
    });
    this.monitoring.addFunction('Freshness', freshness.function.function);
    this.monitoring.addKeyCheck();

    const sweeper = new DrillSweeper(this, 'DrillSweeper', { logEncryptionKey });
    this.monitoring.addFunction('DrillSweeper', sweeper.function.function);
    this.monitoring.addDrillSweeper(sweeper);

    for (const ruleId of replicationRuleIds(this.backups)) {
      this.monitoring.addReplication({
        sourceBucket: this.backups.bucket,
        destinationBucketName: this.replicaBucket.bucketName,
        ruleId,
      });
    }
    return { freshness, sweeper };
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
          StringEquals: { 'kms:ViaService': `s3.${this.replicaRegion}.${this.urlSuffix}` },
          'ForAnyValue:StringEquals': { 'kms:ResourceAliases': BACKUP_KEY_ALIAS },
        },
      }),
    );
    return grant;
  }
}

/** The ids of the bucket's replication rules, as rendered (the replication alarms name the rule). */
function replicationRuleIds(backups: BackupBucket): string[] {
  const cfn = backups.bucket.node.defaultChild as s3.CfnBucket;
  const replication = Stack.of(backups).resolve(cfn.replicationConfiguration) as
    { rules?: { id?: string }[] } | undefined;
  return (replication?.rules ?? [])
    .map((rule) => rule.id)
    .filter((id): id is string => typeof id === 'string');
}
