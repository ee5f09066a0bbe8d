/**
 * The clients of one database's run, at the SDK boundary: with DATABASE_ACCESS_ROLE_ARN the S3 and
 * Secrets Manager clients take their credentials from STS AssumeRole of the data-access role,
 * tagged with the run's database (and RDS resource); without it, the function's own credentials
 * and no STS call. The credentials each client would sign with are read from its own provider.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { runClients } from '../../lambda/handlers/run-clients';

const ROLE = 'arn:aws:iam::123456789012:role/restorable-data-access';
const RDS_ARN = 'arn:aws:rds:eu-west-1:123456789012:db:orders-db';

const sts = mockClient(STSClient);
let issued = 0;

/** What the client would sign with: its resolved credentials provider. */
async function signingKey(client: S3Client | SecretsManagerClient): Promise<string> {
  const provider = client.config.credentials as () => Promise<{ accessKeyId: string }>;
  return (await provider()).accessKeyId;
}

beforeEach(() => {
  sts.reset();
  issued = 0;
  sts.on(AssumeRoleCommand).callsFake(() => {
    issued += 1;
    return {
      Credentials: {
        AccessKeyId: `ASIA-SESSION-${issued}`,
        SecretAccessKey: 'session-secret',
        SessionToken: `token-${issued}`,
        Expiration: new Date(Date.now() + 3600_000),
      },
    };
  });
  process.env.AWS_ACCESS_KEY_ID = 'AKIA-FUNCTION-ROLE';
  process.env.AWS_SECRET_ACCESS_KEY = 'function-secret';
  process.env.AWS_REGION = 'eu-west-1';
});

afterEach(() => jest.restoreAllMocks());

afterAll(() => {
  sts.restore();
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
});

describe('runClients', () => {
  it('signs S3 (both regions) and Secrets Manager calls with the session assumed for the database', async () => {
    const clients = runClients({ roleArn: ROLE, databaseId: 'orders', rdsResourceArn: RDS_ARN });
    expect(await signingKey(clients.s3())).toBe('ASIA-SESSION-1');
    expect(await signingKey(clients.s3('us-east-1'))).toBe('ASIA-SESSION-1');
    expect(await signingKey(clients.secrets())).toBe('ASIA-SESSION-1');
    expect(await clients.s3('us-east-1').config.region()).toBe('us-east-1');

    // One session for the run, tagged with the database and the RDS resource.
    const calls = sts.commandCalls(AssumeRoleCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({
      RoleArn: ROLE,
      RoleSessionName: expect.stringMatching(/^restorable-orders-[0-9a-f]{8}$/),
      DurationSeconds: 3600,
      Tags: [
        { Key: 'restorable:database', Value: 'orders' },
        { Key: 'restorable:rds-resource', Value: RDS_ARN },
      ],
    });
  });

  it('gives each database its own session, and reuses a database session across runs', async () => {
    const orders = runClients({ roleArn: ROLE, databaseId: 'orders-two' });
    const billing = runClients({ roleArn: ROLE, databaseId: 'billing' });
    expect(await signingKey(orders.s3())).toBe('ASIA-SESSION-1');
    expect(await signingKey(billing.s3())).toBe('ASIA-SESSION-2');
    expect(runClients({ roleArn: ROLE, databaseId: 'orders-two' })).toBe(orders);
    const tags = sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.Tags);
    expect(tags).toEqual([
      [{ Key: 'restorable:database', Value: 'orders-two' }],
      [{ Key: 'restorable:database', Value: 'billing' }],
    ]);
  });

  it('renews the session before it expires, so a run longer than one session keeps signing', async () => {
    let clock = Date.UTC(2026, 10, 27, 2, 0, 0);
    jest.spyOn(Date, 'now').mockImplementation(() => clock);
    const clients = runClients({ roleArn: ROLE, databaseId: 'long-run' });
    expect(await signingKey(clients.s3())).toBe('ASIA-SESSION-1');
    clock += 30 * 60_000;
    expect(await signingKey(clients.s3())).toBe('ASIA-SESSION-1');
    clock += 26 * 60_000; // four minutes before the first session's expiry
    expect(await signingKey(clients.s3())).toBe('ASIA-SESSION-2');
    expect(await signingKey(clients.secrets())).toBe('ASIA-SESSION-2');
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(2);
  });

  it('uses the function own credentials and never calls STS without a data-access role', async () => {
    const clients = runClients({ databaseId: 'orders' });
    expect(await signingKey(clients.s3())).toBe('AKIA-FUNCTION-ROLE');
    expect(await signingKey(clients.secrets())).toBe('AKIA-FUNCTION-ROLE');
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
  });

  it('refuses an id that would become a wrong policy variable before any STS call', () => {
    expect(() => runClients({ roleArn: ROLE, databaseId: 'orders/*' })).toThrow(/is invalid/);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
  });
});
