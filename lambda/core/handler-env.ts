/**
 * The environment contract of every Lambda handler: one zod schema per handler. The constructs
 * that set the variables (lib/constructs, through `RunnerFunction`) type them with the schema's
 * input, and the handlers parse `process.env` with the same schema, so a renamed or missing
 * variable is a compile error on one side and one clear ConfigError on the other. Every default
 * lives here and nowhere else (the constructs leave a variable unset to get it).
 *
 * `cdk synth` imports this module: zod and dependency-free core modules only, never an AWS SDK.
 */
import { z } from 'zod';
import {
  DEFAULT_COUNT_BUDGET_SECONDS,
  DEFAULT_FINGERPRINT_BUDGET_SECONDS,
  DEFAULT_LOCK_WAIT_TIMEOUT_SECONDS,
  DumpFromSchema,
  DEFAULT_MIN_DUMP_BYTES,
  DEFAULT_SAFETY_MARGIN_SECONDS,
  DEFAULT_SSL_MODE,
  SslModeSchema,
} from './backup-settings';
import { DEFAULT_DRILL_MAX_LIFETIME_HOURS } from './drill-settings';
import { CompressionChoiceSchema } from './compression-settings';
import { FleetSelectionSchema } from './fleet-settings';
import { DatabasePresetSchema } from './presets';
import { DUMP_LAYOUTS, MAX_JOBS, RUNNERS } from './runner-settings';
import { DATABASE_ID_PATTERN, DEFAULT_RETENTION_DAYS, TIERS, type RetentionDays, type Tier } from './tiers';

/** A handler's environment is missing a variable or holds an invalid one (errorType `ConfigError`). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

// ---------------------------------------------------------------------------------------------
// Field kinds. Values arrive as strings; the construct side may also pass numbers and JSON values
// (RunnerFunction serialises them), so the input types say what a construct may write.
// ---------------------------------------------------------------------------------------------

const text = () => z.string().min(1);

/** A number of seconds, bytes or hours (`positive`: zero is not allowed). */
const amount = ({ positive = false } = {}) =>
  z
    .custom<number | string>((v) => typeof v === 'number' || typeof v === 'string')
    .transform((v, ctx) => {
      const n = typeof v === 'number' ? v : /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : NaN;
      if (!Number.isFinite(n) || n < 0 || (positive && n === 0)) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a ${positive ? 'positive' : 'non-negative'} number`,
        });
        return z.NEVER;
      }
      return n;
    });

/** {@link amount}, `fallback` when unset. */
const quantity = (fallback: number, options: { positive?: boolean } = {}) =>
  amount(options).default(fallback);

/**
 * A JSON value checked with `schema`: its JSON text (what Lambda hands the handler) or, on the
 * construct side, the value itself (RunnerFunction serialises it).
 */
const json = <T extends z.ZodType>(schema: T) =>
  z
    .custom<z.input<T> | string>()
    .transform((v, ctx): unknown => {
      if (typeof v !== 'string') return v;
      try {
        return JSON.parse(v) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);

/** A colon-separated directory list, like PATH. */
const pathList = () => z.string().transform((raw) => raw.split(':').filter(Boolean));

/** A comma-separated list (spaces around items ignored). */
const commaList = () =>
  z
    .string()
    .transform((raw) =>
      raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string()).min(1, 'must list at least one item'));

// ---------------------------------------------------------------------------------------------
// Shared values and defaults
// ---------------------------------------------------------------------------------------------

/** Object Lock modes the dump can set on each object (NONE: the local demo's unlocked bucket). */
export const OBJECT_LOCK_MODES = ['GOVERNANCE', 'COMPLIANCE', 'NONE'] as const;
export type ObjectLockMode = (typeof OBJECT_LOCK_MODES)[number];

/**
 * The primary's per-object lock mode unless the config says otherwise: GOVERNANCE, as the
 * config's `objectLock.mode` and the primary bucket's default retention. COMPLIANCE is what the
 * replica carries by default (DESIGN.md, "The vault"); that is the replica bucket's own setting,
 * not this variable's.
 */
export const DEFAULT_OBJECT_LOCK_MODE: ObjectLockMode = 'GOVERNANCE';

/** The drill's own default (drill-settings.ts), re-exported for the handler environment's readers. */
export { DEFAULT_DRILL_MAX_LIFETIME_HOURS };

const days = () => z.number().int().positive();
/** Every GFS tier, and `adhoc` (on-demand backups; unset: DEFAULT_ADHOC_RETENTION_DAYS). */
const RetentionSchema = z.strictObject({
  ...(Object.fromEntries(TIERS.map((t) => [t, days()])) as Record<Tier, ReturnType<typeof days>>),
  adhoc: days().optional(),
}) satisfies z.ZodType<RetentionDays>;

const databaseId = z.string().regex(DATABASE_ID_PATTERN, 'must be a lowercase-hyphen database id');

/**
 * The fleet's data-access role (lib/constructs/database-access-role.ts). Set on the shared runners:
 * each run assumes it with its database's session tags (lambda/handlers/run-clients.ts) and its S3
 * and Secrets Manager calls act as that session. @default - the function's own role (per-database stacks)
 */
const accessRole = () =>
  z
    .string()
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'must be an IAM role ARN')
    .optional();

/** RPO hours per database id (listed databases); a missing id gets the default. */
const rpoHoursById = () => json(z.record(databaseId, z.number().positive())).default({});

/** The default RPO of a database that sets none, and of every discovered one. */
export const DEFAULT_RPO_HOURS = 24;

/**
 * How long a fleet's drill may wait to start before its queue is overdue: a monthly drill that has
 * not started within a week has missed its month's evidence in practice.
 */
export const DEFAULT_DRILL_WINDOW_DAYS = 7;

// ---------------------------------------------------------------------------------------------
// One schema per handler
// ---------------------------------------------------------------------------------------------

/** lambda/handlers/dump.ts */
export const DumpEnvSchema = z.object({
  /** Primary bucket name. */
  BACKUP_BUCKET: text(),
  /** SSE-KMS key of every object: an ARN, because the bucket policy compares the key id as a string. */
  BACKUP_KMS_KEY_ARN: text(),
  /** Object Lock mode of each object. */
  OBJECT_LOCK_MODE: z.enum(OBJECT_LOCK_MODES).default(DEFAULT_OBJECT_LOCK_MODE),
  /** Expiry per tier, also each object's retain-until. */
  RETENTION_DAYS: json(RetentionSchema).default(DEFAULT_RETENTION_DAYS),
  /** pg_dump directories. @default - RESTORABLE_PG_BIN_DIRS, then the image layout (pg-bin.ts) */
  PG_BIN_DIRS: pathList().optional(),
  /** CA bundle for verify-full. @default - the image's RDS bundle (secrets.ts) */
  PG_CA_BUNDLE: text().optional(),
  /** Budget for exact row counts; over it the manifest holds marked estimates. */
  COUNT_BUDGET_SECONDS: quantity(DEFAULT_COUNT_BUDGET_SECONDS),
  /** Budget for content fingerprints, taken after the counts and before pg_dump starts; 0: none taken. */
  FINGERPRINT_BUDGET_SECONDS: quantity(DEFAULT_FINGERPRINT_BUDGET_SECONDS),
  /** pg_dump --lock-wait-timeout: a migration holding a lock longer fails the run with LOCK_TIMEOUT
   * instead of queueing production behind the dump. */
  LOCK_WAIT_TIMEOUT_SECONDS: quantity(DEFAULT_LOCK_WAIT_TIMEOUT_SECONDS),
  /** The database's preset (presets.ts): schemas the dump leaves out, recorded in the manifest. */
  DATABASE_PRESET: DatabasePresetSchema.optional(),
  /** The database's `dumpFrom` (a read replica to dump from), as JSON. */
  DUMP_FROM: json(DumpFromSchema).optional(),
  /** Size floor of the archive. */
  MIN_DUMP_BYTES: quantity(DEFAULT_MIN_DUMP_BYTES),
  /** Give up this long before the Lambda timeout. */
  SAFETY_MARGIN_SECONDS: quantity(DEFAULT_SAFETY_MARGIN_SECONDS),
  /** The database's `compression` (`{ kind: zstd|gzip|none, level? }`). @default - zstd level 3 on every core */
  COMPRESSION: json(CompressionChoiceSchema).optional(),
  DATABASE_ACCESS_ROLE_ARN: accessRole(),
  /** Which runner this is (what a DEADLINE failure says to change): the Fargate task sets `fargate`. */
  RUNNER: z.enum(RUNNERS).default('lambda'),
  /**
   * `directory`: `pg_dump -Fd -j DUMP_JOBS` to WORK_DIR, one object per file (the config's
   * `fargate.layout`; only the Fargate task sets it). @default 'stream'
   */
  DUMP_LAYOUT: z.enum(DUMP_LAYOUTS).default('stream'),
  /** pg_dump -j of the directory layout. @default - the cores this process may use */
  DUMP_JOBS: z
    .union([
      z.number(),
      z
        .string()
        .regex(/^\s*\d+\s*$/, 'must be a whole number')
        .transform(Number),
    ])
    .pipe(z.number().int().min(1).max(MAX_JOBS))
    .optional(),
  /** Where the directory layout's work dir is made (the task's storage). @default - os.tmpdir() */
  WORK_DIR: text().optional(),
});

/** lambda/handlers/verify.ts */
export const VerifyEnvSchema = z
  .object({
    BACKUP_BUCKET: text(),
    /** Replica bucket; with REPLICA_REGION it enables the replica check. */
    REPLICA_BUCKET: text().optional(),
    REPLICA_REGION: text().optional(),
    /** pg_restore directories. @default - the image layout (pg-bin.ts) */
    PG_BIN_DIRS: pathList().optional(),
    /** Object Lock mode of the verification records: the dump's, so a record is locked as its backup. */
    OBJECT_LOCK_MODE: z.enum(OBJECT_LOCK_MODES).default(DEFAULT_OBJECT_LOCK_MODE),
    DATABASE_ACCESS_ROLE_ARN: accessRole(),
  })
  .superRefine(together('REPLICA_BUCKET', 'REPLICA_REGION'));

/** lambda/handlers/drill.ts */
export const DrillEnvSchema = z
  .object({
    /** Primary bucket: the source of `source: 'primary'` drills, and where reports go by default. */
    BACKUP_BUCKET: text(),
    /** Replica bucket, the source of `source: 'replica'` drills (the default). */
    REPLICA_BUCKET: text().optional(),
    REPLICA_REGION: text().optional(),
    /** Where reports go, in this function's region. @default - BACKUP_BUCKET */
    DRILL_REPORT_BUCKET: text().optional(),
    /** DB subnet group of drill instances. */
    DRILL_SUBNET_GROUP: text(),
    /** Security groups of drill instances, comma-separated. */
    DRILL_SECURITY_GROUP_IDS: commaList(),
    /** Instance class unless the drill settings name one. @default - the RDS provider's default */
    DRILL_INSTANCE_CLASS: text().optional(),
    /** Storage encryption key of drill instances. @default - aws/rds */
    DRILL_KMS_KEY_ARN: text().optional(),
    /**
     * DB parameter group of drill instances per engine major, JSON `{"16": "<name>"}`
     * (DrillParameterGroups). @default - the major's RDS default group
     */
    DRILL_PARAMETER_GROUPS: json(z.record(z.string().regex(/^\d+$/), z.string().min(1))).optional(),
    DRILL_MAX_LIFETIME_HOURS: quantity(DEFAULT_DRILL_MAX_LIFETIME_HOURS, { positive: true }),
    /** TLS to the drill instance; anything but verify-full is for tests. */
    DRILL_SSL_MODE: SslModeSchema.default(DEFAULT_SSL_MODE),
    PG_CA_BUNDLE: text().optional(),
    PG_BIN_DIRS: pathList().optional(),
    /** Where the archive is downloaded (size ephemeral storage to hold it). @default - /tmp */
    DRILL_TEMP_DIR: text().optional(),
    /** S3 reads of the backups and report writes act as the database's session; RDS and the drill
     * instance's own secret stay with the function's role. */
    DATABASE_ACCESS_ROLE_ARN: accessRole(),
  })
  .superRefine(together('REPLICA_BUCKET', 'REPLICA_REGION'));

/** lambda/handlers/freshness.ts */
export const FreshnessEnvSchema = z
  .object({
    BACKUP_BUCKET: text(),
    /**
     * The listed databases to check. A fleet leaves it empty and passes them in the scheduled
     * event (`listedDatabases: [{ id, rpoHours }]`): a Lambda environment holds 4 KB in all.
     */
    DATABASE_IDS: json(z.array(databaseId)),
    /**
     * Tag selection (FleetSelectionSchema): the check also discovers the selected databases and
     * checks each one, so a discovered database without a backup is stale, not silently absent.
     * @default - the listed databases only
     */
    SELECTION: json(FleetSelectionSchema).optional(),
    /** RPO per listed database, for the normalized gauge BackupAgeOverRpo. @default - DEFAULT_RPO_HOURS each */
    RPO_HOURS: rpoHoursById(),
    /** RPO of a database RPO_HOURS does not name (every discovered one). */
    DEFAULT_RPO_HOURS: quantity(DEFAULT_RPO_HOURS, { positive: true }),
    /** Primary bucket's key (DescribeKey). */
    BACKUP_KMS_KEY_ARN: text(),
    /** Replica bucket's key, by ARN or alias ARN; needs REPLICA_REGION. */
    REPLICA_KMS_KEY_ARN: text().optional(),
    REPLICA_REGION: text().optional(),
  })
  .superRefine((env, ctx) => {
    if (env.REPLICA_KMS_KEY_ARN !== undefined && env.REPLICA_REGION === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['REPLICA_REGION'],
        message: 'is required with REPLICA_KMS_KEY_ARN',
      });
    }
  });

/** Object Lock retention of the monthly evidence reports: seven years, as the yearly backups. */
export const DEFAULT_REPORT_RETENTION_DAYS = 2555;

/** lambda/handlers/report.ts */
export const ReportEnvSchema = z.object({
  BACKUP_BUCKET: text(),
  /**
   * The listed databases the report covers. A fleet leaves it unset and passes them in the
   * scheduled event (`listedDatabases: [{ id, rpoHours }]`): a Lambda environment holds 4 KB in all.
   * @default - none: the event must list them
   */
  DATABASE_IDS: json(z.array(databaseId)).default([]),
  /** RPO hours per database id. @default - DEFAULT_RPO_HOURS for each */
  RPO_HOURS: rpoHoursById(),
  /**
   * A fleet with a tag selection: also report the databases the bucket holds backups of that no
   * list names (tag-selected ones, or untagged since), each judged against this RPO and only for a
   * month in which it has a backup or a drill. @default - the listed databases only
   */
  UNLISTED_RPO_HOURS: amount({ positive: true }).optional(),
  /** Object Lock mode of the reports (as the backups). */
  OBJECT_LOCK_MODE: z.enum(OBJECT_LOCK_MODES).default(DEFAULT_OBJECT_LOCK_MODE),
  /** How long the reports are locked. */
  REPORT_RETENTION_DAYS: quantity(DEFAULT_REPORT_RETENTION_DAYS, { positive: true }),
  /** SSE-KMS key of the reports. @default - the bucket default */
  BACKUP_KMS_KEY_ARN: text().optional(),
});

/** One listed database as synth precomputes it for discovery: its run input (secret ARN, never a value). */
export const ListedRunSchema = z.strictObject({
  id: databaseId,
  /** The target workflow's execution input; its `databaseId` is `id`. */
  execution: z.looseObject({ databaseId }),
  rpoHours: z.number().positive().default(DEFAULT_RPO_HOURS),
  /** A drill may wait this long to start (its window). @default - DEFAULTS.drillWindowDays */
  drillWindowDays: z.number().positive().optional(),
});
export type ListedRun = z.output<typeof ListedRunSchema>;

/** What a discovered database gets unless a listed entry of the same id overrides it. */
export const DiscoveryDefaultsSchema = z.strictObject({
  rpoHours: z.number().positive().default(DEFAULT_RPO_HOURS),
  /** How long a drill may wait to start, in days. */
  drillWindowDays: z.number().positive().default(DEFAULT_DRILL_WINDOW_DAYS),
  /**
   * Merged into each discovered database's run input (schemas, sslMode, compression, the drill's
   * `drill` settings ...); the database's own fields (databaseId, secretArn, host, port, database,
   * rdsResourceArn) win.
   */
  execution: z.record(z.string(), z.unknown()).default({}),
  /**
   * The runner group of each VPC the fleet has runners in (fleet.vpc and fleet.networks): a
   * discovered database runs on its VPC's group, and one in any other VPC is skipped
   * (NO_RUNNER_NETWORK). About 40 bytes a network, so the 4 KB environment holds dozens.
   * @default - no routing by VPC: every discovered database takes `execution`'s runnerGroup
   */
  runnerGroups: z
    .record(z.string().regex(/^vpc-[0-9a-f]+$/, 'must be a VPC id'), z.string().regex(/^[A-Za-z0-9-]{1,40}$/))
    .optional(),
});
export type DiscoveryDefaults = z.output<typeof DiscoveryDefaultsSchema>;

/** lambda/handlers/discovery.ts */
export const DiscoveryEnvSchema = z.object({
  /** Which orchestrator this discovery feeds: the items' run input and queue limit differ. */
  WORKLOAD: z.enum(['backup', 'drill']),
  /** Tag selection (FleetSelectionSchema). @default - the listed databases only */
  SELECTION: json(FleetSelectionSchema).optional(),
  /**
   * The listed databases' run inputs, for small deployments and the local demo. A fleet passes
   * them in the event instead (`listedDatabases`), which wins: a Lambda environment holds 4 KB in
   * all, and 300 run inputs are about 100 KB. @default - none (the event's)
   */
  LISTED_DATABASES: json(z.array(ListedRunSchema)).default([]),
  DEFAULTS: json(DiscoveryDefaultsSchema).default(DiscoveryDefaultsSchema.parse({})),
});

/** lambda/handlers/sweeper.ts: nothing to configure (the region is the function's). */
export const SweeperEnvSchema = z.object({});

/** Every handler's schema, by the handler's entry-point name. */
export const HANDLER_ENV_SCHEMAS = {
  dump: DumpEnvSchema,
  verify: VerifyEnvSchema,
  drill: DrillEnvSchema,
  freshness: FreshnessEnvSchema,
  report: ReportEnvSchema,
  sweeper: SweeperEnvSchema,
  discovery: DiscoveryEnvSchema,
} as const;
export type HandlerName = keyof typeof HANDLER_ENV_SCHEMAS;

/** What a construct writes for `handler` (optional variables may be left out to get the default). */
export type HandlerEnvInput<H extends HandlerName> = z.input<(typeof HANDLER_ENV_SCHEMAS)[H]>;
/** What the handler reads, defaults applied. */
export type HandlerEnv<H extends HandlerName> = z.output<(typeof HANDLER_ENV_SCHEMAS)[H]>;

export type DumpEnv = HandlerEnv<'dump'>;
export type VerifyEnv = HandlerEnv<'verify'>;
export type DrillEnv = HandlerEnv<'drill'>;
export type FreshnessEnv = HandlerEnv<'freshness'>;
export type ReportEnv = HandlerEnv<'report'>;
export type DiscoveryEnv = HandlerEnv<'discovery'>;

/** The variable names a handler reads. */
export function handlerEnvNames(handler: HandlerName): string[] {
  return Object.keys(HANDLER_ENV_SCHEMAS[handler].shape);
}

/**
 * Parses a handler's environment. Unset and blank variables count as unset (Lambda keeps empty
 * values); every problem is reported at once, in one ConfigError naming each variable.
 */
export function parseHandlerEnv<H extends HandlerName>(
  handler: H,
  env: Readonly<Record<string, string | undefined>>,
): HandlerEnv<H> {
  const present: Record<string, string> = {};
  for (const name of handlerEnvNames(handler)) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') present[name] = value;
  }
  const parsed = HANDLER_ENV_SCHEMAS[handler].safeParse(present);
  if (parsed.success) return parsed.data as HandlerEnv<H>;
  // One entry per variable, its problems together, the value it had once.
  const byName = new Map<string, string[]>();
  for (const issue of parsed.error.issues) {
    const name = String(issue.path[0] ?? '(environment)');
    const missing = issue.code === 'invalid_type' && issue.path.length === 1 && present[name] === undefined;
    const problem = missing ? 'is required but not set' : describe(issue);
    byName.set(name, [...new Set([...(byName.get(name) ?? []), problem])]);
  }
  const problems = [...byName].map(([name, list]) => {
    const value = present[name];
    return `${name} ${list.join(', ')}${value === undefined ? '' : ` (got ${JSON.stringify(value)})`}`;
  });
  throw new ConfigError(`invalid environment for the ${handler} handler: ${problems.join('; ')}`);
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_value') return `must be one of ${issue.values.join(', ')}`;
  const inner = issue.path.length > 1 ? `${issue.path.slice(1).join('.')}: ` : '';
  // Zod's own messages start with a capital ("Invalid input: ..."); ours read after the name.
  return `${inner}${issue.message.replace(/^[A-Z](?=[a-z])/, (c) => c.toLowerCase())}`;
}

/** Both variables or neither. */
function together(a: string, b: string) {
  return (env: Record<string, unknown>, ctx: z.RefinementCtx) => {
    if ((env[a] === undefined) !== (env[b] === undefined)) {
      const missing = env[a] === undefined ? a : b;
      ctx.addIssue({
        code: 'custom',
        path: [missing],
        message: `must be set together with ${missing === a ? b : a}`,
      });
    }
  };
}
