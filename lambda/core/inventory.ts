/**
 * What a database holds, read from the catalog: the tables a backup carries (with their
 * row-level-security flags, size and extension ownership) and counts of catalog objects. The dump
 * records it in the manifest; the drill reads it again from the restored copy and compares. Both
 * sides use these same queries so the comparison is like with like. Row counts are in
 * row-counts.ts, the extension rule in extensions.ts (countRows is re-exported here for callers
 * that import it from the inventory).
 *
 * Identifiers are only ever taken from the catalog and quoted here; nothing from input is spliced
 * into SQL.
 */
import type { ClientBase } from 'pg';
import { extensionConfigFilterSql, extensionOwnerSql, inInventorySql } from './extensions';
import type { CatalogCounts } from './manifest';

export { countRows, type CountOptions } from './row-counts';

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
export const IN_SCOPE = `
  n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND (cardinality($1::text[]) = 0 OR n.nspname = ANY($1::text[]))
  AND NOT (n.nspname = ANY($2::text[]))`;

export const scopeParams = (scope: SchemaScope) => [scope.include ?? [], scope.exclude ?? []];

export interface TableInfo {
  readonly schema: string;
  readonly name: string;
  readonly kind: 'r' | 'p';
  readonly rowSecurity: boolean;
  readonly forceRowSecurity: boolean;
  /** Planner estimate (`reltuples`); -1 when never analysed (PostgreSQL 14+). */
  readonly estimate: number;
  /** For partitioned parents: their leaf partitions, as `schema.name` display labels (ambiguous with dots; see leafTables). */
  readonly leaves: readonly string[];
  /** For partitioned parents: their leaf partitions. */
  readonly leafTables?: readonly { readonly schema: string; readonly name: string }[];
  /** `pg_class.relpages` (a catalog read, no lock): counting goes smallest first. */
  readonly pages?: number;
  /** Owning extension, for extension configuration tables (see extensions.ts). */
  readonly extension?: string;
  /** The extension's row filter for a configuration table (`WHERE ...`, or '' for every row). */
  readonly extensionFilter?: string;
}

/**
 * The tables a backup of `scope` carries: ordinary tables, partitioned parents and extension
 * configuration tables; extension members that CREATE EXTENSION makes are left out (extensions.ts).
 * Reads only the catalog. pg_partition_tree takes ACCESS SHARE on partitions, so callers that
 * care (the dump) run this in a session that ends before pg_dump starts.
 */
export async function listTables(client: ClientBase, scope: SchemaScope = {}): Promise<TableInfo[]> {
  const { rows } = await client.query<{
    schema: string;
    name: string;
    kind: 'r' | 'p';
    rowsecurity: boolean;
    forcerowsecurity: boolean;
    estimate: string;
    pages: number;
    leaves: { schema: string; name: string }[] | null;
    extension: string | null;
    filter: string | null;
  }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind,
            c.relrowsecurity AS rowsecurity, c.relforcerowsecurity AS forcerowsecurity,
            c.reltuples::bigint::text AS estimate, c.relpages AS pages,
            CASE WHEN c.relkind = 'p' THEN (
              SELECT json_agg(json_build_object('schema', ln.nspname, 'name', lc.relname)
                              ORDER BY ln.nspname, lc.relname)
              FROM pg_partition_tree(c.oid) t
              JOIN pg_class lc ON lc.oid = t.relid
              JOIN pg_namespace ln ON ln.oid = lc.relnamespace
              WHERE t.isleaf) END AS leaves,
            ${extensionOwnerSql('c')} AS extension,
            ${extensionConfigFilterSql('c')} AS filter
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND ${IN_SCOPE} AND ${inInventorySql('c')}
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
    pages: Number(r.pages),
    leaves: (r.leaves ?? []).map((l) => `${l.schema}.${l.name}`),
    leafTables: r.leaves ?? [],
    ...(r.extension !== null && r.filter !== null
      ? { extension: r.extension, extensionFilter: r.filter }
      : {}),
  }));
}

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
