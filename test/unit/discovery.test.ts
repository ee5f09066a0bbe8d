/**
 * Tag-based discovery at the SDK boundary (aws-sdk-client-mock): which RDS instances and clusters a
 * selection picks, paging through both APIs, how secrets are resolved and checked, how listed
 * entries override discovered ones, and that a database deleted after discovery fails alone.
 */
import {
  DBClusterNotFoundFault,
  DBInstanceNotFoundFault,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeDBSubnetGroupsCommand,
  RDSClient,
  type DBCluster,
  type DBInstance,
} from '@aws-sdk/client-rds';
import {
  DescribeSecretCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { discoverDatabases } from '../../lambda/core/discovery';
import { confirmDatabase, confirmDatabases, FleetDatabaseError } from '../../lambda/core/discovery-recheck';
import * as fixtures from '../support/rds-fixtures';
import {
  BACKUP,
  cluster,
  clusterArn,
  FIXTURE_VPC,
  instance,
  instanceArn,
  inVpc,
  secretArn,
} from '../support/rds-fixtures';

const rds = mockClient(RDSClient);
const secrets = mockClient(SecretsManagerClient);
const clients = {
  rds: new RDSClient({ region: 'eu-west-1' }),
  secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
};

const secretsOwnedBy = (owners: Record<string, string>, tagged: Record<string, string> = {}) =>
  fixtures.secretsOwnedBy(secrets, owners, tagged);
const onePage = (instances: DBInstance[], clusters: DBCluster[] = []) =>
  fixtures.onePage(rds, instances, clusters);

beforeEach(() => {
  rds.reset();
  secrets.reset();
});

describe('discoverDatabases', () => {
  it('selects only resources carrying every selected tag; "*" matches any value of a key', async () => {
    secretsOwnedBy(
      onePage([
        instance('orders', { TagList: [BACKUP, { Key: 'team', Value: 'payments' }] }),
        instance('billing', { TagList: [BACKUP, { Key: 'team', Value: 'finance' }] }),
        instance('wrong-value', {
          TagList: [
            { Key: 'backup', Value: 'weekly' },
            { Key: 'team', Value: 'x' },
          ],
        }),
        instance('missing-team', { TagList: [BACKUP] }),
        instance('untagged', { TagList: [] }),
      ]),
    );

    const { databases, skipped } = await discoverDatabases(
      { tags: { backup: 'nightly', team: '*' } },
      clients,
    );

    expect(databases.map((d) => d.id)).toEqual(['billing', 'orders']);
    expect(skipped).toEqual([]);
    expect(databases[1]).toEqual({
      id: 'orders',
      source: 'discovered',
      secretArn: secretArn('rds!db-orders'),
      resource: { kind: 'instance', identifier: 'orders', arn: instanceArn('orders') },
      engine: 'postgres',
      host: 'orders.abc.eu-west-1.rds.amazonaws.com',
      port: 5432,
      dbname: 'postgres',
      vpcId: FIXTURE_VPC,
    });
  });

  it('selects by engine, asks RDS to filter by it, and ignores other engines RDS returns anyway', async () => {
    secretsOwnedBy(
      onePage(
        [instance('pg'), instance('mysql', { Engine: 'mysql' })],
        [cluster('aurora'), cluster('docdb', { Engine: 'docdb' })],
      ),
    );

    const { databases } = await discoverDatabases(
      { tags: { backup: 'nightly' }, engines: ['aurora-postgresql'] },
      clients,
    );

    expect(databases.map((d) => [d.id, d.engine, d.host, d.dbname])).toEqual([
      ['aurora', 'aurora-postgresql', 'aurora.cluster-abc.eu-west-1.rds.amazonaws.com', 'app'],
    ]);
    expect(rds.commandCalls(DescribeDBInstancesCommand)[0].args[0].input.Filters).toEqual([
      { Name: 'engine', Values: ['aurora-postgresql'] },
    ]);
    expect(rds.commandCalls(DescribeDBClustersCommand)[0].args[0].input.Filters).toEqual([
      { Name: 'engine', Values: ['aurora-postgresql'] },
    ]);
  });

  it('pages through DescribeDBInstances and DescribeDBClusters with their Marker', async () => {
    rds
      .on(DescribeDBInstancesCommand)
      .resolvesOnce({ DBInstances: [instance('a1'), instance('a2')], Marker: 'i-page-2' })
      .resolvesOnce({ DBInstances: [instance('a3')], Marker: 'i-page-3' })
      .resolvesOnce({ DBInstances: [instance('a4')] });
    rds
      .on(DescribeDBClustersCommand)
      .resolvesOnce({ DBClusters: [cluster('c1')], Marker: 'c-page-2' })
      .resolvesOnce({ DBClusters: [cluster('c2')] });
    const owners = Object.fromEntries([
      ...['a1', 'a2', 'a3', 'a4'].map((id) => [secretArn(`rds!db-${id}`), instanceArn(id)]),
      ...['c1', 'c2'].map((id) => [secretArn(`rds!cluster-${id}`), clusterArn(id)]),
    ]);
    secretsOwnedBy(owners);

    const { databases } = await discoverDatabases({ tags: { backup: 'nightly' } }, clients);

    expect(databases.map((d) => d.id)).toEqual(['a1', 'a2', 'a3', 'a4', 'c1', 'c2']);
    expect(rds.commandCalls(DescribeDBInstancesCommand).map((c) => c.args[0].input.Marker)).toEqual([
      undefined,
      'i-page-2',
      'i-page-3',
    ]);
    expect(rds.commandCalls(DescribeDBClustersCommand).map((c) => c.args[0].input.Marker)).toEqual([
      undefined,
      'c-page-2',
    ]);
  });

  it('backs up an Aurora cluster once, not its members; a tagged member of an unselected cluster is reported', async () => {
    secretsOwnedBy(
      onePage(
        [
          instance('aurora-1', {
            Engine: 'aurora-postgresql',
            DBClusterIdentifier: 'aurora',
            MasterUserSecret: undefined,
          }),
          instance('aurora-2', {
            Engine: 'aurora-postgresql',
            DBClusterIdentifier: 'aurora',
            MasterUserSecret: undefined,
          }),
          instance('lonely-1', {
            Engine: 'aurora-postgresql',
            DBClusterIdentifier: 'lonely',
            MasterUserSecret: undefined,
          }),
        ],
        [cluster('aurora'), cluster('lonely', { TagList: [] })],
      ),
    );

    const { databases, skipped } = await discoverDatabases({ tags: { backup: 'nightly' } }, clients);

    expect(databases.map((d) => `${d.id}:${d.resource?.kind}`)).toEqual(['aurora:cluster']);
    expect(skipped).toEqual([
      expect.objectContaining({
        code: 'CLUSTER_NOT_SELECTED',
        resource: expect.objectContaining({ identifier: 'lonely-1' }),
        reason: expect.stringMatching(/cluster "lonely".*tag the cluster/),
      }),
    ]);
  });

  it('prefers a secret named by tag, takes the dbname and id from tags, and refuses a secret tagged for another database', async () => {
    const ordersSecret = secretArn('restorable/orders');
    const stolen = secretArn('restorable/billing');
    onePage([
      instance('orders-prod-eu', {
        TagList: [
          BACKUP,
          { Key: 'restorable:id', Value: 'orders' },
          { Key: 'restorable:secret-arn', Value: ordersSecret },
          { Key: 'restorable:dbname', Value: 'shop' },
        ],
      }),
      instance('sneaky', { TagList: [BACKUP, { Key: 'restorable:secret-arn', Value: stolen }] }),
    ]);
    secretsOwnedBy({}, { [ordersSecret]: 'orders', [stolen]: 'billing' });

    const { databases, skipped } = await discoverDatabases({ tags: { backup: 'nightly' } }, clients);

    expect(databases).toEqual([
      expect.objectContaining({ id: 'orders', secretArn: ordersSecret, dbname: 'shop' }),
    ]);
    expect(skipped).toEqual([
      expect.objectContaining({
        id: 'sneaky',
        code: 'SECRET_NOT_TAGGED',
        reason: expect.stringContaining('tagged restorable:database=billing, not "sneaky"'),
      }),
    ]);
  });

  it('reports a database without a secret, with a missing secret, and with a secret scheduled for deletion', async () => {
    const gone = secretArn('restorable/deleted');
    const dying = secretArn('restorable/dying');
    onePage([
      instance('no-secret', { MasterUserSecret: undefined }),
      instance('typo', { TagList: [BACKUP, { Key: 'restorable:secret-arn', Value: gone }] }),
      instance('dying', { TagList: [BACKUP, { Key: 'restorable:secret-arn', Value: dying }] }),
      instance('fine'),
    ]);
    secrets.on(DescribeSecretCommand).callsFake((input: { SecretId: string }) => {
      if (input.SecretId === dying) return { ARN: dying, DeletedDate: new Date('2026-12-01T00:00:00Z') };
      if (input.SecretId === secretArn('rds!db-fine')) {
        return { Tags: [{ Key: 'aws:rds:primaryDBInstanceArn', Value: instanceArn('fine') }] };
      }
      throw new ResourceNotFoundException({ message: 'not found', $metadata: {} });
    });

    const { databases, skipped } = await discoverDatabases({ tags: { backup: 'nightly' } }, clients);

    expect(databases.map((d) => d.id)).toEqual(['fine']);
    expect(skipped.map((s) => [s.id, s.code])).toEqual([
      ['dying', 'SECRET_MISSING'],
      ['no-secret', 'NO_SECRET'],
      ['typo', 'SECRET_MISSING'],
    ]);
    expect(skipped.find((s) => s.id === 'typo')?.reason).toContain(`${gone} does not exist`);
    expect(skipped.find((s) => s.id === 'dying')?.reason).toContain('scheduled for deletion on 2026-12-01');
    expect(skipped.find((s) => s.id === 'no-secret')?.reason).toMatch(/ManageMasterUserPassword/);
  });

  it('reports ids that are invalid or claimed twice, and stopped databases, instead of dropping them', async () => {
    secretsOwnedBy(
      onePage(
        [
          instance('a'.repeat(45)),
          instance('one', { TagList: [BACKUP, { Key: 'restorable:id', Value: 'shared' }] }),
          instance('two', { TagList: [BACKUP, { Key: 'restorable:id', Value: 'shared' }] }),
          instance('asleep', { DBInstanceStatus: 'stopped' }),
        ],
        [cluster('one-cluster', { TagList: [BACKUP, { Key: 'restorable:id', Value: 'Bad_Id' }] })],
      ),
    );

    const { databases, skipped } = await discoverDatabases({ tags: { backup: 'nightly' } }, clients);

    expect(databases).toEqual([]);
    expect(skipped.map((s) => [s.resource.identifier, s.code])).toEqual([
      ['a'.repeat(45), 'INVALID_ID'],
      ['asleep', 'NOT_RUNNING'],
      ['one', 'ID_CONFLICT'],
      ['one-cluster', 'INVALID_ID'],
      ['two', 'ID_CONFLICT'],
    ]);
    expect(skipped.find((s) => s.resource.identifier === 'one')?.reason).toBe(
      'database id "shared" is claimed by instance "one", instance "two": give each a distinct restorable:id tag',
    );
  });

  it('merges listed databases: a listed entry overrides what was discovered, others are kept as listed', async () => {
    secretsOwnedBy(onePage([instance('orders'), instance('billing')]));
    const listedSecret = secretArn('restorable/orders-app-user');
    const listed = [
      { id: 'orders', secretArn: listedSecret, rpoHours: 6 },
      { id: 'supabase', secretArn: secretArn('restorable/supabase'), rpoHours: 24 },
    ];

    const { databases } = await discoverDatabases({ tags: { backup: 'nightly' } }, clients, listed);

    expect(databases.map((d) => [d.id, d.source, d.secretArn, d.listed?.rpoHours])).toEqual([
      ['billing', 'discovered', secretArn('rds!db-billing'), undefined],
      ['orders', 'listed', listedSecret, 6],
      ['supabase', 'listed', secretArn('restorable/supabase'), 24],
    ]);
    // The listed entry keeps what only discovery knows: where the database is.
    expect(databases[1].host).toBe('orders.abc.eu-west-1.rds.amazonaws.com');
    // The listed secret is the operator's; discovery does not second-guess it with DescribeSecret.
    expect(secrets.commandCalls(DescribeSecretCommand).map((c) => c.args[0].input.SecretId)).toEqual([
      secretArn('rds!db-billing'),
    ]);
  });
});

describe('discoverDatabases with runner networks (runnerVpcIds)', () => {
  const SECOND_VPC = 'vpc-0000000000000000b';
  const UNKNOWN_VPC = 'vpc-0000000000000000c';
  const runnerVpcIds = [FIXTURE_VPC, SECOND_VPC];
  const selection = { tags: { backup: 'nightly' } };

  it('keeps databases in a fleet network with their VPC, and skips one in any other VPC, naming it, before reading its secret', async () => {
    secretsOwnedBy(
      onePage([
        instance('orders'),
        instance('billing', inVpc(SECOND_VPC)),
        instance('elsewhere', inVpc(UNKNOWN_VPC)),
      ]),
    );

    const { databases, skipped } = await discoverDatabases(selection, clients, [], { runnerVpcIds });

    expect(databases.map((d) => [d.id, d.vpcId])).toEqual([
      ['billing', SECOND_VPC],
      ['orders', FIXTURE_VPC],
    ]);
    expect(skipped).toEqual([
      {
        resource: { kind: 'instance', identifier: 'elsewhere', arn: instanceArn('elsewhere') },
        id: 'elsewhere',
        code: 'NO_RUNNER_NETWORK',
        reason: expect.stringMatching(
          new RegExp(
            `^instance "elsewhere" is in ${UNKNOWN_VPC}, where the fleet has no runner network: .*fleet\\.networks`,
          ),
        ),
      },
    ]);
    expect(secrets.commandCalls(DescribeSecretCommand).map((c) => c.args[0].input.SecretId)).not.toContain(
      secretArn('rds!db-elsewhere'),
    );
  });

  it('finds nothing to skip without runnerVpcIds (the freshness check), and asks RDS for no subnet group', async () => {
    secretsOwnedBy(onePage([instance('elsewhere', inVpc(UNKNOWN_VPC))], [cluster('empty')]));
    const { databases, skipped } = await discoverDatabases(selection, clients);
    expect(databases.map((d) => [d.id, d.vpcId])).toEqual([
      ['elsewhere', UNKNOWN_VPC],
      ['empty', undefined],
    ]);
    expect(skipped).toEqual([]);
    expect(rds.commandCalls(DescribeDBSubnetGroupsCommand)).toHaveLength(0);
  });

  it('places an Aurora cluster by a member instance (untagged), else by its DB subnet group', async () => {
    const member = (id: string, clusterId: string, vpcId: string) =>
      instance(id, {
        Engine: 'aurora-postgresql',
        DBClusterIdentifier: clusterId,
        MasterUserSecret: undefined,
        TagList: [],
        ...inVpc(vpcId),
      });
    secretsOwnedBy(
      onePage(
        [member('aurora-1', 'aurora', SECOND_VPC), member('outside-1', 'outside', UNKNOWN_VPC)],
        [
          // The cluster's subnet group name alone says nothing of its VPC: the member decides.
          cluster('aurora', { DBSubnetGroup: 'shared-name' }),
          cluster('outside', { DBSubnetGroup: 'shared-name' }),
          // No instance yet: DescribeDBSubnetGroups gives the VPC.
          cluster('fresh', { DBSubnetGroup: 'fresh-subnets' }),
          cluster('orphan', { DBSubnetGroup: 'deleted-subnets' }),
        ],
      ),
    );
    rds
      .on(DescribeDBSubnetGroupsCommand, { DBSubnetGroupName: 'fresh-subnets' })
      .resolves({ DBSubnetGroups: [{ DBSubnetGroupName: 'fresh-subnets', VpcId: FIXTURE_VPC }] });
    rds.on(DescribeDBSubnetGroupsCommand, { DBSubnetGroupName: 'deleted-subnets' }).rejects(
      Object.assign(new Error('DBSubnetGroup deleted-subnets not found.'), {
        name: 'DBSubnetGroupNotFoundFault',
      }),
    );

    const { databases, skipped } = await discoverDatabases(selection, clients, [], { runnerVpcIds });

    expect(databases.map((d) => [d.id, d.resource?.kind, d.vpcId])).toEqual([
      ['aurora', 'cluster', SECOND_VPC],
      ['fresh', 'cluster', FIXTURE_VPC],
    ]);
    expect(skipped.map((s) => [s.id, s.code, s.reason])).toEqual([
      ['orphan', 'NO_RUNNER_NETWORK', expect.stringMatching(/^RDS reports no VPC for cluster "orphan"/)],
      ['outside', 'NO_RUNNER_NETWORK', expect.stringContaining(`cluster "outside" is in ${UNKNOWN_VPC}`)],
    ]);
    expect(
      rds.commandCalls(DescribeDBSubnetGroupsCommand).map((c) => c.args[0].input.DBSubnetGroupName),
    ).toEqual(['fresh-subnets', 'deleted-subnets']);
  });

  it('never skips a listed database for its VPC: synth placed it on its own network', async () => {
    secretsOwnedBy(onePage([instance('orders', inVpc(UNKNOWN_VPC))]));
    const listed = [{ id: 'orders', secretArn: secretArn('restorable/orders') }];
    const { databases, skipped } = await discoverDatabases(selection, clients, listed, { runnerVpcIds });
    expect(databases.map((d) => [d.id, d.source, d.vpcId])).toEqual([['orders', 'listed', UNKNOWN_VPC]]);
    expect(skipped).toEqual([]);
  });
});

describe('confirmDatabase', () => {
  it('fails only the database deleted between discovery and its backup with DATABASE_GONE; the others go on', async () => {
    secretsOwnedBy(onePage([instance('orders'), instance('billing')], [cluster('aurora')]));
    const { databases } = await discoverDatabases({ tags: { backup: 'nightly' } }, clients);
    expect(databases).toHaveLength(3);

    // Between discovery and the backups: billing's instance is deleted.
    rds.reset();
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'billing' })
      .rejects(new DBInstanceNotFoundFault({ message: 'DBInstance billing not found.', $metadata: {} }));
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders' }).resolves({
      DBInstances: [instance('orders', { Endpoint: { Address: 'moved.example', Port: 5433 } })],
    });
    rds
      .on(DescribeDBClustersCommand, { DBClusterIdentifier: 'aurora' })
      .resolves({ DBClusters: [cluster('aurora')] });

    const { ready, failed } = await confirmDatabases(databases, clients.rds);

    expect(ready.map((d) => [d.id, d.host, d.port])).toEqual([
      ['aurora', 'aurora.cluster-abc.eu-west-1.rds.amazonaws.com', 5432],
      ['orders', 'moved.example', 5433],
    ]);
    expect(failed).toEqual([
      {
        id: 'billing',
        code: 'DATABASE_GONE',
        message: expect.stringMatching(
          /^database "billing": RDS instance "billing" no longer exists since it was discovered/,
        ),
      },
    ]);
  });

  it('says DATABASE_GONE for a deleted cluster and for one being deleted, and passes other errors through', async () => {
    const aurora = {
      id: 'aurora',
      resource: { kind: 'cluster' as const, identifier: 'aurora', arn: clusterArn('aurora') },
    };
    rds
      .on(DescribeDBClustersCommand)
      .rejectsOnce(new DBClusterNotFoundFault({ message: 'gone', $metadata: {} }));
    await expect(confirmDatabase(aurora, clients.rds)).rejects.toEqual(
      expect.objectContaining({ name: 'FleetDatabaseError', code: 'DATABASE_GONE', databaseId: 'aurora' }),
    );

    rds.reset();
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [cluster('aurora', { Status: 'deleting' })] });
    await expect(confirmDatabase(aurora, clients.rds)).rejects.toThrow(
      /is being deleted since it was discovered/,
    );

    rds.reset();
    rds
      .on(DescribeDBClustersCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }));
    const throttled = confirmDatabase(aurora, clients.rds);
    await expect(throttled).rejects.toThrow('Rate exceeded');
    await expect(throttled).rejects.not.toBeInstanceOf(FleetDatabaseError);
  });

  it('passes a listed database outside RDS without asking RDS', async () => {
    await expect(
      confirmDatabase({ id: 'supabase', host: 'db.example', port: 6543 }, clients.rds),
    ).resolves.toEqual({
      host: 'db.example',
      port: 6543,
    });
    expect(rds.calls()).toHaveLength(0);
  });
});
