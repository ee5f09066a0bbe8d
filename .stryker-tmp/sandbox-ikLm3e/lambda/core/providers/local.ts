/**
 * Ephemeral databases as throwaway local clusters (local-cluster.ts): `initdb` into a fresh
 * temporary directory, a free loopback port, a random superuser password kept only in memory.
 * `release` stops the server and removes the directory; afterwards nothing listens on the port.
 *
 * Used by `restorable drill --local`, the demo and the integration tests.
 */
// @ts-nocheck

import * as fs from 'node:fs';
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
  /** Extra postgresql.conf settings. @default - none */
  readonly settings?: LocalClusterOptions['settings'];
  /** The database restores go into. @default 'postgres' */
  readonly database?: string;
}

export class LocalDatabaseProvider implements EphemeralDatabaseProvider {
  readonly name = 'local' as const;
  private readonly clusters = new Map<string, LocalCluster>();
  private readonly released = new Set<string>();

  constructor(private readonly options: LocalProviderOptions = {}) {}

  /**
   * The same major as the source when installed, else the nearest newer one (a restore into a
   * newer major works; into an older one it may not).
   */
  static majorFor(engineMajor: number): number {
    const installed = findPgBinaries('initdb').map((b) => b.major);
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
      major: LocalDatabaseProvider.majorFor(request.engineMajor),
      parentDir: this.options.parentDir,
      settings: this.options.settings,
    });
    const id = `local-${request.drillId}`;
    this.clusters.set(id, cluster);
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
    return { ...cluster.connection(this.options.database ?? 'postgres'), sslMode: 'disable' };
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
