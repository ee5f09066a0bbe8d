/**
 * BackupWorkflow with `fargate` (the config's `runner: fargate`): the dump and the verify as ECS
 * tasks of the same image, in the same state machine, with the same failure path and grants.
 */
import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { BackupWorkflowProps } from '../../lib/constructs/backup-workflow';
import { permissionsOf } from './iam-support';
import {
  definitionOf,
  DUMP_EVENT,
  flatten,
  importedPlacement,
  ordersBackupWorkflow,
  VERIFY_EVENT,
  workflowFixture,
  type AslState,
} from './workflow-support';

function build(change: Partial<BackupWorkflowProps> = {}) {
  const f = workflowFixture();
  const placement = importedPlacement(f.stack);
  const workflow = ordersBackupWorkflow(f, {
    placement,
    fargate: {
      size: { cpu: 4096, memoryMiB: 16384, ephemeralStorageGiB: 150 },
      layout: 'directory',
      jobs: 6,
      timeout: Duration.hours(8),
    },
    ...change,
  });
  const template = Template.fromStack(f.stack);
  const runner = workflow.fargateRunner!;
  const id = (c: { node: { defaultChild?: unknown } }) => f.stack.getLogicalId(c.node.defaultChild as never);
  return { ...f, workflow, template, runner, id, definition: definitionOf(f.stack, workflow.stateMachine) };
}

type EcsParameters = {
  Cluster: unknown;
  TaskDefinition: unknown;
  LaunchType: string;
  NetworkConfiguration: {
    AwsvpcConfiguration: { Subnets: string[]; SecurityGroups: unknown[]; AssignPublicIp: string };
  };
  Overrides: { ContainerOverrides: { Name: string; Environment: Record<string, string>[] }[] };
};
const ecsParameters = (state: AslState) => state.Parameters as unknown as EcsParameters;

describe('BackupWorkflow on Fargate: task definitions', () => {
  test('take CPU, memory and ephemeral storage from the options, for the dump and the verify, and no functions', () => {
    const { template, workflow } = build();
    expect(workflow.dumpFunction).toBeUndefined();
    expect(workflow.verifyFunction).toBeUndefined();
    template.resourceCountIs('AWS::Lambda::Function', 0);
    template.resourceCountIs('AWS::ECS::TaskDefinition', 2);
    for (const handler of ['dump', 'verify']) {
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Cpu: '4096',
        Memory: '16384',
        EphemeralStorage: { SizeInGiB: 150 },
        NetworkMode: 'awsvpc',
        RequiresCompatibilities: ['FARGATE'],
        ContainerDefinitions: [Match.objectLike({ Command: ['/var/task/runner.js', handler] })],
      });
    }
  });

  test('give the dump its layout, jobs and runner through the environment', () => {
    const { template, runner, stack } = build();
    const td =
      template.toJSON().Resources[
        stack.getLogicalId(runner.task('dump').taskDefinition.node.defaultChild as never)
      ];
    const env = Object.fromEntries(
      (td.Properties.ContainerDefinitions[0].Environment as { Name: string; Value: unknown }[]).map((e) => [
        e.Name,
        flatten(e.Value),
      ]),
    );
    expect(env).toMatchObject({
      RUNNER: 'fargate',
      DUMP_LAYOUT: 'directory',
      DUMP_JOBS: '6',
      RESTORABLE_METRICS: 'cloudwatch',
      BACKUP_BUCKET: 'restorable-123456789012-eu-west-1-backups',
    });
    // Jobs default to one per vCPU.
    const defaults = build({ fargate: { size: { cpu: 8192, memoryMiB: 16384 } } });
    defaults.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({ Environment: Match.arrayWith([{ Name: 'DUMP_JOBS', Value: '8' }]) }),
      ],
    });
  });
});

describe('BackupWorkflow on Fargate: the state machine', () => {
  test('runs each step as ecs:runTask.waitForTaskToken with the Lambda payload as its event', () => {
    const { definition } = build();
    expect(definition.StartAt).toBe('DumpEvent');
    const { States } = definition;
    expect(States.DumpEvent).toMatchObject({
      Type: 'Pass',
      Next: 'Dump',
      ResultPath: '$.runnerEvent',
      Parameters: DUMP_EVENT,
    });
    expect(States.Dump.Resource).toMatch(/:states:::ecs:runTask\.waitForTaskToken$/);
    // The handler's result (manifest key) is what Verify reads, as with Lambda.
    expect(States.Dump).toMatchObject({ ResultPath: '$.dump', Next: 'VerifyEvent' });
    expect(States.VerifyEvent.Parameters).toEqual(VERIFY_EVENT);
    expect(States.Verify).toMatchObject({ ResultPath: '$.verify', Next: 'BackupVerified' });
    const env = ecsParameters(States.Dump).Overrides.ContainerOverrides[0];
    expect(env.Name).toBe('runner');
    expect(env.Environment).toEqual([
      { Name: 'RESTORABLE_EVENT', 'Value.$': 'States.JsonToString($.runnerEvent)' },
      { Name: 'DEADLINE_SECONDS', Value: String(8 * 3600) },
      { Name: 'TASK_TOKEN', 'Value.$': '$$.Task.Token' },
    ]);
    // The deadline plus the start allowance, and a heartbeat that catches a task that died silently.
    expect(States.Dump).toMatchObject({ TimeoutSeconds: 8 * 3600 + 600, HeartbeatSeconds: 600 });
  });

  test('catches failures into the same page as the Lambda runner, recording the metric the task could not', () => {
    const { States } = build().definition;
    expect(States.Dump.Catch).toEqual([
      {
        ErrorEquals: ['ECS.AmazonECSException', 'States.HeartbeatTimeout', 'States.Timeout'],
        Next: 'DumpRecordFailure',
        ResultPath: '$.error',
      },
      { ErrorEquals: ['States.ALL'], Next: 'NotifyFailure', ResultPath: '$.error' },
    ]);
    expect(States.DumpRecordFailure).toMatchObject({
      Type: 'Task',
      Resource: expect.stringMatching(/:states:::aws-sdk:cloudwatch:putMetricData$/),
      Parameters: {
        Namespace: 'Restorable',
        MetricData: [
          { MetricName: 'BackupFailure', Dimensions: [{ Name: 'DatabaseId', Value: 'orders' }], Value: 1 },
        ],
      },
      Next: 'NotifyFailure',
      Catch: [{ ErrorEquals: ['States.ALL'], Next: 'NotifyFailure', ResultPath: null }],
    });
    expect(States.VerifyRecordFailure.Parameters).toMatchObject({
      MetricData: [expect.objectContaining({ MetricName: 'VerifyFailure' })],
    });
    // Only a task that never started is retried; ReplicationPending still retries Verify.
    expect(States.Dump.Retry).toEqual([
      expect.objectContaining({ ErrorEquals: ['ECS.AmazonECSException'], MaxAttempts: 3 }),
    ]);
    expect(States.Verify.Retry?.map((r) => r.ErrorEquals)).toEqual([
      ['ECS.AmazonECSException'],
      ['ReplicationPending'],
    ]);
    expect(States.NotifyFailure.Next).toBe('BackupFailed');
  });

  test('runs the tasks in the database subnets and security groups, without a public IP', () => {
    const { definition } = build();
    const network = ecsParameters(definition.States.Dump).NetworkConfiguration.AwsvpcConfiguration;
    expect(network.Subnets).toEqual(['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210']);
    expect(network.SecurityGroups).toEqual(['sg-0123456789abcdef0']);
    // Without AssignPublicIp, awsvpc tasks get no public IP (DISABLED is the API's default).
    expect(network.AssignPublicIp).toBeUndefined();
    expect(ecsParameters(definition.States.Dump).LaunchType).toBe('FARGATE');
  });
});

describe('BackupWorkflow on Fargate: IAM', () => {
  test('lets the state machine run exactly its two task definitions and pass exactly their roles', () => {
    const { template, stack, workflow, runner, id } = build();
    const permissions = permissionsOf(template, stack, workflow.stateMachine.role);
    const dump = runner.task('dump');
    const verify = runner.task('verify');
    expect(permissions['ecs:RunTask']).toEqual(
      [`\${${id(dump.taskDefinition)}}`, `\${${id(verify.taskDefinition)}}`].sort(),
    );
    expect(permissions['iam:PassRole']).toEqual(
      [dump.taskRole, dump.executionRole, verify.taskRole, verify.executionRole]
        .map((r) => `\${${id(r)}.Arn}`)
        .sort(),
    );
    // The token pattern needs no events rule; EcsRunTask always adds StopTask and DescribeTasks
    // on the (unknown) task ARN. Nothing else of ECS or IAM.
    for (const absent of [
      'events:PutRule',
      'events:PutTargets',
      'ecs:*',
      'iam:*',
      'ecs:RegisterTaskDefinition',
    ]) {
      expect(permissions[absent]).toBeUndefined();
    }
    expect(
      Object.keys(permissions)
        .filter((a) => /^(ecs|iam):/.test(a))
        .sort(),
    ).toEqual(['ecs:DescribeTasks', 'ecs:RunTask', 'ecs:StopTask', 'iam:PassRole']);
    expect(permissions['cloudwatch:PutMetricData']).toEqual(['*']);
  });

  test('lets each task answer only its own state machine, send metrics only in its namespace, and work as the function would', () => {
    const { template, stack, workflow, runner } = build();
    const machine = `\${${stack.getLogicalId(workflow.stateMachine.node.defaultChild as never)}}`;
    const dump = permissionsOf(template, stack, runner.task('dump').taskRole);
    for (const action of ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat']) {
      expect(dump[action]).toEqual([machine]);
    }
    expect(dump['cloudwatch:PutMetricData']).toEqual([
      '* if {"StringEquals":{"cloudwatch:namespace":"Restorable"}}',
    ]);

    // The work permissions are the Lambda runner's, from the same grant code.
    const onLambda = build({ fargate: undefined });
    const work = (p: Record<string, string[]>) =>
      Object.fromEntries(Object.entries(p).filter(([a]) => /^(s3|kms|secretsmanager):/.test(a)));
    expect(work(dump)).toEqual(
      work(permissionsOf(onLambda.template, onLambda.stack, onLambda.workflow.dumpFunction!.role)),
    );
    const verify = permissionsOf(template, stack, runner.task('verify').taskRole);
    expect(work(verify)).toEqual(
      work(permissionsOf(onLambda.template, onLambda.stack, onLambda.workflow.verifyFunction!.role)),
    );
    expect(Object.keys(dump)).toContain('secretsmanager:GetSecretValue');
    expect(Object.keys(verify)).not.toContain('secretsmanager:GetSecretValue');
  });

  test('logs to an encrypted log group with the given retention', () => {
    const f = workflowFixture();
    const { Key } = jest.requireActual<typeof import('aws-cdk-lib/aws-kms')>('aws-cdk-lib/aws-kms');
    const key = new Key(f.stack, 'LogKey');
    ordersBackupWorkflow(f, {
      placement: importedPlacement(f.stack),
      fargate: {},
      logEncryptionKey: key,
      logRetention: 365,
    });
    const template = Template.fromStack(f.stack);
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      RetentionInDays: 365,
      KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LogKey'), 'Arn'] },
      LogGroupName: Match.absent(),
    });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({ LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }) }),
      ],
    });
  });
});

describe('BackupWorkflow on Fargate: validation', () => {
  test('refuses Fargate without placement, and the Lambda-only sizing props', () => {
    expect(() => build({ placement: undefined })).toThrow(
      /fargate: the Fargate runner of "orders" needs placement \(its tasks run in VPC subnets, awsvpc\)/,
    );
    expect(() => build({ dumpTimeout: Duration.minutes(10) })).toThrow(
      /dumpTimeout and dumpMemorySize size the Lambda function, which fargate replaces: use fargate.timeout and fargate.size/,
    );
    expect(() => build({ fargate: { size: { cpu: 1024, memoryMiB: 16384 } } })).toThrow(
      /memoryMiB 16384 is not allowed with cpu 1024/,
    );
  });
});
