/**
 * The "done when" for the stack shape: a config of 300 databases (240 listed with varied
 * settings, the rest selected by tag) synthesizes, every stack stays under 400 resources, and
 * per-database isolation holds in the IAM: only the ABAC data-access roles touch backups and
 * secrets, every one of their object ARNs names the session's database tag, and a session for one
 * database reaches none of another's. Plus what the config decides: the orchestrators' bounds and
 * jitter, one schedule per distinct expression, the runner groups of fleet networks no listed
 * database uses, and the discovery functions' environment (4 KB at most) with many networks.
 */
import { Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { PRINCIPAL_DATABASE } from '../../lib/constructs/database-access-role';
import { parseConfig } from '../../lib/config';
import { MAX_FLEET_NETWORKS } from '../../lib/config/fleet';
import { MAX_RUNNER_GROUPS_PER_STACK, RUNNER_GROUP_KEY } from '../../lib/fleet-plan';
import { FLEET_BACKUP_ORCHESTRATOR_OUTPUT, FLEET_DRILL_ORCHESTRATOR_OUTPUT } from '../../lib/outputs';
import { BackupStack } from '../../lib/stacks/backup-stack';
import { ReplicaStack } from '../../lib/stacks/replica-stack';
import { newApp } from './cdk-support';
import {
  FARGATE_LISTED,
  FLEET_NETWORKS,
  fleetApp,
  fleetConfig,
  fleetConfigInput,
  LISTED,
  network,
} from './fleet-support';
import { allowed } from './iam-eval';
import {
  definitionOf,
  flatten,
  resourcesOf,
  statementsOf,
  type PolicyStatementJson,
} from './workflow-support';

/** Below CloudFormation's 500, with room to grow: the bar. */
const RESOURCE_BUDGET = 400;

const { backup, groups } = fleetApp(fleetConfig());
const templates = new Map<Stack, Template>([backup, ...groups].map((s) => [s, Template.fromStack(s)]));
const template = (stack: Stack) => templates.get(stack)!;
const resourceCount = (stack: Stack) => Object.keys(template(stack).toJSON().Resources as object).length;

/** Every identity statement of every role of `stack` (inline policies), with the role's logical id. */
function roleStatements(stack: Stack): { role: string; path?: string; statements: PolicyStatementJson[] }[] {
  const t = template(stack);
  const roles = t.findResources('AWS::IAM::Role');
  const policies = Object.values(t.findResources('AWS::IAM::Policy')) as {
    Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: PolicyStatementJson[] } };
  }[];
  return Object.entries(roles).map(([logicalId, role]) => ({
    role: logicalId,
    path: (role as { Properties: { Path?: string } }).Properties.Path,
    statements: policies
      .filter((p) => p.Properties.Roles.some((r) => r.Ref === logicalId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement),
  }));
}

const idOf = (stack: Stack, construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);

interface AlarmJson {
  Properties: {
    AlarmName: string;
    AlarmDescription: string;
    Namespace?: string;
    MetricName?: string;
    Dimensions?: { Name: string; Value: unknown }[];
    Threshold: number;
    ComparisonOperator: string;
    AlarmActions: unknown[];
    OKActions: unknown[];
  };
}

/** Every runner function of a group stack with the group and workload it runs. */
function runnerFunctions(group: (typeof groups)[number]) {
  const plan = backup.fleetPlan!;
  const index = groups.indexOf(group) + 1;
  const backupGroups = plan.backupGroups.filter((g) => g.stackIndex === index);
  const drillGroups = plan.drillGroups.filter((g) => g.stackIndex === index);
  const fn = (f: { function: lambda.IFunction }) => idOf(group, f.function);
  return [
    // A Fargate group has tasks, not functions.
    ...group.backupRunners.flatMap((r, i) =>
      r.dumpFunction && r.verifyFunction
        ? [
            { id: fn(r.dumpFunction), group: backupGroups[i].id, workload: 'dump' },
            { id: fn(r.verifyFunction), group: backupGroups[i].id, workload: 'verify' },
          ]
        : [],
    ),
    ...group.drillRunners.map((r, i) => ({
      id: fn(r.drillFunction),
      group: drillGroups[i].id,
      workload: 'drill',
    })),
  ];
}

/** The fleet stack's value an action of a group stack names, through the cross-stack reference. */
function fleetValueOf(action: unknown): unknown {
  const ref = (action as { 'Fn::GetStackOutput'?: { StackName: string; OutputName: string } })[
    'Fn::GetStackOutput'
  ];
  expect(ref?.StackName).toBe(backup.stackName);
  const outputs = template(backup).toJSON().Outputs as Record<string, { Value: unknown }>;
  return outputs[ref!.OutputName].Value;
}

const actions = (s: PolicyStatementJson) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const DATA_ACTIONS = /^(s3:(Get|Put)Object.*|s3:ListBucket|secretsmanager:GetSecretValue)$/;

describe(`a fleet of ${LISTED} listed and tag-selected databases`, () => {
  it('synthesizes into the fleet stack and group stacks, each under 400 resources', () => {
    const counts = Object.fromEntries([backup, ...groups].map((s) => [s.stackName, resourceCount(s)]));
    const plan = backup.fleetPlan!;
    // 19 backup groups (12 listed networks, the 3 fleet networks, outside any VPC, and the Fargate
    // groups of networks 7, 3 (directory) and 11) and 15 drill groups (the 10 listed networks with
    // a drilled database, the 3 fleet networks, the Fargate groups of networks 7 and 3), at most
    // MAX_RUNNER_GROUPS_PER_STACK per stack.
    // Measured: 106, 216, 219 and 183 resources (each runner function's error alarm included; a
    // Fargate backup group is 16: cluster, log group, two task definitions with four roles and
    // their policies, the workflow with its role, policy and log group; a Fargate drill group is a
    // drill group plus 7: cluster, log group, task definition, two roles and their policies).
    expect([plan.backupGroups.length, plan.drillGroups.length]).toEqual([19, 15]);
    expect(groups).toHaveLength(
      Math.ceil((plan.backupGroups.length + plan.drillGroups.length) / MAX_RUNNER_GROUPS_PER_STACK),
    );
    for (const [name, count] of Object.entries(counts)) {
      expect({ name, underBudget: count < RESOURCE_BUDGET }).toEqual({ name, underBudget: true });
    }
    // No per-database construct in the fleet stack: no per-database workflow, drill or alarm set.
    expect(Object.keys(template(backup).findResources('AWS::StepFunctions::StateMachine'))).toHaveLength(2);
  });

  it('runs every listed database on a runner group of its network, and tag-selected ones on their VPC’s fleet network', () => {
    const plan = backup.fleetPlan!;
    expect(plan.listed).toHaveLength(LISTED);
    const lambdaGroups = plan.backupGroups.filter((g) => g.runner === 'lambda');
    expect(lambdaGroups.map((g) => g.network?.vpcId ?? 'none').sort()).toEqual(
      [...Array.from({ length: 15 }, (_, n) => network(n).vpcId), 'none'].sort(),
    );
    expect(plan.defaults.backupGroup).toBe(plan.backupGroups[0].id);
    expect(Object.keys(plan.defaults.networks)).toEqual(FLEET_NETWORKS.map((n) => network(n).vpcId));
    expect(plan.defaults.backupExecution).toMatchObject({ tier: 'auto' });
    const external = plan.listed.find((d) => d.id === 'db-020')!;
    expect(external.backupGroup).toBe('public');
    expect(external.drill?.group).toBe(plan.listed.find((d) => d.id === 'db-001')!.drill?.group);
  });

  it('creates the backup and drill runners of the fleet networks no listed database uses, and routes their VPCs to them', () => {
    const plan = backup.fleetPlan!;
    const functionsIn = (subnetIds: readonly string[]) =>
      groups.flatMap((g) =>
        Object.values(template(g).findResources('AWS::Lambda::Function')).filter((fn) => {
          const subnets = (fn as { Properties: { VpcConfig?: { SubnetIds: string[] } } }).Properties.VpcConfig
            ?.SubnetIds;
          return subnets !== undefined && [...subnets].sort().join() === [...subnetIds].sort().join();
        }),
      );
    const defaultsOf = (workload: 'backup' | 'drill') =>
      JSON.parse(
        (
          template(backup).toJSON().Resources[
            backup.getLogicalId(backup.fleet!.discovery[workload].function.node.defaultChild as never)
          ] as { Properties: { Environment: { Variables: Record<string, string> } } }
        ).Properties.Environment.Variables.DEFAULTS,
      ) as { runnerGroups: Record<string, string>; execution: Record<string, unknown> };
    const routes = { backup: defaultsOf('backup'), drill: defaultsOf('drill') };
    const orchestrator = {
      backup: definitionOf(backup, backup.fleet!.backupOrchestrator.stateMachine),
      drill: definitionOf(backup, backup.fleet!.drillOrchestrator!.stateMachine),
    };
    for (const n of FLEET_NETWORKS.slice(1)) {
      const { vpcId, subnetIds } = network(n);
      const ids = plan.defaults.networks[vpcId];
      expect(plan.listed.some((db) => db.backupGroup === ids.backupGroup)).toBe(false);
      const home = groups.find((g) => g.node.tryFindChild(`Backup-${ids.backupGroup}`));
      expect(home?.node.tryFindChild(`Backup-${ids.backupGroup}`)).toBeDefined();
      expect(groups.some((g) => g.node.tryFindChild(`Drill-${ids.drillGroup}`))).toBe(true);
      // Dump, verify and drill functions placed in its subnets.
      expect(functionsIn(subnetIds).length).toBeGreaterThanOrEqual(3);
      expect(routes.backup.runnerGroups[vpcId]).toBe(ids.backupGroup);
      expect(routes.drill.runnerGroups[vpcId]).toBe(ids.drillGroup);
      // The orchestrators start each group's workflow.
      expect(JSON.stringify(orchestrator.backup)).toContain(`"StringEquals":"${ids.backupGroup}"`);
      expect(JSON.stringify(orchestrator.drill)).toContain(`"StringEquals":"${ids.drillGroup}"`);
    }
    expect(routes.backup.execution).not.toHaveProperty(RUNNER_GROUP_KEY);
  });

  it(`keeps the discovery functions' environment under Lambda's 4 KB with ${MAX_FLEET_NETWORKS} fleet networks`, () => {
    const sizes = [12, MAX_FLEET_NETWORKS].map((count) => {
      const input = fleetConfigInput(2);
      (input.fleet as Record<string, unknown>).networks = Array.from({ length: count }, (_, i) =>
        network(20 + i),
      );
      input.selection = { tags: { 'restorable:backup': 'nightly', team: 'payments-platform', env: '*' } };
      const config = parseConfig(input);
      const app = newApp();
      new ReplicaStack(app, 'RestorableReplica', { config });
      const stack = new BackupStack(app, 'RestorableBackup', { config });
      const resources = Template.fromStack(stack).toJSON().Resources as Record<string, unknown>;
      return (['backup', 'drill'] as const).map((workload) => {
        const fn = stack.fleet!.discovery[workload].function.node.defaultChild as never;
        const vars = (
          resources[stack.getLogicalId(fn)] as {
            Properties: { Environment: { Variables: Record<string, unknown> } };
          }
        ).Properties.Environment.Variables;
        expect(Object.keys(JSON.parse(vars.DEFAULTS as string).runnerGroups)).toHaveLength(count + 1);
        // As Lambda counts it: every name and value.
        return Object.entries(vars).reduce(
          (bytes, [name, value]) =>
            bytes + name.length + (typeof value === 'string' ? value : JSON.stringify(value)).length,
          0,
        );
      });
    });
    // Measured: about 750 / 840 bytes (backup / drill) with 12 networks, 2.1 / 2.2 KB with 50.
    expect(Math.max(...sizes[0])).toBeLessThan(1024);
    expect(Math.max(...sizes[1])).toBeLessThan(4096);
  });

  it('gives no runner role a data permission: only the data-access roles read backups and secrets', () => {
    for (const group of groups) {
      for (const { role, path, statements } of roleStatements(group)) {
        const data = statements.filter(
          (s) => s.Effect === 'Allow' && actions(s).some((a) => DATA_ACTIONS.test(a)),
        );
        // The drill's own throwaway instances' master secrets are the only secrets a runner reads.
        const notDrillSecrets = data.filter(
          (s) => !resourcesOf(s).every((r) => r.includes(':secret:rds!db-*')),
        );
        expect({ role, data: notDrillSecrets }).toEqual({ role, data: [] });
        if (path) expect(path).toMatch(/^\/restorable\/fleet\/(dump|verify|drill)\/$/);
      }
    }
    const discovery = backup.fleet!.discovery.backup.role;
    const discoveryActions = statementsOf(template(backup), backup, discovery).flatMap(actions);
    expect(discoveryActions.filter((a) => DATA_ACTIONS.test(a))).toEqual([]);
    expect(discoveryActions).toEqual(
      expect.arrayContaining([
        'rds:DescribeDBInstances',
        // The VPC of a cluster without instances, to route it to its network's runners.
        'rds:DescribeDBSubnetGroups',
        'secretsmanager:DescribeSecret',
      ]),
    );
  });

  it("names the session's database in every object ARN of the data-access roles", () => {
    for (const workload of ['dump', 'verify', 'drill'] as const) {
      const role = backup.fleet!.accessRoles[workload].role;
      const statements = statementsOf(template(backup), backup, role);
      const objectArns = statements
        .filter((s) => actions(s).some((a) => /^s3:(Get|Put)Object/.test(a)))
        .flatMap(resourcesOf);
      expect(objectArns.length).toBeGreaterThan(0);
      for (const arn of objectArns) expect(arn).toContain(`/${PRINCIPAL_DATABASE}/`);
      const secrets = statements.filter((s) => actions(s).includes('secretsmanager:GetSecretValue'));
      expect(secrets.length > 0).toBe(workload === 'dump');
    }
  });

  it('lets a dump session for db-001 write db-001 and nothing of db-002, and only runner roles under its path assume it', () => {
    const role = backup.fleet!.accessRoles.dump.role;
    const statements = statementsOf(template(backup), backup, role);
    // The primary bucket's ARN as the policy writes it (a reference, flattened the same way).
    const bucketArn = statements
      .filter((s) => actions(s).includes('s3:PutObject'))
      .flatMap(resourcesOf)[0]
      .split('/')[0];
    const key = (db: string) => `${bucketArn}/daily/${db}/2026-11-27/${db}-20261127T020000Z.dump`;
    const context = { 'aws:PrincipalTag/restorable:database': 'db-001' };
    expect(allowed(statements, { action: 's3:PutObject', resource: key('db-001'), context })).toBe(true);
    expect(allowed(statements, { action: 's3:PutObject', resource: key('db-002'), context })).toBe(false);
    expect(allowed(statements, { action: 's3:GetObject', resource: key('db-002'), context })).toBe(false);
    const secret = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:restorable/db-002-AbC123';
    expect(
      allowed(statements, {
        action: 'secretsmanager:GetSecretValue',
        resource: secret,
        context: { ...context, 'secretsmanager:ResourceTag/restorable:database': 'db-002' },
      }),
    ).toBe(false);
    expect(
      allowed(statements, {
        action: 'secretsmanager:GetSecretValue',
        resource: secret,
        context: { ...context, 'secretsmanager:ResourceTag/restorable:database': 'db-001' },
      }),
    ).toBe(true);

    const trust = (
      template(backup).toJSON().Resources[backup.getLogicalId(role.node.defaultChild as iam.CfnRole)] as {
        Properties: { AssumeRolePolicyDocument: { Statement: PolicyStatementJson[] } };
      }
    ).Properties.AssumeRolePolicyDocument.Statement;
    expect(trust).toHaveLength(1);
    expect(flatten(trust[0].Condition?.ArnLike?.['aws:PrincipalArn'])).toBe(
      'arn:aws:iam::123456789012:role/restorable/fleet/dump/*',
    );
    expect(trust[0].Condition?.Null).toEqual({ 'aws:RequestTag/restorable:database': 'false' });
  });

  it('outputs the backup and drill orchestrators for `restorable backup --stack`, and no per-database output', () => {
    const outputs = template(backup).toJSON().Outputs as Record<string, { Value: unknown }>;
    const fleet = backup.fleet!;
    expect(outputs[FLEET_BACKUP_ORCHESTRATOR_OUTPUT].Value).toEqual(
      backup.resolve(fleet.backupOrchestrator.stateMachine.stateMachineArn),
    );
    expect(outputs[FLEET_DRILL_ORCHESTRATOR_OUTPUT].Value).toEqual(
      backup.resolve(fleet.drillOrchestrator!.stateMachine.stateMachineArn),
    );
    // CloudFormation allows 200 outputs a stack: none per database, however many there are.
    expect(Object.keys(outputs).filter((key) => /^Backup(StateMachine|Input)/.test(key))).toEqual([]);
    expect(Object.keys(outputs).length).toBeLessThan(20);
  });

  it('bounds the orchestrators by the config: 25 backups and 3 drills at once, each after up to 45 minutes', () => {
    const fleet = backup.fleet!;
    const backups = definitionOf(backup, fleet.backupOrchestrator.stateMachine);
    const drills = definitionOf(backup, fleet.drillOrchestrator!.stateMachine);
    for (const [definition, max] of [
      [backups, 25],
      [drills, 3],
    ] as const) {
      const runs = definition.States.Runs as unknown as {
        MaxConcurrency: number;
        ItemSelector: Record<string, string>;
      };
      expect(runs.MaxConcurrency).toBe(max);
      expect(runs.ItemSelector['jitterSeconds.$']).toBe('States.MathRandom(0, 2700)');
    }
  });

  it('starts listed databases with their own schedule on one schedule per distinct expression, never per database', () => {
    const schedules = Object.values(template(backup).findResources('AWS::Scheduler::Schedule')) as {
      Properties: { ScheduleExpression: string; Target: { Input: string; Arn: unknown } };
    }[];
    const orchestratorOf = (s: (typeof schedules)[number]) => flatten(s.Properties.Target.Arn);
    const backupArn = flatten(backup.resolve(backup.fleet!.backupOrchestrator.stateMachine.stateMachineArn));
    const backupSchedules = schedules.filter((s) => orchestratorOf(s) === backupArn);
    const byExpression = Object.fromEntries(
      backupSchedules.map((s) => [
        s.Properties.ScheduleExpression,
        JSON.parse(s.Properties.Target.Input) as Record<string, string[]>,
      ]),
    );
    expect(Object.keys(byExpression).sort()).toEqual([
      'cron(0 2 * * ? *)',
      'cron(0 4 * * ? *)',
      'cron(30 1 * * ? *)',
    ]);
    expect(byExpression['cron(30 1 * * ? *)'].databaseIds).toHaveLength(LISTED / 3);
    expect(byExpression['cron(0 2 * * ? *)'].excludeDatabaseIds).toHaveLength((2 * LISTED) / 3);
    expect(byExpression['cron(0 2 * * ? *)'].excludeDatabaseIds).not.toContain('db-001');
  });

  it('alarms with Metrics Insights queries grouped by database, not one set per database', () => {
    const alarms = Object.values(template(backup).findResources('AWS::CloudWatch::Alarm')) as {
      Properties: { Metrics?: { Expression?: string }[] };
    }[];
    const queries = alarms.flatMap((a) => a.Properties.Metrics ?? []).map((m) => m.Expression ?? '');
    expect(queries).toEqual(
      expect.arrayContaining([
        'SELECT MAX(BackupAgeOverRpo) FROM SCHEMA("Restorable", DatabaseId) GROUP BY DatabaseId',
        'SELECT SUM(BackupFailure) FROM SCHEMA("Restorable", DatabaseId) GROUP BY DatabaseId',
        'SELECT SUM(DrillFailure) FROM SCHEMA("Restorable", DatabaseId) GROUP BY DatabaseId',
        'SELECT MAX(DrillRtoOverTarget) FROM SCHEMA("Restorable", DatabaseId) GROUP BY DatabaseId',
        'SELECT MAX(BackupQueueOverdue) FROM SCHEMA("Restorable", DatabaseId) GROUP BY DatabaseId',
        'SELECT MAX(DrillQueueOverdue) FROM SCHEMA("Restorable", DatabaseId) GROUP BY DatabaseId',
      ]),
    );
    expect(alarms.length).toBeLessThan(30);
  });

  it('pages on-call on any error of every runner function, by an alarm in its group stack naming the group', () => {
    const topic = { Ref: idOf(backup, backup.monitoring.topic as sns.Topic) };
    let functions = 0;
    for (const group of groups) {
      const alarms = Object.values(template(group).findResources('AWS::CloudWatch::Alarm')) as AlarmJson[];
      const runners = runnerFunctions(group);
      expect(Object.keys(template(group).findResources('AWS::Lambda::Function')).sort()).toEqual(
        runners.map((r) => r.id).sort(),
      );
      for (const runner of runners) {
        const mine = alarms.filter(
          (a) =>
            a.Properties.Namespace === 'AWS/Lambda' &&
            a.Properties.MetricName === 'Errors' &&
            JSON.stringify(a.Properties.Dimensions) ===
              JSON.stringify([{ Name: 'FunctionName', Value: { Ref: runner.id } }]),
        );
        expect({ runner: runner.id, alarms: mine.length }).toEqual({ runner: runner.id, alarms: 1 });
        const alarm = mine[0].Properties;
        expect(alarm.AlarmName).toBe(`${group.stackName}-${runner.group}-${runner.workload}-errors`);
        expect(alarm.AlarmDescription).toContain(
          `fleet ${runner.workload} function of runner group ${runner.group}`,
        );
        expect(alarm).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
        // Alarm and recovery both page the fleet stack's on-call topic.
        expect(alarm.AlarmActions.map(fleetValueOf)).toEqual([topic]);
        expect(alarm.OKActions.map(fleetValueOf)).toEqual([topic]);
      }
      expect(alarms).toHaveLength(runners.length);
      functions += runners.length;
    }
    const plan = backup.fleetPlan!;
    const lambdaGroups = plan.backupGroups.filter((g) => g.runner === 'lambda');
    expect(functions).toBe(2 * lambdaGroups.length + plan.drillGroups.length);
  });

  it("lets the group stacks' alarms publish to the encrypted on-call topic, and no other account's or region's", () => {
    const resources = template(backup).toJSON().Resources as Record<
      string,
      { Type: string; Properties: Record<string, unknown> }
    >;
    const topicId = idOf(backup, backup.monitoring.topic as sns.Topic);
    const topicPolicy = Object.values(resources).find(
      (r) =>
        r.Type === 'AWS::SNS::TopicPolicy' &&
        JSON.stringify(r.Properties.Topics) === JSON.stringify([{ Ref: topicId }]),
    )!.Properties.PolicyDocument as { Statement: PolicyStatementJson[] };
    const keyArn = resources[topicId].Properties.KmsMasterKeyId as { 'Fn::GetAtt': [string, string] };
    const keyPolicy = resources[keyArn['Fn::GetAtt'][0]].Properties.KeyPolicy as {
      Statement: PolicyStatementJson[];
    };
    const { account, region } = backup;
    const publishes = (alarmArn: string, sourceAccount = account, service = 'cloudwatch.amazonaws.com') => {
      const context = { 'aws:SourceAccount': sourceAccount, 'aws:SourceArn': alarmArn };
      return (
        allowed(topicPolicy.Statement, {
          service,
          action: 'sns:Publish',
          resource: `\${${topicId}}`,
          context,
        }) &&
        ['kms:GenerateDataKey', 'kms:Decrypt'].every((action) =>
          allowed(keyPolicy.Statement, { service, action, resource: '*', context }),
        )
      );
    };
    const alarmNames = groups.flatMap((group) =>
      (Object.values(template(group).findResources('AWS::CloudWatch::Alarm')) as AlarmJson[]).map(
        (a) => a.Properties.AlarmName,
      ),
    );
    expect(alarmNames.length).toBeGreaterThan(0);
    for (const name of alarmNames) {
      expect({ name, publishes: publishes(`arn:aws:cloudwatch:${region}:${account}:alarm:${name}`) }).toEqual(
        {
          name,
          publishes: true,
        },
      );
    }
    // The same alarm name elsewhere, or another service, is refused (the confused-deputy guard).
    const name = alarmNames[0];
    expect(publishes(`arn:aws:cloudwatch:${region}:210987654321:alarm:${name}`, '210987654321')).toBe(false);
    expect(publishes(`arn:aws:cloudwatch:eu-central-1:${account}:alarm:${name}`)).toBe(false);
    expect(
      publishes(`arn:aws:cloudwatch:${region}:${account}:alarm:${name}`, account, 'events.amazonaws.com'),
    ).toBe(false);
  });

  it("gives each drill runner group a database drill's network: PostgreSQL into its instances only from its drill function", () => {
    for (const group of groups) {
      const t = template(group);
      for (const { network } of group.drillRunners) {
        const fnSg = idOf(group, network.functionSecurityGroup);
        const instanceSg = idOf(group, network.instanceSecurityGroup);
        const into = Object.values(t.findResources('AWS::EC2::SecurityGroupIngress')).filter(
          (r) =>
            JSON.stringify(r.Properties.GroupId) ===
            JSON.stringify({ 'Fn::GetAtt': [instanceSg, 'GroupId'] }),
        );
        expect(into.map((r) => r.Properties)).toEqual([
          expect.objectContaining({
            FromPort: 5432,
            ToPort: 5432,
            SourceSecurityGroupId: { 'Fn::GetAtt': [fnSg, 'GroupId'] },
          }),
        ]);
        const out = Object.values(t.findResources('AWS::EC2::SecurityGroupEgress')).filter(
          (r) => JSON.stringify(r.Properties.GroupId) === JSON.stringify({ 'Fn::GetAtt': [fnSg, 'GroupId'] }),
        );
        expect(out.map((r) => r.Properties)).toEqual([
          expect.objectContaining({
            FromPort: 5432,
            ToPort: 5432,
            DestinationSecurityGroupId: { 'Fn::GetAtt': [instanceSg, 'GroupId'] },
          }),
        ]);
        const groupsJson = t.findResources('AWS::EC2::SecurityGroup');
        expect(groupsJson[fnSg].Properties.SecurityGroupEgress).toEqual([
          expect.objectContaining({ CidrIp: '0.0.0.0/0', FromPort: 443, ToPort: 443 }),
        ]);
        expect(groupsJson[instanceSg].Properties.SecurityGroupIngress).toBeUndefined();
      }
    }
  });
});

/** Each Fargate backup group with its runners and group stack. */
function fargateGroups() {
  const plan = backup.fleetPlan!;
  return groups.flatMap((stack, i) => {
    const mine = plan.backupGroups.filter((g) => g.stackIndex === i + 1);
    return stack.backupRunners.flatMap((runners, j) =>
      mine[j].runner === 'fargate' ? [{ stack, runners, group: mine[j] }] : [],
    );
  });
}

interface TaskDefinitionJson {
  Properties: {
    Cpu: string;
    Memory: string;
    EphemeralStorage?: { SizeInGiB: number };
    ContainerDefinitions: { Environment: { Name: string; Value: unknown }[] }[];
  };
}

describe('a fleet with runner "fargate" databases', () => {
  const plan = backup.fleetPlan!;
  const fargateIds = Object.keys(FARGATE_LISTED).map((i) => `db-${String(Number(i) + 1).padStart(3, '0')}`);
  const fargateListed = Object.entries(FARGATE_LISTED).map(([i, fargate]) => ({
    id: `db-${String(Number(i) + 1).padStart(3, '0')}`,
    // The schema's defaults for what the entry leaves out.
    cpu: (fargate?.cpu as number | undefined) ?? 2048,
    memoryMiB: (fargate?.memoryMiB as number | undefined) ?? 4096,
    ephemeralStorageGiB: (fargate?.ephemeralStorageGiB as number | undefined) ?? 20,
    timeoutHours: (fargate?.timeoutHours as number | undefined) ?? 12,
    layout: (fargate?.layout as string | undefined) ?? 'stream',
  }));

  it('routes each one to a Fargate backup group of its network, whose workflow the orchestrator starts', () => {
    const orchestrator = JSON.stringify(definitionOf(backup, backup.fleet!.backupOrchestrator.stateMachine));
    for (const db of fargateListed) {
      const listed = plan.listed.find((d) => d.id === db.id)!;
      const group = plan.backupGroups.find((g) => g.id === listed.backupGroup)!;
      expect({ db: db.id, runner: group.runner }).toEqual({ db: db.id, runner: 'fargate' });
      expect(listed.backupExecution[RUNNER_GROUP_KEY]).toBe(group.id);
      expect(group.network?.vpcId).toBe(network((Number(db.id.slice(3)) - 1) % 12).vpcId);
      expect(orchestrator).toContain(`"StringEquals":"${group.id}"`);
    }
    // No other database runs there.
    const fargateGroupIds = new Set(fargateGroups().map((g) => g.group.id));
    expect(fargateGroupIds.size).toBe(3);
    for (const db of plan.listed.filter((d) => !fargateIds.includes(d.id))) {
      expect(fargateGroupIds.has(db.backupGroup)).toBe(false);
    }
  });

  it('runs Dump and Verify as ECS tasks waiting for their task token, with a deadline for the longest timeout', () => {
    for (const { stack, runners, group } of fargateGroups()) {
      const cfn = template(stack).toJSON().Resources[idOf(stack, runners.stateMachine)] as {
        Properties: { StateMachineName: string };
      };
      expect(cfn.Properties.StateMachineName).toBe(group.stateMachineName);
      const { States } = definitionOf(stack, runners.stateMachine);
      const hours = Math.max(
        ...fargateListed
          .filter((db) => plan.listed.find((d) => d.id === db.id)!.backupGroup === group.id)
          .map((db) => db.timeoutHours),
      );
      for (const step of ['Dump', 'Verify']) {
        expect(States[step].Resource).toMatch(/:states:::ecs:runTask\.waitForTaskToken$/);
        const params = States[step].Parameters as {
          Overrides: { ContainerOverrides: { Environment: { Name: string; Value?: string }[] }[] };
        };
        const deadline = params.Overrides.ContainerOverrides[0].Environment.find(
          (e) => e.Name === 'DEADLINE_SECONDS',
        );
        expect({ group: group.id, step, deadline: deadline?.Value }).toEqual({
          group: group.id,
          step,
          deadline: String(hours * 3600),
        });
        expect(States[step].TimeoutSeconds).toBe(hours * 3600 + 600);
      }
      // The whole execution input is the dump's event, as on the Lambda groups.
      expect(States.DumpEvent.Parameters).toBeUndefined();
      // A task that never answered is recorded for the run's database, not the group.
      expect(JSON.stringify(States.DumpRecordFailure.Parameters)).toContain('"Value.$":"$.databaseId"');
    }
  });

  it("sizes each Fargate group's task for every one of its databases", () => {
    for (const { stack, runners, group } of fargateGroups()) {
      const mine = fargateListed.filter(
        (db) => plan.listed.find((d) => d.id === db.id)!.backupGroup === group.id,
      );
      expect(mine.length).toBeGreaterThan(0);
      for (const handler of ['dump', 'verify'] as const) {
        const task = template(stack).toJSON().Resources[
          idOf(stack, runners.fargateRunner!.task(handler).taskDefinition)
        ] as TaskDefinitionJson;
        const { Cpu, Memory, EphemeralStorage, ContainerDefinitions } = task.Properties;
        for (const db of mine) {
          expect({
            db: db.id,
            handler,
            covers: Number(Cpu) >= db.cpu && Number(Memory) >= db.memoryMiB,
          }).toEqual({
            db: db.id,
            handler,
            covers: true,
          });
          expect(EphemeralStorage?.SizeInGiB ?? 20).toBeGreaterThanOrEqual(db.ephemeralStorageGiB);
        }
        if (handler === 'dump') {
          const env = Object.fromEntries(ContainerDefinitions[0].Environment.map((e) => [e.Name, e.Value]));
          expect(env).toMatchObject({ RUNNER: 'fargate', DUMP_LAYOUT: mine[0].layout });
          expect(new Set(mine.map((db) => db.layout)).size).toBe(1);
        }
      }
    }
    // Network 7's group: db-008 (4096 CPU, 30720 MiB, 50 GiB) and db-128 (8192 CPU, 16384 MiB).
    const shared = fargateGroups().find(({ group }) => group.network?.vpcId === network(7).vpcId)!;
    const task = template(shared.stack).toJSON().Resources[
      idOf(shared.stack, shared.runners.fargateRunner!.task('dump').taskDefinition)
    ] as TaskDefinitionJson;
    expect(task.Properties).toMatchObject({
      Cpu: '8192',
      Memory: '32768',
      EphemeralStorage: { SizeInGiB: 50 },
    });
  });

  it('gives the task roles the workload path, the data-access role to assume, and no data permission', () => {
    for (const { stack, runners } of fargateGroups()) {
      for (const [handler, workload] of [
        ['dump', 'dump'],
        ['verify', 'verify'],
      ] as const) {
        const task = runners.fargateRunner!.task(handler);
        const role = template(stack).toJSON().Resources[idOf(stack, task.taskRole)] as {
          Properties: { Path?: string };
        };
        expect(role.Properties.Path).toBe(`/restorable/fleet/${workload}/`);
        const statements = roleStatements(stack).find(
          (r) => r.role === idOf(stack, task.taskRole),
        )!.statements;
        expect(statements.filter((s) => actions(s).some((a) => DATA_ACTIONS.test(a)))).toEqual([]);
        const assume = statements.filter((s) => actions(s).includes('sts:AssumeRole'));
        expect(assume).toHaveLength(1);
        expect(actions(assume[0])).toEqual(['sts:AssumeRole', 'sts:TagSession']);
        const accessRole = backup.fleet!.accessRoles[workload].role;
        expect(fleetValueOf(assume[0].Resource)).toEqual(backup.resolve(accessRole.roleArn));
        // And the handler's environment names that role, as the functions' does.
        const definition = template(stack).toJSON().Resources[
          idOf(stack, task.taskDefinition)
        ] as TaskDefinitionJson;
        const env = definition.Properties.ContainerDefinitions[0].Environment.find(
          (e) => e.Name === 'DATABASE_ACCESS_ROLE_ARN',
        );
        expect(fleetValueOf(env?.Value)).toEqual(backup.resolve(accessRole.roleArn));
      }
    }
  });

  it('drills each drilled one on a Fargate drill group: RestoreAndCheck as an ECS task of the drill client', () => {
    const drilled = fargateListed.filter((db) => plan.listed.find((d) => d.id === db.id)!.drill);
    expect(drilled.map((db) => db.id)).toEqual(['db-008', 'db-088', 'db-128']);
    const runnersOf = new Map(
      groups.flatMap((stack, i) => {
        const mine = plan.drillGroups.filter((g) => g.stackIndex === i + 1);
        return stack.drillRunners.map((runners, j) => [mine[j].id, { stack, runners }] as const);
      }),
    );
    const fargateDrillGroups = new Set(
      drilled.map((db) => plan.listed.find((d) => d.id === db.id)!.drill!.group),
    );
    expect(fargateDrillGroups.size).toBe(2); // networks 7 and 3
    for (const id of fargateDrillGroups) {
      const { stack, runners } = runnersOf.get(id)!;
      const mine = drilled.filter((db) => plan.listed.find((d) => d.id === db.id)!.drill!.group === id);
      const hours = Math.max(...mine.map((db) => db.timeoutHours));
      const { States } = definitionOf(stack, runners.stateMachine);
      expect(States.RestoreAndCheck.Resource).toMatch(/:states:::ecs:runTask\.waitForTaskToken$/);
      expect(States.RestoreAndCheck.TimeoutSeconds).toBe(hours * 3600 + 600);
      // Every other step stays on the group's drill function.
      // (payloadResponseOnly: the state's resource is the function's ARN itself).
      for (const step of ['Select', 'Provision', 'Status', 'Cleanup', 'Report']) {
        expect({ step, resource: States[step].Resource }).toEqual({ step, resource: '<token>' });
      }
      const task = runners.fargateRunner!.task('drill');
      const definition = template(stack).toJSON().Resources[
        idOf(stack, task.taskDefinition)
      ] as TaskDefinitionJson;
      for (const db of mine) {
        expect(Number(definition.Properties.Cpu)).toBeGreaterThanOrEqual(db.cpu);
        expect(Number(definition.Properties.Memory)).toBeGreaterThanOrEqual(db.memoryMiB);
        expect(definition.Properties.EphemeralStorage?.SizeInGiB ?? 20).toBeGreaterThanOrEqual(
          db.ephemeralStorageGiB,
        );
      }
      // The instance outlives the longest restore (the sweeper deletes it at its expiry).
      const env = Object.fromEntries(
        definition.Properties.ContainerDefinitions[0].Environment.map((e) => [e.Name, e.Value]),
      );
      expect(Number(env.DRILL_MAX_LIFETIME_HOURS)).toBeGreaterThan(hours);
      // The drill client's security group (PostgreSQL into the drill instances), the drill path.
      expect(runners.fargateRunner!.securityGroups).toEqual([runners.network.functionSecurityGroup]);
      const role = template(stack).toJSON().Resources[idOf(stack, task.taskRole)] as {
        Properties: { Path?: string };
      };
      expect(role.Properties.Path).toBe('/restorable/fleet/drill/');
      const statements = roleStatements(stack).find((r) => r.role === idOf(stack, task.taskRole))!.statements;
      expect(statements.some((s) => actions(s).includes('rds:CreateDBInstance'))).toBe(true);
      const assume = statements.find((s) => actions(s).includes('sts:AssumeRole'))!;
      expect(fleetValueOf(assume.Resource)).toEqual(
        backup.resolve(backup.fleet!.accessRoles.drill.role.roleArn),
      );
    }
    // Each run carries the database's own pg_restore -j (db-088: jobs 4; db-008: one per vCPU).
    const jobsOf = (id: string) =>
      (plan.listed.find((d) => d.id === id)!.drill!.execution.drill as { jobs?: number }).jobs;
    expect([jobsOf('db-008'), jobsOf('db-088'), jobsOf('db-128')]).toEqual([4, 4, 8]);
  });
});

describe('runner size warnings in the fleet shape', () => {
  test('a listed database too big for Lambda is warned about by id, as in the per-database shape', () => {
    const input = fleetConfigInput(24);
    const dbs = input.databases as Record<string, unknown>[];
    dbs[2] = { ...dbs[2], sizeHintGiB: 400 };
    dbs[3] = { ...dbs[3], sizeHintGiB: 1 };
    const app = newApp();
    const config = parseConfig(input);
    const fleetStack = new BackupStack(app, 'RestorableBackup', { config });
    const warnings = Annotations.fromStack(fleetStack)
      .findWarning('*', Match.stringLikeRegexp('restorable:lambdaUnsafe'))
      .map((w) => `${w.id} ${String(w.entry.data)}`);
    expect(warnings).toEqual([
      expect.stringMatching(
        /^\/RestorableBackup\/Fleet\/DatabaseDb003 databases "db-003" \(sizeHintGiB 400\)/,
      ),
    ]);
  });
});
