/**
 * What a database holds, read from the catalog: tables with their row-level-security flags, exact
 * row counts, and counts of catalog objects. The dump records it in the manifest; the drill reads
 * it again from the restored copy and compares. Both sides use these same queries so the
 * comparison is like with like.
 *
 * Identifiers are only ever taken from the catalog and quoted here; nothing from input is spliced
 * into SQL.
 */
// @ts-nocheck

import type { ClientBase } from 'pg';
import type { CatalogCounts, TableEntry } from './manifest';

export interface SchemaScope {
  /** Only these schemas (exact names). @default - every non-system schema */
  readonly include?: readonly string[];
  /** Never these schemas (exact names). @default - none */
  readonly exclude?: readonly string[];
}

/** Quotes an identifier the way PostgreSQL's quote_ident does: always, doubling inner quotes. */
export function quoteIdent(identifier: string): string {
  if (identifier.includes('\0')) throw new Error('identifier contains a NUL byte');
  return `"${identifier.replace(/"/g, '""')}"`;
}

/**
 * pg_dump / pg_restore `-n` / `-N` arguments for exact schema names. Double quotes make pg_dump
 * match the name literally (no case folding, no `*`/`?` wildcards).
 * @see https://www.postgresql.org/docs/current/app-psql.html#APP-PSQL-PATTERNS
 */
export function schemaArgs(scope: SchemaScope): string[] {
  return [
    ...(scope.include ?? []).map((s) => `--schema=${quoteIdent(s)}`),
    ...(scope.exclude ?? []).map((s) => `--exclude-schema=${quoteIdent(s)}`),
  ];
}

/** SQL predicate on a `pg_namespace` alias `n`, with the scope passed as $1 (include) and $2 (exclude). */
const IN_SCOPE = `
  n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND (cardinality($1::text[]) = 0 OR n.nspname = ANY($1::text[]))
  AND NOT (n.nspname = ANY($2::text[]))`;

const scopeParams = (scope: SchemaScope) => [scope.include ?? [], scope.exclude ?? []];

export interface TableInfo {
  readonly schema: string;
  readonly name: string;
  readonly kind: 'r' | 'p';
  readonly rowSecurity: boolean;
  readonly forceRowSecurity: boolean;
  /** Planner estimate (`reltuples`); -1 when never analysed. */
  readonly estimate: number;
  /** For partitioned parents: their leaf partitions, as `schema.name` labels. */
  readonly leaves: readonly string[];
}

export async function listTables(client: ClientBase, scope: SchemaScope = {}): Promise<TableInfo[]> {
  const { rows } = await client.query<{
    schema: string;
    name: string;
    kind: 'r' | 'p';
    rowsecurity: boolean;
    forcerowsecurity: boolean;
    estimate: string;
    leaves: string[] | null;
  }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind,
            c.relrowsecurity AS rowsecurity, c.relforcerowsecurity AS forcerowsecurity,
            c.reltuples::bigint::text AS estimate,
            CASE WHEN c.relkind = 'p' THEN (
              SELECT array_agg(ln.nspname || '.' || lc.relname ORDER BY ln.nspname, lc.relname)
              FROM pg_partition_tree(c.oid) t
              JOIN pg_class lc ON lc.oid = t.relid
              JOIN pg_namespace ln ON ln.oid = lc.relnamespace
              WHERE t.isleaf) END AS leaves
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND ${IN_SCOPE}
     ORDER BY n.nspname, c.relname`,
    scopeParams(scope),
  );
  return rows.map((r) => ({
    schema: r.schema,
    name: r.name,
    kind: r.kind,
    rowSecurity: r.rowsecurity,
    forceRowSecurity: r.forcerowsecurity,
    estimate: Number(r.estimate),
    leaves: r.leaves ?? [],
  }));
}

export interface CountOptions {
  /**
   * Time allowed for exact counts, in milliseconds; tables not counted in time get the planner
   * estimate, marked `exact: false`. @default - no limit
   */
  readonly budgetMs?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

/**
 * Row counts per table. Must run inside the transaction whose snapshot the dump uses; each count
 * runs under a savepoint with a statement timeout so an over-budget table falls back to its estimate
 * without aborting that transaction (and with it the exported snapshot).
 * Partitioned parents get the sum of their leaves, so no row is counted twice.
 */
export async function countRows(
  client: ClientBase,
  tables: readonly TableInfo[],
  options: CountOptions = {},
): Promise<TableEntry[]> {
  const now = options.now ?? Date.now;
  const deadline = options.budgetMs === undefined ? Infinity : now() + options.budgetMs;
  const counted = new Map<string, { rows: number; exact: boolean }>();
  for (const t of tables) {
    if (t.kind !== 'r') continue;
    const label = `${t.schema}.${t.name}`;
    const remaining = deadline - now();
    if (remaining <= 0) {
      counted.set(label, { rows: Math.max(0, t.estimate), exact: false });
      continue;
    }
    await client.query('SAVEPOINT restorable_count');
    try {
      if (Number.isFinite(remaining)) {
        await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(remaining))}`);
      }
      const { rows } = await client.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM ONLY ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`,
      );
      counted.set(label, { rows: Number(rows[0].n), exact: true });
      await client.query('RELEASE SAVEPOINT restorable_count');
    } catch (e) {
      await client.query('ROLLBACK TO SAVEPOINT restorable_count');
      if ((e as { code?: string }).code !== '57014') throw e; // 57014: statement timeout
      counted.set(label, { rows: Math.max(0, t.estimate), exact: false });
    }
  }
  return tables.map((t) => {
    if (t.kind === 'r') {
      const c = counted.get(`${t.schema}.${t.name}`)!;
      return base(t, c.rows, c.exact);
    }
    const parts = t.leaves.map((l) => counted.get(l)).filter((c) => c !== undefined);
    return base(
      t,
      parts.reduce((sum, c) => sum + c.rows, 0),
      parts.every((c) => c.exact),
    );
  });
}

const base = (t: TableInfo, rows: number, exact: boolean): TableEntry => ({
  schema: t.schema,
  name: t.name,
  rows,
  exact,
  rowSecurity: t.rowSecurity,
  forceRowSecurity: t.forceRowSecurity,
  kind: t.kind,
});

/** Counts of catalog objects in scope; extension members are left out (CREATE EXTENSION makes them). */
export async function catalogCounts(client: ClientBase, scope: SchemaScope = {}): Promise<CatalogCounts> {
  const notExtensionMember = (catalog: string, alias: string) =>
    `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${alias}.oid AND d.deptype = 'e')`;
  const { rows } = await client.query<Record<keyof CatalogCounts, string>>(
    `SELECT
      (SELECT count(*) FROM pg_namespace n WHERE ${IN_SCOPE} AND ${notExtensionMember('pg_namespace', 'n')}) AS schemas,
      (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND ${IN_SCOPE} AND ${notExtensionMember('pg_class', 'c')}) AS tables,
      (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'v' AND ${IN_SCOPE} AND ${notExtensionMember('pg_class', 'c')}) AS views,
      (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'm' AND ${IN_SCOPE} AND ${notExtensionMember('pg_class', 'c')}) AS "materializedViews",
      (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('i', 'I') AND ${IN_SCOPE} AND ${notExtensionMember('pg_class', 'c')}) AS indexes,
      (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'S' AND ${IN_SCOPE} AND ${notExtensionMember('pg_class', 'c')}) AS sequences,
      (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE ${IN_SCOPE} AND ${notExtensionMember('pg_proc', 'p')}) AS functions,
      (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND ${IN_SCOPE}) AS triggers,
      (SELECT count(*) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${IN_SCOPE}) AS policies,
      (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE (t.typtype IN ('e', 'd', 'r', 'm')
               OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
          AND ${IN_SCOPE} AND ${notExtensionMember('pg_type', 't')}) AS types`,
    scopeParams(scope),
  );
  const r = rows[0];
  return {
    schemas: Number(r.schemas),
    tables: Number(r.tables),
    views: Number(r.views),
    materializedViews: Number(r.materializedViews),
    functions: Number(r.functions),
    triggers: Number(r.triggers),
    policies: Number(r.policies),
    indexes: Number(r.indexes),
    sequences: Number(r.sequences),
    types: Number(r.types),
  };
}
