/**
 * The pure decisions of checks and drills: how an operator check's expectation is judged, how
 * restored counts compare with the manifest (exact, estimated, missing, unexpected), when a drill
 * passes, which metrics a report publishes, and how the workflow's Catch input becomes a failure
 * step and reason.
 */
import {
  compareCatalog,
  compareRls,
  compareRows,
  describeFailures,
  evaluateExpectation,
  OperatorCheckSchema,
  type CheckResult,
  type ChecksResult,
} from '../../lambda/core/checks';
import {
  buildReport,
  DEFAULT_DRILL_MAX_LIFETIME_HOURS,
  DEFAULT_DRILL_MAX_WAIT_MINUTES,
  drillInFlightMinutes,
  drillLifetimeProblems,
  DrillLifetimeSchema,
  drillMetrics,
  resolveDrillSettings,
  summarizeChecks,
  type DrillOutcome,
  type DrillState,
} from '../../lambda/core/drill';
import type { TableEntry } from '../../lambda/core/manifest';
import { describeError, findDrillState } from '../../lambda/handlers/drill';

const table = (schema: string, name: string, rows: number, extra: Partial<TableEntry> = {}): TableEntry => ({
  schema,
  name,
  rows,
  exact: true,
  rowSecurity: false,
  forceRowSecurity: false,
  kind: 'r',
  ...extra,
});

describe('evaluateExpectation', () => {
  it('rows: the number of rows returned', () => {
    expect(evaluateExpectation({ rows: 2 }, [{}, {}], 1).ok).toBe(true);
    expect(evaluateExpectation({ rows: 0 }, [{}], 1)).toMatchObject({ ok: false, actual: 1, expected: 0 });
  });

  it('equals: the first value, numbers numerically (bigint arrives as a string), strings exactly', () => {
    expect(evaluateExpectation({ equals: 900 }, [{}], '900').ok).toBe(true);
    expect(evaluateExpectation({ equals: 900 }, [{}], '900.0').ok).toBe(true);
    expect(evaluateExpectation({ equals: 900 }, [{}], '901').ok).toBe(false);
    expect(evaluateExpectation({ equals: 'paid' }, [{}], 'paid').ok).toBe(true);
    expect(evaluateExpectation({ equals: '900' }, [{}], 900).ok).toBe(true);
    expect(evaluateExpectation({ equals: true }, [{}], true).ok).toBe(true);
    expect(evaluateExpectation({ equals: true }, [{}], 't').ok).toBe(false);
    expect(evaluateExpectation({ equals: null }, [{}], null).ok).toBe(true);
    expect(evaluateExpectation({ equals: 0 }, [{}], null).ok).toBe(false);
    expect(evaluateExpectation({ equals: 1 }, [], undefined)).toMatchObject({
      ok: false,
      detail: 'query returned no rows',
    });
  });

  it('min: the first value as a number, at least min', () => {
    expect(evaluateExpectation({ min: 10 }, [{}], '10').ok).toBe(true);
    expect(evaluateExpectation({ min: 10 }, [{}], 9.5).ok).toBe(false);
    expect(evaluateExpectation({ min: 1 }, [{}], 'lots')).toMatchObject({
      ok: false,
      detail: 'first value is not a number',
    });
  });
});

describe('OperatorCheckSchema', () => {
  it('accepts the three expectation forms and refuses anything else', () => {
    expect(OperatorCheckSchema.safeParse({ name: 'a', sql: 'SELECT 1', expect: { rows: 1 } }).success).toBe(
      true,
    );
    expect(
      OperatorCheckSchema.safeParse({ name: 'a', sql: 'SELECT 1', expect: { equals: null } }).success,
    ).toBe(true);
    expect(
      OperatorCheckSchema.safeParse({ name: 'a', sql: 'SELECT 1', expect: { min: 0 }, timeoutSeconds: 5 })
        .success,
    ).toBe(true);
    expect(OperatorCheckSchema.safeParse({ name: 'a', sql: 'SELECT 1', expect: { max: 1 } }).success).toBe(
      false,
    );
    expect(OperatorCheckSchema.safeParse({ name: '', sql: 'SELECT 1', expect: { rows: 1 } }).success).toBe(
      false,
    );
  });
});

describe('compareRows and compareRls', () => {
  it('fails on a different count, a missing table and an extra table; an estimate is reported, not failed', () => {
    const expected = [
      table('shop', 'orders', 900),
      table('shop', 'events', 2000, { exact: false }),
      table('shop', 'gone', 5),
    ];
    const restored = [table('shop', 'orders', 899), table('shop', 'events', 2013), table('shop', 'extra', 1)];
    const results = compareRows(expected, restored);
    expect(results.map((r) => [r.name, r.status, r.ok])).toEqual([
      ['rows:shop.orders', 'mismatch', false],
      ['rows:shop.events', 'estimated', true],
      ['rows:shop.gone', 'missing', false],
      ['rows:shop.extra', 'unexpected', false],
    ]);
    expect(results[0].detail).toBe('-1 rows');
  });

  it('compares RLS and FORCE flags where either side has them', () => {
    const info = (name: string, rowSecurity: boolean, forceRowSecurity: boolean) => ({
      schema: 'shop',
      name,
      kind: 'r' as const,
      rowSecurity,
      forceRowSecurity,
      estimate: 0,
      leaves: [],
    });
    const expected = [
      table('shop', 'customers', 1, { rowSecurity: true, forceRowSecurity: true }),
      table('shop', 'orders', 1),
      table('shop', 'tenants', 1, { rowSecurity: true }),
    ];
    const results = compareRls(expected, [
      info('customers', true, false),
      info('orders', true, false),
      info('tenants', true, false),
    ]);
    expect(results.map((r) => [r.name, r.ok])).toEqual([
      ['rls:shop.customers', false],
      ['rls:shop.orders', false],
      ['rls:shop.tenants', true],
    ]);
  });
});

describe('compareCatalog', () => {
  const counts = {
    schemas: 2,
    tables: 5,
    views: 1,
    materializedViews: 1,
    functions: 3,
    triggers: 2,
    policies: 1,
    indexes: 7,
    sequences: 2,
    types: 4,
  };

  it('compares every count by name, and fails each one that differs', () => {
    const same = compareCatalog(counts, { ...counts });
    expect(same.map((r) => [r.name, r.kind, r.ok, r.status])).toEqual(
      Object.keys(counts).map((f) => [`catalog:${f}`, 'catalog', true, 'ok']),
    );
    for (const field of Object.keys(counts) as (keyof typeof counts)[]) {
      const results = compareCatalog(counts, { ...counts, [field]: counts[field] + 1 });
      expect(results.filter((r) => !r.ok)).toEqual([
        {
          name: `catalog:${field}`,
          kind: 'catalog',
          ok: false,
          status: 'mismatch',
          expected: counts[field],
          actual: counts[field] + 1,
        },
      ]);
    }
  });
});

describe('compareRls, details', () => {
  const info = (name: string, rowSecurity: boolean, forceRowSecurity: boolean) => ({
    schema: 'shop',
    name,
    kind: 'r' as const,
    rowSecurity,
    forceRowSecurity,
    estimate: 0,
    leaves: [],
  });

  it('says what it expected and found, and fails a table with RLS that is gone', () => {
    const expected = [
      table('shop', 'a', 1, { rowSecurity: true }),
      table('shop', 'b', 1, { forceRowSecurity: true }),
      table('shop', 'c', 1, { rowSecurity: true, forceRowSecurity: true }),
      table('shop', 'plain', 1),
      table('shop', 'gone', 1, { rowSecurity: true }),
      table('shop', 'gone-plain', 1),
    ];
    const results = compareRls(expected, [
      info('a', true, false),
      info('b', false, false),
      info('c', true, false),
      info('plain', false, false),
      info('other', true, true),
    ]);
    expect(results).toEqual([
      {
        name: 'rls:shop.a',
        kind: 'rls',
        ok: true,
        status: 'ok',
        expected: { rowSecurity: true, forceRowSecurity: false },
        actual: { rowSecurity: true, forceRowSecurity: false },
      },
      {
        name: 'rls:shop.b',
        kind: 'rls',
        ok: false,
        status: 'mismatch',
        expected: { rowSecurity: false, forceRowSecurity: true },
        actual: { rowSecurity: false, forceRowSecurity: false },
        detail: 'row-level security flags differ',
      },
      {
        name: 'rls:shop.c',
        kind: 'rls',
        ok: false,
        status: 'mismatch',
        expected: { rowSecurity: true, forceRowSecurity: true },
        actual: { rowSecurity: true, forceRowSecurity: false },
        detail: 'row-level security flags differ',
      },
      {
        name: 'rls:shop.gone',
        kind: 'rls',
        ok: false,
        status: 'missing',
        expected: { rowSecurity: true, forceRowSecurity: false },
        actual: null,
        detail: 'table not found after restore',
      },
    ]);
    // FORCE alone on the restored side also counts as "has RLS".
    expect(compareRls([table('shop', 'f', 1)], [info('f', false, true)])).toMatchObject([
      { name: 'rls:shop.f', ok: false, status: 'mismatch' },
    ]);
  });
});

describe('compareRows, details', () => {
  it('gives every result its expected and actual count, and the detail of each kind', () => {
    const results = compareRows(
      [
        table('s', 'ok', 3),
        table('s', 'more', 3),
        table('s', 'gone', 2),
        table('s', 'est', 10, { exact: false }),
      ],
      [table('s', 'ok', 3), table('s', 'more', 5), table('s', 'est', 12), table('s', 'new', 4)],
    );
    expect(results).toEqual([
      { name: 'rows:s.ok', kind: 'rows', ok: true, status: 'ok', expected: 3, actual: 3 },
      {
        name: 'rows:s.more',
        kind: 'rows',
        ok: false,
        status: 'mismatch',
        expected: 3,
        actual: 5,
        detail: '+2 rows',
      },
      {
        name: 'rows:s.gone',
        kind: 'rows',
        ok: false,
        status: 'missing',
        expected: 2,
        actual: null,
        detail: 'table not found after restore',
      },
      {
        name: 'rows:s.est',
        kind: 'rows',
        ok: true,
        status: 'estimated',
        expected: 10,
        actual: 12,
        detail: 'manifest count is an estimate (10)',
      },
      {
        name: 'rows:s.new',
        kind: 'rows',
        ok: false,
        status: 'unexpected',
        expected: null,
        actual: 4,
        detail: 'table exists after restore but is not in the manifest',
      },
    ]);
  });

  it('tells tables apart by schema and name together, and passes the estimate tolerance on', () => {
    const results = compareRows([table('a', 'b.c', 1)], [table('a.b', 'c', 1)]);
    expect(results.map((r) => [r.name, r.status])).toEqual([
      ['rows:a."b.c"', 'missing'],
      ['rows:"a.b".c', 'unexpected'],
    ]);
    expect(
      compareRows([table('s', 'e', 100, { exact: false })], [table('s', 'e', 20)], {
        estimateTolerance: 2,
      })[0],
    ).toMatchObject({ ok: false, status: 'mismatch' });
    expect(compareRows([table('s', 'e', 100, { exact: false })], [table('s', 'e', 20)])[0]).toMatchObject({
      ok: true,
    });
  });

  it('adds the row-level-security note to a failed count taken under RLS only', () => {
    const filtered = { rowsFiltered: true as const };
    const [low] = compareRows([table('s', 't', 5)], [table('s', 't', 3, filtered)]);
    expect(low.detail).toBe(
      '-2 rows; counted with row-level security on (the drill role cannot bypass it): a lower bound',
    );
    const [same] = compareRows([table('s', 't', 5)], [table('s', 't', 5, filtered)]);
    expect(same).toMatchObject({ ok: true });
    expect(same.detail).toBeUndefined();
  });
});

describe('evaluateExpectation, edges', () => {
  it('says what it expected when the query returned nothing', () => {
    expect(evaluateExpectation({ rows: 0 }, [], undefined)).toEqual({ ok: true, actual: 0, expected: 0 });
    expect(evaluateExpectation({ equals: 'x' }, [], undefined)).toEqual({
      ok: false,
      actual: null,
      expected: 'x',
      detail: 'query returned no rows',
    });
    expect(evaluateExpectation({ min: 3 }, [], undefined)).toEqual({
      ok: false,
      actual: null,
      expected: { min: 3 },
      detail: 'query returned no rows',
    });
  });

  it('min: numbers and numeric strings only; blank, null and booleans are not numbers', () => {
    expect(evaluateExpectation({ min: 10 }, [{}], ' 12 ')).toEqual({
      ok: true,
      actual: 12,
      expected: { min: 10 },
    });
    expect(evaluateExpectation({ min: 10 }, [{}], 10)).toEqual({
      ok: true,
      actual: 10,
      expected: { min: 10 },
    });
    for (const v of ['', '   ', null, true]) {
      expect(evaluateExpectation({ min: 0 }, [{}], v)).toEqual({
        ok: false,
        actual: v,
        expected: { min: 0 },
        detail: 'first value is not a number',
      });
    }
  });

  it('equals: null only for null, numbers never for blank, strings never for null', () => {
    expect(evaluateExpectation({ equals: null }, [{}], 'null').ok).toBe(false);
    expect(evaluateExpectation({ equals: null }, [{}], 0).ok).toBe(false);
    expect(evaluateExpectation({ equals: 0 }, [{}], '').ok).toBe(false);
    expect(evaluateExpectation({ equals: 0 }, [{}], '0').ok).toBe(true);
    expect(evaluateExpectation({ equals: 'null' }, [{}], null).ok).toBe(false);
    expect(evaluateExpectation({ equals: '' }, [{}], '')).toEqual({ ok: true, actual: '', expected: '' });
    expect(evaluateExpectation({ equals: false }, [{}], false).ok).toBe(true);
    expect(evaluateExpectation({ equals: false }, [{}], 0).ok).toBe(false);
    expect(evaluateExpectation({ equals: 1 }, [{}], undefined)).toEqual({
      ok: false,
      actual: null,
      expected: 1,
    });
  });
});

describe('describeFailures', () => {
  const r = (name: string, ok: boolean, extra: Partial<CheckResult> = {}): CheckResult => ({
    name,
    kind: 'rows',
    ok,
    status: ok ? 'ok' : 'mismatch',
    expected: 1,
    actual: 2,
    ...extra,
  });
  const result = (results: CheckResult[]) => ({ ...checks(results.filter((x) => !x.ok).length), results });

  it('names the failed checks only, with their detail or what was expected, up to the limit', () => {
    const all = [
      r('a', true),
      r('b', false, { detail: 'why b' }),
      r('c', false, { expected: { min: 1 }, actual: null, status: 'error' }),
      r('d', false),
    ];
    expect(describeFailures(result(all))).toBe(
      '3 check(s) failed: b mismatch: why b; c error: expected {"min":1}, got null; d mismatch: expected 1, got 2',
    );
    expect(describeFailures(result(all), 3)).not.toContain('...');
    expect(describeFailures(result(all), 2)).toBe(
      '3 check(s) failed: b mismatch: why b; c error: expected {"min":1}, got null; ...',
    );
    const many = Array.from({ length: 7 }, (_, i) => r(`t${i}`, false, { detail: 'x' }));
    expect(describeFailures(result(many))).toBe(
      '7 check(s) failed: t0 mismatch: x; t1 mismatch: x; t2 mismatch: x; t3 mismatch: x; t4 mismatch: x; ...',
    );
  });
});

const state = (over: Partial<DrillState> = {}): DrillState => ({
  formatVersion: 1,
  drillId: 'orders-drill-20261127T030000Z-ab12',
  databaseId: 'orders',
  startedAt: '2026-11-27T03:00:00.000Z',
  settings: resolveDrillSettings({ rtoTargetMinutes: 60 }),
  source: { bucket: 'replica', region: 'eu-central-1', kind: 'replica' },
  completed: 'cleanup',
  backup: {
    backupId: 'orders-20261126T020000Z',
    manifestKey: 'daily/orders/2026-11-26/orders-20261126T020000Z.manifest.json',
    dumpKey: 'daily/orders/2026-11-26/orders-20261126T020000Z.dump',
    tier: 'daily',
    period: '2026-11-26',
    bytes: 1000,
    createdAt: '2026-11-26T02:00:00.000Z',
    serverMajor: 16,
    serverVersion: '16.4',
  },
  ephemeral: { provider: 'rds', id: 'restorable-drill-orders-20261127030000' },
  release: { released: true, alreadyGone: false, at: '2026-11-27T03:40:00.000Z' },
  ...over,
});

const checks = (failed = 0): ChecksResult => ({
  ok: failed === 0,
  results: [],
  mismatches: failed,
  summary: { total: 10, passed: 10 - failed, failed, estimated: 0, skipped: 0 },
  seconds: 1,
});

const outcome = (verifiedAt: string, failed = 0): DrillOutcome => ({
  verifiedAt,
  restoreSeconds: 600,
  restore: {} as DrillOutcome['restore'],
  checks: summarizeChecks(checks(failed)),
  ...(failed ? { checksFailure: `${failed} check(s) failed: rows:shop.orders mismatch: -1 rows` } : {}),
});

describe('buildReport', () => {
  const finished = new Date('2026-11-27T03:41:00Z');

  it('passes with verified data inside the RTO target, and gives RTO from drill start to verified data', () => {
    const report = buildReport(state({ outcome: outcome('2026-11-27T03:35:00.000Z') }), 'rds', finished);
    expect(report).toMatchObject({
      status: 'PASSED',
      rtoSeconds: 2100,
      restoreSeconds: 600,
      rtoTargetSeconds: 3600,
    });
    expect(report.failure).toBeUndefined();
    expect(drillMetrics(report)).toEqual([
      ['DrillSuccess', 'Count', 1],
      ['DrillFailure', 'Count', 0],
      ['DrillMismatches', 'Count', 0],
      ['DrillRtoSeconds', 'Seconds', 2100],
      ['DrillRtoOverTarget', 'None', 0.583],
      ['DrillRestoreSeconds', 'Seconds', 600],
    ]);
  });

  it('fails on failed checks, then on RTO over target, then on an instance not released', () => {
    expect(
      buildReport(state({ outcome: outcome('2026-11-27T03:35:00.000Z', 2) }), 'rds', finished),
    ).toMatchObject({
      status: 'FAILED',
      failure: { step: 'checks', reason: expect.stringMatching(/^2 check\(s\) failed/) },
      mismatches: 2,
    });
    expect(
      buildReport(state({ outcome: outcome('2026-11-27T04:00:01.000Z') }), 'rds', finished),
    ).toMatchObject({
      status: 'FAILED',
      failure: { step: 'rto', reason: expect.stringMatching(/RTO 3601s .* target of 3600s/) },
    });
    const leaked = state({
      outcome: outcome('2026-11-27T03:35:00.000Z'),
      release: { released: false, at: 'x', error: 'Throttling: slow down' },
    });
    expect(buildReport(leaked, 'rds', finished)).toMatchObject({
      status: 'FAILED',
      failure: { step: 'cleanup', reason: expect.stringMatching(/was not released: Throttling/) },
      ephemeral: { released: false, releaseError: 'Throttling: slow down' },
    });
  });

  it('fails without an outcome, and a given failure wins; metrics then carry no RTO', () => {
    const report = buildReport(state(), 'rds', finished, { step: 'provision', reason: 'no capacity' });
    expect(report).toMatchObject({
      status: 'FAILED',
      failure: { step: 'provision', reason: 'no capacity' },
      rtoSeconds: null,
    });
    expect(drillMetrics(report).map(([n]) => n)).toEqual(['DrillSuccess', 'DrillFailure', 'DrillMismatches']);
    expect(buildReport(state(), 'rds', finished).failure!.step).toBe('restore');
  });
});

describe('resolveDrillSettings', () => {
  it('takes the config block as it is (extra keys ignored) and defaults the rest', () => {
    expect(
      resolveDrillSettings({ enabled: true, schedule: 'cron(0 3 ? * 6L *)', rtoTargetMinutes: 90 }),
    ).toEqual({
      selection: 'latest',
      randomWindowDays: 30,
      source: 'replica',
      rtoTargetSeconds: 5400,
      checks: [],
      allowExtendedSupport: false,
    });
    expect(() => resolveDrillSettings({ selection: 'oldest' })).toThrow(/invalid drill settings: selection/);
  });
});

describe('DrillLifetimeSchema', () => {
  it('defaults to a lifetime well beyond the longest a drill may need its instance', () => {
    expect(DrillLifetimeSchema.parse({})).toEqual({
      maxWaitForInstanceMinutes: DEFAULT_DRILL_MAX_WAIT_MINUTES,
      maxInstanceLifetimeHours: DEFAULT_DRILL_MAX_LIFETIME_HOURS,
    });
    expect(DEFAULT_DRILL_MAX_LIFETIME_HOURS * 60).toBeGreaterThan(
      drillInFlightMinutes(DEFAULT_DRILL_MAX_WAIT_MINUTES),
    );
  });

  it('rejects a lifetime the sweeper could end while a drill still restores into the instance', () => {
    // 6 h wait + 3 steps of 16 min = 408 min: a 6-hour (360 min) lifetime would expire mid-drill.
    expect(drillInFlightMinutes(360)).toBe(408);
    expect(() => DrillLifetimeSchema.parse({ maxWaitForInstanceMinutes: 360 })).toThrow(
      /must exceed the 408 minutes a drill may still need its instance .* the sweeper would delete it mid-drill/,
    );
    expect(drillLifetimeProblems({ maxWaitForInstanceMinutes: 360, maxInstanceLifetimeHours: 6 })).toEqual([
      { field: 'maxInstanceLifetimeHours', message: expect.stringMatching(/must exceed the 408 minutes/) },
    ]);
    expect(drillLifetimeProblems({ maxWaitForInstanceMinutes: 360, maxInstanceLifetimeHours: 7 })).toEqual(
      [],
    );
    expect(drillLifetimeProblems({ maxWaitForInstanceMinutes: 72, maxInstanceLifetimeHours: 2 })).toEqual([
      { field: 'maxInstanceLifetimeHours', message: expect.stringMatching(/must exceed the 120 minutes/) },
    ]);
    expect(drillLifetimeProblems({ maxWaitForInstanceMinutes: 71, maxInstanceLifetimeHours: 2 })).toEqual([]);
  });
});

describe('the Catch input', () => {
  const drillState = state({ completed: 'provision', outcome: undefined, release: undefined });
  const lambdaError = (message: string) => ({
    Error: 'DrillStepError',
    Cause: JSON.stringify({
      errorType: 'DrillStepError',
      errorMessage: message,
      trace: ['at x (/var/task/index.js:1:1)'],
    }),
  });

  it('takes the step from the error message and drops the stack trace', () => {
    expect(
      describeError(lambdaError('restore: pg_restore exited with code 1: boom'), drillState, {}),
    ).toEqual({
      step: 'restore',
      reason: 'pg_restore exited with code 1: boom',
    });
  });

  it('infers the step from how far the state got when the error does not say', () => {
    const timeout = { Error: 'States.Timeout', Cause: 'State timed out.' };
    expect(describeError(timeout, undefined, {})).toEqual({
      step: 'select',
      reason: 'States.Timeout: State timed out.',
    });
    expect(describeError(timeout, state({ completed: 'select', ephemeral: undefined }), {}).step).toBe(
      'provision',
    );
    expect(describeError(timeout, drillState, { availability: { status: 'creating' } }).step).toBe('wait');
    expect(describeError(timeout, drillState, { availability: { status: 'available' } }).step).toBe(
      'restore',
    );
    expect(describeError(timeout, drillState, {}, 'checks').step).toBe('checks');
  });

  it('finds the drill state in the execution state or takes it as given', () => {
    expect(findDrillState(drillState)).toBe(drillState);
    expect(findDrillState({ databaseId: 'orders', state: drillState, error: {} })).toBe(drillState);
    expect(findDrillState({ databaseId: 'orders', drill: {} })).toBeUndefined();
  });
});
