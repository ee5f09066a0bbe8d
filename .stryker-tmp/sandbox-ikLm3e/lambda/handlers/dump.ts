/**
 * Dump: one backup of one database (the first state of the Backup workflow).
 *
 * Event in:
 *   {
 *     databaseId: string;                 // config id, lowercase-hyphen (the S3 prefix)
 *     secretArn: string;                  // Secrets Manager secret, standard RDS JSON shape
 *     host?: string; port?: number;       // when the secret lacks them (RDS-managed master secrets)
 *     database?: string;                  // database name when the secret has no dbname
 *     schemas?: { include?: string[]; exclude?: string[] };
 *     sslMode?: 'verify-full' | 'verify-ca' | 'require' | 'disable';   // default verify-full
 *     tier?: 'auto' | 'daily' | 'weekly' | 'monthly' | 'yearly';        // default auto (GFS)
 *   }
 * Returns:
 *   { databaseId, backupId, manifestKey, tier, period, bytes, sha256 }
 *   (the verify state takes `{ databaseId, manifestKey }` from it)
 * Fails with errorType `BackupError`, errorMessage `<REASON>: <detail>` (REASON is a
 * BackupFailureReason, e.g. PG_DUMP_FAILED, DEADLINE, VERSION_UNSUPPORTED); nothing is committed:
 * no manifest, the multipart upload aborted. `ConfigError` for a missing/invalid variable,
 * `EventError` for a malformed event.
 *
 * Environment:
 *   BACKUP_BUCKET            primary bucket name (required)
 *   BACKUP_KMS_KEY_ARN       SSE-KMS key for every object (required)
 *   OBJECT_LOCK_MODE         COMPLIANCE | GOVERNANCE | NONE (default COMPLIANCE)
 *   RETENTION_DAYS           JSON {"daily":30,"weekly":90,"monthly":365,"yearly":2555} (default those)
 *   PG_BIN_DIRS              colon-separated pg_dump directories (default: RESTORABLE_PG_BIN_DIRS, image layout)
 *   PG_CA_BUNDLE             CA bundle for verify-full (default /opt/rds-ca/global-bundle.pem)
 *   COUNT_BUDGET_SECONDS     exact row-count budget (default 300; over budget → estimates, marked)
 *   MIN_DUMP_BYTES           size floor for the archive (default 512)
 *   SAFETY_MARGIN_SECONDS    abort this long before the Lambda timeout (default 60)
 *
 * Metrics (namespace Restorable, dimension DatabaseId): BackupSuccess and BackupFailure (1/0 on
 * every run), BackupBytes and BackupDurationSeconds on success.
 *
 * IAM the function needs: secretsmanager:GetSecretValue on the secret; on the bucket
 * s3:ListBucket, s3:ListBucketMultipartUploads; on objects s3:GetObject, s3:PutObject,
 * s3:PutObjectRetention, s3:AbortMultipartUpload, s3:DeleteObject (only for `daily/*\/*.claim`,
 * the backup-id claim a failed run removes); kms:GenerateDataKey and kms:Decrypt on the key.
 */
// @ts-nocheck

import { z } from 'zod';
import { BackupError, dumpDatabase, type ObjectLockMode } from '../core/dump';
import { keysOfManifest } from '../core/manifest';
import { MetricNames } from '../core/metric-names';
import { SSL_MODES, type SslMode } from '../core/secrets';
import {
  DATABASE_ID_PATTERN,
  DEFAULT_RETENTION_DAYS,
  TIERS,
  type RetentionDays,
  type Tier,
} from '../core/tiers';
import { sharedS3Client } from '../core/s3';
import { ConfigError, jsonEnv, numberEnv, optionalEnv, parseEvent, pathListEnv, requireEnv } from './env';
import { emitForDatabase, logger, MetricUnit, startInvocation, type LambdaContext } from './powertools';

export const DumpEventSchema = z.strictObject({
  databaseId: z.string().regex(DATABASE_ID_PATTERN, 'must be a lowercase-hyphen database id'),
  secretArn: z.string().min(1),
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  database: z.string().min(1).optional(),
  schemas: z
    .strictObject({ include: z.array(z.string()).optional(), exclude: z.array(z.string()).optional() })
    .optional(),
  sslMode: z.enum(SSL_MODES as [SslMode, ...SslMode[]]).optional(),
  tier: z.enum(['auto', ...TIERS] as [string, ...string[]]).optional(),
});
export type DumpEvent = z.infer<typeof DumpEventSchema>;

export interface DumpResult {
  readonly databaseId: string;
  readonly backupId: string;
  readonly manifestKey: string;
  readonly tier: Tier;
  readonly period: string;
  readonly bytes: number;
  readonly sha256: string;
}

const RetentionSchema = z.strictObject({
  daily: z.number().int().positive(),
  weekly: z.number().int().positive(),
  monthly: z.number().int().positive(),
  yearly: z.number().int().positive(),
});

function readConfig() {
  const lockMode = optionalEnv('OBJECT_LOCK_MODE') ?? 'COMPLIANCE';
  if (!['COMPLIANCE', 'GOVERNANCE', 'NONE'].includes(lockMode)) {
    throw new ConfigError(`OBJECT_LOCK_MODE must be COMPLIANCE, GOVERNANCE or NONE, got ${lockMode}`);
  }
  return {
    bucket: requireEnv('BACKUP_BUCKET'),
    kmsKeyId: requireEnv('BACKUP_KMS_KEY_ARN'),
    objectLockMode: lockMode as ObjectLockMode,
    retentionDays: jsonEnv<RetentionDays>('RETENTION_DAYS', RetentionSchema, {
      fallback: DEFAULT_RETENTION_DAYS,
    }),
    pgBinDirs: pathListEnv('PG_BIN_DIRS'),
    caBundlePath: optionalEnv('PG_CA_BUNDLE'),
    countBudgetMs: numberEnv('COUNT_BUDGET_SECONDS', 300) * 1000,
    minBytes: numberEnv('MIN_DUMP_BYTES', 512),
    safetyMarginMs: numberEnv('SAFETY_MARGIN_SECONDS', 60) * 1000,
  };
}

export const handler = async (event: unknown, context?: LambdaContext): Promise<DumpResult> => {
  const claimed = (event as { databaseId?: unknown } | undefined)?.databaseId;
  const databaseId = typeof claimed === 'string' && DATABASE_ID_PATTERN.test(claimed) ? claimed : undefined;
  startInvocation(context, { databaseId });
  const started = Date.now();
  try {
    const ev = parseEvent(DumpEventSchema, event, 'dump');
    const config = readConfig();
    logger.info('backup starting', { tier: ev.tier ?? 'auto', sslMode: ev.sslMode ?? 'verify-full' });
    if (ev.sslMode === 'disable' || ev.sslMode === 'require') {
      logger.warn('TLS verification is off for this database by configuration', { sslMode: ev.sslMode });
    }
    const manifest = await dumpDatabase({
      databaseId: ev.databaseId,
      connection: { secretArn: ev.secretArn, host: ev.host, port: ev.port, database: ev.database },
      s3: sharedS3Client(),
      bucket: config.bucket,
      kmsKeyId: config.kmsKeyId,
      objectLockMode: config.objectLockMode,
      retentionDays: config.retentionDays,
      tier: (ev.tier ?? 'auto') as Tier | 'auto',
      schemas: ev.schemas,
      sslMode: ev.sslMode,
      caBundlePath: config.caBundlePath,
      pgBinDirs: config.pgBinDirs,
      countBudgetMs: config.countBudgetMs,
      minBytes: config.minBytes,
      safetyMarginMs: config.safetyMarginMs,
      remainingTimeMs: context ? () => context.getRemainingTimeInMillis() : undefined,
      logger,
    });
    emitForDatabase(ev.databaseId, [
      [MetricNames.backupSuccess, MetricUnit.Count, 1],
      [MetricNames.backupFailure, MetricUnit.Count, 0],
      [MetricNames.backupBytes, MetricUnit.Bytes, manifest.object.bytes],
      [MetricNames.backupDurationSeconds, MetricUnit.Seconds, manifest.durationSeconds],
    ]);
    return {
      databaseId: manifest.databaseId,
      backupId: manifest.backupId,
      manifestKey: keysOfManifest(manifest).manifest,
      tier: manifest.tier,
      period: manifest.period,
      bytes: manifest.object.bytes,
      sha256: manifest.object.sha256,
    };
  } catch (e) {
    const reason = e instanceof BackupError ? e.reason : (e as Error).name;
    logger.error('backup failed', {
      reason,
      error: (e as Error).message,
      durationSeconds: (Date.now() - started) / 1000,
    });
    if (databaseId) {
      emitForDatabase(databaseId, [
        [MetricNames.backupSuccess, MetricUnit.Count, 0],
        [MetricNames.backupFailure, MetricUnit.Count, 1],
      ]);
    }
    if (e instanceof BackupError) {
      // Lambda reports errorType (the name) and errorMessage only; put the reason where Step
      // Functions and the notification can see it.
      throw new BackupError(e.reason, `${e.reason}: ${e.message}`, e.backupId);
    }
    throw e;
  }
};
