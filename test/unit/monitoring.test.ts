/**
 * The on-call topic, and the alarms built from the constructs' own metrics: each alarm watches the
 * metric its construct's `metric*()` returns (identity and statistic), with only the period set
 * by Monitoring; gauges alarm on their Maximum, events on their Sum.
 */
import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { MetricNames, type MetricName } from '../../lambda/core/metric-names';
import { BackupBucket } from '../../lib/constructs/backup-bucket';
import { BackupWorkflow } from '../../lib/constructs/backup-workflow';
import { DrillSweeper } from '../../lib/constructs/drill-sweeper';
import { FreshnessCheck } from '../../lib/constructs/freshness-check';
import { Monitoring, type DatabaseAlarmsProps, type MonitoringProps } from '../../lib/constructs/monitoring';
import { RestoreDrill } from '../../lib/constructs/restore-drill';
import { RunnerFunction } from '../../lib/constructs/runner-function';
import { GAUGE_METRICS } from '../../lib/metrics';
import { newStack, synthBackupStack } from './cdk-support';
import { importedPlacement, testImage, workflowFixture } from './workflow-support';

function build(props: MonitoringProps = {}) {
  const stack = newStack('eu-west-1');
  const monitoring = new Monitoring(stack, 'Monitoring', props);
  return { stack, monitoring };
}

interface DatabaseOptions {
  /** Build a RestoreDrill and alarm on it. @default true */
  readonly drill?: boolean;
  readonly rtoTarget?: Duration;
  readonly props?: Partial<DatabaseAlarmsProps>;
  /** Build these instead of the plain constructs (to change a metric in the construct). */
  readonly Workflow?: typeof BackupWorkflow;
  readonly Drill?: typeof RestoreDrill;
}

/** The real constructs of one database with the example's RPO (24 h) and RTO (60 min), and its alarms. */
function withDatabase(options: DatabaseOptions = {}) {
  const f = workflowFixture();
  const monitoring = new Monitoring(f.stack, 'Monitoring');
  const Workflow = options.Workflow ?? BackupWorkflow;
  const Drill = options.Drill ?? RestoreDrill;
  const common = {
    databaseId: 'orders',
    bucket: f.bucket,
    image: f.image,
  };
  const backup = new Workflow(f.stack, 'OrdersBackup', {
    ...common,
    secret: f.secret,
    replicaBucket: f.replicaBucket,
    alarmTopic: f.topic,
  });
  const drill =
    options.drill === false
      ? undefined
      : new Drill(f.stack, 'OrdersDrill', {
          ...common,
          replicaBucket: f.replicaBucket,
          vpc: importedPlacement(f.stack).vpc,
          rtoTarget: options.rtoTarget ?? Duration.minutes(60),
        });
  const alarms = monitoring.addDatabaseAlarms({ backup, drill, rpo: Duration.hours(24), ...options.props });
  return { stack: f.stack, monitoring, backup, drill, alarms, template: Template.fromStack(f.stack) };
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

  test('lets CloudWatch alarms of this account publish and use the key; no other service', () => {
    const { stack } = build();
    const template = Template.fromStack(stack);
    const boundToThisAccountsAlarms = {
      StringEquals: { 'aws:SourceAccount': '123456789012' },
      ArnLike: { 'aws:SourceArn': 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:*' },
    };
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'AllowCloudWatchAlarms',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: TOPIC,
            Condition: boundToThisAccountsAlarms,
          },
        ]),
      },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          {
            Sid: 'AllowThisAccountsAlarmsToPublishToTheEncryptedTopic',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Resource: '*',
            Condition: boundToThisAccountsAlarms,
          },
          Match.objectLike({
            Sid: 'AllowCloudWatchLogsForThisAccountsLogGroups',
            Condition: {
              ArnLike: {
                'kms:EncryptionContext:aws:logs:arn': 'arn:aws:logs:eu-west-1:123456789012:log-group:*',
              },
            },
          }),
        ]),
      },
    });
    const services = (type: string) =>
      new Set(JSON.stringify(template.findResources(type)).match(/[a-z0-9-]+\.amazonaws\.com/g));
    expect(services('AWS::SNS::TopicPolicy')).toEqual(new Set(['cloudwatch.amazonaws.com']));
    expect(JSON.stringify(template.findResources('AWS::KMS::Key'))).not.toContain('events.amazonaws.com');
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
    const { template } = withDatabase({ props: { rpo: Duration.hours(6) } });
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

  test('drill failed: DrillFailure plus failed executions of the drill workflow', () => {
    const { template } = withDatabase();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'FILL(failures, 0) + FILL(executionsFailed, 0)' }),
        Match.objectLike({
          Id: 'failures',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: 'DrillFailure', Dimensions: ORDERS }),
            Stat: 'Sum',
          }),
        }),
        Match.objectLike({
          Id: 'executionsFailed',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({
              Namespace: 'AWS/States',
              MetricName: 'ExecutionsFailed',
              Dimensions: [
                { Name: 'StateMachineArn', Value: { Ref: Match.stringLikeRegexp('^OrdersDrill') } },
              ],
            }),
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
      Statistic: 'Maximum',
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
    const { template, alarms } = withDatabase({ drill: false });
    expect(alarms.drillStale).toBeUndefined();
    expect(
      template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'DrillAgeDays' } }),
    ).toEqual({});
    expect(
      template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'DrillRtoSeconds' } }),
    ).toEqual({});
    template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
  });

  test('names alarms after the stack and database', () => {
    const { template } = withDatabase();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'TestStack-orders-backup-stale' });
  });

  test('rejects the same database twice and impossible thresholds', () => {
    const { monitoring, backup } = withDatabase({ drill: false });
    expect(() => monitoring.addDatabaseAlarms({ backup, rpo: Duration.hours(1) })).toThrow(
      /database "orders" is already monitored/,
    );
    expect(() => withDatabase({ drill: false, props: { maxSizeChange: 1.5 } })).toThrow(
      /maxSizeChange \(1.5\) for database "orders" must be between 0 and 1/,
    );
    expect(() => withDatabase({ drill: false, props: { rpo: Duration.hours(0) } })).toThrow(
      /rpo \(0 hours\) for database "orders" must be positive/,
    );
  });
});

describe('Monitoring stack-wide alarms', () => {
  test("replication failed and late, on the replicating bucket's S3 replication metrics of its rule", () => {
    const { stack, monitoring } = build();
    const destination = BackupBucket.fromBucketAttributes(stack, 'Replica', {
      bucketName: 'restorable-123456789012-eu-central-1-backups',
      region: 'eu-central-1',
      encryptionKeyAlias: 'alias/restorable/backups',
    });
    const source = new BackupBucket(stack, 'Backups', {
      bucketName: 'restorable-123456789012-eu-west-1-backups',
      replication: { destination },
    });
    monitoring.addReplicationAlarms({ bucket: source });
    const template = Template.fromStack(stack);
    const dimensions = [
      { Name: 'DestinationBucket', Value: 'restorable-123456789012-eu-central-1-backups' },
      { Name: 'RuleId', Value: 'all-objects-to-replica' },
      { Name: 'SourceBucket', Value: { Ref: Match.stringLikeRegexp('^Backups') } },
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
    const fn = new RunnerFunction(stack, 'Fn', {
      handler: 'sweeper',
      environment: {},
      image: testImage(stack),
    });
    monitoring.addErrorAlarm('Freshness', fn.function);
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
    monitoring.addOrphanedInstancesAlarm(new DrillSweeper(stack, 'Sweeper', { image: testImage(stack) }));
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Restorable',
      MetricName: 'OrphanedDrillInstances',
      Dimensions: Match.absent(),
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [TOPIC],
    });
  });

  test('backup key unusable: the maximum over every database, one alarm', () => {
    const f = workflowFixture();
    const { stack } = f;
    const monitoring = new Monitoring(stack, 'Monitoring');
    monitoring.addBackupKeyAlarm(
      new FreshnessCheck(stack, 'Freshness', {
        bucket: f.bucket,
        databaseIds: ['orders'],
        image: f.image,
      }),
    );
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

describe('Monitoring takes its metrics from the constructs', () => {
  test('a metric changed in its construct is the metric its alarm watches', () => {
    class P90Ages extends BackupWorkflow {
      override metricBackupAgeHours(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
        return super.metricBackupAgeHours({ ...props, statistic: 'p90' });
      }
    }
    class AverageRto extends RestoreDrill {
      override metricDrillRtoSeconds(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
        return super.metricDrillRtoSeconds({ ...props, statistic: 'Average' });
      }
    }
    const { template } = withDatabase({ Workflow: P90Ages, Drill: AverageRto });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'TestStack-orders-backup-stale',
      MetricName: 'BackupAgeHours',
      ExtendedStatistic: 'p90',
      Statistic: Match.absent(),
      Period: 3600,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'TestStack-orders-drill-rto-exceeded',
      MetricName: 'DrillRtoSeconds',
      Statistic: 'Average',
    });
  });

  test("the RTO alarm's threshold is the drill's own target", () => {
    const { template, drill } = withDatabase({ rtoTarget: Duration.minutes(45) });
    expect(drill!.rtoTarget.toMinutes()).toBe(45);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'TestStack-orders-drill-rto-exceeded',
      Threshold: 2700,
    });
  });

  test('the constructs default gauges to Maximum and events to Sum', () => {
    const { backup, drill } = withDatabase();
    const statisticOf = (metric: cloudwatch.Metric) => metric.toMetricConfig().metricStat?.statistic;
    expect(statisticOf(backup.metricBackupAgeHours())).toBe('Maximum');
    expect(statisticOf(backup.metricBackupSizeRatio())).toBe('Maximum');
    expect(statisticOf(backup.metricBackupBytes())).toBe('Maximum');
    expect(statisticOf(backup.metricBackupDurationSeconds())).toBe('Maximum');
    expect(statisticOf(drill!.metricDrillRtoSeconds())).toBe('Maximum');
    expect(statisticOf(drill!.metricDrillRestoreSeconds())).toBe('Maximum');
    expect(statisticOf(drill!.metricDrillAgeDays())).toBe('Maximum');
    expect(statisticOf(drill!.metricDrillMismatches())).toBe('Maximum');
    expect(statisticOf(backup.metricBackupFailure())).toBe('Sum');
    expect(statisticOf(backup.metricVerifyFailure())).toBe('Sum');
    expect(statisticOf(drill!.metricDrillFailure())).toBe('Sum');
  });

  test('in the whole stack, every alarm on a gauge uses Maximum and every alarm on an event Sum', () => {
    const { template } = synthBackupStack();
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    // Single-metric alarms carry the metric at the top; math alarms in Metrics[].MetricStat.
    const watched = alarms.flatMap((alarm) => {
      const p = alarm.Properties as {
        Namespace?: string;
        MetricName?: MetricName;
        Statistic?: string;
        Metrics?: { MetricStat?: { Metric: { Namespace: string; MetricName: MetricName }; Stat: string } }[];
      };
      if (p.MetricName) return [{ namespace: p.Namespace, name: p.MetricName, stat: p.Statistic }];
      return (p.Metrics ?? []).flatMap((m) =>
        m.MetricStat
          ? [
              {
                namespace: m.MetricStat.Metric.Namespace,
                name: m.MetricStat.Metric.MetricName,
                stat: m.MetricStat.Stat,
              },
            ]
          : [],
      );
    });
    const ours = watched.filter((w) => w.namespace === 'Restorable');
    const names = new Set(ours.map((w) => w.name));
    // The stack alarms on gauges and events both, so the rule below is really exercised.
    for (const gauge of [MetricNames.backupAgeHours, MetricNames.drillAgeDays, MetricNames.backupSizeRatio]) {
      expect(names.has(gauge)).toBe(true);
    }
    expect(names.has(MetricNames.backupFailure)).toBe(true);
    for (const w of ours) {
      expect({ metric: w.name, stat: w.stat }).toEqual({
        metric: w.name,
        stat: GAUGE_METRICS.has(w.name) ? 'Maximum' : 'Sum',
      });
    }
  });
});
