/**
 * A database's backup settings shared by the config (`databases[]`), the BackupWorkflow construct
 * and the runtime: the libpq `sslmode`s we accept and their default, the default backup schedule,
 * the lock-wait timeout and the dump's budgets and floors. One definition, so the config, the construct and the handlers cannot default apart.
 *
 * zod only: `cdk synth` loads this module and must not load the AWS SDK or `pg`.
 */
import { z } from 'zod';

/**
 * libpq `sslmode`s we accept. `verify-full` (the default everywhere) checks the chain against the
 * CA bundle and the host name; `disable` exists for local clusters and must be asked for. `allow`
 * and `prefer` are left out on purpose: they fall back to plaintext without telling anyone.
 * @see https://www.postgresql.org/docs/current/libpq-ssl.html#LIBPQ-SSL-PROTECTION
 */
const MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof MODES)[number];
export const SSL_MODES: readonly SslMode[] = MODES;
export const SslModeSchema = z.enum(MODES);
export const DEFAULT_SSL_MODE: SslMode = 'verify-full';

/** The default backup schedule: daily at 02:00 UTC (an EventBridge Scheduler expression). */
export const DEFAULT_BACKUP_SCHEDULE = 'cron(0 2 * * ? *)';

/**
 * How long pg_dump waits for a table lock (`--lock-wait-timeout`) before the backup gives way with
 * LOCK_TIMEOUT: long enough for ordinary traffic, short enough that a migration queued behind the
 * dump is not held for the whole dump.
 */
export const DEFAULT_LOCK_WAIT_TIMEOUT_SECONDS = 60;

/**
 * Per-database `lockWaitTimeoutSeconds` (config, BackupWorkflow `lockWaitTimeout`): whole seconds,
 * at least 1, and under the Lambda's 15 minutes, since the dump has to finish after the wait.
 */
export const LockWaitTimeoutSecondsSchema = z.int().min(1).max(899);

/**
 * `databases[].dumpFrom` (config, BackupWorkflow `dumpFrom`, the dump function's DUMP_FROM): a read
 * replica to dump from (dump-replica.ts). Its host (and port) with the database's own credentials,
 * or a secret of its own (host, port, username, password, dbname in the RDS shape), or both (the
 * host then wins over the secret's).
 */
export const DumpFromSchema = z
  .strictObject({
    host: z
      .string()
      .min(1)
      .optional()
      .describe("The replica's host name (e.g. the RDS read replica endpoint)."),
    port: z.int().min(1).max(65535).optional().describe("The replica's port; default: the database's."),
    secretArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/,
        'a full Secrets Manager secret ARN',
      )
      .optional()
      .describe("The replica's own connection secret; default: the database's credentials."),
  })
  .refine((d) => d.host !== undefined || d.secretArn !== undefined, {
    message: "needs a host or a secretArn (the replica's own secret)",
  });
export type DumpFromSetting = z.infer<typeof DumpFromSchema>;

/** Budget for exact row counts; over it the manifest holds marked estimates. */
export const DEFAULT_COUNT_BUDGET_SECONDS = 300;
/** Size floor of a dump archive: an empty database dumps to ~850 bytes, so less is a broken dump. */
export const DEFAULT_MIN_DUMP_BYTES = 512;
/** Time a dump keeps back before its deadline to abort the upload and report. */
export const DEFAULT_SAFETY_MARGIN_SECONDS = 60;

/**
 * Time for content fingerprints (fingerprint.ts) in the dump's counting session, before pg_dump
 * starts: tables are hashed smallest first, and what the budget does not reach is recorded as
 * skipped (the drill reports it, never as a pass). BENCHMARKS.md has the cost per GB.
 */
export const DEFAULT_FINGERPRINT_BUDGET_SECONDS = 300;
