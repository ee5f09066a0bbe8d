import { Duration, TimeZone } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { BackupBucket } from '../../lib/constructs/backup-bucket';
import type { BackupWorkflowProps } from '../../lib/constructs/backup-workflow';
import { aliasViaS3, permissionsOf, runnerBaseline, tierObjects, viaS3 } from './iam-support';
import {
  actionsOf,
  allowedActions,
  definitionOf,
  DUMP_EVENT,
  importedPlacement,
  ordersBackupWorkflow,
  SECRET_ARN,
  statementsOf,
  VERIFY_EVENT,
  workflowFixture,
  type WorkflowFixture,
} from './workflow-support';

function build(change: (f: WorkflowFixture) => Partial<BackupWorkflowProps> = () => ({})) {
  const f = workflowFixture();
  const workflow = ordersBackupWorkflow(f, change(f));
  const template = Template.fromStack(f.stack);
  return { ...f, workflow, template };
}

const PRIMARY = 'arn:aws:s3:::restorable-123456789012-eu-west-1-backups';
const REPLICA = 'arn:aws:s3:::restorable-123456789012-eu-central-1-backups';
const PRIMARY_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const REPLICA_KEYS = 'arn:aws:kms:eu-central-1:123456789012:key/*';

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
    expect(asl.States.Dump.Parameters).toEqual(DUMP_EVENT);
    expect(asl.States.Verify.Parameters).toEqual(VERIFY_EVENT);
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
          tier: 'auto',
          reason: '',
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
          tier: 'auto',
          reason: '',
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
  test('is allowed exactly: write, retain, abort and read under its tier prefixes, list only there, its secret, the key through S3', () => {
    const { stack, workflow, template } = build();
    expect(permissionsOf(template, stack, workflow.dumpFunction!.role)).toEqual({
      ...runnerBaseline(),
      // CreateMultipartUpload, UploadPart and CompleteMultipartUpload authorize as s3:PutObject.
      's3:PutObject': tierObjects(PRIMARY, 'orders'),
      's3:PutObjectRetention': tierObjects(PRIMARY, 'orders'),
      's3:PutObjectTagging': tierObjects(PRIMARY, 'orders'),
      's3:AbortMultipartUpload': tierObjects(PRIMARY, 'orders'),
      's3:ListMultipartUploadParts': tierObjects(PRIMARY, 'orders'),
      // Its manifests decide the tier of the next backup.
      's3:GetObject': tierObjects(PRIMARY, 'orders'),
      's3:ListBucket': [
        `${PRIMARY} if {"StringLike":{"s3:prefix":["yearly/orders/*","monthly/orders/*","weekly/orders/*","daily/orders/*","adhoc/orders/*"]}}`,
      ],
      's3:ListBucketMultipartUploads': [PRIMARY],
      'kms:GenerateDataKey': [PRIMARY_KEY + viaS3('eu-west-1')],
      'kms:Decrypt': [PRIMARY_KEY + viaS3('eu-west-1')],
      'secretsmanager:GetSecretValue': [SECRET_ARN],
      'secretsmanager:DescribeSecret': [SECRET_ARN],
    });
  });

  test("may decrypt a secret's customer managed key only through Secrets Manager, for that secret", () => {
    const SECRET_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/99999999-8888-7777-6666-555555555555';
    const { stack, workflow, template } = build((f) => ({
      secretKey: kms.Key.fromKeyArn(f.stack, 'SecretKey', SECRET_KEY),
    }));
    const permissions = permissionsOf(template, stack, workflow.dumpFunction!.role);
    expect(permissions['kms:Decrypt']).toEqual(
      [
        PRIMARY_KEY + viaS3('eu-west-1'),
        `${SECRET_KEY} if {"StringEquals":{"kms:EncryptionContext:SecretARN":"${SECRET_ARN}","kms:ViaService":"secretsmanager.eu-west-1.amazonaws.com"}}`,
      ].sort(),
    );
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: 'kms:Decrypt',
            Resource: SECRET_KEY,
            Condition: {
              StringEquals: {
                'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com',
                'kms:EncryptionContext:SecretARN': SECRET_ARN,
              },
            },
          },
        ]),
      },
    });
    // The verify function never reads the secret, so it gets neither.
    expect(JSON.stringify(permissionsOf(template, stack, workflow.verifyFunction!.role))).not.toContain(
      SECRET_KEY,
    );
    // Without a key, no KMS statement beyond the bucket key's.
    const plain = build();
    expect(
      permissionsOf(plain.template, plain.stack, plain.workflow.dumpFunction!.role)['kms:Decrypt'],
    ).toEqual([PRIMARY_KEY + viaS3('eu-west-1')]);
  });

  test('has no delete and no governance bypass anywhere in the dump or verify policies', () => {
    const { stack, workflow, template } = build();
    for (const role of [workflow.dumpFunction!.role, workflow.verifyFunction!.role]) {
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

  test("gets the bucket, key ARN, lock mode and the bucket's own tier expiries (each object's retain-until)", () => {
    // The fixture's primary bucket keeps daily 35, weekly 100, monthly 400 and yearly 3000 days,
    // and on-demand (adhoc) backups the default 30.
    const { template } = build(() => ({ objectLockMode: 'COMPLIANCE' }));
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['dump.handler'] },
      Environment: {
        Variables: {
          BACKUP_BUCKET: 'restorable-123456789012-eu-west-1-backups',
          BACKUP_KMS_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
          OBJECT_LOCK_MODE: 'COMPLIANCE',
          RETENTION_DAYS: JSON.stringify({ daily: 35, weekly: 100, monthly: 400, yearly: 3000, adhoc: 30 }),
        },
      },
    });
  });
});

describe('BackupWorkflow verify role', () => {
  test('is allowed exactly: read its backups in both buckets, list both, decrypt with both keys through S3, write its verification records', () => {
    const { stack, workflow, template } = build();
    expect(permissionsOf(template, stack, workflow.verifyFunction!.role)).toEqual({
      ...runnerBaseline(),
      's3:GetObject': [...tierObjects(REPLICA, 'orders'), ...tierObjects(PRIMARY, 'orders')],
      // Evidence next to each backup, and nothing else: never a dump or a manifest.
      's3:PutObject': tierObjects(PRIMARY, 'orders', '*.verify-*.json'),
      's3:PutObjectRetention': tierObjects(PRIMARY, 'orders', '*.verify-*.json'),
      'kms:GenerateDataKey': [PRIMARY_KEY + viaS3('eu-west-1')],
      // Unconditioned: HeadObject of a missing object is 404 (not 403) only for callers that may list.
      's3:ListBucket': [REPLICA, PRIMARY],
      'kms:Decrypt': [
        // The replica key is known here by alias only: key/* of its region, narrowed to the alias.
        REPLICA_KEYS + aliasViaS3('eu-central-1', 'alias/restorable/backups'),
        PRIMARY_KEY + viaS3('eu-west-1'),
      ],
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

  test("locks its verification records with the dump's lock mode", () => {
    const { template } = build(() => ({ objectLockMode: 'COMPLIANCE' }));
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['verify.handler'] },
      Environment: { Variables: Match.objectLike({ OBJECT_LOCK_MODE: 'COMPLIANCE' }) },
    });
  });
});

describe('BackupWorkflow functions', () => {
  test("reserve no concurrency (a new account's quota of 10 cannot spare it); ids keep runs apart", () => {
    const { template } = build();
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    expect(functions).toHaveLength(2);
    for (const fn of functions) expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
  });

  test('run outside any VPC when none is given', () => {
    const { template } = build();
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
      expect(fn.Properties.VpcConfig).toBeUndefined();
    }
  });

  test("dump runs in the database's subnets and security groups when a VPC is given; verify never in a VPC", () => {
    const { template, stack, workflow } = build((f) => ({ placement: importedPlacement(f.stack) }));
    const byId = (fn: typeof workflow.dumpFunction) =>
      template.toJSON().Resources[stack.getLogicalId(fn!.function.node.defaultChild as lambda.CfnFunction)];
    expect(byId(workflow.dumpFunction).Properties.VpcConfig).toEqual({
      SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
      SecurityGroupIds: ['sg-0123456789abcdef0'],
    });
    expect(byId(workflow.verifyFunction).Properties.ImageConfig.Command).toEqual(['verify.handler']);
    expect(byId(workflow.verifyFunction).Properties.VpcConfig).toBeUndefined();
    // So verify needs no network-interface permissions either.
    expect(allowedActions(statementsOf(template, stack, workflow.verifyFunction!.role))).not.toContain(
      'ec2:CreateNetworkInterface',
    );
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

  test('passes a lock-wait timeout in seconds to the dump, and rejects one the dump could not finish after', () => {
    build(() => ({ lockWaitTimeout: Duration.seconds(20) })).template.hasResourceProperties(
      'AWS::Lambda::Function',
      {
        ImageConfig: { Command: ['dump.handler'] },
        Environment: { Variables: Match.objectLike({ LOCK_WAIT_TIMEOUT_SECONDS: '20' }) },
      },
    );
    expect(() => build(() => ({ lockWaitTimeout: Duration.minutes(15) }))).toThrow(
      /lockWaitTimeout \(15 minutes\) must be whole seconds from 1 to 899/,
    );
    expect(() => build(() => ({ lockWaitTimeout: Duration.millis(1500) }))).toThrow(
      /lockWaitTimeout .* must be whole seconds/,
    );
  });

  test('rejects a replica bucket in the primary region', () => {
    expect(() =>
      build((f) => ({
        replicaBucket: BackupBucket.fromBucketAttributes(f.stack, 'Same', {
          bucketName: 'same-region-bucket',
          region: 'eu-west-1',
          encryptionKeyAlias: 'alias/restorable/backups',
        }),
      })),
    ).toThrow(/replicaBucket is in eu-west-1, the primary region/);
  });

  test('rejects a primary bucket whose key is known only by alias (the dump must name it by ARN)', () => {
    expect(() =>
      build((f) => ({
        bucket: BackupBucket.fromBucketAttributes(f.stack, 'ByAlias', {
          bucketName: 'primary-by-alias',
          encryptionKeyAlias: 'alias/restorable/backups',
        }),
      })),
    ).toThrow(/bucket must have its key known by ARN .* got a key known only by alias/);
  });
});
