/**
 * Report: the scheduled monthly evidence report (lib/constructs/evidence-report.ts).
 *
 * Event in: `{}` (last month, on S3's clock) or `{ month: 'yyyy-mm' }` to (re)make a given month.
 *   In a fleet the schedule passes the listed databases and their RPOs,
 *   `{ listedDatabases: [{ id, rpoHours }] }`, over DATABASE_IDS / RPO_HOURS (a fleet's list
 *   outgrows the 4 KB a Lambda environment holds); to remake a month there, invoke with the
 *   schedule's input plus `month`. With DATABASE_IDS unset the event must list them (`[]` when
 *   every database is tag-selected): a month is written once, so a report judged against the wrong
 *   RPOs could not be replaced.
 * Returns (and, through the function's on-success destination, announces on the report topic):
 *   { month, bucket, keys: { json, md, html }, databases: [{ databaseId, gapDays, drills, drillsPassed }] }
 * Fails with `ConfigError` / `EventError`, or the S3 error (a month already written is refused by
 * the conditional create: reports are never replaced).
 *
 * Environment: ReportEnvSchema (lambda/core/handler-env.ts). With UNLISTED_RPO_HOURS (a fleet with
 * a tag selection) the report also covers the databases the bucket holds backups or drill reports
 * of that no list names, judged against that RPO, each for the months it has any
 * (lambda/core/evidence/collect.ts).
 *
 * IAM (BackupBucketGrants, from lib/constructs/evidence-report.ts): readBackups and
 * readDrillReports for each database (GetObject under its prefixes, ListBucket, kms:Decrypt), or in
 * a fleet readEvidence (GetObject of every database's manifests, verification records and drill
 * reports, never a dump; ListBucket; kms:Decrypt), readRetentionSettings
 * (s3:GetLifecycleConfiguration, s3:GetBucketObjectLockConfiguration) and writeEvidenceReports
 * (s3:PutObject + s3:PutObjectRetention on `reports/*`, kms:GenerateDataKey).
 */
import { z } from 'zod';
import { ListedRposSchema } from '../core/fleet-settings';
import { writeMonthlyReport, type MonthlyReportResult } from '../core/evidence/monthly';
import { EventError, handlerEnv, parseEvent } from './env';
import { logger, startInvocation, type LambdaContext } from './powertools';
import { s3Client } from './s3-clients';

export const ReportEventSchema = z.object({
  month: z
    .string()
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be yyyy-mm')
    .optional(),
  listedDatabases: ListedRposSchema.optional(),
});

const readEnv = handlerEnv('report');

export const handler = async (event: unknown, context?: LambdaContext): Promise<MonthlyReportResult> => {
  const env = readEnv();
  const ev = parseEvent(ReportEventSchema, event ?? {}, 'report');
  if (!ev.listedDatabases && env.DATABASE_IDS.length === 0) {
    throw new EventError(
      'nothing to report: no listed databases (DATABASE_IDS is unset, so the event must carry the ' +
        "schedule's listedDatabases, [] when every database is tag-selected)",
    );
  }
  startInvocation(context, { month: ev.month });
  const result = await writeMonthlyReport({
    s3: s3Client(),
    bucket: env.BACKUP_BUCKET,
    databaseIds: ev.listedDatabases?.map((d) => d.id) ?? env.DATABASE_IDS,
    rpoHoursByDatabase: {
      ...env.RPO_HOURS,
      ...Object.fromEntries((ev.listedDatabases ?? []).map((d) => [d.id, d.rpoHours])),
    },
    ...(env.UNLISTED_RPO_HOURS === undefined ? {} : { unlisted: { rpoHours: env.UNLISTED_RPO_HOURS } }),
    month: ev.month,
    objectLockMode: env.OBJECT_LOCK_MODE,
    retentionDays: env.REPORT_RETENTION_DAYS,
    kmsKeyId: env.BACKUP_KMS_KEY_ARN,
  });
  logger.info('evidence report written', {
    month: result.month,
    keys: result.keys,
    databases: result.databases.length,
  });
  return result;
};
