/**
 * How config problems are reported: one line per problem, path first, in words that follow the
 * path (`databases[1].id "Bad_ID" must match ...`), and the error that carries them.
 */
import type { z } from 'zod';

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
export const errorMap: z.core.$ZodErrorMap = (issue) => {
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
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => `${formatConfigPath([...issue.path, key])} is not a known setting`)
      : [`${formatConfigPath(issue.path)} ${issue.message}`],
  );
}
