/**
 * The monthly evidence report construct (template assertions) and the month arithmetic of its core.
 */
import { Duration, TimeZone } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { EvidenceReport } from '../../lib/constructs/evidence-report';
import { EVIDENCE_TOPIC_OUTPUT } from '../../lib/outputs';
import { monthRange, previousMonth } from '../../lambda/core/evidence/monthly';
import { synthBackupStack } from './cdk-support';
import { permissionsOf, runnerBaseline, tierObjects, viaS3 } from './iam-support';
import { workflowFixture } from './workflow-support';

function build(extra: Partial<ConstructorParameters<typeof EvidenceReport>[2]> = {}) {
  const { stack, bucket, image } = workflowFixture();
  const construct = new EvidenceReport(stack, 'Evidence', {
    bucket,
    image,
    databases: [
      { id: 'orders', rpo: Duration.hours(24) },
      { id: 'billing', rpo: Duration.hours(6) },
    ],
    ...extra,
  });
  return { stack, construct, template: Template.fromStack(stack) };
}

test('runs monthly on the 1st at 06:00 UTC by default, on an EventBridge Scheduler schedule', () => {
  const { template } = build();
  template.hasResourceProperties('AWS::Scheduler::Schedule', {
    ScheduleExpression: 'cron(0 6 1 * ? *)',
    ScheduleExpressionTimezone: 'Etc/UTC',
    Target: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Evidence'), 'Arn'] } },
  });
});

test('takes a configured schedule', () => {
  const { template } = build({
    schedule: scheduler.ScheduleExpression.expression('cron(0 8 2 * ? *)', TimeZone.ETC_UTC),
  });
  template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 8 2 * ? *)' });
});

test('the function gets the databases, their RPOs, the lock mode and the report retention', () => {
  const { template } = build({ objectLockMode: 'GOVERNANCE', reportRetention: Duration.days(3650) });
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: {
      Variables: Match.objectLike({
        DATABASE_IDS: '["orders","billing"]',
        RPO_HOURS: '{"orders":24,"billing":6}',
        OBJECT_LOCK_MODE: 'GOVERNANCE',
        REPORT_RETENTION_DAYS: '3650',
      }),
    },
  });
});

test('announces every run, success or failure, on a KMS-encrypted topic, without async retries', () => {
  const { template, stack, construct } = build();
  template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  const topic = stack.resolve(construct.topic.topicArn);
  template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
    MaximumRetryAttempts: 0,
    DestinationConfig: { OnSuccess: { Destination: topic }, OnFailure: { Destination: topic } },
  });
  template.hasResourceProperties('AWS::IAM::Policy', {
    PolicyDocument: {
      Statement: Match.arrayWith([Match.objectLike({ Action: 'sns:Publish', Resource: topic })]),
    },
  });
});

test("is allowed exactly: read its databases' backups and drill reports, the retention settings, write under reports/, announce", () => {
  const { template, stack, construct } = build();
  const bucket = 'arn:aws:s3:::restorable-123456789012-eu-west-1-backups';
  const key = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
  const permissions = permissionsOf(template, stack, construct.function.role);
  expect(permissions).toEqual({
    ...runnerBaseline(),
    's3:GetObject': [
      ...tierObjects(bucket, 'billing'),
      ...tierObjects(bucket, 'orders'),
      `${bucket}/drills/billing/*`,
      `${bucket}/drills/orders/*`,
    ].sort(),
    's3:ListBucket': [
      // Unconditioned for HeadObject's 404 (readBackups); the drill-report listings are redundant with it.
      bucket,
      `${bucket} if {"StringLike":{"s3:prefix":["drills/billing/*"]}}`,
      `${bucket} if {"StringLike":{"s3:prefix":["drills/orders/*"]}}`,
    ],
    's3:GetLifecycleConfiguration': [bucket],
    's3:GetBucketObjectLockConfiguration': [bucket],
    's3:PutObject': [`${bucket}/reports/*`],
    's3:PutObjectRetention': [`${bucket}/reports/*`],
    // The topic key: SNS decrypts with it on publish (topic.grantPublish).
    'kms:Decrypt': [expect.stringMatching(/^\$\{EvidenceTopicKey\w+\.Arn\}$/), key + viaS3('eu-west-1')],
    'kms:GenerateDataKey': [key + viaS3('eu-west-1')],
    'kms:GenerateDataKey*': [expect.stringMatching(/^\$\{EvidenceTopicKey\w+\.Arn\}$/)],
    'sns:Publish': [expect.stringMatching(/^\$\{EvidenceTopic\w+\}$/)],
  });
});

describe('in the fleet shape', () => {
  const fleet = () =>
    build({
      listInEvent: true,
      unlistedRpo: Duration.hours(36),
    });

  test('the listed databases and RPOs travel in the scheduled event, not the environment; the unlisted RPO is set', () => {
    const { template } = fleet();
    const [fn] = Object.values(template.findResources('AWS::Lambda::Function')) as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    }[];
    const variables = fn.Properties.Environment.Variables;
    expect(Object.keys(variables)).not.toContain('DATABASE_IDS');
    expect(Object.keys(variables)).not.toContain('RPO_HOURS');
    expect(variables.UNLISTED_RPO_HOURS).toBe('36');
    const [schedule] = Object.values(template.findResources('AWS::Scheduler::Schedule')) as {
      Properties: { Target: { Input: string } };
    }[];
    expect(JSON.parse(schedule.Properties.Target.Input)).toEqual({
      listedDatabases: [
        { id: 'orders', rpoHours: 24 },
        { id: 'billing', rpoHours: 6 },
      ],
    });
  });

  test("reads every database's evidence but no dump, and writes under reports/ as before", () => {
    const { template, stack, construct } = fleet();
    const bucket = 'arn:aws:s3:::restorable-123456789012-eu-west-1-backups';
    const permissions = permissionsOf(template, stack, construct.function.role);
    expect(
      Object.fromEntries(Object.entries(permissions).filter(([action]) => action.startsWith('s3:'))),
    ).toEqual({
      's3:GetObject': [
        ...['adhoc', 'daily', 'monthly', 'weekly', 'yearly'].flatMap((tier) => [
          `${bucket}/${tier}/*.manifest.json`,
          `${bucket}/${tier}/*.verify-*.json`,
        ]),
        `${bucket}/drills/*`,
      ].sort(),
      's3:ListBucket': [bucket],
      's3:GetLifecycleConfiguration': [bucket],
      's3:GetBucketObjectLockConfiguration': [bucket],
      's3:PutObject': [`${bucket}/reports/*`],
      's3:PutObjectRetention': [`${bucket}/reports/*`],
    });
  });

  test('with a selection and no listed database, the event lists none and the report still deploys', () => {
    const { template } = build({ databases: [], listInEvent: true, unlistedRpo: Duration.hours(24) });
    const [schedule] = Object.values(template.findResources('AWS::Scheduler::Schedule')) as {
      Properties: { Target: { Input: string } };
    }[];
    expect(JSON.parse(schedule.Properties.Target.Input)).toEqual({ listedDatabases: [] });
  });
});

test('validates its props', () => {
  expect(() => build({ databases: [] })).toThrow(
    /databases must list at least one database \(or give unlistedRpo\)/,
  );
  expect(() => build({ unlistedRpo: Duration.hours(0) })).toThrow(/unlistedRpo must be positive/);
  expect(() => build({ databases: [{ id: 'Orders!', rpo: Duration.hours(1) }] })).toThrow(
    /database id "Orders!" is invalid/,
  );
  expect(() => build({ reportRetention: Duration.hours(2) })).toThrow(
    /reportRetention must be a whole number of days, at least 1 \(got 2 hours\)/,
  );
});

test('the backup stack deploys it for every configured database and outputs its topic', () => {
  const { stack, template } = synthBackupStack();
  expect(stack.evidence?.function.handler).toBe('report');
  const outputs = template.toJSON().Outputs as Record<string, unknown>;
  expect(outputs[EVIDENCE_TOPIC_OUTPUT]).toBeDefined();
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: {
      Variables: Match.objectLike({
        DATABASE_IDS: JSON.stringify(stack.config.databases.map((d) => d.id)),
      }),
    },
  });
});

describe('months', () => {
  test.each([
    ['2026-11-01T06:00:00Z', { month: '2026-10', from: '2026-10-01', to: '2026-10-31' }],
    ['2026-03-01T06:00:00Z', { month: '2026-02', from: '2026-02-01', to: '2026-02-28' }],
    ['2028-03-15T00:00:00Z', { month: '2028-02', from: '2028-02-01', to: '2028-02-29' }],
    ['2027-01-01T00:00:00Z', { month: '2026-12', from: '2026-12-01', to: '2026-12-31' }],
  ])('the month before %s', (at, expected) => {
    expect(previousMonth(new Date(at))).toEqual(expected);
  });

  test('a named month', () => {
    expect(monthRange('2026-04')).toEqual({ month: '2026-04', from: '2026-04-01', to: '2026-04-30' });
    expect(() => monthRange('2026-13')).toThrow(/month must be yyyy-mm \(got 2026-13\)/);
  });
});
