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
 *
 * A Fargate backup group (`runner: "fargate"` databases, fleet-plan.ts) runs the dump and verify
 * as tasks of one FargateRunner instead, with the same environment, role path and assume grant;
 * a Fargate drill group runs the restore-and-check step as a task (the other steps on its function).
 */
import { Duration, Size } from 'aws-cdk-lib';
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
import { fargateInstanceLifetime } from './restore-drill';
import { buildDrillStateMachine } from './restore-drill-workflow';
import { RunnerFunction, type RunnerCommonProps } from './runner-function';
import { FargateRunner } from './fargate-runner';
import { WHOLE_INPUT, type StepRunner } from './runner-step';

/** The IAM path of a workload's runner roles: the data-access role of that workload trusts it. */
export function fleetRunnerRolePath(workload: DataAccessWorkload): string {
  return `/restorable/fleet/${workload}/`;
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
  /** Where the functions (or the Fargate tasks) run: the group's network, imported. */
  readonly placement?: { vpc: ec2.IVpc; subnets: ec2.SubnetSelection; securityGroups: ec2.ISecurityGroup[] };
}

/**
 * Dump, verify and the Dump → Verify workflow of every database of one backup network: Lambda
 * functions, or Fargate tasks for a Fargate group.
 */
export class FleetBackupRunners extends Construct {
  /** The dump function; none in a Fargate group. */
  public readonly dumpFunction?: RunnerFunction;
  /** The verify function; none in a Fargate group. */
  public readonly verifyFunction?: RunnerFunction;
  /** The dump and verify tasks of a Fargate group. */
  public readonly fargateRunner?: FargateRunner;
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
    const dumpEnv: HandlerEnvInput<'dump'> = {
      BACKUP_BUCKET: bucket.bucketName,
      BACKUP_KMS_KEY_ARN: key.keyArn,
      OBJECT_LOCK_MODE: props.objectLockMode,
      RETENTION_DAYS: {
        ...props.bucket.retention.toRetentionDays(),
        adhoc: props.bucket.adhocExpiration.toDays(),
      },
      DATABASE_ACCESS_ROLE_ARN: props.dumpAccessRole.roleArn,
    };
    const verifyEnv: HandlerEnvInput<'verify'> = {
      BACKUP_BUCKET: bucket.bucketName,
      REPLICA_BUCKET: replica.bucketName,
      REPLICA_REGION: replica.env.region,
      OBJECT_LOCK_MODE: props.objectLockMode,
      DATABASE_ACCESS_ROLE_ARN: props.verifyAccessRole.roleArn,
    };

    let runners: { dump: StepRunner; verify: StepRunner };
    if (group.runner === 'fargate') {
      const fargate = group.fargate;
      const placement = props.placement;
      if (!fargate || !placement) {
        throw new Error(`Fargate runner group ${group.id} needs its Fargate settings and a network`);
      }
      // One task definition per handler for every database of the group, sized for the largest
      // (fleet-plan.ts fargateSettingsOf says why not per run). The task roles hold no data
      // permission either: they assume the data-access role under the same path as the functions.
      const runner = new FargateRunner(this, 'Fargate', {
        vpc: placement.vpc,
        vpcSubnets: placement.subnets,
        securityGroups: placement.securityGroups,
        image: props.image,
        size: fargate.size,
        logEncryptionKey: props.logEncryptionKey,
        logRetention: props.logRetention,
      });
      this.fargateRunner = runner;
      const fargateDumpEnv: HandlerEnvInput<'dump'> = {
        ...dumpEnv,
        RUNNER: 'fargate',
        DUMP_LAYOUT: fargate.layout,
        DUMP_JOBS: fargate.jobs,
      };
      runner.addTask({
        handler: 'dump',
        environment: fargateDumpEnv,
        taskRolePath: fleetRunnerRolePath('dump'),
        grant: (role) => grantAssume(role, props.dumpAccessRole),
      });
      runner.addTask({
        handler: 'verify',
        environment: verifyEnv,
        taskRolePath: fleetRunnerRolePath('verify'),
        grant: (role) => grantAssume(role, props.verifyAccessRole),
      });
      // The deadline of every run is the group's longest timeoutHours: a database's own timeout
      // is then a lower bound of its run's (the dump's DEADLINE failure names the fix).
      const deadline = Duration.hours(fargate.timeoutHours);
      runners = {
        dump: { kind: 'fargate', runner, handler: 'dump', deadline },
        verify: { kind: 'fargate', runner, handler: 'verify', deadline },
      };
    } else {
      const dumpFunction = new RunnerFunction(this, 'Dump', {
        ...common,
        handler: 'dump',
        description: `Restorable fleet: dump the databases of runner group ${group.id}`,
        rolePath: fleetRunnerRolePath('dump'),
        environment: dumpEnv,
      });
      const verifyFunction = new RunnerFunction(this, 'Verify', {
        ...common,
        handler: 'verify',
        description: `Restorable fleet: verify the backups of runner group ${group.id}`,
        rolePath: fleetRunnerRolePath('verify'),
        environment: verifyEnv,
      });
      grantAssume(dumpFunction.role, props.dumpAccessRole);
      grantAssume(verifyFunction.role, props.verifyAccessRole);
      this.dumpFunction = dumpFunction;
      this.verifyFunction = verifyFunction;
      runners = {
        dump: { kind: 'lambda', fn: dumpFunction.function },
        verify: { kind: 'lambda', fn: verifyFunction.function },
      };
    }

    this.stateMachine = buildBackupStateMachine(
      this,
      {
        databaseId: `fleet-${group.id}`,
        alarmTopic: props.alarmTopic,
        logRetention: props.logRetention,
        logEncryptionKey: props.logEncryptionKey,
      },
      runners,
      { dumpPayload: WHOLE_INPUT, databaseFromInput: true },
    );
    (this.stateMachine.node.defaultChild as sfn.CfnStateMachine).stateMachineName = group.stateMachineName;
    if (this.fargateRunner) {
      // The tasks answer their own task tokens (runner-step.ts), on this state machine only.
      this.fargateRunner.grantTaskResponse('dump', this.stateMachine);
      this.fargateRunner.grantTaskResponse('verify', this.stateMachine);
      FargateRunner.suppressStateMachineFindings(this.stateMachine);
    }
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
  /** The restore-and-check task of a Fargate group (the other steps stay on the function). */
  public readonly fargateRunner?: FargateRunner;
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

    const env: HandlerEnvInput<'drill'> = {
      BACKUP_BUCKET: props.bucket.bucket.bucketName,
      REPLICA_BUCKET: props.replicaBucket.bucket.bucketName,
      REPLICA_REGION: props.replicaBucket.bucket.env.region,
      ...this.network.environment,
      DRILL_INSTANCE_CLASS: DEFAULT_DRILL_INSTANCE_CLASS,
      // A Fargate restore may outlast the default lifetime: the instance must outlive the longest
      // (the sweeper deletes it at its expiry), as RestoreDrill sets it for one database.
      DRILL_MAX_LIFETIME_HOURS: group.fargate
        ? fargateInstanceLifetime({
            fargate: { timeout: Duration.hours(group.fargate.timeoutHours) },
          })?.toHours()
        : undefined,
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
    const grantDrill = (role: iam.Role) => {
      this.network.grantDrill(role, { instanceClass: group.instanceClasses });
      grantAssume(role, props.drillAccessRole);
    };
    grantDrill(this.drillFunction.role);

    let restoreRunner: StepRunner | undefined;
    if (group.runner === 'fargate') {
      if (!group.fargate) throw new Error(`Fargate drill group ${group.id} needs its Fargate settings`);
      // The task is a drill client like the function (RestoreDrill does the same for one
      // database): its security group, subnets and grants, its role under the drill path. Sized
      // for the group's largest database; each run's pg_restore -j comes in its drill settings.
      const runner = new FargateRunner(this, 'Fargate', {
        ...this.network.clientPlacement,
        image: props.image,
        size: group.fargate.size,
        logEncryptionKey: props.logEncryptionKey,
        logRetention: props.logRetention,
      });
      runner.addTask({
        handler: 'drill',
        environment: env,
        taskRolePath: fleetRunnerRolePath('drill'),
        grant: grantDrill,
      });
      this.fargateRunner = runner;
      restoreRunner = {
        kind: 'fargate',
        runner,
        handler: 'drill',
        deadline: Duration.hours(group.fargate.timeoutHours),
      };
    }

    this.stateMachine = buildDrillStateMachine(this, {
      databaseId: label,
      fn: this.drillFunction.function,
      maxWaitForInstanceMinutes: DEFAULT_DRILL_MAX_WAIT_MINUTES,
      logRetention: props.logRetention,
      logEncryptionKey: props.logEncryptionKey,
      selectPayload: sfn.TaskInput.fromJsonPathAt('$'),
      restoreRunner,
    });
    (this.stateMachine.node.defaultChild as sfn.CfnStateMachine).stateMachineName = group.stateMachineName;
    if (this.fargateRunner) {
      this.fargateRunner.grantTaskResponse('drill', this.stateMachine);
      FargateRunner.suppressStateMachineFindings(this.stateMachine);
    }
  }
}
