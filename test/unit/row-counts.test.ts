import type { ClientBase } from 'pg';
import type { TableInfo } from '../../lambda/core/inventory';
import { parseTableLabel, rowCountOf, tableLabel } from '../../lambda/core/manifest';
import { countRows, judgeRestoredRows } from '../../lambda/core/row-counts';

const table = (name: string, pages: number, estimate: number): TableInfo => ({
  schema: 's',
  name,
  kind: 'r',
  rowSecurity: false,
  forceRowSecurity: false,
  estimate,
  pages,
  leaves: [],
});

/** A client that answers counts, times out on `slow`, and records statement timeouts per count. */
function fakeClient(slow: string) {
  const counted: { name: string; timeoutMs: number }[] = [];
  let timeout = Infinity;
  const query = async (sql: string) => {
    const t = /SET LOCAL statement_timeout = (\d+)/.exec(sql);
    if (t) timeout = Number(t[1]);
    const m = /FROM ONLY "s"\."([^"]+)"/.exec(sql);
    if (!m) return { rows: [] };
    counted.push({ name: m[1], timeoutMs: timeout });
    if (m[1] === slow)
      throw Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
    return { rows: [{ n: '5' }] };
  };
  return { client: { query } as unknown as ClientBase, counted };
}

test('counts smallest tables first, each under the per-table cap; one slow table costs only its cap', async () => {
  const { client, counted } = fakeClient('huge');
  const tables = [
    table('huge', 100_000, 9e6),
    table('small', 1, 5),
    table('never', 3, -1),
    table('mid', 50, 400),
  ];
  const out = await countRows(client, tables, { budgetMs: 60_000, perTableMs: 2_000 });
  expect(counted.map((c) => c.name)).toEqual(['small', 'never', 'mid', 'huge']);
  expect(counted.every((c) => c.timeoutMs <= 2_000)).toBe(true);
  const by = Object.fromEntries(out.map((t) => [t.name, t]));
  expect(by.huge).toMatchObject({ count: 'estimated', exact: false, rows: 9e6 });
  expect(by.small).toMatchObject({ count: 'exact', exact: true, rows: 5 });
  expect(by.never).toMatchObject({ count: 'exact', rows: 5 });
  expect(out.map((t) => t.name)).toEqual(['huge', 'small', 'never', 'mid']); // input order kept
});

describe('judgeRestoredRows', () => {
  test('exact counts must be equal', () => {
    expect(judgeRestoredRows({ rows: 5, exact: true }, 5)).toMatchObject({ ok: true, status: 'ok' });
    expect(judgeRestoredRows({ rows: 5, exact: true }, 4)).toMatchObject({ ok: false, detail: '-1 rows' });
  });
  test('an estimated table restored empty fails; within tolerance passes, outside fails', () => {
    expect(judgeRestoredRows({ rows: 1000, exact: false }, 0)).toMatchObject({
      ok: false,
      status: 'mismatch',
    });
    expect(judgeRestoredRows({ rows: 1000, exact: false, count: 'estimated' }, 900)).toMatchObject({
      ok: true,
      status: 'estimated',
    });
    expect(judgeRestoredRows({ rows: 1000, exact: false }, 100, { estimateTolerance: 2 })).toMatchObject({
      ok: false,
    });
    expect(judgeRestoredRows({ rows: 0, exact: false }, 0)).toMatchObject({ ok: true });
  });
  test('unknown passes and says why; a filtered count is a lower bound', () => {
    expect(judgeRestoredRows({ rows: 0, exact: false, count: 'unknown' }, 0)).toMatchObject({
      ok: true,
      status: 'unknown',
    });
    expect(judgeRestoredRows({ rows: 3, exact: true, rowsFiltered: true }, 10)).toMatchObject({ ok: true });
    expect(judgeRestoredRows({ rows: 3, exact: true, rowsFiltered: true }, 2)).toMatchObject({ ok: false });
  });
  test('older manifests (no count field) read as exact or estimated', () => {
    expect(rowCountOf({ exact: true })).toBe('exact');
    expect(rowCountOf({ exact: false })).toBe('estimated');
  });
});

describe('table labels', () => {
  test.each([
    [{ schema: 'shop', name: 'orders' }, 'shop.orders'],
    [{ schema: 'Mixed Case', name: 'Audit Log' }, 'Mixed Case.Audit Log'],
    [{ schema: 'a.b', name: 'c' }, '"a.b".c'],
    [{ schema: 'a', name: 'b.c' }, 'a."b.c"'],
    [{ schema: 'x', name: 'q"; DROP TABLE t;--' }, 'x."q""; DROP TABLE t;--"'],
  ])('%j is labelled %s and reads back', (t, label) => {
    expect(tableLabel(t)).toBe(label);
    expect(parseTableLabel(label)).toEqual(t);
  });
  test('an old unquoted label with several dots splits at the first, as before', () => {
    expect(parseTableLabel('shop.orders.2026')).toEqual({ schema: 'shop', name: 'orders.2026' });
    expect(() => parseTableLabel('nodot')).toThrow(/not schema.name/);
    expect(() => parseTableLabel('"open.x')).toThrow(/unterminated/);
  });
});
