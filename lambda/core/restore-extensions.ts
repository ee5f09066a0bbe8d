/**
 * Extensions before a restore: every extension the archive creates must be available on the
 * target (`pg_available_extensions`), checked up front so the restore fails once with the whole
 * list rather than at the first `CREATE EXTENSION` half-way through; and the entries a restorer
 * that does not own an extension cannot run are left out of the restore.
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
  readonly restorer: string;
  readonly superuser: boolean;
}

export interface ExtensionsResult {
  /** Extensions the archive creates. */
  readonly archived: readonly string[];
  /** Already in the target: left as they are. */
  readonly present: readonly string[];
  /** Entries left out of the restore, with why. */
  readonly leftOut: readonly { readonly dumpId: number; readonly entry: string; readonly reason: string }[];
}

export async function loadTargetExtensions(client: ClientBase): Promise<TargetExtensions> {
  const { rows } = await client.query<{ kind: string; name: string; owner: string | null }>(
    `SELECT 'installed' AS kind, e.extname AS name, r.rolname AS owner
       FROM pg_extension e JOIN pg_roles r ON r.oid = e.extowner
     UNION ALL SELECT 'available', name, NULL FROM pg_available_extensions
     UNION ALL SELECT DISTINCT 'schema', n.nspname, r.rolname FROM pg_extension e
       JOIN pg_namespace n ON n.oid = e.extnamespace JOIN pg_roles r ON r.oid = n.nspowner
      WHERE n.nspname NOT IN ('pg_catalog', 'public')`,
  );
  const { rows: me } = await client.query<{ u: string; s: boolean }>(
    `SELECT current_user AS u, rolsuper AS s FROM pg_roles WHERE rolname = current_user`,
  );
  return {
    installed: new Map(rows.filter((r) => r.kind === 'installed').map((r) => [r.name, r.owner ?? ''])),
    extensionSchemas: new Map(rows.filter((r) => r.kind === 'schema').map((r) => [r.name, r.owner ?? ''])),
    available: new Set(rows.filter((r) => r.kind === 'available').map((r) => r.name)),
    restorer: me[0].u,
    superuser: me[0].s,
  };
}

/** The extension a `COMMENT` entry is about (`EXTENSION postgis`), or undefined. */
const commentedExtension = (e: TocEntry): string | undefined =>
  e.desc === 'COMMENT' && e.namespace === undefined && e.tag.startsWith('EXTENSION ')
    ? e.tag.slice('EXTENSION '.length)
    : undefined;

/**
 * Throws EXTENSIONS_MISSING naming every extension among `entries` the target neither has nor
 * offers; otherwise returns the entries to leave out (see the file comment).
 */
export function planExtensions(entries: readonly TocEntry[], target: TargetExtensions): ExtensionsResult {
  const archived = entries.filter((e) => e.desc === 'EXTENSION').map((e) => e.tag);
  const missing = archived.filter((x) => !target.installed.has(x) && !target.available.has(x));
  if (missing.length > 0) {
    throw new RestoreError(
      'EXTENSIONS_MISSING',
      `the target does not offer extension(s) ${missing.join(', ')} that the backup uses ` +
        `(not in pg_available_extensions; on RDS check the engine version's supported extensions, ` +
        `elsewhere install the packages); nothing was restored`,
    );
  }
  const leftOut: { dumpId: number; entry: string; reason: string }[] = [];
  for (const e of entries) {
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
  return { archived, present: archived.filter((x) => target.installed.has(x)), leftOut };
}

/** Entries of a whole-archive restore without those left out (pg_restore handles the special ones). */
export function fullRestoreEntries(toc: ArchiveToc, leftOut: ExtensionsResult['leftOut']): TocEntry[] {
  const skip = new Set(leftOut.map((l) => l.dumpId));
  const special = new Set(['ENCODING', 'STDSTRINGS', 'SEARCHPATH']);
  // The database's own entries are applied by restore-database.ts under the target's name.
  return toc.entries.filter((e) => !skip.has(e.dumpId) && !special.has(e.desc) && !isDatabaseEntry(e));
}
