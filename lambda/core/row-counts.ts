/**
 * Row counts per table, and how a restored count is judged against a manifest count.
 *
 * Counting is built so that it cannot make a check pass falsely:
 * - smallest tables first (`relpages`, a catalog read that takes no lock), each under a per-table
 *   cap, so one huge table costs at most its cap instead of turning every later table into an
 *   estimate;
 * - a table over its cap, over the budget, or whose lock did not come within `lock_timeout` gets
 *   the planner estimate, marked `estimated`; a never-analysed table (`reltuples = -1`,
 *   PostgreSQL 14+) is `unknown`, never 0;
 * - every count runs with `row_security = off` (as pg_dump does), which counts every row for a
 *   table owner, superuser or BYPASSRLS role and errors for anyone else; then the count is taken
 *   with row security on and marked `rowsFiltered` (a lower bound). FORCE RLS tables are handled
 *   the same way: an owner without BYPASSRLS cannot turn it off.
 * Extension configuration tables are counted under their extension's filter (extensions.ts).
 * Partitioned parents get the sum of their leaves, so no row is counted twice.
 */
import type { ClientBase } from 'pg';
// quoteIdent is only called at count time, so the inventory ↔ row-counts import cycle is harmless.
import { quoteIdent, type TableInfo } from './inventory';
import { rowCountOf, type TableEntry } from './manifest';

export interface CountOptions {
  /**
   * Time allowed for all exact counts, in milliseconds; tables not counted in time get the planner
   * estimate, marked `exact: false`. @default - no limit
   */
  readonly budgetMs?: number;
  /** Longest one table's count may take, in milliseconds. @default - the budget */
  readonly perTableMs?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
  /**
   * Commit and begin a new `REPEATABLE READ READ ONLY` transaction after this many tables, so the
   * locks of counted tables are released: one transaction over thousands of tables (and their
   * indexes) exhausts the server's lock table (max_locks_per_transaction × max_connections).
   * Only for a database without writers (the drill's restored copy): the counts then come from
   * several snapshots. The caller must have opened the first transaction.
   * @default - one transaction (the dump: every count in the exported snapshot)
   */
  readonly commitEvery?: number;
}

type CountKind = 'exact' | 'estimated' | 'unknown';
interface Counted {
  rows: number;
  count: CountKind;
  filtered: boolean;
}

const keyOf = (t: { schema: string; name: string }) => `${t.schema}\u0000${t.name}`;
const STATEMENT_TIMEOUT = '57014';
const LOCK_NOT_AVAILABLE = '55P03';
/** "query would be affected by row-level security policy" under row_security = off. */
const INSUFFICIENT_PRIVILEGE = '42501';

function estimateOf(t: TableInfo): Counted {
  return t.estimate < 0
    ? { rows: 0, count: 'unknown', filtered: false }
    : { rows: t.estimate, count: 'estimated', filtered: false };
}

/**
 * Row counts per table. Must run inside the transaction whose snapshot the dump uses; each count
 * runs under a savepoint so a table over its time falls back to its estimate without aborting
 * that transaction (and with it the imported snapshot).
 */
export async function countRows(
  client: ClientBase,
  tables: readonly TableInfo[],
  options: CountOptions = {},
): Promise<TableEntry[]> {
  const now = options.now ?? Date.now;
  const deadline = options.budgetMs === undefined ? Infinity : now() + options.budgetMs;
  const cap = options.perTableMs ?? Infinity;
  const counted = new Map<string, Counted>();
  const order = tables
    .filter((t) => t.kind === 'r')
    .sort(
      (a, b) =>
        (a.pages ?? 0) - (b.pages ?? 0) || a.schema.localeCompare(b.schema) || a.name.localeCompare(b.name),
    );
  let inTransaction = 0;
  for (const t of order) {
    if (options.commitEvery !== undefined && inTransaction >= options.commitEvery) {
      await client.query('COMMIT');
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      inTransaction = 0;
    }
    inTransaction++;
    const remaining = Math.min(deadline - now(), cap);
    if (remaining <= 0) {
      counted.set(keyOf(t), estimateOf(t));
      continue;
    }
    counted.set(keyOf(t), await countOne(client, t, remaining));
  }
  return tables.map((t) => {
    if (t.kind === 'r') return entry(t, counted.get(keyOf(t))!);
    const leaves = t.leafTables ?? t.leaves.map(splitLegacyLeaf);
    const parts = leaves.map((l) => counted.get(keyOf(l))).filter((c) => c !== undefined);
    const worst: CountKind = parts.some((c) => c.count === 'unknown')
      ? 'unknown'
      : parts.some((c) => c.count === 'estimated')
        ? 'estimated'
        : 'exact';
    return entry(t, {
      rows: parts.reduce((sum, c) => sum + c.rows, 0),
      count: worst,
      filtered: parts.some((c) => c.filtered),
    });
  });
}

/** Leaves from a TableInfo made before leafTables existed: `schema.name`, split at the first dot. */
function splitLegacyLeaf(label: string): { schema: string; name: string } {
  const dot = label.indexOf('.');
  return { schema: label.slice(0, dot), name: label.slice(dot + 1) };
}

async function countOne(client: ClientBase, t: TableInfo, timeoutMs: number): Promise<Counted> {
  // The extension filter is catalog text (see extensions.ts), spliced as pg_dump splices it.
  const sql = `SELECT count(*)::text AS n FROM ONLY ${quoteIdent(t.schema)}.${quoteIdent(t.name)} ${t.extensionFilter ?? ''}`;
  for (const rowSecurity of ['off', 'on'] as const) {
    await client.query('SAVEPOINT restorable_count');
    try {
      if (Number.isFinite(timeoutMs)) {
        await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
      }
      await client.query(`SET LOCAL row_security = ${rowSecurity}`);
      const { rows } = await client.query<{ n: string }>(sql);
      await client.query('RELEASE SAVEPOINT restorable_count');
      return { rows: Number(rows[0].n), count: 'exact', filtered: rowSecurity === 'on' };
    } catch (e) {
      await client.query('ROLLBACK TO SAVEPOINT restorable_count');
      const code = (e as { code?: string }).code;
      if (code === STATEMENT_TIMEOUT || code === LOCK_NOT_AVAILABLE) return estimateOf(t);
      if (code === INSUFFICIENT_PRIVILEGE && rowSecurity === 'off') continue;
      throw e;
    }
  }
  throw new Error('unreachable');
}

const entry = (t: TableInfo, c: Counted): TableEntry => ({
  schema: t.schema,
  name: t.name,
  rows: c.rows,
  exact: c.count === 'exact',
  count: c.count,
  ...(c.filtered ? { rowsFiltered: true as const } : {}),
  rowSecurity: t.rowSecurity,
  forceRowSecurity: t.forceRowSecurity,
  kind: t.kind,
  ...(t.extension !== undefined ? { extension: t.extension } : {}),
});

export interface RowJudgement {
  readonly ok: boolean;
  /** `ok` equal; `mismatch` differs; `estimated` not exact but plausible; `unknown` nothing to compare. */
  readonly status: 'ok' | 'mismatch' | 'estimated' | 'unknown';
  readonly detail?: string;
}

export interface JudgeOptions {
  /**
   * For estimated counts: the restored count must lie within [estimate / f, estimate × f].
   * @default - only "restored empty although estimated non-empty" fails
   */
  readonly estimateTolerance?: number;
}

/**
 * Judges a restored table's count against its manifest entry, for the drill's row checks:
 * - exact: equal (a `rowsFiltered` count is a lower bound: at least that many);
 * - estimated: fails when the table came back empty but the estimate was not 0, or outside the
 *   stated tolerance;
 * - unknown (never analysed at dump time): passes, and says so.
 */
export function judgeRestoredRows(
  expected: Pick<TableEntry, 'rows' | 'exact' | 'count' | 'rowsFiltered'>,
  restored: number,
  options: JudgeOptions = {},
): RowJudgement {
  const kind = rowCountOf(expected);
  if (kind === 'exact') {
    if (expected.rowsFiltered) {
      return restored >= expected.rows
        ? {
            ok: true,
            status: 'ok',
            detail: 'manifest count was filtered by row-level security (a lower bound)',
          }
        : {
            ok: false,
            status: 'mismatch',
            detail: `${restored} rows, fewer than the ${expected.rows} visible at dump time`,
          };
    }
    return restored === expected.rows
      ? { ok: true, status: 'ok' }
      : {
          ok: false,
          status: 'mismatch',
          detail: `${restored - expected.rows > 0 ? '+' : ''}${restored - expected.rows} rows`,
        };
  }
  if (kind === 'unknown') {
    return { ok: true, status: 'unknown', detail: 'never analysed at dump time: no count to compare' };
  }
  if (restored === 0 && expected.rows > 0) {
    return {
      ok: false,
      status: 'mismatch',
      detail: `restored empty, estimated ${expected.rows} rows at dump time`,
    };
  }
  const f = options.estimateTolerance;
  if (
    f !== undefined &&
    f >= 1 &&
    expected.rows > 0 &&
    (restored < expected.rows / f || restored > expected.rows * f)
  ) {
    return {
      ok: false,
      status: 'mismatch',
      detail: `${restored} rows, outside ×${f} of the ${expected.rows}-row estimate`,
    };
  }
  return { ok: true, status: 'estimated', detail: `manifest count is an estimate (${expected.rows})` };
}
