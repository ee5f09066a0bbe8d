/**
 * A drill's settings, defined once: the zod schemas and defaults that the config
 * (`databases[].drill`), the RestoreDrill construct (its prop defaults and the workflow input it
 * writes) and the drill runtime (`resolveDrillSettings`, the handler's `select` step, the CLI)
 * all import, so none of them can accept, reject or default a setting differently.
 *
 * zod only: `cdk synth` loads this module and must not load the AWS SDK or `pg`.
 */
import { z } from 'zod';

/** The default drill schedule: the last Friday of every month at 03:00 UTC. */
export const DEFAULT_DRILL_SCHEDULE = 'cron(0 3 ? * 6L *)';
/** Instance class of the ephemeral RDS database (the drill role may create no other). */
export const DEFAULT_DRILL_INSTANCE_CLASS = 'db.t4g.medium';
export const DRILL_INSTANCE_CLASS_PATTERN = /^db\.[a-z0-9]+\.[a-z0-9]+$/;
/** Drill start to verified data; a slower drill fails. */
export const DEFAULT_RTO_TARGET_MINUTES = 60;
export const DEFAULT_RTO_TARGET_SECONDS = DEFAULT_RTO_TARGET_MINUTES * 60;
/** With selection `random`: how many recent days to pick a backup from. */
export const DEFAULT_RANDOM_WINDOW_DAYS = 30;
/** Statement timeout of an operator check that sets none. */
export const DEFAULT_CHECK_TIMEOUT_SECONDS = 30;
export const MAX_CHECK_TIMEOUT_SECONDS = 3600;
/** Time for recomputing content fingerprints on the restored copy; tables not reached are `skipped`. */
export const DEFAULT_DRILL_FINGERPRINT_BUDGET_MINUTES = 30;
/** Oldest and newest PostgreSQL majors a drill can be asked to restore into (`targetMajor`). */
export const DRILL_TARGET_MAJORS = { min: 12, max: 18 } as const;
/** Drill reports expire after this many days: a year of monthly reports plus a margin. */
export const DEFAULT_DRILL_REPORT_DAYS = 400;

/**
 * `restorable:expires-at` of a drill instance = drill start + this: far beyond a drill's few
 * steps, short enough to bound the cost of a leak (the sweeper deletes it after).
 */
export const DEFAULT_DRILL_MAX_LIFETIME_HOURS = 6;
export const MIN_DRILL_MAX_LIFETIME_HOURS = 2;
/** How long the drill workflow waits for its instance to become available before giving up. */
export const DEFAULT_DRILL_MAX_WAIT_MINUTES = 60;
export const MAX_DRILL_MAX_WAIT_MINUTES = 6 * 60;
/** Longest one drill step may take: one Lambda invocation (15 minutes at most) plus a minute. */
export const DRILL_STEP_TIMEOUT_MINUTES = 16;

export const DRILL_SELECTIONS = ['latest', 'random'] as const;
export type DrillSelection = (typeof DRILL_SELECTIONS)[number];
export const DEFAULT_DRILL_SELECTION: DrillSelection = 'latest';

export const DRILL_SOURCES = ['replica', 'primary'] as const;
export type DrillSourceKind = (typeof DRILL_SOURCES)[number];
export const DEFAULT_DRILL_SOURCE: DrillSourceKind = 'replica';

/** `expect` of an operator check. */
export const CheckExpectationSchema = z.union(
  [
    z.strictObject({ rows: z.int().min(0).describe('The query returns exactly this many rows.') }),
    z.strictObject({
      equals: z
        .union([z.string(), z.number(), z.boolean(), z.null()])
        .describe(
          'The query returns a row whose first column equals this value (numbers compare numerically).',
        ),
    }),
    z.strictObject({
      min: z.number().describe('The first column of the first row, read as a number, is at least this.'),
    }),
  ],
  { error: () => 'must be one of {"rows": <n>}, {"equals": <value>} or {"min": <n>}' },
);
export type CheckExpectation = z.infer<typeof CheckExpectationSchema>;

/** An operator SQL check, run read-only against the restored database. */
export const OperatorCheckSchema = z.strictObject({
  name: z.string().min(1).max(100).describe('Shown in the drill report and alarms.'),
  sql: z
    .string()
    .min(1)
    .describe('One read-only SQL statement run against the restored database with a statement timeout.'),
  expect: CheckExpectationSchema,
  timeoutSeconds: z
    .number()
    .positive()
    .max(MAX_CHECK_TIMEOUT_SECONDS)
    .optional()
    .describe(`Statement timeout of this check; default ${DEFAULT_CHECK_TIMEOUT_SECONDS} seconds.`),
});
export type OperatorCheck = z.infer<typeof OperatorCheckSchema>;

/**
 * The checks of one drill. Names are unique: they are the checks' identity in reports and alarms.
 * The rule runs even when a check is otherwise invalid, so one parse reports every problem.
 */
export const OperatorChecksSchema = z.array(OperatorCheckSchema).superRefine(
  (checks: unknown, ctx) => {
    const seen = new Set<string>();
    (Array.isArray(checks) ? (checks as unknown[]) : []).forEach((check, i) => {
      const name =
        typeof check === 'object' && check !== null ? (check as { name?: unknown }).name : undefined;
      if (typeof name !== 'string') return;
      if (seen.has(name)) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'name'],
          message: `${JSON.stringify(name)} is used by another check of this drill: names must be unique`,
        });
      }
      seen.add(name);
    });
  },
  { when: () => true },
);

export const DrillInstanceClassSchema = z.string().regex(DRILL_INSTANCE_CLASS_PATTERN, {
  error: (issue) =>
    `${JSON.stringify(issue.input)} must match ${DRILL_INSTANCE_CLASS_PATTERN.source} (an RDS instance class such as ${DEFAULT_DRILL_INSTANCE_CLASS})`,
});

/**
 * The settings an operator writes, with their defaults: the config's `databases[].drill` spreads
 * these, and so does the runtime's {@link DrillSettingsSchema}.
 */
export const DrillSettingFields = {
  selection: z
    .enum(DRILL_SELECTIONS)
    .default(DEFAULT_DRILL_SELECTION)
    .describe('Which verified backup a drill restores.'),
  randomWindowDays: z
    .int()
    .min(1)
    .max(36500)
    .default(DEFAULT_RANDOM_WINDOW_DAYS)
    .describe('With selection "random": pick among backups from this many recent days.'),
  source: z
    .enum(DRILL_SOURCES)
    .default(DEFAULT_DRILL_SOURCE)
    .describe('Restore from the replica bucket (proves the cross-region copy) or the primary one.'),
  rtoTargetMinutes: z
    .int()
    .min(1)
    .default(DEFAULT_RTO_TARGET_MINUTES)
    .describe('A drill slower than this (start to verified data) fails.'),
  checks: OperatorChecksSchema.default([]).describe('Operator SQL checks run after the restore.'),
  targetMajor: z
    .int()
    .min(DRILL_TARGET_MAJORS.min)
    .max(DRILL_TARGET_MAJORS.max)
    .optional()
    .describe(
      "Restore into this PostgreSQL major instead of the backup's own (at least the backup's): " +
        "proves an upgrade's restore path before the upgrade.",
    ),
  allowExtendedSupport: z
    .boolean()
    .default(false)
    .describe(
      'Let a drill create its RDS instance in a PostgreSQL major that is in RDS Extended Support on the drill date ' +
        '(billed per vCPU-hour on top of the instance). Default: such a drill is refused, and every drill instance ' +
        'is created with Extended Support disabled.',
    ),
};

/**
 * What a drill run takes: the operator's settings (extra keys such as `enabled` and `schedule`
 * ignored, so the config block can be passed as it is) plus what only the workflow and the CLI set.
 * `instanceClass` stays optional here: the drill function falls back to its environment's class.
 */
export const DrillSettingsSchema = z.object({
  ...DrillSettingFields,
  instanceClass: DrillInstanceClassSchema.optional(),
  /** Wins over `rtoTargetMinutes` (the workflow sends seconds). */
  rtoTargetSeconds: z.number().positive().optional(),
  /**
   * Time for recomputing content fingerprints; tables not reached are reported as skipped.
   * @default DEFAULT_DRILL_FINGERPRINT_BUDGET_MINUTES × 60
   */
  fingerprintBudgetSeconds: z.number().positive().max(86_400).optional(),
  /** Statement timeout of operator checks that set none. @default 30 */
  checkTimeoutSeconds: z.number().positive().max(MAX_CHECK_TIMEOUT_SECONDS).optional(),
  /** pg_restore jobs. @default - min(4, CPUs) */
  jobs: z.int().min(1).max(64).optional(),
});
export type DrillSettingsInput = z.input<typeof DrillSettingsSchema>;

export interface ResolvedDrillSettings {
  readonly selection: DrillSelection;
  readonly randomWindowDays: number;
  readonly source: DrillSourceKind;
  readonly instanceClass?: string;
  readonly rtoTargetSeconds: number;
  readonly checks: readonly OperatorCheck[];
  /** @default - the backup's source major */
  readonly targetMajor?: number;
  /** A drill may run (and bill) on RDS Extended Support. */
  readonly allowExtendedSupport: boolean;
  /** @default DEFAULT_DRILL_FINGERPRINT_BUDGET_MINUTES × 60 */
  readonly fingerprintBudgetSeconds?: number;
  readonly checkTimeoutSeconds?: number;
  readonly jobs?: number;
}

/** Every problem of `input` as a drill's settings, one line each, path first; empty when valid. */
export function drillSettingsProblems(input: unknown): string[] {
  const parsed = DrillSettingsSchema.safeParse(input ?? {});
  return parsed.success
    ? []
    : parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(settings)'}: ${i.message}`);
}

/** Validates settings and applies defaults; throws listing every problem. */
export function resolveDrillSettings(input: unknown): ResolvedDrillSettings {
  const parsed = DrillSettingsSchema.safeParse(input ?? {});
  if (!parsed.success) {
    throw new Error(`invalid drill settings: ${drillSettingsProblems(input).join('; ')}`);
  }
  const s = parsed.data;
  return {
    selection: s.selection,
    randomWindowDays: s.randomWindowDays,
    source: s.source,
    ...(s.instanceClass ? { instanceClass: s.instanceClass } : {}),
    rtoTargetSeconds: s.rtoTargetSeconds ?? s.rtoTargetMinutes * 60,
    checks: s.checks,
    ...(s.targetMajor !== undefined ? { targetMajor: s.targetMajor } : {}),
    allowExtendedSupport: s.allowExtendedSupport,
    ...(s.fingerprintBudgetSeconds !== undefined
      ? { fingerprintBudgetSeconds: s.fingerprintBudgetSeconds }
      : {}),
    ...(s.checkTimeoutSeconds !== undefined ? { checkTimeoutSeconds: s.checkTimeoutSeconds } : {}),
    ...(s.jobs !== undefined ? { jobs: s.jobs } : {}),
  };
}

/**
 * The longest a drill may still need its instance, counted like the instance's expiry from the
 * drill's start: the select and provision steps, the wait for the instance, and restore-and-check.
 */
export function drillInFlightMinutes(maxWaitForInstanceMinutes: number): number {
  return 3 * DRILL_STEP_TIMEOUT_MINUTES + maxWaitForInstanceMinutes;
}

/**
 * How long a drill waits for its instance and how long the instance may live. The lifetime must
 * exceed the longest a drill may still need the instance ({@link drillInFlightMinutes}): the
 * sweeper deletes an expired instance, and must never delete one a drill is restoring into.
 */
export const DrillLifetimeSchema = z
  .object({
    maxWaitForInstanceMinutes: z
      .number()
      .min(1, 'must be between 1 minute and 6 hours')
      .max(MAX_DRILL_MAX_WAIT_MINUTES, 'must be between 1 minute and 6 hours')
      .default(DEFAULT_DRILL_MAX_WAIT_MINUTES),
    maxInstanceLifetimeHours: z
      .int(`must be a whole number of hours, at least ${MIN_DRILL_MAX_LIFETIME_HOURS}`)
      .min(
        MIN_DRILL_MAX_LIFETIME_HOURS,
        `must be a whole number of hours, at least ${MIN_DRILL_MAX_LIFETIME_HOURS}`,
      )
      .default(DEFAULT_DRILL_MAX_LIFETIME_HOURS),
  })
  .superRefine((v, ctx) => {
    const inFlight = drillInFlightMinutes(v.maxWaitForInstanceMinutes);
    if (v.maxInstanceLifetimeHours * 60 <= inFlight) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxInstanceLifetimeHours'],
        message:
          `must exceed the ${inFlight} minutes a drill may still need its instance (select, provision and ` +
          `restore-and-check, ${DRILL_STEP_TIMEOUT_MINUTES} minutes each, plus the ` +
          `${v.maxWaitForInstanceMinutes}-minute wait for the instance): the sweeper would delete it mid-drill`,
      });
    }
  });
export type DrillLifetimeInput = z.input<typeof DrillLifetimeSchema>;

/** Every problem of a drill's wait and lifetime, keyed by field; empty when valid. */
export function drillLifetimeProblems(input: DrillLifetimeInput): { field: string; message: string }[] {
  const parsed = DrillLifetimeSchema.safeParse(input);
  return parsed.success
    ? []
    : parsed.error.issues.map((i) => ({ field: i.path.map(String).join('.'), message: i.message }));
}
