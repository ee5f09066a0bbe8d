// @ts-nocheck
import { Template } from 'aws-cdk-lib/assertions';
import { FreshnessCheck, type FreshnessCheckProps } from '../../lib/constructs/freshness-check';
import {
  actionsOf,
  allowedActions,
  flatten,
  resourcesOf,
  statementsOf,
  workflowFixture,
} from './workflow-support';

function build(change: Partial<FreshnessCheckProps> = {}) {
  const f = workflowFixture();
  const check = new FreshnessCheck(f.stack, 'Freshness', {
    bucket: f.bucket,
    key: f.key,
    databaseIds: ['orders', 'analytics'],
    replicaKey: f.replicaKey,
    replicaRegion: 'eu-central-1',
    image: f.image,
    ...change,
  });
  const template = Template.fromStack(f.stack);
  return { ...f, check, template, statements: statementsOf(template, f.stack, check.function.role) };
}

describe('FreshnessCheck', () => {
  test('runs hourly at minute 5 (UTC), so each hourly alarm period holds one data point', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(5 * * * ? *)',
      ScheduleExpressionTimezone: 'Etc/UTC',
      Target: { Input: '{}' },
    });
  });

  test('gets the bucket, the database ids and both keys the freshness handler reads', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['freshness.handler'] },
      Environment: {
        Variables: {
          BACKUP_BUCKET: 'restorable-123456789012-eu-west-1-backups',
          DATABASE_IDS: '["orders","analytics"]',
          BACKUP_KMS_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
          REPLICA_KMS_KEY_ARN: 'arn:aws:kms:eu-central-1:123456789012:alias/restorable/backups',
          REPLICA_REGION: 'eu-central-1',
        },
      },
    });
  });

  test('only reads: lists the bucket, reads the databases’ backups and drill reports, describes the keys', () => {
    const { statements } = build();
    const work = allowedActions(statements).filter((a) => !/^(logs|xray):/.test(a));
    expect(new Set(work)).toEqual(
      new Set(['s3:GetObject', 's3:ListBucket', 'kms:Decrypt', 'kms:DescribeKey']),
    );
    const objects = statements.filter((s) => actionsOf(s).includes('s3:GetObject')).flatMap(resourcesOf);
    expect(objects).toHaveLength(10);
    expect(
      objects.every((r) => /\/(yearly|monthly|weekly|daily|drills)\/(orders|analytics)\/\*$/.test(r)),
    ).toBe(true);
    expect(objects.filter((r) => r.includes('/drills/'))).toHaveLength(2);
  });

  test('describes the replica key by alias in the replica region', () => {
    const { statements } = build();
    const replica = statements.find((s) => s.Condition?.['ForAnyValue:StringEquals'])!;
    expect(actionsOf(replica)).toEqual(['kms:DescribeKey']);
    expect(flatten(replica.Resource)).toBe('arn:aws:kms:eu-central-1:123456789012:key/*');
    expect(replica.Condition).toEqual({
      'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/restorable/backups' },
    });
  });

  test('rejects an empty or invalid database list', () => {
    expect(() => build({ databaseIds: [] })).toThrow(/databaseIds must list at least one database/);
    expect(() => build({ databaseIds: ['Bad_Id'] })).toThrow(/database id "Bad_Id" is invalid/);
  });
});
