/**
 * Why a backup failed: the reason codes metrics, alarms, the runbook and tests key on, and the
 * error every part of the dump (snapshot, stream, claim, roles) throws.
 */

/** Why a backup failed; stable codes for metrics, alarms and tests. */
export type BackupFailureReason =
  | 'CONFIG'
  | 'CONNECT'
  | 'VERSION_UNSUPPORTED'
  | 'SNAPSHOT'
  /**
   * A table lock could not be had in time: pg_dump's `--lock-wait-timeout` (a migration or other
   * long transaction holds a conflicting lock) or the counting session's `lock_timeout`. The
   * backup gave way rather than queue production behind it; retry when the migration is done.
   */
  | 'LOCK_TIMEOUT'
  /**
   * `dumpFrom` is not a standby, or one on which recovery conflicts could cancel the dump
   * (dump-replica.ts): the message names what to set.
   */
  | 'REPLICA_UNSUITABLE'
  | 'PG_DUMP_FAILED'
  | 'PG_DUMP_SIGNALED'
  /** The zstd process compressing pg_dump's output exited non-zero, was killed or could not start. */
  | 'COMPRESSOR_FAILED'
  | 'EMPTY_OUTPUT'
  | 'OUTPUT_TOO_SMALL'
  | 'NOT_AN_ARCHIVE'
  | 'DEADLINE'
  | 'STREAM_ERROR'
  | 'UPLOAD_FAILED'
  | 'ID_CONFLICT'
  | 'MANIFEST_WRITE_FAILED'
  /**
   * A discovered database (the run input names its RDS resource) was deleted, or is being deleted,
   * since discovery: this run fails alone, naming it; its earlier backups are kept.
   */
  | 'DATABASE_GONE'
  | 'INTERNAL';

export class BackupError extends Error {
  override readonly name = 'BackupError';
  constructor(
    readonly reason: BackupFailureReason,
    message: string,
    /** Backup id, when one had been assigned. */
    readonly backupId?: string,
  ) {
    super(message);
  }
}
