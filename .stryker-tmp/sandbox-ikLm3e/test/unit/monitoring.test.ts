// @ts-nocheck
import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { DrillSweeper } from '../../lib/constructs/drill-sweeper';
import { Monitoring, type MonitoringProps } from '../../lib/constructs/monitoring';
import { RunnerFunction } from '../../lib/constructs/runner-function';
import { newStack } from './cdk-support';
import { testImage } from './workflow-support';

function build(props: MonitoringProps = {}) {
  const stack = newStack('eu-west-1');
  const monitoring = new Monitoring(stack, 'Monitoring', props);
  return { stack, monitoring };
}

/** One database with the example's RPO (24 h) and RTO (60 min). */
function withDatabase(change: Partial<Parameters<Monitoring['addDatabase']>[0]> = {}) {
  const built = build();
  const alarms = built.monitoring.addDatabase({
    databaseId: 'orders',
    rpo: Duration.hours(24),
    rtoTarget: Duration.minutes(60),
    ...change,
  });
  return { ...built, alarms, template: Template.fromStack(built.stack) };
}

const TOPIC = { Ref: Match.stringLikeRegexp('^MonitoringTopic') };
const ORDERS = [{ Name: 'DatabaseId', Value: 'orders' }];

describe('Monitoring topic', () => {
  test('is encrypted with its own rotating key, TLS only', () => {
    const { stack } = build();
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MonitoringKey'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true, PendingWindowInDays: 30 });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  test('lets CloudWatch alarms and EventBridge rules of this account publish, and use the key', () => {
    const { stack } = build();
    const template = Template.fromStack(stack);
    for (const service of ['cloudwatch.amazonaws.com', 'events.amazonaws.com']) {
      template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: service },
              Action: 'sns:Publish',
              Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': '123456789012' } }),
            }),
          ]),
        },
      });
    }
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: ['cloudwatch.amazonaws.com', 'events.amazonaws.com'] },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
  });

  test('subscribes the configured emails and HTTPS endpoints', () => {
    const { stack } = build({
      emails: ['oncall@example.com'],
      httpsEndpoints: ['https://events.pagerduty.com/integration/abc/enqueue'],
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: TOPIC,
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      Endpoint: 'https://events.pagerduty.com/integration/abc/enqueue',
      TopicArn: TOPIC,
    });
    template.resourceCountIs('AWS::SNS::Subscription', 2);
  });

  test('rejects a subscription that is not an email or an https URL', () => {
    expect(() => build({ emails: ['on-call'] })).toThrow(/emails: "on-call" is not an email address/);
    expect(() => build({ httpsEndpoints: ['http://insecure.example.com'] })).toThrow(
      /must be an https:\/\/ URL/,
    );
  });
});

describe('Monitoring database alarms', () => {
  test('backup failed: any BackupFailure of the database', () => {
    const { template } = withDatabase();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Restorable',
      MetricName: 'BackupFailure',
      Dimensions: ORDERS,
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [TOPIC],
      OKActions: [TOPIC],
    });
  });

  test('backup stale: age above RPO + 1 h, missing data breaching', () => {
    const { template } = withDatabase();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'BackupAgeHours',
      Dimensions: ORDERS,
      Statistic: 'Maximum',
      Period: 3600,
      Threshold: 25,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: [TOPIC],
    });
  });

  test('backup stale follows the configured RPO', () => {
    const { template } = withDatabase({ rpo: Duration.hours(6) });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'BackupAgeHours', Threshold: 7 });
  });

  test('size anomaly: more than 20 % away from the median either way, as one math alarm', () => {
    const { template } = withDatabase();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 0.2,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [TOPIC],
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'ABS(ratio - 1)', ReturnData: true }),
        Match.objectLike({
          Id: 'ratio',
          ReturnData: false,
          MetricStat: Match.objectLike({
            Metric: { Namespace: 'Restorable', MetricName: 'BackupSizeRatio', Dimensions: ORDERS },
          }),
        }),
      ]),
    });
  });

  test('verify failed and replica missing: any occurrence', () => {
    const { template } = withDatabase();
    for (const metricName of ['VerifyFailure', 'ReplicaMissing']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metricName,
        Dimensions: ORDERS,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        AlarmActions: [TOPIC],
      });
    }
  });

  test('drill failed: DrillFailure, plus failed drill executions when the state machine is known', () => {
    const built = build();
    const stateMachine = sfn.StateMachine.fromStateMachineArn(
      built.stack,
      'Drill',
      'arn:aws:states:eu-west-1:123456789012:stateMachine:orders-drill',
    );
    built.monitoring.addDatabase({
      databaseId: 'orders',
      rpo: Duration.hours(24),
      rtoTarget: Duration.minutes(60),
      drillStateMachine: stateMachine,
    });
    Template.fromStack(built.stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'FILL(failures, 0) + FILL(executionsFailed, 0)' }),
        Match.objectLike({
          Id: 'failures',
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'DrillFailure' }) }),
        }),
        Match.objectLike({
          Id: 'executionsFailed',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ Namespace: 'AWS/States', MetricName: 'ExecutionsFailed' }),
          }),
        }),
      ]),
    });
  });

  test('drill stale: no passing drill in 35 days, missing data breaching', () => {
    const { template } = withDatabase();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'DrillAgeDays',
      Dimensions: ORDERS,
      Statistic: 'Maximum',
      Threshold: 35,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: [TOPIC],
    });
  });

  test('drill RTO exceeded: slower than the target', () => {
    const { template } = withDatabase({ rtoTarget: Duration.minutes(90) });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'DrillRtoSeconds',
      Dimensions: ORDERS,
      Threshold: 5400,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  test('every alarm pages the topic on alarm and on recovery', () => {
    const { template, monitoring } = withDatabase();
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(8);
    expect(monitoring.alarms).toHaveLength(8);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^MonitoringTopic/) }]);
      expect(alarm.Properties.OKActions).toEqual(alarm.Properties.AlarmActions);
      expect(alarm.Properties.AlarmDescription).toMatch(/Runbook: docs\/RUNBOOK\.md#[a-z-]+$/);
    }
  });

  test('has no drill alarms for a database without drills (drill-stale would page forever)', () => {
    const { template, alarms } = withDatabase({ drills: false });
    expect(alarms.drillStale).toBeUndefined();
    expect(
      template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'DrillAgeDays' } }),
    ).toEqual({});
    template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
  });

  test('names alarms after the stack and database', () => {
    const { template } = withDatabase();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'TestStack-orders-backup-stale' });
  });

  test('rejects the same database twice and impossible thresholds', () => {
    const { monitoring } = withDatabase();
    expect(() =>
      monitoring.addDatabase({ databaseId: 'orders', rpo: Duration.hours(1), rtoTarget: Duration.hours(1) }),
    ).toThrow(/database "orders" is already monitored/);
    expect(() => withDatabase({ maxSizeChange: 1.5 })).toThrow(
      /maxSizeChange \(1.5\) for database "orders" must be between 0 and 1/,
    );
  });
});

describe('Monitoring stack-wide alarms', () => {
  test('replication failed and late, on the S3 replication metrics of the rule', () => {
    const { stack, monitoring } = build();
    monitoring.addReplication({
      sourceBucket: s3.Bucket.fromBucketName(stack, 'Source', 'restorable-123456789012-eu-west-1-backups'),
      destinationBucketName: 'restorable-123456789012-eu-central-1-backups',
      ruleId: 'all-objects-to-replica',
    });
    const template = Template.fromStack(stack);
    const dimensions = [
      { Name: 'DestinationBucket', Value: 'restorable-123456789012-eu-central-1-backups' },
      { Name: 'RuleId', Value: 'all-objects-to-replica' },
      { Name: 'SourceBucket', Value: 'restorable-123456789012-eu-west-1-backups' },
    ];
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/S3',
      MetricName: 'OperationsFailedReplication',
      Dimensions: dimensions,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [TOPIC],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/S3',
      MetricName: 'ReplicationLatency',
      Dimensions: dimensions,
      Statistic: 'Maximum',
      Threshold: 900,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [TOPIC],
    });
  });

  test('runner errors: any Lambda error of a function', () => {
    const { stack, monitoring } = build();
    const fn = new RunnerFunction(stack, 'Fn', { handler: 'freshness', image: testImage(stack) });
    monitoring.addFunction('Freshness', fn.function);
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^Fn') } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [TOPIC],
    });
  });

  test('orphaned drill instances: any the sweeper found', () => {
    const { stack, monitoring } = build();
    monitoring.addDrillSweeper(new DrillSweeper(stack, 'Sweeper', { image: testImage(stack) }));
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Restorable',
      MetricName: 'OrphanedDrillInstances',
      Dimensions: Match.absent(),
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [TOPIC],
    });
  });

  test('backup key unusable: the maximum over every database, one alarm', () => {
    const { stack, monitoring } = build();
    monitoring.addKeyCheck();
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Metrics: [
        Match.objectLike({
          Expression: 'SELECT MAX(BackupKeyUnusable) FROM SCHEMA("Restorable", DatabaseId)',
          Period: 3600,
        }),
      ],
      AlarmActions: [TOPIC],
    });
  });
});

describe('Monitoring dashboard', () => {
  test('shows backup age, size trend and drill RTO per database', () => {
    const { template } = withDatabase();
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0].Properties.DashboardBody);
    for (const text of ['orders: backup age (hours)', 'orders: backup size', 'orders: drill RTO (seconds)']) {
      expect(body).toContain(text);
    }
    for (const metric of ['BackupAgeHours', 'BackupBytes', 'BackupSizeRatio', 'DrillRtoSeconds']) {
      expect(body).toContain(metric);
    }
  });
});
