/**
 * Restores a backup into a PostgreSQL database: used by the monthly drill (into an ephemeral
 * database) and by the operator CLI (`restorable restore`).
 *
 * 1. Look at the target first: refuse a non-empty target (or, for a table restore, a target that
 *    already holds one of the tables) unless forced — before anything is downloaded or changed.
 * 2. Download the archive to a private temporary file (pg_restore -j needs a seekable file),
 *    computing SHA-256 and size on the way and refusing it unless both equal the manifest's.
 *    The file is removed afterwards, on failure too.
 * 3. Restore roles from the globals file, statement by statement, tolerating "already exists"
 *    and recording every statement that failed (the target's own login role is never altered).
 * 4. `pg_restore -j N --exit-on-error`, the client matching the target's major, credentials only
 *    in a 0600 PGPASSFILE. Owners and grants are kept when the roles are there (restored, and the
 *    restoring user can act as each owner); otherwise `--no-owner --no-privileges`.
 *    A table restore passes a `--use-list` built from the archive's TOC (restore-plan.ts).
 * 5. Count the rows of the restored tables (exact, in one read-only snapshot).
 */
// @ts-nocheck

import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Client, type ClientBase } from 'pg';
import { readArchiveToc, type ArchiveToc, type TocEntry } from './archive-toc';
import { countRows, listTables, quoteIdent } from './inventory';
import { parseManifest, type Manifest, type StoredObject } from './manifest';
import { majorFromVersionNum, pgToolForServer, type PgBinary } from './pg-bin';
import {
  catalogKey,
  planTableRestore,
  useListText,
  type SkippedEntry,
  type TableRef,
  type TargetCatalog,
} from './restore-plan';
import { readText } from './s3';
import { libpqEnv, pgClientConfig, withPgPassFile, type DbConnection, type TlsOptions } from './secrets';

export type { TableRef } from './restore-plan';

/**
 * The database to restore into, with TLS settings (secrets.ts semantics: `sslMode` defaults to
 * `verify-full` against the RDS CA bundle; local clusters pass `disable`).
 */
export interface RestoreTarget extends DbConnection, TlsOptions {}

/** A description safe for logs and reports (no password). */
export const describeTarget = (t: DbConnection): string =>
  `postgres://${t.user}@${t.host}:${t.port}/${t.database}`;

/** Runs `fn` with a connected client (TLS per the target) and always closes it. */
export async function withTargetClient<T>(
  target: RestoreTarget,
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client(pgClientConfig(target, target));
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Quotes a libpq connection-string value. */
const conninfoValue = (value: string): string => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export type RestoreErrorCode =
  | 'MANIFEST_UNREADABLE'
  | 'SIZE_MISMATCH'
  | 'CHECKSUM_MISMATCH'
  | 'NOT_AN_ARCHIVE'
  | 'TARGET_NOT_EMPTY'
  | 'TABLE_EXISTS'
  | 'TABLE_NOT_IN_ARCHIVE'
  | 'PG_RESTORE_FAILED'
  | 'ABORTED';

/** A restore failure with a stable code; messages never hold credentials. */
export class RestoreError extends Error {
  constructor(
    readonly code: RestoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RestoreError';
  }
}

export type RestoreProgress =
  | { readonly phase: 'download'; readonly bytes: number; readonly totalBytes: number }
  | { readonly phase: 'roles'; readonly applied: number; readonly failed: number }
  | {
      readonly phase: 'restore';
      readonly entriesDone: number;
      readonly entriesTotal: number;
      /** The last pg_restore -v line, e.g. `processing data for table "shop.orders"`. */
      readonly item?: string;
    }
  | { readonly phase: 'count'; readonly tables: number };

export interface RestoreOptions {
  /** pg_restore parallel jobs. @default - min(4, CPUs) */
  readonly jobs?: number;
  /**
   * Restore only these tables (`"schema.name"`, `'"Schema"."Name"'` or `{ schema, name }`), with
   * what belongs to them (restore-plan.ts). @default - the whole archive
   */
  readonly tables?: readonly (string | TableRef)[];
  /**
   * Restore into a target that is not empty (full restore), or replace tables that already exist
   * (table restore: their entries are restored with `--clean --if-exists`). @default false
   */
  readonly force?: boolean;
  /** Full restore only: drop each archived object before re-creating it (`--clean --if-exists`). @default false */
  readonly clean?: boolean;
  /** Create the roles from the backup's globals file first (when it has one). @default true */
  readonly restoreRoles?: boolean;
  /** Count rows of the restored tables afterwards. @default true */
  readonly countRows?: boolean;
  /** Called with download bytes, roles, and pg_restore entries processed. */
  readonly onProgress?: (progress: RestoreProgress) => void;
  /** Where the temporary archive goes (needs room for the whole dump). @default - os.tmpdir() */
  readonly tempDir?: string;
  /** Aborts the download or kills pg_restore. */
  readonly signal?: AbortSignal;
  /** Directories holding pg_restore binaries, for tests. @default - pg-bin.ts search */
  readonly pgBinDirs?: string[];
}

export interface RoleStatementFailure {
  readonly statement: string;
  readonly error: string;
  readonly code?: string;
}

export interface RolesResult {
  readonly attempted: boolean;
  /** Why roles were not restored (no globals file, option off). */
  readonly reason?: string;
  readonly statements: number;
  readonly applied: number;
  /** Roles that already existed in the target (CREATE ROLE failed with duplicate_object). */
  readonly alreadyExisted: readonly string[];
  /** Statements about the restoring user itself, never run (they could lock it out). */
  readonly skipped: readonly string[];
  readonly failed: readonly RoleStatementFailure[];
}

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

export interface RestoreResult {
  readonly backupId: string;
  readonly databaseId: string;
  readonly target: string;
  readonly mode: 'full' | 'tables';
  readonly archive: { readonly key: string; readonly bytes: number; readonly sha256: string };
  readonly pgRestore: { readonly path: string; readonly major: number; readonly version: string };
  readonly targetServerVersion: string;
  readonly jobs: number;
  readonly owners: 'kept' | 'dropped';
  readonly ownersReason?: string;
  readonly roles: RolesResult;
  readonly entries: { readonly total: number; readonly processed: number };
  /** Table restore: entries of the tables that were left out, with why. */
  readonly skipped: readonly SkippedEntry[];
  /** Table restore: prerequisites (schema, types, functions) created because the target lacked them. */
  readonly prerequisites: readonly string[];
  readonly tables: readonly RestoredTable[];
  readonly downloadSeconds: number;
  /** pg_restore alone. */
  readonly pgRestoreSeconds: number;
  /** The whole restore: target checks, download, roles, pg_restore (not the row counts). */
  readonly restoreSeconds: number;
  readonly countSeconds: number;
  readonly warnings: readonly string[];
}

export interface RestoreSource {
  readonly s3: S3Client;
  readonly bucket: string;
  /** The manifest, or `manifestKey` to read it from the bucket. */
  readonly manifest?: Manifest;
  readonly manifestKey?: string;
}

const seconds = (from: number) => Math.round((Date.now() - from) / 10) / 100;

/** Reads and validates a manifest object. */
export async function readManifest(s3: S3Client, bucket: string, key: string): Promise<Manifest> {
  let body: string;
  try {
    body = await readText(s3, bucket, key);
  } catch (e) {
    throw new RestoreError(
      'MANIFEST_UNREADABLE',
      `cannot read manifest s3://${bucket}/${key}: ${(e as Error).message}`,
    );
  }
  try {
    return parseManifest(body);
  } catch (e) {
    throw new RestoreError('MANIFEST_UNREADABLE', `s3://${bucket}/${key}: ${(e as Error).message}`);
  }
}

/**
 * Streams an object to `file` (created 0600, must not exist), hashing and counting on the way;
 * throws SIZE_MISMATCH or CHECKSUM_MISMATCH (size first: a truncated object is reported as such).
 */
export async function downloadVerified(
  s3: S3Client,
  bucket: string,
  object: StoredObject,
  file: string,
  onBytes?: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.key }), {
    abortSignal: signal,
  });
  if (!res.Body) throw new RestoreError('SIZE_MISMATCH', `s3://${bucket}/${object.key} has no body`);
  const hash = createHash('sha256');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes?.(bytes);
      done(null, chunk);
    },
  });
  await pipeline(
    res.Body as NodeJS.ReadableStream,
    meter,
    fs.createWriteStream(file, { mode: 0o600, flags: 'wx' }),
    ...(signal ? [{ signal }] : []),
  );
  const sha256 = hash.digest('hex');
  if (bytes !== object.bytes) {
    throw new RestoreError(
      'SIZE_MISMATCH',
      `size mismatch for s3://${bucket}/${object.key}: manifest says ${object.bytes} bytes, downloaded ${bytes}`,
    );
  }
  if (sha256 !== object.sha256) {
    throw new RestoreError(
      'CHECKSUM_MISMATCH',
      `SHA-256 mismatch for s3://${bucket}/${object.key}: manifest ${object.sha256}, downloaded ${sha256}`,
    );
  }
}

/** Reads a small object (the globals file) into memory, verified like the archive. */
async function fetchVerifiedText(s3: S3Client, bucket: string, object: StoredObject): Promise<string> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.key }));
  const body = Buffer.from(await res.Body!.transformToByteArray());
  if (body.length !== object.bytes) {
    throw new RestoreError(
      'SIZE_MISMATCH',
      `size mismatch for s3://${bucket}/${object.key}: manifest says ${object.bytes} bytes, downloaded ${body.length}`,
    );
  }
  const sha256 = createHash('sha256').update(body).digest('hex');
  if (sha256 !== object.sha256) {
    throw new RestoreError('CHECKSUM_MISMATCH', `SHA-256 mismatch for s3://${bucket}/${object.key}`);
  }
  return body.toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// The target
// ---------------------------------------------------------------------------------------------

const USER_NAMESPACE = `n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;
const notExtensionMember = (catalog: string, alias: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${alias}.oid AND d.deptype = 'e')`;

export interface TargetInfo {
  readonly serverVersion: string;
  readonly serverMajor: number;
  readonly currentUser: string;
  readonly superuser: boolean;
  /** Up to 10 user objects (`relation shop.orders`, `schema shop`, ...); empty for a fresh database. */
  readonly userObjects: readonly string[];
}

/**
 * What "empty" means: nothing a fresh `CREATE DATABASE` would not have — no schema besides
 * `public`, and no table, view, sequence, function or type in any non-system schema (objects
 * created by extensions do not count).
 */
export async function inspectTarget(client: ClientBase): Promise<TargetInfo> {
  const { rows: info } = await client.query<{ version: string; num: string; usr: string; su: boolean }>(
    `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
            current_user AS usr, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su`,
  );
  const { rows } = await client.query<{ what: string }>(
    `SELECT what FROM (
       SELECT 'schema ' || n.nspname AS what FROM pg_namespace n
        WHERE ${USER_NAMESPACE} AND n.nspname <> 'public' AND ${notExtensionMember('pg_namespace', 'n')}
       UNION ALL
       SELECT 'relation ' || n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE ${USER_NAMESPACE} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${notExtensionMember('pg_class', 'c')}
       UNION ALL
       SELECT 'function ' || n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE ${USER_NAMESPACE} AND ${notExtensionMember('pg_proc', 'p')}
       UNION ALL
       SELECT 'type ' || n.nspname || '.' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE ${USER_NAMESPACE} AND t.typtype IN ('e', 'd', 'r', 'm')
          AND ${notExtensionMember('pg_type', 't')}
     ) o ORDER BY what LIMIT 10`,
  );
  return {
    serverVersion: info[0].version,
    serverMajor: majorFromVersionNum(Number(info[0].num)),
    currentUser: info[0].usr,
    superuser: info[0].su === true,
    userObjects: rows.map((r) => r.what),
  };
}

/** The target's existing objects, keyed the way the archive TOC names them. */
export async function loadTargetCatalog(client: ClientBase): Promise<TargetCatalog> {
  await client.query('BEGIN READ ONLY');
  try {
    // pg_dump formats function signatures with search_path empty; so do we, so the keys agree.
    await client.query(`SELECT pg_catalog.set_config('search_path', '', true)`);
    const { rows } = await client.query<{ kind: string; ns: string | null; name: string }>(
      `SELECT 'schema' AS kind, NULL AS ns, n.nspname AS name FROM pg_catalog.pg_namespace n
       UNION ALL SELECT 'relation', n.nspname, c.relname FROM pg_catalog.pg_class c
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE ${USER_NAMESPACE}
       UNION ALL SELECT 'type', n.nspname, t.typname FROM pg_catalog.pg_type t
         JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE ${USER_NAMESPACE}
       UNION ALL SELECT 'function', n.nspname, p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')'
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE ${USER_NAMESPACE}
       UNION ALL SELECT 'collation', n.nspname, c.collname FROM pg_catalog.pg_collation c
         JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace WHERE ${USER_NAMESPACE}
       UNION ALL SELECT 'extension', NULL, e.extname FROM pg_catalog.pg_extension e`,
    );
    const sets: Record<string, Set<string>> = {
      schema: new Set(),
      relation: new Set(),
      type: new Set(),
      function: new Set(),
      collation: new Set(),
      extension: new Set(),
    };
    for (const r of rows) {
      sets[r.kind].add(r.kind === 'schema' || r.kind === 'extension' ? r.name : catalogKey(r.ns!, r.name));
    }
    return {
      schemas: sets.schema,
      relations: sets.relation,
      types: sets.type,
      functions: sets.function,
      collations: sets.collation,
      extensions: sets.extension,
    };
  } finally {
    await client.query('ROLLBACK');
  }
}

// ---------------------------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------------------------

/**
 * Splits a pg_dumpall script into statements: semicolons outside quotes end a statement; `--`
 * comments and psql meta-commands (`\restrict`, `\connect`) are dropped.
 */
export function splitSqlStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let i = 0;
  let lineStart = true;
  while (i < sql.length) {
    const ch = sql[i];
    if (lineStart && current.trim() === '' && ch === '\\') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
      continue;
    }
    lineStart = false;
    if (ch === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end;
      continue;
    }
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === ch) {
          if (sql[j + 1] === ch) j += 2;
          else break;
        } else j++;
      }
      current += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === ';') {
      if (current.trim()) statements.push(current.trim());
      current = '';
      i++;
      continue;
    }
    if (ch === '\n') lineStart = true;
    current += ch;
    i++;
  }
  if (current.trim()) statements.push(current.trim());
  return statements;
}

/** The role a `CREATE ROLE` / `ALTER ROLE` / `COMMENT ON ROLE` statement is about, unquoted. */
export function roleOfStatement(statement: string): string | undefined {
  const m = /^(?:CREATE|ALTER)\s+(?:ROLE|USER)\s+("(?:[^"]|"")+"|[^\s;]+)/i.exec(statement);
  if (!m) return undefined;
  const ident = m[1];
  return ident.startsWith('"') ? ident.slice(1, -1).replace(/""/g, '"') : ident.toLowerCase();
}

const redactPasswords = (statement: string) =>
  statement.replace(/PASSWORD\s+'(?:[^']|'')*'/gi, "PASSWORD '***'").slice(0, 300);

/**
 * Runs a pg_dumpall `--roles-only` script statement by statement. A role that already exists is
 * fine (recorded); any other failure is recorded and the rest still runs. Statements about the
 * connected user are skipped: `ALTER ROLE <me> NOLOGIN` from a source where the name meant
 * someone else would lock the restore out.
 */
export async function restoreRoles(
  client: ClientBase,
  sql: string,
  currentUser: string,
): Promise<RolesResult> {
  const statements = splitSqlStatements(sql);
  let applied = 0;
  const alreadyExisted: string[] = [];
  const skipped: string[] = [];
  const failed: RoleStatementFailure[] = [];
  for (const statement of statements) {
    const role = roleOfStatement(statement);
    if (role !== undefined && role === currentUser) {
      skipped.push(redactPasswords(statement));
      continue;
    }
    try {
      await client.query(statement);
      applied++;
    } catch (e) {
      const err = e as { code?: string; message: string };
      if (err.code === '42710' && /^CREATE\s+ROLE/i.test(statement) && role !== undefined) {
        alreadyExisted.push(role);
      } else {
        failed.push({
          statement: redactPasswords(statement),
          error: err.message,
          ...(err.code ? { code: err.code } : {}),
        });
      }
    }
  }
  return { attempted: true, statements: statements.length, applied, alreadyExisted, skipped, failed };
}

/**
 * Owners can be kept only when every owner role exists and the restoring user can act as it
 * (superuser, or member). A non-superuser (RDS master user) that created the roles may grant
 * itself membership, which we try once per role.
 */
async function ownersUsable(
  client: ClientBase,
  owners: readonly string[],
  info: TargetInfo,
): Promise<{ ok: boolean; reason?: string }> {
  if (info.superuser || owners.length === 0) return { ok: true };
  const check = async () =>
    (
      await client.query<{ owner: string; rolname: string | null; member: boolean | null }>(
        `SELECT o AS owner, r.rolname, pg_has_role(current_user, r.oid, 'MEMBER') AS member
         FROM unnest($1::text[]) o LEFT JOIN pg_roles r ON r.rolname = o`,
        [owners],
      )
    ).rows;
  for (const r of await check()) {
    if (r.rolname !== null && !r.member) {
      // The name comes from pg_roles (the catalog), quoted; never from the archive or input.
      await client.query(`GRANT ${quoteIdent(r.rolname)} TO CURRENT_USER`).catch(() => undefined);
    }
  }
  const missing = (await check()).filter((r) => r.rolname === null || !r.member).map((r) => r.owner);
  if (missing.length === 0) return { ok: true };
  return {
    ok: false,
    reason: `cannot act as owner role(s) ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`,
  };
}

// ---------------------------------------------------------------------------------------------
// pg_restore
// ---------------------------------------------------------------------------------------------

interface PgRestoreRun {
  readonly bin: PgBinary;
  readonly target: RestoreTarget;
  readonly archive: string;
  readonly jobs: number;
  readonly keepOwners: boolean;
  readonly clean: boolean;
  readonly useList?: string;
  readonly entriesTotal: number;
  readonly onProgress?: (p: RestoreProgress) => void;
  readonly signal?: AbortSignal;
}

/** Runs pg_restore; resolves with the number of entries processed, rejects with its error lines. */
function runPgRestore(run: PgRestoreRun): Promise<number> {
  // Connection parameters, TLS and the PGPASSFILE go through the environment libpqEnv builds
  // (nothing else inherited); --dbname carries only the database name, as a connection string
  // so that a name containing "=" cannot be read as one.
  return withPgPassFile(run.target, (passFile) =>
    spawnPgRestore(run, libpqEnv(run.target, run.target, passFile), [
      '--verbose',
      '--exit-on-error',
      `--jobs=${run.jobs}`,
      ...(run.keepOwners ? [] : ['--no-owner', '--no-privileges']),
      ...(run.clean ? ['--clean', '--if-exists'] : []),
      ...(run.useList ? ['--use-list', run.useList] : []),
      `--dbname=dbname=${conninfoValue(run.target.database)} application_name='restorable-restore'`,
      run.archive,
    ]),
  );
}

function spawnPgRestore(run: PgRestoreRun, env: Record<string, string>, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    if (run.signal?.aborted) {
      reject(new RestoreError('ABORTED', 'restore aborted before pg_restore started'));
      return;
    }
    const child = spawn(run.bin.path, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const done = new Set<number>();
    let serialDone = 0;
    const errors: string[] = [];
    const tail: string[] = [];
    let partial = '';
    let lastReport = 0;
    const onAbort = () => child.kill('SIGTERM');
    // entriesTotal is 0 when the TOC could not be read: count without a cap then.
    const processedSoFar = () => {
      const n = run.jobs > 1 ? done.size : serialDone;
      return run.entriesTotal > 0 ? Math.min(run.entriesTotal, n) : n;
    };
    run.signal?.addEventListener('abort', onAbort, { once: true });

    const consume = (text: string) => {
      // Parallel workers interleave their lines ("pg_restore:pg_restore:  finished ..."), so
      // match item ids anywhere rather than per line.
      for (const m of text.matchAll(/(?:processing|finished) item (\d+)/g)) done.add(Number(m[1]));
      serialDone += (text.match(/pg_restore: (?:creating|processing data for table|executing) /g) ?? [])
        .length;
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        if (/error|fatal|Command was|DETAIL|HINT/i.test(line) && errors.length < 30)
          errors.push(line.slice(0, 1000));
      }
      const now = Date.now();
      if (run.onProgress && now - lastReport > 250) {
        lastReport = now;
        const lastLine = tail[tail.length - 1]?.replace(/^(pg_restore:\s*)+/, '');
        run.onProgress({
          phase: 'restore',
          entriesDone: processedSoFar(),
          entriesTotal: run.entriesTotal,
          ...(lastLine ? { item: lastLine } : {}),
        });
      }
    };
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      const text = partial + chunk;
      const cut = text.lastIndexOf('\n');
      partial = cut < 0 ? text : text.slice(cut + 1);
      if (cut >= 0) consume(text.slice(0, cut + 1));
    });
    child.on('error', (e) => {
      run.signal?.removeEventListener('abort', onAbort);
      reject(new RestoreError('PG_RESTORE_FAILED', `could not run ${run.bin.path}: ${e.message}`));
    });
    child.on('close', (code, sig) => {
      run.signal?.removeEventListener('abort', onAbort);
      if (partial) consume(`${partial}\n`);
      const processed = processedSoFar();
      if (code === 0) {
        run.onProgress?.({ phase: 'restore', entriesDone: processed, entriesTotal: run.entriesTotal });
        resolve(processed);
        return;
      }
      if (run.signal?.aborted) {
        reject(new RestoreError('ABORTED', 'restore aborted: pg_restore was stopped'));
        return;
      }
      const detail = (errors.length > 0 ? errors : tail.slice(-5)).join(' | ');
      const how = sig ? `was killed by ${sig}` : `exited with code ${code}`;
      reject(
        new RestoreError(
          'PG_RESTORE_FAILED',
          `pg_restore ${how}: ${detail || 'no error output'}`.slice(0, 4000),
        ),
      );
    });
  });
}

/** TOC entries a full restore processes (pg_restore handles ENCODING and friends by itself). */
function restorableEntries(toc: ArchiveToc, privileges: boolean): number {
  const special = new Set(['ENCODING', 'STDSTRINGS', 'SEARCHPATH', 'DATABASE', 'DATABASE PROPERTIES']);
  return toc.entries.filter(
    (e) =>
      !special.has(e.desc) &&
      !(e.desc === 'COMMENT' && e.tag.startsWith('DATABASE ')) &&
      (privileges || (e.desc !== 'ACL' && e.desc !== 'DEFAULT ACL')),
  ).length;
}

// ---------------------------------------------------------------------------------------------
// The restore
// ---------------------------------------------------------------------------------------------

export async function restoreBackup(
  source: RestoreSource,
  target: RestoreTarget,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const started = Date.now();
  if (!source.manifest && !source.manifestKey)
    throw new Error('restoreBackup needs a manifest or a manifestKey');
  const manifest = source.manifest ?? (await readManifest(source.s3, source.bucket, source.manifestKey!));
  const jobs = Math.max(1, Math.floor(options.jobs ?? Math.min(4, os.cpus().length)));
  const tableMode = (options.tables?.length ?? 0) > 0;
  const warnings: string[] = [];

  // 1. The target, before anything is downloaded or changed.
  const info = await withTargetClient(target, inspectTarget);
  if (!tableMode && info.userObjects.length > 0 && !options.force) {
    throw new RestoreError(
      'TARGET_NOT_EMPTY',
      `target ${describeTarget(target)} is not empty (${info.userObjects.slice(0, 5).join(', ')}` +
        `${info.userObjects.length > 5 ? ', ...' : ''}); restore into an empty database or pass force`,
    );
  }
  // pg_restore must understand the archive (at least pg_dump's major) and the target server.
  const bin = pgToolForServer(
    'pg_restore',
    Math.max(info.serverMajor, manifest.pgDump.major),
    options.pgBinDirs,
  );

  const dir = fs.mkdtempSync(path.join(options.tempDir ?? os.tmpdir(), 'restorable-restore-'));
  try {
    // 2. The archive, verified while it downloads.
    const archive = path.join(dir, 'archive.dump');
    const downloadStarted = Date.now();
    await downloadVerified(
      source.s3,
      source.bucket,
      manifest.object,
      archive,
      options.onProgress
        ? (bytes) => options.onProgress!({ phase: 'download', bytes, totalBytes: manifest.object.bytes })
        : undefined,
      options.signal,
    );
    const downloadSeconds = seconds(downloadStarted);
    // Our reading of the TOC drives table selection and progress; a whole-database restore does
    // not depend on it, so an archive format newer than this parser knows is left to pg_restore.
    let toc: ArchiveToc | undefined;
    try {
      toc = readArchiveToc(archive);
    } catch (e) {
      const message = `s3://${source.bucket}/${manifest.object.key}: ${(e as Error).message}`;
      if (tableMode || /no PGDMP header/.test((e as Error).message))
        throw new RestoreError('NOT_AN_ARCHIVE', message);
      warnings.push(`table of contents not read (${message}); progress and owner checks are approximate`);
    }

    // Table restore: decide the entries (needs the target's catalog) and refuse conflicts.
    let plan: ReturnType<typeof planTableRestore> | undefined;
    if (tableMode) {
      const catalog = await withTargetClient(target, loadTargetCatalog);
      try {
        plan = planTableRestore(toc!, options.tables!, catalog, {
          privileges: options.restoreRoles !== false,
        });
      } catch (e) {
        throw new RestoreError('TABLE_NOT_IN_ARCHIVE', (e as Error).message);
      }
      if (plan.conflicts.length > 0 && !options.force) {
        throw new RestoreError(
          'TABLE_EXISTS',
          `target ${describeTarget(target)} already has ${plan.conflicts
            .map((t) => `"${t.schema}"."${t.name}"`)
            .join(', ')}; pass force to replace ${plan.conflicts.length === 1 ? 'it' : 'them'}`,
        );
      }
    }

    // 3. Roles.
    let roles: RolesResult;
    const wantRoles = options.restoreRoles !== false;
    if (!wantRoles) {
      roles = notAttempted('roles not requested');
    } else if (!manifest.globals.present) {
      roles = notAttempted(`backup has no globals file: ${manifest.globals.reason}`);
    } else {
      const sql = await fetchVerifiedText(source.s3, source.bucket, manifest.globals);
      roles = await withTargetClient(target, (c) => restoreRoles(c, sql, info.currentUser));
      options.onProgress?.({ phase: 'roles', applied: roles.applied, failed: roles.failed.length });
    }

    // Owners and grants are kept when the roles are there and usable.
    const entries = plan?.entries ?? toc?.entries;
    const owners = [...new Set((entries ?? []).map((e) => e.owner).filter((o): o is string => !!o))];
    let keepOwners = false;
    let ownersReason: string | undefined;
    if (!roles.attempted) ownersReason = roles.reason;
    else {
      const usable =
        entries || info.superuser
          ? await withTargetClient(target, (c) => ownersUsable(c, owners, info))
          : {
              ok: false,
              reason: 'owner roles unknown (table of contents not read) and not restoring as a superuser',
            };
      keepOwners = usable.ok;
      ownersReason = usable.reason;
      if (!usable.ok) warnings.push(`owners and grants not restored: ${usable.reason}`);
    }
    if (plan && !keepOwners) {
      plan = planTableRestore(toc!, options.tables!, await withTargetClient(target, loadTargetCatalog), {
        privileges: false,
      });
    }

    // 4. pg_restore.
    let useList: string | undefined;
    if (plan) {
      useList = path.join(dir, 'use-list.txt');
      fs.writeFileSync(useList, useListText(plan.entries), { mode: 0o600 });
    }
    const entriesTotal = plan ? plan.entries.length : toc ? restorableEntries(toc, keepOwners) : 0;
    const pgRestoreStarted = Date.now();
    const processed = await runPgRestore({
      bin,
      target,
      archive,
      jobs,
      keepOwners,
      clean: plan ? plan.conflicts.length > 0 : options.clean === true,
      useList,
      entriesTotal,
      onProgress: options.onProgress,
      signal: options.signal,
    });
    const pgRestoreSeconds = seconds(pgRestoreStarted);
    const restoreSeconds = seconds(started);

    // 5. Row counts of what was restored.
    const countStarted = Date.now();
    const restoredTables: readonly TableRef[] =
      plan?.tables ??
      (toc
        ? toc.entries.filter((e) => e.desc === 'TABLE').map((e) => ({ schema: e.namespace!, name: e.tag }))
        : manifest.tables.map((t) => ({ schema: t.schema, name: t.name })));
    const tables =
      options.countRows === false
        ? restoredTables.map((t) => withExpected(manifest, t, null))
        : await withTargetClient(target, (c) => countRestored(c, manifest, restoredTables));
    options.onProgress?.({ phase: 'count', tables: tables.length });

    return {
      backupId: manifest.backupId,
      databaseId: manifest.databaseId,
      target: describeTarget(target),
      mode: plan ? 'tables' : 'full',
      archive: { key: manifest.object.key, bytes: manifest.object.bytes, sha256: manifest.object.sha256 },
      pgRestore: { path: bin.path, major: bin.major, version: bin.version },
      targetServerVersion: info.serverVersion,
      jobs,
      owners: keepOwners ? 'kept' : 'dropped',
      ...(ownersReason ? { ownersReason } : {}),
      roles,
      entries: { total: entriesTotal, processed },
      skipped: plan?.skipped ?? [],
      prerequisites: (plan?.prerequisites ?? []).map(entryLabel),
      tables,
      downloadSeconds,
      pgRestoreSeconds,
      restoreSeconds,
      countSeconds: seconds(countStarted),
      warnings,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const notAttempted = (reason: string): RolesResult => ({
  attempted: false,
  reason,
  statements: 0,
  applied: 0,
  alreadyExisted: [],
  skipped: [],
  failed: [],
});

const entryLabel = (e: TocEntry) => `${e.desc} ${e.namespace ? `${e.namespace}.` : ''}${e.tag}`;

function withExpected(manifest: Manifest, t: TableRef, restored: number | null): RestoredTable {
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
async function countRestored(
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
