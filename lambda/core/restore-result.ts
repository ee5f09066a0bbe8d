/**
 * The parts of a restore's result that are computed rather than run: row counts of what was
 * restored against the manifest, which entries need their owner to be usable, and the next steps
 * printed after a table restore beside the live table.
 */
import type { ClientBase } from 'pg';
import type { TocEntry } from './archive-toc';
import { countRows, listTables, quoteIdent } from './inventory';
import type { Manifest } from './manifest';
import { catalogKey, type TableRef } from './restore-plan';
import type { SideRestore } from './restore-table-side';

export interface RestoredTable {
  readonly schema: string;
  readonly name: string;
  /** Rows in the manifest, or null when the manifest does not list the table. */
  readonly expected: number | null;
  /** Whether the manifest count was exact (false: planner estimate). */
  readonly expectedExact: boolean;
  /** Rows counted after the restore, or null when not counted or missing. */
  readonly restored: number | null;
}

/**
 * Entries for which pg_restore issues no ALTER … OWNER (data, and what hangs off an object it
 * owns), so their owner need not be a role the restorer can act as. The data of an extension's
 * configuration table (PostGIS spatial_ref_sys) is owned by whoever created the extension.
 */
export const NO_OWNER_CHANGE = new Set([
  'TABLE DATA',
  'SEQUENCE SET',
  'BLOBS',
  'LARGE OBJECTS',
  'COMMENT',
  'SECURITY LABEL',
  'CONSTRAINT',
  'CHECK CONSTRAINT',
  'FK CONSTRAINT',
  'INDEX',
  'INDEX ATTACH',
  'TRIGGER',
  'POLICY',
  'ROW SECURITY',
  'DEFAULT',
  'SEQUENCE OWNED BY',
  'ENCODING',
  'STDSTRINGS',
  'SEARCHPATH',
  'DATABASE',
  'DATABASE PROPERTIES',
]);

/** How to compare a copy with the live table, swap it in, and clean up (SQL the operator can paste). */
export function besideNextSteps(beside: SideRestore): string[] {
  const q = (t: TableRef) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
  return [
    ...beside.tables.map(
      (t) =>
        `compare: SELECT (SELECT count(*) FROM ${q(t.copy)}) AS restored, (SELECT count(*) FROM ${q(t.live)}) AS live; ` +
        `rows only in the backup: TABLE ${q(t.copy)} EXCEPT TABLE ${q(t.live)}`,
    ),
    `swap in one transaction: the same restore with --replace (re-creates dependent views and foreign keys, or refuses)`,
    `clean up when done: DROP SCHEMA ${quoteIdent(beside.schema)} CASCADE`,
  ];
}

export const entryLabel = (e: TocEntry) => `${e.desc} ${e.namespace ? `${e.namespace}.` : ''}${e.tag}`;

export function withExpected(manifest: Manifest, t: TableRef, restored: number | null): RestoredTable {
  const m = manifest.tables.find((x) => x.schema === t.schema && x.name === t.name);
  return {
    schema: t.schema,
    name: t.name,
    expected: m ? m.rows : null,
    expectedExact: m ? m.exact : false,
    restored,
  };
}

/** Exact counts of the restored tables in one read-only snapshot; partitioned parents sum their leaves. */
export async function countRestored(
  client: ClientBase,
  manifest: Manifest,
  restored: readonly TableRef[],
): Promise<RestoredTable[]> {
  const schemas = [...new Set(restored.map((t) => t.schema))];
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const all = await listTables(client, { include: schemas });
    const wanted = new Set(restored.map((t) => catalogKey(t.schema, t.name)));
    const selected = all.filter((t) => wanted.has(catalogKey(t.schema, t.name)));
    const leaves = new Set(selected.flatMap((t) => t.leaves));
    const toCount = all.filter(
      (t) => wanted.has(catalogKey(t.schema, t.name)) || leaves.has(`${t.schema}.${t.name}`),
    );
    const counted = await countRows(client, toCount);
    return restored.map((t) => {
      const c = counted.find((x) => x.schema === t.schema && x.name === t.name);
      return withExpected(manifest, t, c ? c.rows : null);
    });
  } finally {
    await client.query('COMMIT');
  }
}
