import { Aspects, Duration } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import type { HandlerEnvInput } from '../../lambda/core/handler-env';
import { FargateRunner, type FargateRunnerProps } from '../../lib/constructs/fargate-runner';
import {
  suppressStateMachineRoleFindings,
  workflowLogGroup,
  workflowObservability,
} from '../../lib/workflows';
import { permissionsOf, runnerBaseline } from './iam-support';
import {
  definitionOf,
  flatten,
  importedPlacement,
  ordersBackupWorkflow,
  workflowFixture,
  type WorkflowFixture,
} from './workflow-support';

const SUBNETS = ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'];
const DATABASE_SG = 'sg-0123456789abcdef0';

/** The dump's grant, as BackupWorkflow gives it to the dump function's role. */
const grantDump = (f: WorkflowFixture) => (role: iam.IGrantable) => {
  f.bucket.grants.writeBackups(role, 'orders');
  f.secret.grantRead(role);
};

/** A runner with a dump and a verify task, and a state machine running the dump with `.sync`. */
function build(options: { props?: Partial<FargateRunnerProps>; pattern?: sfn.IntegrationPattern } = {}) {
  const f = workflowFixture();
  const placement = importedPlacement(f.stack);
  const runner = new FargateRunner(f.stack, 'Runner', {
    vpc: placement.vpc,
    vpcSubnets: { subnets: placement.vpc.privateSubnets },
    securityGroups: placement.securityGroups,
    image: f.image,
    size: { cpu: 4096, memoryMiB: 16384, ephemeralStorageGiB: 150 },
    ...options.props,
  });
  const dump = runner.addTask({
    handler: 'dump',
    environment: {
      BACKUP_BUCKET: f.bucket.bucket.bucketName,
      BACKUP_KMS_KEY_ARN: f.key.keyArn,
      RETENTION_DAYS: { daily: 35, weekly: 100, monthly: 400, yearly: 3000 },
      COMPRESSION: { kind: 'zstd', level: 3 },
    } satisfies HandlerEnvInput<'dump'>,
    grant: grantDump(f),
  });
  const verify = runner.addTask({
    handler: 'verify',
    size: { cpu: 1024, memoryMiB: 2048 },
    environment: { BACKUP_BUCKET: f.bucket.bucket.bucketName } satisfies HandlerEnvInput<'verify'>,
    grant: (role) => f.bucket.grants.readBackups(role, 'orders'),
  });
  const state = runner.runTask(f.stack, 'DumpTask', {
    handler: 'dump',
    input: '$',
    deadline: Duration.hours(6),
    stateName: 'Dump',
    integrationPattern: options.pattern,
  });
  const stateMachine = new sfn.StateMachine(f.stack, 'Workflow', {
    definitionBody: sfn.DefinitionBody.fromChainable(state),
  });
  return { ...f, runner, dump, verify, stateMachine };
}

/** The Lambda dump of the orders workflow and a runner's dump task with the same grant, on one stack. */
function besideLambda() {
  const f = workflowFixture();
  const workflow = ordersBackupWorkflow(f);
  const runner = new FargateRunner(f.stack, 'Runner', {
    vpc: importedPlacement(f.stack).vpc,
    image: f.image,
  });
  const dump = runner.addTask({
    handler: 'dump',
    environment: { BACKUP_BUCKET: 'b', BACKUP_KMS_KEY_ARN: f.key.keyArn },
    grant: grantDump(f),
  });
  return { ...f, workflow, dump, template: Template.fromStack(f.stack) };
}

/** A resource of the template by logical id. */
const resourceOf = (template: Template, id: string) =>
  template.toJSON().Resources[id] as {
    Type: string;
    Properties: Record<string, unknown>;
  };

describe('FargateRunner task definitions', () => {
  test('take CPU, memory and ephemeral storage per task, on ARM64 Fargate', () => {
    const { stack, dump, verify } = build();
    const template = Template.fromStack(stack);
    const props = (td: typeof dump.taskDefinition) =>
      resourceOf(template, stack.getLogicalId(td.node.defaultChild as never)).Properties;
    expect(props(dump.taskDefinition)).toMatchObject({
      Cpu: '4096',
      Memory: '16384',
      EphemeralStorage: { SizeInGiB: 150 },
      NetworkMode: 'awsvpc',
      RequiresCompatibilities: ['FARGATE'],
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
    });
    expect(props(verify.taskDefinition)).toMatchObject({ Cpu: '1024', Memory: '2048' });
    // No storage setting: Fargate's default 20 GiB.
    expect(props(verify.taskDefinition).EphemeralStorage).toBeUndefined();
  });

  test('run node /var/task/runner.js <handler> from the image asset the Lambda functions use', () => {
    const { stack, image, workflow, dump, template } = besideLambda();
    const container = (
      resourceOf(template, stack.getLogicalId(dump.taskDefinition.node.defaultChild as never)).Properties
        .ContainerDefinitions as Record<string, unknown>[]
    )[0];
    expect(container).toMatchObject({
      Name: 'runner',
      EntryPoint: ['node'],
      Command: ['/var/task/runner.js', 'dump'],
      Essential: true,
      StopTimeout: 120,
    });
    const fn = resourceOf(
      template,
      stack.getLogicalId(workflow.dumpFunction!.function.node.defaultChild as never),
    ).Properties as { Code: { ImageUri: unknown } };
    // ECS writes the URI as Fn::Sub, Lambda as Fn::Join: the same text either way.
    const uri = (v: unknown) => (v as { 'Fn::Sub'?: string })['Fn::Sub'] ?? flatten(v);
    expect(uri(container.Image)).toBe(uri(fn.Code.ImageUri));
    expect(JSON.stringify(container.Image)).toContain(image.asset.assetHash);
  });

  test('set the handler schema environment, serialised as for Lambda, and no secrets', () => {
    const { stack, dump } = build();
    const template = Template.fromStack(stack);
    const container = (
      resourceOf(template, stack.getLogicalId(dump.taskDefinition.node.defaultChild as never)).Properties
        .ContainerDefinitions as { Environment: { Name: string; Value: unknown }[]; Secrets?: unknown }[]
    )[0];
    const env = Object.fromEntries(container.Environment.map((e) => [e.Name, flatten(e.Value)]));
    expect(env).toEqual({
      BACKUP_BUCKET: 'restorable-123456789012-eu-west-1-backups',
      BACKUP_KMS_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
      RETENTION_DAYS: JSON.stringify({ daily: 35, weekly: 100, monthly: 400, yearly: 3000 }),
      COMPRESSION: JSON.stringify({ kind: 'zstd', level: 3 }),
      // The runner's own: metrics by PutMetricData (lambda/runner/cloudwatch-metrics.ts).
      RESTORABLE_METRICS: 'cloudwatch',
    });
    expect(container.Secrets).toBeUndefined();
    expect(JSON.stringify(container)).not.toMatch(/secretsmanager|password/i);
  });

  test('log through awslogs to a retained, encrypted log group with retention', () => {
    const f = workflowFixture();
    const placement = importedPlacement(f.stack);
    const key = new kms.Key(f.stack, 'LogKey', { enableKeyRotation: true });
    const runner = new FargateRunner(f.stack, 'Runner', {
      vpc: placement.vpc,
      image: f.image,
      logEncryptionKey: key,
    });
    const dump = runner.addTask({
      handler: 'dump',
      environment: { BACKUP_BUCKET: 'b', BACKUP_KMS_KEY_ARN: f.key.keyArn },
      grant: grantDump(f),
    });
    const template = Template.fromStack(f.stack);
    const logGroupId = f.stack.getLogicalId(runner.logGroup.node.defaultChild as never);
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: {
        RetentionInDays: 90,
        KmsKeyId: { 'Fn::GetAtt': [f.stack.getLogicalId(key.node.defaultChild as never), 'Arn'] },
      },
      DeletionPolicy: 'Retain',
    });
    const container = (
      resourceOf(template, f.stack.getLogicalId(dump.taskDefinition.node.defaultChild as never)).Properties
        .ContainerDefinitions as {
        LogConfiguration: { LogDriver: string; Options: Record<string, unknown> };
      }[]
    )[0];
    expect(container.LogConfiguration.LogDriver).toBe('awslogs');
    expect(container.LogConfiguration.Options).toMatchObject({
      'awslogs-group': { Ref: logGroupId },
      'awslogs-stream-prefix': 'dump',
    });
  });

  test('run in a cluster with Container Insights', () => {
    const { stack } = build();
    Template.fromStack(stack).hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });
});

describe('FargateRunner.runTask', () => {
  test('is an ecs:runTask.sync state in the database subnets and security groups, without a public IP', () => {
    const { stack, stateMachine } = build();
    const state = definitionOf(stack, stateMachine).States.Dump;
    // arn:<partition>:states:::ecs:runTask.sync (the partition is a token until deploy).
    expect(state.Resource).toMatch(/^arn:(aws|<token>):states:::ecs:runTask\.sync$/);
    const params = state.Parameters as Record<string, unknown> & {
      NetworkConfiguration: { AwsvpcConfiguration: Record<string, unknown> };
    };
    expect(params.LaunchType).toBe('FARGATE');
    expect(params.NetworkConfiguration.AwsvpcConfiguration).toEqual({
      Subnets: SUBNETS,
      SecurityGroups: [DATABASE_SG],
    });
    // Without AssignPublicIp, awsvpc tasks get no public IP (DISABLED is the API's default).
    expect(params.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp).toBeUndefined();
    expect(params.PropagateTags).toBe('TASK_DEFINITION');
  });

  test('passes the state input as RESTORABLE_EVENT and the deadline, and times out after it', () => {
    const { stack, stateMachine } = build();
    const state = definitionOf(stack, stateMachine).States.Dump;
    expect((state.Parameters as { Overrides: unknown }).Overrides).toEqual({
      ContainerOverrides: [
        {
          Name: 'runner',
          Environment: [
            { Name: 'RESTORABLE_EVENT', 'Value.$': 'States.JsonToString($)' },
            { Name: 'DEADLINE_SECONDS', Value: '21600' },
          ],
        },
      ],
    });
    // 6 h deadline + 10 min for the network interface and the image pull.
    expect(state.TimeoutSeconds).toBe(21600 + 600);
    // A .sync result is the ECS task description, not the handler's result: not kept.
    expect(state.ResultPath).toBeNull();
  });

  test('lets the state machine run only this task definition and pass only its two roles', () => {
    const { stack, stateMachine, dump } = build();
    const template = Template.fromStack(stack);
    const id = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
    expect(permissionsOf(template, stack, stateMachine.role)).toEqual({
      'ecs:RunTask': [`\${${id(dump.taskDefinition)}}`],
      // The task ARN is only known once it runs.
      'ecs:StopTask': ['*'],
      'ecs:DescribeTasks': ['*'],
      'iam:PassRole': [`\${${id(dump.executionRole)}.Arn}`, `\${${id(dump.taskRole)}.Arn}`].sort(),
      // The managed rule through which Step Functions learns that the task stopped.
      'events:PutTargets': [
        'arn:aws:events:eu-west-1:123456789012:rule/StepFunctionsGetEventsForECSTaskRule',
      ],
      'events:PutRule': ['arn:aws:events:eu-west-1:123456789012:rule/StepFunctionsGetEventsForECSTaskRule'],
      'events:DescribeRule': [
        'arn:aws:events:eu-west-1:123456789012:rule/StepFunctionsGetEventsForECSTaskRule',
      ],
    });
  });

  test('with WAIT_FOR_TASK_TOKEN passes the token, and grantTaskResponse lets only that task answer', () => {
    const { stack, stateMachine, runner, dump, verify } = build({
      pattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    });
    runner.grantTaskResponse('dump', stateMachine);
    const state = definitionOf(stack, stateMachine).States.Dump;
    expect(state.Resource).toMatch(/^arn:(aws|<token>):states:::ecs:runTask\.waitForTaskToken$/);
    const env = (state.Parameters as { Overrides: { ContainerOverrides: { Environment: unknown[] }[] } })
      .Overrides.ContainerOverrides[0].Environment;
    expect(env).toContainEqual({ Name: 'TASK_TOKEN', 'Value.$': '$$.Task.Token' });
    // The handler's result is the state's result here.
    expect(state.ResultPath).toBeUndefined();
    const template = Template.fromStack(stack);
    const machine = `\${${stack.getLogicalId(stateMachine.node.defaultChild as never)}}`;
    const permissions = permissionsOf(template, stack, dump.taskRole);
    for (const action of ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat']) {
      expect(permissions[action]).toEqual([machine]);
    }
    expect(
      Object.keys(permissionsOf(template, stack, verify.taskRole)).filter((a) => a.startsWith('states:')),
    ).toEqual([]);
  });
});

describe('FargateRunner roles', () => {
  test("give the task exactly the Lambda function's work permissions, and nothing of the runtime", () => {
    const { stack, workflow, dump, template } = besideLambda();
    const lambdaWork = { ...permissionsOf(template, stack, workflow.dumpFunction!.role) };
    for (const runtimeAction of Object.keys(runnerBaseline())) delete lambdaWork[runtimeAction];
    expect(Object.keys(lambdaWork)).toContain('s3:PutObjectRetention');
    // ...plus the metrics, which Lambda emits as EMF and the task sends itself, in its namespace only.
    expect(permissionsOf(template, stack, dump.taskRole)).toEqual({
      ...lambdaWork,
      'cloudwatch:PutMetricData': ['* if {"StringEquals":{"cloudwatch:namespace":"Restorable"}}'],
    });
  });

  test('trust only ECS tasks of this account for the task role', () => {
    const { stack, dump } = build();
    const role = resourceOf(
      Template.fromStack(stack),
      stack.getLogicalId(dump.taskRole.node.defaultChild as never),
    );
    expect(role.Properties.AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Principal: { Service: 'ecs-tasks.amazonaws.com' },
          Condition: {
            StringEquals: { 'aws:SourceAccount': '123456789012' },
            ArnLike: { 'aws:SourceArn': 'arn:aws:ecs:eu-west-1:123456789012:*' },
          },
        },
      ],
    });
  });

  test('let the execution role pull the image and write the runner logs, nothing else', () => {
    const { stack, dump, runner } = build();
    const template = Template.fromStack(stack);
    const logGroup = `\${${stack.getLogicalId(runner.logGroup.node.defaultChild as never)}.Arn}`;
    const permissions = permissionsOf(template, stack, dump.executionRole);
    expect(Object.keys(permissions).sort()).toEqual([
      'ecr:BatchCheckLayerAvailability',
      'ecr:BatchGetImage',
      'ecr:GetAuthorizationToken',
      'ecr:GetDownloadUrlForLayer',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
    expect(permissions['ecr:GetAuthorizationToken']).toEqual(['*']);
    expect(permissions['ecr:BatchGetImage']).toEqual([
      expect.stringMatching(/repository\/cdk-.*-container-assets-/),
    ]);
    expect(permissions['logs:PutLogEvents']).toEqual([logGroup]);
  });
});

describe('FargateRunner validation', () => {
  test('refuses a task size Fargate does not offer, in the props or per task', () => {
    const f = workflowFixture();
    const { vpc } = importedPlacement(f.stack);
    expect(
      () => new FargateRunner(f.stack, 'Bad', { vpc, image: f.image, size: { cpu: 1024, memoryMiB: 1024 } }),
    ).toThrow(/memoryMiB 1024 is not allowed with cpu 1024: Fargate allows 2048 to 8192 in steps of 1024/);
    const runner = new FargateRunner(f.stack, 'Runner', { vpc, image: f.image });
    expect(() =>
      runner.addTask({
        handler: 'verify',
        environment: { BACKUP_BUCKET: 'b' },
        size: { cpu: 2048, memoryMiB: 4096, ephemeralStorageGiB: 250 },
        grant: () => undefined,
      }),
    ).toThrow(/ephemeralStorageGiB 250 must be a whole number from 21 to 200/);
  });

  test('refuses a second task for the same handler and running a task never added', () => {
    const { stack, runner } = build();
    expect(() =>
      runner.addTask({ handler: 'verify', environment: { BACKUP_BUCKET: 'b' }, grant: () => undefined }),
    ).toThrow(/the verify task is already added/);
    expect(() => runner.runTask(stack, 'Drill', { handler: 'drill', input: '$' })).toThrow(
      /no drill task in .*: call addTask\(\{ handler: 'drill' \}\) first/,
    );
  });

  test('refuses REQUEST_RESPONSE, an input that is not a JsonPath and a deadline under a minute', () => {
    const { stack, runner } = build();
    expect(() =>
      runner.runTask(stack, 'A', {
        handler: 'verify',
        input: '$',
        integrationPattern: sfn.IntegrationPattern.REQUEST_RESPONSE,
      }),
    ).toThrow(/needs RUN_JOB or WAIT_FOR_TASK_TOKEN/);
    expect(() => runner.runTask(stack, 'B', { handler: 'verify', input: 'databaseId' })).toThrow(
      /input must be a JsonPath to the event object .*got "databaseId"/,
    );
    expect(() =>
      runner.runTask(stack, 'C', { handler: 'verify', input: '$', deadline: Duration.seconds(30) }),
    ).toThrow(/deadline \(30 seconds\) must be at least 1 minute/);
  });
});

describe('FargateRunner and cdk-nag', () => {
  test('a stack with the runner and a .sync workflow has no unsuppressed findings', () => {
    const f = workflowFixture();
    const placement = importedPlacement(f.stack);
    const key = new kms.Key(f.stack, 'LogKey', { enableKeyRotation: true });
    key.grantEncryptDecrypt(new iam.ServicePrincipal('logs.eu-west-1.amazonaws.com'));
    const runner = new FargateRunner(f.stack, 'Runner', {
      vpc: placement.vpc,
      securityGroups: placement.securityGroups,
      image: f.image,
      logEncryptionKey: key,
    });
    runner.addTask({
      handler: 'dump',
      environment: { BACKUP_BUCKET: 'b', BACKUP_KMS_KEY_ARN: f.key.keyArn },
      grant: grantDump(f),
    });
    runner.addTask({
      handler: 'verify',
      environment: { BACKUP_BUCKET: 'b' },
      grant: (role) => {
        f.bucket.grants.readBackups(role, 'orders');
        f.replicaBucket.grants.readBackups(role, 'orders');
      },
    });
    const dump = runner.runTask(f.stack, 'DumpTask', { handler: 'dump', input: '$' });
    const verify = runner.runTask(f.stack, 'VerifyTask', { handler: 'verify', input: '$.verify' });
    const stateMachine = new sfn.StateMachine(f.stack, 'Workflow', {
      definitionBody: sfn.DefinitionBody.fromChainable(dump.next(verify)),
      ...workflowObservability(
        workflowLogGroup(f.stack, 'WorkflowLogs', { name: 'orders', encryptionKey: key }),
      ),
    });
    suppressStateMachineRoleFindings(stateMachine);
    FargateRunner.suppressStateMachineFindings(stateMachine);
    Aspects.of(f.stack).add(new AwsSolutionsChecks({ verbose: true }));
    Aspects.of(f.stack).add(new NIST80053R5Checks({ verbose: true }));
    const annotations = Annotations.fromStack(f.stack);
    const finding = Match.stringLikeRegexp('AwsSolutions-.*|NIST.*');
    expect(annotations.findError('*', finding)).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('NIST.*'))).toEqual([]);
  });
});
