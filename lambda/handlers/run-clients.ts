/**
 * The S3 and Secrets Manager clients of one database's run. With `DATABASE_ACCESS_ROLE_ARN` set
 * (the fleet's shared runners) they act as the data-access role assumed for that database, the
 * session tagged `restorable:database=<id>` (and `restorable:rds-resource=<arn>` for a discovered
 * database whose RDS-managed master secret it reads), so a run for `orders` can reach `orders`'s
 * prefixes and secret and nothing of `billing`'s, whatever the shared function's own role could do
 * (lib/constructs/database-access-role.ts). Unset: the function's own role, as the per-database
 * stacks have it.
 *
 * Clients are kept per database session for the life of the execution environment (a warm Lambda
 * runs many databases one after another); the credentials provider renews the session before it
 * expires (lambda/core/database-credentials.ts), so a long run keeps working.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { databaseCredentials, type AssumeRole } from '../core/database-credentials';
import { makeS3Client } from '../core/s3';
import { traced } from './powertools';
import { s3Client } from './s3-clients';

/** One run's clients. */
export interface RunClients {
  /** The S3 client for `region` (default: the function's own). */
  s3(region?: string): S3Client;
  /** The Secrets Manager client that reads the database's connection secret. */
  secrets(): SecretsManagerClient;
}

/** What identifies one run's session. */
export interface RunSession {
  /** The data-access role, from DATABASE_ACCESS_ROLE_ARN. @default - the function's own role */
  readonly roleArn?: string;
  readonly databaseId: string;
  /** The RDS instance or cluster ARN of a discovered database (its session may read RDS's master secret). */
  readonly rdsResourceArn?: string;
}

/** Sessions kept at once: a warm environment runs one database at a time; a few are reused across runs. */
const MAX_SESSIONS = 16;

let sts: STSClient | undefined;
let ownSecrets: SecretsManagerClient | undefined;
const sessions = new Map<string, RunClients>();

const assumeRole: AssumeRole = (input) => {
  sts ??= traced(new STSClient({}));
  return sts.send(new AssumeRoleCommand(input));
};

/** The function's own clients (no data-access role). */
const own: RunClients = {
  s3: (region) => s3Client(region),
  secrets: () => (ownSecrets ??= traced(new SecretsManagerClient({}))),
};

/**
 * The clients of one run: the function's own when `roleArn` is unset, else clients whose
 * credentials come from the data-access role assumed with the run's session tags (assumed lazily,
 * on the first call a client makes).
 *
 * @throws Error at once for a database id that is not DATABASE_ID_PATTERN (it would become a policy variable)
 */
export function runClients(session: RunSession): RunClients {
  if (!session.roleArn) return own;
  const key = JSON.stringify([session.roleArn, session.databaseId, session.rdsResourceArn ?? '']);
  const kept = sessions.get(key);
  if (kept) {
    // Most recently used last, so the oldest session is the one dropped.
    sessions.delete(key);
    sessions.set(key, kept);
    return kept;
  }
  const credentials = databaseCredentials(session.databaseId, {
    roleArn: session.roleArn,
    rdsResourceArn: session.rdsResourceArn,
    assumeRole,
  });
  const s3ByRegion = new Map<string, S3Client>();
  let secrets: SecretsManagerClient | undefined;
  const clients: RunClients = {
    s3: (region) => {
      let client = s3ByRegion.get(region ?? '');
      if (!client) {
        client = traced(makeS3Client(region, { credentials }));
        s3ByRegion.set(region ?? '', client);
      }
      return client;
    },
    secrets: () => (secrets ??= traced(new SecretsManagerClient({ credentials }))),
  };
  sessions.set(key, clients);
  while (sessions.size > MAX_SESSIONS) {
    sessions.delete(sessions.keys().next().value as string);
  }
  return clients;
}
