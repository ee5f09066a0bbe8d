/**
 * How a restore fails: one error class with a stable code, shared by every step of a restore
 * (download, target checks, pg_restore) and matched on by the drill and the CLI.
 */

export type RestoreErrorCode =
  | 'MANIFEST_UNREADABLE'
  | 'SIZE_MISMATCH'
  | 'CHECKSUM_MISMATCH'
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
