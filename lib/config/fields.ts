/**
 * Field builders and identifier patterns shared by every part of the config schema, and the
 * EventBridge Scheduler expression check (backups and drills both take schedules).
 */
import { z } from 'zod';

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

export const regexField = (pattern: RegExp, what: string) =>
  z.string().regex(pattern, {
    error: (issue) => `${JSON.stringify(issue.input)} must match ${pattern.source} (${what})`,
  });

export const ACCOUNT = /^\d{12}$/;
export const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
/** Full secret ARN, including the 6-character suffix Secrets Manager appends to the name. */
export const SECRET_ARN =
  /^arn:aws(-cn|-us-gov)?:secretsmanager:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
export const IAM_PRINCIPAL_ARN =
  /^arn:aws(-cn|-us-gov)?:iam::\d{12}:(root|(role|user)\/[A-Za-z0-9+=,.@_/*-]+)$/;
/** One IAM role, no wildcards: a bucket-policy exemption must name exactly one principal. */
export const IAM_ROLE_ARN = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:role\/[A-Za-z0-9+=,.@_/-]+$/;
export const KMS_KEY_ARN =
  /^arn:aws(-cn|-us-gov)?:kms:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:key\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^arn:aws(-cn|-us-gov)?:kms:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:key\/mrk-[0-9a-f]{32}$/;
export const VPC_ID = /^vpc-([0-9a-f]{8}|[0-9a-f]{17})$/;
export const SUBNET_ID = /^subnet-([0-9a-f]{8}|[0-9a-f]{17})$/;
export const ROUTE_TABLE_ID = /^rtb-([0-9a-f]{8}|[0-9a-f]{17})$/;
export const SECURITY_GROUP_ID = /^sg-([0-9a-f]{8}|[0-9a-f]{17})$/;

export const days = (what: string) => z.int().min(1).max(36500).describe(what);

export const scheduleExpression = (fallback: string, what: string) =>
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

export const isNumber = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value);
export const asRecord = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
export const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
