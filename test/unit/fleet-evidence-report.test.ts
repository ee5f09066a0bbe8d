/**
 * The monthly evidence report in the fleet shape, on the 300-database fixture (240 listed, the rest
 * tag-selected): deployed with its error alarm and topic output, its environment far under
 * Lambda's 4 KB (the listed databases travel in the schedule's event), and a role that reads every
 * database's manifests, verification records and drill reports but no dump, and writes only under
 * reports/.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { EVIDENCE_TOPIC_OUTPUT } from '../../lib/outputs';
import { fleetApp, fleetConfig, LISTED } from './fleet-support';
import { allowed } from './iam-eval';
import { permissionsOf } from './iam-support';
import { flatten, statementsOf } from './workflow-support';

const config = fleetConfig();
const { backup } = fleetApp(config);
const template = Template.fromStack(backup);
const evidence = backup.evidence!;
const functionId = backup.getLogicalId(evidence.function.function.node.defaultChild as never);
const bucketArn = flatten(backup.resolve(backup.backups.bucket.bucketArn));

/** Lambda counts every variable's name and value against 4 KB (tokens counted as their CloudFormation text). */
const LAMBDA_ENVIRONMENT_BYTES = 4096;

describe(`the evidence report of a fleet of ${LISTED} listed and tag-selected databases`, () => {
  it('is deployed, with its error alarm and its topic output', () => {
    expect(evidence.function.handler).toBe('report');
    const fn = template.toJSON().Resources[functionId] as { Type: string };
    expect(fn.Type).toBe('AWS::Lambda::Function');
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as {
      Properties: { MetricName?: string; Dimensions?: { Name: string; Value: unknown }[] };
    }[];
    expect(
      alarms.filter(
        (a) =>
          a.Properties.MetricName === 'Errors' &&
          a.Properties.Dimensions?.some(
            (d) => JSON.stringify(d.Value) === JSON.stringify({ Ref: functionId }),
          ),
      ),
    ).toHaveLength(1);
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs[EVIDENCE_TOPIC_OUTPUT].Value).toEqual(backup.resolve(evidence.topic.topicArn));
  });

  it('keeps its environment under 4 KB: no database list in it, the default RPO of tag-selected databases', () => {
    const variables = (
      template.toJSON().Resources[functionId] as {
        Properties: { Environment: { Variables: Record<string, unknown> } };
      }
    ).Properties.Environment.Variables;
    const bytes = Object.entries(variables).reduce(
      (n, [name, value]) =>
        n + name.length + (typeof value === 'string' ? value : JSON.stringify(value)).length,
      0,
    );
    expect(bytes).toBeLessThan(LAMBDA_ENVIRONMENT_BYTES);
    // Measured: 169 bytes whatever the fleet's size (the bucket, key and settings).
    expect(bytes).toBeLessThan(600);
    expect(Object.keys(variables).sort()).toEqual([
      'BACKUP_BUCKET',
      'BACKUP_KMS_KEY_ARN',
      'OBJECT_LOCK_MODE',
      'REPORT_RETENTION_DAYS',
      'UNLISTED_RPO_HOURS',
    ]);
    expect(variables.UNLISTED_RPO_HOURS).toBe(String(config.fleet.rpoHours));
  });

  it("passes every listed database with its RPO in the monthly schedule's event", () => {
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule')) as {
      Properties: { ScheduleExpression: string; Target: { Arn: unknown; Input: string } };
    }[];
    const mine = schedules.filter(
      (s) =>
        JSON.stringify(s.Properties.Target.Arn) === JSON.stringify({ 'Fn::GetAtt': [functionId, 'Arn'] }),
    );
    expect(mine).toHaveLength(1);
    expect(mine[0].Properties.ScheduleExpression).toBe('cron(0 6 1 * ? *)');
    const input = JSON.parse(mine[0].Properties.Target.Input) as { listedDatabases: unknown[] };
    expect(input).toEqual({
      listedDatabases: config.databases.map((d) => ({ id: d.id, rpoHours: d.rpoHours })),
    });
    expect(input.listedDatabases).toHaveLength(LISTED);
    // Varied RPOs arrive as configured (the fixture cycles 24, 12, 48, 6).
    expect(new Set(input.listedDatabases.map((d) => (d as { rpoHours: number }).rpoHours))).toEqual(
      new Set([24, 12, 48, 6]),
    );
  });

  it("reads every database's manifests, verification records and drill reports but no dump, writes under reports/ only", () => {
    const permissions = permissionsOf(template, backup, evidence.function.role);
    const s3 = Object.fromEntries(Object.entries(permissions).filter(([action]) => action.startsWith('s3:')));
    expect(s3).toEqual({
      's3:GetObject': [
        ...['adhoc', 'daily', 'monthly', 'weekly', 'yearly'].flatMap((tier) => [
          `${bucketArn}/${tier}/*.manifest.json`,
          `${bucketArn}/${tier}/*.verify-*.json`,
        ]),
        `${bucketArn}/drills/*`,
      ].sort(),
      // Unconditioned: the bucket-wide listing finds the tag-selected databases, and the S3 clock
      // probe lists a prefix of its own.
      's3:ListBucket': [bucketArn],
      's3:GetLifecycleConfiguration': [bucketArn],
      's3:GetBucketObjectLockConfiguration': [bucketArn],
      's3:PutObject': [`${bucketArn}/reports/*`],
      's3:PutObjectRetention': [`${bucketArn}/reports/*`],
    });

    // The same statements, evaluated: a listed and a tag-selected database's evidence is readable,
    // their dumps, directory dumps and globals (role passwords) are not, nor can a report be read
    // back or written elsewhere.
    const statements = statementsOf(template, backup, evidence.function.role);
    const can = (action: string, key: string) =>
      allowed(statements, { action, resource: `${bucketArn}/${key}`, context: {} });
    const base = (db: string) => `daily/${db}/2026-11-03/${db}-20261103T020000Z`;
    for (const db of ['db-001', 'tagged-orders']) {
      expect(can('s3:GetObject', `${base(db)}.manifest.json`)).toBe(true);
      expect(can('s3:GetObject', `${base(db)}.verify-20261103T021000Z-ab12.json`)).toBe(true);
      expect(can('s3:GetObject', `drills/${db}/2026-11/drill-1.json`)).toBe(true);
      expect(can('s3:GetObject', `${base(db)}.dump`)).toBe(false);
      expect(can('s3:GetObject', `${base(db)}.dir/toc.dat`)).toBe(false);
      expect(can('s3:GetObject', `${base(db)}.globals.sql`)).toBe(false);
      expect(can('s3:PutObject', `${base(db)}.manifest.json`)).toBe(false);
    }
    expect(can('s3:PutObject', 'reports/2026-10/evidence.json')).toBe(true);
    expect(can('s3:GetObject', 'reports/2026-10/evidence.json')).toBe(false);
    expect(Object.keys(permissions).filter((a) => /Delete|Bypass/.test(a))).toEqual([]);
  });
});
