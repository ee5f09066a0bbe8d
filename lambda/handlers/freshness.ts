/**
 * Freshness: the scheduled check behind the "backup stale", "size anomaly" and key alarms.
 *
 * Event in: `{}`, or in a fleet `{ listedDatabases: [{ id, rpoHours }] }`: the listed databases and
 *   their RPOs, over DATABASE_IDS and RPO_HOURS (a fleet's list outgrows the 4 KB a Lambda
 *   environment holds). Other fields (the scheduler's) are ignored.
 * Returns:
 *   {
 *     databases: [{ databaseId, newestBackupId?, ageHours?, sizeRatio?, referenceSource: 'server'|'local' }],
 *     keys: [{ label: 'primary'|'replica', keyId, usable, state, detail }]
 *   }
 *
 * Environment: FreshnessEnvSchema (lambda/core/handler-env.ts); REPLICA_KMS_KEY_ARN (with
 * REPLICA_REGION) adds the replica key to the checked keys. With SELECTION the check also
 * discovers the tag-selected databases (lambda/core/discovery.ts) and checks each one, those
 * discovery skips included (they are expected and unprotected): a selected database without a
 * backup is stale, not silently absent. If discovery fails, the listed ones are still checked and
 * the invocation then fails (the check's own error alarm).
 *
 * Metrics, per database (dimension DatabaseId):
 *   BackupAgeHours     hours since the newest valid manifest's S3 LastModified, measured against
 *                      S3's own clock; NOT emitted when the database has no valid backup, so the
 *                      stale alarm (treatMissingData: breaching) fires
 *   BackupSizeRatio    newest size / median of the previous ≤7 valid ones (only with ≥1 previous)
 *   BackupKeyUnusable  1 when the primary or replica key is disabled, pending deletion or cannot be
 *                      described; else 0
 *   BackupAgeOverRpo   age / (RPO + 1 h), RPO from RPO_HOURS (else DEFAULT_RPO_HOURS): one fleet
 *                      alarm at > 1 serves every RPO. A database with no valid backup gets
 *                      NO_BACKUP_AGE_OVER_RPO (a Metrics Insights alarm never sees a series that is
 *                      not published, so "no backup" must be a value, not an absence)
 *
 * IAM: s3:ListBucket and s3:GetObject on the primary bucket, kms:DescribeKey on both keys; with
 * SELECTION also rds:DescribeDBInstances, rds:DescribeDBClusters and secretsmanager:DescribeSecret.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { discoverDatabases } from '../core/discovery';
import { checkFreshness, type KeyToCheck } from '../core/freshness';
import { z } from 'zod';
import { ListedRposSchema } from '../core/fleet-settings';
import type { FreshnessEnv } from '../core/handler-env';
import { DATABASE_ID_PATTERN } from '../core/tiers';
import { MetricNames } from '../core/metric-names';
import { EventError, handlerEnv, parseEvent } from './env';
import {
  emitForDatabase,
  logger,
  MetricUnit,
  startInvocation,
  traced,
  type LambdaContext,
  type Unit,
} from './powertools';
import { s3Client } from './s3-clients';

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
  if (!kmsClients.has(k)) kmsClients.set(k, traced(new KMSClient(region ? { region } : {})));
  return kmsClients.get(k)!;
};

const readEnv = handlerEnv('freshness');
let rds: RDSClient | undefined;
let secrets: SecretsManagerClient | undefined;

/**
 * BackupAgeOverRpo of a database with no valid backup: far over any threshold, so the fleet alarm
 * fires for it as the per-database stale alarm (missing data: breaching) does for a listed one.
 */
export const NO_BACKUP_AGE_OVER_RPO = 1000;

/** age / (RPO + 1 h): the hour is the run's own duration and the check's period. */
export function ageOverRpo(ageHours: number | undefined, rpoHours: number): number {
  if (ageHours === undefined) return NO_BACKUP_AGE_OVER_RPO;
  return Math.round((ageHours / (rpoHours + 1)) * 1000) / 1000;
}

export const FreshnessEventSchema = z.looseObject({
  listedDatabases: ListedRposSchema.optional(),
});

/** The listed databases and RPOs: the event's when it has them, else the environment's. */
function listedOf(env: FreshnessEnv, event: unknown): { ids: string[]; rpoHours: Record<string, number> } {
  const ev = parseEvent(FreshnessEventSchema, event ?? {}, 'freshness');
  const ids = ev.listedDatabases?.map((d) => d.id) ?? env.DATABASE_IDS;
  const rpoHours = {
    ...env.RPO_HOURS,
    ...Object.fromEntries((ev.listedDatabases ?? []).map((d) => [d.id, d.rpoHours])),
  };
  if (ids.length === 0 && !env.SELECTION) {
    throw new EventError(
      'nothing to check: no listed databases (event listedDatabases or DATABASE_IDS) and no SELECTION',
    );
  }
  return { ids, rpoHours };
}

/** The databases to check: the listed ones, and with SELECTION every selected one (skipped ones too). */
async function expectedDatabases(
  env: FreshnessEnv,
  listed: readonly string[],
): Promise<{ ids: string[]; discoveryError?: Error }> {
  if (!env.SELECTION) return { ids: [...listed] };
  try {
    rds ??= traced(new RDSClient({}));
    secrets ??= traced(new SecretsManagerClient({}));
    const found = await discoverDatabases(
      env.SELECTION,
      { rds, secrets },
      listed.map((id) => ({ id, secretArn: '' })),
    );
    const skippedIds = found.skipped.flatMap((s) => (s.id && DATABASE_ID_PATTERN.test(s.id) ? [s.id] : []));
    return { ids: [...new Set([...found.databases.map((d) => d.id), ...skippedIds])].sort() };
  } catch (e) {
    logger.error('discovery failed: checking the listed databases only', { error: (e as Error).message });
    return { ids: [...listed], discoveryError: e as Error };
  }
}

export const handler = async (event: unknown, context?: LambdaContext): Promise<FreshnessHandlerResult> => {
  startInvocation(context, {});
  const env = readEnv();
  const listed = listedOf(env, event);
  const keys: KeyToCheck[] = [{ label: 'primary', keyId: env.BACKUP_KMS_KEY_ARN, kms: kmsFor() }];
  if (env.REPLICA_KMS_KEY_ARN) {
    keys.push({ label: 'replica', keyId: env.REPLICA_KMS_KEY_ARN, kms: kmsFor(env.REPLICA_REGION) });
  }
  const expected = await expectedDatabases(env, listed.ids);
  const report = await checkFreshness({
    s3: s3Client(),
    bucket: env.BACKUP_BUCKET,
    databaseIds: expected.ids,
    keys,
  });
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
    const rpoHours = listed.rpoHours[d.databaseId] ?? env.DEFAULT_RPO_HOURS;
    values.push([MetricNames.backupAgeOverRpo, MetricUnit.NoUnit, ageOverRpo(d.ageHours, rpoHours)]);
    emitForDatabase(d.databaseId, values);
    if (!d.newest) logger.warn('no valid backup', { databaseId: d.databaseId });
  }
  logger.info('freshness checked', { databases: report.databases.length, keysUnusable: keyUnusable });
  if (expected.discoveryError) {
    throw new Error(
      `tag-selected databases could not be discovered (the listed ones were checked): ${expected.discoveryError.message}`,
    );
  }
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
