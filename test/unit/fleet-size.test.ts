/**
 * What today's stack shape costs per database, measured: BackupStack synthesized with 2 and with
 * 10 databases (each a copy of the cdk.json example's first one, drill included). The numbers
 * here are the ones docs/FLEETS.md quotes; when a change moves them, this test says so and the
 * doc's quota math must be redone.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { exampleConfig, newApp } from './cdk-support';
import { BackupStack } from '../../lib/stacks/backup-stack';

/** CloudFormation's resources-per-stack quota. @see https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html */
const STACK_RESOURCE_QUOTA = 500;

function resourcesWith(count: number): { total: number; byType: Record<string, number> } {
  const config = exampleConfig((input) => {
    const [first] = input.databases;
    input.databases = Array.from({ length: count }, (_, i) => ({
      ...structuredClone(first),
      id: `db-${i + 1}`,
    }));
  });
  const stack = new BackupStack(newApp(), 'RestorableBackup', { config });
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, { Type: string }>;
  const byType: Record<string, number> = {};
  for (const { Type } of Object.values(resources)) byType[Type] = (byType[Type] ?? 0) + 1;
  return { total: Object.keys(resources).length, byType };
}

describe('BackupStack size today (one workflow, drill and alarm set per database)', () => {
  const two = resourcesWith(2);
  const three = resourcesWith(3);
  const ten = resourcesWith(10);
  const perDatabase = three.total - two.total;
  const shared = two.total - 2 * perDatabase;
  const managedPolicies = (r: typeof two) => r.byType['AWS::IAM::ManagedPolicy'] ?? 0;

  it('costs 45 resources per database on top of 36 shared ones (126 for two databases)', () => {
    expect({ shared, perDatabase, two: two.total, ten: ten.total }).toEqual({
      shared: 36,
      perDatabase: 45,
      two: 126,
      ten: 487,
    });
  });

  it('is linear except for shared policies that list every database and spill into managed policies', () => {
    // A shared role's policy names every database (the freshness check reads all prefixes); past
    // the inline policy size limit CDK moves statements into an extra managed policy.
    expect(ten.total - (shared + 10 * perDatabase)).toBe(managedPolicies(ten) - managedPolicies(two));
    expect(managedPolicies(ten) - managedPolicies(two)).toBe(1);
  });

  it('fits 10 databases under the 500-resource quota and not 11: why fleets need another shape', () => {
    const maxDatabases = Math.floor((STACK_RESOURCE_QUOTA - shared - 1) / perDatabase);
    expect(maxDatabases).toBe(10);
    expect(ten.total).toBeLessThanOrEqual(STACK_RESOURCE_QUOTA);
    expect(shared + 11 * perDatabase).toBeGreaterThan(STACK_RESOURCE_QUOTA);
  });

  it('spends each database on 3 functions, 7 roles, 11 alarms, 2 workflows, 2 schedules and 5 log groups', () => {
    const per = (type: string) => (three.byType[type] ?? 0) - (two.byType[type] ?? 0);
    const counted = {
      functions: per('AWS::Lambda::Function'),
      invokeConfigs: per('AWS::Lambda::EventInvokeConfig'),
      roles: per('AWS::IAM::Role'),
      policies: per('AWS::IAM::Policy'),
      alarms: per('AWS::CloudWatch::Alarm'),
      stateMachines: per('AWS::StepFunctions::StateMachine'),
      schedules: per('AWS::Scheduler::Schedule'),
      logGroups: per('AWS::Logs::LogGroup'),
      securityGroups:
        per('AWS::EC2::SecurityGroup') +
        per('AWS::EC2::SecurityGroupEgress') +
        per('AWS::EC2::SecurityGroupIngress'),
      subnetGroups: per('AWS::RDS::DBSubnetGroup'),
    };
    expect(counted).toEqual({
      functions: 3,
      invokeConfigs: 3,
      roles: 7,
      policies: 7,
      alarms: 11,
      stateMachines: 2,
      schedules: 2,
      logGroups: 5,
      securityGroups: 4,
      subnetGroups: 1,
    });
    expect(Object.values(counted).reduce((a, b) => a + b, 0)).toBe(perDatabase);
  });
});
