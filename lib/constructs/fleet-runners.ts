/**
 * The runners of one fleet runner group (one network): `FleetBackupRunners` (dump + verify and
 * the shared Dump → Verify workflow) and `FleetDrillRunners` (the drill function, its network and
 * the shared drill workflow). The database comes from each execution's input; the functions hold
 * no data permission: they assume the fleet's data-access role of their workload for each run,
 * tagged with the run's database (DATABASE_ACCESS_ROLE_ARN), and their roles live under the
 * workload's IAM path, which is what that role trusts.
 *
 * The workflows are the per-database ones (backup-workflow-definition.ts,
 * restore-drill-workflow.ts) built with the whole execution input as the first step's event.
 */
import { Size } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  DEFAULT_DRILL_INSTANCE_CLASS,
  DEFAULT_DRILL_MAX_WAIT_MINUTES,
} from '../../lambda/core/drill-settings';
import type { HandlerEnvInput } from '../../lambda/core/handler-env';
import type { BackupRunnerGroup, DrillRunnerGroup } from '../fleet-plan';
import type { IBackupBucket } from './backup-bucket';
import type { ObjectLockMode } from './backup-workflow';
import { buildBackupStateMachine } from './backup-workflow-definition';
import type { DataAccessWorkload } from './database-access-role';
import { DrillInstanceNetwork } from './drill-instance-network';
import { buildDrillStateMachine } from './restore-drill-workflow';
import { RunnerFunction, type RunnerCommonProps } from './runner-function';
import { WHOLE_INPUT } from './runner-step';

/** The IAM path of a workload's runner roles: the data-access role of that workload trusts it. */
export function fleetRunnerRolePath(workload: DataAccessWorkload): string {
  return `/restorable/fleet/${workload}/`;
}

/** Until the runtime side types DATABASE_ACCESS_ROLE_ARN in every runner schema (fleet contract). */
interface DataAccessEnv {
  readonly DATABASE_ACCESS_ROLE_ARN: string;
}

/** Lets a runner role assume a data-access role with session tags (the identity side of the trust). */
function grantAssume(role: iam.IGrantable, accessRole: iam.IRole): void {
  iam.Grant.addToPrincipal({
    grantee: role,
    actions: ['sts:AssumeRole', 'sts:TagSession'],
    resourceArns: [accessRole.roleArn],
  });
}

export interface FleetRunnersCommonProps extends RunnerCommonProps {
  /** The primary bucket (names and key only: the data-access roles hold the grants). */
  readonly bucket: IBackupBucket;
  /** The replica bucket (name and region only). */
  readonly replicaBucket: IBackupBucket;
}

export interface FleetBackupRunnersProps extends FleetRunnersCommonProps {
  readonly group: BackupRunnerGroup;
  /** Data-access roles the dump and verify assume per run. */
  readonly dumpAccessRole: iam.IRole;
  readonly verifyAccessRole: iam.IRole;
  /** The on-call topic the failure path publishes to. */
  readonly alarmTopic: sns.ITopic;
  /**
   * Object Lock mode of each object.
   * @default 'GOVERNANCE'
   */
  readonly objectLockMode?: ObjectLockMode;
  /** Where the functions run: the group's network, imported. */
  readonly placement?: { vpc: ec2.IVpc; subnets: ec2.SubnetSelection; securityGroups: ec2.ISecurityGroup[] };
}

/** Dump, verify and the Dump → Verify workflow of every database of one backup network. */
export class FleetBackupRunners extends Construct {
  public readonly dumpFunction: RunnerFunction;
  public readonly verifyFunction: RunnerFunction;
  public readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: FleetBackupRunnersProps) {
    super(scope, id);
    const { group } = props;
    const bucket = props.bucket.bucket;
    const replica = props.replicaBucket.bucket;
    const key = props.bucket.encryptionKey;
    if (!key) throw new Error('bucket must have its key known by ARN (the dump names it)');
    const common = {
      image: props.image,
      vpc: props.placement?.vpc,
      vpcSubnets: props.placement?.subnets,
      securityGroups: props.placement?.securityGroups,
      logEncryptionKey: props.logEncryptionKey,
      logRetention: props.logRetention,
    };
    const dumpEnv: HandlerEnvInput<'dump'> & DataAccessEnv = {
      BACKUP_BUCKET: bucket.bucketName,
      BACKUP_KMS_KEY_ARN: key.keyArn,
      OBJECT_LOCK_MODE: props.objectLockMode,
      RETENTION_DAYS: {
        ...props.bucket.retention.toRetentionDays(),
        adhoc: props.bucket.adhocExpiration.toDays(),
      },
      DATABASE_ACCESS_ROLE_ARN: props.dumpAccessRole.roleArn,
    };
    this.dumpFunction = new RunnerFunction(this, 'Dump', {
      ...common,
      handler: 'dump',
      description: `Restorable fleet: dump the databases of runner group ${group.id}`,
      rolePath: fleetRunnerRolePath('dump'),
      environment: dumpEnv,
    });
    const verifyEnv: HandlerEnvInput<'verify'> & DataAccessEnv = {
      BACKUP_BUCKET: bucket.bucketName,
      REPLICA_BUCKET: replica.bucketName,
      REPLICA_REGION: replica.env.region,
      OBJECT_LOCK_MODE: props.objectLockMode,
      DATABASE_ACCESS_ROLE_ARN: props.verifyAccessRole.roleArn,
    };
    this.verifyFunction = new RunnerFunction(this, 'Verify', {
      ...common,
      handler: 'verify',
      description: `Restorable fleet: verify the backups of runner group ${group.id}`,
      rolePath: fleetRunnerRolePath('verify'),
      environment: verifyEnv,
    });
    grantAssume(this.dumpFunction.role, props.dumpAccessRole);
    grantAssume(this.verifyFunction.role, props.verifyAccessRole);

    this.stateMachine = buildBackupStateMachine(
      this,
      {
        databaseId: `fleet-${group.id}`,
        alarmTopic: props.alarmTopic,
        logRetention: props.logRetention,
        logEncryptionKey: props.logEncryptionKey,
      },
      {
        dump: { kind: 'lambda', fn: this.dumpFunction.function },
        verify: { kind: 'lambda', fn: this.verifyFunction.function },
      },
      { dumpPayload: WHOLE_INPUT, databaseFromInput: true },
    );
    (this.stateMachine.node.defaultChild as sfn.CfnStateMachine).stateMachineName = group.stateMachineName;
  }
}

export interface FleetDrillRunnersProps extends FleetRunnersCommonProps {
  readonly group: DrillRunnerGroup;
  /** The data-access role the drill assumes per run. */
  readonly drillAccessRole: iam.IRole;
  /** The group's network, imported. */
  readonly vpc: ec2.IVpc;
  readonly vpcSubnets: ec2.SubnetSelection;
}

/**
 * The drill function, its instances' network (security groups, DB subnet group, parameter groups)
 * and the drill workflow of every database drilled in one network. The drill role keeps what is
 * about throwaway drill instances (create, describe, delete, their RDS-managed secrets); backups
 * and reports go through the data-access role.
 */
export class FleetDrillRunners extends Construct {
  public readonly drillFunction: RunnerFunction;
  public readonly stateMachine: sfn.StateMachine;
  /** The drill instances' network: security groups, DB subnet group, parameter groups. */
  public readonly network: DrillInstanceNetwork;

  constructor(scope: Construct, id: string, props: FleetDrillRunnersProps) {
    super(scope, id);
    const { group } = props;
    const label = `fleet-${group.id}`;
    this.network = new DrillInstanceNetwork(this, {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      databaseId: label,
      description: { kind: 'Restorable fleet drill', of: `runner group ${group.id}` },
    });

    const env: HandlerEnvInput<'drill'> & DataAccessEnv = {
      BACKUP_BUCKET: props.bucket.bucket.bucketName,
      REPLICA_BUCKET: props.replicaBucket.bucket.bucketName,
      REPLICA_REGION: props.replicaBucket.bucket.env.region,
      ...this.network.environment,
      DRILL_INSTANCE_CLASS: DEFAULT_DRILL_INSTANCE_CLASS,
      DATABASE_ACCESS_ROLE_ARN: props.drillAccessRole.roleArn,
    };
    this.drillFunction = new RunnerFunction(this, 'Function', {
      handler: 'drill',
      description: `Restorable fleet: restore drills of runner group ${group.id}`,
      image: props.image,
      ...this.network.clientPlacement,
      ephemeralStorageSize: Size.gibibytes(10),
      logEncryptionKey: props.logEncryptionKey,
      logRetention: props.logRetention,
      rolePath: fleetRunnerRolePath('drill'),
      environment: env,
    });
    // Drill instances only; no bucket: backups and reports go through the data-access role.
    this.network.grantDrill(this.drillFunction.role, { instanceClass: group.instanceClasses });
    grantAssume(this.drillFunction.role, props.drillAccessRole);

    this.stateMachine = buildDrillStateMachine(this, {
      databaseId: label,
      fn: this.drillFunction.function,
      maxWaitForInstanceMinutes: DEFAULT_DRILL_MAX_WAIT_MINUTES,
      logRetention: props.logRetention,
      logEncryptionKey: props.logEncryptionKey,
      selectPayload: sfn.TaskInput.fromJsonPathAt('$'),
    });
    (this.stateMachine.node.defaultChild as sfn.CfnStateMachine).stateMachineName = group.stateMachineName;
  }
}
