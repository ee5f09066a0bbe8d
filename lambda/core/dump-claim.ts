/**
 * Where a backup goes and how its objects are written: GFS placement, the backup-id claim (a
 * conditional create, so overlapping runs never share keys), and the encryption and Object Lock
 * parameters every object of the backup carries.
 */
import { PutObjectCommand, type PutObjectCommandInput } from '@aws-sdk/client-s3';
import { BackupError } from './backup-error';
import { DEFAULT_OBJECT_LOCK_MODE } from './handler-env';
import { backupIdTime, occupiedPeriods } from './catalog';
import type { DumpOptions } from './dump';
import type { CoreLogger } from './logger';
import { backupKeys, DEFAULT_RETENTION_DAYS, periodOf, placeBackup, type Placement } from './tiers';

/**
 * A conditional create lost: 412 when the key exists, 409 ConditionalRequestConflict when another
 * conditional write to the key is in flight.
 */
export const isPreconditionFailed = (e: unknown): boolean => {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const status = err?.$metadata?.httpStatusCode;
  return (
    err?.name === 'PreconditionFailed' ||
    err?.Code === 'PreconditionFailed' ||
    err?.name === 'ConditionalRequestConflict' ||
    status === 412 ||
    (status === 409 && /Conditional/i.test(err?.name ?? ''))
  );
};

/**
 * Where a backup id is claimed: one place per id whatever the tier, so an id is unique across all
 * tiers of a database. Under the daily prefix, the daily lifecycle rule expires it.
 */
export function claimKey(databaseId: string, backupId: string): string {
  const at = backupIdTime(backupId);
  return `${backupKeys('daily', databaseId, periodOf('daily', at), backupId).prefix}${backupId}.claim`;
}

/**
 * Places the backup and claims its id with a conditional create (`If-None-Match: *`) of a small
 * claim object (see claimKey). When the id is taken (another run started in the same second),
 * tries the next second, so ids keep the `<db>-<yyyymmddThhmmssZ>` format and never collide. Every
 * claim stays, a failed run's too: the dump role has no delete permission (the vault allows
 * none), an id once used is never handed out again, and listings ignore claims; the daily
 * lifecycle rule expires them.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 */
export async function claimPlacement(
  options: DumpOptions,
  startedAt: Date,
  log: CoreLogger,
): Promise<Placement> {
  const attempts = options.maxIdAttempts ?? 30;
  const base = Math.floor(startedAt.getTime() / 1000) * 1000;
  for (let i = 0; i < attempts; i++) {
    const at = new Date(base + i * 1000);
    const occupied = await occupiedPeriods(options.s3, options.bucket, options.databaseId, at);
    const placement = placeBackup({
      databaseId: options.databaseId,
      at,
      occupied,
      retentionDays: options.retentionDays ?? DEFAULT_RETENTION_DAYS,
      tier: options.tier === 'auto' ? undefined : options.tier,
    });
    try {
      await options.s3.send(
        new PutObjectCommand({
          Bucket: options.bucket,
          Key: claimKey(options.databaseId, placement.backupId),
          Body: JSON.stringify({
            backupId: placement.backupId,
            tier: placement.tier,
            period: placement.period,
            claimedAt: new Date().toISOString(),
          }),
          ContentType: 'application/json',
          IfNoneMatch: '*',
          ...encryptionParams(options),
        }),
      );
      log.info('backup placed', {
        backupId: placement.backupId,
        tier: placement.tier,
        period: placement.period,
      });
      return placement;
    } catch (e) {
      if (!isPreconditionFailed(e)) {
        throw new BackupError(
          'UPLOAD_FAILED',
          `cannot claim backup id ${placement.backupId}: ${(e as Error).message}`,
        );
      }
      log.info('backup id taken by another run; trying the next second', { backupId: placement.backupId });
    }
  }
  throw new BackupError(
    'ID_CONFLICT',
    `no free backup id for ${options.databaseId} within ${attempts} seconds`,
  );
}

export function encryptionParams(options: DumpOptions): Partial<PutObjectCommandInput> {
  return {
    ServerSideEncryption: 'aws:kms',
    ...(options.kmsKeyId ? { SSEKMSKeyId: options.kmsKeyId } : {}),
    BucketKeyEnabled: true,
  };
}

export function lockParams(options: DumpOptions, placement: Placement): Partial<PutObjectCommandInput> {
  const mode = options.objectLockMode ?? DEFAULT_OBJECT_LOCK_MODE;
  // Object Lock requires an integrity checksum on the upload; the SDK's default (WHEN_SUPPORTED)
  // sends CRC32 on PutObject and every part.
  // @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html
  return mode === 'NONE' ? {} : { ObjectLockMode: mode, ObjectLockRetainUntilDate: placement.retainUntil };
}
