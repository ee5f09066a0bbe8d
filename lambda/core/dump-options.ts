/**
 * The options of one backup (`dumpDatabase`): every knob with its default, and the defaults that
 * are derived here. dump.ts re-exports all of it, so callers keep importing from there; this file
 * only holds the contract, the order of events lives in dump.ts.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_LOCK_WAIT_TIMEOUT_SECONDS } from './backup-settings';
import type { CompressionChoice } from './compression-settings';
import type { ObjectLockMode } from './handler-env';
import type { SchemaScope } from './inventory';
import type { CoreLogger } from './logger';
import type { DumpFrom } from './dump-replica';
import type { DatabasePreset } from './presets';
import type { RunnerKind } from './runner-settings';
import type { ConnectionSource, TlsOptions } from './secrets';
import type { RetentionDays, StoredTier } from './tiers';

/** Object Lock mode for every object of a backup; `NONE` for buckets without Object Lock. */
export type { ObjectLockMode };

export interface DumpOptions extends TlsOptions {
  readonly databaseId: string;
  readonly connection: ConnectionSource;
  readonly s3: S3Client;
  readonly bucket: string;
  /** KMS key (ARN or id) for SSE-KMS. @default - the bucket's default encryption (still aws:kms) */
  readonly kmsKeyId?: string;
  /** @default DEFAULT_OBJECT_LOCK_MODE (handler-env.ts) */
  readonly objectLockMode?: ObjectLockMode;
  /** Per-tier retention, which is also each object's Object Lock retain-until. @default DEFAULT_RETENTION_DAYS */
  readonly retentionDays?: RetentionDays;
  /** Force a tier; `auto` places by first success; `adhoc` is an on-demand backup. @default 'auto' */
  readonly tier?: StoredTier | 'auto';
  /** Why this backup was taken (on-demand backups); recorded in the manifest. @default - none */
  readonly reason?: string;
  /** Schemas to include/exclude (exact names). @default - every non-system schema */
  readonly schemas?: SchemaScope;
  /**
   * The platform the database runs on (presets.ts): its schemas join `schemas.exclude`, and the
   * manifest records it for the restore. @default - none
   */
  readonly preset?: DatabasePreset;
  /**
   * Dump from this read replica instead (dump-replica.ts): snapshot, counts and pg_dump all on
   * it, after checking it is a standby that will not cancel the dump. @default - the database itself
   */
  readonly dumpFrom?: DumpFrom;
  /** Directories holding pg_dump/pg_dumpall (only these are searched). @default - pgBinDirs() */
  readonly pgBinDirs?: string[];
  /** Time for exact row counts before falling back to estimates, ms. @default 300000 */
  readonly countBudgetMs?: number;
  /** Longest one table's count may take, ms; smaller tables are counted first. @default - a quarter of the count budget */
  readonly countPerTableMs?: number;
  /**
   * Time for content fingerprints after the counts (same snapshot, before pg_dump starts), ms; 0
   * takes none. @default DEFAULT_FINGERPRINT_BUDGET_SECONDS × 1000, at most a quarter of the time left
   */
  readonly fingerprintBudgetMs?: number;
  /** `lock_timeout` of the counting session, ms: a table it cannot lock in time gets its estimate. @default 5000 */
  readonly countLockTimeoutMs?: number;
  /**
   * pg_dump `--lock-wait-timeout`, ms: how long pg_dump waits for each table's ACCESS SHARE lock
   * (held up by a migration's uncommitted ALTER) before the backup fails with LOCK_TIMEOUT instead
   * of queueing production behind it. @default DEFAULT_LOCK_WAIT_TIMEOUT_MS (60000)
   */
  readonly lockWaitTimeoutMs?: number;
  /** Smallest acceptable archive, bytes. An empty database dumps to ~850 bytes. @default DEFAULT_MIN_DUMP_BYTES (512) */
  readonly minBytes?: number;
  /** Stop and abort when this moment minus `safetyMarginMs` is reached. */
  readonly deadline?: Date;
  /** Remaining time (e.g. Lambda `context.getRemainingTimeInMillis`); same effect as `deadline`. */
  readonly remainingTimeMs?: () => number;
  /** Time kept back for aborting the upload and reporting. @default DEFAULT_SAFETY_MARGIN_SECONDS × 1000 */
  readonly safetyMarginMs?: number;
  /**
   * How the archive is compressed. @default - zstd level 3 over pg_dump -Z0, on every core
   * (compression-settings.ts); `{ kind: 'gzip' }` for pg_dump's own gzip as before
   */
  readonly compression?: CompressionChoice;
  /** zstd worker threads. @default - the cores this process may use */
  readonly compressionThreads?: number;
  /** Multipart part size override, bytes (min 5 MiB). @default - sized so 10,000 parts cover 1.2 × database size */
  readonly partSizeBytes?: number;
  /** Parts in flight. Memory ≈ (queueSize + 1) × partSize. @default 2 */
  readonly queueSize?: number;
  /** Clock (GFS simulations inject one). @default () => new Date() */
  readonly now?: () => Date;
  readonly logger?: CoreLogger;
  /** How many later seconds to try when the backup id is taken. @default 30 */
  readonly maxIdAttempts?: number;
  /**
   * `directory`: `pg_dump -Fd -j <jobs>` to local storage, each file its own object (the Fargate
   * runner's parallel mode, dump-directory.ts). @default 'custom' - one streamed archive
   */
  readonly layout?: 'custom' | 'directory';
  /** pg_dump workers for the directory layout. @default - the cores this process may use */
  readonly jobs?: number;
  /** Where the directory layout's work dir is made (task storage). @default os.tmpdir() */
  readonly workDir?: string;
  /** Which runner this runs on: what a DEADLINE failure says to change. @default 'lambda' */
  readonly runner?: RunnerKind;
}

/** pg_dump `--lock-wait-timeout` when none is configured. */
export const DEFAULT_LOCK_WAIT_TIMEOUT_MS = DEFAULT_LOCK_WAIT_TIMEOUT_SECONDS * 1000;
