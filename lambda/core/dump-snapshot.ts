/**
 * The snapshot a backup is taken in, and the inventory read in it — in two sessions, so that the
 * backup can never wedge production:
 *
 * - The *exporting* session opens `REPEATABLE READ READ ONLY`, calls `pg_export_snapshot()` and
 *   then runs nothing else until pg_dump ends: it holds no relation lock.
 * - A *counting* session imports that snapshot (`SET TRANSACTION SNAPSHOT`), reads the catalog,
 *   counts rows (row-counts.ts) and large objects, and commits and disconnects **before pg_dump
 *   starts**, under `lock_timeout`.
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
    await counter.query('COMMIT');
    return { tables, catalog, extensions, largeObjects };
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
