/**
 * Fleet settings: which RDS databases a deployment selects by tag (`selection`), and how a fleet's
 * runs are spread and bounded (`fleet`). One definition shared by the config (lib/config.ts, once
 * the lead adds it), the fleet orchestrator construct and the discovery function, so the three
 * cannot default apart.
 *
 * zod only (and the import-free drill-naming.ts and tiers.ts): `cdk synth` loads this module and must not load the AWS SDK.
 */
import { z } from 'zod';
import { TAG_DATABASE } from './drill-naming';
import { DATABASE_ID_PATTERN } from './tiers';

/** Engines discovery understands: RDS for PostgreSQL (instances and Multi-AZ DB clusters) and Aurora. */
/**
 * The listed databases and their RPOs as a scheduled event carries them to the functions that judge
 * every database (the freshness check, the evidence report): in the event, not the environment,
 * because a fleet's list outgrows a function environment's 4 KB.
 */
export const ListedRposSchema = z.array(
  z.strictObject({
    id: z.string().regex(DATABASE_ID_PATTERN, 'must be a lowercase-hyphen database id'),
    rpoHours: z.number().positive(),
  }),
);

export const FLEET_ENGINES = ['postgres', 'aurora-postgresql'] as const;
export type FleetEngine = (typeof FLEET_ENGINES)[number];

/** A tag value that matches any value of the key, as long as the resource carries the key. */
export const ANY_TAG_VALUE = '*';

/**
 * Tag keys on the RDS resource (and its secret) that discovery reads. Kept apart from the drill's
 * tags (drill-naming.ts): `restorable:database` on a secret or a session is the database *id*;
 * the PostgreSQL database *name* on an instance is `restorable:dbname`, so the two never mix.
 */
export const FleetTags = {
  /** Overrides the database id derived from the RDS identifier (must match DATABASE_ID_PATTERN). */
  id: 'restorable:id',
  /** ARN of the connection secret, when the managed master secret is not the one to use. */
  secretArn: 'restorable:secret-arn',
  /** The PostgreSQL database to dump; default: the instance's DBName / cluster's DatabaseName, else `postgres`. */
  dbname: 'restorable:dbname',
  /** On a secret: the database id whose runs may read it (the ABAC condition of the data-access role). */
  database: TAG_DATABASE,
  /** On a data-access session: the RDS instance or cluster ARN whose RDS-managed master secret it may read. */
  rdsResource: 'restorable:rds-resource',
} as const;

/**
 * Maximum concurrency of an Inline Map state: the orchestrator's Map runs in Inline mode, whose
 * iterations (and their history) stay in one execution.
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html
 */
export const INLINE_MAP_MAX_CONCURRENCY = 40;

/** Defaults: modest enough for one NAT gateway and the default Lambda and RDS quotas. */
export const DEFAULT_MAX_CONCURRENT_BACKUPS = 10;
export const DEFAULT_MAX_CONCURRENT_DRILLS = 2;
export const DEFAULT_START_JITTER_MINUTES = 30;

/**
 * Tag keys and values as AWS resource tags allow them: keys 1-128 characters, not starting with
 * `aws:` (reserved), values 0-256 characters.
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Tagging.html
 */
const TagKey = z.string().min(1).max(128);
const TagValue = z.string().max(256);

export const FleetSelectionSchema = z
  .strictObject({
    tags: z
      .record(TagKey, TagValue)
      .superRefine((tags, ctx) => {
        if (Object.keys(tags).length === 0) {
          ctx.addIssue({
            code: 'custom',
            message:
              'must name at least one tag: an empty selection would back up every database in the account',
          });
        }
        // Checked here, not on the record's key schema: zod reports a key failure only as "Invalid key".
        for (const key of Object.keys(tags).filter((k) => k.toLowerCase().startsWith('aws:'))) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `tag key ${JSON.stringify(key)} must not start with "aws:" (reserved by AWS)`,
          });
        }
      })
      .describe(
        `Tags a database must all carry; a value of "${ANY_TAG_VALUE}" matches any value of that key.`,
      ),
    engines: z
      .array(z.enum(FLEET_ENGINES))
      .min(1)
      .default([...FLEET_ENGINES])
      .describe('Engines to select; default: RDS for PostgreSQL and Aurora PostgreSQL.'),
  })
  .describe('Select databases at run time by tag, like an AWS Backup resource assignment.');

export const FleetSettingsSchema = z
  .strictObject({
    maxConcurrentBackups: z
      .int()
      .min(1)
      .max(INLINE_MAP_MAX_CONCURRENCY, {
        error: (issue) =>
          `(${String(issue.input)}) must be at most ${INLINE_MAP_MAX_CONCURRENCY}: the orchestrator's Inline Map runs at most ${INLINE_MAP_MAX_CONCURRENCY} iterations at once`,
      })
      .default(DEFAULT_MAX_CONCURRENT_BACKUPS)
      .describe('Backups running at the same time across the fleet.'),
    maxConcurrentDrills: z
      .int()
      .min(1)
      .max(INLINE_MAP_MAX_CONCURRENCY, {
        error: (issue) =>
          `(${String(issue.input)}) must be at most ${INLINE_MAP_MAX_CONCURRENCY}: the orchestrator's Inline Map runs at most ${INLINE_MAP_MAX_CONCURRENCY} iterations at once`,
      })
      .default(DEFAULT_MAX_CONCURRENT_DRILLS)
      .describe('Drills (each one a temporary RDS instance) running at the same time across the fleet.'),
    startJitterMinutes: z
      .int()
      .min(0)
      .max(720)
      .default(DEFAULT_START_JITTER_MINUTES)
      .describe('Each run waits a random 0..N minutes before it starts, so a fleet does not start at once.'),
  })
  .describe('How a fleet of databases is spread and bounded.');

export type FleetSelection = z.output<typeof FleetSelectionSchema>;
export type FleetSelectionInput = z.input<typeof FleetSelectionSchema>;
export type FleetSettings = z.output<typeof FleetSettingsSchema>;
export type FleetSettingsInput = z.input<typeof FleetSettingsSchema>;

/** What a cross-field rule needs of a database: its id and its RPO. */
export interface FleetDatabaseRpo {
  readonly id: string;
  readonly rpoHours: number;
}

/**
 * Rules between the fleet settings and the databases: a jitter as long as a database's RPO makes
 * its stale alarm fire on a healthy run. One line per problem, path first, as config.ts reports.
 */
export function fleetSettingsProblems(
  settings: FleetSettings,
  databases: readonly FleetDatabaseRpo[],
): string[] {
  return databases
    .filter((db) => settings.startJitterMinutes >= db.rpoHours * 60)
    .map(
      (db) =>
        `fleet.startJitterMinutes (${settings.startJitterMinutes}) must be shorter than the RPO of "${db.id}" ` +
        `(${db.rpoHours * 60} minutes): a run may wait that long before it starts`,
    );
}

/** Thrown by {@link parseFleetSettings}; `problems` holds one line per problem, path first. */
export class FleetSettingsError extends Error {
  constructor(public readonly problems: readonly string[]) {
    super(
      `Invalid fleet settings: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'FleetSettingsError';
  }
}

const pathOf = (prefix: string, path: readonly PropertyKey[]) =>
  [prefix, ...path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))]
    .join('')
    .replace('.[', '[');

/**
 * Validates `selection` and `fleet` together with the databases' RPOs, reporting every problem at
 * once. `selection` is optional (a fleet may be listed only); `fleet` gets its defaults.
 *
 * @throws FleetSettingsError listing every problem
 */
export function parseFleetSettings(
  input: { selection?: unknown; fleet?: unknown },
  databases: readonly FleetDatabaseRpo[] = [],
): { selection?: FleetSelection; fleet: FleetSettings } {
  const problems: string[] = [];
  let selection: FleetSelection | undefined;
  if (input.selection !== undefined) {
    const parsed = FleetSelectionSchema.safeParse(input.selection);
    if (parsed.success) selection = parsed.data;
    else problems.push(...parsed.error.issues.map((i) => `${pathOf('selection', i.path)} ${i.message}`));
  }
  const fleet = FleetSettingsSchema.safeParse(input.fleet ?? {});
  if (!fleet.success) {
    problems.push(...fleet.error.issues.map((i) => `${pathOf('fleet', i.path)} ${i.message}`));
  } else {
    problems.push(...fleetSettingsProblems(fleet.data, databases));
  }
  if (problems.length > 0 || !fleet.success) throw new FleetSettingsError(problems);
  return { selection, fleet: fleet.data };
}

/** True when `tags` (an RDS TagList as a map) carries every selected tag; `*` matches any value. */
export function matchesTags(
  selected: Readonly<Record<string, string>>,
  tags: ReadonlyMap<string, string>,
): boolean {
  return Object.entries(selected).every(([key, value]) =>
    value === ANY_TAG_VALUE ? tags.has(key) : tags.get(key) === value,
  );
}

/**
 * Metrics the fleet orchestrator emits per run it starts (dimension `DatabaseId`): how long the run
 * waited between the orchestrator's start and its own (queue + jitter), and 1 when that wait was
 * longer than the run may wait. Kept here until lambda/core/metric-names.ts takes them (that file
 * is being changed elsewhere); the construct and the alarms import them from one place.
 */
export const FleetMetricNames = {
  backup: { queuedMinutes: 'BackupQueuedMinutes', queueOverdue: 'BackupQueueOverdue' },
  drill: { queuedMinutes: 'DrillQueuedMinutes', queueOverdue: 'DrillQueueOverdue' },
} as const;
export type FleetWorkload = keyof typeof FleetMetricNames;

/**
 * The key of a run's execution input that names its runner group (one per network): the
 * orchestrator routes on it and removes it before the run starts. Synth writes it into each listed
 * database's run input; discovery adds it for a discovered database from its VPC.
 */
export const RUNNER_GROUP_KEY = 'runnerGroup';

/**
 * One item of the orchestrator's Map, as the discovery function returns it: the run's execution
 * input (what the target workflow takes, its `databaseId` included) and how long the run may wait
 * to start (a backup: its RPO; a drill: its window). The orchestrator passes `execution` on as is.
 * `startNow`: an on-demand run (`restorable backup --stack`), which skips the start jitter: the
 * jitter spreads a night's runs, and an operator waiting for one backup has nothing to spread.
 */
export const FleetRunItemSchema = z
  .strictObject({
    databaseId: z.string().regex(DATABASE_ID_PATTERN),
    maxQueueMinutes: z.int().min(1),
    execution: z.looseObject({ databaseId: z.string() }),
    startNow: z.literal(true).optional(),
  })
  .refine((item) => item.execution.databaseId === item.databaseId, {
    error:
      'execution.databaseId must equal databaseId: the queue metric and the run must name the same database',
    path: ['execution', 'databaseId'],
  });
export type FleetRunItem = z.output<typeof FleetRunItemSchema>;
