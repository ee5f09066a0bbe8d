/**
 * IAM for ephemeral drill databases, shared by the drill and the sweeper: both may only touch RDS
 * instances named `restorable-drill-*` that carry the drill tag. The name prefix and tag keys come
 * from the RDS provider itself (`lambda/core/providers/rds.ts`), so the policy and the code that
 * creates the instances cannot disagree.
 *
 * @see https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/security_iam_id-based-policy-examples-create-and-modify-examples.html
 */
// @ts-nocheck

import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import {
  DRILL_INSTANCE_PREFIX,
  TAG_DATABASE,
  TAG_DRILL,
  TAG_DRILL_ID,
  TAG_EXPIRES_AT,
} from '../lambda/core/providers/rds';

export { DRILL_INSTANCE_PREFIX, TAG_DRILL, TAG_EXPIRES_AT };

/** Every tag key a drill instance is created with; creating it with any other tag is denied. */
export const DRILL_TAG_KEYS: readonly string[] = [TAG_DRILL, TAG_EXPIRES_AT, TAG_DATABASE, TAG_DRILL_ID];

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
