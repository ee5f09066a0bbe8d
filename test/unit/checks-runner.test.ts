/**
 * How runChecks and runOperatorCheck (checks.ts) drive the database session, with the catalog
 * reads (inventory.ts) and the object checks (drill-object-checks.ts) replaced at the module
 * boundary and a client that records every query: which transactions are opened and always
 * closed, what is passed on (schema scope, count batch, fingerprint budget, timeouts), the order
 * of the results and how the summary counts them. test/integration/checks.test.ts runs the same
 * against a real PostgreSQL; this one is fast enough for the mutation run of checks.ts.
 */
import type { ClientBase } from 'pg';
import {
  COUNT_BATCH,
  runChecks,
  runOperatorCheck,
  type CheckResult,
  type OperatorCheck,
} from '../../lambda/core/checks';
import { checkExtensions, checkFingerprints, checkLargeObjects } from '../../lambda/core/drill-object-checks';
import { catalogCounts, countRows, listTables, type TableInfo } from '../../lambda/core/inventory';
import type { CatalogCounts, Manifest, TableEntry } from '../../lambda/core/manifest';

jest.mock('../../lambda/core/inventory', () => ({
  listTables: jest.fn(),
  catalogCounts: jest.fn(),
  countRows: jest.fn(),
}));
jest.mock('../../lambda/core/drill-object-checks', () => ({
  checkLargeObjects: jest.fn(),
  checkExtensions: jest.fn(),
  checkFingerprints: jest.fn(),
}));

const CATALOG: CatalogCounts = {
  schemas: 1,
  tables: 2,
  views: 0,
  materializedViews: 0,
  functions: 0,
  triggers: 0,
  policies: 0,
  indexes: 2,
  sequences: 1,
  types: 0,
};

const entry = (name: string, rows: number, extra: Partial<TableEntry> = {}): TableEntry => ({
  schema: 's',
  name,
  rows,
  exact: true,
  rowSecurity: false,
  forceRowSecurity: false,
  kind: 'r',
  ...extra,
});
const info = (name: string, rowSecurity = false): TableInfo => ({
  schema: 's',
  name,
  kind: 'r',
  rowSecurity,
  forceRowSecurity: false,
  estimate: 0,
  leaves: [],
});

const manifest = (tables: TableEntry[]): Manifest =>
  ({
    schemas: { include: ['s'], exclude: [] },
    tables,
    catalog: CATALOG,
  }) as unknown as Manifest;

type Answer = { rows: unknown[] } | Error;

/** A client that records each query and answers from `answer` (default: no rows). */
function recordingClient(answer: (q: unknown) => Answer | undefined = () => undefined) {
  const queries: unknown[] = [];
  const client = {
    queries,
    query: jest.fn(async (q: unknown) => {
      queries.push(q);
      const a = answer(q) ?? { rows: [] };
      if (a instanceof Error) throw a;
      return a;
    }),
  };
  return client as typeof client & ClientBase;
}

const pgError = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});
const skippedFingerprints: CheckResult = {
  name: 'fingerprints',
  kind: 'fingerprint',
  ok: true,
  status: 'skipped',
  expected: null,
  actual: null,
};

beforeEach(() => {
  jest
    .mocked(listTables)
    .mockReset()
    .mockResolvedValue([info('a'), info('b', true)]);
  jest.mocked(catalogCounts).mockReset().mockResolvedValue(CATALOG);
  jest
    .mocked(countRows)
    .mockReset()
    .mockResolvedValue([entry('a', 3), entry('b', 4, { rowSecurity: true })]);
  jest.mocked(checkLargeObjects).mockReset().mockResolvedValue([]);
  jest.mocked(checkExtensions).mockReset().mockResolvedValue([]);
  jest.mocked(checkFingerprints).mockReset().mockResolvedValue([skippedFingerprints]);
});

describe('runChecks', () => {
  it('reads the catalog and counts in one read-only snapshot, in batches, then closes it', async () => {
    const client = recordingClient();
    const m = manifest([entry('a', 3), entry('b', 4, { rowSecurity: true })]);
    const result = await runChecks(client, m, { fingerprintBudgetMs: 1234 });
    expect(client.queries).toEqual(['BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', 'COMMIT']);
    expect(listTables).toHaveBeenCalledWith(client, m.schemas);
    expect(catalogCounts).toHaveBeenCalledWith(client, m.schemas);
    expect(COUNT_BATCH).toBe(50);
    expect(countRows).toHaveBeenCalledWith(client, [info('a'), info('b', true)], { commitEvery: 50 });
    expect(checkLargeObjects).toHaveBeenCalledWith(client, m);
    expect(checkExtensions).toHaveBeenCalledWith(client, m, undefined);
    expect(checkFingerprints).toHaveBeenCalledWith(client, m, 1234);
    expect(result.ok).toBe(true);
    expect(result.mismatches).toBe(0);
    // 2 rows, 10 catalog, 1 RLS, 1 fingerprints (skipped: neither passed nor failed).
    expect(result.summary).toEqual({ total: 14, passed: 13, failed: 0, estimated: 0, skipped: 1 });
  });

  it('closes the snapshot also when reading the catalog fails, and a failed COMMIT does not hide that error', async () => {
    jest.mocked(catalogCounts).mockRejectedValue(new Error('connection lost'));
    const client = recordingClient((q) => (q === 'COMMIT' ? new Error('no connection') : undefined));
    await expect(runChecks(client, manifest([]))).rejects.toThrow('connection lost');
    expect(client.queries).toEqual(['BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', 'COMMIT']);
    expect(countRows).not.toHaveBeenCalled();
  });

  it('keeps the results in order (rows, catalog, RLS, large objects, extensions, fingerprints, operator checks) and counts them', async () => {
    const lo: CheckResult = {
      ...skippedFingerprints,
      name: 'large-objects',
      kind: 'large-objects',
      status: 'ok',
    };
    const ext: CheckResult = {
      ...skippedFingerprints,
      name: 'extension:installed',
      kind: 'extension',
      ok: false,
      status: 'missing',
    };
    jest.mocked(checkLargeObjects).mockResolvedValue([lo]);
    jest.mocked(checkExtensions).mockResolvedValue([ext]);
    jest.mocked(countRows).mockResolvedValue([entry('a', 5), entry('b', 4, { rowSecurity: true })]);
    const client = recordingClient((q) => (typeof q === 'object' ? { rows: [[1]] } : undefined));
    const check: OperatorCheck = { name: 'one', sql: 'SELECT 1', expect: { equals: 1 } };
    const result = await runChecks(
      client,
      manifest([
        entry('a', 3),
        entry('b', 40, { exact: false, rowSecurity: true }),
        entry('c', 0, { count: 'unknown' }),
      ]),
      { operatorChecks: [check, { ...check, name: 'two', expect: { equals: 2 } }] },
    );
    expect(result.results.map((r) => r.name)).toEqual([
      'rows:s.a',
      'rows:s.b',
      'rows:s.c',
      ...Object.keys(CATALOG).map((f) => `catalog:${f}`),
      'rls:s.b',
      'large-objects',
      'extension:installed',
      'fingerprints',
      'sql:one',
      'sql:two',
    ]);
    // Failed: rows:s.a (+2), rows:s.c (missing), the extension, sql:two.
    expect(result).toMatchObject({ ok: false, mismatches: 4 });
    expect(result.summary).toEqual({ total: 19, passed: 14, failed: 4, estimated: 1, skipped: 1 });
    const estimatedOnly = await runChecks(
      recordingClient(),
      manifest([entry('a', 3, { count: 'unknown' }), entry('b', 40, { exact: false, rowSecurity: true })]),
    );
    // An unknown count (never analysed) and an estimate both count as estimated, and neither
    // fails (the one failure is still the missing extension).
    expect(estimatedOnly.summary).toEqual({ total: 16, passed: 14, failed: 1, estimated: 2, skipped: 1 });
  });

  it('times the checks in seconds, to the hundredth', async () => {
    const now = jest.spyOn(Date, 'now').mockReturnValueOnce(1_000_000).mockReturnValue(1_002_456);
    try {
      expect((await runChecks(recordingClient(), manifest([entry('a', 3)]))).seconds).toBe(2.46);
    } finally {
      now.mockRestore();
    }
  });

  it('gives operator checks the configured timeout, else the built-in 30 s, unless a check has its own', async () => {
    const client = recordingClient((q) => (typeof q === 'object' ? { rows: [[1]] } : undefined));
    const check: OperatorCheck = { name: 'c', sql: 'SELECT 1', expect: { rows: 1 } };
    await runChecks(client, manifest([]), { operatorChecks: [check, { ...check, timeoutSeconds: 2.5 }] });
    await runChecks(client, manifest([]), { operatorChecks: [check], timeoutSeconds: 7 });
    expect(client.queries.filter((q) => typeof q === 'string' && q.startsWith('SET'))).toEqual([
      'SET LOCAL statement_timeout = 30000',
      'SET LOCAL statement_timeout = 2500',
      'SET LOCAL statement_timeout = 7000',
    ]);
  });
});

describe('runOperatorCheck', () => {
  const check = (over: Partial<OperatorCheck> = {}): OperatorCheck => ({
    name: 'paid',
    sql: 'SELECT count(*) FROM shop.orders',
    expect: { equals: 3 },
    ...over,
  });

  it('runs one statement, as arrays, in a read-only transaction with its timeout, always rolled back', async () => {
    const client = recordingClient((q) => (typeof q === 'object' ? { rows: [['3', 'x']] } : undefined));
    expect(await runOperatorCheck(client, check(), 30)).toEqual({
      name: 'sql:paid',
      kind: 'sql',
      ok: true,
      status: 'ok',
      expected: 3,
      actual: '3',
    });
    expect(client.queries).toEqual([
      'BEGIN READ ONLY',
      'SET LOCAL statement_timeout = 30000',
      { text: 'SELECT count(*) FROM shop.orders', rowMode: 'array', queryMode: 'extended' },
      'ROLLBACK',
    ]);
  });

  it('judges the first value of the first row, and passes the verdict detail on', async () => {
    const client = recordingClient((q) => (typeof q === 'object' ? { rows: [] } : undefined));
    expect(await runOperatorCheck(client, check(), 30)).toEqual({
      name: 'sql:paid',
      kind: 'sql',
      ok: false,
      status: 'mismatch',
      expected: 3,
      actual: null,
      detail: 'query returned no rows',
    });
    const two = recordingClient((q) => (typeof q === 'object' ? { rows: [[4], [3]] } : undefined));
    expect(await runOperatorCheck(two, check(), 30)).toMatchObject({ ok: false, actual: 4 });
    expect(await runOperatorCheck(two, check({ expect: { rows: 2 } }), 30)).toMatchObject({
      ok: true,
      actual: 2,
    });
  });

  it('rounds the timeout to milliseconds, at least one', async () => {
    const client = recordingClient();
    await runOperatorCheck(client, check({ timeoutSeconds: 0.0004 }), 30);
    await runOperatorCheck(client, check({ timeoutSeconds: 1.2345 }), 30);
    await runOperatorCheck(client, check(), 0.0006);
    expect(client.queries.filter((q) => typeof q === 'string' && q.startsWith('SET'))).toEqual([
      'SET LOCAL statement_timeout = 1',
      'SET LOCAL statement_timeout = 1235',
      'SET LOCAL statement_timeout = 1',
    ]);
  });

  it('fails with the error, rolls back, and names a timeout as one', async () => {
    const failing = (error: Error) =>
      recordingClient((q) =>
        typeof q === 'object' ? error : q === 'ROLLBACK' ? new Error('gone') : undefined,
      );
    const timedOut = failing(pgError('canceling statement due to statement timeout', '57014'));
    expect(await runOperatorCheck(timedOut, check({ timeoutSeconds: 1.5 }), 30)).toEqual({
      name: 'sql:paid',
      kind: 'sql',
      ok: false,
      status: 'error',
      expected: { equals: 3 },
      actual: null,
      detail: 'timed out after 1.5s',
    });
    expect(timedOut.queries.at(-1)).toBe('ROLLBACK');
    expect((await runOperatorCheck(failing(pgError('boom', '42P01')), check(), 30)).detail).toBe(
      '42P01: boom',
    );
    expect((await runOperatorCheck(failing(pgError('plain')), check(), 30)).detail).toBe('plain');
    // Not even the transaction could start: an error result, no rollback of nothing.
    const down = recordingClient((q) =>
      q === 'BEGIN READ ONLY' ? pgError('terminated', '57P01') : undefined,
    );
    expect(await runOperatorCheck(down, check(), 30)).toMatchObject({
      status: 'error',
      detail: '57P01: terminated',
    });
    expect(down.queries).toEqual(['BEGIN READ ONLY']);
  });
});

describe('runChecks with objects the restore left out on purpose (an extension the target lacks)', () => {
  const notRestored = {
    extensions: ['pgsodium', 'pg_graphql'],
    relations: [{ schema: 's', name: 'c' }],
    catalog: { tables: 1, functions: 3 },
  };

  it('excuses exactly the failed checks about those relations and extensions, saying why', async () => {
    jest.mocked(countRows).mockResolvedValue([entry('a', 5), entry('b', 4, { rowSecurity: true })]);
    jest.mocked(catalogCounts).mockResolvedValue({ ...CATALOG, tables: 1 });
    jest.mocked(checkExtensions).mockResolvedValue([
      { ...skippedFingerprints, name: 'extension:pgsodium', kind: 'extension', ok: false, status: 'missing' },
      // Passing checks about a left-out object stay what they are.
      { ...skippedFingerprints, name: 'extension:pg_graphql', kind: 'extension', ok: true, status: 'ok' },
      { ...skippedFingerprints, name: 'extension:postgis', kind: 'extension', ok: false, status: 'missing' },
    ]);
    // A failed check without a subject is never excused, even named like a left-out extension.
    jest
      .mocked(checkLargeObjects)
      .mockResolvedValue([
        { ...skippedFingerprints, name: 'pgsodium', kind: 'large-objects', ok: false, status: 'mismatch' },
      ]);
    const result = await runChecks(
      recordingClient(),
      manifest([entry('a', 3), entry('b', 4, { rowSecurity: true }), entry('c', 7)]),
      { notRestored },
    );
    const byName = new Map(result.results.map((r) => [r.name, r]));
    const why = 'not restored: needs extension pgsodium, pg_graphql, which the target does not offer';
    expect(byName.get('rows:s.c')).toMatchObject({
      ok: true,
      status: 'skipped',
      detail: `${why} (table not found after restore)`,
    });
    expect(byName.get('extension:pgsodium')).toEqual({
      ...skippedFingerprints,
      name: 'extension:pgsodium',
      kind: 'extension',
      ok: true,
      status: 'skipped',
      detail: why,
    });
    expect(byName.get('extension:pg_graphql')).toMatchObject({ ok: true, status: 'ok' });
    expect(byName.get('extension:pg_graphql')).not.toHaveProperty('detail');
    // Every other failure stands: a row count off, an extension not on the list, a check without subject.
    expect(byName.get('rows:s.a')).toMatchObject({ ok: false });
    expect(byName.get('extension:postgis')).toMatchObject({ ok: false, status: 'missing' });
    expect(byName.get('pgsodium')).toMatchObject({ ok: false, status: 'mismatch' });
    // The catalog is judged against the manifest less what was left out (tables 2 - 1 = 1).
    expect(byName.get('catalog:tables')).toMatchObject({ ok: true, expected: 1, actual: 1 });
    // Taking off more than there was leaves zero, not a negative count.
    expect(byName.get('catalog:functions')).toMatchObject({ ok: true, expected: 0, actual: 0 });
    // Fields the restore left nothing out of keep the manifest's count.
    expect(byName.get('catalog:indexes')).toMatchObject({ ok: true, expected: 2, actual: 2 });
    expect(checkExtensions).toHaveBeenCalledWith(
      expect.anything(),
      expect.anything(),
      notRestored.extensions,
    );
    expect(result.summary).toMatchObject({ failed: 3, skipped: 3 });
    expect(result.ok).toBe(false);
  });

  it('without a list, a missing relation and a missing extension fail', async () => {
    jest.mocked(catalogCounts).mockResolvedValue({ ...CATALOG, tables: 1 });
    jest.mocked(checkExtensions).mockResolvedValue([
      {
        ...skippedFingerprints,
        name: 'extension:pgsodium',
        kind: 'extension',
        ok: false,
        status: 'missing',
      },
    ]);
    const result = await runChecks(recordingClient(), manifest([entry('a', 3), entry('c', 7)]));
    const byName = new Map(result.results.map((r) => [r.name, r]));
    expect(byName.get('rows:s.c')).toMatchObject({ ok: false, detail: 'table not found after restore' });
    expect(byName.get('extension:pgsodium')).toMatchObject({ ok: false, status: 'missing' });
    expect(byName.get('catalog:tables')).toMatchObject({ ok: false, expected: 2, actual: 1 });
  });
});

describe('operator check values as the report records them', () => {
  const judge = async (value: unknown, expect: OperatorCheck['expect'] = { equals: 'x' }) => {
    const client = recordingClient((q) => (typeof q === 'object' ? { rows: [[value]] } : undefined));
    return runOperatorCheck(client, { name: 'v', sql: 'SELECT v', expect }, 30);
  };

  it('renders dates, bytea and JSON so the report can hold them; numbers and strings as they came', async () => {
    const when = new Date('2026-11-26T02:00:00.000Z');
    expect((await judge(when, { equals: '2026-11-26T02:00:00.000Z' })).actual).toBe(
      '2026-11-26T02:00:00.000Z',
    );
    expect(await judge(when, { equals: '2026-11-26T02:00:00.000Z' })).toMatchObject({ ok: true });
    expect((await judge(Buffer.from([0xde, 0xad]))).actual).toBe('\\xdead');
    const json = { a: 1, at: when };
    const rendered = (await judge(json)).actual;
    expect(rendered).toEqual({ a: 1, at: '2026-11-26T02:00:00.000Z' });
    expect(rendered).not.toBe(json);
    expect((await judge(undefined)).actual).toBeNull();
    // Numbers JSON cannot hold stay numbers (float8 'Infinity' and 'NaN' arrive as such).
    expect((await judge(Infinity)).actual).toBe(Infinity);
    expect((await judge(Number.NaN)).actual).toBeNaN();
    expect((await judge('paid')).actual).toBe('paid');
    expect((await judge(false)).actual).toBe(false);
  });

  it('a string expectation fails on any other value', async () => {
    expect(await judge('unpaid', { equals: 'paid' })).toMatchObject({ ok: false, actual: 'unpaid' });
    expect(await judge('paid', { equals: 'paid' })).toMatchObject({ ok: true });
    expect(await judge(null, { equals: 'paid' })).toMatchObject({ ok: false, actual: null });
  });
});
