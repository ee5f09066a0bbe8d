import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { DrillParameterGroups } from '../../lib/constructs/drill-parameter-groups';

const build = (props: Partial<ConstructorParameters<typeof DrillParameterGroups>[2]> = {}) => {
  const stack = new Stack(new App(), 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const groups = new DrillParameterGroups(stack, 'Groups', { databaseId: 'orders', ...props });
  return { stack, groups, template: Template.fromStack(stack) };
};

describe('DrillParameterGroups', () => {
  test('creates one named group per major with max_locks_per_transaction raised', () => {
    const { template, groups, stack } = build();
    template.resourceCountIs('AWS::RDS::DBParameterGroup', 5);
    for (const major of [13, 14, 15, 16, 17]) {
      template.hasResourceProperties('AWS::RDS::DBParameterGroup', {
        Family: `postgres${major}`,
        DBParameterGroupName: `restorable-drill-orders-pg${major}`,
        Parameters: { max_locks_per_transaction: '256', 'rds.force_ssl': '1' },
      });
    }
    expect(Object.keys(groups.namesByMajor)).toEqual(['13', '14', '15', '16', '17']);
    // The names handed to the drill function are the groups' own (a Ref): the function's
    // environment then depends on the groups existing.
    expect(stack.resolve(groups.namesByMajor['16'])).toEqual({
      Ref: expect.stringMatching(/^GroupsPostgres16/),
    });
  });

  test('takes other majors and a lock setting', () => {
    const { template } = build({ majors: [16, 18], maxLocksPerTransaction: 1024 });
    template.resourceCountIs('AWS::RDS::DBParameterGroup', 2);
    template.hasResourceProperties('AWS::RDS::DBParameterGroup', {
      Family: 'postgres18',
      Parameters: { max_locks_per_transaction: '1024', 'rds.force_ssl': '1' },
    });
  });

  test('adds configured parameters (shared_preload_libraries), lets them set the lock table, keeps TLS forced', () => {
    const { template } = build({
      majors: [16],
      parameters: { shared_preload_libraries: 'pg_cron,pg_stat_statements', max_locks_per_transaction: 2048 },
    });
    template.hasResourceProperties('AWS::RDS::DBParameterGroup', {
      Family: 'postgres16',
      Parameters: {
        shared_preload_libraries: 'pg_cron,pg_stat_statements',
        max_locks_per_transaction: '2048',
        'rds.force_ssl': '1',
      },
    });
    expect(() => build({ parameters: { 'rds.force_ssl': 0 } })).toThrow(
      /drill parameters rds\.force_ssl: .*stays 1/,
    );
    expect(() => build({ parameters: { 'Bad Name': 'x' } })).toThrow(/drill parameters Bad Name/);
    expect(() => build({ parameters: { max_locks_per_transaction: 10 } })).toThrow(
      /maxLocksPerTransaction 10 must be/,
    );
  });

  test('rejects majors a drill cannot use and a lock setting below the default', () => {
    expect(() => build({ majors: [9, 16, 99] })).toThrow(
      /majors 9, 99: each must be a PostgreSQL major from 12 to 18/,
    );
    expect(() => build({ maxLocksPerTransaction: 10 })).toThrow(
      /maxLocksPerTransaction 10 must be a whole number from 64/,
    );
  });
});
