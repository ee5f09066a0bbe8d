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
 * Environment: VerifyEnvSchema (lambda/core/handler-env.ts); with REPLICA_BUCKET and
 * REPLICA_REGION the replica copy is checked too; OBJECT_LOCK_MODE is the verification record's
 * lock mode (the dump's). With DATABASE_ACCESS_ROLE_ARN every S3 call acts as the data-access role
 * assumed for this database (run-clients.ts).
 *
 * Metrics (dimension DatabaseId): VerifySuccess / VerifyFailure (1/0 when a verdict was reached),
 * ReplicaMissing (1 when the replica is missing, failed or differs; 0 when it checked out).
 *
 * Every verdict is recorded as `<tier>/<db>/<period>/<backupId>.verify-<stamp>-<hex>.json` next to the
 * manifest (core/verification.ts): the evidence report reads it.
 *
 * IAM (BackupBucketGrants.verifyBackups and writeVerificationRecords): s3:GetObject on the
 * database's backups, s3:PutObject (+ s3:PutObjectRetention) on `<tier>/<db>/*.verify-*.json`,
 * kms:Decrypt and kms:GenerateDataKey on the primary key; s3:GetObject (for HeadObject) on the
 * replica bucket's objects and kms:Decrypt on its key.
 */
import { z } from 'zod';
import { MetricNames } from '../core/metric-names';
import { DATABASE_ID_PATTERN, parseManifestKey } from '../core/tiers';
import { verifyBackup, type VerifyCheck } from '../core/verify';
import { recordVerification } from '../core/verification';
import { EventError, handlerEnv, parseEvent } from './env';
import { emitForDatabase, logger, MetricUnit, startInvocation, type LambdaContext } from './powertools';
import { runClients } from './run-clients';

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

const readEnv = handlerEnv('verify');

export const handler = async (event: unknown, context?: LambdaContext): Promise<VerifyHandlerResult> => {
  const env = readEnv();
  const ev = parseEvent(VerifyEventSchema, event, 'verify');
  startInvocation(context, { databaseId: ev.databaseId, manifestKey: ev.manifestKey });
  const key = parseManifestKey(ev.manifestKey);
  if (!key || key.databaseId !== ev.databaseId) {
    throw new EventError(`manifestKey ${ev.manifestKey} is not a manifest of database ${ev.databaseId}`);
  }
  const { REPLICA_BUCKET: replicaBucket, REPLICA_REGION: replicaRegion } = env;
  // With DATABASE_ACCESS_ROLE_ARN: the session of this database (reads its backups, writes its records).
  const clients = runClients({ roleArn: env.DATABASE_ACCESS_ROLE_ARN, databaseId: ev.databaseId });

  const result = await verifyBackup({
    s3: clients.s3(),
    bucket: env.BACKUP_BUCKET,
    manifestKey: ev.manifestKey,
    replica:
      replicaBucket && replicaRegion
        ? { s3: clients.s3(replicaRegion), bucket: replicaBucket, region: replicaRegion }
        : undefined,
    pgBinDirs: env.PG_BIN_DIRS,
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
  // Evidence: a verdict that cannot be recorded fails the run (the report would show it unverified).
  const recordKey = await recordVerification({
    s3: clients.s3(),
    bucket: env.BACKUP_BUCKET,
    result,
    by: 'workflow',
    objectLockMode: env.OBJECT_LOCK_MODE,
  });
  if (recordKey) logger.info('verification recorded', { key: recordKey });

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
