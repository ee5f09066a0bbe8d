// @ts-nocheck
import { Duration, TimeZone } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { BackupWorkflow, type BackupWorkflowProps } from '../../lib/constructs/backup-workflow';
import {
  actionsOf,
  allowedActions,
  definitionOf,
  importedPlacement,
  resourcesOf,
  SECRET_ARN,
  statementsOf,
  workflowFixture,
} from './workflow-support';

function build(change: (f: ReturnType<typeof workflowFixture>) => Partial<BackupWorkflowProps> = () => ({})) {
  const f = workflowFixture();
  const workflow = new BackupWorkflow(f.stack, 'OrdersBackup', {
    databaseId: 'orders',
    secret: f.secret,
    bucket: f.bucket,
    key: f.key,
    replicaBucket: f.replicaBucket,
    replicaKey: f.replicaKey,
    alarmTopic: f.topic,
    image: f.image,
    ...change(f),
  });
  const template = Template.fromStack(f.stack);
  return { ...f, workflow, template };
}

const TIER_OBJECTS = ['yearly', 'monthly', 'weekly', 'daily'].map(
  (tier) => `arn:aws:s3:::restorable-123456789012-eu-west-1-backups/${tier}/orders/*`,
);

describe('BackupWorkflow state machine', () => {
  test('runs Dump then Verify, each a task of its own function, and ends verified', () => {
    const { stack, workflow } = build();
    const asl = definitionOf(stack, workflow.stateMachine);
    expect(asl.StartAt).toBe('Dump');
    expect(asl.States.Dump).toMatchObject({ Type: 'Task', Next: 'Verify', ResultPath: '$.dump' });
    expect(asl.States.Verify).toMatchObject({ Type: 'Task', Next: 'BackupVerified' });
    expect(asl.States.BackupVerified.Type).toBe('Succeed');
  });

  test('passes the dump only the fields its event schema accepts, and verify the manifest key the dump returned', () => {
    const { stack, workflow } = build();
    const asl = definitionOf(stack, workflow.stateMachine);
    expect(asl.States.Dump.Parameters).toEqual({
      'databaseId.$': '$.databaseId',
      'secretArn.$': '$.secretArn',
      'schemas.$': '$.schemas',
      'sslMode.$': '$.sslMode',
    });
    expect(asl.States.Verify.Parameters).toEqual({
      'databaseId.$': '$.databaseId',
      'manifestKey.$': '$.dump.manifestKey',
    });
  });

  test('retries only transient Lambda errors and throttling, with backoff, and never a timeout', () => {
    const { stack, workflow } = build();
    const asl = definitionOf(stack, workflow.stateMachine);
    for (const name of ['Dump', 'Verify']) {
      const retry = asl.States[name].Retry ?? [];
      const retried = retry.flatMap((r) => r.ErrorEquals);
      expect(retried).toEqual(
        expect.arrayContaining([
          'Lambda.ServiceException',
          'Lambda.AWSLambdaException',
          'Lambda.SdkClientException',
          'Lambda.TooManyRequestsException',
        ]),
      );
      expect(retried).not.toContain('States.Timeout');
      expect(retried).not.toContain('States.ALL');
      for (const r of retry) expect(r.BackoffRate).toBeGreaterThan(1);
    }
  });

  test('retries verify while replication is still pending, for longer than the 15-minute RTC window', () => {
    const { stack, workflow } = build();
    const retry = definitionOf(stack, workflow.stateMachine).States.Verify.Retry!.find((r) =>
      r.ErrorEquals.includes('ReplicationPending'),
    )!;
    let waited = 0;
    let interval = retry.IntervalSeconds!;
    for (let i = 0; i < retry.MaxAttempts!; i++) {
      waited += Math.min(interval, 300);
      interval *= retry.BackoffRate!;
    }
    expect(waited).toBeGreaterThan(15 * 60);
  });

  test('catches every error of both tasks, notifies on-call and fails the execution', () => {
    const { stack, workflow, template } = build();
    const asl = definitionOf(stack, workflow.stateMachine);
    for (const name of ['Dump', 'Verify']) {
      expect(asl.States[name].Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotifyFailure' },
      ]);
    }
    expect(asl.States.NotifyFailure).toMatchObject({
      Type: 'Task',
      Resource: 'arn:<token>:states:::sns:publish',
      Next: 'BackupFailed',
    });
    expect(asl.States.NotifyFailure.Parameters).toMatchObject({
      TopicArn: 'arn:aws:sns:eu-west-1:123456789012:on-call',
      Subject: 'Restorable: backup of orders failed',
    });
    expect(asl.States.BackupFailed).toMatchObject({
      Type: 'Fail',
      ErrorPath: '$.error.Error',
      CausePath: '$.error.Cause',
    });
    // The state machine may publish to the topic.
    const sm = statementsOf(template, stack, workflow.stateMachine.role);
    expect(sm.some((s) => actionsOf(s).includes('sns:Publish'))).toBe(true);
  });

  test('gives every task a timeout and the execution none (a timed-out execution would skip the Catch)', () => {
    const { stack, workflow } = build();
    const asl = definitionOf(stack, workflow.stateMachine);
    expect(asl.TimeoutSeconds).toBeUndefined();
    expect(asl.States.Dump.TimeoutSeconds).toBe(17 * 60);
    expect(asl.States.Verify.TimeoutSeconds).toBeGreaterThan(0);
  });

  test('logs ALL events without payloads to a vended-logs group with retention, and traces', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [
          {
            CloudWatchLogsLogGroup: {
              LogGroupArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OrdersBackupLogGroup'), 'Arn'] },
            },
          },
        ],
      },
      TracingConfiguration: { Enabled: true },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/aws/vendedlogs/states/TestStack-orders-backup',
      RetentionInDays: 90,
    });
  });
});

describe('BackupWorkflow schedule', () => {
  test('starts the workflow daily at 02:00 UTC by default, with the database, secret ARN, schemas and TLS mode', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 2 * * ? *)',
      ScheduleExpressionTimezone: 'Etc/UTC',
      State: 'ENABLED',
      Target: {
        Arn: { Ref: Match.stringLikeRegexp('^OrdersBackup') },
        RoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OrdersBackupScheduleRole'), 'Arn'] },
        Input: JSON.stringify({
          databaseId: 'orders',
          secretArn: SECRET_ARN,
          schemas: {},
          sslMode: 'verify-full',
        }),
      },
    });
  });

  test('takes the configured expression, schemas and TLS mode', () => {
    const { template } = build(() => ({
      schedule: scheduler.ScheduleExpression.expression('cron(30 3 * * ? *)', TimeZone.ETC_UTC),
      schemas: { include: ['public', 'reporting'] },
      sslMode: 'verify-ca',
    }));
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 3 * * ? *)',
      Target: {
        Input: JSON.stringify({
          databaseId: 'orders',
          secretArn: SECRET_ARN,
          schemas: { include: ['public', 'reporting'] },
          sslMode: 'verify-ca',
        }),
      },
    });
  });

  test('never puts a secret value in the schedule input, only the ARN', () => {
    const { template } = build();
    const input = JSON.stringify(template.findResources('AWS::Scheduler::Schedule'));
    expect(input).not.toMatch(/password|SecretString|resolve:secretsmanager/i);
  });

  test('lets only the scheduler of this account assume the schedule role, to start this state machine only', () => {
    const { stack, workflow, template } = build();
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
          },
        ],
      },
    });
    const role = workflow.node.findChild('ScheduleRole') as iam.Role;
    const statements = statementsOf(template, stack, role);
    expect(allowedActions(statements)).toEqual(['states:StartExecution']);
  });
});

describe('BackupWorkflow dump role', () => {
  test('may write, set retention and abort uploads only under the tier prefixes of its database', () => {
    const { stack, workflow, template } = build();
    const statements = statementsOf(template, stack, workflow.dumpFunction.role);
    const write = statements.find((s) => actionsOf(s).includes('s3:PutObject'))!;
    expect(actionsOf(write)).toEqual(
      expect.arrayContaining(['s3:PutObject', 's3:PutObjectRetention', 's3:AbortMultipartUpload']),
    );
    expect(resourcesOf(write).sort()).toEqual([...TIER_OBJECTS].sort());
  });

  test('lists the bucket only under its own prefixes', () => {
    const { stack, workflow, template } = build();
    const list = statementsOf(template, stack, workflow.dumpFunction.role).find((s) =>
      actionsOf(s).includes('s3:ListBucket'),
    )!;
    expect(list.Condition).toEqual({
      StringLike: {
        's3:prefix': ['yearly/orders/*', 'monthly/orders/*', 'weekly/orders/*', 'daily/orders/*'],
      },
    });
  });

  test('has no delete and no governance bypass anywhere in the dump or verify policies', () => {
    const { stack, workflow, template } = build();
    for (const role of [workflow.dumpFunction.role, workflow.verifyFunction.role]) {
      const actions = allowedActions(statementsOf(template, stack, role));
      expect(actions.length).toBeGreaterThan(0);
      for (const action of actions) {
        expect(action).not.toMatch(/^s3:Delete/i);
        expect(action).not.toMatch(/BypassGovernanceRetention/i);
        expect(action).not.toMatch(/^s3:\*|^\*$/);
        expect(action).not.toMatch(/PutBucket|PutLifecycle|PutObjectLegalHold/i);
      }
    }
  });

  test('reads only its own database secret and uses the key only through S3', () => {
    const { stack, workflow, template } = build();
    const statements = statementsOf(template, stack, workflow.dumpFunction.role);
    const secret = statements.find((s) => actionsOf(s).includes('secretsmanager:GetSecretValue'))!;
    expect(secret.Resource).toBe(SECRET_ARN);
    const kms = statements.find((s) => actionsOf(s).some((a) => a.startsWith('kms:')))!;
    expect(actionsOf(kms).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(kms.Resource).toBe('arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555');
    expect(kms.Condition?.StringEquals).toEqual({
      'kms:ViaService': { 'Fn::Join': ['', ['s3.eu-west-1.', { Ref: 'AWS::URLSuffix' }]] },
    });
  });

  test('gets the bucket, key ARN, lock mode and retention the dump handler reads', () => {
    const { template } = build(() => ({
      objectLockMode: 'COMPLIANCE',
      retentionDays: { daily: 35, weekly: 100, monthly: 400, yearly: 3000 },
    }));
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['dump.handler'] },
      Environment: {
        Variables: {
          BACKUP_BUCKET: 'restorable-123456789012-eu-west-1-backups',
          BACKUP_KMS_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
          OBJECT_LOCK_MODE: 'COMPLIANCE',
          RETENTION_DAYS: JSON.stringify({ daily: 35, weekly: 100, monthly: 400, yearly: 3000 }),
        },
      },
    });
  });
});

describe('BackupWorkflow verify role', () => {
  test('only reads: objects of its database in both buckets, and decrypts with both keys', () => {
    const { stack, workflow, template } = build();
    const statements = statementsOf(template, stack, workflow.verifyFunction.role);
    const workActions = allowedActions(statements).filter((a) => !/^(logs|xray|ec2):/.test(a));
    expect(new Set(workActions)).toEqual(new Set(['s3:GetObject', 's3:ListBucket', 'kms:Decrypt']));
    const objects = statements.filter((s) => actionsOf(s).includes('s3:GetObject')).flatMap(resourcesOf);
    expect(objects.every((r) => /\/(yearly|monthly|weekly|daily)\/orders\/\*$/.test(r))).toBe(true);
    expect(objects.some((r) => r.includes('eu-central-1-backups'))).toBe(true);
  });

  test('decrypts the replica key by alias, in the replica region, through S3 there', () => {
    const { stack, workflow, template } = build();
    const replicaKey = statementsOf(template, stack, workflow.verifyFunction.role).find(
      (s) => s.Condition?.['ForAnyValue:StringEquals'],
    )!;
    expect(actionsOf(replicaKey)).toEqual(['kms:Decrypt']);
    expect(resourcesOf(replicaKey)).toEqual(['arn:aws:kms:eu-central-1:123456789012:key/*']);
    expect(replicaKey.Condition).toEqual({
      StringEquals: {
        'kms:ViaService': { 'Fn::Join': ['', ['s3.eu-central-1.', { Ref: 'AWS::URLSuffix' }]] },
      },
      'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/restorable/backups' },
    });
  });

  test('knows the replica bucket and region', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['verify.handler'] },
      Environment: {
        Variables: {
          BACKUP_BUCKET: 'restorable-123456789012-eu-west-1-backups',
          REPLICA_BUCKET: 'restorable-123456789012-eu-central-1-backups',
          REPLICA_REGION: 'eu-central-1',
        },
      },
    });
  });
});

describe('BackupWorkflow functions', () => {
  test('reserve concurrency 1 each, so two runs of one database never dump at once', () => {
    const { template } = build();
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    expect(functions).toHaveLength(2);
    for (const fn of functions) expect(fn.Properties.ReservedConcurrentExecutions).toBe(1);
  });

  test('run outside any VPC when none is given', () => {
    const { template } = build();
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
      expect(fn.Properties.VpcConfig).toBeUndefined();
    }
  });

  test("run in the database's subnets and security groups when a VPC is given", () => {
    const { template } = build((f) => ({ placement: importedPlacement(f.stack) }));
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    for (const fn of functions) {
      expect(fn.Properties.VpcConfig).toEqual({
        SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
        SecurityGroupIds: ['sg-0123456789abcdef0'],
      });
    }
  });

  test('keep their logs three months by default and retain them', () => {
    const { template } = build();
    const groups = template.findResources('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 90 } });
    const retained = Object.values(groups).filter((g) => g.DeletionPolicy === 'Retain');
    expect(retained).toHaveLength(2);
  });

  test('use the configured log retention', () => {
    const { template } = build(() => ({ logRetention: logs.RetentionDays.ONE_YEAR }));
    expect(
      Object.keys(template.findResources('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 365 } })),
    ).toHaveLength(3);
  });
});

describe('BackupWorkflow metrics', () => {
  test('uses the shared names, namespace and DatabaseId dimension', () => {
    const { workflow } = build();
    const failure = workflow.metricBackupFailure({ period: Duration.hours(1) });
    expect(failure.namespace).toBe('Restorable');
    expect(failure.metricName).toBe('BackupFailure');
    expect(failure.dimensions).toEqual({ DatabaseId: 'orders' });
    expect(workflow.metricVerifyFailure().metricName).toBe('VerifyFailure');
    expect(workflow.metricReplicaMissing().metricName).toBe('ReplicaMissing');
    expect(workflow.metricBackupAgeHours().metricName).toBe('BackupAgeHours');
  });
});

describe('BackupWorkflow validation', () => {
  test('rejects a database id that cannot be a key prefix', () => {
    expect(() => build(() => ({ databaseId: 'Orders_DB' }))).toThrow(/database id "Orders_DB" is invalid/);
  });

  test('rejects a dump timeout beyond the Lambda maximum', () => {
    expect(() => build(() => ({ dumpTimeout: Duration.minutes(20) }))).toThrow(
      /dumpTimeout \(20 minutes\) must be between 1 and 15 minutes/,
    );
  });

  test('rejects a replica bucket in the primary region', () => {
    expect(() =>
      build((f) => ({
        replicaBucket: s3.Bucket.fromBucketAttributes(f.stack, 'Same', {
          bucketName: 'same-region-bucket',
          region: 'eu-west-1',
        }),
      })),
    ).toThrow(/replicaBucket is in eu-west-1, the primary region/);
  });
});
