/**
 * Materialized views are populated after pg_restore, not by it.
 *
 * pg_restore runs `REFRESH MATERIALIZED VIEW` with an empty `search_path` (the secure default it
 * sets for every session), so a view whose query calls a function that names a table without its
 * schema cannot be refreshed: with `--exit-on-error` the restore stops there, without it the view
 * stays unpopulated and nothing but a content check notices. The source database usually had a
 * `search_path` of its own (`ALTER DATABASE ... SET search_path`), which pg_restore only applies
 * with `--create`.
 *
 * So the restore leaves the `MATERIALIZED VIEW DATA` entries out of its use-list and, once
 * pg_restore has finished, refreshes each view in archive order (pg_dump orders them by their
 * dependencies) in a session whose search_path is the source database's (recorded in the
 * manifest at dump time), or PostgreSQL's default when the source set none. A view that still
 * cannot be refreshed is left unpopulated and named: the restore reports it as a warning, and the
 * drill's fingerprints fail on it (PostgreSQL 17+ refreshes with a safe search_path whatever the
 * session's, so there only fixing the function — `SET search_path` on it — helps).
 */
import type { ClientBase } from 'pg';
import type { TocEntry } from './archive-toc';
import { quoteIdent } from './inventory';

/** PostgreSQL's own default, for a source database that set no search_path. */
export const DEFAULT_SEARCH_PATH = '"$user", public';

export const MATVIEW_DATA = 'MATERIALIZED VIEW DATA';

export interface MatviewRefresh {
  /** Views refreshed, `schema.name`, in the order they were refreshed. */
  readonly refreshed: readonly string[];
  /** Views left unpopulated, with the server's error. */
  readonly failed: readonly { readonly name: string; readonly error: string }[];
  readonly searchPath: string;
}

/** The entries pg_restore must leave out so that restoreMatviews can refresh them itself. */
export const deferredMatviews = (entries: readonly TocEntry[]): TocEntry[] =>
  entries.filter((e) => e.desc === MATVIEW_DATA && e.namespace !== undefined);

/**
 * Refreshes the deferred views on `client`, each in its own statement; never throws for a view
 * that fails (it is reported), only when the connection is lost. The session's search_path is
 * put back afterwards.
 */
export async function refreshMatviews(
  client: ClientBase,
  entries: readonly TocEntry[],
  searchPath: string = DEFAULT_SEARCH_PATH,
): Promise<MatviewRefresh> {
  const refreshed: string[] = [];
  const failed: { name: string; error: string }[] = [];
  // set_config takes the value as a parameter: the recorded setting is never spliced into SQL.
  await client.query(`SELECT pg_catalog.set_config('search_path', $1, false)`, [searchPath]);
  try {
    for (const e of entries) {
      const name = `${e.namespace}.${e.tag}`;
      try {
        await client.query(`REFRESH MATERIALIZED VIEW ${quoteIdent(e.namespace!)}.${quoteIdent(e.tag)}`);
        refreshed.push(name);
      } catch (err) {
        const { code, message } = err as { code?: string; message: string };
        if (code === undefined) throw err; // not the server's answer: the connection is gone
        failed.push({ name, error: `${code}: ${message}` });
      }
    }
  } finally {
    await client.query('RESET search_path').catch(() => undefined);
  }
  return { refreshed, failed, searchPath };
}
