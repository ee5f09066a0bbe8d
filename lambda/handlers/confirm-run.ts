/**
 * The re-check a run of a discovered database makes first (lambda/core/discovery-recheck.ts): the
 * run input names the RDS resource (`rdsResourceArn`), discovery may have run hours earlier, and a
 * database deleted since must fail its own run with DATABASE_GONE, by name, not as a connection
 * timeout, while the fleet's other runs go on. A listed database outside RDS has no ARN and skips it.
 *
 * IAM the function needs for it: rds:DescribeDBInstances and rds:DescribeDBClusters (metadata only),
 * with the function's own role (the data-access role holds data permissions only).
 */
import { RDSClient } from '@aws-sdk/client-rds';
import { confirmDatabase, rdsResourceFromArn } from '../core/discovery-recheck';
import { traced } from './powertools';

const rdsClients = new Map<string, RDSClient>();

/** The RDS client of `region`, kept for the execution environment. */
function rdsIn(region: string): RDSClient {
  let client = rdsClients.get(region);
  if (!client) {
    client = traced(new RDSClient({ region }));
    rdsClients.set(region, client);
  }
  return client;
}

/**
 * Confirms that the run's RDS resource still exists and is not being deleted; returns its current
 * endpoint (it can change after a failover), or the given one when there is no resource to check.
 *
 * @throws FleetDatabaseError DATABASE_GONE
 */
export async function confirmRunDatabase(run: {
  readonly databaseId: string;
  readonly rdsResourceArn?: string;
  readonly host?: string;
  readonly port?: number;
}): Promise<{ host?: string; port?: number }> {
  if (!run.rdsResourceArn) return { host: run.host, port: run.port };
  const { region, ...resource } = rdsResourceFromArn(run.rdsResourceArn);
  const current = await confirmDatabase(
    { id: run.databaseId, resource, host: run.host, port: run.port },
    rdsIn(region),
  );
  return { host: current.host ?? run.host, port: current.port ?? run.port };
}
