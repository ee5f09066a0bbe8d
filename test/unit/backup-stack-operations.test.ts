import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { exampleConfig, synthBackupStack } from './cdk-support';

/**
 * The cdk.json example: "orders" (RDS in a VPC, drills on) and "analytics" (external, no VPC for
 * the backup, a drill.vpc for its drills).
 */
const synth = synthBackupStack;

describe('BackupStack operations', () => {
  test('creates a backup workflow and schedule per database, with the configured schedule', () => {
    const { stack, template } = synth();
    expect([...stack.workflows.keys()]).toEqual(['orders', 'analytics']);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 2 * * ? *)',
      Target: { Input: Match.stringLikeRegexp('"databaseId":"orders"') },
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 3 * * ? *)',
      Target: {
        Input: Match.stringLikeRegexp(
          '"databaseId":"analytics".*"schemas":\\{"include":\\["public","reporting"\\]\\}',
        ),
      },
    });
  });

  test('places the backup functions of a database with a VPC in its subnets and security groups, and no others', () => {
    const { stack, template } = synth();
    const orders = stack.workflows.get('orders')!;
    const analytics = stack.workflows.get('analytics')!;
    const fn = (id: string) => template.toJSON().Resources[id].Properties;
    expect(
      fn(stack.getLogicalId(orders.dumpFunction!.function.node.defaultChild as never)).VpcConfig,
    ).toEqual({
      SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
      SecurityGroupIds: ['sg-0123456789abcdef0'],
    });
    expect(
      fn(stack.getLogicalId(analytics.dumpFunction!.function.node.defaultChild as never)).VpcConfig,
    ).toBeUndefined();
  });

  test('passes the config’s lock mode and retention to the dump', () => {
    const { template } = synth(
      exampleConfig((c) => (c.objectLock = { mode: 'COMPLIANCE', defaultRetentionDays: 30 })),
    );
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['dump.handler'] },
      Environment: {
        Variables: Match.objectLike({
          OBJECT_LOCK_MODE: 'COMPLIANCE',
          RETENTION_DAYS: JSON.stringify({ daily: 30, weekly: 90, monthly: 365, yearly: 2555, adhoc: 30 }),
        }),
      },
    });
  });

  test('on-demand backups: retention.adhocDays is both the dump’s retain-until and the adhoc/ lifecycle expiry', () => {
    const { template } = synth(
      exampleConfig((c) => (c.retention = { ...(c.retention as object), adhocDays: 14 })),
    );
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['dump.handler'] },
      Environment: {
        Variables: Match.objectLike({
          RETENTION_DAYS: JSON.stringify({ daily: 30, weekly: 90, monthly: 365, yearly: 2555, adhoc: 14 }),
        }),
      },
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: 'adhoc-backups',
            Prefix: 'adhoc/',
            ExpirationInDays: 14,
            Status: 'Enabled',
          }),
        ]),
      },
    });
  });

  /** The example without analytics' drill.vpc: a database outside any VPC with nowhere to drill. */
  const withoutDrillVpc = () =>
    exampleConfig((c) => {
      delete (c.databases[1].drill as Record<string, unknown>).vpc;
    });

  test('drills a database in its own VPC, or in drill.vpc when it has none', () => {
    const { stack, template } = synth();
    expect([...stack.drills.keys()]).toEqual(['orders', 'analytics']);
    template.resourceCountIs('AWS::RDS::DBSubnetGroup', 2);
    template.hasResourceProperties('AWS::RDS::DBSubnetGroup', {
      DBSubnetGroupName: 'restorable-drill-analytics',
      SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 3 ? * 6L *)' });
    // The drill's network does not move the backup: analytics' dump function stays outside any VPC.
    const analytics = stack.workflows.get('analytics')!;
    const dump =
      template.toJSON().Resources[
        stack.getLogicalId(analytics.dumpFunction!.function.node.defaultChild as never)
      ];
    expect(dump.Properties.VpcConfig).toBeUndefined();
  });

  test('warns, deploying no drill, for a database with no VPC and no drill.vpc', () => {
    const { stack, template } = synth(withoutDrillVpc());
    expect([...stack.drills.keys()]).toEqual(['orders']);
    template.resourceCountIs('AWS::RDS::DBSubnetGroup', 1);
    Annotations.fromStack(stack).hasWarning(
      '/RestorableBackup/DatabaseAnalytics',
      Match.stringLikeRegexp('databases "analytics": restore drills need a VPC'),
    );
  });

  test('alarms on drills only where there are drills', () => {
    const { template } = synth(withoutDrillVpc());
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'RestorableBackup-orders-drill-stale',
    });
    expect(
      template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { AlarmName: 'RestorableBackup-analytics-drill-stale' },
      }),
    ).toEqual({});
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'RestorableBackup-analytics-backup-stale',
    });
  });

  test('has one alarm per function for runner errors', () => {
    const { template } = synth();
    const functions = Object.keys(template.findResources('AWS::Lambda::Function'));
    const errorAlarms = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'Errors' } }),
    );
    expect(errorAlarms).toHaveLength(functions.length);
    const watched = errorAlarms.map((a) => (a.Properties.Dimensions[0].Value as { Ref: string }).Ref).sort();
    expect(watched).toEqual([...functions].sort());
  });

  test("watches replication with the bucket's own replication rule id", () => {
    const { template } = synth();
    const rules = Object.values(template.findResources('AWS::S3::Bucket'))
      .flatMap((b) => b.Properties.ReplicationConfiguration?.Rules ?? [])
      .map((r: { Id: string }) => r.Id);
    expect(rules).toHaveLength(1);
    for (const metricName of ['OperationsFailedReplication', 'ReplicationLatency']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/S3',
        MetricName: metricName,
        Dimensions: Match.arrayWith([{ Name: 'RuleId', Value: rules[0] }]),
      });
    }
  });

  test('checks freshness of every database and sweeps drill instances, hourly', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['freshness.handler'] },
      Environment: { Variables: Match.objectLike({ DATABASE_IDS: '["orders","analytics"]' }) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['sweeper.handler'] },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'OrphanedDrillInstances' });
  });

  test('encrypts every log group with the operations key and subscribes the on-call contacts', () => {
    const { template } = synth();
    for (const [id, group] of Object.entries(template.findResources('AWS::Logs::LogGroup'))) {
      expect(group.Properties.KmsKeyId).toEqual({
        // The vault trail's copy is encrypted with the trail's own key, which CloudTrail may use.
        'Fn::GetAtt': [
          expect.stringMatching(id.startsWith('VaultAudit') ? /^VaultAuditKey/ : /^MonitoringKey/),
          'Arn',
        ],
      });
      expect(group.Properties.RetentionInDays).toBe(365);
    }
    template.resourceCountIs('AWS::SNS::Subscription', 2);
  });

  test('builds every function from one image asset', () => {
    const { template } = synth();
    const uris = Object.values(template.findResources('AWS::Lambda::Function')).map((f) =>
      JSON.stringify(f.Properties.Code.ImageUri),
    );
    expect(uris.length).toBeGreaterThan(1);
    expect(new Set(uris).size).toBe(1);
  });

  test('refuses database ids that would share a construct id', () => {
    const config = exampleConfig((c) => {
      c.databases[0].id = 'db-1';
      c.databases[1].id = 'db1';
    });
    expect(() => synth(config)).toThrow(
      /"db1" maps to the same construct id \(DatabaseDb1\) as another database/,
    );
  });
});
