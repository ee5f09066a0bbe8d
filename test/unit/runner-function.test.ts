import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RunnerFunction, type RunnerFunctionProps } from '../../lib/constructs/runner-function';
import { REPOSITORY_ROOT, RunnerImage } from '../../lib/constructs/runner-image';
import { newStack } from './cdk-support';
import { actionsOf, importedPlacement, statementsOf, testImage } from './workflow-support';

function build(props: Partial<RunnerFunctionProps> = {}) {
  const stack = newStack('eu-west-1');
  const runner = new RunnerFunction(stack, 'Runner', { handler: 'dump', image: testImage(stack), ...props });
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

  test('reserves concurrency 1 unless told otherwise', () => {
    expect(
      build().template.findResources('AWS::Lambda::Function', {
        Properties: { ReservedConcurrentExecutions: 1 },
      }),
    ).not.toEqual({});
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
      handler: 'dump',
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
    new RunnerFunction(stack, 'Dump', { handler: 'dump', image });
    new RunnerFunction(stack, 'Verify', { handler: 'verify', image });
    const uris = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function')).map((f) =>
      JSON.stringify(f.Properties.Code.ImageUri),
    );
    expect(new Set(uris).size).toBe(1);
  });

  test('without an image, uses the stack-wide RunnerImage built from lambda/Dockerfile for ARM64', () => {
    // The image is part of the product: a missing Dockerfile is a failure, not a skipped test.
    expect(existsSync(join(REPOSITORY_ROOT, 'lambda', 'Dockerfile'))).toBe(true);
    const stack = newStack('eu-west-1');
    new RunnerFunction(stack, 'Dump', { handler: 'dump' });
    new RunnerFunction(stack, 'Verify', { handler: 'verify' });
    const images = stack.node.findAll().filter((c) => c instanceof RunnerImage);
    expect(images).toHaveLength(1);
    expect(images[0].node.path).toBe('TestStack/RunnerImage');
  });

  test('stages a build context that still holds lambda/Dockerfile (cdk deploy builds from the staged copy)', () => {
    // The image is part of the product: a missing Dockerfile is a failure, not a skipped test.
    expect(existsSync(join(REPOSITORY_ROOT, 'lambda', 'Dockerfile'))).toBe(true);
    const stack = newStack('eu-west-1');
    new RunnerFunction(stack, 'Dump', { handler: 'dump' });
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
      () => new RunnerFunction(stack, 'Runner', { handler: 'dump', image: testImage(stack), securityGroups }),
    ).toThrow(/vpcSubnets and securityGroups need a vpc/);
  });
});
