/**
 * The drill Lambda's actions, chained the way the Step Functions workflow chains them, with RDS
 * and Secrets Manager mocked at the SDK boundary (aws-sdk-client-mock) — the mock "creates" an
 * instance by starting a real local cluster, so restore and checks run for real against the
 * endpoint and managed-secret credentials the provider resolves. S3 is the local S3 server.
 *
 * Proves: the happy path select → provision → status (creating, then available) →
 * restore-and-check → cleanup → report; the Catch path (restore throws → DeleteDBInstance sent,
 * FAILED report with the step and reason, DrillFailure metric); a failure before anything was
 * created; a timeout while waiting; credentials never in states, reports or logs.
 */
import {
  CreateDBInstanceCommand,
  DBInstanceNotFoundFault,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  RDSClient,
  type CreateDBInstanceCommandInput,
} from '@aws-sdk/client-rds';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { runDrill, type DrillReport, type DrillState } from '../../lambda/core/drill';
import { dumpDatabase } from '../../lambda/core/dump';
import { startLocalCluster, type LocalCluster } from '../../lambda/core/local-cluster';
import { RdsDatabaseProvider } from '../../lambda/core/providers/rds';
import { handler } from '../../lambda/handlers/drill';
import { replicateLocally } from '../../src/local/replicate';
import { captureOutput, setEnv, type CapturedOutput } from '../support/handler-io';
import { startHarness, type Harness } from '../support/harness';

const rds = mockClient(RDSClient);
const secrets = mockClient(SecretsManagerClient);

let h: Harness;
/** Instances "created" through the mock: a real cluster each, plus how often Describe was asked. */
const instances = new Map<
  string,
  { cluster: LocalCluster; describes: number; deleted: boolean; password: string }
>();
let wrongPassword = false;
let output: CapturedOutput | undefined;
let restoreEnv: (() => void) | undefined;

const secretArn = (id: string) => `arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-${id}-AbCdEf`;

function mockRds(): void {
  rds.reset();
  secrets.reset();
  rds.on(CreateDBInstanceCommand).callsFake(async (input: CreateDBInstanceCommandInput) => {
    const id = input.DBInstanceIdentifier!;
    const cluster = await startLocalCluster({ major: Number(input.EngineVersion) });
    instances.set(id, { cluster, describes: 0, deleted: false, password: cluster.password });
    return { DBInstance: { DBInstanceIdentifier: id, DBInstanceStatus: 'creating' } };
  });
  rds.on(DescribeDBInstancesCommand).callsFake(async (input: { DBInstanceIdentifier?: string }) => {
    const i = instances.get(input.DBInstanceIdentifier!);
    if (!i || i.deleted)
      throw new DBInstanceNotFoundFault({ message: 'DBInstance not found', $metadata: {} });
    i.describes++;
    const available = i.describes > 1; // creating on the first look, then available
    return {
      DBInstances: [
        {
          DBInstanceIdentifier: input.DBInstanceIdentifier,
          DBInstanceStatus: available ? 'available' : 'creating',
          DBInstanceClass: 'db.t4g.medium',
          EngineVersion: `${i.cluster.major}.4`,
          AllocatedStorage: 20,
          StorageEncrypted: true,
          ...(available
            ? {
                Endpoint: { Address: '127.0.0.1', Port: i.cluster.port },
                MasterUserSecret: {
                  SecretArn: secretArn(input.DBInstanceIdentifier!),
                  SecretStatus: 'active',
                },
              }
            : {}),
        },
      ],
    };
  });
  rds.on(DeleteDBInstanceCommand).callsFake(async (input: { DBInstanceIdentifier?: string }) => {
    const i = instances.get(input.DBInstanceIdentifier!);
    if (!i || i.deleted)
      throw new DBInstanceNotFoundFault({ message: 'DBInstance not found', $metadata: {} });
    i.deleted = true;
    await i.cluster.stop();
    return { DBInstance: { DBInstanceIdentifier: input.DBInstanceIdentifier, DBInstanceStatus: 'deleting' } };
  });
  secrets.on(GetSecretValueCommand).callsFake(async (input: { SecretId?: string }) => {
    const id = [...instances.keys()].find((k) => secretArn(k) === input.SecretId);
    if (!id) throw new Error(`no such secret ${input.SecretId}`);
    const password = wrongPassword ? 'not-the-password' : instances.get(id)!.password;
    return { SecretString: JSON.stringify({ username: 'postgres', password }) };
  });
}

/** Invokes the handler and round-trips the result through JSON, as Step Functions does. */
async function invoke<T>(event: unknown): Promise<T> {
  const out = await handler(JSON.parse(JSON.stringify(event)), {
    getRemainingTimeInMillis: () => 900_000,
    awsRequestId: 'req-drill',
  });
  return JSON.parse(JSON.stringify(out)) as T;
}

/** What the Catch path receives as Cause: the Lambda error payload. */
async function errorOf(event: unknown): Promise<{ Error: string; Cause: string }> {
  try {
    await invoke(event);
  } catch (e) {
    const err = e as Error;
    return {
      Error: err.name,
      Cause: JSON.stringify({ errorType: err.name, errorMessage: err.message, trace: ['at somewhere'] }),
    };
  }
  throw new Error('expected the action to fail');
}

async function readReport(key: string): Promise<DrillReport> {
  const out = await h.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: key }));
  return JSON.parse(await out.Body!.transformToString()) as DrillReport;
}

const emf = () => output!.emf();

beforeAll(async () => {
  h = await startHarness();
  const m = await dumpDatabase(h.dumpOptions({ databaseId: 'orders' }));
  await replicateLocally(h.s3, h.bucket, h.replicaBucket, `${m.tier}/orders/`);
  restoreEnv = setEnv({
    BACKUP_BUCKET: h.bucket,
    REPLICA_BUCKET: h.replicaBucket,
    REPLICA_REGION: process.env.AWS_REGION ?? 'us-east-1',
    DRILL_SUBNET_GROUP: 'restorable-drill-subnets',
    DRILL_SECURITY_GROUP_IDS: 'sg-0123456789abcdef0, sg-0fedcba9876543210',
    DRILL_SSL_MODE: 'disable', // the mock's "RDS" is a local cluster without TLS
    PG_BIN_DIRS: h.realBinDir,
  });
  output = captureOutput();
});

afterAll(async () => {
  output?.restore();
  restoreEnv?.();
  for (const i of instances.values()) await i.cluster.stop();
  await h?.stop();
});

beforeEach(() => {
  mockRds();
  wrongPassword = false;
  output!.lines.length = 0;
});

afterEach(() => {
  // TESTING 9: no instance password in anything the handler printed.
  const printed = output!.lines.join('');
  for (const i of instances.values()) expect(printed).not.toContain(i.password);
});

const drillConfig = {
  enabled: true,
  schedule: 'cron(0 3 ? * 6L *)',
  selection: 'latest',
  source: 'replica',
  instanceClass: 'db.t4g.large',
  rtoTargetMinutes: 60,
  checks: [{ name: 'orders', sql: 'SELECT count(*) FROM shop.orders', expect: { equals: 900 } }],
};

describe('drill handler', () => {
  it('runs the workflow steps: select, provision, wait, restore and check, cleanup, report', async () => {
    const selected = await invoke<DrillState>({ action: 'select', databaseId: 'orders', drill: drillConfig });
    expect(selected).toMatchObject({
      databaseId: 'orders',
      completed: 'select',
      source: { bucket: h.replicaBucket, kind: 'replica' },
      settings: { rtoTargetSeconds: 3600, instanceClass: 'db.t4g.large', selection: 'latest' },
      backup: { serverMajor: h.cluster.major },
    });

    const provisioned = await invoke<DrillState>({ action: 'provision', state: selected });
    const id = provisioned.ephemeral!.id;
    expect(id).toMatch(/^restorable-drill-orders-\d{14}$/);
    const create = rds.commandCalls(CreateDBInstanceCommand)[0].args[0].input;
    expect(create).toMatchObject({
      DBInstanceIdentifier: id,
      DBInstanceClass: 'db.t4g.large',
      EngineVersion: String(h.cluster.major),
      DBSubnetGroupName: 'restorable-drill-subnets',
      VpcSecurityGroupIds: ['sg-0123456789abcdef0', 'sg-0fedcba9876543210'],
      ManageMasterUserPassword: true,
    });
    expect(create.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'restorable:drill', Value: 'true' },
        { Key: 'restorable:drill-id', Value: selected.drillId },
      ]),
    );

    expect(await invoke({ action: 'status', state: provisioned })).toEqual({
      status: 'creating',
      detail: 'creating',
    });
    expect(await invoke({ action: 'status', state: provisioned })).toEqual({
      status: 'available',
      detail: 'available',
    });

    const checked = await invoke<DrillState>({ action: 'restore-and-check', state: provisioned });
    expect(checked.outcome!.checks).toMatchObject({ ok: true, failed: 0 });
    expect(checked.outcome!.checks.results.find((r) => r.name === 'sql:orders')).toMatchObject({ ok: true });

    const cleaned = await invoke<DrillState>({ action: 'cleanup', state: checked });
    expect(cleaned.release).toMatchObject({ released: true, alreadyGone: false });
    expect(rds.commandCalls(DeleteDBInstanceCommand)[0].args[0].input).toEqual({
      DBInstanceIdentifier: id,
      SkipFinalSnapshot: true,
      DeleteAutomatedBackups: true,
    });
    expect(instances.get(id)!.cluster.isRunning()).toBe(false);

    const result = await invoke<{ status: string; reportKey: string }>({ action: 'report', state: cleaned });
    expect(result).toMatchObject({ status: 'PASSED', mismatches: 0 });
    const report = await readReport(result.reportKey);
    expect(report).toMatchObject({
      status: 'PASSED',
      provider: 'rds',
      drillId: selected.drillId,
      ephemeral: { id, released: true, description: { instanceClass: 'db.t4g.medium', encrypted: true } },
    });
    const metrics = emf().find((m) => m.DrillSuccess !== undefined)!;
    expect(metrics).toMatchObject({
      DatabaseId: 'orders',
      DrillSuccess: 1,
      DrillFailure: 0,
      DrillMismatches: 0,
    });
    expect(metrics.DrillRtoSeconds).toBeGreaterThan(0);
    expect(metrics.DrillRestoreSeconds).toBeGreaterThan(0);
    // RTO against the 60-minute target, for the fleet's one alarm at > 1.
    expect(metrics.DrillRtoOverTarget).toBeCloseTo((metrics.DrillRtoSeconds as number) / 3600, 3);
    expect(metrics._aws).toMatchObject({
      CloudWatchMetrics: [
        { Metrics: expect.arrayContaining([{ Name: 'DrillRtoOverTarget', Unit: 'None' }]) },
      ],
    });

    // Cleanup again (a Step Functions retry) is harmless.
    const again = await invoke<DrillState>({ action: 'cleanup', state: checked });
    expect(again.release).toMatchObject({ released: true, alreadyGone: true });

    for (const state of [selected, provisioned, checked, cleaned]) {
      expect(JSON.stringify(state)).not.toContain(instances.get(id)!.password);
    }
  });

  it('deletes the instance and reports FAILED at restore when the restore throws (Catch path)', async () => {
    const selected = await invoke<DrillState>({ action: 'select', databaseId: 'orders', drill: drillConfig });
    const provisioned = await invoke<DrillState>({ action: 'provision', state: selected });
    await invoke({ action: 'status', state: provisioned });
    const availability = await invoke({ action: 'status', state: provisioned });
    wrongPassword = true;
    const error = await errorOf({ action: 'restore-and-check', state: provisioned });
    expect(error.Error).toBe('DrillStepError');

    // The Catch passes the whole execution state.
    const execution = { databaseId: 'orders', drill: drillConfig, state: provisioned, availability, error };
    const result = await invoke<{ status: string; reportKey: string; released: boolean }>({
      action: 'cleanup',
      state: execution,
      error,
    });
    expect(result).toMatchObject({ status: 'FAILED', released: true });
    expect(rds.commandCalls(DeleteDBInstanceCommand)).toHaveLength(1);
    expect(rds.commandCalls(DeleteDBInstanceCommand)[0].args[0].input.DBInstanceIdentifier).toBe(
      provisioned.ephemeral!.id,
    );
    const report = await readReport(result.reportKey);
    expect(report.status).toBe('FAILED');
    expect(report.failure).toEqual({
      step: 'restore',
      reason: expect.stringMatching(/password authentication failed/),
    });
    expect(report.failure!.reason).not.toMatch(/trace|at somewhere/);
    expect(report.ephemeral).toMatchObject({ id: provisioned.ephemeral!.id, released: true });
    expect(emf().find((m) => m.DrillFailure !== undefined)).toMatchObject({
      DatabaseId: 'orders',
      DrillFailure: 1,
      DrillSuccess: 0,
    });
  });

  it('reports a failure before anything was created without deleting anything', async () => {
    const error = await errorOf({ action: 'select', databaseId: 'nothing-here', drill: drillConfig });
    expect(JSON.parse(error.Cause).errorMessage).toMatch(/^select: no valid backup of nothing-here/);
    const result = await invoke<{ status: string; reportKey: string; released: boolean }>({
      action: 'cleanup',
      state: { databaseId: 'nothing-here', drill: drillConfig, error },
      error,
    });
    expect(result).toMatchObject({ status: 'FAILED', released: true });
    expect(rds.commandCalls(DeleteDBInstanceCommand)).toHaveLength(0);
    const report = await readReport(result.reportKey);
    expect(report).toMatchObject({
      databaseId: 'nothing-here',
      backupId: null,
      failure: { step: 'select', reason: expect.stringMatching(/no valid backup/) },
      ephemeral: { id: null, released: true },
    });
  });

  it('deletes the instance when the wait times out (States.Timeout)', async () => {
    const selected = await invoke<DrillState>({ action: 'select', databaseId: 'orders', drill: drillConfig });
    const provisioned = await invoke<DrillState>({ action: 'provision', state: selected });
    const availability = await invoke({ action: 'status', state: provisioned });
    const error = { Error: 'States.Timeout', Cause: 'State timed out.' };
    const result = await invoke<{ reportKey: string }>({
      action: 'cleanup',
      state: { databaseId: 'orders', drill: drillConfig, state: provisioned, availability, error },
      error,
    });
    expect(rds.commandCalls(DeleteDBInstanceCommand)).toHaveLength(1);
    const report = await readReport(result.reportKey);
    expect(report.failure).toEqual({ step: 'wait', reason: 'States.Timeout: State timed out.' });
  });

  it('rejects malformed events naming the problem', async () => {
    await expect(invoke({ action: 'launch' })).rejects.toThrow(/invalid drill event: action/);
    await expect(invoke({ action: 'provision', state: { drillId: 'x' } })).rejects.toThrow(
      /state\.formatVersion/,
    );
  });
});

describe('runDrill with the RDS provider', () => {
  it('deletes the instance when the restore throws', async () => {
    wrongPassword = true;
    const { report } = await runDrill({
      databaseId: 'orders',
      source: { s3: h.s3, bucket: h.replicaBucket, kind: 'replica' },
      provider: new RdsDatabaseProvider({
        rds: new RDSClient({}),
        secrets: new SecretsManagerClient({}),
        subnetGroupName: 'subnets',
        securityGroupIds: ['sg-1'],
        sslMode: 'disable',
      }),
      wait: { intervalMs: 10 },
      reportBucket: h.bucket,
      pgBinDirs: [h.realBinDir],
    });
    expect(report).toMatchObject({
      status: 'FAILED',
      failure: { step: 'restore' },
      ephemeral: { released: true },
    });
    expect(rds.commandCalls(CreateDBInstanceCommand)).toHaveLength(1);
    expect(rds.commandCalls(DeleteDBInstanceCommand)).toHaveLength(1);
    expect(rds.commandCalls(DeleteDBInstanceCommand)[0].args[0].input.DBInstanceIdentifier).toBe(
      report.ephemeral.id,
    );
  });
});
