/**
 * Report: the scheduled monthly evidence report (lib/constructs/evidence-report.ts).
 *
 * Event in: `{}` (last month, on S3's clock) or `{ month: 'yyyy-mm' }` to (re)make a given month.
 * Returns (and, through the function's on-success destination, announces on the report topic):
 *   { month, bucket, keys: { json, md, html }, databases: [{ databaseId, gapDays, drills, drillsPassed }] }
 * Fails with `ConfigError` / `EventError`, or the S3 error (a month already written is refused by
 * the conditional create: reports are never replaced).
 *
 * Environment: ReportEnvSchema (lambda/core/handler-env.ts).
 *
 * IAM (BackupBucketGrants, from lib/constructs/evidence-report.ts): readBackups and
 * readDrillReports for each database (GetObject under its prefixes, ListBucket, kms:Decrypt),
 * readRetentionSettings (s3:GetLifecycleConfiguration, s3:GetBucketObjectLockConfiguration) and
 * writeEvidenceReports (s3:PutObject + s3:PutObjectRetention on `reports/*`, kms:GenerateDataKey).
 */
import { z } from 'zod';
import { writeMonthlyReport, type MonthlyReportResult } from '../core/evidence/monthly';
import { handlerEnv, parseEvent } from './env';
import { logger, startInvocation, type LambdaContext } from './powertools';
import { s3Client } from './s3-clients';

export const ReportEventSchema = z.object({
  month: z
    .string()
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be yyyy-mm')
    .optional(),
});

const readEnv = handlerEnv('report');

export const handler = async (event: unknown, context?: LambdaContext): Promise<MonthlyReportResult> => {
  const env = readEnv();
  const ev = parseEvent(ReportEventSchema, event ?? {}, 'report');
  startInvocation(context, { month: ev.month });
  const result = await writeMonthlyReport({
    s3: s3Client(),
    bucket: env.BACKUP_BUCKET,
    databaseIds: env.DATABASE_IDS,
    rpoHoursByDatabase: env.RPO_HOURS,
    month: ev.month,
    objectLockMode: env.OBJECT_LOCK_MODE,
    retentionDays: env.REPORT_RETENTION_DAYS,
    kmsKeyId: env.BACKUP_KMS_KEY_ARN,
  });
  logger.info('evidence report written', { month: result.month, keys: result.keys });
  return result;
};
