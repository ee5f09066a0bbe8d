/**
 * The Restorable config: one JSON document, validated at synth time with zod.
 *
 * Every problem is reported at once, one per line, each line starting with the path of the field
 * it is about (`databases[1].id "Bad_ID" must match ...`), so an operator fixes a config in one
 * pass instead of one synth per typo.
 *
 * Where it comes from (see {@link loadConfig}): the `restorable` context key of `cdk.json`, or a
 * JSON file named with `-c restorable:config=path/to/config.json`.
 *
 * The parts live along their seams in `lib/config/`: `databases.ts` (what is backed up),
 * `vault.ts` (retention, Object Lock, replica, who may change the vault), `lifecycle.ts` (S3's
 * lifecycle rules), `fields.ts` (patterns and schedules), `errors.ts` (how problems read). This
 * file assembles them and is the only import the rest of the app needs.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Node } from 'constructs';
import { z } from 'zod';
import type { RetentionDays } from '../lambda/core/tiers';
import { checkDatabaseRules, DatabaseSchema } from './config/databases';
import { ConfigError, errorMap, formatIssues } from './config/errors';
import { checkFleetRules, FleetConfigSchema, FleetSelectionSchema, stackShapeOf } from './config/fleet';
import { ACCOUNT, asRecord, IAM_PRINCIPAL_ARN, REGION, regexField } from './config/fields';
import {
  checkVaultRules,
  DEFAULT_OBJECT_LOCK_DAYS,
  FunctionsSchema,
  ObjectLockSchema,
  ReplicaSchema,
  RetentionSchema,
  TIER_RETENTION_KEYS,
  VaultSchema,
} from './config/vault';

export { ConfigError, formatConfigPath } from './config/errors';
export { scheduleExpressionProblem } from './config/fields';
export { DEFAULT_OBJECT_LOCK_DAYS, TIER_RETENTION_KEYS } from './config/vault';
export {
  DEFAULT_DISCOVERED_RPO_HOURS,
  MAX_PER_DATABASE_SHAPE_DATABASES,
  STACK_SHAPES,
  type StackShape,
} from './config/fleet';

/** Context key holding the config object itself (cdk.json carries a working example). */
export const CONFIG_CONTEXT_KEY = 'restorable';
/** Context key naming a JSON file to read the config from instead: `-c restorable:config=prod.json`. */
export const CONFIG_FILE_CONTEXT_KEY = 'restorable:config';

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
  checkVaultRules(config, ctx);
  checkDatabaseRules(config, ctx);
  checkFleetRules(config, ctx);
}

/** The zod schema of the whole config document. */
export const RestorableConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path or URL of config.schema.json, for editors.'),
    account: regexField(ACCOUNT, 'a 12-digit AWS account id').describe(
      'The AWS account both stacks deploy to (the replica too, unless replica.account names a backup account).',
    ),
    primaryRegion: regexField(REGION, 'an AWS region such as eu-west-1').describe(
      'Region of the primary bucket, the workflows and the alarms.',
    ),
    replicaRegion: regexField(REGION, 'an AWS region such as eu-central-1').describe(
      'Region of the replica bucket; must differ from primaryRegion.',
    ),
    retention: RetentionSchema.prefault({}).describe(
      "Expiry per tier; strictly increasing from daily to yearly, and within S3's lifecycle rules.",
    ),
    objectLock: ObjectLockSchema.prefault({}),
    replica: ReplicaSchema.prefault({}).describe('Where the second copy lives.'),
    vault: VaultSchema.prefault({}).describe('Who may change the vault, and what is audited.'),
    functions: FunctionsSchema.prefault({}).describe('Settings shared by every runner function.'),
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
    databases: z
      .array(DatabaseSchema)
      .default([])
      .describe('The databases to back up; may be empty when `selection` finds them by tag.'),
    selection: FleetSelectionSchema.optional(),
    fleet: FleetConfigSchema.prefault({}),
  })
  .superRefine(checkCrossFieldRules, { when: () => true })
  // The lock default follows a shortened daily tier instead of failing on a value nobody wrote.
  .transform((config) => ({
    ...config,
    // Resolved once here, so the stacks never re-derive it.
    fleet: { ...config.fleet, shape: stackShapeOf(config) },
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
export type FleetDeploymentConfig = RestorableConfig['fleet'];
export type SelectionConfig = NonNullable<RestorableConfig['selection']>;

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
