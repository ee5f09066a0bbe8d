/**
 * A fleet group stack: the runners of up to MAX_RUNNER_GROUPS_PER_STACK runner groups (one per
 * network, plus Fargate groups where `runner: "fargate"` databases are), so no stack nears CloudFormation's resource quota however many databases the fleet
 * has. Separate stacks, not nested ones: a group that fails to deploy (a deleted VPC, a security
 * group quota) fails alone instead of rolling back the fleet, and `cdk diff` shows each group's
 * IAM changes (docs/FLEETS.md). References go one way only, from the group to the fleet stack
 * (bucket, key, topic, data-access roles); the fleet stack reaches the groups' workflows by their
 * fixed names. Each runner function's error alarm is here too, paging the fleet's on-call topic.
 */
import { Stack, type StackProps } from 'aws-cdk-lib';
import { type App } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { suppressControls } from '../control-tower';
import { FleetBackupRunners, FleetDrillRunners } from '../constructs/fleet-runners';
import type { RunnerFunction } from '../constructs/runner-function';
import type { BackupRunnerGroup, DrillRunnerGroup } from '../fleet-plan';
import { pascalCase } from '../naming';
import { importNetwork } from '../vpc-import';
import { LOG_RETENTION, type BackupStack } from './backup-stack';
import { applyGovernedAccountDefaults } from './governed-account';

export interface FleetGroupStackProps extends Omit<StackProps, 'env'> {
  /** The fleet (primary) stack, with `fleet` and `fleetPlan` set. */
  readonly fleetStack: BackupStack;
  /** Which group stack this is (1-based, as in FleetPlan). */
  readonly index: number;
}

export class FleetGroupStack extends Stack {
  public readonly backupRunners: FleetBackupRunners[] = [];
  public readonly drillRunners: FleetDrillRunners[] = [];

  constructor(scope: Construct, id: string, props: FleetGroupStackProps) {
    const { fleetStack } = props;
    const { config, fleet, fleetPlan: plan } = fleetStack;
    if (!fleet || !plan)
      throw new Error(`${fleetStack.stackName} is not in the fleet shape (fleet.shape: "fleet")`);
    super(scope, id, {
      description: `Restorable fleet runner groups (${props.index} of ${plan.stackCount}): dump, verify and drill per network`,
      terminationProtection: true,
      ...props,
      env: { account: config.account, region: config.primaryRegion },
    });
    const common = {
      bucket: fleetStack.backups,
      replicaBucket: fleetStack.replica,
      logEncryptionKey: fleetStack.monitoring.key,
      logRetention: LOG_RETENTION,
    };
    const mine = <T extends BackupRunnerGroup | DrillRunnerGroup>(groups: readonly T[]) =>
      groups.filter((g) => g.stackIndex === props.index);

    // Each runner function pages on its own errors, named by group and workload, as each function
    // of the per-database shape does. The fleet's Metrics Insights alarms page by database from the
    // metrics the handler writes; an invocation that ends before writing them (init or
    // configuration failure, out of memory, timeout) is only a Lambda error, and a broken function
    // fails every database of its group at once. One standard alarm per function, in this stack,
    // paging the fleet stack's topic: a
    // Metrics Insights query over AWS/Lambda could select the group's functions only by their
    // exact (generated) names, sees only the last 3 hours, and counts against the account's 200
    // Metrics Insights alarms; these cost one resource per function (at most 24 a stack).
    const pageOnErrors = (
      scope: Construct,
      workload: string,
      fn: RunnerFunction,
      group: string,
      where: string,
    ) =>
      fleetStack.monitoring.addErrorAlarm(`${pascalCase(group)}${pascalCase(workload)}`, fn.function, {
        scope,
        description:
          `The fleet ${workload} function of runner group ${group} (${where}) failed ` +
          `(see its log group; the failed execution of the group's workflow names the database).`,
      });

    for (const group of mine(plan.backupGroups)) {
      const scopeOf = new Construct(this, `Backup-${group.id}`);
      const network = group.network && importNetwork(new Construct(scopeOf, 'Network'), group.network);
      const runners = new FleetBackupRunners(scopeOf, 'Runners', {
        ...common,
        group,
        dumpAccessRole: fleet.accessRoles.dump.role,
        verifyAccessRole: fleet.accessRoles.verify.role,
        alarmTopic: fleetStack.monitoring.topic,
        objectLockMode: config.objectLock.mode,
        placement: network,
      });
      const where = group.network ? `network ${group.network.vpcId}` : 'outside any VPC';
      // A Fargate group has no function: a task that fails without answering is recorded as the
      // database's failure metric by the workflow (runner-step.ts), which the fleet alarms page on.
      if (runners.dumpFunction) pageOnErrors(scopeOf, 'dump', runners.dumpFunction, group.id, where);
      if (runners.verifyFunction) pageOnErrors(scopeOf, 'verify', runners.verifyFunction, group.id, where);
      this.backupRunners.push(runners);
    }
    for (const group of mine(plan.drillGroups)) {
      const scopeOf = new Construct(this, `Drill-${group.id}`);
      const network = importNetwork(new Construct(scopeOf, 'Network'), {
        ...group.network,
        securityGroupIds: [],
      });
      const runners = new FleetDrillRunners(scopeOf, 'Runners', {
        ...common,
        group,
        drillAccessRole: fleet.accessRoles.drill.role,
        vpc: network.vpc,
        vpcSubnets: network.subnets,
      });
      pageOnErrors(scopeOf, 'drill', runners.drillFunction, group.id, `network ${group.network.vpcId}`);
      this.drillRunners.push(runners);
    }
    applyGovernedAccountDefaults(this, { reservedConcurrency: config.functions.reservedConcurrency });
    // Every log group here is encrypted with the fleet stack's monitoring key, named through a
    // cross-stack reference (Fn::GetStackOutput) that the published control's rule does not
    // resolve; control-tower.test.ts asserts each one names it.
    for (const node of this.node.findAll()) {
      if (node instanceof logs.CfnLogGroup && node.kmsKeyId !== undefined) {
        suppressControls(node, {
          cloudwatch_log_group_encrypted_check:
            "encrypted with the fleet stack's monitoring key, named by a cross-stack reference the rule cannot resolve",
        });
      }
    }
  }
}

/** The group stacks of a fleet-shaped BackupStack (none for the per-database shape), each after it. */
export function addFleetGroupStacks(app: App | Construct, fleetStack: BackupStack): FleetGroupStack[] {
  const plan = fleetStack.fleetPlan;
  if (!plan) return [];
  return Array.from({ length: plan.stackCount }, (_, i) => {
    const stack = new FleetGroupStack(app, `RestorableFleetGroup${i + 1}`, { fleetStack, index: i + 1 });
    stack.addStackDependency(fleetStack, 'the runners use its bucket, key, topic and data-access roles');
    return stack;
  });
}
