/**
 * The discovery handler at the SDK boundary (RDS and Secrets Manager mocked with the fixtures of
 * the core discovery tests): run items with defaults merged and listed entries winning, paging
 * through both describe APIs, skipped databases counted per reason and logged, a database that
 * disappears between two nights, and run inputs the runners would refuse failing discovery at once.
 */
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { DumpEventSchema } from '../../lambda/handlers/dump';
import { DrillRunInputSchema } from '../../lambda/handlers/drill';
import { handler } from '../../lambda/handlers/discovery';
import { confirmRunDatabase } from '../../lambda/handlers/confirm-run';
import { captureOutput, setEnv, type CapturedOutput } from '../support/handler-io';
import {
  BACKUP,
  cluster,
  clusterArn,
  FIXTURE_VPC,
  instance,
  instanceArn,
  inVpc,
  onePage,
  ownersOf,
  secretArn,
  secretsOwnedBy,
} from '../support/rds-fixtures';

const rds = mockClient(RDSClient);
const secrets = mockClient(SecretsManagerClient);

const SELECTION = JSON.stringify({ tags: { backup: 'nightly' } });
const SUPABASE_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:supabase-XyZ987';
const LISTED = [
  {
    // Also discovered (instance "orders"): its own run input wins.
    id: 'orders',
    execution: {
      databaseId: 'orders',
      secretArn: secretArn('orders-app-user'),
      schemas: { include: ['shop'] },
      sslMode: 'verify-full',
      tier: 'auto',
      reason: '',
      compression: { kind: 'gzip', level: 6 },
    },
    rpoHours: 6,
  },
  {
    // Outside RDS: kept as listed.
    id: 'supabase',
    execution: {
      databaseId: 'supabase',
      secretArn: SUPABASE_SECRET,
      schemas: {},
      sslMode: 'verify-full',
      tier: 'auto',
      reason: '',
    },
    rpoHours: 12,
  },
];
const DEFAULTS = {
  rpoHours: 24,
  drillWindowDays: 5,
  execution: {
    schemas: { exclude: ['audit'] },
    sslMode: 'verify-full',
    compression: { kind: 'zstd', level: 3 },
  },
};

let output: CapturedOutput;
let restoreEnv: () => void;

function env(vars: Record<string, string>) {
  restoreEnv = setEnv({ AWS_REGION: 'eu-west-1', ...vars });
}

beforeEach(() => {
  rds.reset();
  secrets.reset();
  output = captureOutput();
});

afterEach(() => {
  output.restore();
  restoreEnv?.();
  for (const name of ['WORKLOAD', 'SELECTION', 'LISTED_DATABASES', 'DEFAULTS']) delete process.env[name];
});

/** The metric values of the EMF documents: `{ DiscoveredDatabases: n }` and one per Reason. */
function metrics() {
  const docs = output.emf();
  const discovered = docs.find((d) => d.DiscoveredDatabases !== undefined)?.DiscoveredDatabases;
  const skipped = Object.fromEntries(
    docs.filter((d) => d.DiscoverySkipped !== undefined).map((d) => [d.Reason, d.DiscoverySkipped]),
  );
  return { discovered, skipped };
}

describe('discovery handler (backups)', () => {
  it('pages through both APIs and returns one run item per database: defaults merged, listed entries winning', async () => {
    rds
      .on(DescribeDBInstancesCommand)
      .resolvesOnce({ DBInstances: [instance('orders'), instance('billing')], Marker: 'i-2' })
      .resolvesOnce({ DBInstances: [instance('reports', { DBName: 'analytics' })] });
    rds
      .on(DescribeDBClustersCommand)
      .resolvesOnce({ DBClusters: [], Marker: 'c-2' })
      .resolvesOnce({ DBClusters: [cluster('aurora')] });
    secretsOwnedBy(
      secrets,
      ownersOf([instance('orders'), instance('billing'), instance('reports')], [cluster('aurora')]),
    );
    env({
      WORKLOAD: 'backup',
      SELECTION,
      LISTED_DATABASES: JSON.stringify(LISTED),
      DEFAULTS: JSON.stringify(DEFAULTS),
    });

    const { items, skipped } = await handler({});

    expect(rds.commandCalls(DescribeDBInstancesCommand).map((c) => c.args[0].input.Marker)).toEqual([
      undefined,
      'i-2',
    ]);
    expect(rds.commandCalls(DescribeDBClustersCommand).map((c) => c.args[0].input.Marker)).toEqual([
      undefined,
      'c-2',
    ]);
    expect(skipped).toEqual([]);
    expect(items.map((i) => [i.databaseId, i.maxQueueMinutes])).toEqual([
      ['aurora', 24 * 60],
      ['billing', 24 * 60],
      ['orders', 6 * 60],
      ['reports', 24 * 60],
      ['supabase', 12 * 60],
    ]);
    const byId = Object.fromEntries(items.map((i) => [i.databaseId, i.execution]));
    // Discovered: the defaults, with the database's own connection over them.
    expect(byId.billing).toEqual({
      databaseId: 'billing',
      secretArn: secretArn('rds!db-billing'),
      host: 'billing.abc.eu-west-1.rds.amazonaws.com',
      port: 5432,
      database: 'postgres',
      rdsResourceArn: instanceArn('billing'),
      schemas: { exclude: ['audit'] },
      sslMode: 'verify-full',
      compression: { kind: 'zstd', level: 3 },
      tier: 'auto',
      reason: '',
    });
    expect(byId.reports).toMatchObject({ database: 'analytics' });
    expect(byId.aurora).toMatchObject({
      host: 'aurora.cluster-abc.eu-west-1.rds.amazonaws.com',
      database: 'app',
      rdsResourceArn: clusterArn('aurora'),
    });
    // Listed and discovered: its own input as listed (its secret, schemas, compression), plus the
    // resource it was found as, so its run re-checks it.
    expect(byId.orders).toEqual({ ...LISTED[0].execution, rdsResourceArn: instanceArn('orders') });
    // Listed, not in RDS: as listed, nothing added.
    expect(byId.supabase).toEqual(LISTED[1].execution);
    // Every run input is one the dump handler accepts as is.
    for (const item of items) expect(DumpEventSchema.safeParse(item.execution).success).toBe(true);
    expect(metrics().discovered).toBe(5);
    expect(metrics().skipped).toMatchObject({ SECRET_MISSING: 0, NO_SECRET: 0, CLUSTER_NOT_SELECTED: 0 });
  });

  it('skips a database whose secret is missing, counts it under its reason and logs how to fix it', async () => {
    const gone = secretArn('deleted-secret');
    onePage(rds, [
      instance('fine'),
      instance('typo', { TagList: [BACKUP, { Key: 'restorable:secret-arn', Value: gone }] }),
      instance('no-secret', { MasterUserSecret: undefined }),
    ]);
    secretsOwnedBy(secrets, ownersOf([instance('fine')]));
    env({ WORKLOAD: 'backup', SELECTION });

    const { items, skipped } = await handler({});

    expect(items.map((i) => i.databaseId)).toEqual(['fine']);
    expect(skipped.map((s) => [s.id, s.code])).toEqual([
      ['no-secret', 'NO_SECRET'],
      ['typo', 'SECRET_MISSING'],
    ]);
    const m = metrics();
    expect(m.discovered).toBe(1);
    expect(m.skipped).toEqual({
      NO_SECRET: 1,
      SECRET_MISSING: 1,
      SECRET_NOT_TAGGED: 0,
      INVALID_ID: 0,
      ID_CONFLICT: 0,
      NOT_RUNNING: 0,
      CLUSTER_NOT_SELECTED: 0,
      NO_RUNNER_NETWORK: 0,
    });
    const warnings = output.lines
      .join('')
      .split('\n')
      .filter((l) => l.includes('database skipped'));
    expect(warnings).toHaveLength(2);
    expect(warnings.find((w) => w.includes('SECRET_MISSING'))).toContain(gone);
    expect(warnings.find((w) => w.includes('NO_SECRET'))).toMatch(/ManageMasterUserPassword/);
  });

  it('a database deleted after one night is not in the next night items, and its stale item fails alone', async () => {
    onePage(rds, [instance('orders'), instance('billing')]);
    secretsOwnedBy(secrets, ownersOf([instance('orders'), instance('billing')]));
    env({ WORKLOAD: 'backup', SELECTION });
    const first = await handler({});
    expect(first.items.map((i) => i.databaseId)).toEqual(['billing', 'orders']);

    // billing is deleted: gone from the describe answers.
    rds.reset();
    onePage(rds, [instance('orders')]);
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'billing' })
      .rejects(
        Object.assign(new Error('DBInstance billing not found.'), { name: 'DBInstanceNotFoundFault' }),
      );
    const second = await handler({});
    expect(second.items.map((i) => i.databaseId)).toEqual(['orders']);
    expect(second.skipped).toEqual([]);

    // A run still queued from the first night re-checks it and fails with DATABASE_GONE...
    const stale = first.items.find((i) => i.databaseId === 'billing')!.execution as {
      databaseId: string;
      rdsResourceArn: string;
    };
    await expect(confirmRunDatabase(stale)).rejects.toMatchObject({
      code: 'DATABASE_GONE',
      message: expect.stringMatching(/database "billing": RDS instance "billing" no longer exists/),
    });
    // ...while orders' goes on.
    await expect(
      confirmRunDatabase(first.items.find((i) => i.databaseId === 'orders')!.execution as never),
    ).resolves.toEqual({ host: 'orders.abc.eu-west-1.rds.amazonaws.com', port: 5432 });
  });

  it('without a selection returns the listed databases only and calls no AWS API', async () => {
    env({ WORKLOAD: 'backup', LISTED_DATABASES: JSON.stringify(LISTED) });
    const { items } = await handler({});
    expect(items.map((i) => i.execution)).toEqual([LISTED[0].execution, LISTED[1].execution]);
    expect(rds.calls()).toHaveLength(0);
    expect(secrets.calls()).toHaveLength(0);
  });

  it('fails at once, naming each database and field, when the defaults make run inputs the runner refuses', async () => {
    onePage(rds, [instance('orders'), instance('billing')]);
    secretsOwnedBy(secrets, ownersOf([instance('orders'), instance('billing')]));
    env({
      WORKLOAD: 'backup',
      SELECTION,
      DEFAULTS: JSON.stringify({ execution: { sslMode: 'sometimes', lockWaitTimeoutSeconds: -1 } }),
    });
    await expect(handler({})).rejects.toThrow(
      /invalid backup run inputs .*billing: execution\.sslMode .*; billing: execution\.lockWaitTimeoutSeconds .*orders: execution\.sslMode/,
    );
  });
});

describe('discovery handler (drills)', () => {
  it('gives each database its drill settings and a queue limit of its drill window', async () => {
    onePage(rds, [instance('orders'), instance('billing')]);
    secretsOwnedBy(secrets, ownersOf([instance('orders'), instance('billing')]));
    const ordersDrill = {
      rtoTargetMinutes: 30,
      checks: [{ name: 'rows', sql: 'select 1', expect: { rows: 1 } }],
    };
    env({
      WORKLOAD: 'drill',
      SELECTION,
      LISTED_DATABASES: JSON.stringify([
        {
          id: 'orders',
          execution: { databaseId: 'orders', drill: ordersDrill },
          rpoHours: 24,
          drillWindowDays: 2,
        },
      ]),
      DEFAULTS: JSON.stringify({
        ...DEFAULTS,
        execution: { drill: { source: 'primary', selection: 'random' } },
      }),
    });

    const { items } = await handler({});

    expect(items).toEqual([
      {
        databaseId: 'billing',
        maxQueueMinutes: 5 * 24 * 60,
        execution: {
          databaseId: 'billing',
          drill: { source: 'primary', selection: 'random' },
          rdsResourceArn: instanceArn('billing'),
        },
      },
      {
        databaseId: 'orders',
        maxQueueMinutes: 2 * 24 * 60,
        execution: { databaseId: 'orders', drill: ordersDrill, rdsResourceArn: instanceArn('orders') },
      },
    ]);
    for (const item of items) expect(DrillRunInputSchema.safeParse(item.execution).success).toBe(true);
  });
});

describe('discovery handler on several runner networks (DEFAULTS.runnerGroups)', () => {
  const SECOND_VPC = 'vpc-0000000000000000b';
  const UNKNOWN_VPC = 'vpc-0000000000000000c';
  const auroraMember = instance('aurora-1', {
    Engine: 'aurora-postgresql',
    DBClusterIdentifier: 'aurora',
    MasterUserSecret: undefined,
    TagList: [],
    ...inVpc(SECOND_VPC),
  });
  const fleet = () => {
    const instances = [
      instance('billing'),
      instance('reports', inVpc(SECOND_VPC)),
      instance('stray', inVpc(UNKNOWN_VPC)),
      // Listed, on a network synth gave it: never re-routed, never skipped.
      instance('orders', inVpc(UNKNOWN_VPC)),
      auroraMember,
    ];
    secretsOwnedBy(secrets, onePage(rds, instances, [cluster('aurora')]));
  };
  const listedDatabases = [{ ...LISTED[0], execution: { ...LISTED[0].execution, runnerGroup: 'blisted' } }];

  it('runs each discovered database on its VPC’s backup group, and skips one in a VPC without runners, naming it', async () => {
    fleet();
    env({
      WORKLOAD: 'backup',
      SELECTION,
      DEFAULTS: JSON.stringify({
        ...DEFAULTS,
        runnerGroups: { [FIXTURE_VPC]: 'bfleet', [SECOND_VPC]: 'bsecond' },
      }),
    });

    const { items, skipped } = await handler({ listedDatabases, filter: {} });

    expect(items.map((i) => [i.databaseId, i.execution.runnerGroup])).toEqual([
      ['aurora', 'bsecond'],
      ['billing', 'bfleet'],
      ['orders', 'blisted'],
      ['reports', 'bsecond'],
    ]);
    expect(skipped).toEqual([
      expect.objectContaining({
        id: 'stray',
        code: 'NO_RUNNER_NETWORK',
        reason: expect.stringContaining(UNKNOWN_VPC),
      }),
    ]);
    expect(metrics()).toMatchObject({ discovered: 4, skipped: { NO_RUNNER_NETWORK: 1, NO_SECRET: 0 } });
    const warning = output.lines
      .join('')
      .split('\n')
      .find((l) => l.includes('database skipped'));
    expect(warning).toContain('NO_RUNNER_NETWORK');
    expect(warning).toContain(`is in ${UNKNOWN_VPC}`);
    // The run input as the dump takes it once the orchestrator removed runnerGroup.
    for (const { execution } of items) {
      const { runnerGroup, ...input } = execution;
      expect(typeof runnerGroup).toBe('string');
      expect(DumpEventSchema.safeParse(input).success).toBe(true);
    }
  });

  it('routes drills to the drill group of the same VPC', async () => {
    fleet();
    env({
      WORKLOAD: 'drill',
      SELECTION,
      DEFAULTS: JSON.stringify({
        execution: { action: 'select', drill: { source: 'primary' } },
        runnerGroups: { [FIXTURE_VPC]: 'dfleet', [SECOND_VPC]: 'dsecond' },
      }),
    });
    const { items, skipped } = await handler({});
    expect(items.map((i) => [i.databaseId, i.execution.runnerGroup])).toEqual([
      ['aurora', 'dsecond'],
      ['billing', 'dfleet'],
      ['reports', 'dsecond'],
    ]);
    expect(skipped.map((s) => [s.id, s.code])).toEqual([
      ['orders', 'NO_RUNNER_NETWORK'],
      ['stray', 'NO_RUNNER_NETWORK'],
    ]);
  });
});

describe('discovery handler event (the orchestrator passes the listed databases and a filter)', () => {
  const grouped = LISTED.map((run) => ({ ...run, execution: { ...run.execution, runnerGroup: 'vpc-a' } }));

  it('takes the listed databases from the event over the environment, runnerGroup kept for routing', async () => {
    onePage(rds, [instance('billing')]);
    secretsOwnedBy(secrets, ownersOf([instance('billing')]));
    env({
      WORKLOAD: 'backup',
      SELECTION,
      LISTED_DATABASES: JSON.stringify([LISTED[1]]),
      DEFAULTS: JSON.stringify({ ...DEFAULTS, execution: { ...DEFAULTS.execution, runnerGroup: 'fleet' } }),
    });
    const { items } = await handler({ listedDatabases: grouped, filter: {} });
    expect(items.map((i) => [i.databaseId, i.execution.runnerGroup])).toEqual([
      ['billing', 'fleet'],
      ['orders', 'vpc-a'],
      ['supabase', 'vpc-a'],
    ]);
  });

  it('a schedule of its own runs only its listed databases, without tag discovery', async () => {
    env({ WORKLOAD: 'backup', SELECTION });
    const { items, notFound } = await handler({
      listedDatabases: grouped,
      filter: { databaseIds: ['supabase'] },
    });
    expect(items.map((i) => i.databaseId)).toEqual(['supabase']);
    // As scheduled: the listed input untouched, the jitter kept.
    expect(items[0].execution).toEqual(grouped[1].execution);
    expect(items[0].startNow).toBeUndefined();
    expect(notFound).toEqual([]);
    expect(rds.calls()).toHaveLength(0);
  });

  it('the fleet schedule leaves out the databases that have their own, listed or discovered', async () => {
    onePage(rds, [instance('billing'), instance('reports')]);
    secretsOwnedBy(secrets, ownersOf([instance('billing'), instance('reports')]));
    env({ WORKLOAD: 'backup', SELECTION, LISTED_DATABASES: JSON.stringify(LISTED) });
    // Without listedDatabases the event itself is the filter.
    const { items } = await handler({ excludeDatabaseIds: ['supabase', 'reports'] });
    expect(items.map((i) => i.databaseId)).toEqual(['billing', 'orders']);
  });

  it('accepts the drill workflow input whole (the select event), and refuses an event with nothing to discover', async () => {
    env({ WORKLOAD: 'drill' });
    const listedDatabases = [
      {
        id: 'orders',
        execution: {
          action: 'select',
          databaseId: 'orders',
          drill: { source: 'primary' },
          runnerGroup: 'vpc-a',
        },
        rpoHours: 24,
      },
    ];
    const { items } = await handler({ listedDatabases, filter: {} });
    expect(items).toEqual([
      { databaseId: 'orders', maxQueueMinutes: 7 * 24 * 60, execution: listedDatabases[0].execution },
    ]);
    await expect(handler({ filter: {} })).rejects.toThrow(/nothing to discover: no listed databases/);
    await expect(handler({ listedDatabases: [{ id: 'Bad' }] })).rejects.toThrow(
      /invalid discovery event: listedDatabases\.0\.id: must be a lowercase-hyphen database id/,
    );
  });
});

/** What `restorable backup --stack` starts the fleet's backup orchestrator with, for one database. */
describe('discovery handler on demand (databaseIds with tier, reason, startNow)', () => {
  const grouped = LISTED.map((run) => ({ ...run, execution: { ...run.execution, runnerGroup: 'vpc-a' } }));
  const onDemand = { tier: 'adhoc', reason: 'before migration 0042', startNow: true };

  it('a listed database: its own input with the adhoc tier and the reason, no jitter, no tag discovery', async () => {
    env({ WORKLOAD: 'backup', SELECTION });
    const { items, notFound } = await handler({
      listedDatabases: grouped,
      filter: { databaseIds: ['supabase'], ...onDemand },
    });
    expect(items).toEqual([
      {
        databaseId: 'supabase',
        maxQueueMinutes: 12 * 60,
        startNow: true,
        execution: { ...grouped[1].execution, tier: 'adhoc', reason: 'before migration 0042' },
      },
    ]);
    expect(notFound).toEqual([]);
    expect(rds.calls()).toHaveLength(0);
    // As the dump will get it: the orchestrator routes on runnerGroup and removes it.
    const dumpEvent: Record<string, unknown> = { ...items[0].execution };
    delete dumpEvent.runnerGroup;
    expect(DumpEventSchema.parse(dumpEvent)).toMatchObject({
      tier: 'adhoc',
      reason: 'before migration 0042',
    });
  });

  it('a tag-selected database (not listed): found by the selection, that one only, with the tier and reason', async () => {
    onePage(rds, [instance('orders'), instance('billing'), instance('reports')]);
    secretsOwnedBy(secrets, ownersOf([instance('orders'), instance('billing'), instance('reports')]));
    env({ WORKLOAD: 'backup', SELECTION, DEFAULTS: JSON.stringify(DEFAULTS) });
    const { items, notFound } = await handler({
      listedDatabases: grouped,
      filter: { databaseIds: ['billing'], ...onDemand },
    });
    expect(items.map((i) => i.databaseId)).toEqual(['billing']);
    expect(items[0]).toMatchObject({
      startNow: true,
      execution: {
        databaseId: 'billing',
        secretArn: secretArn('rds!db-billing'),
        host: 'billing.abc.eu-west-1.rds.amazonaws.com',
        rdsResourceArn: instanceArn('billing'),
        tier: 'adhoc',
        reason: 'before migration 0042',
      },
    });
    expect(DumpEventSchema.safeParse(items[0].execution).success).toBe(true);
    expect(notFound).toEqual([]);
  });

  it('says why a database asked for by name has no run: skipped, not selected, or no selection at all', async () => {
    onePage(rds, [
      instance('orders'),
      instance('no-secret', { MasterUserSecret: undefined }),
      instance('untagged', { TagList: [] }),
    ]);
    secretsOwnedBy(secrets, ownersOf([instance('orders')]));
    env({ WORKLOAD: 'backup', SELECTION });
    const { items, notFound } = await handler({
      listedDatabases: grouped,
      filter: { databaseIds: ['untagged', 'no-secret', 'supabase'], ...onDemand },
    });
    // The listed one still runs; the two others are named with their reasons.
    expect(items.map((i) => i.databaseId)).toEqual(['supabase']);
    expect(notFound.map((n) => n.id)).toEqual(['no-secret', 'untagged']);
    expect(notFound[0].reason).toMatch(
      /^discovery skipped "no-secret": NO_SECRET: instance "no-secret" has no RDS-managed master secret .*ManageMasterUserPassword/,
    );
    expect(notFound[1].reason).toBe(
      '"untagged" is not in databases[] and no RDS instance or Aurora cluster the selection picks ' +
        '(engines postgres, aurora-postgresql; tags backup=nightly) has that id (its restorable:id tag, else its identifier)',
    );
    expect(output.lines.join('')).toMatch(/requested database not found.*untagged/);

    // Without a selection nothing is discovered: only listed databases exist.
    restoreEnv();
    rds.reset();
    env({ WORKLOAD: 'backup' });
    const listedOnly = await handler({ listedDatabases: grouped, filter: { databaseIds: ['billing'] } });
    expect(listedOnly.items).toEqual([]);
    expect(listedOnly.notFound).toEqual([
      { id: 'billing', reason: '"billing" is not in databases[] and this deployment has no tag selection' },
    ]);
    expect(rds.calls()).toHaveLength(0);
  });

  it('refuses a tier the dump refuses, and a tier or reason for a drill', async () => {
    env({ WORKLOAD: 'backup', SELECTION });
    await expect(
      handler({ listedDatabases: grouped, filter: { databaseIds: ['supabase'], tier: 'hourly' } }),
    ).rejects.toThrow(/invalid discovery event: filter\.tier/);
    restoreEnv();
    env({ WORKLOAD: 'drill' });
    await expect(
      handler({ listedDatabases: grouped, filter: { databaseIds: ['orders'], reason: 'why' } }),
    ).rejects.toThrow(/tier and reason are for on-demand backups; a drill run takes neither/);
  });
});
