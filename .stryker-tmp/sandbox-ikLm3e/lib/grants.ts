/**
 * IAM statements scoped to key prefixes of a bucket and to a KMS key used through S3. The L2
 * `bucket.grantRead(grantee, pattern)` takes one object pattern and grants `s3:ListBucket` on the
 * whole bucket; backups need several prefixes and a listing limited to them, so these build the
 * statements directly.
 */
// @ts-nocheck

import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { TIERS } from '../lambda/core/tiers';

/** `<tier>/<databaseId>/` for every tier: where one database's backups live. */
export function tierPrefixes(databaseId: string): string[] {
  return TIERS.map((tier) => `${tier}/${databaseId}/`);
}

/** `drills/<databaseId>/`: where one database's drill reports live. */
export function drillReportPrefix(databaseId: string): string {
  return `drills/${databaseId}/`;
}

/** Object ARNs for everything under the given prefixes (each ending in `/`). */
export function objectArns(bucket: s3.IBucket, prefixes: readonly string[]): string[] {
  return prefixes.map((prefix) => bucket.arnForObjects(`${prefix}*`));
}

/** The statement for `actions` on the objects under `prefixes`. */
export function objectStatement(
  bucket: s3.IBucket,
  prefixes: readonly string[],
  actions: string[],
): iam.PolicyStatement {
  return new iam.PolicyStatement({ actions, resources: objectArns(bucket, prefixes) });
}

/**
 * `s3:ListBucket` limited to requests whose `prefix` parameter lies under one of `prefixes`.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html#condition-key-bucket-ops-2
 */
export function listStatement(bucket: s3.IBucket, prefixes: readonly string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: ['s3:ListBucket'],
    resources: [bucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': prefixes.map((prefix) => `${prefix}*`) } },
  });
}

/**
 * A bucket's KMS key: either the key itself (its ARN is known in this stack) or, for a key in
 * another region, its alias. KMS authorizes against key ARNs, never alias ARNs, so a key named by
 * alias is granted as `key/*` of its region and account narrowed with `kms:ResourceAliases`.
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-resource-aliases
 */
export interface KeyReference {
  /**
   * The key.
   * @default - the key is named by `alias`
   */
  readonly key?: kms.IKey;
  /**
   * The key's alias, e.g. `alias/restorable/backups`, in the region given to `keyStatement`.
   * @default - the key is given by `key`
   */
  readonly alias?: string;
  /**
   * The key's account (with `alias`).
   * @default - the stack's account
   */
  readonly account?: string;
}

export interface KeyStatementOptions {
  /**
   * The key's region.
   * @default - the stack's region
   */
  readonly region?: string;
  /**
   * Allow the actions only through S3 in the key's region (`kms:ViaService`), so the role cannot
   * call KMS directly with the key (e.g. to decrypt a data key lifted from elsewhere).
   * @default true
   */
  readonly viaS3?: boolean;
}

/**
 * KMS actions on a bucket's key.
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
 */
export function keyStatement(
  scope: IConstruct,
  ref: KeyReference,
  actions: string[],
  options: KeyStatementOptions = {},
): iam.PolicyStatement {
  if ((ref.key === undefined) === (ref.alias === undefined)) {
    throw new Error('a KeyReference needs exactly one of key and alias');
  }
  const stack = Stack.of(scope);
  const region = options.region ?? stack.region;
  const conditions: Record<string, Record<string, string>> = {};
  if (options.viaS3 ?? true)
    conditions.StringEquals = { 'kms:ViaService': `s3.${region}.${stack.urlSuffix}` };
  if (ref.alias) conditions['ForAnyValue:StringEquals'] = { 'kms:ResourceAliases': ref.alias };
  return new iam.PolicyStatement({ actions, resources: [keyArn(scope, ref, region)], conditions });
}

/**
 * The key's ARN for IAM: the key's own ARN, or `key/*` of its region and account for a key named
 * by alias (which `keyStatement` narrows with `kms:ResourceAliases`).
 */
function keyArn(scope: IConstruct, ref: KeyReference, region: string): string {
  if (ref.key) return ref.key.keyArn;
  return Stack.of(scope).formatArn({
    service: 'kms',
    region,
    account: ref.account,
    resource: 'key',
    resourceName: '*',
  });
}

/** A key id the KMS API accepts (key ARN or alias ARN), e.g. for `DescribeKey`. */
export function keyIdentifier(scope: IConstruct, ref: KeyReference, region?: string): string {
  if (ref.key) return ref.key.keyArn;
  return Stack.of(scope).formatArn({
    service: 'kms',
    region: region ?? Stack.of(scope).region,
    account: ref.account,
    resource: ref.alias!,
  });
}
