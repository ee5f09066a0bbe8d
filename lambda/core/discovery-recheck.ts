/**
 * The re-check right before a discovered database's backup: discovery may have run hours earlier
 * (the orchestrator's queue and jitter), and a database deleted since must fail alone, by name,
 * with DATABASE_GONE, not as a connection timeout, while the rest of the fleet goes on.
 */
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, type RDSClient } from '@aws-sdk/client-rds';
import type { FleetDatabase, RdsResource } from './discovery';

/** An RDS instance (`:db:`) or DB cluster (`:cluster:`) ARN, as discovery puts it in a run's input. */
export const RDS_RESOURCE_ARN_PATTERN =
  /^arn:aws[a-z-]*:rds:([a-z0-9-]+):(\d{12}):(db|cluster):([A-Za-z][A-Za-z0-9-]{0,62})$/;

/**
 * The resource a run's `rdsResourceArn` names, and its region (where to describe it).
 * @throws Error naming the value when it is not an RDS instance or cluster ARN
 */
export function rdsResourceFromArn(arn: string): RdsResource & { readonly region: string } {
  const m = RDS_RESOURCE_ARN_PATTERN.exec(arn);
  if (!m) {
    throw new Error(
      `${JSON.stringify(arn)} is not an RDS instance or cluster ARN (arn:aws:rds:<region>:<account>:db|cluster:<identifier>)`,
    );
  }
  return { kind: m[3] === 'db' ? 'instance' : 'cluster', identifier: m[4], arn, region: m[1] };
}

/** Why one database of a fleet cannot be backed up now; the others go on. */
export class FleetDatabaseError extends Error {
  override readonly name = 'FleetDatabaseError';
  constructor(
    readonly code: 'DATABASE_GONE',
    readonly databaseId: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Re-describes a discovered database right before its backup: one deleted (or being deleted) since
 * discovery fails with DATABASE_GONE naming it, instead of a connection timeout. A listed database
 * outside RDS has nothing to re-describe and passes.
 *
 * @returns the current endpoint (it can change, e.g. after a failover or a rename)
 * @throws FleetDatabaseError DATABASE_GONE
 */
export async function confirmDatabase(
  db: Pick<FleetDatabase, 'id' | 'resource' | 'host' | 'port'>,
  rds: RDSClient,
): Promise<{ host?: string; port?: number }> {
  const { resource } = db;
  if (!resource) return { host: db.host, port: db.port };
  const gone = (why: string) =>
    new FleetDatabaseError(
      'DATABASE_GONE',
      db.id,
      `database "${db.id}": RDS ${resource.kind} "${resource.identifier}" ${why} since it was discovered; ` +
        `no backup was taken. Its earlier backups are kept; remove its tags or its databases[] entry if it is gone for good`,
    );
  try {
    if (resource.kind === 'instance') {
      const out = await rds.send(
        new DescribeDBInstancesCommand({ DBInstanceIdentifier: resource.identifier }),
      );
      const instance = out.DBInstances?.[0];
      if (!instance) throw gone('no longer exists');
      if (instance.DBInstanceStatus === 'deleting') throw gone('is being deleted');
      return { host: instance.Endpoint?.Address, port: instance.Endpoint?.Port };
    }
    const out = await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: resource.identifier }));
    const cluster = out.DBClusters?.[0];
    if (!cluster) throw gone('no longer exists');
    if (cluster.Status === 'deleting') throw gone('is being deleted');
    return { host: cluster.Endpoint, port: cluster.Port };
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'DBInstanceNotFoundFault' || name === 'DBClusterNotFoundFault')
      throw gone('no longer exists');
    throw err;
  }
}

/** {@link confirmDatabase} for many: one that is gone fails alone, the rest are returned ready. */
export async function confirmDatabases<D extends Pick<FleetDatabase, 'id' | 'resource' | 'host' | 'port'>>(
  databases: readonly D[],
  rds: RDSClient,
): Promise<{ ready: D[]; failed: { id: string; code: string; message: string }[] }> {
  const settled = await Promise.allSettled(databases.map((db) => confirmDatabase(db, rds)));
  const ready: D[] = [];
  const failed: { id: string; code: string; message: string }[] = [];
  settled.forEach((result, i) => {
    const db = databases[i];
    if (result.status === 'fulfilled') ready.push({ ...db, ...result.value });
    else {
      const err = result.reason as Error & { code?: string };
      failed.push({ id: db.id, code: err.code ?? 'INTERNAL', message: err.message });
    }
  });
  return { ready, failed };
}
