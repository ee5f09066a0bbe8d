/**
 * A fleet group stack: the runners of up to MAX_RUNNER_GROUPS_PER_STACK runner groups (one per
 * network), so no stack nears CloudFormation's resource quota however many databases the fleet
 * has. Separate stacks, not nested ones: a group that fails to deploy (a deleted VPC, a security
 * group quota) fails alone instead of rolling back the fleet, and `cdk diff` shows each group's
 * IAM changes (docs/FLEETS.md). References go one way only, from the group to the fleet stack
 * (bucket, key, topic, data-access roles); the fleet stack reaches the groups' workflows by their
 * fixed names.
 */
import { Stack, type StackProps } from 'aws-cdk-lib';
import { type App } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { suppressControls } from '../control-tower';
import { FleetBackupRunners, FleetDrillRunners } from '../constructs/fleet-runners';
import type { BackupRunnerGroup, DrillRunnerGroup } from '../fleet-plan';
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

    for (const group of mine(plan.backupGroups)) {
      const scopeOf = new Construct(this, `Backup-${group.id}`);
      const network = group.network && importNetwork(new Construct(scopeOf, 'Network'), group.network);
      this.backupRunners.push(
        new FleetBackupRunners(scopeOf, 'Runners', {
          ...common,
          group,
          dumpAccessRole: fleet.accessRoles.dump.role,
          verifyAccessRole: fleet.accessRoles.verify.role,
          alarmTopic: fleetStack.monitoring.topic,
          objectLockMode: config.objectLock.mode,
          placement: network,
        }),
      );
    }
    for (const group of mine(plan.drillGroups)) {
      const scopeOf = new Construct(this, `Drill-${group.id}`);
      const network = importNetwork(new Construct(scopeOf, 'Network'), {
        ...group.network,
        securityGroupIds: [],
      });
      this.drillRunners.push(
        new FleetDrillRunners(scopeOf, 'Runners', {
          ...common,
          group,
          drillAccessRole: fleet.accessRoles.drill.role,
          vpc: network.vpc,
          vpcSubnets: network.subnets,
        }),
      );
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
