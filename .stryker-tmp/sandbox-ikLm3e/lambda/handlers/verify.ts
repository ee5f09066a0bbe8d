/**
 * Verify: re-reads a backup that the dump state just wrote (the second state of the Backup
 * workflow) and checks size, SHA-256, the archive TOC, the roles file and the replica copy.
 *
 * Event in:
 *   { databaseId: string; manifestKey: string }     // the dump state's output satisfies this
 * Returns (all checks passed):
 *   { databaseId, backupId, manifestKey, ok: true, bytes, sha256, checks: [{ name, status, ok, code?, detail }] }
 * Fails with:
 *   errorType `VerificationFailed`  a check failed; errorMessage lists each failed check with its
 *                                   code (SIZE_MISMATCH, CHECKSUM_MISMATCH, TOC_MISSING_TABLES,
 *                                   REPLICA_MISSING naming the replica region, ...)
 *   errorType `ReplicationPending`  nothing failed but S3 reports replication still PENDING:
 *                                   retry this state with backoff (RTC replicates within 15 min)
 *   errorType `VerifyInfraError` / `ConfigError` / `EventError`  could not verify at all
 *
 * Environment:
 *   BACKUP_BUCKET     primary bucket (required)
 *   REPLICA_BUCKET    replica bucket; with REPLICA_REGION enables the replica check
 *   REPLICA_REGION    the replica bucket's region
 *   PG_BIN_DIRS       colon-separated pg_restore directories (default: image layout)
 *
 * Metrics (dimension DatabaseId): VerifySuccess / VerifyFailure (1/0 when a verdict was reached),
 * ReplicaMissing (1 when the replica is missing, failed or differs; 0 when it checked out).
 *
 * IAM: s3:GetObject on the primary bucket's objects, s3:GetObject (for HeadObject) on the replica
 * bucket's objects, kms:Decrypt on both keys.
 */
// @ts-nocheck

import { z } from 'zod';
import { MetricNames } from '../core/metric-names';
import { sharedS3Client } from '../core/s3';
import { DATABASE_ID_PATTERN, parseManifestKey } from '../core/tiers';
import { verifyBackup, type VerifyCheck } from '../core/verify';
import { ConfigError, EventError, optionalEnv, parseEvent, pathListEnv, requireEnv } from './env';
import { emitForDatabase, logger, MetricUnit, startInvocation, type LambdaContext } from './powertools';

export const VerifyEventSchema = z.object({
  databaseId: z.string().regex(DATABASE_ID_PATTERN, 'must be a lowercase-hyphen database id'),
  manifestKey: z.string().min(1),
});
export type VerifyEvent = z.infer<typeof VerifyEventSchema>;

export interface VerifyHandlerResult {
  readonly databaseId: string;
  readonly backupId: string;
  readonly manifestKey: string;
  readonly ok: true;
  readonly bytes?: number;
  readonly sha256?: string;
  readonly checks: readonly VerifyCheck[];
}

export class VerificationFailed extends Error {
  override readonly name = 'VerificationFailed';
}
export class ReplicationPending extends Error {
  override readonly name = 'ReplicationPending';
}

export const handler = async (event: unknown, context?: LambdaContext): Promise<VerifyHandlerResult> => {
  const ev = parseEvent(VerifyEventSchema, event, 'verify');
  startInvocation(context, { databaseId: ev.databaseId, manifestKey: ev.manifestKey });
  const key = parseManifestKey(ev.manifestKey);
  if (!key || key.databaseId !== ev.databaseId) {
    throw new EventError(`manifestKey ${ev.manifestKey} is not a manifest of database ${ev.databaseId}`);
  }
  const bucket = requireEnv('BACKUP_BUCKET');
  const replicaBucket = optionalEnv('REPLICA_BUCKET');
  const replicaRegion = optionalEnv('REPLICA_REGION');
  if (!!replicaBucket !== !!replicaRegion) {
    throw new ConfigError('REPLICA_BUCKET and REPLICA_REGION must be set together');
  }

  const result = await verifyBackup({
    s3: sharedS3Client(),
    bucket,
    manifestKey: ev.manifestKey,
    replica:
      replicaBucket && replicaRegion
        ? { s3: sharedS3Client(replicaRegion), bucket: replicaBucket, region: replicaRegion }
        : undefined,
    pgBinDirs: pathListEnv('PG_BIN_DIRS'),
    logger,
  });
  const failedChecks = result.checks.filter((c) => c.status === 'fail');
  const replica = result.checks.find((c) => c.name === 'replica');
  const values: [(typeof MetricNames)[keyof typeof MetricNames], typeof MetricUnit.Count, number][] = [];
  if (!result.pending) {
    values.push([MetricNames.verifySuccess, MetricUnit.Count, result.ok ? 1 : 0]);
    values.push([MetricNames.verifyFailure, MetricUnit.Count, result.ok ? 0 : 1]);
  }
  if (replica && replica.status !== 'pending' && replica.status !== 'skipped') {
    values.push([MetricNames.replicaMissing, MetricUnit.Count, replica.ok ? 0 : 1]);
  }
  if (values.length > 0) emitForDatabase(ev.databaseId, values);

  if (failedChecks.length > 0) {
    const summary = failedChecks.map((c) => `${c.code}: ${c.detail}`).join(' | ');
    logger.error('verification failed', { checks: result.checks });
    throw new VerificationFailed(
      `backup ${result.backupId ?? ev.manifestKey} failed verification: ${summary}`,
    );
  }
  if (result.pending) {
    logger.info('replication pending', { checks: result.checks });
    throw new ReplicationPending(replica?.detail ?? 'replication pending');
  }
  logger.info('verification passed', { backupId: result.backupId, bytes: result.bytes });
  return {
    databaseId: ev.databaseId,
    backupId: result.backupId!,
    manifestKey: ev.manifestKey,
    ok: true,
    bytes: result.bytes,
    sha256: result.sha256,
    checks: result.checks,
  };
};
