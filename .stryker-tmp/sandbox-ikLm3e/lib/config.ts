/**
 * The Restorable config: one JSON document, validated at synth time with zod.
 *
 * Every problem is reported at once, one per line, each line starting with the path of the field
 * it is about (`databases[1].id "Bad_ID" must match ...`), so an operator fixes a config in one
 * pass instead of one synth per typo.
 *
 * Where it comes from (see {@link loadConfig}): the `restorable` context key of `cdk.json`, or a
 * JSON file named with `-c restorable:config=path/to/config.json`.
 */
// @ts-nocheck

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Node } from 'constructs';
import { z } from 'zod';
import {
  DATABASE_ID_PATTERN,
  type RetentionDays,
  type Tier,
  DEFAULT_RETENTION_DAYS,
} from '../lambda/core/tiers';

/** Context key holding the config object itself (cdk.json carries a working example). */
export const CONFIG_CONTEXT_KEY = 'restorable';
/** Context key naming a JSON file to read the config from instead: `-c restorable:config=prod.json`. */
export const CONFIG_FILE_CONTEXT_KEY = 'restorable:config';

/** The shape an EventBridge Scheduler `cron()` takes: six fields, day-of-month or day-of-week is `?`. */
const CRON_FIELDS = [
  { name: 'minutes', chars: /^[0-9*,/-]+$/, min: 0, max: 59 },
  { name: 'hours', chars: /^[0-9*,/-]+$/, min: 0, max: 23 },
  { name: 'day-of-month', chars: /^[0-9*,/?LW-]+$/, min: 1, max: 31 },
  {
    name: 'month',
    chars: /^([0-9*,/-]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)+$/i,
    min: 1,
    max: 12,
  },
  { name: 'day-of-week', chars: /^([0-9*,/?L#-]|SUN|MON|TUE|WED|THU|FRI|SAT)+$/i, min: 1, max: 7 },
  { name: 'year', chars: /^[0-9*,/-]+$/, min: 1970, max: 2199 },
] as const;

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\((.*)\)$/;

/**
 * Why a string is not a recurring EventBridge Scheduler expression, or undefined when it is one.
 * One-time `at()` schedules are refused: backups and drills recur.
 *
 * @see https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
 */
export function scheduleExpressionProblem(expression: string): string | undefined {
  const rate = RATE.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    if (value < 1) return 'rate() needs a value of at least 1';
    const plural = rate[2].endsWith('s');
    if (value === 1 && plural)
      return `rate() with a value of 1 takes a singular unit, e.g. rate(1 ${rate[2].slice(0, -1)})`;
    if (value > 1 && !plural)
      return `rate() with a value above 1 takes a plural unit, e.g. rate(${value} ${rate[2]}s)`;
    return undefined;
  }
  if (expression.startsWith('rate(')) {
    return 'rate() must be rate(<value> <unit>) with unit minute(s), hour(s) or day(s), e.g. rate(12 hours)';
  }
  const cron = CRON.exec(expression);
  if (!cron) return 'must be cron(<6 fields>) or rate(<value> <unit>), e.g. cron(0 2 * * ? *)';
  const fields = cron[1].trim().split(/\s+/);
  if (fields.length !== 6) {
    return `cron() needs 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`;
  }
  for (const [i, spec] of CRON_FIELDS.entries()) {
    const field = fields[i];
    if (!spec.chars.test(field))
      return `cron() ${spec.name} field "${field}" has characters it does not allow`;
    // Numbers after `#` (nth weekday of the month) and after `/` (a step) are not field values.
    const values = field.replace(/[#/]\d+/g, '').match(/\d+/g) ?? [];
    const outOfRange = values.map(Number).find((n) => n < spec.min || n > spec.max);
    if (outOfRange !== undefined) {
      return `cron() ${spec.name} value ${outOfRange} is outside ${spec.min}-${spec.max}`;
    }
  }
  const [, , dayOfMonth, , dayOfWeek] = fields;
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    return 'cron() needs "?" in exactly one of day-of-month and day-of-week, e.g. cron(0 2 * * ? *)';
  }
  return undefined;
}

const regexField = (pattern: RegExp, what: string) =>
  z.string().regex(pattern, {
    error: (issue) => `${JSON.stringify(issue.input)} must match ${pattern.source} (${what})`,
  });

const ACCOUNT = /^\d{12}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
/** Full secret ARN, including the 6-character suffix Secrets Manager appends to the name. */
const SECRET_ARN =
  /^arn:aws(-cn|-us-gov)?:secretsmanager:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
const IAM_PRINCIPAL_ARN = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:(root|(role|user)\/[A-Za-z0-9+=,.@_/*-]+)$/;
const VPC_ID = /^vpc-([0-9a-f]{8}|[0-9a-f]{17})$/;
const SUBNET_ID = /^subnet-([0-9a-f]{8}|[0-9a-f]{17})$/;
const SECURITY_GROUP_ID = /^sg-([0-9a-f]{8}|[0-9a-f]{17})$/;
const INSTANCE_CLASS = /^db\.[a-z0-9]+\.[a-z0-9]+$/;

const days = (what: string) => z.int().min(1).max(36500).describe(what);

const scheduleExpression = (fallback: string, what: string) =>
  z
    .string()
    .superRefine((value, ctx) => {
      const problem = scheduleExpressionProblem(value);
      if (problem) {
        ctx.addIssue({
          code: 'custom',
          message: `${JSON.stringify(value)} is not a valid EventBridge Scheduler expression: ${problem}`,
        });
      }
    })
    .default(fallback)
    .describe(what);

const CheckExpectSchema = z.union(
  [
    z.strictObject({ rows: z.int().min(0).describe('The query returns exactly this many rows.') }),
    z.strictObject({
      equals: z
        .union([z.string(), z.number(), z.boolean(), z.null()])
        .describe('The query returns one row whose first column equals this value.'),
    }),
    z.strictObject({ min: z.number().describe('The first column of the single row is at least this.') }),
  ],
  { error: () => 'must be one of {"rows": <n>}, {"equals": <value>} or {"min": <n>}' },
);

const DrillCheckSchema = z.strictObject({
  name: z.string().min(1).max(100).describe('Shown in the drill report and alarms.'),
  sql: z
    .string()
    .min(1)
    .describe('Read-only SQL run against the restored database with a statement timeout.'),
  expect: CheckExpectSchema,
});

const VpcSchema = z.strictObject({
  vpcId: regexField(VPC_ID, 'a VPC id such as vpc-0123456789abcdef0'),
  subnetIds: z
    .array(regexField(SUBNET_ID, 'a subnet id such as subnet-0123456789abcdef0'))
    .min(1)
    .describe('Private subnets from which the runner reaches the database.'),
  securityGroupIds: z
    .array(regexField(SECURITY_GROUP_ID, 'a security group id such as sg-0123456789abcdef0'))
    .min(1)
    .describe('Security groups the database accepts the runner from.'),
});

/** A drill's own network: the drill creates its security groups, so only placement is needed. */
const DrillVpcSchema = z.strictObject({
  vpcId: regexField(VPC_ID, 'a VPC id such as vpc-0123456789abcdef0'),
  subnetIds: z
    .array(regexField(SUBNET_ID, 'a subnet id such as subnet-0123456789abcdef0'))
    .min(2)
    .describe(
      'Private subnets in at least two AZs (an RDS subnet group needs two), with NAT to reach S3 in the replica region.',
    ),
});

const DrillSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Run scheduled restore drills for this database.'),
  schedule: scheduleExpression(
    'cron(0 3 ? * 6L *)',
    'When drills run (UTC); default: last Friday of the month 03:00.',
  ),
  rtoTargetMinutes: z
    .int()
    .min(1)
    .default(60)
    .describe('A drill slower than this (start to verified data) fails.'),
  selection: z
    .enum(['latest', 'random'])
    .default('latest')
    .describe('Which verified backup a drill restores.'),
  randomWindowDays: days('With selection "random": pick among backups from this many recent days.').default(
    30,
  ),
  source: z
    .enum(['replica', 'primary'])
    .default('replica')
    .describe('Restore from the replica bucket (proves the cross-region copy) or the primary one.'),
  instanceClass: regexField(INSTANCE_CLASS, 'an RDS instance class such as db.t4g.medium')
    .default('db.t4g.medium')
    .describe('Instance class of the ephemeral drill database.'),
  checks: z.array(DrillCheckSchema).default([]).describe('Operator SQL checks run after the restore.'),
  vpc: DrillVpcSchema.optional().describe(
    "Network for the ephemeral drill instance and the drill function; default: the database's vpc. " +
      'Databases outside any VPC (e.g. Supabase) need one to be drilled.',
  ),
});

const DatabaseSchema = z.strictObject({
  id: regexField(
    DATABASE_ID_PATTERN,
    '1-40 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen',
  ).describe('Becomes an S3 key prefix and part of resource names.'),
  secretArn: regexField(
    SECRET_ARN,
    'a full Secrets Manager secret ARN, including the 6-character suffix',
  ).describe('Secret in the standard RDS shape (host, port, username, password, dbname).'),
  engine: z
    .enum(['postgres', 'aurora-postgresql', 'external'])
    .optional()
    .describe('Where the database runs; "external" for hosts outside AWS such as Supabase.'),
  vpc: VpcSchema.optional().describe(
    'Run the backup inside this VPC; omit for hosts reachable from the internet.',
  ),
  schedule: scheduleExpression('cron(0 2 * * ? *)', 'When backups run (UTC); default: daily 02:00.'),
  rpoHours: z
    .int()
    .min(1)
    .max(8760)
    .default(24)
    .describe('Alarm when the newest backup is older than this + 1 h.'),
  schemas: z
    .strictObject({
      include: z.array(z.string().min(1)).min(1).optional().describe('Dump only these schemas (pg_dump -n).'),
      exclude: z.array(z.string().min(1)).min(1).optional().describe('Leave these schemas out (pg_dump -N).'),
    })
    .prefault({}),
  sslMode: z
    .enum(['disable', 'require', 'verify-ca', 'verify-full'])
    // `allow` and `prefer` are left out on purpose: they fall back to plaintext without telling anyone.
    .default('verify-full')
    .describe('libpq sslmode; verify-full checks the certificate and the host name.'),
  drill: DrillSchema.prefault({}),
});

const RetentionSchema = z.strictObject({
  dailyDays: days('Daily backups expire after this many days.').default(DEFAULT_RETENTION_DAYS.daily),
  weeklyDays: days('Weekly backups expire after this many days.').default(DEFAULT_RETENTION_DAYS.weekly),
  monthlyDays: days('Monthly backups expire after this many days.').default(DEFAULT_RETENTION_DAYS.monthly),
  yearlyDays: days('Yearly backups expire after this many days.').default(DEFAULT_RETENTION_DAYS.yearly),
  drillReportDays: days('Drill reports expire after this many days.').default(400),
});

/** Bucket-default Object Lock when the config names none (capped at the daily tier's expiry). */
export const DEFAULT_OBJECT_LOCK_DAYS = 30;

/** Tier → the retention key that holds its expiry, in increasing order. */
export const TIER_RETENTION_KEYS = {
  daily: 'dailyDays',
  weekly: 'weeklyDays',
  monthly: 'monthlyDays',
  yearly: 'yearlyDays',
} as const satisfies Record<Tier, keyof z.output<typeof RetentionSchema>>;

const RETENTION_ORDER = ['dailyDays', 'weeklyDays', 'monthlyDays', 'yearlyDays', 'drillReportDays'] as const;

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const asRecord = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/**
 * Rules that span fields. They run even when other fields are invalid (`when: () => true`) so that
 * one synth reports everything; hence the defensive reads of a possibly half-parsed value.
 */
function checkCrossFieldRules(value: unknown, ctx: z.core.$RefinementCtx): void {
  const config = asRecord(value);

  if (typeof config.primaryRegion === 'string' && config.replicaRegion === config.primaryRegion) {
    ctx.addIssue({
      code: 'custom',
      path: ['replicaRegion'],
      message: `(${JSON.stringify(config.replicaRegion)}) must differ from primaryRegion: the replica exists to survive the loss of the primary region`,
    });
  }

  const retention = asRecord(config.retention);
  for (let i = 1; i < 4; i++) {
    const shorter = RETENTION_ORDER[i - 1];
    const longer = RETENTION_ORDER[i];
    const a = retention[shorter];
    const b = retention[longer];
    if (isNumber(a) && isNumber(b) && b <= a) {
      ctx.addIssue({
        code: 'custom',
        path: ['retention', longer],
        message: `(${b}) must be greater than ${shorter} (${a})`,
      });
    }
  }

  const lockDays = asRecord(config.objectLock).defaultRetentionDays;
  if (isNumber(lockDays)) {
    const exceeded = RETENTION_ORDER.filter((key) => isNumber(retention[key]) && lockDays > retention[key])
      .map((key) => ({ key, days: retention[key] as number }))
      .sort((x, y) => x.days - y.days)[0];
    if (exceeded) {
      ctx.addIssue({
        code: 'custom',
        path: ['objectLock', 'defaultRetentionDays'],
        message: `(${lockDays}) must not exceed retention.${exceeded.key} (${exceeded.days}): objects would stay locked after they expire`,
      });
    }
  }

  const firstIndexOfId = new Map<string, number>();
  asArray(config.databases).forEach((db, i) => {
    const database = asRecord(db);
    const id = database.id;
    if (typeof id === 'string') {
      const first = firstIndexOfId.get(id);
      if (first === undefined) {
        firstIndexOfId.set(id, i);
      } else {
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'id'],
          message: `${JSON.stringify(id)} is already used by databases[${first}]: ids must be unique`,
        });
      }
    }
    const checkNames = new Set<string>();
    asArray(asRecord(database.drill).checks).forEach((check, j) => {
      const name = asRecord(check).name;
      if (typeof name !== 'string') return;
      if (checkNames.has(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'drill', 'checks', j, 'name'],
          message: `${JSON.stringify(name)} is used by another check of this database: names must be unique`,
        });
      }
      checkNames.add(name);
    });
  });
}

/** The zod schema of the whole config document. */
export const RestorableConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path or URL of config.schema.json, for editors.'),
    account: regexField(ACCOUNT, 'a 12-digit AWS account id').describe(
      'The AWS account both stacks deploy to.',
    ),
    primaryRegion: regexField(REGION, 'an AWS region such as eu-west-1').describe(
      'Region of the primary bucket, the workflows and the alarms.',
    ),
    replicaRegion: regexField(REGION, 'an AWS region such as eu-central-1').describe(
      'Region of the replica bucket; must differ from primaryRegion.',
    ),
    retention: RetentionSchema.prefault({}).describe(
      'Expiry per tier; strictly increasing from daily to yearly.',
    ),
    objectLock: z
      .strictObject({
        mode: z
          .enum(['GOVERNANCE', 'COMPLIANCE'])
          .default('GOVERNANCE')
          .describe('COMPLIANCE cannot be shortened by anyone, including the root user.'),
        defaultRetentionDays: days(
          'Bucket-default lock for objects written without their own retain-until; must not exceed any tier expiry. Default: 30, or retention.dailyDays if shorter.',
        ).optional(),
      })
      .prefault({}),
    keyAdmins: z
      .array(regexField(IAM_PRINCIPAL_ARN, 'an IAM role, user or root ARN; * wildcards allowed'))
      .default([])
      .describe(
        'Principals, besides the account root and the CDK deployment role, allowed to disable, delete or re-policy the backup keys.',
      ),
    onCall: z
      .strictObject({
        emails: z.array(z.email()).default([]).describe('Email addresses subscribed to the on-call topic.'),
        httpsEndpoints: z
          .array(z.url({ protocol: /^https$/ }))
          .default([])
          .describe('HTTPS endpoints (e.g. PagerDuty) subscribed to the on-call topic.'),
      })
      .prefault({}),
    databases: z.array(DatabaseSchema).min(1).describe('The databases to back up.'),
  })
  .superRefine(checkCrossFieldRules, { when: () => true })
  // The lock default follows a shortened daily tier instead of failing on a value nobody wrote.
  .transform((config) => ({
    ...config,
    objectLock: {
      ...config.objectLock,
      defaultRetentionDays:
        config.objectLock.defaultRetentionDays ??
        Math.min(DEFAULT_OBJECT_LOCK_DAYS, config.retention.dailyDays),
    },
  }))
  .meta({
    title: 'Restorable config',
    description: 'Configuration of the Restorable CDK app (cdk.json context key "restorable").',
  });

export type RestorableConfig = z.output<typeof RestorableConfigSchema>;
/** The config as written, before defaults are applied. */
export type RestorableConfigInput = z.input<typeof RestorableConfigSchema>;
export type DatabaseConfig = RestorableConfig['databases'][number];
export type DrillConfig = DatabaseConfig['drill'];
export type DrillCheckConfig = DrillConfig['checks'][number];
export type RetentionConfig = RestorableConfig['retention'];

/** Thrown for an invalid config; `problems` holds one line per problem, path first. */
export class ConfigError extends Error {
  constructor(
    public readonly source: string,
    public readonly problems: readonly string[],
  ) {
    super(
      `Invalid Restorable config (${source}): ${problems.length} problem${problems.length === 1 ? '' : 's'}\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

/** `['databases', 1, 'id']` → `databases[1].id` */
export function formatConfigPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_$][\w$]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out || '(config)';
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  const json = JSON.stringify(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
};

/**
 * Messages for zod's built-in issues, phrased to follow the path. Issues that carry their own
 * message (regexes, schedules, cross-field rules) keep it: schema-level messages win over this map.
 */
const errorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? 'is required'
        : `must be ${EXPECTED[issue.expected] ?? issue.expected}, got ${describeValue(issue.input)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(issue.input)}`;
    case 'too_small':
      if (issue.origin === 'array')
        return `must list at least ${issue.minimum} item${issue.minimum === 1 ? '' : 's'}`;
      if (issue.origin === 'string')
        return issue.minimum === 1 ? 'must not be empty' : `must be at least ${issue.minimum} characters`;
      return `(${describeValue(issue.input)}) must be ${issue.inclusive ? 'at least' : 'greater than'} ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'array') return `must list at most ${issue.maximum} items`;
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      return `(${describeValue(issue.input)}) must be ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}`;
    case 'invalid_format':
      return `${describeValue(issue.input)} is not a valid ${issue.format === 'url' ? 'https URL' : issue.format}`;
    default:
      return undefined;
  }
};

/** Turns zod issues into one line each; unknown keys get one line per key, named by full path. */
function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => `${formatConfigPath([...issue.path, key])} is not a known setting`)
      : [`${formatConfigPath(issue.path)} ${issue.message}`],
  );
}

/**
 * Validates a config document and applies defaults.
 *
 * @param json the parsed JSON document (not a string)
 * @param source where it came from, for the error message
 * @throws ConfigError listing every problem, one per line
 */
export function parseConfig(json: unknown, source = 'config'): RestorableConfig {
  const result = RestorableConfigSchema.safeParse(json, { error: errorMap, reportInput: true });
  if (!result.success) throw new ConfigError(source, formatIssues(result.error.issues));
  return result.data;
}

/**
 * Reads the config for a CDK app: from the file named by the `restorable:config` context key if
 * set (relative to the working directory, i.e. next to cdk.json), else from the `restorable`
 * context object (which may also be given as a JSON string on the command line).
 *
 * @throws ConfigError when the config is missing, unreadable or invalid
 */
export function loadConfig(scope: { readonly node: Node } | Node): RestorableConfig {
  const node = scope instanceof Node ? scope : scope.node;
  const file: unknown = node.tryGetContext(CONFIG_FILE_CONTEXT_KEY);
  if (file !== undefined) {
    if (typeof file !== 'string' || file.length === 0) {
      throw new ConfigError(`context "${CONFIG_FILE_CONTEXT_KEY}"`, [
        '(config) the file name must be a non-empty string',
      ]);
    }
    const path = resolve(file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(path, [`(config) cannot be read: ${(err as Error).message}`]);
    }
    return parseConfig(parseJson(text, path), path);
  }
  const source = `cdk.json context "${CONFIG_CONTEXT_KEY}"`;
  const inline: unknown = node.tryGetContext(CONFIG_CONTEXT_KEY);
  if (inline === undefined) {
    throw new ConfigError(source, [
      `(config) is missing: set the "${CONFIG_CONTEXT_KEY}" context in cdk.json or pass -c ${CONFIG_FILE_CONTEXT_KEY}=path/to/config.json`,
    ]);
  }
  return parseConfig(typeof inline === 'string' ? parseJson(inline, source) : inline, source);
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ConfigError(source, [`(config) is not valid JSON: ${(err as Error).message}`]);
  }
}

/** Tier expiries in the shape `lambda/core/tiers.ts` uses for Object Lock retain-until dates. */
export function retentionDaysOf(config: Pick<RestorableConfig, 'retention'>): RetentionDays {
  return {
    daily: config.retention[TIER_RETENTION_KEYS.daily],
    weekly: config.retention[TIER_RETENTION_KEYS.weekly],
    monthly: config.retention[TIER_RETENTION_KEYS.monthly],
    yearly: config.retention[TIER_RETENTION_KEYS.yearly],
  };
}

/** The JSON Schema of the config as written (defaults make fields optional), for editors and docs. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(RestorableConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
}
