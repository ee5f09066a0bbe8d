/**
 * Ephemeral databases as throwaway local clusters (local-cluster.ts): `initdb` into a fresh
 * temporary directory, a free loopback port, a random superuser password kept only in memory.
 * `release` stops the server and removes the directory; afterwards nothing listens on the port.
 *
 * Used by `restorable drill --local`, the demo and the integration tests.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { Client } from 'pg';
import { quoteIdent } from '../inventory';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startLocalCluster, type LocalCluster, type LocalClusterOptions } from '../local-cluster';
import { findPgBinaries } from '../pg-bin';
import type { RestoreTarget } from '../restore';
import type {
  EphemeralDatabaseProvider,
  EphemeralDescription,
  EphemeralHandle,
  ProvisionRequest,
  ReleaseResult,
  StatusResult,
} from './provider';

export interface LocalProviderOptions {
  /** Where the temporary clusters go. @default - os.tmpdir() */
  readonly parentDir?: string;
  /** Extra postgresql.conf settings, over DRILL_CLUSTER_SETTINGS. @default - none */
  readonly settings?: LocalClusterOptions['settings'];
  /** The database restores go into. @default 'postgres' (with managedAdmin: 'restorable') */
  readonly database?: string;
  /**
   * Restore as the kind of admin RDS and Supabase hand out instead of the cluster's superuser: a
   * LOGIN CREATEROLE CREATEDB role (`restorable_admin`, random password), not superuser, owning
   * the (new) restore database; the cluster's `postgres` stays a superuser it cannot act as, as
   * `rdsadmin` is on RDS. @default false
   */
  readonly managedAdmin?: boolean;
}

/** The managedAdmin role's name. */
export const LOCAL_MANAGED_ADMIN = 'restorable_admin';

/**
 * What a drill target needs beyond a test cluster's defaults: a lock table for databases with
 * thousands of tables (pg_restore and the checks release locks as they go, but an operator's own
 * check may not), as the RDS drill's parameter group raises it.
 */
export const DRILL_CLUSTER_SETTINGS: Readonly<Record<string, number>> = { max_locks_per_transaction: 1024 };

export class LocalDatabaseProvider implements EphemeralDatabaseProvider {
  readonly name = 'local' as const;
  private readonly clusters = new Map<string, LocalCluster>();
  private readonly released = new Set<string>();
  private readonly adminPasswords = new Map<string, string>();

  constructor(private readonly options: LocalProviderOptions = {}) {}

  /**
   * The same major as the source when installed, else the nearest newer one (a restore into a
   * newer major works; into an older one it may not).
   */
  static majorFor(engineMajor: number, exact = false): number {
    const installed = findPgBinaries('initdb').map((b) => b.major);
    if (exact && !installed.includes(engineMajor)) {
      throw new Error(
        `drill.targetMajor ${engineMajor}: no local PostgreSQL ${engineMajor} (initdb) is installed ` +
          `(installed: ${installed.join(', ') || 'none'}); install its server package or set RESTORABLE_PG_BIN_DIRS`,
      );
    }
    const usable = installed.filter((m) => m >= engineMajor).sort((a, b) => a - b);
    if (usable.length === 0) {
      throw new Error(
        `no local PostgreSQL ${engineMajor} or newer to drill into (installed: ${installed.join(', ') || 'none'})`,
      );
    }
    return usable[0];
  }

  async provision(request: ProvisionRequest): Promise<EphemeralHandle> {
    const cluster = await startLocalCluster({
      major: LocalDatabaseProvider.majorFor(request.engineMajor, request.exactMajor),
      parentDir: this.options.parentDir,
      settings: { ...DRILL_CLUSTER_SETTINGS, ...this.options.settings },
    });
    const id = `local-${request.drillId}`;
    this.clusters.set(id, cluster);
    if (this.options.managedAdmin) {
      const password = randomBytes(18).toString('base64url');
      const admin = new Client(cluster.connection('postgres'));
      await admin.connect();
      try {
        // The password is random and base64url: nothing in it needs quoting.
        await admin.query(
          `CREATE ROLE ${LOCAL_MANAGED_ADMIN} LOGIN CREATEROLE CREATEDB PASSWORD '${password}'`,
        );
        await admin.query(`CREATE DATABASE ${quoteIdent(this.database())} OWNER ${LOCAL_MANAGED_ADMIN}`);
      } finally {
        await admin.end();
      }
      this.adminPasswords.set(id, password);
    }
    return {
      provider: 'local',
      id,
      details: { port: cluster.port, dataDir: cluster.dataDir, major: cluster.major },
    };
  }

  async status(handle: EphemeralHandle): Promise<StatusResult> {
    const cluster = this.clusters.get(handle.id);
    if (!cluster)
      return { status: this.released.has(handle.id) ? 'deleted' : 'failed', detail: 'unknown cluster' };
    return cluster.isRunning() ? { status: 'available' } : { status: 'failed', detail: 'server not running' };
  }

  async connection(handle: EphemeralHandle): Promise<RestoreTarget> {
    const cluster = this.clusters.get(handle.id);
    if (!cluster) throw new Error(`local ephemeral database ${handle.id} is not running in this process`);
    const password = this.adminPasswords.get(handle.id);
    const base = cluster.connection(this.database());
    return password !== undefined
      ? { ...base, user: LOCAL_MANAGED_ADMIN, password, sslMode: 'disable' }
      : { ...base, sslMode: 'disable' };
  }

  private database(): string {
    return this.options.database ?? (this.options.managedAdmin ? 'restorable' : 'postgres');
  }

  async release(handle: EphemeralHandle): Promise<ReleaseResult> {
    const cluster = this.clusters.get(handle.id);
    if (cluster) {
      await cluster.stop();
      this.clusters.delete(handle.id);
      this.released.add(handle.id);
      return { released: true, alreadyGone: false };
    }
    // Not ours in memory (another process, or released before): make sure the directory is gone.
    const dataDir = typeof handle.details?.dataDir === 'string' ? handle.details.dataDir : undefined;
    if (
      dataDir &&
      path.basename(path.dirname(dataDir)).startsWith('restorable-pg-') &&
      fs.existsSync(dataDir)
    ) {
      stopOrphan(dataDir);
      fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
      return { released: true, alreadyGone: false };
    }
    this.released.add(handle.id);
    return { released: true, alreadyGone: true };
  }

  async describe(handle: EphemeralHandle): Promise<EphemeralDescription> {
    const cluster = this.clusters.get(handle.id);
    const major = cluster?.major ?? handle.details?.major;
    return {
      provider: 'local',
      id: handle.id,
      ...(major !== undefined ? { engineVersion: String(major) } : {}),
      status: cluster ? (cluster.isRunning() ? 'running' : 'stopped') : 'released',
    };
  }
}

/** Best-effort `pg_ctl stop` of a cluster this process did not start. */
function stopOrphan(dataDir: string): void {
  const pgCtl = findPgBinaries('pg_ctl')[0];
  if (!pgCtl) return;
  try {
    const st = fs.statSync(dataDir);
    execFileSync(pgCtl.path, ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], {
      stdio: 'ignore',
      ...(process.getuid?.() === 0 ? { uid: st.uid, gid: st.gid } : {}),
    });
  } catch {
    // not running
  }
}
