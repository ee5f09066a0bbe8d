/**
 * How a restore fails: one error class with a stable code, shared by every step of a restore
 * (download, target checks, pg_restore) and matched on by the drill and the CLI.
 */

export type RestoreErrorCode =
  | 'MANIFEST_UNREADABLE'
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
