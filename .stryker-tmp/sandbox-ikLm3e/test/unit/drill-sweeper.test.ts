// @ts-nocheck
import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { DrillSweeper, type DrillSweeperProps } from '../../lib/constructs/drill-sweeper';
import { newStack } from './cdk-support';
import { actionsOf, allowedActions, resourcesOf, statementsOf, testImage } from './workflow-support';

function build(props: Partial<DrillSweeperProps> = {}) {
  const stack = newStack('eu-west-1');
  const sweeper = new DrillSweeper(stack, 'DrillSweeper', { image: testImage(stack), ...props });
  const template = Template.fromStack(stack);
  return { stack, sweeper, template, statements: statementsOf(template, stack, sweeper.function.role) };
}

describe('DrillSweeper', () => {
  test('runs the sweeper entry point of the runner image every hour by default', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['sweeper.handler'] },
      Architectures: ['arm64'],
      ReservedConcurrentExecutions: 1,
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      Target: { Input: '{}' },
    });
  });

  test('takes a configured interval', () => {
    const { template } = build({ interval: Duration.hours(6) });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(6 hours)' });
  });

  test('deletes only drill-named instances tagged restorable:drill=true', () => {
    const { statements } = build();
    const deletes = statements.filter((s) => actionsOf(s).includes('rds:DeleteDBInstance'));
    expect(deletes).toHaveLength(1);
    expect(resourcesOf(deletes[0])).toEqual(['arn:aws:rds:eu-west-1:123456789012:db:restorable-drill-*']);
    expect(deletes[0].Condition).toEqual({ StringEquals: { 'rds:db-tag/restorable:drill': 'true' } });
  });

  test('may list instances (with their tags) but change nothing else', () => {
    const { statements } = build();
    const work = allowedActions(statements).filter((a) => !/^(logs|xray):/.test(a));
    expect(new Set(work)).toEqual(
      new Set(['rds:DescribeDBInstances', 'rds:DeleteDBInstance', 'secretsmanager:DeleteSecret']),
    );
    const describe = statements.find((s) => actionsOf(s).includes('rds:DescribeDBInstances'))!;
    expect(resourcesOf(describe)).toEqual(['arn:aws:rds:eu-west-1:123456789012:db:*']);
  });

  test("deletes only drill instances' managed secrets, and only through RDS", () => {
    const { statements } = build();
    const secret = statements.find((s) => actionsOf(s).includes('secretsmanager:DeleteSecret'))!;
    expect(resourcesOf(secret)).toEqual(['arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-*']);
    expect(secret.Condition).toEqual({
      StringLike: {
        'secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn':
          'arn:aws:rds:eu-west-1:123456789012:db:restorable-drill-*',
      },
      Bool: { 'aws:ViaAWSService': 'true' },
    });
  });

  test('is not in a VPC: it only calls the RDS API', () => {
    const { template } = build();
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0];
    expect(fn.Properties.VpcConfig).toBeUndefined();
  });

  test('reports orphaned instances under the shared metric name, with no database dimension', () => {
    const { sweeper } = build();
    const metric = sweeper.metricOrphanedInstances();
    expect(metric.namespace).toBe('Restorable');
    expect(metric.metricName).toBe('OrphanedDrillInstances');
    expect(metric.dimensions).toEqual({});
  });

  test('rejects an interval Scheduler cannot express or that would sweep too rarely', () => {
    expect(() => build({ interval: Duration.days(2) })).toThrow(
      /interval \(2 days\) must be whole minutes between 5 minutes and 1 day/,
    );
    expect(() => build({ interval: Duration.seconds(90) })).toThrow(/must be whole minutes/);
  });
});
