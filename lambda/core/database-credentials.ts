/**
 * Credentials for one database's run: the shared runner assumes the fleet's data-access role
 * (lib/constructs/database-access-role.ts) with the session tagged `restorable:database=<id>`, so
 * the S3, KMS and Secrets Manager clients of that run can reach that database's prefixes and
 * secret and nothing else.
 *
 * Written against a one-method interface, not `@aws-sdk/client-sts`: that package is not a
 * dependency yet. Wiring it is one line:
 * `(input) => sts.send(new AssumeRoleCommand(input))`.
 *
 * The id is validated here, before it becomes a policy variable: IAM substitutes the tag into
 * resource ARNs, and an id that is not DATABASE_ID_PATTERN must never reach it.
 */
import { randomBytes } from 'node:crypto';
import { FleetTags } from './fleet-settings';
import { assertDatabaseId } from './tiers';

/** The subset of STS AssumeRole this needs, shaped like the SDK's input and output. */
export type AssumeRole = (input: {
  RoleArn: string;
  RoleSessionName: string;
  DurationSeconds: number;
  Tags: { Key: string; Value: string }[];
}) => Promise<{
  Credentials?: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string; Expiration?: Date };
}>;

/** What SDK clients take as `credentials` (structurally the SDK's AwsCredentialIdentity). */
export interface SessionCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

export interface DatabaseCredentialsOptions {
  /** The data-access role's ARN. */
  readonly roleArn: string;
  readonly assumeRole: AssumeRole;
  /**
   * The RDS instance or cluster ARN, when the run reads the master secret RDS manages.
   * @default - no resource tag: only secrets tagged `restorable:database=<id>` are readable
   */
  readonly rdsResourceArn?: string;
  /**
   * Session length. Role chaining (a Lambda's role assuming this one) allows at most one hour.
   * @default 3600
   */
  readonly durationSeconds?: number;
  /**
   * Renew this long before the session expires.
   * @default 300
   */
  readonly refreshMarginSeconds?: number;
  /** @default - Date.now */
  readonly now?: () => number;
}

/** `restorable-<id>-<8 hex>`: CloudTrail shows which database a call was for. At most 64 characters. */
export function sessionName(databaseId: string): string {
  return `restorable-${databaseId}-${randomBytes(4).toString('hex')}`;
}

/**
 * A credentials provider for SDK clients (`new S3Client({ credentials })`) scoped to one
 * database. Sessions are assumed lazily, reused, and renewed `refreshMarginSeconds` before they
 * expire, so a run longer than one session (the Fargate runner) keeps working.
 *
 * @throws Error at once for an invalid database id; on use, when STS returns no credentials
 */
export function databaseCredentials(
  databaseId: string,
  options: DatabaseCredentialsOptions,
): () => Promise<SessionCredentials> {
  assertDatabaseId(databaseId);
  const duration = options.durationSeconds ?? 3600;
  if (duration < 900 || duration > 43_200) {
    throw new Error(`durationSeconds (${duration}) must be between 900 and 43200 (the STS limits)`);
  }
  const margin = (options.refreshMarginSeconds ?? 300) * 1000;
  const now = options.now ?? Date.now;
  let current: Promise<SessionCredentials> | undefined;
  let expiresAt = 0;

  const assume = async (): Promise<SessionCredentials> => {
    const tags: { Key: string; Value: string }[] = [{ Key: FleetTags.database, Value: databaseId }];
    if (options.rdsResourceArn) tags.push({ Key: FleetTags.rdsResource, Value: options.rdsResourceArn });
    const out = await options.assumeRole({
      RoleArn: options.roleArn,
      RoleSessionName: sessionName(databaseId),
      DurationSeconds: duration,
      Tags: tags,
    });
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
      throw new Error(
        `STS AssumeRole of ${options.roleArn} for database "${databaseId}" returned no credentials`,
      );
    }
    expiresAt = c.Expiration.getTime();
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration,
    };
  };

  return async () => {
    if (!current || now() >= expiresAt - margin) {
      current = assume();
      // A failed attempt must not be cached: the next call tries again.
      current.catch(() => {
        current = undefined;
      });
    }
    return current;
  };
}
