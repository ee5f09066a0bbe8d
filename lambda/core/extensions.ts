/**
 * The one rule for tables that belong to an extension, used by the inventory (what the manifest
 * lists and counts), verify (which TOC entries the archive must hold) and the drill checks:
 *
 * - An extension *member* table (pg_depend deptype 'e' on the extension) is made by
 *   `CREATE EXTENSION`; pg_dump writes no entry for it, so it is left out of the inventory.
 * - A member that is also an extension *configuration* table (`pg_extension.extconfig`, set by
 *   `pg_extension_config_dump`, e.g. PostGIS `spatial_ref_sys`, pg_cron's `cron.job`) gets a
 *   TABLE DATA entry but no TABLE entry: pg_dump dumps only the rows the extension's filter
 *   (`pg_extension.extcondition`) selects — the user's rows — whenever the table's schema is in
 *   scope. Its row count is the count under that same filter, so source and restore compare the
 *   rows the archive actually carries, whatever rows the installed extension version ships.
 * - Every other table gets TABLE, and TABLE DATA unless it is a partitioned parent.
 *
 * The filter is catalog text that only a superuser (an extension script) can set; it is spliced
 * into the count exactly as pg_dump splices it into its `COPY (SELECT ...)`.
 * @see https://www.postgresql.org/docs/current/extend-extensions.html#EXTEND-EXTENSIONS-CONFIG-TABLES
 * @see https://github.com/postgres/postgres/blob/master/src/bin/pg_dump/pg_dump.c (processExtensionTables)
 */
import type { ClientBase } from 'pg';

/** SQL: the name of the extension that owns the pg_class row `alias`, or NULL. */
export const extensionOwnerSql = (alias: string): string =>
  `(SELECT e.extname FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
     WHERE d.classid = 'pg_class'::regclass AND d.objid = ${alias}.oid
       AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' LIMIT 1)`;

/** SQL: the extension filter of configuration table `alias` ('' = every row), or NULL when it is none. */
export const extensionConfigFilterSql = (alias: string): string =>
  `(SELECT coalesce(e.extcondition[array_position(e.extconfig, ${alias}.oid)], '')
     FROM pg_extension e WHERE ${alias}.oid = ANY(e.extconfig) LIMIT 1)`;

/**
 * SQL predicate: the pg_class row `alias` belongs in a backup's inventory — not an extension
 * member, or a member that is one of its extension's configuration tables.
 */
export const inInventorySql = (alias: string): string =>
  `(${extensionOwnerSql(alias)} IS NULL OR ${extensionConfigFilterSql(alias)} IS NOT NULL)`;

/** What decides a table's TOC entries. */
export interface TableOwnership {
  /** `r` ordinary, `p` partitioned parent. */
  readonly kind: 'r' | 'p';
  /** Owning extension, set only for extension configuration tables. */
  readonly extension?: string;
}

/** The TOC entries pg_dump writes for a table in the inventory. */
export function expectedTocEntries(t: TableOwnership): ('TABLE' | 'TABLE DATA')[] {
  if (t.extension !== undefined) return ['TABLE DATA'];
  return t.kind === 'r' ? ['TABLE', 'TABLE DATA'] : ['TABLE'];
}

export interface ExtensionInfo {
  readonly name: string;
  readonly version: string;
  readonly schema: string;
}

/** Installed extensions (plpgsql too: it is what a target must offer), by name. */
export async function listExtensions(client: ClientBase): Promise<ExtensionInfo[]> {
  const { rows } = await client.query<{ name: string; version: string; schema: string }>(
    `SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
     FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace ORDER BY e.extname`,
  );
  return rows.map((r) => ({ name: r.name, version: r.version, schema: r.schema }));
}
