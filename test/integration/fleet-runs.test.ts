/**
 * The shared runners of a fleet, through the real handlers against real PostgreSQL and the local S3
 * server (which refuses any access key but its own):
 * - with DATABASE_ACCESS_ROLE_ARN, dump and verify sign S3 with the session STS issued for the
 *   run's database (the function's own key is refused by the server, so only the session works),
 *   and read the secret with it;
 * - the run input's `compression` and `lockWaitTimeoutSeconds` override the environment's;
 * - a discovered database deleted since discovery fails its own run with DATABASE_GONE (dump and
 *   drill), while the next database's run goes on, against the endpoint RDS reports now.
 * STS, Secrets Manager and RDS are mocked at the client boundary (TESTING: no local server).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { LOCAL_S3_CREDENTIALS } from '../../src/local/s3-server';
import { makeS3Client, readText } from '../../lambda/core/s3';
import { parseManifest } from '../../lambda/core/manifest';
import { handler as dumpHandler, type DumpResult } from '../../lambda/handlers/dump';
import { handler as verifyHandler } from '../../lambda/handlers/verify';
import { handler as drillHandler } from '../../lambda/handlers/drill';
import { captureOutput, setEnv } from '../support/handler-io';
import { makeStandInBinDir, startHarness, TEST_KMS_KEY, type Harness } from '../support/harness';

jest.setTimeout(180_000);

const ROLE = 'arn:aws:iam::123456789012:role/restorable-data-access';
const arnOf = (id: string) => `arn:aws:rds:us-east-1:123456789012:db:${id}`;
const context = { getRemainingTimeInMillis: () => 600_000, awsRequestId: 'req-fleet' };

let h: Harness;
const sts = mockClient(STSClient);
const secrets = mockClient(SecretsManagerClient);
const rds = mockClient(RDSClient);
let restoreEnv: () => void;

beforeAll(async () => {
  h = await startHarness();
  secrets.on(GetSecretValueCommand).resolves({ SecretString: h.secretString() });
  sts.on(AssumeRoleCommand).resolves({
    // The only key the local S3 server accepts: a call signed with anything else is refused.
    Credentials: {
      AccessKeyId: LOCAL_S3_CREDENTIALS.accessKeyId,
      SecretAccessKey: LOCAL_S3_CREDENTIALS.secretAccessKey,
      SessionToken: 'session-token',
      Expiration: new Date(Date.now() + 3600_000),
    },
  });
  restoreEnv = setEnv({
    // The function's own role: the local S3 server does not know this key.
    AWS_ACCESS_KEY_ID: 'AKIA-SHARED-RUNNER',
    AWS_SECRET_ACCESS_KEY: 'runner-secret',
    BACKUP_BUCKET: h.bucket,
    BACKUP_KMS_KEY_ARN: TEST_KMS_KEY,
    OBJECT_LOCK_MODE: 'NONE',
    PG_BIN_DIRS: h.realBinDir,
    DATABASE_ACCESS_ROLE_ARN: ROLE,
    DRILL_SUBNET_GROUP: 'restorable-drill',
    DRILL_SECURITY_GROUP_IDS: 'sg-1',
  });
});

afterAll(async () => {
  restoreEnv?.();
  sts.restore();
  secrets.restore();
  rds.restore();
  await h?.stop();
});

beforeEach(() => {
  sts.resetHistory();
  secrets.resetHistory();
  rds.reset();
});

describe('shared runners with the data-access role', () => {
  test('dump and verify act as the session of the run database; the function own key is refused', async () => {
    const output = captureOutput();
    let dumped: DumpResult;
    let withoutRole: unknown;
    try {
      dumped = await dumpHandler(
        { databaseId: 'orders', secretArn: 'arn:secret:orders', sslMode: 'disable', tier: 'daily' },
        context,
      );
      const verified = await verifyHandler(
        { databaseId: 'orders', manifestKey: dumped.manifestKey },
        context,
      );
      expect(verified.ok).toBe(true);

      // The control: the same dump with the function's own credentials is refused by the server.
      delete process.env.DATABASE_ACCESS_ROLE_ARN;
      withoutRole = await dumpHandler(
        { databaseId: 'orders', secretArn: 'arn:secret:orders', sslMode: 'disable', tier: 'daily' },
        context,
      ).catch((e: Error) => e);
    } finally {
      process.env.DATABASE_ACCESS_ROLE_ARN = ROLE;
      output.restore();
    }
    expect(String(withoutRole)).toMatch(/BackupError: .*(InvalidAccessKeyId|AWS Access Key Id)/s);

    // One session per database, tagged with it; the secret was read through it.
    const assumed = sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input);
    expect(assumed.length).toBeGreaterThanOrEqual(1);
    for (const input of assumed) {
      expect(input).toMatchObject({ RoleArn: ROLE, Tags: [{ Key: 'restorable:database', Value: 'orders' }] });
    }
    const secretCall = secrets.commandCalls(GetSecretValueCommand)[0];
    const signer = (secretCall.thisValue as SecretsManagerClient).config.credentials as () => Promise<{
      accessKeyId: string;
      sessionToken?: string;
    }>;
    expect(await signer()).toMatchObject({
      accessKeyId: LOCAL_S3_CREDENTIALS.accessKeyId,
      sessionToken: 'session-token',
    });
  });

  test('compression and the lock wait from the run input override the environment', async () => {
    // The real pg_dump, behind a wrapper that records its arguments.
    const binDir = makeStandInBinDir({ kind: 'delay-then-real', seconds: 0 }, { realBinDir: h.realBinDir });
    const argsFile = path.join(binDir, 'args.txt');
    const script = fs.readFileSync(path.join(binDir, 'pg_dump'), 'utf8');
    fs.writeFileSync(
      path.join(binDir, 'pg_dump'),
      script.replace('sleep 0\n', `echo "$@" >> '${argsFile}'\n`),
      { mode: 0o755 },
    );
    const restore = setEnv({
      COMPRESSION: JSON.stringify({ kind: 'zstd', level: 3 }),
      LOCK_WAIT_TIMEOUT_SECONDS: '120',
      PG_BIN_DIRS: binDir,
    });
    const output = captureOutput();
    let result: DumpResult;
    try {
      result = await dumpHandler(
        {
          databaseId: 'plain',
          secretArn: 'arn:secret:plain',
          sslMode: 'disable',
          tier: 'daily',
          compression: { kind: 'none' },
          lockWaitTimeoutSeconds: 7,
        },
        context,
      );
    } finally {
      output.restore();
      restore();
    }
    // The test reads as the server's own account (the environment holds the runner's refused key).
    const s3 = makeS3Client(undefined, { credentials: LOCAL_S3_CREDENTIALS });
    const manifest = parseManifest(await readText(s3, h.bucket, result.manifestKey));
    s3.destroy();
    expect(manifest.compression).toMatchObject({ kind: 'none' });
    expect(fs.readFileSync(argsFile, 'utf8')).toContain('--lock-wait-timeout=7000');
  });
});

describe('a discovered database deleted since discovery', () => {
  test('its dump fails with DATABASE_GONE and no backup; the next database runs against the endpoint RDS reports', async () => {
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'billing-db' })
      .rejects(
        Object.assign(new Error('DBInstance billing-db not found.'), { name: 'DBInstanceNotFoundFault' }),
      )
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db' })
      .resolves({
        DBInstances: [
          {
            DBInstanceIdentifier: 'orders-db',
            DBInstanceStatus: 'available',
            Endpoint: { Address: h.connection.host, Port: h.connection.port },
          },
        ],
      });
    const output = captureOutput();
    let gone: unknown;
    let next: DumpResult;
    try {
      gone = await dumpHandler(
        {
          databaseId: 'billing',
          secretArn: 'arn:secret:billing',
          rdsResourceArn: arnOf('billing-db'),
          sslMode: 'disable',
        },
        context,
      ).catch((e: Error) => e);
      // The event's port is stale (discovery ran before a failover); RDS's current endpoint wins.
      next = await dumpHandler(
        {
          databaseId: 'orders-eu',
          secretArn: 'arn:secret:orders-eu',
          rdsResourceArn: arnOf('orders-db'),
          host: h.connection.host,
          port: 1,
          sslMode: 'disable',
          tier: 'daily',
        },
        context,
      );
    } finally {
      output.restore();
    }
    expect(gone).toMatchObject({ name: 'BackupError', reason: 'DATABASE_GONE' });
    expect((gone as Error).message).toMatch(
      /^DATABASE_GONE: database "billing": RDS instance "billing-db" no longer exists since it was discovered; no backup was taken\. Its earlier backups are kept/,
    );
    expect(next.databaseId).toBe('orders-eu');
    // Nothing was read or written for billing: no secret read, no object.
    expect(secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId)).toEqual([
      'arn:secret:orders-eu',
    ]);
    const listing = await h.s3server.pendingUploads(h.bucket);
    expect(listing).toEqual([]);
    const billingFailure = output
      .emf()
      .find((d) => d.DatabaseId === 'billing' && d.BackupFailure !== undefined);
    expect(billingFailure).toMatchObject({ BackupFailure: 1, BackupSuccess: 0 });
    // The billing session carried its RDS resource tag; orders-eu's its own.
    const tags = sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.Tags);
    expect(tags).toContainEqual([
      { Key: 'restorable:database', Value: 'orders-eu' },
      { Key: 'restorable:rds-resource', Value: arnOf('orders-db') },
    ]);
  });

  test('its drill fails at select with DATABASE_GONE (being deleted)', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [{ DBInstanceIdentifier: 'billing-db', DBInstanceStatus: 'deleting' }],
    });
    const output = captureOutput();
    let err: unknown;
    try {
      err = await drillHandler(
        {
          action: 'select',
          databaseId: 'billing',
          drill: { source: 'primary' },
          rdsResourceArn: arnOf('billing-db'),
        },
        context,
      ).catch((e: Error) => e);
    } finally {
      output.restore();
    }
    expect(err).toMatchObject({ name: 'DrillStepError' });
    expect((err as Error).message).toMatch(
      /^select: DATABASE_GONE: database "billing": RDS instance "billing-db" is being deleted since it was discovered/,
    );
    expect(rds.commandCalls(DescribeDBInstancesCommand)[0].args[0].input).toEqual({
      DBInstanceIdentifier: 'billing-db',
    });
  });
});
