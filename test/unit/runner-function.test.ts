import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { parseHandlerEnv } from '../../lambda/core/handler-env';
import {
  lambdaEnvironment,
  RunnerFunction,
  type RunnerEntryPoint,
  type RunnerFunctionOptions,
} from '../../lib/constructs/runner-function';
import { REPOSITORY_ROOT, RunnerImage, type RunnerHandler } from '../../lib/constructs/runner-image';
import { newStack } from './cdk-support';
import { actionsOf, importedPlacement, statementsOf, testImage } from './workflow-support';

/** An entry point with the smallest environment its handler's schema accepts. */
function entry(handler: RunnerHandler = 'dump'): RunnerEntryPoint {
  switch (handler) {
    case 'dump':
      return { handler, environment: { BACKUP_BUCKET: 'backups', BACKUP_KMS_KEY_ARN: 'arn:key' } };
    case 'verify':
      return { handler, environment: { BACKUP_BUCKET: 'backups' } };
    case 'freshness':
      return {
        handler,
        environment: { BACKUP_BUCKET: 'backups', DATABASE_IDS: ['orders'], BACKUP_KMS_KEY_ARN: 'arn:key' },
      };
    case 'drill':
      return {
        handler,
        environment: { BACKUP_BUCKET: 'backups', DRILL_SUBNET_GROUP: 'g', DRILL_SECURITY_GROUP_IDS: 'sg-1' },
      };
    case 'sweeper':
      return { handler, environment: {} };
    case 'report':
      return { handler, environment: { BACKUP_BUCKET: 'backups', DATABASE_IDS: ['orders'] } };
    case 'discovery':
      return { handler, environment: { WORKLOAD: 'backup', LISTED_DATABASES: [], DEFAULTS: {} } };
  }
}

function build(props: RunnerFunctionOptions & { handler?: RunnerHandler } = {}) {
  const stack = newStack('eu-west-1');
  const { handler, ...options } = props;
  const runner = new RunnerFunction(stack, 'Runner', {
    ...entry(handler),
    image: testImage(stack),
    ...options,
  });
  return { stack, runner, template: Template.fromStack(stack) };
}

describe('RunnerFunction', () => {
  test('runs the named entry point of the runner image on ARM64 with active tracing', () => {
    const { template } = build({ handler: 'verify' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      PackageType: 'Image',
      ImageConfig: { Command: ['verify.handler'] },
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
    });
  });

  test('gives dumps the Lambda maximum timeout and the scheduled checks less', () => {
    expect(
      build({ handler: 'dump' }).template.findResources('AWS::Lambda::Function', {
        Properties: { Timeout: 900, MemorySize: 2048 },
      }),
    ).not.toEqual({});
    expect(
      build({ handler: 'sweeper' }).template.findResources('AWS::Lambda::Function', {
        Properties: { Timeout: 300 },
      }),
    ).not.toEqual({});
  });

  test('logs to its own log group, kept three months and retained by default', () => {
    const { template } = build();
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 90 },
      DeletionPolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('^RunnerLogGroup') } },
    });
  });

  test('takes a log retention, removal policy and key', () => {
    const { template } = build({
      logRetention: logs.RetentionDays.ONE_YEAR,
      logRemovalPolicy: RemovalPolicy.DESTROY,
    });
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 365 },
      DeletionPolicy: 'Delete',
    });
  });

  test('reserves no concurrency unless told to', () => {
    expect(
      build().template.findResources('AWS::Lambda::Function', {
        Properties: { ReservedConcurrentExecutions: Match.anyValue() },
      }),
    ).toEqual({});
    expect(
      build({ reservedConcurrentExecutions: 3 }).template.findResources('AWS::Lambda::Function', {
        Properties: { ReservedConcurrentExecutions: 3 },
      }),
    ).not.toEqual({});
  });

  test('has a role without AWS managed policies, writing only to its own log group', () => {
    const { stack, runner, template } = build();
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })],
      },
      ManagedPolicyArns: Match.absent(),
    });
    const logsStatement = statementsOf(template, stack, runner.role).find((s) =>
      actionsOf(s).includes('logs:PutLogEvents'),
    )!;
    expect(logsStatement.Resource).toEqual({
      'Fn::GetAtt': [stack.getLogicalId(runner.logGroup.node.defaultChild as logs.CfnLogGroup), 'Arn'],
    });
  });

  test('is outside any VPC without one, and has no network-interface permissions then', () => {
    const { stack, runner, template } = build();
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0];
    expect(fn.Properties.VpcConfig).toBeUndefined();
    expect(statementsOf(template, stack, runner.role).flatMap(actionsOf)).not.toContain(
      'ec2:CreateNetworkInterface',
    );
  });

  test('is placed in the given subnets and security groups with the permissions Lambda needs for that', () => {
    const stack = newStack('eu-west-1');
    const placement = importedPlacement(stack);
    const runner = new RunnerFunction(stack, 'Runner', {
      ...entry('dump'),
      image: testImage(stack),
      vpc: placement.vpc,
      securityGroups: placement.securityGroups,
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: {
        SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
        SecurityGroupIds: ['sg-0123456789abcdef0'],
      },
    });
    expect(statementsOf(template, stack, runner.role).flatMap(actionsOf)).toEqual(
      expect.arrayContaining(['ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface']),
    );
  });

  test('shares one image asset among all functions of a stack', () => {
    const stack = newStack('eu-west-1');
    const image = testImage(stack);
    new RunnerFunction(stack, 'Dump', { ...entry('dump'), image });
    new RunnerFunction(stack, 'Verify', { ...entry('verify'), image });
    const uris = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function')).map((f) =>
      JSON.stringify(f.Properties.Code.ImageUri),
    );
    expect(new Set(uris).size).toBe(1);
  });

  test('without an image, uses the stack-wide RunnerImage built from lambda/Dockerfile for ARM64', () => {
    // The image is part of the product: a missing Dockerfile is a failure, not a skipped test.
    expect(existsSync(join(REPOSITORY_ROOT, 'lambda', 'Dockerfile'))).toBe(true);
    const stack = newStack('eu-west-1');
    new RunnerFunction(stack, 'Dump', entry('dump'));
    new RunnerFunction(stack, 'Verify', entry('verify'));
    const images = stack.node.findAll().filter((c) => c instanceof RunnerImage);
    expect(images).toHaveLength(1);
    expect(images[0].node.path).toBe('TestStack/RunnerImage');
  });

  test('stages a build context that still holds lambda/Dockerfile (cdk deploy builds from the staged copy)', () => {
    // The image is part of the product: a missing Dockerfile is a failure, not a skipped test.
    expect(existsSync(join(REPOSITORY_ROOT, 'lambda', 'Dockerfile'))).toBe(true);
    const stack = newStack('eu-west-1');
    new RunnerFunction(stack, 'Dump', entry('dump'));
    const assembly = App.of(stack)!.synth() as unknown as { directory: string };
    const manifest = JSON.parse(readFileSync(join(assembly.directory, 'TestStack.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile: string } }>;
    };
    const images = Object.values(manifest.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0].source.dockerFile).toBe('lambda/Dockerfile');
    expect(existsSync(join(assembly.directory, images[0].source.directory, 'lambda', 'Dockerfile'))).toBe(
      true,
    );
    expect(existsSync(join(assembly.directory, images[0].source.directory, 'node_modules'))).toBe(false);
  });

  test('rejects memory, timeout and concurrency Lambda cannot have', () => {
    expect(() => build({ memorySize: 64 })).toThrow(
      /memorySize \(64\) must be a whole number of MB between 128 and 10240/,
    );
    expect(() => build({ timeout: Duration.minutes(16) })).toThrow(
      /timeout \(16 minutes\) must be between 1 second and 15 minutes/,
    );
    expect(() => build({ reservedConcurrentExecutions: 0 })).toThrow(
      /reservedConcurrentExecutions \(0\) must be a whole number of at least 1/,
    );
  });

  test('rejects subnets or security groups without a VPC', () => {
    const stack = newStack('eu-west-1');
    const { securityGroups } = importedPlacement(stack);
    expect(
      () =>
        new RunnerFunction(stack, 'Runner', { ...entry('dump'), image: testImage(stack), securityGroups }),
    ).toThrow(/vpcSubnets and securityGroups need a vpc/);
  });

  test('writes the environment as Lambda takes it: text, numbers as text, JSON values as JSON, unset left out', () => {
    const stack = newStack('eu-west-1');
    const bucket = new s3.Bucket(stack, 'Bucket');
    const environment = stack.resolve(
      lambdaEnvironment(stack, {
        BACKUP_BUCKET: bucket.bucketName,
        BACKUP_KMS_KEY_ARN: 'arn:key',
        MIN_DUMP_BYTES: 1024,
        OBJECT_LOCK_MODE: undefined,
        RETENTION_DAYS: { daily: 7, weekly: 35, monthly: 400, yearly: 3650 },
      }),
    ) as Record<string, unknown>;
    expect(environment).toEqual({
      BACKUP_BUCKET: { Ref: expect.stringMatching(/^Bucket/) },
      BACKUP_KMS_KEY_ARN: 'arn:key',
      MIN_DUMP_BYTES: '1024',
      RETENTION_DAYS: '{"daily":7,"weekly":35,"monthly":400,"yearly":3650}',
    });
    // What the handler then reads back.
    expect(
      parseHandlerEnv('dump', { ...(environment as Record<string, string>), BACKUP_BUCKET: 'backups' }),
    ).toMatchObject({ MIN_DUMP_BYTES: 1024, OBJECT_LOCK_MODE: 'GOVERNANCE', RETENTION_DAYS: { daily: 7 } });
  });

  test('types the environment by the handler (checked by tsc)', () => {
    const stack = newStack('eu-west-1');
    const image = testImage(stack);
    new RunnerFunction(stack, 'Typo', {
      handler: 'dump',
      image,
      // @ts-expect-error: a variable the handler does not read (a typo of BACKUP_BUCKET)
      environment: { BACKUP_BUCKETS: 'b', BACKUP_KMS_KEY_ARN: 'k' },
    });
    // @ts-expect-error: a required variable (BACKUP_KMS_KEY_ARN) is missing
    new RunnerFunction(stack, 'Missing', { handler: 'dump', image, environment: { BACKUP_BUCKET: 'b' } });
    new RunnerFunction(stack, 'Swapped', {
      handler: 'verify',
      image,
      // @ts-expect-error: the dump's environment given to the verify handler
      environment: { BACKUP_BUCKET: 'b', BACKUP_KMS_KEY_ARN: 'k' },
    });
    new RunnerFunction(stack, 'Mode', {
      handler: 'dump',
      image,
      // @ts-expect-error: a lock mode the handler does not know
      environment: { BACKUP_BUCKET: 'b', BACKUP_KMS_KEY_ARN: 'k', OBJECT_LOCK_MODE: 'LEGAL' },
    });
    expect(stack.node.children.filter((c) => c instanceof RunnerFunction)).toHaveLength(4);
  });
});
