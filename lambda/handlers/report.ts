/**
 * Report: the scheduled monthly evidence report (lib/constructs/evidence-report.ts).
 *
 * Event in: `{}` (last month, on S3's clock) or `{ month: 'yyyy-mm' }` to (re)make a given month.
 * Returns (and, through the function's on-success destination, announces on the report topic):
 *   { month, bucket, keys: { json, md, html }, databases: [{ databaseId, gapDays, drills, drillsPassed }] }
 * Fails with `ConfigError` / `EventError`, or the S3 error (a month already written is refused by
 * the conditional create: reports are never replaced).
 *
 * Environment:
 *   BACKUP_BUCKET           primary bucket (required)
 *   DATABASE_IDS            JSON array of database ids (required)
 *   RPO_HOURS               JSON object databaseId → RPO hours (default 24 each)
 *   OBJECT_LOCK_MODE        COMPLIANCE | GOVERNANCE | NONE (default COMPLIANCE)
 *   REPORT_RETENTION_DAYS   Object Lock retention of the reports (default 2555)
 *   BACKUP_KMS_KEY_ARN      SSE-KMS key for the reports (optional: bucket default)
 *
 * IAM: s3:ListBucket, s3:GetObject on the bucket's objects, s3:GetBucketLifecycleConfiguration,
 * s3:GetBucketObjectLockConfiguration, s3:PutObject + s3:PutObjectRetention on `reports/*`,
 * kms:Decrypt and kms:GenerateDataKey on the bucket key.
 */
import { z } from 'zod';
import { writeMonthlyReport, type MonthlyReportResult } from '../core/evidence/monthly';
import { sharedS3Client } from '../core/s3';
import { DATABASE_ID_PATTERN } from '../core/tiers';
import { ConfigError, jsonEnv, numberEnv, optionalEnv, parseEvent, requireEnv } from './env';
import { logger, startInvocation, type LambdaContext } from './powertools';

export const ReportEventSchema = z.object({
  month: z
    .string()
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be yyyy-mm')
    .optional(),
});

export const handler = async (event: unknown, context?: LambdaContext): Promise<MonthlyReportResult> => {
  const ev = parseEvent(ReportEventSchema, event ?? {}, 'report');
  startInvocation(context, { month: ev.month });
  const lockMode = optionalEnv('OBJECT_LOCK_MODE') ?? 'COMPLIANCE';
  if (!['COMPLIANCE', 'GOVERNANCE', 'NONE'].includes(lockMode)) {
    throw new ConfigError(`OBJECT_LOCK_MODE must be COMPLIANCE, GOVERNANCE or NONE, got ${lockMode}`);
  }
  const result = await writeMonthlyReport({
    s3: sharedS3Client(),
    bucket: requireEnv('BACKUP_BUCKET'),
    databaseIds: jsonEnv<string[]>('DATABASE_IDS', z.array(z.string().regex(DATABASE_ID_PATTERN)).min(1)),
    rpoHoursByDatabase: jsonEnv<Record<string, number>>(
      'RPO_HOURS',
      z.record(z.string(), z.number().positive()),
      {
        fallback: {},
      },
    ),
    month: ev.month,
    objectLockMode: lockMode as 'COMPLIANCE' | 'GOVERNANCE' | 'NONE',
    retentionDays: numberEnv('REPORT_RETENTION_DAYS', 2555),
    kmsKeyId: optionalEnv('BACKUP_KMS_KEY_ARN'),
  });
  logger.info('evidence report written', { month: result.month, keys: result.keys });
  return result;
};
