/**
 * Per-database sessions: what the runner asks STS for (role, tags, session name, duration), that
 * an invalid id never reaches a policy variable, and that sessions are reused and renewed.
 */
import { databaseCredentials, sessionName, type AssumeRole } from '../../lambda/core/database-credentials';

const ROLE = 'arn:aws:iam::123456789012:role/restorable-data-access';

function fakeSts() {
  const calls: Parameters<AssumeRole>[0][] = [];
  let n = 0;
  const assumeRole: AssumeRole = async (input) => {
    calls.push(input);
    n += 1;
    return {
      Credentials: {
        AccessKeyId: `AKIA${n}`,
        SecretAccessKey: 'secret',
        SessionToken: `token-${n}`,
        Expiration: new Date(Date.UTC(2026, 10, 27, 3, 0, 0) + n * 3_600_000),
      },
    };
  };
  return { calls, assumeRole };
}

describe('databaseCredentials', () => {
  it('assumes the data-access role tagged with the database id (and the RDS resource when given)', async () => {
    const sts = fakeSts();
    const provider = databaseCredentials('orders', {
      roleArn: ROLE,
      assumeRole: sts.assumeRole,
      rdsResourceArn: 'arn:aws:rds:eu-west-1:123456789012:db:orders',
    });
    const creds = await provider();
    expect(creds).toMatchObject({ accessKeyId: 'AKIA1', sessionToken: 'token-1' });
    expect(sts.calls).toEqual([
      {
        RoleArn: ROLE,
        RoleSessionName: expect.stringMatching(/^restorable-orders-[0-9a-f]{8}$/),
        DurationSeconds: 3600,
        Tags: [
          { Key: 'restorable:database', Value: 'orders' },
          { Key: 'restorable:rds-resource', Value: 'arn:aws:rds:eu-west-1:123456789012:db:orders' },
        ],
      },
    ]);
  });

  it('refuses an id that is not a database id before asking STS (it would become a policy variable)', () => {
    const sts = fakeSts();
    for (const bad of ['*', 'orders/*', 'Orders', '', 'a'.repeat(41)]) {
      expect(() => databaseCredentials(bad, { roleArn: ROLE, assumeRole: sts.assumeRole })).toThrow(
        /is invalid/,
      );
    }
    expect(sts.calls).toHaveLength(0);
  });

  it('reuses a session and renews it five minutes before it expires', async () => {
    const sts = fakeSts();
    let clock = Date.UTC(2026, 10, 27, 2, 0, 0);
    const provider = databaseCredentials('orders', {
      roleArn: ROLE,
      assumeRole: sts.assumeRole,
      now: () => clock,
    });
    await provider();
    clock += 50 * 60_000; // 02:50, first session expires 04:00
    await provider();
    expect(sts.calls).toHaveLength(1);
    clock = Date.UTC(2026, 10, 27, 3, 56, 0); // within 5 minutes of 04:00
    expect((await provider()).accessKeyId).toBe('AKIA2');
    expect(sts.calls).toHaveLength(2);
  });

  it('fails clearly when STS returns no credentials, and tries again on the next call', async () => {
    let answer: Awaited<ReturnType<AssumeRole>> = {};
    const provider = databaseCredentials('orders', { roleArn: ROLE, assumeRole: async () => answer });
    await expect(provider()).rejects.toThrow(
      `STS AssumeRole of ${ROLE} for database "orders" returned no credentials`,
    );
    answer = {
      Credentials: {
        AccessKeyId: 'A',
        SecretAccessKey: 'S',
        SessionToken: 'T',
        Expiration: new Date(Date.now() + 3_600_000),
      },
    };
    await expect(provider()).resolves.toMatchObject({ accessKeyId: 'A' });
  });

  it('keeps session names within the 64 characters STS allows, for the longest ids', () => {
    expect(sessionName('a'.repeat(40)).length).toBeLessThanOrEqual(64);
    expect(() =>
      databaseCredentials('orders', {
        roleArn: ROLE,
        assumeRole: fakeSts().assumeRole,
        durationSeconds: 600,
      }),
    ).toThrow(/durationSeconds \(600\) must be between 900 and 43200/);
  });
});
