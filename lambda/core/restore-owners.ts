/**
 * Owners object by object, when some of the archive's owner roles cannot be used on the target:
 * typically a superuser of the source (`supabase_admin`, an `ops` superuser) that exists on the
 * target as a superuser the non-superuser admin may not act as, or could not be created there.
 *
 * Dropping every owner for that (`--no-owner --no-privileges` for the whole restore) would hand
 * the whole database to the admin and lose every grant. Instead:
 *
 * 1. pg_restore runs without owners and privileges (everything is created as the admin);
 * 2. the `ALTER ... OWNER TO` statements pg_restore itself writes for the restored entries (its
 *    script output, `--schema-only`, read line by line: the object descriptions are pg_restore's
 *    own, so every kind of object it knows is covered) are run for every owner the admin can act
 *    as; objects of the other owners stay the admin's, each reported with its original owner;
 * 3. the privileges (ACL and DEFAULT ACL entries) are restored in a last pg_restore pass, after
 *    the owners are set, as pg_restore orders them itself; default privileges *for* an owner the
 *    admin cannot act as cannot be set by it and are reported.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { ClientBase } from 'pg';
import type { TocEntry } from './archive-toc';
import type { PgBinary } from './pg-bin';
import { runPgRestore } from './pg-restore';
import { isDatabaseEntry } from './restore-database';
import { RestoreError } from './restore-error';
import { useListText } from './restore-plan';
import { withTargetClient, type RestoreTarget } from './restore-target';

export interface OwnerMapping {
  /** The object as pg_restore names it: `TABLE audit.log`, `FUNCTION audit.note(text)`, `SCHEMA audit`. */
  readonly object: string;
  /** Its owner in the archive. */
  readonly owner: string;
  /** Who owns it now: the restoring user. */
  readonly mappedTo: string;
  /** Why the archived owner could not be kept. */
  readonly reason: string;
}

export interface OwnersApplied {
  /** ALTER ... OWNER TO statements run (objects that kept their archived owner). */
  readonly kept: number;
  readonly mapped: readonly OwnerMapping[];
}

const OWNER_LINE = /^ALTER (.+) OWNER TO ("(?:[^"]|"")+"|[^\s";]+);$/;
const unquote = (ident: string) => (ident.startsWith('"') ? ident.slice(1, -1).replace(/""/g, '"') : ident);

/** Entries that carry rows, not objects: left out of the owner script (it would copy the data). */
const DATA_ENTRIES = new Set([
  'TABLE DATA',
  'BLOBS',
  'LARGE OBJECTS',
  'SEQUENCE SET',
  'MATERIALIZED VIEW DATA',
]);

/**
 * The `ALTER ... OWNER TO` lines of pg_restore's script for the entries of `useList`. Not
 * `--schema-only`: that leaves out large objects, whose owners count too.
 */
export function archivedOwnerStatements(
  bin: PgBinary,
  archive: string,
  useList: string,
  signal?: AbortSignal,
): Promise<{ object: string; owner: string; sql: string }[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin.path, ['--file=-', '--use-list', useList, archive], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '' },
      signal,
    });
    const out: { object: string; owner: string; sql: string }[] = [];
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (stderr = (stderr + c).slice(-2000)));
    // Each entry's script starts with `-- Name: x; Type: T; Schema: s; Owner: o`; its owner
    // statement is the first ALTER ... OWNER TO o after it. A line of a function body that looks
    // like one (other owner, or a second one) is not taken.
    let headerOwner: string | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const header = /^-- Name: .*; Type: .*; Schema: .*; Owner: (.*)$/.exec(line);
      if (header) {
        headerOwner = header[1];
        return;
      }
      const m = OWNER_LINE.exec(line);
      if (m && headerOwner !== undefined && unquote(m[2]) === headerOwner) {
        out.push({ object: m[1], owner: headerOwner, sql: line });
        headerOwner = undefined;
      }
    });
    child.on('error', (e) =>
      reject(new RestoreError('PG_RESTORE_FAILED', `could not run ${bin.path}: ${e.message}`)),
    );
    child.on('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(
            new RestoreError('PG_RESTORE_FAILED', `pg_restore (owner statements) exited ${code}: ${stderr}`),
          ),
    );
  });
}

/**
 * Sets the archived owner of every restored object whose owner is usable; the others stay the
 * restorer's and are reported. Runs with an empty search_path, as pg_restore's own statements do.
 */
export async function applyArchivedOwners(
  client: ClientBase,
  statements: readonly { object: string; owner: string; sql: string }[],
  unusable: ReadonlyMap<string, string>,
): Promise<OwnersApplied> {
  const { rows } = await client.query<{ me: string }>(
    `SELECT current_user AS me, pg_catalog.set_config('search_path', '', false)`,
  );
  const me = rows[0].me;
  const mapped: OwnerMapping[] = [];
  let kept = 0;
  for (const s of statements) {
    const why = unusable.get(s.owner);
    if (why !== undefined) {
      mapped.push({ object: s.object, owner: s.owner, mappedTo: me, reason: why });
      continue;
    }
    try {
      // pg_restore's own statement for an object it just created, from the verified archive.
      await client.query(s.sql);
      kept++;
    } catch (e) {
      mapped.push({ object: s.object, owner: s.owner, mappedTo: me, reason: (e as Error).message });
    }
  }
  return { kept, mapped };
}

export interface ArchivedOwnersRun {
  readonly bin: PgBinary;
  readonly target: RestoreTarget;
  readonly archive: string;
  /** The entries restored (for their owner statements and privileges). */
  readonly entries: readonly TocEntry[];
  /** Owner roles the restorer cannot act as → why. */
  readonly unusable: ReadonlyMap<string, string>;
  readonly dir: string;
  readonly signal?: AbortSignal;
}

/** Steps 2 and 3 of the file comment, after a pg_restore without owners and privileges. */
export async function restoreOwnersAndPrivileges(run: ArchivedOwnersRun): Promise<OwnersApplied> {
  const objectsList = path.join(run.dir, 'owners-list.txt');
  fs.writeFileSync(
    objectsList,
    useListText(run.entries.filter((e) => !DATA_ENTRIES.has(e.desc) && !isDatabaseEntry(e))),
    { mode: 0o600 },
  );
  const statements = await archivedOwnerStatements(run.bin, run.archive, objectsList, run.signal);
  const applied = await withTargetClient(run.target, (c) => applyArchivedOwners(c, statements, run.unusable));
  const mapped = [...applied.mapped];
  const privileges = run.entries.filter((e) => {
    if (isDatabaseEntry(e) || (e.desc !== 'ACL' && e.desc !== 'DEFAULT ACL')) return false;
    const why = e.desc === 'DEFAULT ACL' && e.owner ? run.unusable.get(e.owner) : undefined;
    if (why !== undefined) {
      mapped.push({
        object: `DEFAULT PRIVILEGES FOR ROLE ${e.owner}${e.namespace ? ` IN SCHEMA ${e.namespace}` : ''}`,
        owner: e.owner!,
        mappedTo: '(not set)',
        reason: why,
      });
      return false;
    }
    return true;
  });
  if (privileges.length > 0) {
    const list = path.join(run.dir, 'privileges-list.txt');
    fs.writeFileSync(list, useListText(privileges), { mode: 0o600 });
    await runPgRestore({
      bin: run.bin,
      target: run.target,
      archive: run.archive,
      jobs: 1,
      keepOwners: false,
      privileges: true,
      clean: false,
      useList: list,
      entriesTotal: privileges.length,
      signal: run.signal,
    });
  }
  return { kept: applied.kept, mapped };
}
