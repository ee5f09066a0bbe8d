/**
 * Tag-based selection of databases at run time, the way an AWS Backup resource assignment selects
 * resources: every RDS instance and DB cluster whose engine is selected and which carries all the
 * selected tags, merged with the explicitly listed `databases[]`.
 *
 * Nothing a database could need is dropped in silence: a selected database that cannot be backed
 * up (no secret, a missing secret, an id that is not valid, two databases claiming one id) is
 * returned in `skipped` with a code and a sentence saying how to fix it, so the orchestrator can
 * count and alarm on it.
 *
 * Each database's VPC comes with it (an instance's DB subnet group; a cluster's from one of its
 * member instances, else DescribeDBSubnetGroups), because a fleet's runners reach a database only
 * from a placement in its VPC: with `runnerVpcIds`, a discovered database in any other VPC is
 * skipped as NO_RUNNER_NETWORK, naming the VPC, instead of failing its run at night.
 *
 * Only metadata is read: DescribeDBInstances, DescribeDBClusters, DescribeDBSubnetGroups and
 * DescribeSecret. No secret value ever passes through discovery.
 * @see https://docs.aws.amazon.com/aws-backup/latest/devguide/assigning-resources.html
 */
import {
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeDBSubnetGroupsCommand,
  type DBCluster,
  type DBInstance,
  type RDSClient,
  type Tag,
} from '@aws-sdk/client-rds';
import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { FleetTags, matchesTags, type FleetEngine, type FleetSelectionInput } from './fleet-settings';
import { DATABASE_ID_PATTERN } from './tiers';

export interface DiscoveryClients {
  readonly rds: RDSClient;
  readonly secrets: SecretsManagerClient;
}

/** An explicitly listed database (`databases[]`); its other settings travel along untouched. */
export interface ListedDatabase {
  readonly id: string;
  readonly secretArn: string;
}

/** The RDS resource a discovered database is. */
export interface RdsResource {
  readonly kind: 'instance' | 'cluster';
  readonly identifier: string;
  readonly arn: string;
}

export interface FleetDatabase<L extends ListedDatabase = ListedDatabase> {
  readonly id: string;
  /** `listed` when a `databases[]` entry names it (whether or not discovery also found it). */
  readonly source: 'listed' | 'discovered';
  readonly secretArn: string;
  /** What discovery found; absent for a listed database outside RDS (e.g. Supabase). */
  readonly resource?: RdsResource;
  readonly engine?: FleetEngine;
  readonly host?: string;
  readonly port?: number;
  /** The PostgreSQL database to dump. */
  readonly dbname?: string;
  /** The VPC the database is in (its DB subnet group's); a fleet runs it on that VPC's runners. */
  readonly vpcId?: string;
  /** The `databases[]` entry, whose settings override the defaults. */
  readonly listed?: L;
}

export type SkipCode =
  | 'NO_SECRET'
  | 'SECRET_MISSING'
  | 'SECRET_NOT_TAGGED'
  | 'INVALID_ID'
  | 'ID_CONFLICT'
  | 'NOT_RUNNING'
  | 'CLUSTER_NOT_SELECTED'
  | 'NO_RUNNER_NETWORK';

export interface SkippedDatabase {
  readonly resource: RdsResource;
  /** The id it would have had, when one could be derived. */
  readonly id?: string;
  readonly code: SkipCode;
  readonly reason: string;
}

export interface DiscoveryOptions {
  /**
   * The VPCs the fleet has runners in (fleet.vpc and fleet.networks). A discovered database in
   * another VPC, or in none, is skipped as NO_RUNNER_NETWORK: no runner could reach it. Listed
   * databases are never skipped for it (synth placed them on their own network).
   * @default - no check (the freshness check, small deployments and the local demo)
   */
  readonly runnerVpcIds?: readonly string[];
}

export interface DiscoveryResult<L extends ListedDatabase = ListedDatabase> {
  /** Sorted by id. */
  readonly databases: FleetDatabase<L>[];
  readonly skipped: SkippedDatabase[];
}

/** Statuses in which there is nothing to dump; others (modifying, backing-up, ...) still serve queries. */
const NOT_RUNNING = new Set([
  'deleting',
  'stopped',
  'stopping',
  'failed',
  'inaccessible-encryption-credentials',
]);

/** Tags RDS puts on the master secret it manages: the resource it belongs to. */
const RDS_SECRET_OWNER_TAGS = ['aws:rds:primaryDBInstanceArn', 'aws:rds:primaryDBClusterArn'];

const SECRET_ARN = /^arn:aws(-cn|-us-gov)?:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;

/** How many DescribeSecret calls run at once (Secrets Manager allows 50 per second for it). */
const DESCRIBE_SECRET_CONCURRENCY = 8;

const tagMap = (list: readonly Tag[] | undefined) =>
  new Map((list ?? []).flatMap((t) => (t.Key ? [[t.Key, t.Value ?? ''] as const] : [])));

interface Candidate {
  readonly resource: RdsResource;
  readonly engine: FleetEngine;
  readonly tags: ReadonlyMap<string, string>;
  readonly secretArn?: string;
  readonly secretProblem?: string;
  readonly host?: string;
  readonly port?: number;
  readonly defaultDbname?: string;
  readonly status?: string;
  readonly vpcId?: string;
  /** A cluster's DB subnet group name, to look its VPC up when no member instance gives it. */
  readonly subnetGroupName?: string;
}

/**
 * Finds the databases `selection` picks, checks each one's secret, and merges them with `listed`
 * (a listed entry with the same id overrides what was discovered; listed entries discovery did not
 * find are kept as they are).
 */
export async function discoverDatabases<L extends ListedDatabase>(
  selection: FleetSelectionInput,
  clients: DiscoveryClients,
  listed: readonly L[] = [],
  options: DiscoveryOptions = {},
): Promise<DiscoveryResult<L>> {
  const engines: readonly FleetEngine[] = selection.engines ?? ['postgres', 'aurora-postgresql'];
  const skipped: SkippedDatabase[] = [];

  const clusters = (await describeAllClusters(clients.rds, engines)).filter(
    (c) => engines.includes(c.Engine as FleetEngine) && matchesTags(selection.tags, tagMap(c.TagList)),
  );
  const instances = await describeAllInstances(clients.rds, engines);
  const selectedClusters = new Set(clusters.map((c) => c.DBClusterIdentifier));
  // DescribeDBClusters names a cluster's DB subnet group but not its VPC; every member instance
  // (tagged or not: tags on a cluster do not reach its instances) carries the VPC.
  const memberVpcs = new Map<string, string>();
  for (const instance of instances) {
    if (instance.DBClusterIdentifier && instance.DBSubnetGroup?.VpcId)
      memberVpcs.set(instance.DBClusterIdentifier, instance.DBSubnetGroup.VpcId);
  }
  const candidates: Candidate[] = clusters.map((c) =>
    clusterCandidate(c, memberVpcs.get(c.DBClusterIdentifier ?? '')),
  );

  for (const instance of instances) {
    if (!engines.includes(instance.Engine as FleetEngine)) continue;
    if (!matchesTags(selection.tags, tagMap(instance.TagList))) continue;
    const candidate = instanceCandidate(instance);
    if (instance.DBClusterIdentifier) {
      // A cluster member is backed up through its cluster, never on its own.
      if (!selectedClusters.has(instance.DBClusterIdentifier)) {
        skipped.push({
          resource: candidate.resource,
          code: 'CLUSTER_NOT_SELECTED',
          reason: `instance "${instance.DBInstanceIdentifier}" belongs to cluster "${instance.DBClusterIdentifier}", which the selection does not match: tag the cluster, not its instances`,
        });
      }
      continue;
    }
    candidates.push(candidate);
  }

  const runnerVpcs = options.runnerVpcIds && new Set(options.runnerVpcIds);
  if (runnerVpcs) await placeClusters(clients.rds, candidates);

  const byId = new Map<string, Candidate[]>();
  for (const candidate of candidates) {
    const id = candidate.tags.get(FleetTags.id) ?? candidate.resource.identifier;
    if (!DATABASE_ID_PATTERN.test(id)) {
      skipped.push({
        resource: candidate.resource,
        code: 'INVALID_ID',
        reason: `"${id}" is not a valid database id (1-40 lowercase letters, digits and hyphens, starting with a letter): set the ${FleetTags.id} tag`,
      });
      continue;
    }
    byId.set(id, [...(byId.get(id) ?? []), candidate]);
  }

  const listedById = new Map(listed.map((entry) => [entry.id, entry]));
  const found: FleetDatabase<L>[] = [];
  const toCheck: { id: string; candidate: Candidate }[] = [];
  for (const [id, group] of byId) {
    if (group.length > 1) {
      const names = group.map((c) => `${c.resource.kind} "${c.resource.identifier}"`).join(', ');
      for (const candidate of group) {
        skipped.push({
          resource: candidate.resource,
          id,
          code: 'ID_CONFLICT',
          reason: `database id "${id}" is claimed by ${names}: give each a distinct ${FleetTags.id} tag`,
        });
      }
      continue;
    }
    const [candidate] = group;
    const entry = listedById.get(id);
    if (entry) {
      // The listed entry decides (its secret included); discovery only adds where the database is.
      found.push(toFleetDatabase(id, candidate, entry.secretArn, entry));
    } else if (candidate.status && NOT_RUNNING.has(candidate.status)) {
      skipped.push({
        resource: candidate.resource,
        id,
        code: 'NOT_RUNNING',
        reason: `${candidate.resource.kind} "${candidate.resource.identifier}" is ${candidate.status}: nothing to dump until it runs again`,
      });
    } else if (runnerVpcs && !runnerVpcs.has(candidate.vpcId ?? '')) {
      skipped.push({
        resource: candidate.resource,
        id,
        code: 'NO_RUNNER_NETWORK',
        reason: noRunnerNetworkReason(candidate),
      });
    } else if (!candidate.secretArn) {
      skipped.push({
        resource: candidate.resource,
        id,
        code: 'NO_SECRET',
        reason: candidate.secretProblem ?? noSecretReason(candidate),
      });
    } else {
      toCheck.push({ id, candidate });
    }
  }

  for (const { id, candidate, problem } of await checkSecrets(clients.secrets, toCheck)) {
    if (problem) skipped.push({ resource: candidate.resource, id, ...problem });
    else found.push(toFleetDatabase(id, candidate, candidate.secretArn!));
  }

  const foundIds = new Set(found.map((db) => db.id));
  for (const entry of listed) {
    if (!foundIds.has(entry.id))
      found.push({ id: entry.id, source: 'listed', secretArn: entry.secretArn, listed: entry });
  }
  found.sort((a, b) => a.id.localeCompare(b.id));
  skipped.sort((a, b) => a.resource.identifier.localeCompare(b.resource.identifier));
  return { databases: found, skipped };
}

function noSecretReason(candidate: Candidate): string {
  return (
    `${candidate.resource.kind} "${candidate.resource.identifier}" has no RDS-managed master secret and no ${FleetTags.secretArn} tag: ` +
    `turn on ManageMasterUserPassword or tag it with the ARN of a secret in the RDS shape`
  );
}

function noRunnerNetworkReason(candidate: Candidate): string {
  const what = `${candidate.resource.kind} "${candidate.resource.identifier}"`;
  const vpcId = candidate.vpcId;
  return vpcId
    ? `${what} is in ${vpcId}, where the fleet has no runner network: add a placement in ${vpcId} ` +
        '(two private subnets and a security group the database accepts) to fleet.networks, or remove its selection tags'
    : `RDS reports no VPC for ${what} (no DB subnet group): the fleet's runners reach databases only in the VPCs of fleet.vpc and fleet.networks`;
}

/**
 * Gives the VPC of its DB subnet group to each cluster no member instance placed (one without
 * instances yet): one DescribeDBSubnetGroups per distinct group. A group RDS no longer knows gives
 * no VPC, so that database is skipped rather than failing the others.
 */
async function placeClusters(rds: RDSClient, candidates: Candidate[]): Promise<void> {
  const unplaced = candidates.filter((c) => !c.vpcId && c.subnetGroupName);
  const vpcs = new Map<string, string | undefined>();
  for (const name of new Set(unplaced.map((c) => c.subnetGroupName!))) {
    try {
      const page = await rds.send(new DescribeDBSubnetGroupsCommand({ DBSubnetGroupName: name }));
      vpcs.set(name, page.DBSubnetGroups?.[0]?.VpcId);
    } catch (err) {
      if ((err as { name?: string }).name !== 'DBSubnetGroupNotFoundFault') throw err;
    }
  }
  for (const candidate of unplaced) {
    candidates[candidates.indexOf(candidate)] = { ...candidate, vpcId: vpcs.get(candidate.subnetGroupName!) };
  }
}

function clusterCandidate(cluster: DBCluster, memberVpcId: string | undefined): Candidate {
  return {
    resource: {
      kind: 'cluster',
      identifier: cluster.DBClusterIdentifier ?? '',
      arn: cluster.DBClusterArn ?? '',
    },
    engine: cluster.Engine as FleetEngine,
    tags: tagMap(cluster.TagList),
    ...secretOf(tagMap(cluster.TagList), cluster.MasterUserSecret),
    // The writer endpoint: pg_dump needs a consistent snapshot, which any member could give, but
    // readers may lag; the writer is the database as the application sees it.
    host: cluster.Endpoint,
    port: cluster.Port,
    defaultDbname: cluster.DatabaseName,
    status: cluster.Status,
    vpcId: memberVpcId,
    subnetGroupName: cluster.DBSubnetGroup,
  };
}

function instanceCandidate(instance: DBInstance): Candidate {
  return {
    resource: {
      kind: 'instance',
      identifier: instance.DBInstanceIdentifier ?? '',
      arn: instance.DBInstanceArn ?? '',
    },
    engine: instance.Engine as FleetEngine,
    tags: tagMap(instance.TagList),
    ...secretOf(tagMap(instance.TagList), instance.MasterUserSecret),
    host: instance.Endpoint?.Address,
    port: instance.Endpoint?.Port,
    defaultDbname: instance.DBName,
    status: instance.DBInstanceStatus,
    vpcId: instance.DBSubnetGroup?.VpcId,
  };
}

/** The secret tag wins over the managed master secret: it is the operator's explicit choice. */
function secretOf(
  tags: ReadonlyMap<string, string>,
  managed: { SecretArn?: string; SecretStatus?: string } | undefined,
): { secretArn?: string; secretProblem?: string } {
  const tagged = tags.get(FleetTags.secretArn);
  if (tagged !== undefined) {
    return SECRET_ARN.test(tagged)
      ? { secretArn: tagged }
      : { secretProblem: `the ${FleetTags.secretArn} tag "${tagged}" is not a Secrets Manager secret ARN` };
  }
  if (managed?.SecretArn) {
    return managed.SecretStatus === 'impaired'
      ? {
          secretProblem: `the RDS-managed master secret ${managed.SecretArn} is impaired (its KMS key is unusable)`,
        }
      : { secretArn: managed.SecretArn };
  }
  return {};
}

function toFleetDatabase<L extends ListedDatabase>(
  id: string,
  candidate: Candidate,
  secretArn: string,
  listed?: L,
): FleetDatabase<L> {
  return {
    id,
    source: listed ? 'listed' : 'discovered',
    secretArn,
    resource: candidate.resource,
    engine: candidate.engine,
    host: candidate.host,
    port: candidate.port,
    dbname: candidate.tags.get(FleetTags.dbname) || candidate.defaultDbname || 'postgres',
    ...(candidate.vpcId ? { vpcId: candidate.vpcId } : {}),
    ...(listed ? { listed } : {}),
  };
}

/**
 * Checks that each secret exists, is not scheduled for deletion, and is one the data-access role
 * lets a run for this id read (tagged `restorable:database=<id>`, or RDS's own secret of this very
 * resource). Refusing here names the problem now instead of failing the night's backup later.
 */
async function checkSecrets(
  client: SecretsManagerClient,
  items: readonly { id: string; candidate: Candidate }[],
): Promise<{ id: string; candidate: Candidate; problem?: { code: SkipCode; reason: string } }[]> {
  const out: { id: string; candidate: Candidate; problem?: { code: SkipCode; reason: string } }[] = [];
  for (let i = 0; i < items.length; i += DESCRIBE_SECRET_CONCURRENCY) {
    const batch = items.slice(i, i + DESCRIBE_SECRET_CONCURRENCY);
    out.push(
      ...(await Promise.all(
        batch.map(async (item) => ({
          ...item,
          problem: await secretProblem(client, item.id, item.candidate),
        })),
      )),
    );
  }
  return out;
}

async function secretProblem(
  client: SecretsManagerClient,
  id: string,
  candidate: Candidate,
): Promise<{ code: SkipCode; reason: string } | undefined> {
  const secretArn = candidate.secretArn!;
  let secret;
  try {
    secret = await client.send(new DescribeSecretCommand({ SecretId: secretArn }));
  } catch (err) {
    if ((err as { name?: string }).name === 'ResourceNotFoundException') {
      return {
        code: 'SECRET_MISSING',
        reason: `secret ${secretArn} does not exist (deleted, or a typo in the tag)`,
      };
    }
    throw err;
  }
  if (secret.DeletedDate) {
    return {
      code: 'SECRET_MISSING',
      reason: `secret ${secretArn} is scheduled for deletion on ${secret.DeletedDate.toISOString()}`,
    };
  }
  const tags = new Map((secret.Tags ?? []).flatMap((t) => (t.Key ? [[t.Key, t.Value ?? ''] as const] : [])));
  const owner = tags.get(FleetTags.database);
  if (owner === id) return undefined;
  if (owner === undefined && RDS_SECRET_OWNER_TAGS.some((key) => tags.get(key) === candidate.resource.arn)) {
    return undefined;
  }
  return {
    code: 'SECRET_NOT_TAGGED',
    reason:
      owner === undefined
        ? `secret ${secretArn} is neither tagged ${FleetTags.database}=${id} nor RDS's own secret of ${candidate.resource.arn}: runs for "${id}" may not read it`
        : `secret ${secretArn} is tagged ${FleetTags.database}=${owner}, not "${id}": a run for one database never reads another's secret`,
  };
}

async function describeAllInstances(rds: RDSClient, engines: readonly FleetEngine[]): Promise<DBInstance[]> {
  const all: DBInstance[] = [];
  let marker: string | undefined;
  do {
    const page = await rds.send(
      new DescribeDBInstancesCommand({
        Filters: [{ Name: 'engine', Values: [...engines] }],
        MaxRecords: 100,
        Marker: marker,
      }),
    );
    all.push(...(page.DBInstances ?? []));
    marker = page.Marker;
  } while (marker);
  return all;
}

async function describeAllClusters(rds: RDSClient, engines: readonly FleetEngine[]): Promise<DBCluster[]> {
  const all: DBCluster[] = [];
  let marker: string | undefined;
  do {
    const page = await rds.send(
      new DescribeDBClustersCommand({
        Filters: [{ Name: 'engine', Values: [...engines] }],
        MaxRecords: 100,
        Marker: marker,
      }),
    );
    all.push(...(page.DBClusters ?? []));
    marker = page.Marker;
  } while (marker);
  return all;
}
