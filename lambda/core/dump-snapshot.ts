/**
 * The snapshot a backup is taken in, and the inventory read in it — in two sessions, so that the
 * backup can never wedge production:
 *
 * - The *exporting* session opens `REPEATABLE READ READ ONLY`, calls `pg_export_snapshot()` and
 *   then runs nothing else until pg_dump ends: it holds no relation lock.
 * - A *counting* session imports that snapshot (`SET TRANSACTION SNAPSHOT`), reads the catalog,
 *   counts rows (row-counts.ts) and large objects, takes the content fingerprints (fingerprint.ts,
 *   within their own budget, smallest tables first) and commits and disconnects **before pg_dump
 *   starts**, under `lock_timeout`. Fingerprints before pg_dump also because sequences are read
 *   outside any snapshot: read first, the archive's value can only be at or ahead of the recorded
 *   one, which the drill's comparison accepts.
 *
 * Why: had the exporter counted, it would hold ACCESS SHARE on every table until pg_dump ended. A
 * migration's `ALTER TABLE` arriving between a count and pg_dump's `LOCK TABLE` waits for the
 * exporter, pg_dump queues behind the ALTER, and the exporter waits for pg_dump — a cycle through
 * our Node process that PostgreSQL's deadlock detector cannot see, with application queries queued
 * behind the ALTER. Now the ALTER waits at most for the counting session (bounded by its
 * lock_timeout and budget) or for pg_dump itself (bounded by the dump, and pg_dump's
 * `--lock-wait-timeout` bounds its own wait for the ALTER).
 * @see https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-SNAPSHOT-SYNCHRONIZATION
 * @see https://www.postgresql.org/docs/current/explicit-locking.html
 */
import { Client } from 'pg';
import { BackupError } from './backup-error';
import { listExtensions, type ExtensionInfo } from './extensions';
import { computeFingerprints } from './fingerprint';
import type { Fingerprints } from './fingerprint-schema';
import { catalogCounts, countRows, listTables, type SchemaScope } from './inventory';
import { summarizeLargeObjects } from './large-objects';
import type { CoreLogger } from './logger';
import type { CatalogCounts, LargeObjects, TableEntry } from './manifest';
import { pgClientConfig, type DbConnection, type TlsOptions } from './secrets';

const LOCK_NOT_AVAILABLE = '55P03';

/** Opens the exporting transaction on `client` and returns the snapshot id. Nothing else runs in it. */
export async function exportSnapshot(client: Client): Promise<string> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  // The exporting transaction must outlive pg_dump's import and the whole dump, while we only
  // stream; a server-side idle timeout would end it.
  await client.query('SET LOCAL idle_in_transaction_session_timeout = 0');
  return (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0].id;
}

export interface InventoryRequest {
  readonly conn: DbConnection;
  readonly tls: TlsOptions;
  readonly snapshot: string;
  readonly scope: SchemaScope;
  readonly budgetMs: number;
  readonly perTableMs: number;
  /**
   * Time for content fingerprints, ms, on top of the counts; 0 takes none (the manifest then has
   * no `fingerprints`, and the drill compares counts only).
   */
  readonly fingerprintBudgetMs: number;
  /** `lock_timeout` of the counting session, ms. */
  readonly lockTimeoutMs: number;
  readonly backupId: string;
  readonly log: CoreLogger;
}

export interface Inventory {
  readonly tables: TableEntry[];
  readonly catalog: CatalogCounts;
  readonly extensions: ExtensionInfo[];
  readonly largeObjects: LargeObjects;
  readonly fingerprints?: Fingerprints;
  /** The database's own search_path setting, when it has one. */
  readonly searchPath?: string;
}

/** Reads the inventory in a second session on the exported snapshot; the session is closed on return. */
export async function takeInventory(req: InventoryRequest): Promise<Inventory> {
  if (!/^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$/i.test(req.snapshot)) {
    throw new BackupError('SNAPSHOT', `unexpected snapshot id ${req.snapshot}`, req.backupId);
  }
  const counter = new Client(pgClientConfig(req.conn, req.tls, { application_name: 'restorable-count' }));
  counter.on('error', (e) => req.log.warn('counting connection error', { error: e.message }));
  try {
    await counter.connect();
    await counter.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // Must be the transaction's first statement. The id was checked above and comes from the server.
    await counter.query(`SET TRANSACTION SNAPSHOT '${req.snapshot}'`);
    await counter.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(req.lockTimeoutMs))}`);
    const infos = await listTables(counter, req.scope);
    const catalog = await catalogCounts(counter, req.scope);
    const extensions = await listExtensions(counter);
    const tables = await countRows(counter, infos, { budgetMs: req.budgetMs, perTableMs: req.perTableMs });
    const largeObjects = await summarizeLargeObjects(counter);
    const searchPath = await databaseSearchPath(counter);
    const fingerprints = await takeFingerprints(counter, req, tables);
    await counter.query('COMMIT');
    return {
      tables,
      catalog,
      extensions,
      largeObjects,
      ...(fingerprints ? { fingerprints } : {}),
      ...(searchPath !== undefined ? { searchPath } : {}),
    };
  } catch (e) {
    await counter.query('ROLLBACK').catch(() => undefined);
    if (e instanceof BackupError) throw e;
    if ((e as { code?: string }).code === LOCK_NOT_AVAILABLE) {
      throw new BackupError(
        'LOCK_TIMEOUT',
        `reading the inventory waited more than ${req.lockTimeoutMs} ms for a lock (a migration or ` +
          `another long transaction holds one); retry after it ends: ${(e as Error).message}`,
        req.backupId,
      );
    }
    throw new BackupError(
      'SNAPSHOT',
      `cannot take the inventory snapshot: ${(e as Error).message}`,
      req.backupId,
    );
  } finally {
    // Disconnecting ends the transaction for sure: no lock of ours is left when pg_dump starts.
    await counter.end().catch(() => undefined);
  }
}

/**
 * Fingerprints in the counting session, sized by its exact counts. Optional evidence: a failure
 * here (the catalog could not be read) leaves them out of the manifest with a warning rather than
 * failing the backup, and the drill then says the backup has none.
 */
async function takeFingerprints(
  counter: Client,
  req: InventoryRequest,
  tables: readonly TableEntry[],
): Promise<Fingerprints | undefined> {
  if (req.fingerprintBudgetMs <= 0) return undefined;
  const rowCounts = new Map(
    tables.filter((t) => t.kind === 'r' && t.count === 'exact').map((t) => [`${t.schema}.${t.name}`, t.rows]),
  );
  try {
    const fingerprints = await computeFingerprints(counter, {
      scope: req.scope,
      budgetMs: req.fingerprintBudgetMs,
      rowCounts,
    });
    req.log.info('fingerprints taken', {
      backupId: req.backupId,
      seconds: fingerprints.seconds,
      complete: fingerprints.complete,
      skipped: fingerprints.tables.filter((t) => 'skipped' in t).length,
    });
    return fingerprints;
  } catch (e) {
    req.log.warn('fingerprints not taken', { backupId: req.backupId, error: (e as Error).message });
    return undefined;
  }
}

/** `ALTER DATABASE <this> SET search_path` (for every role), as the server stores it. */
async function databaseSearchPath(client: Client): Promise<string | undefined> {
  const { rows } = await client.query<{ v: string | null }>(
    `SELECT (SELECT substr(s, length('search_path=') + 1)
               FROM pg_catalog.pg_db_role_setting d, unnest(d.setconfig) s
              WHERE d.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
                AND d.setrole = 0 AND s LIKE 'search\\_path=%') AS v`,
  );
  return rows[0]?.v ?? undefined;
}
