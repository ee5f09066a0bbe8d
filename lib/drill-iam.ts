/**
 * IAM for ephemeral drill databases, shared by the drill and the sweeper: both may only touch RDS
 * instances named `restorable-drill-*` that carry the drill tag. The name prefix and tag keys come
 * from `lambda/core/drill-naming.ts`, which the RDS provider that creates the instances imports too,
 * so the policy and that code cannot disagree; it has no dependencies, so synth loads no AWS SDK.
 *
 * @see https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/security_iam_id-based-policy-examples-create-and-modify-examples.html
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import {
  DRILL_INSTANCE_PREFIX,
  DRILL_TAG_KEYS,
  TAG_DRILL,
  TAG_EXPIRES_AT,
} from '../lambda/core/drill-naming';

export { DRILL_INSTANCE_PREFIX, DRILL_TAG_KEYS, TAG_DRILL, TAG_EXPIRES_AT };

/** `arn:<partition>:rds:<region>:<account>:<resource>:<name>` of this stack. */
export function rdsArn(scope: IConstruct, resource: string, name: string): string {
  return Stack.of(scope).formatArn({
    service: 'rds',
    resource,
    resourceName: name,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** The ARN pattern of every drill instance of this stack's account and region. */
export function drillInstanceArns(scope: IConstruct): string {
  return rdsArn(scope, 'db', `${DRILL_INSTANCE_PREFIX}*`);
}

/**
 * Deleting an instance: only drill-named ones that carry `restorable:drill=true`. The tag is read
 * from the instance as it is, so a production database renamed into the prefix is still safe.
 */
export function deleteDrillInstanceStatement(scope: IConstruct): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'DeleteTaggedDrillInstancesOnly',
    actions: ['rds:DeleteDBInstance'],
    resources: [drillInstanceArns(scope)],
    conditions: { StringEquals: { [`rds:db-tag/${TAG_DRILL}`]: 'true' } },
  });
}

/**
 * RDS-managed master-password secrets (`rds!db-*`, a name only RDS can create: `!` is not allowed
 * in user secret names) whose `aws:rds:primaryDBInstanceArn` tag names a drill instance.
 */
export function drillSecretsCondition(scope: IConstruct): Record<string, Record<string, string>> {
  return {
    StringLike: { 'secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn': drillInstanceArns(scope) },
  };
}

/** `arn:...:secretsmanager:<region>:<account>:secret:rds!db-*` */
export function rdsManagedSecretArns(scope: IConstruct): string {
  return Stack.of(scope).formatArn({
    service: 'secretsmanager',
    resource: 'secret',
    resourceName: 'rds!db-*',
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/**
 * Deleting a drill instance deletes its managed master secret; if RDS does that with the caller's
 * permissions (a forward access session), the caller needs DeleteSecret, here only through an AWS
 * service and only for drill instances' secrets.
 */
export function deleteDrillSecretStatement(scope: IConstruct): iam.PolicyStatement {
  const condition = drillSecretsCondition(scope);
  return new iam.PolicyStatement({
    sid: 'DeleteDrillInstanceSecretsThroughRds',
    actions: ['secretsmanager:DeleteSecret'],
    resources: [rdsManagedSecretArns(scope)],
    conditions: { ...condition, Bool: { 'aws:ViaAWSService': 'true' } },
  });
}

/**
 * The largest drill instance storage the drill role may create, in GiB: the provider asks for six
 * times the archive (providers/provider.ts), so this covers archives up to about 680 GiB, and
 * bounds what a misused drill role can bill.
 */
export const DEFAULT_DRILL_MAX_STORAGE_GIB = 4096;

export interface DrillCreateOptions {
  /** The only instance class (or classes, for a fleet) the drill may create. */
  readonly instanceClass: string | readonly string[];
  /** Name of the drill's DB subnet group. */
  readonly subnetGroupName: string;
  /** @default DEFAULT_DRILL_MAX_STORAGE_GIB */
  readonly maxStorageGiB?: number;
  /**
   * The drill's own DB parameter groups (max_locks_per_transaction raised), by name.
   * @default - only PostgreSQL's default parameter groups
   */
  readonly parameterGroupNames?: readonly string[];
}

/** The tag conditions every tagged create carries: the drill tag, an expiry, no other keys. */
const createTagConditions = () => ({
  StringEquals: { [`aws:RequestTag/${TAG_DRILL}`]: 'true' },
  Null: { [`aws:RequestTag/${TAG_EXPIRES_AT}`]: 'false' },
  'ForAllValues:StringEquals': { 'aws:TagKeys': [...DRILL_TAG_KEYS] },
});

/**
 * Creating a drill instance: only encrypted, single-AZ PostgreSQL of the configured class, named
 * and tagged as a drill with an expiry the sweeper can act on, with an RDS-managed master password
 * (never one the caller chose and could keep), and no more storage than `maxStorageGiB`.
 *
 * The caps are Deny statements: `rds:StorageSize` and `rds:ManageMasterUserPassword` are request
 * keys of CreateDBInstance (the latter an action key, the former on the `db` resource); a Deny
 * whose key is absent does not apply, so these cannot block a legitimate create by being missing,
 * and `BoolIfExists ... false` still refuses an explicit opt-out of the managed password.
 * @see https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAM.Conditions.Examples.html
 */
export function createDrillInstanceStatements(
  scope: IConstruct,
  o: DrillCreateOptions,
): iam.PolicyStatement[] {
  const tags = createTagConditions();
  const maxStorageGiB = o.maxStorageGiB ?? DEFAULT_DRILL_MAX_STORAGE_GIB;
  if (!Number.isInteger(maxStorageGiB) || maxStorageGiB < 20 || maxStorageGiB > 65_536) {
    throw new Error(
      `maxStorageGiB must be an integer from 20 to 65536 (the gp3 range), got ${maxStorageGiB}`,
    );
  }
  return [
    new iam.PolicyStatement({
      sid: 'CreateTaggedDrillInstancesOnly',
      actions: ['rds:CreateDBInstance'],
      resources: [drillInstanceArns(scope)],
      conditions: {
        ...tags,
        StringEquals: {
          ...tags.StringEquals,
          'rds:DatabaseEngine': 'postgres',
          'rds:DatabaseClass': typeof o.instanceClass === 'string' ? o.instanceClass : [...o.instanceClass],
        },
        Bool: {
          'rds:StorageEncrypted': 'true',
          'rds:MultiAz': 'false',
          'rds:ManageMasterUserPassword': 'true',
        },
      },
    }),
    new iam.PolicyStatement({
      sid: 'DenyDrillStorageOverCap',
      effect: iam.Effect.DENY,
      actions: ['rds:CreateDBInstance'],
      resources: ['*'],
      conditions: { NumericGreaterThan: { 'rds:StorageSize': String(maxStorageGiB) } },
    }),
    new iam.PolicyStatement({
      sid: 'DenyUnmanagedMasterPassword',
      effect: iam.Effect.DENY,
      actions: ['rds:CreateDBInstance'],
      resources: ['*'],
      conditions: { BoolIfExists: { 'rds:ManageMasterUserPassword': 'false' } },
    }),
    // CreateDBInstance is also authorized against what the instance uses: this subnet group and
    // the default option and parameter groups of PostgreSQL.
    new iam.PolicyStatement({
      sid: 'UseDrillSubnetGroupAndDefaultGroups',
      actions: ['rds:CreateDBInstance'],
      resources: [
        rdsArn(scope, 'subgrp', o.subnetGroupName),
        rdsArn(scope, 'og', 'default:postgres-*'),
        rdsArn(scope, 'pg', 'default.postgres*'),
        ...(o.parameterGroupNames ?? []).map((name) => rdsArn(scope, 'pg', name)),
      ],
    }),
    // Tags given to CreateDBInstance are authorized as AddTagsToResource too.
    new iam.PolicyStatement({
      sid: 'TagDrillInstancesAtCreation',
      actions: ['rds:AddTagsToResource'],
      resources: [drillInstanceArns(scope)],
      conditions: tags,
    }),
    ...drillTagLockStatements(),
  ];
}

/**
 * Drill tags are written once, at create: an instance that already carries the drill tag cannot
 * have any drill tag added or changed (a later `restorable:expires-at` would hide it from the
 * sweeper), and no drill tag can be removed from any instance. At create the instance has no tags
 * yet, so `rds:db-tag/restorable:drill` is absent and the first Deny does not apply.
 */
export function drillTagLockStatements(): iam.PolicyStatement[] {
  const drillKeys = { 'ForAnyValue:StringEquals': { 'aws:TagKeys': [...DRILL_TAG_KEYS] } };
  return [
    new iam.PolicyStatement({
      sid: 'DenyRewritingDrillTags',
      effect: iam.Effect.DENY,
      actions: ['rds:AddTagsToResource'],
      resources: ['*'],
      conditions: { ...drillKeys, Null: { [`rds:db-tag/${TAG_DRILL}`]: 'false' } },
    }),
    new iam.PolicyStatement({
      sid: 'DenyRemovingDrillTags',
      effect: iam.Effect.DENY,
      actions: ['rds:RemoveTagsFromResource'],
      resources: ['*'],
      conditions: drillKeys,
    }),
  ];
}
