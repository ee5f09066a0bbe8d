/**
 * Which archive entries a table-level restore (`restore --table schema.name`) runs.
 *
 * `pg_restore -t name` matches table names only, in every schema, and restores neither the
 * table's indexes, constraints, triggers nor its sequences. Instead we select entries from the
 * archive's table of contents (archive-toc.ts) by exact schema and name and hand pg_restore a
 * `--use-list`. What a table restore brings back, decided here:
 *
 * - the table definition and its data; for a partitioned table, every partition (recursively)
 *   with its data and the `ATTACH PARTITION`;
 * - everything that belongs to the table alone: column defaults, primary key / unique / check
 *   constraints, indexes, triggers, row-level security and policies, rules, comments, extended
 *   statistics, ACLs (only when privileges are restored), and its owned sequences (serial and
 *   identity) with their current values, so new rows do not collide with restored ones;
 * - foreign keys only when the referenced table is restored too; a foreign key to a table
 *   outside the selection is skipped and reported (the target may not hold matching rows);
 * - prerequisites the target lacks (schema, enum/composite types, domains, functions used by
 *   defaults or triggers, free-standing sequences used by defaults, collations, extensions),
 *   found through the archive's dependency graph and the target's catalog. Prerequisites the
 *   target already has are left alone.
 *
 * Views, materialized views and other tables that merely depend on the selected table are not
 * restored.
 */
// @ts-nocheck

import type { ArchiveToc, TocEntry } from './archive-toc';

export interface TableRef {
  readonly schema: string;
  readonly name: string;
}

/** What already exists in the target, keyed by `key(namespace, name)`. */
export interface TargetCatalog {
  readonly schemas: ReadonlySet<string>;
  readonly relations: ReadonlySet<string>;
  readonly types: ReadonlySet<string>;
  /** `name(argtypes)` with types formatted as pg_dump does (search_path empty). */
  readonly functions: ReadonlySet<string>;
  readonly collations: ReadonlySet<string>;
  readonly extensions: ReadonlySet<string>;
}

export const catalogKey = (namespace: string | undefined, name: string): string =>
  `${namespace ?? ''}\u0000${name}`;

export interface SkippedEntry {
  readonly dumpId: number;
  readonly desc: string;
  readonly namespace?: string;
  readonly tag: string;
  readonly reason: string;
}

export interface TableRestorePlan {
  /** Entries to restore, in archive order (the order of the `--use-list`). */
  readonly entries: readonly TocEntry[];
  /** The tables restored: the requested ones plus partitions of requested partitioned tables. */
  readonly tables: readonly TableRef[];
  /** Prerequisites pulled in because the target lacks them. */
  readonly prerequisites: readonly TocEntry[];
  /** Entries belonging to the tables that are not restored, with why. */
  readonly skipped: readonly SkippedEntry[];
  /** Restored tables that already exist in the target. */
  readonly conflicts: readonly TableRef[];
}

/** Object kinds pulled in when the target lacks them. */
const PREREQUISITES = new Set([
  'SCHEMA',
  'TYPE',
  'SHELL TYPE',
  'DOMAIN',
  'FUNCTION',
  'PROCEDURE',
  'AGGREGATE',
  'SEQUENCE',
  'COLLATION',
  'EXTENSION',
]);

/** Entries restored with a table when everything they depend on is restored or present. */
const DEPENDENTS = new Set([
  'TABLE DATA',
  'DEFAULT',
  'CONSTRAINT',
  'CHECK CONSTRAINT',
  'FK CONSTRAINT',
  'INDEX',
  'INDEX ATTACH',
  'TRIGGER',
  'POLICY',
  'ROW SECURITY',
  'RULE',
  'COMMENT',
  'SECURITY LABEL',
  'STATISTICS',
  'SEQUENCE',
  'SEQUENCE OWNED BY',
  'SEQUENCE SET',
]);

const label = (e: { namespace?: string; tag: string }): string =>
  e.namespace ? `${e.namespace}.${e.tag}` : e.tag;

/** Parses `"Schema"."Table"` (SQL-quoted); undefined when the text is not in that form. */
function parseQuoted(text: string): TableRef | undefined {
  const m = /^"((?:[^"]|"")+)"\."((?:[^"]|"")+)"$/.exec(text);
  return m ? { schema: m[1].replace(/""/g, '"'), name: m[2].replace(/""/g, '"') } : undefined;
}

/**
 * Finds the TABLE entries for the requested tables. A request is `{ schema, name }`, the
 * SQL-quoted `"schema"."name"`, or plain `schema.name` matched against every split of the archive's
 * own names (so dots, spaces and quotes inside names work; a request matching two different
 * tables is refused as ambiguous). Throws naming every request that matches nothing.
 */
export function resolveTables(toc: ArchiveToc, requested: readonly (string | TableRef)[]): TocEntry[] {
  const tables = toc.entries.filter((e) => e.desc === 'TABLE' && e.namespace !== undefined);
  const found: TocEntry[] = [];
  const missing: string[] = [];
  for (const request of requested) {
    const ref = typeof request === 'string' ? parseQuoted(request) : request;
    const matches = ref
      ? tables.filter((t) => t.namespace === ref.schema && t.tag === ref.name)
      : tables.filter((t) => `${t.namespace}.${t.tag}` === request);
    const shown =
      typeof request === 'string' ? request : label({ namespace: request.schema, tag: request.name });
    if (matches.length === 0) missing.push(shown);
    else if (matches.length > 1) {
      throw new Error(
        `table "${shown}" is ambiguous: it matches ${matches.map((m) => `"${m.namespace}"."${m.tag}"`).join(' and ')}; ` +
          'name it as "schema"."table"',
      );
    } else if (!found.includes(matches[0])) found.push(matches[0]);
  }
  if (missing.length > 0) {
    throw new Error(
      `not in the archive: ${missing.map((m) => `"${m}"`).join(', ')} (tables are named schema.table)`,
    );
  }
  return found;
}

function existsInTarget(e: TocEntry, target: TargetCatalog): boolean {
  switch (e.desc) {
    case 'SCHEMA':
      return target.schemas.has(e.tag);
    case 'EXTENSION':
      return target.extensions.has(e.tag);
    case 'TYPE':
    case 'SHELL TYPE':
    case 'DOMAIN':
      return target.types.has(catalogKey(e.namespace, e.tag));
    case 'FUNCTION':
    case 'PROCEDURE':
    case 'AGGREGATE':
      return target.functions.has(catalogKey(e.namespace, e.tag));
    case 'SEQUENCE':
      return target.relations.has(catalogKey(e.namespace, e.tag));
    case 'COLLATION':
      return target.collations.has(catalogKey(e.namespace, e.tag));
    default:
      return false;
  }
}

export interface PlanOptions {
  /** Restore ACL entries (GRANTs). Only when the grantee roles exist in the target. */
  readonly privileges: boolean;
}

export function planTableRestore(
  toc: ArchiveToc,
  requested: readonly (string | TableRef)[],
  target: TargetCatalog,
  options: PlanOptions,
): TableRestorePlan {
  const byId = new Map(toc.entries.map((e) => [e.dumpId, e]));
  const core = new Set<number>(); // the tables and what hangs off them
  const pulled = new Set<number>(); // prerequisites the target lacks
  const present = new Set<number>(); // prerequisites the target already has

  const pull = (id: number): void => {
    if (core.has(id) || pulled.has(id) || present.has(id)) return;
    const d = byId.get(id);
    if (!d || !PREREQUISITES.has(d.desc)) return;
    if (existsInTarget(d, target)) {
      present.add(id);
      return;
    }
    pulled.add(id);
    d.dependencies.forEach(pull);
  };
  const addCore = (e: TocEntry): void => {
    core.add(e.dumpId);
    e.dependencies.forEach(pull);
  };

  for (const t of resolveTables(toc, requested)) addCore(t);

  /** Entries that only describe another object (its comment, grants, label). */
  const describes = (e: TocEntry) => e.desc === 'COMMENT' || e.desc === 'ACL' || e.desc === 'SECURITY LABEL';
  /**
   * Whether `e` hangs off something being restored: a restored table, or a pulled prerequisite
   * (its sequence value, its comment). A pulled schema anchors only its own comment and grants,
   * not every sequence that lives in it.
   */
  const anchoredBy = (e: TocEntry, id: number): boolean => {
    if (core.has(id)) return true;
    if (!pulled.has(id)) return false;
    const desc = byId.get(id)?.desc;
    return describes(e) || (desc !== 'SCHEMA' && desc !== 'EXTENSION');
  };
  /** The first dependency neither restored, present, nor pullable; undefined when all are fine. */
  const blocker = (e: TocEntry): TocEntry | undefined => {
    for (const id of e.dependencies) {
      if (core.has(id) || pulled.has(id) || present.has(id)) continue;
      const d = byId.get(id);
      if (!d || PREREQUISITES.has(d.desc)) continue;
      if (d.desc === 'ACL') continue; // column ACLs also depend on the table's ACL, for ordering only
      return d;
    }
    return undefined;
  };
  const wanted = (e: TocEntry): boolean => DEPENDENTS.has(e.desc) || (options.privileges && e.desc === 'ACL');

  for (let changed = true; changed;) {
    changed = false;
    for (const e of toc.entries) {
      if (core.has(e.dumpId) || pulled.has(e.dumpId)) continue;
      if (e.desc === 'TABLE ATTACH') {
        // Tagged with the partition's own schema and name; the other dependency is the parent.
        const partition = e.dependencies
          .map((id) => byId.get(id))
          .find((d) => d?.desc === 'TABLE' && d.namespace === e.namespace && d.tag === e.tag);
        const parentRestored = e.dependencies.some((id) => id !== partition?.dumpId && core.has(id));
        if (partition && parentRestored) {
          if (!core.has(partition.dumpId)) addCore(partition);
          addCore(e);
          changed = true;
        }
        continue;
      }
      if (!wanted(e) || !e.dependencies.some((id) => anchoredBy(e, id)) || blocker(e)) continue;
      addCore(e);
      changed = true;
    }
  }

  const skipped: SkippedEntry[] = [];
  for (const e of toc.entries) {
    // Report only what belongs to a restored table, not, say, triggers of other tables that share
    // a pulled trigger function.
    if (
      core.has(e.dumpId) ||
      pulled.has(e.dumpId) ||
      !wanted(e) ||
      !e.dependencies.some((id) => core.has(id))
    ) {
      continue;
    }
    const b = blocker(e);
    if (!b) continue;
    skipped.push({
      dumpId: e.dumpId,
      desc: e.desc,
      ...(e.namespace !== undefined ? { namespace: e.namespace } : {}),
      tag: e.tag,
      reason: `depends on ${b.desc} ${label(b)}, which is not being restored`,
    });
  }

  const entries = toc.entries.filter((e) => core.has(e.dumpId) || pulled.has(e.dumpId));
  const tables = entries
    .filter((e) => e.desc === 'TABLE' && core.has(e.dumpId))
    .map((e) => ({ schema: e.namespace!, name: e.tag }));
  return {
    entries,
    tables,
    prerequisites: entries.filter((e) => pulled.has(e.dumpId)),
    skipped,
    conflicts: tables.filter((t) => target.relations.has(catalogKey(t.schema, t.name))),
  };
}

/** The `--use-list` file body: one line per entry, id first (pg_restore reads only the id). */
export function useListText(entries: readonly TocEntry[]): string {
  // Names go after a comment marker on their own line so that no name can be mistaken for an id.
  return entries.map((e) => `; ${e.desc} ${label(e).replace(/[\r\n]/g, ' ')}\n${e.dumpId};\n`).join('');
}
