/**
 * Extensions before a restore: every extension the archive creates must be available on the
 * target (`pg_available_extensions`), checked up front so the restore fails once with the whole
 * list rather than at the first `CREATE EXTENSION` half-way through; and the entries a restorer
 * that does not own an extension cannot run are left out of the restore.
 *
 * Under a preset that allows it (presets.ts `missingExtensions: 'leave-out'`: Supabase's pgsodium,
 * pg_graphql, pg_net, supabase_vault on an RDS drill target), an extension the target does not
 * offer is not fatal: its entries and every entry that depends on them (TOC dependencies, followed
 * transitively: a table with a column of its type, that table's data, indexes and foreign keys)
 * are left out, and reported per extension by name, with the restored functions whose bodies
 * name its schema (they are created, since bodies are not checked, and fail when called).
 *
 * An extension created by the restore whose schema the target lacks and the archive does not
 * create (a preset leaves the platform's `extensions` schema out of the dump) gets its schema
 * created first, owned by the restorer.
 *
 * An extension the target already has (plpgsql, or one the platform pre-installs: Supabase's
 * pgcrypto, an RDS `postgis` created by rds_superuser) is left as it is: its `CREATE EXTENSION IF
 * NOT EXISTS` would do nothing, and its `COMMENT ON EXTENSION` fails for anyone but its owner.
 */
import type { ClientBase } from 'pg';
import type { ArchiveToc, TocEntry } from './archive-toc';
import { isDatabaseEntry } from './restore-database';
import { RestoreError } from './restore-error';

export interface TargetExtensions {
  /** Installed in the target database: name → owner. */
  readonly installed: ReadonlyMap<string, string>;
  /** Schemas holding an installed extension: schema → its owner. */
  readonly extensionSchemas: ReadonlyMap<string, string>;
  /** Names in pg_available_extensions. */
  readonly available: ReadonlySet<string>;
  /** Every schema of the target database. */
  readonly schemas: ReadonlySet<string>;
  readonly restorer: string;
  readonly superuser: boolean;
}

export interface ExtensionsResult {
  /** Extensions the archive creates. */
  readonly archived: readonly string[];
  /** Already in the target: left as they are. */
  readonly present: readonly string[];
  /** Entries left out of the restore, with why. */
  readonly leftOut: readonly LeftOutEntry[];
  /** Extensions the target does not offer, left out with what needs them (only under a preset that allows it). */
  readonly unavailable: readonly UnavailableExtension[];
  /** Schemas created before pg_restore for the extensions that live in them. */
  readonly schemasToCreate: readonly string[];
}

export interface LeftOutEntry {
  readonly dumpId: number;
  readonly entry: string;
  readonly reason: string;
}

export interface UnavailableExtension {
  readonly extension: string;
  /** Its schema in the source. */
  readonly schema?: string;
  /** Objects left out because they need it (directly or through another left-out object), e.g. `TABLE public.secrets`. */
  readonly objects: readonly string[];
  /** Restored functions whose bodies name its schema: created, but they fail when called. */
  readonly referencedBy: readonly string[];
  /** The TOC entries left out for it. */
  readonly dumpIds: readonly number[];
}

export interface ExtensionRules {
  /** An extension the target does not offer: fail the restore, or leave out what needs it. @default 'fail' */
  readonly missingExtensions?: 'fail' | 'leave-out';
}

export async function loadTargetExtensions(client: ClientBase): Promise<TargetExtensions> {
  const { rows } = await client.query<{ kind: string; name: string; owner: string | null }>(
    `SELECT 'installed' AS kind, e.extname AS name, r.rolname AS owner
       FROM pg_extension e JOIN pg_roles r ON r.oid = e.extowner
     UNION ALL SELECT 'available', name, NULL FROM pg_available_extensions
     UNION ALL SELECT DISTINCT 'schema', n.nspname, r.rolname FROM pg_extension e
       JOIN pg_namespace n ON n.oid = e.extnamespace JOIN pg_roles r ON r.oid = n.nspowner
      WHERE n.nspname NOT IN ('pg_catalog', 'public')
     UNION ALL SELECT 'namespace', nspname, NULL FROM pg_namespace`,
  );
  const { rows: me } = await client.query<{ u: string; s: boolean }>(
    `SELECT current_user AS u, rolsuper AS s FROM pg_roles WHERE rolname = current_user`,
  );
  return {
    installed: new Map(rows.filter((r) => r.kind === 'installed').map((r) => [r.name, r.owner ?? ''])),
    extensionSchemas: new Map(rows.filter((r) => r.kind === 'schema').map((r) => [r.name, r.owner ?? ''])),
    available: new Set(rows.filter((r) => r.kind === 'available').map((r) => r.name)),
    schemas: new Set(rows.filter((r) => r.kind === 'namespace').map((r) => r.name)),
    restorer: me[0].u,
    superuser: me[0].s,
  };
}

/** The extension a `COMMENT` entry is about (`EXTENSION postgis`), or undefined. */
const commentedExtension = (e: TocEntry): string | undefined =>
  e.desc === 'COMMENT' && e.namespace === undefined && e.tag.startsWith('EXTENSION ')
    ? e.tag.slice('EXTENSION '.length)
    : undefined;

/** The schema of a `CREATE EXTENSION ... WITH SCHEMA x` entry, unquoted. */
export function extensionSchema(e: TocEntry): string | undefined {
  const m = /\bWITH SCHEMA ("(?:[^"]|"")+"|[^\s;]+)/.exec(e.defn);
  if (!m) return undefined;
  return m[1].startsWith('"') ? m[1].slice(1, -1).replace(/""/g, '"') : m[1];
}

/** `TABLE public.secrets`, `FUNCTION public.f(integer)`, `EXTENSION pgsodium`: an entry by name. */
export const entryName = (e: TocEntry): string =>
  `${e.desc} ${e.namespace !== undefined ? `${e.namespace}.` : ''}${e.tag}`;

/**
 * Throws EXTENSIONS_MISSING naming every extension among `entries` the target neither has nor
 * offers (unless `rules` leave them out); otherwise returns the entries to leave out (see the
 * file comment).
 */
export function planExtensions(
  entries: readonly TocEntry[],
  target: TargetExtensions,
  rules: ExtensionRules = {},
): ExtensionsResult {
  const archived = entries.filter((e) => e.desc === 'EXTENSION').map((e) => e.tag);
  const missing = archived.filter((x) => !target.installed.has(x) && !target.available.has(x));
  if (missing.length > 0 && rules.missingExtensions !== 'leave-out') {
    throw new RestoreError(
      'EXTENSIONS_MISSING',
      `the target does not offer extension(s) ${missing.join(', ')} that the backup uses ` +
        `(not in pg_available_extensions; on RDS check the engine version's supported extensions, ` +
        `elsewhere install the packages); nothing was restored`,
    );
  }
  const leftOut: LeftOutEntry[] = [];
  const unavailable = leaveOutUnavailable(entries, new Set(missing));
  const cause = new Map<number, string>();
  for (const u of unavailable) for (const id of u.dumpIds) cause.set(id, u.extension);
  for (const e of entries) {
    const needs = cause.get(e.dumpId);
    if (needs !== undefined) {
      leftOut.push({
        dumpId: e.dumpId,
        entry: entryName(e),
        reason:
          e.desc === 'EXTENSION'
            ? 'the target does not offer this extension'
            : `needs extension ${needs}, which the target does not offer`,
      });
      continue;
    }
    if (e.desc === 'EXTENSION' && target.installed.has(e.tag)) {
      leftOut.push({ dumpId: e.dumpId, entry: `EXTENSION ${e.tag}`, reason: 'already in the target' });
      continue;
    }
    // The schema of a pre-installed extension (Supabase's and many RDS setups' `extensions`): it
    // exists, so CREATE SCHEMA would fail; its comment and grants are the owner's to set.
    const schema =
      e.desc === 'SCHEMA'
        ? e.tag
        : (e.desc === 'COMMENT' || e.desc === 'ACL') &&
            e.namespace === undefined &&
            e.tag.startsWith('SCHEMA ')
          ? e.tag.slice('SCHEMA '.length)
          : undefined;
    const schemaOwner = schema !== undefined ? target.extensionSchemas.get(schema) : undefined;
    if (
      schemaOwner !== undefined &&
      (e.desc === 'SCHEMA' || (!target.superuser && schemaOwner !== target.restorer))
    ) {
      leftOut.push({
        dumpId: e.dumpId,
        entry: e.desc === 'SCHEMA' ? `SCHEMA ${e.tag}` : `${e.desc} ${e.tag}`,
        reason: `schema of an extension already in the target, owned by ${schemaOwner}`,
      });
      continue;
    }
    const x = commentedExtension(e);
    const owner = x !== undefined ? target.installed.get(x) : undefined;
    if (x !== undefined && owner !== undefined && !target.superuser && owner !== target.restorer) {
      leftOut.push({
        dumpId: e.dumpId,
        entry: `COMMENT ON EXTENSION ${x}`,
        reason: `extension already in the target, owned by ${owner}`,
      });
    }
  }
  // Extensions this restore creates, in a schema neither the target nor the archive has.
  const skipped = new Set(leftOut.map((l) => l.dumpId));
  const archivedSchemas = new Set(entries.filter((e) => e.desc === 'SCHEMA').map((e) => e.tag));
  const schemasToCreate = [
    ...new Set(
      entries
        .filter((e) => e.desc === 'EXTENSION' && !skipped.has(e.dumpId))
        .map(extensionSchema)
        .filter((s): s is string => s !== undefined && !target.schemas.has(s) && !archivedSchemas.has(s)),
    ),
  ];
  return {
    archived,
    present: archived.filter((x) => target.installed.has(x)),
    leftOut,
    unavailable,
    schemasToCreate,
  };
}

/**
 * For each extension in `missing`: its EXTENSION entry and every entry depending on it, however
 * indirectly (pg_dump points a dependency on an extension's member at the extension); and the
 * functions left in whose bodies name its schema.
 */
function leaveOutUnavailable(
  entries: readonly TocEntry[],
  missing: ReadonlySet<string>,
): UnavailableExtension[] {
  if (missing.size === 0) return [];
  const cause = new Map<number, string>();
  for (const e of entries) if (e.desc === 'EXTENSION' && missing.has(e.tag)) cause.set(e.dumpId, e.tag);
  // Dependencies can point forward in the TOC: repeat until nothing changes.
  for (let changed = true; changed;) {
    changed = false;
    for (const e of entries) {
      if (cause.has(e.dumpId)) continue;
      const dep = e.dependencies.find((d) => cause.has(d));
      if (dep !== undefined) {
        cause.set(e.dumpId, cause.get(dep)!);
        changed = true;
      }
    }
  }
  const schemaOf = new Map(
    entries.filter((e) => e.desc === 'EXTENSION').map((e) => [e.tag, extensionSchema(e)] as const),
  );
  // A schema shared with an extension that is restored says nothing about which one a body needs.
  const shared = new Set([...schemaOf].filter(([x]) => !missing.has(x)).map(([, s]) => s));
  return [...missing].map((extension) => {
    const schema = schemaOf.get(extension);
    const mentions =
      schema !== undefined && !shared.has(schema) && schema !== 'public' && schema !== 'pg_catalog'
        ? new RegExp(
            `(^|[^\\w$"])(${escapeRegExp(schema)}|"${escapeRegExp(schema.replace(/"/g, '""'))}")\\s*\\.`,
          )
        : undefined;
    const dumpIds = entries.filter((e) => cause.get(e.dumpId) === extension).map((e) => e.dumpId);
    return {
      extension,
      ...(schema !== undefined ? { schema } : {}),
      dumpIds,
      objects: entries
        .filter((e) => cause.get(e.dumpId) === extension && e.desc !== 'EXTENSION' && e.desc !== 'COMMENT')
        .map(entryName),
      referencedBy: mentions
        ? entries
            .filter(
              (e) =>
                !cause.has(e.dumpId) &&
                (e.desc === 'FUNCTION' || e.desc === 'PROCEDURE') &&
                mentions.test(e.defn),
            )
            .map(entryName)
        : [],
    };
  });
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Entries of a whole-archive restore without those left out (pg_restore handles the special ones). */
export function fullRestoreEntries(
  toc: ArchiveToc,
  leftOut: readonly { readonly dumpId: number }[],
): TocEntry[] {
  const skip = new Set(leftOut.map((l) => l.dumpId));
  const special = new Set(['ENCODING', 'STDSTRINGS', 'SEARCHPATH']);
  // The database's own entries are applied by restore-database.ts under the target's name.
  return toc.entries.filter((e) => !skip.has(e.dumpId) && !special.has(e.desc) && !isDatabaseEntry(e));
}

/**
 * What a restore left out because extensions were unavailable, in the terms the drill's checks
 * compare (checks.ts): the extensions, the relations (tables, sequences, materialized views) and
 * how many of each catalog kind, so neither counts as lost.
 */
export interface NotRestored {
  readonly extensions: readonly string[];
  readonly relations: readonly { readonly schema: string; readonly name: string }[];
  readonly catalog: Readonly<Record<string, number>>;
}

/** TOC desc → the catalog count (inventory.ts catalogCounts) an entry adds to. */
const CATALOG_KIND: Readonly<Record<string, string>> = {
  SCHEMA: 'schemas',
  TABLE: 'tables',
  VIEW: 'views',
  'MATERIALIZED VIEW': 'materializedViews',
  INDEX: 'indexes',
  SEQUENCE: 'sequences',
  FUNCTION: 'functions',
  PROCEDURE: 'functions',
  AGGREGATE: 'functions',
  TRIGGER: 'triggers',
  POLICY: 'policies',
  TYPE: 'types',
  DOMAIN: 'types',
};

export function notRestoredOf(
  entries: readonly TocEntry[],
  result: ExtensionsResult,
): NotRestored | undefined {
  if (result.unavailable.length === 0) return undefined;
  const unavailable = new Set(result.unavailable.map((u) => u.extension));
  const ids = new Set(result.unavailable.flatMap((u) => u.dumpIds));
  const relations: { schema: string; name: string }[] = [];
  const catalog: Record<string, number> = {};
  for (const e of entries) {
    if (!ids.has(e.dumpId) || e.desc === 'EXTENSION') continue;
    if (['TABLE', 'SEQUENCE', 'MATERIALIZED VIEW'].includes(e.desc) && e.namespace !== undefined)
      relations.push({ schema: e.namespace, name: e.tag });
    // A primary key, unique or exclusion constraint comes with its index.
    const kind =
      e.desc === 'CONSTRAINT' && /\b(PRIMARY KEY|UNIQUE|EXCLUDE)\b/.test(e.defn)
        ? 'indexes'
        : CATALOG_KIND[e.desc];
    if (kind) catalog[kind] = (catalog[kind] ?? 0) + 1;
  }
  return { extensions: [...unavailable], relations, catalog };
}
