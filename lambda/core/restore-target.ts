/**
 * The database a restore writes into, before anything is written: connecting to it (TLS per
 * secrets.ts), what it is (server version, current user, superuser) and whether it is empty, and
 * its catalog keyed the way an archive's table of contents names objects (for table restores,
 * restore-plan.ts).
 */
import { Client, type ClientBase } from 'pg';
import { majorFromVersionNum } from './pg-bin';
import { catalogKey, type TargetCatalog } from './restore-plan';
import { pgClientConfig, type DbConnection, type TlsOptions } from './secrets';

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
 * `public` (and the schemas of installed extensions), and no table, view, sequence, function or
 * type in any non-system schema (objects created by extensions do not count). Schemas in
 * `platformSchemas` (a preset's: what the target's platform made, presets.ts) do not count either.
 */
export async function inspectTarget(
  client: ClientBase,
  platformSchemas: readonly string[] = [],
): Promise<TargetInfo> {
  const { rows: info } = await client.query<{ version: string; num: string; usr: string; su: boolean }>(
    `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
            current_user AS usr, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su`,
  );
  const { rows } = await client.query<{ what: string }>(
    `SELECT what FROM (
       SELECT 'schema ' || n.nspname AS what FROM pg_namespace n
        WHERE ${USER_NAMESPACE} AND n.nspname <> 'public' AND ${notExtensionMember('pg_namespace', 'n')}
          -- a schema holding a pre-installed extension (the platform extensions schema) is not user data
          AND NOT EXISTS (SELECT 1 FROM pg_extension e WHERE e.extnamespace = n.oid)
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
     ) o WHERE split_part(substr(what, strpos(what, ' ') + 1), '.', 1) <> ALL($1::text[])
     ORDER BY what LIMIT 10`,
    [platformSchemas],
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
