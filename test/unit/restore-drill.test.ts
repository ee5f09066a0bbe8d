import { Duration, TimeZone } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import {
  DEFAULT_DRILL_INSTANCE_CLASS,
  DEFAULT_DRILL_SCHEDULE,
  DEFAULT_DRILL_SELECTION,
  DEFAULT_DRILL_SOURCE,
  DEFAULT_RANDOM_WINDOW_DAYS,
  DEFAULT_RTO_TARGET_SECONDS,
  resolveDrillSettings,
} from '../../lambda/core/drill-settings';
import type { RestoreDrillProps } from '../../lib/constructs/restore-drill';
import { aliasViaS3, permissionsOf, runnerBaseline, tierObjects, viaS3 } from './iam-support';
import {
  actionsOf,
  allowedActions,
  definitionOf,
  ordersRestoreDrill,
  resourcesOf,
  statementsOf,
  workflowFixture,
  type AslDefinition,
  type PolicyStatementJson,
  type WorkflowFixture,
} from './workflow-support';

function build(change: (f: WorkflowFixture) => Partial<RestoreDrillProps> = () => ({})) {
  const f = workflowFixture();
  const drill = ordersRestoreDrill(f, change(f));
  return { ...f, drill, template: Template.fromStack(f.stack) };
}

/** Task states whose handler action is `cleanup`. */
function cleanupStates(asl: AslDefinition): Set<string> {
  return new Set(
    Object.entries(asl.States)
      .filter(([, s]) => s.Type === 'Task' && s.Parameters?.action === 'cleanup')
      .map(([name]) => name),
  );
}

/** Every state a state can go to next (Next, Choices, Default, Catch). */
function successors(asl: AslDefinition, name: string): string[] {
  const s = asl.States[name];
  return [
    ...(s.Next ? [s.Next] : []),
    ...(s.Choices ?? []).map((c) => c.Next as string),
    ...(s.Default ? [s.Default] : []),
    ...(s.Catch ?? []).map((c) => c.Next),
  ];
}

const PRIMARY = 'arn:aws:s3:::restorable-123456789012-eu-west-1-backups';
const REPLICA = 'arn:aws:s3:::restorable-123456789012-eu-central-1-backups';
const PRIMARY_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const REPLICA_KEYS = 'arn:aws:kms:eu-central-1:123456789012:key/*';

function statementWithSid(statements: PolicyStatementJson[], sid: string): PolicyStatementJson {
  const found = statements.find((s) => s.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}`);
  return found;
}

describe('RestoreDrill state machine', () => {
  test('runs select, provision, a wait loop on status, restore-and-check, cleanup and report, in that order', () => {
    const { stack, drill } = build();
    const asl = definitionOf(stack, drill.stateMachine);
    const action = (name: string) => asl.States[name].Parameters?.action;
    expect(asl.StartAt).toBe('Select');
    expect(action('Select')).toBe('select');
    expect(asl.States.Select.Next).toBe('Provision');
    expect(action('Provision')).toBe('provision');
    expect(asl.States.StartWaiting.Next).toBe('WaitForInstance');
    expect(asl.States.WaitForInstance).toMatchObject({ Type: 'Wait', Seconds: 60, Next: 'Status' });
    expect(action('Status')).toBe('status');
    expect(asl.States.IsInstanceAvailable.Choices).toEqual(
      expect.arrayContaining([
        { Variable: '$.availability.status', StringEquals: 'available', Next: 'RestoreAndCheck' },
      ]),
    );
    expect(asl.States.IsInstanceAvailable.Default).toBe('WaitForInstance');
    expect(action('RestoreAndCheck')).toBe('restore-and-check');
    expect(asl.States.RestoreAndCheck.Next).toBe('Cleanup');
    expect(action('Cleanup')).toBe('cleanup');
    expect(asl.States.Cleanup.Next).toBe('Report');
    expect(action('Report')).toBe('report');
    expect(asl.States.DidTheDrillPass.Choices).toEqual([
      { Variable: '$.report.status', StringEquals: 'PASSED', Next: 'DrillPassed' },
    ]);
    expect(asl.States.DidTheDrillPass.Default).toBe('DrillReportedFailure');
  });

  test('every task state catches every error into a cleanup task (the cleanup task itself into a Fail)', () => {
    const { stack, drill } = build();
    const asl = definitionOf(stack, drill.stateMachine);
    const cleanups = cleanupStates(asl);
    const tasks = Object.entries(asl.States).filter(([, s]) => s.Type === 'Task');
    expect(tasks.length).toBeGreaterThanOrEqual(7);
    for (const [name, state] of tasks) {
      expect(state.Catch?.length).toBeGreaterThan(0);
      for (const c of state.Catch ?? []) expect(c.ErrorEquals).toContain('States.ALL');
      const catchTargets = (state.Catch ?? []).map((c) => c.Next);
      if (name === 'CleanupOnError') {
        expect(catchTargets.map((t) => asl.States[t].Type)).toEqual(['Fail']);
      } else {
        expect(catchTargets.every((t) => cleanups.has(t))).toBe(true);
      }
    }
  });

  test('the failure cleanup deletes with the error and the whole state, then fails the execution', () => {
    const { stack, drill } = build();
    const asl = definitionOf(stack, drill.stateMachine);
    expect(asl.States.CleanupOnError.Parameters).toEqual({
      action: 'cleanup',
      'state.$': '$',
      'error.$': '$.error',
    });
    expect(asl.States.CleanupOnError.Next).toBe('DrillFailed');
    expect(asl.States.DrillFailed.Type).toBe('Fail');
  });

  test('no path from provisioning reaches the end of the execution without passing a cleanup', () => {
    const { stack, drill } = build();
    const asl = definitionOf(stack, drill.stateMachine);
    const cleanups = cleanupStates(asl);
    const seen = new Set<string>();
    const leaks: string[] = [];
    const walk = (name: string) => {
      if (seen.has(name) || cleanups.has(name)) return;
      seen.add(name);
      const state = asl.States[name];
      if (state.Type === 'Succeed' || state.Type === 'Fail' || state.End) leaks.push(name);
      for (const next of successors(asl, name)) walk(next);
    };
    walk('Provision');
    expect(leaks).toEqual([]);
    expect(seen.has('RestoreAndCheck')).toBe(true);
  });

  test('gives up waiting after the configured time, through cleanup, with an error naming the wait step', () => {
    const { stack, drill } = build(() => ({ maxWaitForInstance: Duration.minutes(45) }));
    const asl = definitionOf(stack, drill.stateMachine);
    expect(asl.States.IsInstanceAvailable.Choices).toEqual(
      expect.arrayContaining([
        { Variable: '$.wait.rounds', NumericGreaterThanEquals: 45, Next: 'InstanceNotReady' },
      ]),
    );
    expect(asl.States.InstanceNotReady).toMatchObject({
      Type: 'Pass',
      ResultPath: '$.error',
      Next: 'CleanupOnError',
    });
    expect(JSON.stringify(asl.States.InstanceNotReady)).toMatch(
      /wait: the drill instance was not available after 45 minutes/,
    );
  });

  test('retries a cleanup that could not delete yet, and times out every task but sets no execution timeout', () => {
    const { stack, drill } = build();
    const asl = definitionOf(stack, drill.stateMachine);
    for (const name of ['Cleanup', 'CleanupOnError']) {
      const retried = (asl.States[name].Retry ?? []).flatMap((r) => r.ErrorEquals);
      expect(retried).toContain('DrillCleanupError');
    }
    for (const state of Object.values(asl.States).filter((s) => s.Type === 'Task')) {
      expect(state.TimeoutSeconds).toBeGreaterThan(0);
    }
    expect(asl.TimeoutSeconds).toBeUndefined();
  });

  test('logs ALL events and traces', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
      TracingConfiguration: { Enabled: true },
    });
  });
});

describe('RestoreDrill schedule', () => {
  test('runs on the last Friday of the month at 03:00 UTC by default, with the drill settings', () => {
    const { template } = build(() => ({
      checks: [{ name: 'orders exist', sql: 'select count(*) from public.orders', expect: { min: 1 } }],
    }));
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 3 ? * 6L *)',
      ScheduleExpressionTimezone: 'Etc/UTC',
      State: 'ENABLED',
      Target: {
        Input: JSON.stringify({
          databaseId: 'orders',
          drill: {
            selection: 'latest',
            randomWindowDays: 30,
            source: 'replica',
            instanceClass: 'db.t4g.medium',
            rtoTargetSeconds: 3600,
            checks: [{ name: 'orders exist', sql: 'select count(*) from public.orders', expect: { min: 1 } }],
          },
        }),
      },
    });
  });

  test("defaults to the drill core's settings, and sends per-check timeouts that the drill accepts", () => {
    const check = { name: 'slow', sql: 'select 1', expect: { rows: 1 }, timeoutSeconds: 120 };
    const { template } = build(() => ({ checks: [check] }));
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule'));
    expect(schedules).toHaveLength(1);
    const input = JSON.parse(schedules[0].Properties.Target.Input as string) as { drill: unknown };
    expect(schedules[0].Properties.ScheduleExpression).toBe(DEFAULT_DRILL_SCHEDULE);
    expect(resolveDrillSettings(input.drill)).toEqual({
      selection: DEFAULT_DRILL_SELECTION,
      randomWindowDays: DEFAULT_RANDOM_WINDOW_DAYS,
      source: DEFAULT_DRILL_SOURCE,
      instanceClass: DEFAULT_DRILL_INSTANCE_CLASS,
      rtoTargetSeconds: DEFAULT_RTO_TARGET_SECONDS,
      checks: [check],
      allowExtendedSupport: false,
    });
  });

  test('sends allowExtendedSupport only when the drill allows RDS Extended Support', () => {
    const inputOf = (allowExtendedSupport?: boolean) => {
      const { template } = build(() => ({ allowExtendedSupport }));
      const [schedule] = Object.values(template.findResources('AWS::Scheduler::Schedule'));
      return JSON.parse(schedule.Properties.Target.Input as string) as { drill: Record<string, unknown> };
    };
    expect(inputOf(true).drill.allowExtendedSupport).toBe(true);
    expect(resolveDrillSettings(inputOf(true).drill).allowExtendedSupport).toBe(true);
    expect(inputOf(undefined).drill).not.toHaveProperty('allowExtendedSupport');
    expect(resolveDrillSettings(inputOf(false).drill).allowExtendedSupport).toBe(false);
  });

  test('takes a configured schedule, selection and RTO, and can be disabled', () => {
    const { template } = build(() => ({
      schedule: scheduler.ScheduleExpression.expression('cron(0 4 ? * 1#1 *)', TimeZone.ETC_UTC),
      selection: 'random',
      randomWindow: Duration.days(14),
      rtoTarget: Duration.minutes(90),
      enabled: false,
    }));
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 4 ? * 1#1 *)',
      State: 'DISABLED',
      Target: {
        Input: Match.stringLikeRegexp('"selection":"random","randomWindowDays":14.*"rtoTargetSeconds":5400'),
      },
    });
  });
});

describe('RestoreDrill network', () => {
  test('creates a DB subnet group over the given subnets, named like the drill instances', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::RDS::DBSubnetGroup', {
      DBSubnetGroupName: 'restorable-drill-orders',
      SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
    });
  });

  test('keeps the logical ids of its network resources (a changed one replaces the deployed group)', () => {
    const { template } = build();
    const network = Object.entries(template.toJSON().Resources as Record<string, { Type: string }>)
      .filter(([, r]) => /^AWS::(EC2::SecurityGroup|RDS::DBSubnetGroup|RDS::DBParameterGroup)/.test(r.Type))
      .map(([id]) => id)
      .sort();
    // The ids of deployed drills, from before DrillInstanceNetwork was extracted.
    expect(network).toEqual([
      'OrdersDrillFunctionSecurityGroupA7FD88AA',
      'OrdersDrillFunctionSecurityGrouptoTestStackOrdersDrillInstanceSecurityGroup28BA902254324C2D2F8B',
      'OrdersDrillInstanceSecurityGroupAED4EE6C',
      'OrdersDrillInstanceSecurityGroupfromTestStackOrdersDrillFunctionSecurityGroupE69664F954328B338753',
      'OrdersDrillParameterGroupsPostgres133205892D',
      'OrdersDrillParameterGroupsPostgres14EBDF897B',
      'OrdersDrillParameterGroupsPostgres1588022523',
      'OrdersDrillParameterGroupsPostgres16EE7ABBB9',
      'OrdersDrillParameterGroupsPostgres1780C11EC7',
      'OrdersDrillSubnetGroup374900FF',
    ]);
  });

  test('lets PostgreSQL into drill instances only from the drill function', () => {
    const { stack, drill, template } = build();
    const fnSg = stack.getLogicalId(drill.functionSecurityGroup.node.defaultChild as never);
    const instanceSg = stack.getLogicalId(drill.instanceSecurityGroup.node.defaultChild as never);
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress'));
    expect(ingress).toHaveLength(1);
    expect(ingress[0].Properties).toMatchObject({
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
      GroupId: { 'Fn::GetAtt': [instanceSg, 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [fnSg, 'GroupId'] },
    });
    // Nothing else may reach the instances: no inline ingress on the instance group.
    const groups = template.findResources('AWS::EC2::SecurityGroup');
    expect(groups[instanceSg].Properties.SecurityGroupIngress).toBeUndefined();
  });

  test('runs the drill function in the VPC with its own security group, and tells it the subnet group and instance group', () => {
    const { stack, drill, template } = build();
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['drill.handler'] },
      VpcConfig: {
        SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
        SecurityGroupIds: [
          {
            'Fn::GetAtt': [
              stack.getLogicalId(drill.functionSecurityGroup.node.defaultChild as never),
              'GroupId',
            ],
          },
        ],
      },
      EphemeralStorage: { Size: 10240 },
      Environment: {
        Variables: Match.objectLike({
          BACKUP_BUCKET: 'restorable-123456789012-eu-west-1-backups',
          REPLICA_BUCKET: 'restorable-123456789012-eu-central-1-backups',
          REPLICA_REGION: 'eu-central-1',
          DRILL_SUBNET_GROUP: { Ref: Match.stringLikeRegexp('^OrdersDrillSubnetGroup') },
          DRILL_SECURITY_GROUP_IDS: {
            'Fn::GetAtt': [
              stack.getLogicalId(drill.instanceSecurityGroup.node.defaultChild as never),
              'GroupId',
            ],
          },
          DRILL_INSTANCE_CLASS: 'db.t4g.medium',
          // Unset: DrillEnvSchema's default lifetime applies (test/unit/stack-handler-env.test.ts).
          DRILL_MAX_LIFETIME_HOURS: Match.absent(),
        }),
      },
    });
  });
});

describe('RestoreDrill role', () => {
  const drillRole = () => {
    const built = build();
    return {
      ...built,
      statements: statementsOf(built.template, built.stack, built.drill.drillFunction.role as iam.IRole),
    };
  };

  test('creates only drill-named, drill-tagged, expiring, encrypted single-AZ PostgreSQL of the configured class', () => {
    const { statements } = drillRole();
    const create = statementWithSid(statements, 'CreateTaggedDrillInstancesOnly');
    expect(actionsOf(create)).toEqual(['rds:CreateDBInstance']);
    expect(resourcesOf(create)).toEqual(['arn:aws:rds:eu-west-1:123456789012:db:restorable-drill-*']);
    expect(create.Condition).toEqual({
      StringEquals: {
        'aws:RequestTag/restorable:drill': 'true',
        'rds:DatabaseEngine': 'postgres',
        'rds:DatabaseClass': 'db.t4g.medium',
      },
      Null: { 'aws:RequestTag/restorable:expires-at': 'false' },
      'ForAllValues:StringEquals': {
        'aws:TagKeys': [
          'restorable:drill',
          'restorable:expires-at',
          'restorable:database',
          'restorable:drill-id',
        ],
      },
      Bool: {
        'rds:StorageEncrypted': 'true',
        'rds:MultiAz': 'false',
        'rds:ManageMasterUserPassword': 'true',
      },
    });
  });

  test('may use only its subnet group, its own parameter groups and the default PostgreSQL option and parameter groups', () => {
    const { statements } = drillRole();
    const use = statementWithSid(statements, 'UseDrillSubnetGroupAndDefaultGroups');
    const resources = resourcesOf(use);
    expect(resources).toHaveLength(8);
    expect(resources).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^arn:aws:rds:eu-west-1:123456789012:subgrp:\$\{OrdersDrillSubnetGroup\w+\}$/),
        'arn:aws:rds:eu-west-1:123456789012:og:default:postgres-*',
        'arn:aws:rds:eu-west-1:123456789012:pg:default.postgres*',
        ...[13, 14, 15, 16, 17].map((major) =>
          expect.stringMatching(new RegExp(`:pg:\\$\\{OrdersDrillParameterGroupsPostgres${major}\\w+\\}$`)),
        ),
      ]),
    );
    expect(use.Condition).toBeUndefined();
  });

  test('tags only at creation, with the same tag conditions', () => {
    const { statements } = drillRole();
    const tag = statementWithSid(statements, 'TagDrillInstancesAtCreation');
    expect(actionsOf(tag)).toEqual(['rds:AddTagsToResource']);
    expect(resourcesOf(tag)).toEqual(['arn:aws:rds:eu-west-1:123456789012:db:restorable-drill-*']);
    expect(tag.Condition).toEqual({
      StringEquals: { 'aws:RequestTag/restorable:drill': 'true' },
      Null: { 'aws:RequestTag/restorable:expires-at': 'false' },
      'ForAllValues:StringEquals': {
        'aws:TagKeys': [
          'restorable:drill',
          'restorable:expires-at',
          'restorable:database',
          'restorable:drill-id',
        ],
      },
    });
  });

  test('deletes only drill-named instances that carry the drill tag', () => {
    const { statements } = drillRole();
    const deletes = statements.filter((s) => actionsOf(s).includes('rds:DeleteDBInstance'));
    expect(deletes).toHaveLength(1);
    expect(resourcesOf(deletes[0])).toEqual(['arn:aws:rds:eu-west-1:123456789012:db:restorable-drill-*']);
    expect(deletes[0].Condition).toEqual({ StringEquals: { 'rds:db-tag/restorable:drill': 'true' } });
  });

  test('reads only the RDS-managed master secrets of drill instances', () => {
    const { statements } = drillRole();
    const read = statements.filter((s) => actionsOf(s).includes('secretsmanager:GetSecretValue'));
    expect(read).toHaveLength(1);
    expect(resourcesOf(read[0])).toEqual(['arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-*']);
    expect(read[0].Condition).toEqual({
      StringLike: {
        'secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn':
          'arn:aws:rds:eu-west-1:123456789012:db:restorable-drill-*',
      },
    });
  });

  test('creates and deletes managed secrets only through RDS', () => {
    const { statements } = drillRole();
    for (const s of statements.filter((st) =>
      actionsOf(st).some((a) => /secretsmanager:(Create|Delete|Tag)/.test(a)),
    )) {
      expect(s.Condition?.Bool).toEqual({ 'aws:ViaAWSService': 'true' });
      expect(resourcesOf(s)).toEqual(['arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-*']);
    }
  });

  test('is allowed exactly: read its backups from the replica, write its reports, and only drill-instance RDS work', () => {
    const { template, stack, drill } = build();
    const drillDb = 'arn:aws:rds:eu-west-1:123456789012:db:restorable-drill-*';
    const managedSecrets = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-*';
    const tagKeys =
      '"ForAllValues:StringEquals":{"aws:TagKeys":["restorable:drill","restorable:expires-at","restorable:database","restorable:drill-id"]}';
    const requestTags = '"Null":{"aws:RequestTag/restorable:expires-at":"false"}';
    const ofDrillInstance = `"StringLike":{"secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn":"${drillDb}"}`;
    expect(permissionsOf(template, stack, drill.drillFunction.role)).toEqual({
      ...runnerBaseline({ vpc: true }),
      's3:GetObject': tierObjects(REPLICA, 'orders'),
      's3:ListBucket': [REPLICA],
      'kms:Decrypt': [REPLICA_KEYS + aliasViaS3('eu-central-1', 'alias/restorable/backups')],
      's3:PutObject': [`${PRIMARY}/drills/orders/*`],
      'kms:GenerateDataKey': [PRIMARY_KEY + viaS3('eu-west-1')],
      'rds:CreateDBInstance': [
        `${drillDb} if {"Bool":{"rds:ManageMasterUserPassword":"true","rds:MultiAz":"false","rds:StorageEncrypted":"true"},${tagKeys},${requestTags},` +
          '"StringEquals":{"aws:RequestTag/restorable:drill":"true","rds:DatabaseClass":"db.t4g.medium","rds:DatabaseEngine":"postgres"}}',
        'arn:aws:rds:eu-west-1:123456789012:og:default:postgres-*',
        ...[13, 14, 15, 16, 17].map((major) =>
          expect.stringMatching(
            new RegExp(
              `^arn:aws:rds:eu-west-1:123456789012:pg:\\$\\{OrdersDrillParameterGroupsPostgres${major}\\w+\\}$`,
            ),
          ),
        ),
        'arn:aws:rds:eu-west-1:123456789012:pg:default.postgres*',
        expect.stringMatching(/^arn:aws:rds:eu-west-1:123456789012:subgrp:\$\{OrdersDrillSubnetGroup\w+\}$/),
      ],
      'rds:AddTagsToResource': [
        `${drillDb} if {${tagKeys},${requestTags},"StringEquals":{"aws:RequestTag/restorable:drill":"true"}}`,
      ],
      'rds:DescribeDBInstances': [drillDb],
      'rds:DeleteDBInstance': [`${drillDb} if {"StringEquals":{"rds:db-tag/restorable:drill":"true"}}`],
      'secretsmanager:CreateSecret': [`${managedSecrets} if {"Bool":{"aws:ViaAWSService":"true"}}`],
      'secretsmanager:TagResource': [`${managedSecrets} if {"Bool":{"aws:ViaAWSService":"true"}}`],
      'secretsmanager:GetSecretValue': [`${managedSecrets} if {${ofDrillInstance}}`],
      'secretsmanager:DeleteSecret': [
        `${managedSecrets} if {"Bool":{"aws:ViaAWSService":"true"},${ofDrillInstance}}`,
      ],
      'iam:CreateServiceLinkedRole': [
        'arn:aws:iam::123456789012:role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS if {"StringEquals":{"iam:AWSServiceName":"rds.amazonaws.com"}}',
      ],
    });
  });

  test('reads from the primary bucket with the primary key instead when the source is primary', () => {
    const { template, stack, drill } = build(() => ({ source: 'primary' }));
    const storage = Object.fromEntries(
      Object.entries(permissionsOf(template, stack, drill.drillFunction.role)).filter(([action]) =>
        /^(s3|kms):/.test(action),
      ),
    );
    expect(storage).toEqual({
      's3:GetObject': tierObjects(PRIMARY, 'orders'),
      's3:ListBucket': [PRIMARY],
      'kms:Decrypt': [PRIMARY_KEY + viaS3('eu-west-1')],
      's3:PutObject': [`${PRIMARY}/drills/orders/*`],
      'kms:GenerateDataKey': [PRIMARY_KEY + viaS3('eu-west-1')],
    });
  });

  test('has no S3 delete, no bucket changes and no unconditioned RDS write', () => {
    const { statements } = drillRole();
    for (const action of allowedActions(statements)) {
      expect(action).not.toMatch(/^s3:(Delete|PutBucket|PutLifecycle|BypassGovernance)/);
      expect(action).not.toMatch(/^rds:(Modify|Restore|Reboot|\*)/);
    }
    for (const s of statements.filter((st) =>
      actionsOf(st).some((a) => /^rds:(Create|Delete|AddTags)/.test(a)),
    )) {
      if (s.Sid === 'UseDrillSubnetGroupAndDefaultGroups') continue;
      expect(s.Condition).toBeDefined();
    }
  });
});

describe('RestoreDrill validation', () => {
  test('rejects an instance class that is not one', () => {
    expect(() => build(() => ({ instanceClass: 'large' }))).toThrow(
      /invalid drill settings for "orders": instanceClass: "large" must match .* \(an RDS instance class such as db\.t4g\.medium\)/,
    );
  });

  test('rejects a wait shorter than a minute or longer than six hours', () => {
    expect(() => build(() => ({ maxWaitForInstance: Duration.hours(7) }))).toThrow(
      /maxWaitForInstance \(7 hours\) must be between/,
    );
  });

  test('tells the function a configured instance lifetime in hours', () => {
    build(() => ({ maxInstanceLifetime: Duration.hours(12) })).template.hasResourceProperties(
      'AWS::Lambda::Function',
      { Environment: { Variables: Match.objectLike({ DRILL_MAX_LIFETIME_HOURS: '12' }) } },
    );
  });

  test('rejects an instance lifetime that is not whole hours of at least 2', () => {
    expect(() => build(() => ({ maxInstanceLifetime: Duration.minutes(90) }))).toThrow(
      /maxInstanceLifetime .* whole number of hours/,
    );
  });

  test('rejects an instance lifetime that could end while the drill still needs the instance', () => {
    // The sweeper deletes expired drill instances: with a 6-hour wait, the default 6-hour lifetime
    // could expire while the drill restores (6 h + select, provision and restore steps).
    expect(() => build(() => ({ maxWaitForInstance: Duration.hours(6) }))).toThrow(
      /invalid drill timing for "orders": maxInstanceLifetime \(6 hours\) must exceed the 408 minutes .* mid-drill/,
    );
    expect(() =>
      build(() => ({ maxWaitForInstance: Duration.hours(2), maxInstanceLifetime: Duration.hours(2) })),
    ).toThrow(/maxInstanceLifetime \(2 hours\) must exceed the 168 minutes/);
    build(() => ({ maxWaitForInstance: Duration.hours(6), maxInstanceLifetime: Duration.hours(7) }));
  });

  test('rejects two checks with the same name', () => {
    const check = { name: 'same', sql: 'select 1', expect: { rows: 1 } };
    expect(() => build(() => ({ checks: [check, check] }))).toThrow(
      /checks\.1\.name: "same" is used by another check of this drill: names must be unique/,
    );
  });

  test("rejects, with the drill's own schema, every bad check at once", () => {
    const message = (() => {
      try {
        build(() => ({
          checks: [
            { name: 'slow', sql: 'select 1', expect: { rows: 1 }, timeoutSeconds: 7200 },
            { name: 'empty', sql: '', expect: { rows: 1 } },
          ],
        }));
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('no error');
    })();
    expect(message).toMatch(/checks\.0\.timeoutSeconds: /);
    expect(message).toMatch(/checks\.1\.sql: /);
  });

  test('rejects an RTO target of zero', () => {
    expect(() => build(() => ({ rtoTarget: Duration.seconds(0) }))).toThrow(/rtoTargetSeconds: /);
  });
});
