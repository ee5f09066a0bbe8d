/**
 * The RDS drill provider at the SDK boundary (aws-sdk-client-mock): what CreateDBInstance asks
 * for, how instance states map to the drill's wait loop, how credentials are resolved from the
 * managed master secret, and that release is idempotent and only ever touches drill instances.
 */
import {
  CreateDBInstanceCommand,
  DBInstanceNotFoundFault,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  InvalidDBInstanceStateFault,
  RDSClient,
} from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { resolveDrillSettings, type DrillSettingsInput } from '../../lambda/core/drill-settings';
import { initialState } from '../../lambda/core/drill-state';
import { provisionStep } from '../../lambda/core/drill-steps';
import { allocatedStorageFor, waitUntilAvailable } from '../../lambda/core/providers/provider';
import {
  DB_INSTANCE_IDENTIFIER,
  drillInstanceIdentifier,
  RdsDatabaseProvider,
} from '../../lambda/core/providers/rds';
import { rdsExtendedSupportOn } from '../../lambda/core/rds-extended-support';

const rds = mockClient(RDSClient);
const secrets = mockClient(SecretsManagerClient);

const GIB = 1024 ** 3;
const startedAt = new Date('2026-11-27T03:00:07Z');
const request = {
  drillId: 'orders-drill-20261127T030007Z-ab12',
  databaseId: 'orders',
  engineMajor: 16,
  allocatedStorageGb: allocatedStorageFor(10 * GIB),
  expiresAt: new Date('2026-11-28T03:00:07Z'),
  startedAt,
};

const provider = (extra = {}) =>
  new RdsDatabaseProvider({
    rds: new RDSClient({ region: 'eu-west-1' }),
    secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
    region: 'eu-west-1',
    subnetGroupName: 'restorable-drills',
    securityGroupIds: ['sg-0123456789abcdef0'],
    ...extra,
  });

beforeEach(() => {
  rds.reset();
  secrets.reset();
});

describe('drillInstanceIdentifier', () => {
  it('is restorable-drill-<db>-<yyyymmddhhmmss>', () => {
    expect(drillInstanceIdentifier('orders', startedAt)).toBe('restorable-drill-orders-20261127030007');
  });

  it('stays a valid RDS identifier of at most 63 characters for the longest and oddest database ids', () => {
    for (const db of [
      'a'.repeat(40),
      'billing--eu-west-1-prod-replica-0123456',
      'x',
      'a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t',
    ]) {
      const id = drillInstanceIdentifier(db, startedAt);
      expect(id.length).toBeLessThanOrEqual(63);
      expect(id).toMatch(DB_INSTANCE_IDENTIFIER);
      expect(id).toMatch(/^restorable-drill-[a-z0-9-]+-20261127030007$/);
      expect(id).not.toContain('--');
    }
  });
});

describe('allocatedStorageFor', () => {
  it('is six times the dump, at least 20 GiB and at most 65536 GiB', () => {
    expect(allocatedStorageFor(0)).toBe(20);
    expect(allocatedStorageFor(1 * GIB)).toBe(20);
    expect(allocatedStorageFor(10 * GIB)).toBe(60);
    expect(allocatedStorageFor(10 * GIB + 1)).toBe(61);
    expect(allocatedStorageFor(50_000 * GIB)).toBe(65_536);
  });
});

describe('RdsDatabaseProvider.provision', () => {
  it('creates a private, encrypted, single-AZ, unbacked-up instance of the backup major with a managed password and drill tags', async () => {
    rds.on(CreateDBInstanceCommand).resolves({});
    const handle = await provider({
      instanceClass: 'db.r6g.large',
      kmsKeyId: 'arn:aws:kms:eu-west-1:1:key/k',
    }).provision(request);
    expect(handle).toEqual({
      provider: 'rds',
      id: 'restorable-drill-orders-20261127030007',
      region: 'eu-west-1',
    });

    const calls = rds.commandCalls(CreateDBInstanceCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0].args[0].input;
    expect(input.DBInstanceIdentifier).toBe('restorable-drill-orders-20261127030007');
    expect(input.Engine).toBe('postgres');
    expect(input.EngineVersion).toBe('16');
    expect(input.DBInstanceClass).toBe('db.r6g.large');
    expect(input.AllocatedStorage).toBe(60);
    expect(input.StorageEncrypted).toBe(true);
    expect(input.KmsKeyId).toBe('arn:aws:kms:eu-west-1:1:key/k');
    expect(input.PubliclyAccessible).toBe(false);
    expect(input.MultiAZ).toBe(false);
    expect(input.BackupRetentionPeriod).toBe(0);
    expect(input.DeletionProtection).toBe(false);
    expect(input.ManageMasterUserPassword).toBe(true);
    expect(input.MasterUserPassword).toBeUndefined();
    expect(input.CopyTagsToSnapshot).toBe(false);
    expect(input.DBSubnetGroupName).toBe('restorable-drills');
    expect(input.VpcSecurityGroupIds).toEqual(['sg-0123456789abcdef0']);
    expect(input.Tags).toEqual([
      { Key: 'restorable:drill', Value: 'true' },
      { Key: 'restorable:expires-at', Value: '2026-11-28T03:00:07.000Z' },
      { Key: 'restorable:database', Value: 'orders' },
      { Key: 'restorable:drill-id', Value: request.drillId },
    ]);
  });

  it('defaults to db.t4g.medium and the account RDS key', async () => {
    rds.on(CreateDBInstanceCommand).resolves({});
    await provider().provision(request);
    const input = rds.commandCalls(CreateDBInstanceCommand)[0].args[0].input;
    expect(input.DBInstanceClass).toBe('db.t4g.medium');
    expect(input.KmsKeyId).toBeUndefined();
  });

  it("uses the drill's parameter group of the requested major, and the RDS default for a major without one", async () => {
    rds.on(CreateDBInstanceCommand).resolves({});
    const groups = { '16': 'restorable-drill-orders-pg16', '17': 'restorable-drill-orders-pg17' };
    await provider({ parameterGroups: groups }).provision(request);
    await provider({ parameterGroups: groups }).provision({ ...request, engineMajor: 17, exactMajor: true });
    await provider({ parameterGroups: groups }).provision({ ...request, engineMajor: 15 });
    await provider().provision(request);
    const inputs = rds.commandCalls(CreateDBInstanceCommand).map((c) => c.args[0].input);
    expect(inputs.map((i) => [i.EngineVersion, i.DBParameterGroupName])).toEqual([
      ['16', 'restorable-drill-orders-pg16'],
      ['17', 'restorable-drill-orders-pg17'],
      ['15', undefined],
      ['16', undefined],
    ]);
  });

  it('creates every instance of a major in standard support with Extended Support disabled', async () => {
    rds.on(CreateDBInstanceCommand).resolves({});
    await provider().provision(request);
    // The last day of PostgreSQL 13's standard support is still standard support.
    await provider().provision({ ...request, engineMajor: 13, startedAt: new Date('2026-02-28T23:59:59Z') });
    const inputs = rds.commandCalls(CreateDBInstanceCommand).map((c) => c.args[0].input);
    expect(inputs.map((i) => [i.EngineVersion, i.EngineLifecycleSupport])).toEqual([
      ['16', 'open-source-rds-extended-support-disabled'],
      ['13', 'open-source-rds-extended-support-disabled'],
    ]);
  });

  it('refuses a major in RDS Extended Support on the drill date before creating anything', async () => {
    rds.on(CreateDBInstanceCommand).resolves({});
    for (const [major, date, end] of [
      [13, '2026-03-01T00:00:00Z', '2026-02-28'],
      [12, '2026-11-27T03:00:07Z', '2025-02-28'],
      [11, '2024-03-01T00:00:00Z', '2024-02-29'],
    ] as const) {
      await expect(
        provider().provision({ ...request, engineMajor: major, startedAt: new Date(date) }),
      ).rejects.toThrow(
        new RegExp(
          `PostgreSQL ${major} left RDS standard support on ${end}: a drill instance would run on RDS Extended Support.*` +
            'drill\\.targetMajor.*drill\\.allowExtendedSupport: true',
        ),
      );
    }
    expect(rds.commandCalls(CreateDBInstanceCommand)).toHaveLength(0);
  });

  it('creates the instance in Extended Support only when the drill allows it', async () => {
    rds.on(CreateDBInstanceCommand).resolves({});
    await provider().provision({ ...request, engineMajor: 12, allowExtendedSupport: true });
    // Allowing it changes nothing for a major in standard support.
    await provider().provision({ ...request, engineMajor: 16, allowExtendedSupport: true });
    const inputs = rds.commandCalls(CreateDBInstanceCommand).map((c) => c.args[0].input);
    expect(inputs.map((i) => [i.EngineVersion, i.EngineLifecycleSupport])).toEqual([
      ['12', 'open-source-rds-extended-support'],
      ['16', 'open-source-rds-extended-support-disabled'],
    ]);
  });

  it('refuses to create without a subnet group or security group', async () => {
    await expect(provider({ subnetGroupName: undefined }).provision(request)).rejects.toThrow(/subnet group/);
    await expect(provider({ securityGroupIds: [] }).provision(request)).rejects.toThrow(/security group/);
    expect(rds.commandCalls(CreateDBInstanceCommand)).toHaveLength(0);
  });
});

describe('RdsDatabaseProvider.status and the wait', () => {
  const handle = { provider: 'rds' as const, id: 'restorable-drill-orders-20261127030007' };
  const described = (status: string, secretStatus?: string) => ({
    DBInstances: [
      {
        DBInstanceIdentifier: handle.id,
        DBInstanceStatus: status,
        ...(secretStatus
          ? { MasterUserSecret: { SecretArn: 'arn:secret', SecretStatus: secretStatus } }
          : {}),
      },
    ],
  });

  it('waits through creating and backing-up, and until the managed secret is active', async () => {
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: handle.id })
      .resolvesOnce(described('creating'))
      .resolvesOnce(described('backing-up'))
      .resolvesOnce(described('available', 'creating'))
      .resolves(described('available', 'active'));
    const seen: string[] = [];
    const sleeps: number[] = [];
    await waitUntilAvailable(provider(), handle, {
      intervalMs: 30_000,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      onStatus: (s) => seen.push(`${s.status}/${s.detail}`),
    });
    expect(seen).toEqual([
      'creating/creating',
      'creating/backing-up',
      'creating/available',
      'available/available',
    ]);
    expect(sleeps).toEqual([30_000, 30_000, 30_000]);
  });

  it('stops waiting when the instance fails or disappears', async () => {
    rds.on(DescribeDBInstancesCommand).resolves(described('incompatible-parameters'));
    await expect(waitUntilAvailable(provider(), handle, { sleep: async () => undefined })).rejects.toThrow(
      /is failed \(incompatible-parameters\)/,
    );
    rds.reset();
    rds
      .on(DescribeDBInstancesCommand)
      .rejects(new DBInstanceNotFoundFault({ message: 'gone', $metadata: {} }));
    expect(await provider().status(handle)).toEqual({ status: 'deleted', detail: 'not found' });
  });

  it('gives up after the timeout', async () => {
    rds.on(DescribeDBInstancesCommand).resolves(described('creating'));
    await expect(
      waitUntilAvailable(provider(), handle, {
        timeoutMs: 50,
        intervalMs: 30,
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      }),
    ).rejects.toThrow(/not available after 0s \(creating\)/);
  });
});

describe('RdsDatabaseProvider.connection', () => {
  it('reads the credentials from the managed master secret and connects to the endpoint with verify-full', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: 'restorable-drill-orders-20261127030007',
          DBInstanceStatus: 'available',
          Endpoint: { Address: 'restorable-drill-orders.abc.eu-west-1.rds.amazonaws.com', Port: 5432 },
          MasterUserSecret: {
            SecretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:rds!db-1',
            SecretStatus: 'active',
          },
        },
      ],
    });
    secrets
      .on(GetSecretValueCommand, { SecretId: 'arn:aws:secretsmanager:eu-west-1:1:secret:rds!db-1' })
      .resolves({ SecretString: JSON.stringify({ username: 'restorable_admin', password: 'p@ss:word' }) });
    const conn = await provider({ caBundlePath: '/opt/rds-ca/global-bundle.pem' }).connection({
      provider: 'rds',
      id: 'restorable-drill-orders-20261127030007',
    });
    expect(conn).toEqual({
      host: 'restorable-drill-orders.abc.eu-west-1.rds.amazonaws.com',
      port: 5432,
      user: 'restorable_admin',
      password: 'p@ss:word',
      database: 'postgres',
      sslMode: 'verify-full',
      caBundlePath: '/opt/rds-ca/global-bundle.pem',
    });
  });
});

describe('RdsDatabaseProvider.release', () => {
  const handle = { provider: 'rds' as const, id: 'restorable-drill-orders-20261127030007' };

  it('deletes without a final snapshot and without keeping automated backups', async () => {
    rds.on(DeleteDBInstanceCommand).resolves({});
    expect(await provider().release(handle)).toEqual({ released: true, alreadyGone: false });
    expect(rds.commandCalls(DeleteDBInstanceCommand)[0].args[0].input).toEqual({
      DBInstanceIdentifier: handle.id,
      SkipFinalSnapshot: true,
      DeleteAutomatedBackups: true,
    });
  });

  it('is idempotent: an instance already gone or already deleting counts as released', async () => {
    rds
      .on(DeleteDBInstanceCommand)
      .rejects(new DBInstanceNotFoundFault({ message: 'not found', $metadata: {} }));
    expect(await provider().release(handle)).toEqual({ released: true, alreadyGone: true });
    rds.reset();
    rds
      .on(DeleteDBInstanceCommand)
      .rejects(new InvalidDBInstanceStateFault({ message: 'already being deleted', $metadata: {} }));
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ DBInstanceIdentifier: handle.id, DBInstanceStatus: 'deleting' }] });
    expect(await provider().release(handle)).toEqual({ released: true, alreadyGone: true });
  });

  it('rethrows other errors so the caller can retry', async () => {
    rds
      .on(DeleteDBInstanceCommand)
      .rejects(new InvalidDBInstanceStateFault({ message: 'is modifying', $metadata: {} }));
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ DBInstanceIdentifier: handle.id, DBInstanceStatus: 'modifying' }] });
    await expect(provider().release(handle)).rejects.toThrow(/is modifying/);
  });

  it('never deletes an instance that is not a drill instance', async () => {
    await expect(provider().release({ provider: 'rds', id: 'orders-prod' })).rejects.toThrow(
      /not a drill instance/,
    );
    expect(rds.commandCalls(DeleteDBInstanceCommand)).toHaveLength(0);
  });
});

describe('a drill of a major in RDS Extended Support', () => {
  const stateFor = (settings: DrillSettingsInput) => ({
    ...initialState('orders', resolveDrillSettings(settings), { bucket: 'b', kind: 'replica' }, startedAt),
    backup: {
      backupId: 'daily-20261127T020000Z',
      manifestKey: 'daily/orders/x.manifest.json',
      dumpKey: 'daily/orders/x.dump',
      tier: 'daily',
      period: '2026-11-27',
      bytes: 10 * GIB,
      createdAt: '2026-11-27T02:00:00Z',
      serverMajor: 12,
      serverVersion: '12.22',
    },
  });

  it('fails at provision naming the major, the date and the two ways out, by default', async () => {
    rds.on(CreateDBInstanceCommand).resolves({});
    await expect(provisionStep(provider(), stateFor({}))).rejects.toMatchObject({
      step: 'provision',
      message: expect.stringMatching(
        /could not create the ephemeral database: PostgreSQL 12 left RDS standard support on 2025-02-28.*drill\.allowExtendedSupport: true/,
      ),
    });
    expect(rds.commandCalls(CreateDBInstanceCommand)).toHaveLength(0);
  });

  it('runs on Extended Support when the drill allows it, or in a newer major without it', async () => {
    rds.on(CreateDBInstanceCommand).resolves({});
    await provisionStep(provider(), stateFor({ allowExtendedSupport: true }));
    await provisionStep(provider(), stateFor({ targetMajor: 16 }));
    const inputs = rds.commandCalls(CreateDBInstanceCommand).map((c) => c.args[0].input);
    expect(inputs.map((i) => [i.EngineVersion, i.EngineLifecycleSupport])).toEqual([
      ['12', 'open-source-rds-extended-support'],
      ['16', 'open-source-rds-extended-support-disabled'],
    ]);
  });

  it('is a setting that defaults to false and takes only a boolean', () => {
    expect(resolveDrillSettings({}).allowExtendedSupport).toBe(false);
    expect(resolveDrillSettings({ allowExtendedSupport: true }).allowExtendedSupport).toBe(true);
    expect(() => resolveDrillSettings({ allowExtendedSupport: 'yes' })).toThrow(
      /invalid drill settings: allowExtendedSupport: .*boolean/i,
    );
  });
});

describe('rdsExtendedSupportOn', () => {
  it('starts Extended Support the day after the last day of standard support, UTC', () => {
    expect(rdsExtendedSupportOn(13, new Date('2026-02-28T23:59:59.999Z')).inExtendedSupport).toBe(false);
    expect(rdsExtendedSupportOn(13, new Date('2026-03-01T00:00:00Z'))).toEqual({
      inExtendedSupport: true,
      standardSupportEnd: '2026-02-28',
    });
    expect(rdsExtendedSupportOn(15, new Date('2028-03-01T00:00:00Z')).standardSupportEnd).toBe('2028-02-29');
  });

  it('counts a major without a published date as standard support', () => {
    expect(rdsExtendedSupportOn(18, new Date('2040-01-01T00:00:00Z'))).toEqual({ inExtendedSupport: false });
  });
});
