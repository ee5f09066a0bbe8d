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
 *     tier?: 'auto' | 'daily' | 'weekly' | 'monthly' | 'yearly' | 'adhoc'; // default auto (GFS)
 *     reason?: string;                    // why an on-demand (adhoc) backup was taken; in the manifest
 *     compression?: { kind: 'zstd'|'gzip'|'none', level? };  // over the COMPRESSION env default
 *     lockWaitTimeoutSeconds?: number;    // over LOCK_WAIT_TIMEOUT_SECONDS
 *     rdsResourceArn?: string;            // a discovered database's RDS instance/cluster ARN: the run
 *                                         // re-describes it first (DATABASE_GONE) and its session may
 *                                         // read the master secret RDS manages for it
 *   }
 *   The fleet's backup workflow takes this as its execution input (the discovery function's
 *   FleetRunItem.execution), so one shared function serves every database.
 * Returns:
 *   { databaseId, backupId, manifestKey, tier, period, bytes, sha256 }
 *   (the verify state takes `{ databaseId, manifestKey }` from it)
 * Fails with errorType `BackupError`, errorMessage `<REASON>: <detail>` (REASON is a
 * BackupFailureReason, e.g. PG_DUMP_FAILED, DEADLINE, LOCK_TIMEOUT, VERSION_UNSUPPORTED); nothing is committed:
 * no manifest, the multipart upload aborted. `ConfigError` for a missing/invalid variable,
 * `EventError` for a malformed event.
 *
 * Environment: DumpEnvSchema (lambda/core/handler-env.ts), parsed on the first invocation; a
 * missing or invalid variable fails with one ConfigError naming each. With DATABASE_ACCESS_ROLE_ARN
 * the run's S3 and Secrets Manager calls act as the data-access role assumed for this database
 * (run-clients.ts).
 *
 * Metrics (namespace Restorable, dimension DatabaseId): BackupSuccess and BackupFailure (1/0 on
 * every run), BackupBytes and BackupDurationSeconds on success.
 *
 * IAM the function needs (itself, or the data-access role's session when DATABASE_ACCESS_ROLE_ARN
 * is set; then the function needs sts:AssumeRole + sts:TagSession on it, and with rdsResourceArn
 * rds:DescribeDBInstances / rds:DescribeDBClusters): secretsmanager:GetSecretValue on the secret; on the bucket
 * s3:ListBucket, s3:ListBucketMultipartUploads; on objects s3:GetObject, s3:PutObject,
 * s3:PutObjectRetention, s3:AbortMultipartUpload; kms:GenerateDataKey and kms:Decrypt on the key.
 * No delete of any kind: a failed run leaves its backup-id claim for the lifecycle rule
 * (lambda/core/dump.ts, claimKey).
 */
import { z } from 'zod';
import { CompressionChoiceSchema } from '../core/compression-settings';
import { FleetDatabaseError, RDS_RESOURCE_ARN_PATTERN } from '../core/discovery-recheck';
import { BackupError, dumpDatabase } from '../core/dump';
import { keysOfManifest } from '../core/manifest';
import { MetricNames } from '../core/metric-names';
import { DEFAULT_SSL_MODE, SslModeSchema } from '../core/backup-settings';
import { DATABASE_ID_PATTERN, STORED_TIERS, type StoredTier } from '../core/tiers';
import { handlerEnv, parseEvent } from './env';
import { emitForDatabase, logger, MetricUnit, startInvocation, type LambdaContext } from './powertools';
import { confirmRunDatabase } from './confirm-run';
import { runClients } from './run-clients';

export const DumpEventSchema = z.strictObject({
  databaseId: z.string().regex(DATABASE_ID_PATTERN, 'must be a lowercase-hyphen database id'),
  secretArn: z.string().min(1),
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  database: z.string().min(1).optional(),
  schemas: z
    .strictObject({ include: z.array(z.string()).optional(), exclude: z.array(z.string()).optional() })
    .optional(),
  sslMode: SslModeSchema.optional(),
  tier: z.enum(['auto', ...STORED_TIERS] as [string, ...string[]]).optional(),
  // The workflow passes '' when no reason was given (JSONPath cannot pass an absent field on).
  reason: z.string().max(500).optional(),
  compression: CompressionChoiceSchema.optional(),
  lockWaitTimeoutSeconds: z.number().min(0).max(3600).optional(),
  rdsResourceArn: z
    .string()
    .regex(RDS_RESOURCE_ARN_PATTERN, 'must be an RDS instance or cluster ARN')
    .optional(),
});
export type DumpEvent = z.infer<typeof DumpEventSchema>;

export interface DumpResult {
  readonly databaseId: string;
  readonly backupId: string;
  readonly manifestKey: string;
  readonly tier: StoredTier;
  readonly period: string;
  readonly bytes: number;
  readonly sha256: string;
}

const readEnv = handlerEnv('dump');

export const handler = async (event: unknown, context?: LambdaContext): Promise<DumpResult> => {
  const claimed = (event as { databaseId?: unknown } | undefined)?.databaseId;
  const databaseId = typeof claimed === 'string' && DATABASE_ID_PATTERN.test(claimed) ? claimed : undefined;
  startInvocation(context, { databaseId });
  const started = Date.now();
  try {
    const ev = parseEvent(DumpEventSchema, event, 'dump');
    const env = readEnv();
    const clients = runClients({
      roleArn: env.DATABASE_ACCESS_ROLE_ARN,
      databaseId: ev.databaseId,
      rdsResourceArn: ev.rdsResourceArn,
    });
    const endpoint = await confirmRunDatabase(ev).catch((e: unknown) => {
      if (e instanceof FleetDatabaseError) throw new BackupError('DATABASE_GONE', e.message);
      throw e;
    });
    logger.info('backup starting', { tier: ev.tier ?? 'auto', sslMode: ev.sslMode ?? DEFAULT_SSL_MODE });
    if (ev.sslMode === 'disable' || ev.sslMode === 'require') {
      logger.warn('TLS verification is off for this database by configuration', { sslMode: ev.sslMode });
    }
    const manifest = await dumpDatabase({
      databaseId: ev.databaseId,
      connection: {
        secretArn: ev.secretArn,
        client: clients.secrets(),
        host: endpoint.host,
        port: endpoint.port,
        database: ev.database,
      },
      s3: clients.s3(),
      bucket: env.BACKUP_BUCKET,
      kmsKeyId: env.BACKUP_KMS_KEY_ARN,
      objectLockMode: env.OBJECT_LOCK_MODE,
      retentionDays: env.RETENTION_DAYS,
      tier: (ev.tier ?? 'auto') as StoredTier | 'auto',
      reason: ev.reason || undefined,
      schemas: ev.schemas,
      preset: env.DATABASE_PRESET,
      ...(env.DUMP_FROM
        ? {
            dumpFrom: {
              host: env.DUMP_FROM.host,
              port: env.DUMP_FROM.port,
              ...(env.DUMP_FROM.secretArn
                ? { connection: { secretArn: env.DUMP_FROM.secretArn, client: clients.secrets() } }
                : {}),
            },
          }
        : {}),
      sslMode: ev.sslMode,
      caBundlePath: env.PG_CA_BUNDLE,
      pgBinDirs: env.PG_BIN_DIRS,
      countBudgetMs: env.COUNT_BUDGET_SECONDS * 1000,
      fingerprintBudgetMs: env.FINGERPRINT_BUDGET_SECONDS * 1000,
      lockWaitTimeoutMs: (ev.lockWaitTimeoutSeconds ?? env.LOCK_WAIT_TIMEOUT_SECONDS) * 1000,
      minBytes: env.MIN_DUMP_BYTES,
      safetyMarginMs: env.SAFETY_MARGIN_SECONDS * 1000,
      compression: ev.compression ?? env.COMPRESSION,
      // The Fargate task's environment (FargateRunner): layout, jobs and work dir from the config.
      layout: env.DUMP_LAYOUT === 'directory' ? 'directory' : 'custom',
      jobs: env.DUMP_JOBS,
      workDir: env.WORK_DIR,
      runner: env.RUNNER,
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
