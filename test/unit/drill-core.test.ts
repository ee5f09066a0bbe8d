/**
 * The pure decisions of checks and drills: how an operator check's expectation is judged, how
 * restored counts compare with the manifest (exact, estimated, missing, unexpected), when a drill
 * passes, which metrics a report publishes, and how the workflow's Catch input becomes a failure
 * step and reason.
 */
import {
  compareRls,
  compareRows,
  evaluateExpectation,
  OperatorCheckSchema,
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
