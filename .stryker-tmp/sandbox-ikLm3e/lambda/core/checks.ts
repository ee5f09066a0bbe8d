/**
 * What a drill checks on the restored database before calling the data verified:
 *
 * - rows: exact `count(*)` of every table in the manifest equals the manifest's count, taken in
 *   the dump's snapshot. A manifest count that was a planner estimate (the dump's count budget ran
 *   out) cannot be compared; it is reported `estimated` and does not fail the drill. A table that
 *   is missing fails; so does a table the manifest does not list.
 * - catalog: counts of schemas, tables, views, functions, triggers, policies, indexes, sequences,
 *   types in the manifest's schema scope equal the manifest's.
 * - rls: row-level security (and FORCE) is on exactly where it was.
 * - sql: operator checks from the config, each in its own `BEGIN READ ONLY` transaction with
 *   `SET LOCAL statement_timeout`, sent with the extended query protocol so a check is exactly one
 *   statement (no `COMMIT; DROP ...` smuggled in). A check that errors fails like one that
 *   returns the wrong answer.
 *
 * Every identifier comes from the catalog (inventory.ts) and is quoted there; nothing from the
 * manifest, the config or any other input is spliced into SQL.
 */
// @ts-nocheck

import type { ClientBase, QueryConfig } from 'pg';
import { z } from 'zod';
import { catalogCounts, countRows, listTables, type SchemaScope, type TableInfo } from './inventory';
import { tableLabel, type CatalogCounts, type Manifest, type TableEntry } from './manifest';

/** `expect` of an operator check. */
export const CheckExpectationSchema = z.union([
  /** The query returns exactly this many rows. */
  z.strictObject({ rows: z.number().int().nonnegative() }),
  /** The first column of the first row equals this value (numbers compare numerically). */
  z.strictObject({ equals: z.union([z.string(), z.number(), z.boolean(), z.null()]) }),
  /** The first column of the first row, read as a number, is at least this. */
  z.strictObject({ min: z.number() }),
]);
export type CheckExpectation = z.infer<typeof CheckExpectationSchema>;

/** An operator SQL check from the config. */
export const OperatorCheckSchema = z.strictObject({
  name: z.string().min(1).max(100),
  sql: z.string().min(1),
  expect: CheckExpectationSchema,
  /** Statement timeout for this check. @default 30 */
  timeoutSeconds: z.number().positive().max(3600).optional(),
});
export type OperatorCheck = z.infer<typeof OperatorCheckSchema>;

export const DEFAULT_CHECK_TIMEOUT_SECONDS = 30;

export type CheckKind = 'rows' | 'catalog' | 'rls' | 'sql';
export type CheckStatus = 'ok' | 'estimated' | 'mismatch' | 'missing' | 'unexpected' | 'error';

export interface CheckResult {
  /** `rows:shop.orders`, `catalog:tables`, `rls:shop.customers`, `sql:<operator name>` */
  readonly name: string;
  readonly kind: CheckKind;
  readonly ok: boolean;
  readonly status: CheckStatus;
  readonly expected: unknown;
  readonly actual: unknown;
  readonly detail?: string;
}

export interface ChecksResult {
  readonly ok: boolean;
  readonly results: readonly CheckResult[];
  /** Checks that failed (mismatch, missing, unexpected, error). */
  readonly mismatches: number;
  readonly summary: {
    readonly total: number;
    readonly passed: number;
    readonly failed: number;
    /** Row counts not compared because the manifest only had an estimate. */
    readonly estimated: number;
  };
  readonly seconds: number;
}

export interface ChecksOptions {
  readonly operatorChecks?: readonly OperatorCheck[];
  /** Default statement timeout for operator checks, seconds. @default 30 */
  readonly timeoutSeconds?: number;
}

const CATALOG_FIELDS: readonly (keyof CatalogCounts)[] = [
  'schemas',
  'tables',
  'views',
  'materializedViews',
  'functions',
  'triggers',
  'policies',
  'indexes',
  'sequences',
  'types',
];

/** Runs every check against a restored database. Never throws for a failed check; only for a lost connection. */
export async function runChecks(
  client: ClientBase,
  manifest: Manifest,
  options: ChecksOptions = {},
): Promise<ChecksResult> {
  const started = Date.now();
  const scope: SchemaScope = manifest.schemas;
  const results: CheckResult[] = [];

  // Rows, catalog and RLS in one snapshot.
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  let tables: TableInfo[];
  let counted: TableEntry[];
  let catalog: CatalogCounts;
  try {
    tables = await listTables(client, scope);
    counted = await countRows(client, tables);
    catalog = await catalogCounts(client, scope);
  } finally {
    await client.query('COMMIT').catch(() => undefined);
  }
  results.push(...compareRows(manifest.tables, counted));
  results.push(...compareCatalog(manifest.catalog, catalog));
  results.push(...compareRls(manifest.tables, tables));

  for (const check of options.operatorChecks ?? []) {
    results.push(
      await runOperatorCheck(client, check, options.timeoutSeconds ?? DEFAULT_CHECK_TIMEOUT_SECONDS),
    );
  }

  const failed = results.filter((r) => !r.ok).length;
  return {
    ok: failed === 0,
    results,
    mismatches: failed,
    summary: {
      total: results.length,
      passed: results.length - failed,
      failed,
      estimated: results.filter((r) => r.status === 'estimated').length,
    },
    seconds: Math.round((Date.now() - started) / 10) / 100,
  };
}

const key = (t: { schema: string; name: string }) => `${t.schema}\u0000${t.name}`;

export function compareRows(expected: readonly TableEntry[], restored: readonly TableEntry[]): CheckResult[] {
  const byKey = new Map(restored.map((t) => [key(t), t]));
  const results: CheckResult[] = [];
  for (const m of expected) {
    const name = `rows:${tableLabel(m)}`;
    const r = byKey.get(key(m));
    if (!r) {
      results.push({
        name,
        kind: 'rows',
        ok: false,
        status: 'missing',
        expected: m.rows,
        actual: null,
        detail: 'table not found after restore',
      });
    } else if (!m.exact) {
      results.push({
        name,
        kind: 'rows',
        ok: true,
        status: 'estimated',
        expected: m.rows,
        actual: r.rows,
        detail: 'manifest count is a planner estimate (count budget ran out at dump time); not compared',
      });
    } else {
      const ok = r.rows === m.rows;
      results.push({
        name,
        kind: 'rows',
        ok,
        status: ok ? 'ok' : 'mismatch',
        expected: m.rows,
        actual: r.rows,
        ...(ok ? {} : { detail: `${r.rows - m.rows > 0 ? '+' : ''}${r.rows - m.rows} rows` }),
      });
    }
  }
  const listed = new Set(expected.map(key));
  for (const r of restored) {
    if (listed.has(key(r))) continue;
    results.push({
      name: `rows:${tableLabel(r)}`,
      kind: 'rows',
      ok: false,
      status: 'unexpected',
      expected: null,
      actual: r.rows,
      detail: 'table exists after restore but is not in the manifest',
    });
  }
  return results;
}

export function compareCatalog(expected: CatalogCounts, actual: CatalogCounts): CheckResult[] {
  return CATALOG_FIELDS.map((f) => {
    const ok = expected[f] === actual[f];
    return {
      name: `catalog:${f}`,
      kind: 'catalog' as const,
      ok,
      status: ok ? ('ok' as const) : ('mismatch' as const),
      expected: expected[f],
      actual: actual[f],
    };
  });
}

/** One result per table that has (or should have) row-level security. */
export function compareRls(expected: readonly TableEntry[], restored: readonly TableInfo[]): CheckResult[] {
  const byKey = new Map(restored.map((t) => [key(t), t]));
  const results: CheckResult[] = [];
  for (const m of expected) {
    const r = byKey.get(key(m));
    if (!m.rowSecurity && !m.forceRowSecurity && !(r?.rowSecurity || r?.forceRowSecurity)) continue;
    const want = { rowSecurity: m.rowSecurity, forceRowSecurity: m.forceRowSecurity };
    const got = r ? { rowSecurity: r.rowSecurity, forceRowSecurity: r.forceRowSecurity } : null;
    const ok =
      got !== null && got.rowSecurity === want.rowSecurity && got.forceRowSecurity === want.forceRowSecurity;
    results.push({
      name: `rls:${tableLabel(m)}`,
      kind: 'rls',
      ok,
      status: got === null ? 'missing' : ok ? 'ok' : 'mismatch',
      expected: want,
      actual: got,
      ...(ok
        ? {}
        : { detail: got === null ? 'table not found after restore' : 'row-level security flags differ' }),
    });
  }
  return results;
}

/** A JSON-safe rendering of a value PostgreSQL returned (bigint and numeric arrive as strings). */
function jsonSafe(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  return JSON.parse(JSON.stringify(value));
}

export function evaluateExpectation(
  expect: CheckExpectation,
  rows: readonly Record<string, unknown>[],
  firstValue: unknown,
): { ok: boolean; actual: unknown; expected: unknown; detail?: string } {
  if ('rows' in expect) {
    return { ok: rows.length === expect.rows, actual: rows.length, expected: expect.rows };
  }
  if (rows.length === 0) {
    return {
      ok: false,
      actual: null,
      expected: 'equals' in expect ? expect.equals : { min: expect.min },
      detail: 'query returned no rows',
    };
  }
  const actual = jsonSafe(firstValue);
  if ('min' in expect) {
    const n =
      typeof actual === 'number'
        ? actual
        : typeof actual === 'string' && actual.trim() !== ''
          ? Number(actual)
          : NaN;
    if (Number.isNaN(n))
      return { ok: false, actual, expected: { min: expect.min }, detail: 'first value is not a number' };
    return { ok: n >= expect.min, actual: n, expected: { min: expect.min } };
  }
  const want = expect.equals;
  let ok: boolean;
  if (want === null) ok = actual === null;
  else if (typeof want === 'number') ok = actual !== null && actual !== '' && Number(actual) === want;
  else if (typeof want === 'boolean') ok = actual === want;
  else ok = actual !== null && String(actual) === want;
  return { ok, actual, expected: want };
}

export async function runOperatorCheck(
  client: ClientBase,
  check: OperatorCheck,
  defaultTimeoutSeconds: number,
): Promise<CheckResult> {
  const name = `sql:${check.name}`;
  const timeoutMs = Math.max(1, Math.round((check.timeoutSeconds ?? defaultTimeoutSeconds) * 1000));
  try {
    await client.query('BEGIN READ ONLY');
    try {
      await client.query(`SET LOCAL statement_timeout = ${timeoutMs}`);
      // rowMode 'array' keeps every column even when two share a name; extended protocol: one statement only.
      const query = { text: check.sql, rowMode: 'array', queryMode: 'extended' } as QueryConfig & {
        rowMode: 'array';
        queryMode: 'extended';
      };
      const res = await client.query<unknown[]>(query);
      const first = res.rows[0]?.[0];
      const verdict = evaluateExpectation(
        check.expect,
        res.rows as unknown as Record<string, unknown>[],
        first,
      );
      return {
        name,
        kind: 'sql',
        ok: verdict.ok,
        status: verdict.ok ? 'ok' : 'mismatch',
        expected: verdict.expected,
        actual: verdict.actual,
        ...(verdict.detail ? { detail: verdict.detail } : {}),
      };
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
  } catch (e) {
    const err = e as { code?: string; message: string };
    const detail =
      err.code === '57014'
        ? `timed out after ${timeoutMs / 1000}s`
        : `${err.code ? `${err.code}: ` : ''}${err.message}`;
    return { name, kind: 'sql', ok: false, status: 'error', expected: check.expect, actual: null, detail };
  }
}

/** A short human summary of what failed, for the report's failure reason. */
export function describeFailures(result: ChecksResult, limit = 5): string {
  const failed = result.results.filter((r) => !r.ok);
  const shown = failed.slice(0, limit).map((r) => {
    const what = r.detail ?? `expected ${JSON.stringify(r.expected)}, got ${JSON.stringify(r.actual)}`;
    return `${r.name} ${r.status}: ${what}`;
  });
  return `${failed.length} check(s) failed: ${shown.join('; ')}${failed.length > limit ? '; ...' : ''}`;
}
