/**
 * The fleet part of the primary stack: one data-access role per workload (ABAC, the only roles
 * that touch a database's backups and secret), the discovery functions, and the backup and drill
 * orchestrators with their schedules (the fleet's, and one per other expression listed databases
 * use). The runners themselves are in the group stacks (FleetGroupStack), which the orchestrators
 * reach by their fixed workflow names, so this stack never depends on them.
 */
import { ArnFormat, Annotations, Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { FleetWorkload } from '../../lambda/core/fleet-settings';
import type { RestorableConfig } from '../config';
import { runnerGroupsOf, type FleetPlan } from '../fleet-plan';
import type { IBackupBucket } from './backup-bucket';
import { DatabaseAccessRole, type DataAccessWorkload } from './database-access-role';
import { FleetOrchestrator } from './fleet-orchestrator';
import { fleetRunnerRolePath } from './fleet-runners';
import { RunnerFunction, type RunnerCommonProps } from './runner-function';

export interface FleetOperationsProps extends RunnerCommonProps {
  readonly config: RestorableConfig;
  readonly plan: FleetPlan;
  readonly bucket: IBackupBucket;
  readonly replicaBucket: IBackupBucket;
}

/**
 * What discovery may call: describe RDS instances and clusters (and their tags) of this account
 * and region, and read secrets' metadata (never a value) to check they exist and whom they are
 * tagged for. Also used by the freshness check, which discovers the databases it must measure.
 * `placement`: also describe DB subnet groups, for the VPC of a cluster without instances (only
 * the discovery functions route by VPC).
 */
export function grantDiscovery(role: iam.IGrantable, { placement = false } = {}): void {
  const stack = Stack.of(role.grantPrincipal as unknown as Construct);
  const rds = (resource: string) =>
    stack.formatArn({
      service: 'rds',
      resource,
      resourceName: '*',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  iam.Grant.addToPrincipal({
    grantee: role,
    actions: ['rds:DescribeDBInstances', 'rds:DescribeDBClusters', 'rds:ListTagsForResource'],
    resourceArns: [rds('db'), rds('cluster')],
  });
  if (placement) {
    iam.Grant.addToPrincipal({
      grantee: role,
      actions: ['rds:DescribeDBSubnetGroups'],
      resourceArns: [rds('subgrp')],
    });
  }
  iam.Grant.addToPrincipal({
    grantee: role,
    actions: ['secretsmanager:DescribeSecret'],
    resourceArns: [
      stack.formatArn({
        service: 'secretsmanager',
        resource: 'secret',
        resourceName: '*',
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    ],
  });
  if (Construct.isConstruct(role.grantPrincipal)) {
    NagSuppressions.addResourceSuppressions(
      role.grantPrincipal,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Discovery finds databases by tag at run time: it describes every RDS instance and cluster of this account and region ' +
            "and reads secrets' metadata (DescribeSecret, never GetSecretValue) to check the one it will use exists.",
          appliesTo: [
            { regex: '/^Resource::arn:.*:rds:.*:(db|cluster|subgrp):\\*$/' },
            { regex: '/^Resource::arn:.*:secretsmanager:.*:secret:\\*$/' },
          ],
        },
      ],
      true,
    );
  }
}

export class FleetOperations extends Construct {
  /** The data-access role of each workload: the runners assume it per run, tagged with the database. */
  public readonly accessRoles: Readonly<Record<DataAccessWorkload, DatabaseAccessRole>>;
  public readonly discovery: Readonly<Record<FleetWorkload, RunnerFunction>>;
  public readonly backupOrchestrator: FleetOrchestrator;
  /** Absent when no database is drilled (no listed drill and no selection). */
  public readonly drillOrchestrator?: FleetOrchestrator;

  constructor(scope: Construct, id: string, props: FleetOperationsProps) {
    super(scope, id);
    const { config, plan } = props;

    const accessRole = (workload: DataAccessWorkload) =>
      new DatabaseAccessRole(this, `${workload[0].toUpperCase()}${workload.slice(1)}Access`, {
        bucket: props.bucket,
        replicaBucket: props.replicaBucket,
        runnerRolePath: fleetRunnerRolePath(workload),
        workload,
      });
    this.accessRoles = { dump: accessRole('dump'), verify: accessRole('verify'), drill: accessRole('drill') };
    for (const role of Object.values(this.accessRoles)) {
      NagSuppressions.addResourceSuppressions(
        role.role,
        [
          {
            // Only the secrets: the object ARNs name the session's database and are suppressed by
            // BackupBucketGrants for exactly those prefixes.
            id: 'AwsSolutions-IAM5',
            reason:
              'ABAC: secrets of this account and region only where their restorable:database tag equals the ' +
              "session's ${aws:PrincipalTag/restorable:database} (or RDS's own secret of the session's rds-resource); " +
              'which secret a discovered database uses is known only at run time.',
            appliesTo: [{ regex: '/^Resource::arn:[^:]+:secretsmanager:[^:]+:[^:]+:secret:\\*$/' }],
          },
          {
            id: 'NIST.800.53.R5-IAMNoInlinePolicy',
            reason: 'The policy belongs to this one role and shares its lifecycle.',
          },
        ],
        true,
      );
    }

    const selection = config.selection;
    const discoveryFunction = (workload: FleetWorkload) => {
      const fn = new RunnerFunction(this, workload === 'backup' ? 'BackupDiscovery' : 'DrillDiscovery', {
        handler: 'discovery',
        description: `Restorable fleet: the listed and tag-selected databases to ${workload === 'backup' ? 'back up' : 'drill'}`,
        image: props.image,
        logEncryptionKey: props.logEncryptionKey,
        logRetention: props.logRetention,
        // The listed databases travel in the event (a Lambda environment holds 4 KB in all).
        environment: {
          WORKLOAD: workload,
          ...(selection ? { SELECTION: selection } : {}),
          DEFAULTS: {
            rpoHours: config.fleet.rpoHours,
            drillWindowDays: plan.defaults.drillWindowDays,
            execution: workload === 'backup' ? plan.defaults.backupExecution : plan.defaults.drillExecution,
            ...(selection ? { runnerGroups: runnerGroupsOf(plan, workload) } : {}),
          },
        },
      });
      if (selection) grantDiscovery(fn.role, { placement: true });
      return fn;
    };
    this.discovery = { backup: discoveryFunction('backup'), drill: discoveryFunction('drill') };

    const byGroup = (groups: readonly { id: string; stateMachineName: string }[]) =>
      Object.fromEntries(
        groups.map((g) => [
          g.id,
          sfn.StateMachine.fromStateMachineName(this, `Workflow${g.id}`, g.stateMachineName),
        ]),
      );
    const schedule = (expression: string) =>
      scheduler.ScheduleExpression.expression(expression, TimeZone.ETC_UTC);
    const common = {
      startJitter: Duration.minutes(config.fleet.startJitterMinutes),
      logEncryptionKey: props.logEncryptionKey,
      logRetention: props.logRetention,
    };

    this.backupOrchestrator = new FleetOrchestrator(this, 'Backups', {
      ...common,
      workload: 'backup',
      discoveryFunction: this.discovery.backup.function,
      targets: byGroup(plan.backupGroups),
      schedule: schedule(config.fleet.schedule),
      maxConcurrency: config.fleet.maxConcurrentBackups,
      scheduleInput: { excludeDatabaseIds: [...plan.backupSchedules.values()].flat() },
      discoveryEvent: {
        listedDatabases: plan.listed.map((db) => ({
          id: db.id,
          rpoHours: db.rpoHours,
          execution: db.backupExecution,
        })),
      },
    });
    addScheduleGroups(this.backupOrchestrator, plan.backupSchedules, schedule);

    const drilled = plan.listed.filter((db) => db.drill);
    if (plan.drillGroups.length > 0) {
      this.drillOrchestrator = new FleetOrchestrator(this, 'Drills', {
        ...common,
        workload: 'drill',
        discoveryFunction: this.discovery.drill.function,
        targets: byGroup(plan.drillGroups),
        schedule: schedule(config.fleet.drillSchedule),
        maxConcurrency: config.fleet.maxConcurrentDrills,
        scheduleInput: { excludeDatabaseIds: [...plan.drillSchedules.values()].flat() },
        discoveryEvent: {
          listedDatabases: drilled.map((db) => ({
            id: db.id,
            rpoHours: db.rpoHours,
            drillWindowDays: db.drill!.windowDays,
            execution: db.drill!.execution,
          })),
        },
      });
      addScheduleGroups(this.drillOrchestrator, plan.drillSchedules, schedule);
    }
    for (const id of plan.undrillable) {
      Annotations.of(this).addWarningV2(
        'restorable:drillNeedsVpc',
        `databases "${id}": restore drills need a VPC for the ephemeral RDS instance and this database has none; ` +
          'it is not drilled (set databases[].drill.vpc, or disable drills with drill.enabled=false)',
      );
    }
  }
}

/** One schedule per distinct expression of listed databases, starting only those databases. */
function addScheduleGroups(
  orchestrator: FleetOrchestrator,
  schedules: ReadonlyMap<string, readonly string[]>,
  schedule: (expression: string) => scheduler.ScheduleExpression,
): void {
  [...schedules].forEach(([expression, databaseIds], i) => {
    orchestrator.addSchedule(`Schedule${i + 1}`, schedule(expression), { databaseIds: [...databaseIds] });
  });
}
