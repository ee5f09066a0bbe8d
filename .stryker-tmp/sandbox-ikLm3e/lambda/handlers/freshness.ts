/**
 * Freshness: the scheduled check behind the "backup stale", "size anomaly" and key alarms.
 *
 * Event in: anything (the EventBridge Scheduler payload is ignored), e.g. `{}`.
 * Returns:
 *   {
 *     databases: [{ databaseId, newestBackupId?, ageHours?, sizeRatio?, referenceSource: 'server'|'local' }],
 *     keys: [{ label: 'primary'|'replica', keyId, usable, state, detail }]
 *   }
 *
 * Environment:
 *   BACKUP_BUCKET         primary bucket (required)
 *   DATABASE_IDS          JSON array of database ids (required)
 *   BACKUP_KMS_KEY_ARN    primary bucket key (required)
 *   REPLICA_KMS_KEY_ARN   replica bucket key (optional; needs REPLICA_REGION)
 *   REPLICA_REGION        region of the replica key
 *
 * Metrics, per database (dimension DatabaseId):
 *   BackupAgeHours     hours since the newest valid manifest's S3 LastModified, measured against
 *                      S3's own clock; NOT emitted when the database has no valid backup, so the
 *                      stale alarm (treatMissingData: breaching) fires
 *   BackupSizeRatio    newest size / median of the previous ≤7 valid ones (only with ≥1 previous)
 *   BackupKeyUnusable  1 when the primary or replica key is disabled, pending deletion or cannot be
 *                      described; else 0
 *
 * IAM: s3:ListBucket and s3:GetObject on the primary bucket, kms:DescribeKey on both keys.
 */
// @ts-nocheck

import { KMSClient } from '@aws-sdk/client-kms';
import { z } from 'zod';
import { checkFreshness, type KeyToCheck } from '../core/freshness';
import { MetricNames } from '../core/metric-names';
import { sharedS3Client } from '../core/s3';
import { DATABASE_ID_PATTERN } from '../core/tiers';
import { ConfigError, jsonEnv, optionalEnv, requireEnv } from './env';
import {
  emitForDatabase,
  logger,
  MetricUnit,
  startInvocation,
  type LambdaContext,
  type Unit,
} from './powertools';

export interface FreshnessHandlerResult {
  readonly databases: readonly {
    readonly databaseId: string;
    readonly newestBackupId?: string;
    readonly ageHours?: number;
    readonly sizeRatio?: number;
    readonly drillAgeDays?: number;
    readonly referenceSource: 'server' | 'local';
  }[];
  readonly keys: readonly { label: string; keyId: string; usable: boolean; state: string; detail: string }[];
}

const kmsClients = new Map<string, KMSClient>();
const kmsFor = (region?: string) => {
  const k = region ?? '';
  if (!kmsClients.has(k)) kmsClients.set(k, new KMSClient(region ? { region } : {}));
  return kmsClients.get(k)!;
};

export const handler = async (_event: unknown, context?: LambdaContext): Promise<FreshnessHandlerResult> => {
  startInvocation(context, {});
  const bucket = requireEnv('BACKUP_BUCKET');
  const databaseIds = jsonEnv('DATABASE_IDS', z.array(z.string().regex(DATABASE_ID_PATTERN)).min(1));
  const keys: KeyToCheck[] = [{ label: 'primary', keyId: requireEnv('BACKUP_KMS_KEY_ARN'), kms: kmsFor() }];
  const replicaKey = optionalEnv('REPLICA_KMS_KEY_ARN');
  if (replicaKey) {
    const region = optionalEnv('REPLICA_REGION');
    if (!region) throw new ConfigError('REPLICA_KMS_KEY_ARN needs REPLICA_REGION');
    keys.push({ label: 'replica', keyId: replicaKey, kms: kmsFor(region) });
  }
  const report = await checkFreshness({ s3: sharedS3Client(), bucket, databaseIds, keys });
  const keyUnusable = report.keys.some((k) => !k.usable) ? 1 : 0;
  for (const k of report.keys.filter((k) => !k.usable)) {
    logger.error('backup key unusable', { label: k.label, keyId: k.keyId, state: k.state, detail: k.detail });
  }
  for (const d of report.databases) {
    const values: [(typeof MetricNames)[keyof typeof MetricNames], Unit, number][] = [
      [MetricNames.backupKeyUnusable, MetricUnit.Count, keyUnusable],
    ];
    if (d.ageHours !== undefined) values.push([MetricNames.backupAgeHours, MetricUnit.NoUnit, d.ageHours]);
    if (d.sizeRatio !== undefined) values.push([MetricNames.backupSizeRatio, MetricUnit.NoUnit, d.sizeRatio]);
    if (d.drillAgeDays !== undefined)
      values.push([MetricNames.drillAgeDays, MetricUnit.NoUnit, d.drillAgeDays]);
    emitForDatabase(d.databaseId, values);
    if (!d.newest) logger.warn('no valid backup', { databaseId: d.databaseId });
  }
  logger.info('freshness checked', { databases: report.databases.length, keysUnusable: keyUnusable });
  return {
    databases: report.databases.map((d) => ({
      databaseId: d.databaseId,
      newestBackupId: d.newest?.backupId,
      ageHours: d.ageHours,
      sizeRatio: d.sizeRatio,
      drillAgeDays: d.drillAgeDays,
      referenceSource: d.reference.source,
    })),
    keys: report.keys.map((k) => ({
      label: k.label,
      keyId: k.keyId,
      usable: k.usable,
      state: k.state,
      detail: k.detail,
    })),
  };
};
