/**
 * Schemas the target platform provides (presets.ts `platformSchemas`: Supabase's `auth` and
 * `storage`). The backup holds them whole, definitions and rows. Into a target that already has
 * one (a Supabase project, whose platform made it and migrates it), only its rows are restored:
 * re-creating the platform's tables, functions and policies would fail on the first that exists,
 * and would fight the platform's own migrations if it did not. Into a target without it (a plain
 * or RDS drill instance), it is restored whole, so the user's foreign keys to `auth.users` hold.
 *
 * Objects elsewhere that depend on a platform schema's objects (a foreign key from
 * `public.profiles` to `auth.users`) are restored either way: the platform's own objects satisfy
 * them.
 */
import type { ClientBase } from 'pg';
import type { TocEntry } from './archive-toc';
import { entryName, type LeftOutEntry } from './restore-extensions';

/** Entries that carry a platform schema's rows: restored into the platform's tables. */
const DATA_ENTRIES = new Set(['TABLE DATA', 'SEQUENCE SET']);

export interface PlatformSchemasResult {
  /** Per platform schema the archive holds: restored whole, or only its data into the target's. */
  readonly schemas: readonly { readonly schema: string; readonly restored: 'whole' | 'data-only' }[];
  /** Definitions left out because the target provides them. */
  readonly leftOut: readonly LeftOutEntry[];
}

/** What to leave out of `entries` for the platform schemas `targetSchemas` already has. */
export function planPlatformSchemas(
  entries: readonly TocEntry[],
  platformSchemas: readonly string[],
  targetSchemas: ReadonlySet<string>,
): PlatformSchemasResult {
  const archived = new Set(
    entries.flatMap((e) => (e.desc === 'SCHEMA' ? [e.tag] : e.namespace !== undefined ? [e.namespace] : [])),
  );
  const schemas = platformSchemas
    .filter((s) => archived.has(s))
    .map((schema) => ({
      schema,
      restored: targetSchemas.has(schema) ? ('data-only' as const) : ('whole' as const),
    }));
  const provided = new Set(schemas.filter((s) => s.restored === 'data-only').map((s) => s.schema));
  const leftOut: LeftOutEntry[] = [];
  for (const e of entries) {
    const schema =
      e.desc === 'SCHEMA'
        ? e.tag
        : e.namespace === undefined &&
            (e.desc === 'COMMENT' || e.desc === 'ACL') &&
            e.tag.startsWith('SCHEMA ')
          ? e.tag.slice('SCHEMA '.length)
          : e.namespace;
    if (schema === undefined || !provided.has(schema) || DATA_ENTRIES.has(e.desc)) continue;
    leftOut.push({
      dumpId: e.dumpId,
      entry: entryName(e),
      reason: `schema ${schema} is provided by the target platform: only its data is restored`,
    });
  }
  return { schemas, leftOut };
}

/** The TABLE DATA entries of the platform schemas restored data-only: loaded before everything else. */
export function platformDataEntries(entries: readonly TocEntry[], result: PlatformSchemasResult): TocEntry[] {
  const provided = new Set(result.schemas.filter((s) => s.restored === 'data-only').map((s) => s.schema));
  return entries.filter(
    (e) => e.desc === 'TABLE DATA' && e.namespace !== undefined && provided.has(e.namespace),
  );
}

/**
 * Orders TABLE DATA entries so that a table comes after the tables its foreign keys in the
 * *target* reference: the platform's tables keep their constraints while the rows go in (a
 * non-superuser cannot switch them off), so `storage.objects` must follow `storage.buckets` and
 * `auth.identities` must follow `auth.users`. Tables in a cycle keep the archive's order.
 */
export async function orderByForeignKeys(client: ClientBase, data: readonly TocEntry[]): Promise<TocEntry[]> {
  const label = (schema: string, name: string) => `${schema}\u0000${name}`;
  const { rows } = await client.query<{ fs: string; fn: string; ts: string; tn: string }>(
    `SELECT fn.nspname AS fs, f.relname AS fn, tn.nspname AS ts, t.relname AS tn
       FROM pg_constraint k
       JOIN pg_class f ON f.oid = k.conrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
       JOIN pg_class t ON t.oid = k.confrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
      WHERE k.contype = 'f' AND k.conrelid <> k.confrelid`,
  );
  const needs = new Map<string, Set<string>>();
  for (const r of rows) {
    const from = label(r.fs, r.fn);
    if (!needs.has(from)) needs.set(from, new Set());
    needs.get(from)!.add(label(r.ts, r.tn));
  }
  const pending = new Map(data.map((e) => [label(e.namespace!, e.tag), e]));
  const ordered: TocEntry[] = [];
  while (pending.size > 0) {
    const ready = [...pending].filter(
      ([key]) => ![...(needs.get(key) ?? [])].some((dep) => pending.has(dep)),
    );
    // A cycle: take the rest in the archive's order.
    const batch = ready.length > 0 ? ready : [...pending];
    for (const [key, e] of batch) {
      ordered.push(e);
      pending.delete(key);
    }
  }
  return ordered;
}
