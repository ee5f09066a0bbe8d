/**
 * The primary-region stack: the backup bucket and key, per database its backup workflow, restore
 * drill and alarms (or, in the fleet shape, the shared fleet operations), and stack-wide the
 * on-call monitoring, freshness check and drill sweeper.
 */
import { Annotations, CfnOutput, Duration, Stack, TimeZone, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { RestorableConfig } from '../config';
import { BackupBucket, type IBackupBucket } from '../constructs/backup-bucket';
import { BackupKey } from '../constructs/backup-key';
import { BackupWorkflow } from '../constructs/backup-workflow';
import { DrillSweeper } from '../constructs/drill-sweeper';
import { EvidenceReport } from '../constructs/evidence-report';
import { FleetOperations, grantDiscovery } from '../constructs/fleet-operations';
import { planFleet, type FleetPlan } from '../fleet-plan';
import { FreshnessCheck } from '../constructs/freshness-check';
import { Monitoring } from '../constructs/monitoring';
import { RestoreDrill } from '../constructs/restore-drill';
import { RunnerEndpoints } from '../constructs/runner-endpoints';
import { VaultAudit } from '../constructs/vault-audit';
import {
  backupInputOutputKey,
  backupStateMachineOutputKey,
  EVIDENCE_TOPIC_OUTPUT,
  FLEET_BACKUP_ORCHESTRATOR_OUTPUT,
  FLEET_DRILL_ORCHESTRATOR_OUTPUT,
} from '../outputs';
import { pascalCase } from '../naming';
import { fargateOptionsOf, warnAboutRunner } from '../database-runner';
import { importNetwork } from '../vpc-import';
import { eventBridgeRole } from '../workflows';
import { applyGovernedAccountDefaults } from './governed-account';
import {
  BACKUP_KEY_ALIAS,
  backupBucketName,
  backupBucketSettings,
  replicaAccountOf,
  replicationRoleName,
} from './replica-stack';

/**
 * How long function, workflow and trail logs are kept: a year, the minimum AWS Control Tower's
 * CT.CLOUDWATCH.PR.2 accepts, and the span an auditor asks about.
 */
export const LOG_RETENTION = logs.RetentionDays.ONE_YEAR;

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
  /** The primary bucket; grant workloads through its `grants`. */
  public readonly backups: BackupBucket;
  /** The replica bucket, imported by its stable name with its key by alias; grant through its `grants`. */
  public readonly replica: IBackupBucket;
  public readonly replicaRegion: string;
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
  /** The vault trail and the rules that page on changes to it. */
  public readonly audit: VaultAudit;
  /** The monthly evidence report (of the listed databases and, in a fleet with a selection, the tag-selected ones). */
  public readonly evidence?: EvidenceReport;
  /** The fleet shape's plan and shared operations (`fleet.shape: "fleet"`); runners are in FleetGroupStacks. */
  public readonly fleetPlan?: FleetPlan;
  public readonly fleet?: FleetOperations;

  constructor(scope: Construct, id: string, props: BackupStackProps) {
    super(scope, id, {
      description: 'Restorable: PostgreSQL backups, verification, restore drills and alarms (primary region)',
      terminationProtection: true,
      ...props,
      env: { account: props.config.account, region: props.config.primaryRegion },
    });
    this.config = props.config;
    this.replicaRegion = this.config.replicaRegion;

    const settings = backupBucketSettings(this.config);
    const replicaAccount = replicaAccountOf(this.config);
    const { keyArn: replicaKeyArn } = this.config.replica;
    this.replica = BackupBucket.fromBucketAttributes(this, 'ReplicaBucket', {
      bucketName: backupBucketName(replicaAccount, this.replicaRegion),
      account: replicaAccount,
      region: this.replicaRegion,
      // A key in another account is named by ARN: aliases do not resolve across accounts.
      ...(replicaKeyArn
        ? { encryptionKey: kms.Key.fromKeyArn(this, 'ReplicaKey', replicaKeyArn) }
        : { encryptionKeyAlias: BACKUP_KEY_ALIAS }),
      retention: settings.retention,
      adhocExpiration: settings.adhocExpiration,
    });

    this.key = new BackupKey(this, 'BackupKey', {
      alias: BACKUP_KEY_ALIAS,
      description: 'Restorable backups (primary region)',
      adminPrincipalArns: this.config.keyAdmins,
    });

    this.backups = new BackupBucket(this, 'Backups', {
      bucketName: backupBucketName(this.config.account, this.config.primaryRegion),
      encryptionKey: this.key.key,
      ...settings,
      replication: { destination: this.replica, roleName: replicationRoleName(this.config) },
    });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      emails: this.config.onCall.emails,
      httpsEndpoints: this.config.onCall.httpsEndpoints,
    });
    if (this.config.fleet.shape === 'fleet') {
      this.fleetPlan = planFleet(this.config);
      this.fleet = new FleetOperations(this, 'Fleet', {
        config: this.config,
        plan: this.fleetPlan,
        bucket: this.backups,
        replicaBucket: this.replica,
        logEncryptionKey: this.monitoring.key,
        logRetention: LOG_RETENTION,
      });
      // The same size warnings as the per-database shape, on the database's id in the fleet stack.
      for (const database of this.config.databases) {
        warnAboutRunner(new Construct(this.fleet, `Database${pascalCase(database.id)}`), database);
      }
    }
    ({ freshness: this.freshness, sweeper: this.sweeper } = this.addOperations());
    this.audit = this.addVaultAudit(replicaAccount);
    // The monthly evidence report under reports/<yyyy-mm>/, announced on its own topic. In the
    // fleet shape the listed databases travel in its scheduled event (a Lambda environment holds
    // 4 KB in all) and, with a selection, the tag-selected ones are found in the bucket and judged
    // against the fleet's default RPO (docs/FLEETS.md).
    if (this.config.databases.length > 0 || (this.fleet && this.config.selection)) {
      this.evidence = new EvidenceReport(this, 'EvidenceReport', {
        bucket: this.backups,
        databases: this.config.databases.map((d) => ({ id: d.id, rpo: Duration.hours(d.rpoHours) })),
        ...(this.fleet
          ? {
              listInEvent: true,
              ...(this.config.selection ? { unlistedRpo: Duration.hours(this.config.fleet.rpoHours) } : {}),
            }
          : {}),
        objectLockMode: this.config.objectLock.mode,
        logEncryptionKey: this.monitoring.key,
        logRetention: LOG_RETENTION,
      });
      this.monitoring.addErrorAlarm('EvidenceReport', this.evidence.function.function);
      new CfnOutput(this, EVIDENCE_TOPIC_OUTPUT, { value: this.evidence.topic.topicArn });
    }
    for (const key of [this.monitoring.key, this.evidence?.topicKey]) {
      if (key instanceof kms.Key) BackupKey.limitGrantsToAwsServices(key);
    }
    applyGovernedAccountDefaults(this, { reservedConcurrency: this.config.functions.reservedConcurrency });

    new CfnOutput(this, 'BackupBucketName', { value: this.backups.bucket.bucketName });
    new CfnOutput(this, 'BackupKeyArn', { value: this.key.key.keyArn });
    new CfnOutput(this, 'ReplicaBucketName', { value: this.replica.bucket.bucketName });
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
    const logEncryptionKey = this.monitoring.key;

    // The fleet shape: no per-database constructs here (FleetOperations, FleetGroupStack).
    for (const database of this.fleet ? [] : config.databases) {
      const scopeId = `Database${pascalCase(database.id)}`;
      if (this.node.tryFindChild(scopeId)) {
        throw new Error(
          `databases: "${database.id}" maps to the same construct id (${scopeId}) as another database; rename one`,
        );
      }
      const scope = new Construct(this, scopeId);
      const network = database.vpc
        ? importNetwork(scope, database.vpc, { endpointsProvisioned: database.vpc.provisionEndpoints })
        : undefined;
      const endpoints =
        network && database.vpc?.provisionEndpoints
          ? new RunnerEndpoints(scope, 'Endpoints', {
              vpc: network.vpc,
              subnets: network.subnets,
              routeTableIds: database.vpc.routeTableIds ?? [],
            })
          : undefined;
      for (const securityGroup of network?.securityGroups ?? []) {
        endpoints?.allowFrom(securityGroup, `HTTPS from the ${database.id} dump`);
      }
      warnAboutRunner(scope, database);

      const secret = secretsmanager.Secret.fromSecretCompleteArn(scope, 'Secret', database.secretArn);
      const workflow = new BackupWorkflow(scope, 'Backup', {
        databaseId: database.id,
        secret,
        secretKey: database.secretKmsKeyArn
          ? kms.Key.fromKeyArn(scope, 'SecretKey', database.secretKmsKeyArn)
          : undefined,
        bucket: this.backups,
        replicaBucket: this.replica,
        alarmTopic: this.monitoring.topic,
        schedule: scheduler.ScheduleExpression.expression(database.schedule, TimeZone.ETC_UTC),
        schemas: database.schemas,
        preset: database.preset,
        dumpFrom: database.dumpFrom && {
          host: database.dumpFrom.host,
          port: database.dumpFrom.port,
          secret: database.dumpFrom.secretArn
            ? secretsmanager.Secret.fromSecretCompleteArn(
                scope,
                'DumpFromSecret',
                database.dumpFrom.secretArn,
              )
            : undefined,
        },
        sslMode: database.sslMode,
        compression: database.compression,
        objectLockMode: config.objectLock.mode,
        lockWaitTimeout:
          database.lockWaitTimeoutSeconds === undefined
            ? undefined
            : Duration.seconds(database.lockWaitTimeoutSeconds),
        placement: network && {
          vpc: network.vpc,
          subnets: network.subnets,
          securityGroups: network.securityGroups,
        },
        fargate: fargateOptionsOf(database),
        logEncryptionKey,
        logRetention: LOG_RETENTION,
      });
      this.workflows.set(database.id, workflow);
      // `restorable backup --stack --reason` starts this workflow with this (secret-free) input.
      new CfnOutput(this, backupStateMachineOutputKey(database.id), {
        value: workflow.stateMachine.stateMachineArn,
      });
      new CfnOutput(this, backupInputOutputKey(database.id), {
        value: this.toJsonString(
          workflow.executionInput({
            secret,
            schemas: database.schemas,
            sslMode: database.sslMode,
          }),
        ),
      });

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
          bucket: this.backups,
          replicaBucket: this.replica,
          vpc: drillNetwork.vpc,
          vpcSubnets: drillNetwork.subnets,
          schedule: scheduler.ScheduleExpression.expression(database.drill.schedule, TimeZone.ETC_UTC),
          source: database.drill.source,
          selection: database.drill.selection,
          randomWindow: Duration.days(database.drill.randomWindowDays),
          rtoTarget: Duration.minutes(database.drill.rtoTargetMinutes),
          instanceClass: database.drill.instanceClass,
          parameters: database.drill.parameters,
          checks: database.drill.checks,
          targetMajor: database.drill.targetMajor,
          allowExtendedSupport: database.drill.allowExtendedSupport,
          fargate: fargateOptionsOf(database),
          logEncryptionKey,
          logRetention: LOG_RETENTION,
        });
        this.drills.set(database.id, drill);
        // A drill in the database's VPC uses its endpoints too (a drill.vpc of its own has none).
        if (drillNetwork === network) {
          endpoints?.allowFrom(drill.functionSecurityGroup, `HTTPS from the ${database.id} drill`);
        }
      } else if (database.drill.enabled) {
        Annotations.of(scope).addWarningV2(
          'restorable:drillNeedsVpc',
          `databases "${database.id}": restore drills need a VPC for the ephemeral RDS instance and this database has none; ` +
            'no drill is deployed for it (set databases[].drill.vpc, or disable drills with drill.enabled=false)',
        );
      }

      this.monitoring.addDatabaseAlarms({ backup: workflow, drill, rpo: Duration.hours(database.rpoHours) });
      const name = pascalCase(database.id);
      // Fargate databases have no functions: their tasks' failures page through the workflow.
      if (workflow.dumpFunction) this.monitoring.addErrorAlarm(`${name}Dump`, workflow.dumpFunction.function);
      if (workflow.verifyFunction)
        this.monitoring.addErrorAlarm(`${name}Verify`, workflow.verifyFunction.function);
      if (drill) this.monitoring.addErrorAlarm(`${name}Drill`, drill.drillFunction.function);
    }

    const freshness = new FreshnessCheck(this, 'Freshness', {
      bucket: this.backups,
      databaseIds: config.databases.map((d) => d.id),
      replicaBucket: this.replica,
      logEncryptionKey,
      logRetention: LOG_RETENTION,
      ...(this.fleet
        ? {
            selection: config.selection,
            listInEvent: true,
            rpoHours: {
              byDatabase: Object.fromEntries(config.databases.map((d) => [d.id, d.rpoHours])),
              default: config.fleet.rpoHours,
            },
          }
        : {}),
    });
    if (this.fleet && config.selection) grantDiscovery(freshness.function.role);
    this.monitoring.addErrorAlarm('Freshness', freshness);
    if (this.fleet) {
      this.monitoring.addErrorAlarm('BackupDiscovery', this.fleet.discovery.backup);
      this.monitoring.addErrorAlarm('DrillDiscovery', this.fleet.discovery.drill);
      this.monitoring.addFleetAlarms({
        orchestrators: [
          this.fleet.backupOrchestrator,
          ...(this.fleet.drillOrchestrator ? [this.fleet.drillOrchestrator] : []),
        ],
      });
      // `restorable backup --stack` starts it for one database (the fleet has no per-database outputs).
      new CfnOutput(this, FLEET_BACKUP_ORCHESTRATOR_OUTPUT, {
        value: this.fleet.backupOrchestrator.stateMachine.stateMachineArn,
      });
      if (this.fleet.drillOrchestrator) {
        new CfnOutput(this, FLEET_DRILL_ORCHESTRATOR_OUTPUT, {
          value: this.fleet.drillOrchestrator.stateMachine.stateMachineArn,
        });
      }
    }
    this.monitoring.addBackupKeyAlarm(freshness);

    const sweeper = new DrillSweeper(this, 'DrillSweeper', { logEncryptionKey, logRetention: LOG_RETENTION });
    this.monitoring.addErrorAlarm('DrillSweeper', sweeper);
    this.monitoring.addOrphanedInstancesAlarm(sweeper);

    if (this.backups.replicationRuleId) {
      this.monitoring.addReplicationAlarms({ bucket: this.backups });
    }
    return { freshness, sweeper };
  }

  /**
   * One multi-region trail (this account's backup buckets, both regions) and rules that page on
   * any attempt to change the vault. The replica region's rules forward to this region's default
   * bus; from a backup account that needs this bus to accept its events.
   */
  private addVaultAudit(replicaAccount: string): VaultAudit {
    const sameAccount = replicaAccount === this.config.account;
    if (!sameAccount) {
      new events.CfnEventBusPolicy(this, 'ReplicaAccountEvents', {
        statementId: 'RestorableReplicaAccountVaultEvents',
        eventBusName: 'default',
        action: 'events:PutEvents',
        principal: replicaAccount,
      });
    }
    // Rules publish to the encrypted on-call topic through a role bound to this account's rules
    // (see eventBridgeRole: a key-policy grant to EventBridge cannot carry that binding).
    const pageRole = eventBridgeRole(
      this,
      'PageOnVaultEventsRole',
      'Pages on-call for Restorable vault events',
    );
    const audit = new VaultAudit(this, 'VaultAudit', {
      buckets: sameAccount ? [this.backups.bucket, this.replica.bucket] : [this.backups.bucket],
      keys: [this.key.key],
      targets: [new targets.SnsTopic(this.monitoring.topic, { role: pageRole })],
      forwardedFrom: { account: replicaAccount, region: this.replicaRegion },
      trail: {
        bucket: this.backups.accessLogsBucket,
        managementEvents: this.config.vault.auditManagementEvents,
        logRetention: LOG_RETENTION,
      },
    });
    // After the targets bound: that is when the role's policy exists.
    NagSuppressions.addResourceSuppressions(
      pageRole,
      [
        {
          id: 'NIST.800.53.R5-IAMNoInlinePolicy',
          reason:
            'One grant (publish to the on-call topic, with its key) for one role, sharing its lifecycle.',
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Publishing to the KMS-encrypted on-call topic needs kms:GenerateDataKey* (SNS may call any GenerateDataKey ' +
            'variant); the grant comes from topic.grantPublish and names that key only.',
          appliesTo: ['Action::kms:GenerateDataKey*'],
        },
      ],
      true,
    );
    return audit;
  }
}
