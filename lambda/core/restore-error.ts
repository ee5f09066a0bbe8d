/**
 * How a restore fails: one error class with a stable code, shared by every step of a restore
 * (download, target checks, pg_restore) and matched on by the drill and the CLI.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { ArchivedObjectError, assertReadable, headArchiveState, thawHint } from './archive-state';

export type RestoreErrorCode =
  | 'MANIFEST_UNREADABLE'
  /** An object of the backup is in Glacier Flexible Retrieval or Deep Archive and not restored. */
  | 'ARCHIVED'
  /** A file a directory-layout manifest lists does not exist. */
  | 'OBJECT_MISSING'
  | 'SIZE_MISMATCH'
  | 'CHECKSUM_MISMATCH'
  /** No room for the plain archive in the work dir (checked before writing). */
  | 'INSUFFICIENT_SPACE'
  /** The stored zstd or gzip stream ends early, does not decode, or is not the manifest's kind. */
  | 'TRUNCATED'
  | 'CORRUPT'
  | 'FORMAT_MISMATCH'
  | 'NOT_AN_ARCHIVE'
  | 'TARGET_NOT_EMPTY'
  | 'TABLE_EXISTS'
  | 'TABLE_NOT_IN_ARCHIVE'
  | 'PG_RESTORE_FAILED'
  | 'VERSION_UNSUPPORTED'
  | 'EXTENSIONS_MISSING'
  | 'TABLE_DEPENDENTS'
  | 'ABORTED';

/** A restore failure with a stable code; messages never hold credentials. */
export class RestoreError extends Error {
  constructor(
    readonly code: RestoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RestoreError';
  }
}

/**
 * Throws RestoreError('ARCHIVED') naming the exact `restorable thaw` command when `key` is archived
 * and not restored (a restored copy reads like any object).
 */
export async function assertRestorable(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId?: string,
): Promise<string | undefined> {
  try {
    return await assertReadable(s3, bucket, key, versionId);
  } catch (e) {
    if (e instanceof ArchivedObjectError) throw new RestoreError('ARCHIVED', e.message);
    throw e;
  }
}

/**
 * For a read S3 refused with InvalidObjectState (the object went to an archive class between our
 * HeadObject and the read): the same ARCHIVED error, with the state read again.
 */
export async function archivedRestoreError(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId?: string,
): Promise<RestoreError> {
  const state = await headArchiveState(s3, bucket, key, versionId).catch(() => undefined);
  return new RestoreError(
    'ARCHIVED',
    state
      ? thawHint(state, bucket)
      : `s3://${bucket}/${key} is archived; restore it with restorable thaw before reading it`,
  );
}
