/**
 * The bucket-policy statements that make a backup bucket a vault: what nobody but the break-glass
 * principal may do to it (delete versions, bypass governance retention, change its policy,
 * lifecycle, replication, versioning or Object Lock configuration, place legal holds), and what
 * every backup write must look like (a conditional create, in the bucket's lock mode, locked no
 * longer than its tier keeps it). Explicit denies in a bucket policy beat any IAM allow, including
 * AdministratorAccess; only the account root user can still delete a policy that locks it out.
 *
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html#object-lock-managing-retention-limits
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { type Tier, TIERS } from '../../lambda/core/tiers';
import type { RetentionTiers } from './retention-tiers';

/** Who may still change a vault bucket. */
export interface VaultPolicyProps {
  /**
   * Principals (exact ARNs, as `aws:PrincipalArn` carries them) exempt from every vault deny: the
   * break-glass role.
   */
  readonly breakGlassPrincipalArns: readonly string[];
  /**
   * The CloudFormation execution role, additionally exempt from the denies on PutBucketPolicy and
   * PutLifecycleConfiguration only, so `cdk deploy` can change retention; never from version
   * deletion, governance bypass, replication, versioning or Object Lock changes.
   *
   * @default - none: deployments that change the bucket policy or lifecycle run with the
   *   break-glass role (`cdk deploy --role-arn <breakGlassRoleArn>`)
   */
  readonly deploymentRoleArn?: string;
}

/** Changes only the break-glass principal may make, on the bucket and its objects. */
export const VAULT_PROTECTED_ACTIONS: readonly string[] = [
  's3:DeleteObjectVersion',
  's3:BypassGovernanceRetention',
  's3:PutObjectLegalHold',
  's3:DeleteBucketPolicy',
  's3:PutReplicationConfiguration',
  's3:PutBucketObjectLockConfiguration',
  's3:PutBucketVersioning',
];

/** Protected too, but the deployment role may be exempted from these (see {@link VaultPolicyProps}). */
export const VAULT_DEPLOYABLE_ACTIONS: readonly string[] = [
  's3:PutBucketPolicy',
  's3:PutLifecycleConfiguration',
];

/** Adds the vault denies to `bucket`'s policy. */
export function addVaultDenies(bucket: s3.Bucket, props: VaultPolicyProps): void {
  if (props.breakGlassPrincipalArns.length === 0) {
    throw new Error(
      'a vault bucket needs at least one break-glass principal, or nobody could ever change it',
    );
  }
  const deny = (sid: string, actions: readonly string[], exempt: readonly string[]) =>
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid,
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [...actions],
        resources: [bucket.bucketArn, bucket.arnForObjects('*')],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': [...exempt] } },
      }),
    );
  deny('DenyVaultChangesExceptBreakGlass', VAULT_PROTECTED_ACTIONS, props.breakGlassPrincipalArns);
  deny('DenyPolicyAndLifecycleChangesExceptBreakGlass', VAULT_DEPLOYABLE_ACTIONS, [
    ...props.breakGlassPrincipalArns,
    ...(props.deploymentRoleArn ? [props.deploymentRoleArn] : []),
  ]);
}

/**
 * Denies on `<tier>/*` that make every backup write a conditional create in `mode`, locked no
 * longer than its tier keeps it:
 * - PutObject and CompleteMultipartUpload without `If-None-Match` (`s3:ObjectCreationOperation`
 *   exempts CreateMultipartUpload and UploadPart, which take no conditional headers), so no
 *   writer can replace a backup's current version;
 * - an Object Lock mode other than `mode`, on PutObject or PutObjectRetention;
 * - more remaining retention days than the tier's expiry, so nobody can pin a backup in
 *   COMPLIANCE mode beyond its tier (a lock past expiry would keep it, and bill it, for years).
 *
 * The mode and days conditions fire only when the request carries them (`Null: false`): a write
 * without them gets the bucket default, which is bounded by construction.
 */
export function addWriteGuards(bucket: s3.Bucket, retention: RetentionTiers, mode: s3.ObjectLockMode): void {
  const tierObjects = (tiers: readonly Tier[]) => tiers.map((tier) => bucket.arnForObjects(`${tier}/*`));
  const deny = (sid: string, actions: string[], resources: string[], conditions: iam.Conditions) =>
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid,
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions,
        resources,
        conditions,
      }),
    );
  deny('DenyBackupWritesWithoutIfNoneMatch', ['s3:PutObject'], tierObjects(TIERS), {
    Null: { 's3:if-none-match': 'true' },
    Bool: { 's3:ObjectCreationOperation': 'true' },
  });
  deny('DenyOtherObjectLockMode', ['s3:PutObject', 's3:PutObjectRetention'], tierObjects(TIERS), {
    StringNotEquals: { 's3:object-lock-mode': mode },
    Null: { 's3:object-lock-mode': 'false' },
  });
  for (const tier of TIERS) {
    const expiration = retention.tier(tier).expiration;
    if (expiration.isUnresolved()) continue;
    deny(
      `DenyRetentionBeyond${tier[0].toUpperCase()}${tier.slice(1)}Expiry`,
      ['s3:PutObject', 's3:PutObjectRetention'],
      tierObjects([tier]),
      { NumericGreaterThan: { 's3:object-lock-remaining-retention-days': String(expiration.toDays()) } },
    );
  }
}
