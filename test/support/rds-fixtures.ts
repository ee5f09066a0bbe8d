/**
 * RDS and Secrets Manager answers for discovery tests at the SDK boundary (aws-sdk-client-mock):
 * instances and clusters as DescribeDBInstances / DescribeDBClusters return them, with their
 * RDS-managed master secrets, and DescribeSecret answering as Secrets Manager does for them.
 * Shared by the core discovery tests and the discovery handler's.
 */
import {
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  type DBCluster,
  type DBInstance,
  type RDSClient,
} from '@aws-sdk/client-rds';
import {
  DescribeSecretCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { AwsClientStub } from 'aws-sdk-client-mock';

type RdsMock = AwsClientStub<RDSClient>;
type SecretsMock = AwsClientStub<SecretsManagerClient>;

export const ACCOUNT = '123456789012';
export const instanceArn = (id: string) => `arn:aws:rds:eu-west-1:${ACCOUNT}:db:${id}`;
export const clusterArn = (id: string) => `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:${id}`;
export const secretArn = (name: string) =>
  `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:${name}-AbC123`;
/** The tag every fixture carries, and the selection `{ tags: { backup: 'nightly' } }` matches. */
export const BACKUP = { Key: 'backup', Value: 'nightly' };
/** The VPC every fixture is in unless placed elsewhere (`inVpc`). */
export const FIXTURE_VPC = 'vpc-0000000000000000a';

/** An instance's placement as DescribeDBInstances gives it: its DB subnet group, with the VPC. */
export const inVpc = (vpcId: string): Pick<DBInstance, 'DBSubnetGroup'> => ({
  DBSubnetGroup: { DBSubnetGroupName: `subnets-${vpcId}`, VpcId: vpcId, SubnetGroupStatus: 'Complete' },
});

export function instance(id: string, extra: Partial<DBInstance> = {}): DBInstance {
  return {
    DBInstanceIdentifier: id,
    DBInstanceArn: instanceArn(id),
    Engine: 'postgres',
    DBInstanceStatus: 'available',
    Endpoint: { Address: `${id}.abc.eu-west-1.rds.amazonaws.com`, Port: 5432 },
    MasterUserSecret: { SecretArn: secretArn(`rds!db-${id}`), SecretStatus: 'active' },
    TagList: [BACKUP],
    ...inVpc(FIXTURE_VPC),
    ...extra,
  };
}

export function cluster(id: string, extra: Partial<DBCluster> = {}): DBCluster {
  return {
    DBClusterIdentifier: id,
    DBClusterArn: clusterArn(id),
    Engine: 'aurora-postgresql',
    Status: 'available',
    Endpoint: `${id}.cluster-abc.eu-west-1.rds.amazonaws.com`,
    Port: 5432,
    DatabaseName: 'app',
    MasterUserSecret: { SecretArn: secretArn(`rds!cluster-${id}`), SecretStatus: 'active' },
    TagList: [BACKUP],
    // DescribeDBClusters names the DB subnet group only, never its VPC.
    DBSubnetGroup: `subnets-${FIXTURE_VPC}`,
    ...extra,
  };
}

/**
 * DescribeSecret answers as for RDS-managed secrets (tagged with the resource that owns them) and
 * for secrets tagged `restorable:database=<id>`; any other secret is not found.
 */
export function secretsOwnedBy(
  secrets: SecretsMock,
  owners: Record<string, string>,
  tagged: Record<string, string> = {},
): void {
  secrets.on(DescribeSecretCommand).callsFake((input: { SecretId: string }) => {
    if (owners[input.SecretId]) {
      const key = owners[input.SecretId].includes(':cluster:')
        ? 'aws:rds:primaryDBClusterArn'
        : 'aws:rds:primaryDBInstanceArn';
      return {
        ARN: input.SecretId,
        OwningService: 'rds',
        Tags: [{ Key: key, Value: owners[input.SecretId] }],
      };
    }
    if (tagged[input.SecretId]) {
      return { ARN: input.SecretId, Tags: [{ Key: 'restorable:database', Value: tagged[input.SecretId] }] };
    }
    throw new ResourceNotFoundException({
      message: 'Secrets Manager can’t find the specified secret.',
      $metadata: {},
    });
  });
}

/** Both describe APIs answer with one page; returns each managed secret's owner ARN (for secretsOwnedBy). */
export function onePage(
  rds: RdsMock,
  instances: DBInstance[],
  clusters: DBCluster[] = [],
): Record<string, string> {
  rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: instances });
  rds.on(DescribeDBClustersCommand).resolves({ DBClusters: clusters });
  return ownersOf(instances, clusters);
}

/** The owner ARN of each RDS-managed master secret among `instances` and `clusters`. */
export function ownersOf(instances: DBInstance[], clusters: DBCluster[] = []): Record<string, string> {
  const owners: Record<string, string> = {};
  for (const i of instances)
    if (i.MasterUserSecret?.SecretArn) owners[i.MasterUserSecret.SecretArn] = i.DBInstanceArn!;
  for (const c of clusters)
    if (c.MasterUserSecret?.SecretArn) owners[c.MasterUserSecret.SecretArn] = c.DBClusterArn!;
  return owners;
}
