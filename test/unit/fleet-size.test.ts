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
  const eight = resourcesWith(8);
  const perDatabase = three.total - two.total;
  const shared = two.total - 2 * perDatabase;
  const managedPolicies = (r: typeof two) => r.byType['AWS::IAM::ManagedPolicy'] ?? 0;

  it('costs 50 resources per database on top of 58 shared ones (158 for two databases)', () => {
    // The vault's trail, rules and evidence report are shared; each drill now brings its own
    // parameter groups (5 majors), which a fleet shape should share across databases.
    expect({ shared, perDatabase, two: two.total, eight: eight.total }).toEqual({
      shared: 58,
      perDatabase: 50,
      two: 158,
      eight: 460,
    });
  });

  it('is linear except for shared policies that list every database and spill into managed policies', () => {
    // A shared role's policy names every database (the freshness check reads all prefixes); past
    // the inline policy size limit CDK moves statements into an extra managed policy.
    expect(eight.total - (shared + 8 * perDatabase)).toBe(managedPolicies(eight) - managedPolicies(two));
    expect(managedPolicies(eight) - managedPolicies(two)).toBeGreaterThanOrEqual(0);
  });

  it('fits 8 databases under the 500-resource quota and not 9: why fleets need another shape', () => {
    const maxDatabases = Math.floor((STACK_RESOURCE_QUOTA - shared - 1) / perDatabase);
    expect(maxDatabases).toBe(8);
    expect(eight.total).toBeLessThanOrEqual(STACK_RESOURCE_QUOTA);
    expect(shared + 9 * perDatabase).toBeGreaterThan(STACK_RESOURCE_QUOTA);
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
      parameterGroups: per('AWS::RDS::DBParameterGroup'),
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
      parameterGroups: 5,
    });
    expect(Object.values(counted).reduce((a, b) => a + b, 0)).toBe(perDatabase);
  });
});
