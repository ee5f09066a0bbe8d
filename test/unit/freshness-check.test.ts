import { Template } from 'aws-cdk-lib/assertions';
import { FreshnessCheck, type FreshnessCheckProps } from '../../lib/constructs/freshness-check';
import { permissionsOf, runnerBaseline, tierObjects, viaS3 } from './iam-support';
import { workflowFixture } from './workflow-support';

function build(change: Partial<FreshnessCheckProps> = {}) {
  const f = workflowFixture();
  const check = new FreshnessCheck(f.stack, 'Freshness', {
    bucket: f.bucket,
    databaseIds: ['orders', 'analytics'],
    replicaBucket: f.replicaBucket,
    image: f.image,
    ...change,
  });
  const template = Template.fromStack(f.stack);
  return { ...f, check, template, permissions: () => permissionsOf(template, f.stack, check.function.role) };
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

  test('is allowed exactly: read and list backups and drill reports of its databases, decrypt through S3, describe both keys', () => {
    const { permissions } = build();
    const primary = 'arn:aws:s3:::restorable-123456789012-eu-west-1-backups';
    const primaryKey = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    expect(permissions()).toEqual({
      ...runnerBaseline(),
      's3:GetObject': [
        ...tierObjects(primary, 'analytics'),
        ...tierObjects(primary, 'orders'),
        `${primary}/drills/analytics/*`,
        `${primary}/drills/orders/*`,
      ].sort(),
      's3:ListBucket': [
        // Unconditioned for HeadObject's 404 (readBackups); the drill-report listings are redundant with it.
        primary,
        `${primary} if {"StringLike":{"s3:prefix":["drills/analytics/*"]}}`,
        `${primary} if {"StringLike":{"s3:prefix":["drills/orders/*"]}}`,
      ],
      'kms:Decrypt': [primaryKey + viaS3('eu-west-1')],
      // Asked of KMS directly (metadata only), so no kms:ViaService; the replica key by its alias.
      'kms:DescribeKey': [
        'arn:aws:kms:eu-central-1:123456789012:key/* if {"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/restorable/backups"}}',
        primaryKey,
      ],
    });
  });

  test('describes only the primary key without a replica bucket', () => {
    const { permissions } = build({ replicaBucket: undefined });
    expect(permissions()['kms:DescribeKey']).toEqual([
      'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
    ]);
  });

  test('rejects an empty or invalid database list', () => {
    expect(() => build({ databaseIds: [] })).toThrow(/databaseIds must list at least one database/);
    expect(() => build({ databaseIds: ['Bad_Id'] })).toThrow(/database id "Bad_Id" is invalid/);
  });
});
