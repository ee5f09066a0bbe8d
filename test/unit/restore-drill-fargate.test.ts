/**
 * RestoreDrill with `fargate` (the config's `runner: fargate`): the restore-and-check step as an
 * ECS task of the same image and handler; every other step, the Catch into CleanupOnError and the
 * grants stay as on Lambda.
 */
import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { RestoreDrillProps } from '../../lib/constructs/restore-drill';
import { permissionsOf } from './iam-support';
import { definitionOf, ordersRestoreDrill, workflowFixture } from './workflow-support';

function build(change: Partial<RestoreDrillProps> = {}) {
  const f = workflowFixture();
  const drill = ordersRestoreDrill(f, {
    fargate: { size: { cpu: 8192, memoryMiB: 16384, ephemeralStorageGiB: 180 }, timeout: Duration.hours(10) },
    ...change,
  });
  const template = Template.fromStack(f.stack);
  return { ...f, drill, template, definition: definitionOf(f.stack, drill.stateMachine) };
}

describe('RestoreDrill on Fargate', () => {
  test('runs only restore-and-check as an ECS task, with the same event and result, caught into cleanup', () => {
    const { definition, template } = build();
    const { States } = definition;
    expect(States.RestoreAndCheckEvent).toMatchObject({
      Type: 'Pass',
      Parameters: { action: 'restore-and-check', 'state.$': '$.state' },
      ResultPath: '$.runnerEvent',
      Next: 'RestoreAndCheck',
    });
    expect(States.RestoreAndCheck).toMatchObject({
      Resource: expect.stringMatching(/:states:::ecs:runTask\.waitForTaskToken$/),
      ResultPath: '$.state',
      Next: 'Cleanup',
      TimeoutSeconds: 10 * 3600 + 600,
      HeartbeatSeconds: 600,
      Catch: [{ ErrorEquals: ['States.ALL'], Next: 'CleanupOnError', ResultPath: '$.error' }],
    });
    expect(States.IsInstanceAvailable.Choices?.[0]).toMatchObject({ Next: 'RestoreAndCheckEvent' });
    // Every other step stays on the drill function.
    for (const name of ['Select', 'Provision', 'Status', 'Cleanup', 'Report', 'CleanupOnError']) {
      // payloadResponseOnly: the Resource is the function's ARN (a token here).
      expect(States[name].Resource).toBe('<token>');
    }
    template.resourceCountIs('AWS::Lambda::Function', 1);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '8192',
      Memory: '16384',
      EphemeralStorage: { SizeInGiB: 180 },
      ContainerDefinitions: [Match.objectLike({ Command: ['/var/task/runner.js', 'drill'] })],
    });
  });

  test('restores with pg_restore -j of the task: one job per vCPU unless configured', () => {
    const schedule = (t: Template) =>
      JSON.parse(
        (
          Object.values(t.findResources('AWS::Scheduler::Schedule'))[0].Properties as {
            Target: { Input: string };
          }
        ).Target.Input,
      ) as { drill: { jobs?: number } };
    expect(schedule(build().template).drill.jobs).toBe(8);
    expect(schedule(build({ fargate: { jobs: 3 } }).template).drill.jobs).toBe(3);
    expect(schedule(build({ fargate: undefined }).template).drill.jobs).toBeUndefined();
  });

  test('puts the task in the drill function security group and subnets, so it reaches the drill instance', () => {
    const { definition, drill, stack } = build();
    const network = (
      definition.States.RestoreAndCheck.Parameters as {
        NetworkConfiguration: { AwsvpcConfiguration: { Subnets: string[]; SecurityGroups: unknown[] } };
      }
    ).NetworkConfiguration.AwsvpcConfiguration;
    expect(network.Subnets).toEqual(['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210']);
    expect(network.SecurityGroups).toHaveLength(1);
    expect(drill.fargateRunner!.securityGroups).toEqual([drill.functionSecurityGroup]);
    // ...whose rules are the only way into the drill instance.
    const definition_ = JSON.stringify(
      stack.resolve(
        (drill.stateMachine.node.defaultChild as never as { definitionString: unknown }).definitionString,
      ),
    );
    expect(definition_).toContain(stack.getLogicalId(drill.functionSecurityGroup.node.defaultChild as never));
  });

  test("gives the task the drill function's permissions from the same grant, and lets it answer its tokens", () => {
    const { template, stack, drill } = build();
    const task = permissionsOf(template, stack, drill.fargateRunner!.task('drill').taskRole);
    const fn = permissionsOf(template, stack, drill.drillFunction.role);
    const work = (p: Record<string, string[]>) =>
      Object.fromEntries(
        Object.entries(p).filter(([a]) => /^(s3|kms|rds|secretsmanager|iam:Create)/.test(a)),
      );
    expect(work(task)).toEqual(work(fn));
    expect(Object.keys(work(task))).toEqual(expect.arrayContaining(['rds:CreateDBInstance', 's3:GetObject']));
    const machine = `\${${stack.getLogicalId(drill.stateMachine.node.defaultChild as never)}}`;
    expect(task['states:SendTaskSuccess']).toEqual([machine]);
  });

  test('keeps the drill instance alive past the longest Fargate restore, and refuses a shorter lifetime', () => {
    const env = (t: Template) =>
      (
        Object.values(t.findResources('AWS::Lambda::Function'))[0].Properties as {
          Environment: { Variables: Record<string, string> };
        }
      ).Environment.Variables;
    // 10 h restore + 10 min start + select, provision and the 60-minute wait: 13 h.
    expect(env(build().template).DRILL_MAX_LIFETIME_HOURS).toBe('13');
    expect(() => build({ maxInstanceLifetime: Duration.hours(8) })).toThrow(
      /maxInstanceLifetime \(8 hours\) must be longer than a drill with a Fargate restore may need its instance \(12 hours/,
    );
  });
});
