/**
 * What a drill checks on the restored database before calling the data verified:
 *
 * - rows: exact `count(*)` of every table in the manifest, judged against the manifest's count
 *   (row-counts.ts `judgeRestoredRows`): an exact count must be equal — more rows fail like fewer;
 *   an estimate fails when the table came back empty although estimated non-empty. A table that
 *   is missing fails; so does a table the manifest does not list. Counting bypasses row-level
 *   security as the dump's did (`row_security = off`), and commits every COUNT_BATCH tables so a
 *   database with thousands of tables cannot exhaust the target's lock table.
 * - catalog: counts of schemas, tables, views, functions, triggers, policies, indexes, sequences,
 *   types in the manifest's schema scope equal the manifest's.
 * - rls: row-level security (and FORCE) is on exactly where it was.
 * - large objects, extensions and content fingerprints (drill-object-checks.ts), when the manifest
 *   recorded them.
 * - sql: operator checks from the config, each in its own `BEGIN READ ONLY` transaction with
 *   `SET LOCAL statement_timeout`, sent with the extended query protocol so a check is exactly one
 *   statement (no `COMMIT; DROP ...` smuggled in). A check that errors fails like one that
 *   returns the wrong answer.
 *
 * `skipped` (a fingerprint the time budget did not reach) never fails and never counts as passed.
 *
 * Every identifier comes from the catalog (inventory.ts) and is quoted there; nothing from the
 * manifest, the config or any other input is spliced into SQL.
 */
import type { ClientBase, QueryConfig } from 'pg';
import { DEFAULT_CHECK_TIMEOUT_SECONDS, type CheckExpectation, type OperatorCheck } from './drill-settings';
import { checkExtensions, checkFingerprints, checkLargeObjects } from './drill-object-checks';
import { catalogCounts, countRows, listTables, type SchemaScope, type TableInfo } from './inventory';
import { tableLabel, type CatalogCounts, type Manifest, type TableEntry } from './manifest';
import type { NotRestored } from './restore-extensions';
import { judgeRestoredRows } from './row-counts';

// The operator checks' schema is a drill setting: defined with the others in drill-settings.ts
// (which synth loads) and re-exported here for the check runner's callers.
export {
  CheckExpectationSchema,
  DEFAULT_CHECK_TIMEOUT_SECONDS,
  OperatorCheckSchema,
  type CheckExpectation,
  type OperatorCheck,
} from './drill-settings';

export type CheckKind = 'rows' | 'catalog' | 'rls' | 'large-objects' | 'extension' | 'fingerprint' | 'sql';
export type CheckStatus =
  'ok' | 'estimated' | 'unknown' | 'skipped' | 'mismatch' | 'missing' | 'unexpected' | 'error';

export interface CheckResult {
  /**
   * `rows:shop.orders`, `catalog:tables`, `rls:shop.customers`, `large-objects`,
   * `extension:postgis`, `rows-hash:shop.orders` / `sequence:...` / `matview:...` (fingerprints),
   * `sql:<operator name>`
   */
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
    /** Row counts judged against an estimate (or no count) rather than compared exactly. */
    readonly estimated: number;
    /** Neither passed nor failed: not proven (a fingerprint the time budget did not reach). */
    readonly skipped: number;
  };
  readonly seconds: number;
}

export interface ChecksOptions {
  readonly operatorChecks?: readonly OperatorCheck[];
  /** Default statement timeout for operator checks, seconds. @default 30 */
  readonly timeoutSeconds?: number;
  /** Time for recomputing the content fingerprints, ms. @default - no limit */
  readonly fingerprintBudgetMs?: number;
  /** For estimated manifest counts (judgeRestoredRows). @default - only "restored empty" fails */
  readonly estimateTolerance?: number;
  /**
   * What the restore left out because the target does not offer an extension (preset backups,
   * restore-extensions.ts): reported as `skipped` with why, neither passed nor failed, and taken
   * off the catalog counts. @default - nothing left out: every object must be there
   */
  readonly notRestored?: NotRestored;
}

/** Tables counted per transaction: their locks are released at each commit (see runChecks). */
export const COUNT_BATCH = 50;

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

  // The catalog in one snapshot; rows in batches of COUNT_BATCH tables per transaction (the
  // restored copy has no writers, and one transaction over every table and index could need more
  // locks than the target's max_locks_per_transaction × max_connections).
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  let tables: TableInfo[];
  let counted: TableEntry[];
  let catalog: CatalogCounts;
  try {
    tables = await listTables(client, scope);
    catalog = await catalogCounts(client, scope);
    counted = await countRows(client, tables, { commitEvery: COUNT_BATCH });
  } finally {
    await client.query('COMMIT').catch(() => undefined);
  }
  const notRestored = options.notRestored;
  const byDesign: CheckResult[] = [];
  byDesign.push(...compareRows(manifest.tables, counted, options));
  byDesign.push(...compareCatalog(lessNotRestored(manifest.catalog, notRestored), catalog));
  byDesign.push(...compareRls(manifest.tables, tables));
  byDesign.push(...(await checkLargeObjects(client, manifest)));
  byDesign.push(...(await checkExtensions(client, manifest, notRestored?.extensions)));
  byDesign.push(...(await checkFingerprints(client, manifest, options.fingerprintBudgetMs)));
  results.push(...excuseNotRestored(byDesign, notRestored));

  for (const check of options.operatorChecks ?? []) {
    results.push(
      await runOperatorCheck(client, check, options.timeoutSeconds ?? DEFAULT_CHECK_TIMEOUT_SECONDS),
    );
  }

  const failed = results.filter((r) => !r.ok).length;
  const skipped = results.filter((r) => r.status === 'skipped').length;
  return {
    ok: failed === 0,
    results,
    mismatches: failed,
    summary: {
      total: results.length,
      passed: results.length - failed - skipped,
      failed,
      estimated: results.filter((r) => r.status === 'estimated' || r.status === 'unknown').length,
      skipped,
    },
    seconds: Math.round((Date.now() - started) / 10) / 100,
  };
}

const key = (t: { schema: string; name: string }) => `${t.schema}\u0000${t.name}`;

/** The manifest's catalog counts without what the restore left out on purpose. */
function lessNotRestored(expected: CatalogCounts, notRestored?: NotRestored): CatalogCounts {
  if (!notRestored) return expected;
  const out = { ...expected };
  for (const f of CATALOG_FIELDS) out[f] = Math.max(0, expected[f] - (notRestored.catalog[f] ?? 0));
  return out;
}

/**
 * A failed check about a relation the restore left out on purpose (`rows:`, `rls:`, `rows-hash:`,
 * `sequence:`, `matview:` + its label) or about such an extension (`extension:` + its name) becomes `skipped`, saying why: reported, not failed, and
 * not passed either. Any other failure stands.
 */
function excuseNotRestored(results: readonly CheckResult[], notRestored?: NotRestored): CheckResult[] {
  if (!notRestored) return [...results];
  // Relations by label; the extensions themselves as the fingerprints name them (`extension:x`).
  const labels = new Set([...notRestored.relations.map((r) => tableLabel(r)), ...notRestored.extensions]);
  const why = `not restored: needs extension ${notRestored.extensions.join(', ')}, which the target does not offer`;
  return results.map((r) => {
    const subject = r.name.slice(r.name.indexOf(':') + 1);
    return !r.ok && r.name.includes(':') && labels.has(subject)
      ? { ...r, ok: true, status: 'skipped', detail: r.detail ? `${why} (${r.detail})` : why }
      : r;
  });
}

export function compareRows(
  expected: readonly TableEntry[],
  restored: readonly TableEntry[],
  options: Pick<ChecksOptions, 'estimateTolerance'> = {},
): CheckResult[] {
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
      continue;
    }
    const judged = judgeRestoredRows(m, r.rows, { estimateTolerance: options.estimateTolerance });
    // The drill's role could not turn row-level security off: its count is a lower bound too.
    const filtered = r.rowsFiltered
      ? 'counted with row-level security on (the drill role cannot bypass it): a lower bound'
      : undefined;
    const detail = [judged.detail, judged.ok ? undefined : filtered].filter(Boolean).join('; ');
    results.push({
      name,
      kind: 'rows',
      ok: judged.ok,
      status: judged.status,
      expected: m.rows,
      actual: r.rows,
      ...(detail ? { detail } : {}),
    });
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
